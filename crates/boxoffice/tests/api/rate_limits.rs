//! Rate limits through HTTP: bursts, refusals with their headers, one bucket per
//! account or address (and no new bucket for a forged address), refills over time, a
//! refused request changing nothing, and a login flood held at the burst.
use crate::on_every_engine;
use crate::support::{read, Backend, Resp, ShowSpec, TestApp, PASSWORD};
use boxoffice::config::{Config, Limit, RateLimits};
use serde_json::json;

fn with_limits(limits: RateLimits) -> impl FnOnce(&mut Config) {
    move |c| c.rate_limits = limits
}

fn limits(f: impl FnOnce(&mut RateLimits)) -> impl FnOnce(&mut Config) {
    let mut l = RateLimits::default();
    f(&mut l);
    with_limits(l)
}

async fn login(app: &TestApp, forwarded_for: Option<&str>, email: &str, password: &str) -> Resp {
    let mut req = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    read(req.send().await.expect("answered")).await
}

/// `(RateLimit-Limit, RateLimit-Remaining)`, which the `X-` forms repeat.
#[track_caller]
fn counters(r: &Resp) -> (u32, u32) {
    let n = |h: &str| {
        r.header(h)
            .unwrap_or_else(|| panic!("{h} missing on a {} answer", r.status))
            .parse::<u32>()
            .unwrap()
    };
    for (a, b) in [
        ("ratelimit-limit", "x-ratelimit-limit"),
        ("ratelimit-remaining", "x-ratelimit-remaining"),
        ("ratelimit-reset", "x-ratelimit-reset"),
    ] {
        assert_eq!(r.header(a), r.header(b), "{a} and {b}");
    }
    (n("ratelimit-limit"), n("ratelimit-remaining"))
}

#[track_caller]
fn expect_refused(r: &Resp) -> u64 {
    r.expect_problem(429, "/problems/rate-limited");
    assert_eq!(counters(r).1, 0);
    let retry = r
        .header("retry-after")
        .expect("Retry-After")
        .parse::<u64>()
        .expect("whole seconds");
    assert!(retry >= 1);
    retry
}

async fn the_login_burst_passes_then_attempts_wait_for_the_refill(backend: Backend) {
    // The defaults: 5 per minute, burst 3.
    let app = TestApp::spawn_with(backend, with_limits(RateLimits::default())).await;
    let user = app.buyer().await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = login(&app, None, &user.email, "not the password at all").await;
        r.expect_problem(401, "/problems/unauthorized");
        remaining.push(counters(&r));
    }
    assert_eq!(remaining, [(3, 2), (3, 1), (3, 0)]);
    // Over the limit even with the right password: the password is not checked.
    let refused = login(&app, None, &user.email, PASSWORD).await;
    let retry = expect_refused(&refused);
    assert!(
        (1..=12).contains(&retry),
        "one attempt back every 12 s: {retry}"
    );
    let reset: u64 = refused.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(
        reset >= retry + 24,
        "full again after three refills: {reset}"
    );
    // One attempt comes back after Retry-After seconds.
    app.clock.advance_secs(retry as i64);
    let r = login(&app, None, &user.email, PASSWORD).await;
    r.expect(200);
    assert_eq!(counters(&r), (3, 0));
    expect_refused(&login(&app, None, &user.email, PASSWORD).await);
    app.stop().await;
}

async fn accounts_and_addresses_have_buckets_of_their_own(backend: Backend) {
    let app = TestApp::spawn_with(backend, limits(|l| l.default = Limit::new(60, 2))).await;
    let (a, b) = (app.buyer().await, app.buyer().await);
    for expected in [1, 0] {
        let r = app.get("/api/v1/auth/me", Some(&a.token)).await;
        r.expect(200);
        assert_eq!(counters(&r), (2, expected));
    }
    expect_refused(&app.get("/api/v1/auth/me", Some(&a.token)).await);
    // Another account, and the address itself, are untouched.
    let other = app.get("/api/v1/auth/me", Some(&b.token)).await;
    other.expect(200);
    assert_eq!(counters(&other), (2, 1));
    let anonymous = app.get("/api/v1/events", None).await;
    anonymous.expect(200);
    assert_eq!(counters(&anonymous), (2, 1));
    // A token that does not verify gets the usual 401, counted against the address.
    let forged = app.get("/api/v1/auth/me", Some("not.a.token")).await;
    forged.expect_problem(401, "/problems/unauthorized");
    assert_eq!(counters(&forged), (2, 0));
    expect_refused(&app.get("/api/v1/auth/me", Some("not.a.token")).await);
    // Probes and the document are never limited.
    for path in ["/health/live", "/health/ready", "/api/v1/openapi.json"] {
        for _ in 0..3 {
            let r = app.get(path, None).await;
            r.expect(200);
            assert!(r.header("ratelimit-limit").is_none(), "{path}");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_address_has_a_bucket() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.trusted_proxy_header = Some("x-forwarded-for".into());
        c.rate_limits = RateLimits {
            login: Limit::new(1, 1),
            ..RateLimits::default()
        };
    })
    .await;
    let email = "nobody@example.com";
    login(&app, Some("203.0.113.1"), email, "wrong password one")
        .await
        .expect(401);
    expect_refused(&login(&app, Some("203.0.113.1"), email, "wrong password one").await);
    login(&app, Some("203.0.113.2"), email, "wrong password one")
        .await
        .expect(401);
    // The proxy appends the address it saw: what the caller wrote before it is not
    // believed, so prepending another address does not open a new bucket.
    expect_refused(
        &login(
            &app,
            Some("198.51.100.7, 203.0.113.1"),
            email,
            "wrong password one",
        )
        .await,
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_trusted_proxy_a_forwarded_address_is_ignored() {
    let app = TestApp::spawn_with(Backend::Sqlite, limits(|l| l.login = Limit::new(1, 1))).await;
    let email = "nobody@example.com";
    login(&app, Some("203.0.113.1"), email, "wrong password one")
        .await
        .expect(401);
    for spoofed in ["203.0.113.2", "198.51.100.9", "10.1.2.3"] {
        expect_refused(&login(&app, Some(spoofed), email, "wrong password one").await);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_limited_per_address_and_a_refused_one_creates_nothing() {
    // The defaults: 3 per minute, burst 2, whatever token is sent.
    let app = TestApp::spawn_with(Backend::Sqlite, with_limits(RateLimits::default())).await;
    let buyer = app.buyer().await;
    let body = |n: u32| json!({"email": format!("new-{n}@example.com"), "password": PASSWORD, "display_name": "New"});
    for n in 0..2 {
        let r = app
            .post("/api/v1/auth/register", Some(&buyer.token), &body(n))
            .await;
        r.expect(201);
        assert_eq!(counters(&r), (2, 1 - n));
    }
    expect_refused(&app.post("/api/v1/auth/register", None, &body(2)).await);
    app.clock.advance_secs(20);
    // Had the refused request gone through, this would be 422 (email taken).
    app.post("/api/v1/auth/register", None, &body(2))
        .await
        .expect(201);
    app.stop().await;
}

async fn a_refused_reserve_changes_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, limits(|l| l.reserve = Limit::new(1, 2))).await;
    let show = app
        .show_with(ShowSpec {
            capacity: 10,
            per_user_limit: Some(10),
            ..ShowSpec::default()
        })
        .await;
    let buyer = app.buyer().await;
    for expected in [1, 0] {
        let r = app.reserve(&buyer.token, &show, 1).await;
        r.expect(201);
        assert_eq!(counters(&r), (2, expected));
    }
    let body = json!({"show_id": show.show_id, "zone_id": show.zone_id, "quantity": 3});
    let keyed = || {
        app.client
            .post(app.url("/api/v1/bookings/reserve"))
            .bearer_auth(&buyer.token)
            .header("idempotency-key", "reserve-after-the-limit")
            .json(&body)
    };
    expect_refused(&read(keyed().send().await.unwrap()).await);
    let zone = &app.sales(&show).await["zones"][0];
    assert_eq!(
        (zone["available"].as_i64(), zone["held"].as_i64()),
        (Some(8), Some(2))
    );
    let bookings = app.get("/api/v1/bookings", Some(&buyer.token)).await;
    assert_eq!(bookings.expect(200)["total"], 2);
    // The key was not claimed: after the refill the same key runs the request anew.
    app.clock.advance_secs(60);
    let r = read(keyed().send().await.unwrap()).await;
    r.expect(201);
    assert_eq!(r.header("idempotent-replayed"), Some("false"));
    let zone = &app.sales(&show).await["zones"][0];
    assert_eq!(
        (zone["available"].as_i64(), zone["held"].as_i64()),
        (Some(5), Some(5))
    );
    app.stop().await;
}

on_every_engine!(
    a_refused_reserve_changes_nothing,
    the_login_burst_passes_then_attempts_wait_for_the_refill,
    accounts_and_addresses_have_buckets_of_their_own,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_flood_from_one_address_gets_exactly_the_burst_through() {
    // Burst 3, then one attempt a minute: nothing refills during the flood.
    let app = TestApp::spawn_with(Backend::Sqlite, limits(|l| l.login = Limit::new(1, 3))).await;
    let user = app.buyer().await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (client, url, email) = (
            app.client.clone(),
            app.url("/api/v1/auth/login"),
            user.email.clone(),
        );
        set.spawn(async move {
            let password = if i % 2 == 0 {
                PASSWORD.to_string()
            } else {
                format!("guess number {i}")
            };
            let r = client
                .post(url)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("answered");
            r.status().as_u16()
        });
    }
    let mut by_status = std::collections::BTreeMap::<u16, u32>::new();
    while let Some(status) = set.join_next().await {
        *by_status.entry(status.unwrap()).or_default() += 1;
    }
    let passed: u32 = by_status
        .iter()
        .filter(|(s, _)| **s != 429)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(passed, 3, "{by_status:?}");
    assert_eq!(by_status.get(&429), Some(&197), "{by_status:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_can_be_turned_off() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        limits(|l| {
            l.enabled = false;
            l.login = Limit::new(1, 1);
        }),
    )
    .await;
    for _ in 0..5 {
        let r = login(&app, None, "nobody@example.com", "wrong password one").await;
        r.expect(401);
        assert!(r.header("ratelimit-limit").is_none());
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_codes_and_emailed_tokens_share_the_login_burst() {
    // The defaults: 5 per minute, burst 3.
    let app = TestApp::spawn_with(Backend::Sqlite, with_limits(RateLimits::default())).await;
    let mfa = |code: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/auth/login/mfa",
                None,
                &json!({"mfa_token": "a-challenge-that-was-never-issued", "code": code}),
            )
            .await
        }
    };
    let mut remaining = Vec::new();
    for code in ["000000", "111111", "222222"] {
        let r = mfa(code).await;
        assert!(
            r.status.as_u16() == 401 || r.status.as_u16() == 422,
            "a wrong answer is refused on its merits: {} {}",
            r.status,
            r.text
        );
        remaining.push(counters(&r));
    }
    assert_eq!(remaining, [(3, 2), (3, 1), (3, 0)]);
    // The fourth quick attempt from the address is not checked at all.
    let retry = expect_refused(&mfa("333333").await);
    assert!((1..=12).contains(&retry), "{retry}");
    // Reset and verification tokens are guessed from the same bucket.
    for (path, body) in [
        (
            "/api/v1/auth/password/reset",
            json!({"token": "guess", "password": PASSWORD}),
        ),
        ("/api/v1/auth/verify-email", json!({"token": "guess"})),
        (
            "/api/v1/auth/password/forgot",
            json!({"email": "ana@example.com"}),
        ),
        (
            "/api/v1/auth/login",
            json!({"email": "ana@example.com", "password": PASSWORD}),
        ),
    ] {
        expect_refused(&app.post(path, None, &body).await);
    }
    // Other routes keep their own bucket.
    app.get("/api/v1/events", None).await.expect(200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_and_verification_requests_are_limited_per_address() {
    let app = TestApp::spawn_with(Backend::Sqlite, with_limits(RateLimits::default())).await;
    let user = app.buyer().await;
    for _ in 0..3 {
        app.post(
            "/api/v1/auth/verify-email/request",
            Some(&user.token),
            &json!({}),
        )
        .await
        .expect(202);
    }
    // Counted by address even with a valid token: a fourth request is refused.
    expect_refused(
        &app.post(
            "/api/v1/auth/verify-email/request",
            Some(&user.token),
            &json!({}),
        )
        .await,
    );
    app.stop().await;
}

/// A clock that moves only when told: two limiters asked at "the same instant" are.
#[derive(Default)]
struct Frozen(std::sync::atomic::AtomicI64);

impl boxoffice::clock::Clock for Frozen {
    fn now(&self) -> boxoffice_domain::Timestamp {
        boxoffice_domain::Timestamp::from_millis(
            1_800_000_000_000 + self.0.load(std::sync::atomic::Ordering::SeqCst),
        )
    }
}

/// The Redis limiter decides credential checks exactly as the in-process one: the
/// same sequence of requests and pauses, the same answers, with two nodes sharing one
/// bucket (each request asks Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_in_redis_decide_as_the_in_process_ones_and_are_shared() {
    use boxoffice::ratelimit::{Class, Identity, LocalRateLimiter, RateLimiter, RedisRateLimiter};
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;
    use std::time::Duration;
    let mut redis = crate::support::RedisServer::start();
    let clock = Arc::new(Frozen::default());
    let limits = RateLimits {
        login: Limit::new(6, 3),
        register: Limit::new(60, 1),
        reserve: Limit::new(600, 20),
        default: Limit::new(120, 5),
        ..RateLimits::default()
    };
    let local = LocalRateLimiter::new(&limits, clock.clone()).expect("limits");
    let url = redis.url();
    let connect =
        || RedisRateLimiter::connect(&url, Duration::from_secs(2), &limits, clock.clone());
    let (node_a, node_b) = (
        connect().await.expect("Redis"),
        connect().await.expect("Redis"),
    );
    let who = [
        Identity::Account(boxoffice_domain::UserId::new()),
        Identity::Address("10.0.0.7".parse().unwrap()),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut refused = 0;
    for step in 0..600 {
        let class = [Class::Login, Class::Register][rng.gen_range(0..2)];
        let identity = &who[rng.gen_range(0..2)];
        // Requests alternate between two nodes; the in-process limiter sees them all.
        let node = if step % 2 == 0 { &node_a } else { &node_b };
        let (expected, got) = (
            local.check(class, identity).await,
            node.check(class, identity).await,
        );
        assert_eq!(
            (got.allowed, got.remaining, got.limit),
            (expected.allowed, expected.remaining, expected.limit),
            "step {step}: {class:?}"
        );
        let close = |a: Duration, b: Duration| a.abs_diff(b) <= Duration::from_millis(1);
        assert!(
            close(got.reset_after, expected.reset_after),
            "step {step}: {got:?} vs {expected:?}"
        );
        match (got.retry_after, expected.retry_after) {
            (Some(a), Some(b)) => assert!(close(a, b), "step {step}: {a:?} vs {b:?}"),
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "step {step}"),
        }
        refused += usize::from(!got.allowed);
        let pause = [0, 0, 0, 50, 500, 5_000, 20_000][rng.gen_range(0..7)];
        clock
            .0
            .fetch_add(pause, std::sync::atomic::Ordering::SeqCst);
    }
    assert!(
        refused > 20,
        "the sequence reaches the limits: {refused} refused"
    );
    // The batched classes on one node, reported after each request, decide as the
    // in-process limiter too (the node's copy follows the same rule).
    let local = LocalRateLimiter::new(&limits, clock.clone()).expect("limits");
    let one = Identity::Account(boxoffice_domain::UserId::new());
    for step in 0..400 {
        let class = [Class::Reserve, Class::Default][rng.gen_range(0..2)];
        let (expected, got) = (
            local.check(class, &one).await,
            node_a.check(class, &one).await,
        );
        assert_eq!(
            (got.allowed, got.remaining, got.limit),
            (expected.allowed, expected.remaining, expected.limit),
            "step {step}: {class:?}"
        );
        node_a.sync().await.expect("synced");
        let pause = [0, 0, 0, 50, 500, 5_000][rng.gen_range(0..6)];
        clock
            .0
            .fetch_add(pause, std::sync::atomic::Ordering::SeqCst);
    }
    // Redis gone: the node counts alone instead of refusing everyone.
    redis.kill();
    let fresh = Identity::Address("10.0.0.8".parse().unwrap());
    let alone = node_a.check(Class::Login, &fresh).await;
    assert!(alone.allowed);
    assert_eq!((alone.limit, alone.remaining), (3, 2));
}

/// Reserves are decided on each node against its copy of the shared bucket and
/// reported every 50 ms: a caller sending 100 reserves a second round-robin over three
/// nodes for 30 s gets about what one bucket allows (burst + rate × time), not three
/// buckets' worth, and at most a burst per node more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserve_buckets_reported_in_batches_hold_across_three_nodes() {
    use boxoffice::ratelimit::{Class, Identity, RateLimiter, RedisRateLimiter};
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;
    let redis = crate::support::RedisServer::start();
    let clock = Arc::new(Frozen::default());
    // 10 a second, 20 at once.
    let limits = RateLimits {
        reserve: Limit::new(600, 20),
        ..RateLimits::default()
    };
    let url = redis.url();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let node = RedisRateLimiter::connect(&url, Duration::from_secs(2), &limits, clock.clone());
        nodes.push(node.await.expect("Redis"));
    }
    let bot = Identity::Account(boxoffice_domain::UserId::new());
    let mut allowed = 0u64;
    let mut per_node = [0u64; 3];
    // A request every 10 ms for 30 s; every node reports every 50 ms.
    for step in 0..3_000u64 {
        let i = (step % 3) as usize;
        if nodes[i].check(Class::Reserve, &bot).await.allowed {
            allowed += 1;
            per_node[i] += 1;
        }
        clock.0.fetch_add(10, Ordering::SeqCst);
        if step % 5 == 4 {
            for node in &nodes {
                node.sync().await.expect("synced");
            }
        }
    }
    let one_bucket = 20 + 30 * 10;
    assert!(
        allowed >= one_bucket - 10 && allowed <= one_bucket + 3 * 20,
        "{allowed} allowed ({per_node:?} by node); one shared bucket allows {one_bucket}, \
         three of their own {}",
        3 * one_bucket
    );
    assert!(per_node.iter().all(|n| *n > 0), "{per_node:?}");
}
