//! What identity costs per request: Argon2id hashing and verification (login,
//! registration), access-token verification and API-key checks (every signed-in call).
//! Run with `cargo bench -p boxoffice --bench identity`; figures in docs/benchmarks.md.
use boxoffice::accounts::{password, TokenIssuer};
use boxoffice::organizations::keys;
use boxoffice_domain::account::Role;
use boxoffice_domain::{ApiKeyId, Timestamp, UserId};
use criterion::{criterion_group, criterion_main, Criterion};

fn identity(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    group.bench_function("hash", |b| {
        b.iter(|| rt.block_on(password::hash("correct horse battery staple".into())))
    });
    let stored = rt
        .block_on(password::hash("correct horse battery staple".into()))
        .expect("hash");
    group.bench_function("verify", |b| {
        b.iter(|| {
            rt.block_on(password::verify(
                "correct horse battery staple".into(),
                stored.clone(),
            ))
        })
    });
    group.finish();

    let issuer = TokenIssuer::new(b"bench-secret-bench-secret-bench-secret");
    let now = Timestamp::now();
    let (token, _) = issuer
        .issue(UserId::new(), Role::Buyer, now)
        .expect("token");
    c.bench_function("access_token/verify", |b| {
        b.iter(|| issuer.verify(&token, now).expect("valid"))
    });
    let (key, stored) = keys::new_token(ApiKeyId::new());
    c.bench_function("api_key/parse_and_match", |b| {
        b.iter(|| {
            let (_, secret) = keys::parse(&key).expect("shaped");
            assert!(keys::matches(secret, &stored));
        })
    });
}

/// The limiter's share of a limited request: the route's class, then one take from
/// the caller's bucket (a few thousand callers, as in an on-sale).
fn rate_limit(c: &mut Criterion) {
    use boxoffice::clock::{DynClock, SystemClock};
    use boxoffice::config::RateLimits;
    use boxoffice::ratelimit::{class_of, Identity, LocalRateLimiter, RateLimiter};
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let clock: DynClock = Arc::new(SystemClock);
    let limiter = LocalRateLimiter::new(&RateLimits::raised(), clock).expect("limiter");
    let callers: Vec<Identity> = (0..4096)
        .map(|_| Identity::Account(UserId::new()))
        .collect();
    let mut n = 0usize;
    c.bench_function("rate_limit/check", |b| {
        b.iter(|| {
            n = (n + 1) % callers.len();
            let class = class_of("POST", "/api/v1/bookings/reserve").expect("limited");
            rt.block_on(limiter.check(class, &callers[n]))
        })
    });
}

criterion_group!(benches, identity, rate_limit);
criterion_main!(benches);
