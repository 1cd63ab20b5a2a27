//! Buckets every node shares, in Redis: one key per caller and class holding the
//! GCRA arrival time, expiring when the bucket is full again.
//!
//! Credential classes (login, register) are decided in Redis, one script call per
//! request, exactly. The busy classes (reserve, every other route) are decided on the
//! node against its copy of the shared bucket, and what the node allowed is added to
//! Redis in one pipelined round trip per `sync_interval_ms` for all its callers, which
//! also brings back what the other nodes took: the reserve path then makes no Redis
//! call for its limit, and a caller spreading requests over N nodes gets at most about
//! N bursts more than the shared limit before every node knows (one interval).
//! If Redis does not answer, a node counts alone (limits per node) rather than
//! refusing or letting everything through.
use super::{Class, Decision, Identity, LocalRateLimiter, RateLimiter};
use crate::clock::DynClock;
use crate::config::{Limit, RateLimits};
use crate::telemetry::metrics::names;
use async_trait::async_trait;
use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// This node's copy of a shared bucket.
#[derive(Clone, Copy, Debug, Default)]
struct Copy {
    /// The theoretical arrival time (ms) as this node knows it: the shared one as last
    /// read, plus what this node allowed since.
    tat: f64,
    /// Requests allowed here and not yet added to the shared bucket.
    unsent: u32,
}

pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: redis::Script,
    add: redis::Script,
    /// `(burst, interval in ms)` by class.
    limits: [(u32, f64); 4],
    clock: DynClock,
    fallback: LocalRateLimiter,
    copies: Mutex<HashMap<(Class, Identity), Copy>>,
}

/// Decided on the node and reported in batches (the others: in Redis, each request).
fn batched(class: Class) -> bool {
    matches!(class, Class::Reserve | Class::Default)
}

fn index(class: Class) -> usize {
    match class {
        Class::Login => 0,
        Class::Register => 1,
        Class::Reserve => 2,
        Class::Default => 3,
    }
}

fn interval_ms(limit: Limit) -> f64 {
    60_000.0 / f64::from(limit.per_minute.max(1))
}

impl RedisRateLimiter {
    pub async fn connect(
        url: &str,
        timeout: Duration,
        limits: &RateLimits,
        clock: DynClock,
    ) -> anyhow::Result<Self> {
        let fallback = LocalRateLimiter::new(limits, clock.clone())?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(timeout)
            .set_connection_timeout(timeout);
        let connection =
            ConnectionManager::new_with_config(redis::Client::open(url)?, config).await?;
        let of = |l: Limit| (l.burst, interval_ms(l));
        Ok(Self {
            connection,
            script: redis::Script::new(include_str!("gcra.lua")),
            add: redis::Script::new(include_str!("gcra_add.lua")),
            copies: Mutex::default(),
            limits: [
                of(limits.login),
                of(limits.register),
                of(limits.reserve),
                of(limits.default),
            ],
            clock,
            fallback,
        })
    }

    fn key(class: Class, identity: &Identity) -> String {
        let who = match identity {
            Identity::Account(id) => format!("u:{id}"),
            Identity::ApiKey(id) => format!("k:{id}"),
            Identity::Address(ip) => format!("a:{ip}"),
        };
        format!("bo:rl:{}:{who}", class.as_str())
    }

    async fn take(&self, class: Class, identity: &Identity) -> redis::RedisResult<Decision> {
        let (burst, interval) = self.limits[index(class)];
        let mut con = self.connection.clone();
        let (allowed, remaining, _reset, retry): (i64, i64, String, String) = self
            .script
            .key(Self::key(class, identity))
            .arg(self.clock.now().millis())
            .arg(interval)
            .arg(burst)
            .invoke_async(&mut con)
            .await?;
        let retry = retry.parse::<f64>().unwrap_or(0.0);
        Ok(decision(burst, interval, allowed == 1, remaining, retry))
    }

    /// Decides on this node's copy of the bucket (the same rule as `gcra.lua`).
    fn decide_here(&self, class: Class, identity: &Identity) -> Decision {
        let (burst, t) = self.limits[index(class)];
        let now = self.clock.now().millis() as f64;
        let tau = f64::from(burst.saturating_sub(1)) * t;
        let mut copies = self.copies.lock();
        let copy = copies.entry((class, *identity)).or_default();
        let tat = copy.tat.max(now);
        let allow_at = tat - tau;
        if now < allow_at {
            return decision(burst, t, false, 0, allow_at - now);
        }
        copy.tat = tat + t;
        copy.unsent += 1;
        let remaining = ((now + tau - copy.tat) / t).floor() as i64 + 1;
        decision(burst, t, true, remaining, 0.0)
    }

    /// Adds what this node allowed since the last call to the shared buckets and takes
    /// back what they hold now, one pipelined round trip for every caller seen; how
    /// many buckets were reported. Run every `rate_limits.sync_interval_ms`.
    pub async fn sync(&self) -> redis::RedisResult<usize> {
        let now = self.clock.now().millis();
        let sent: Vec<((Class, Identity), u32)> = {
            let mut copies = self.copies.lock();
            copies
                .iter_mut()
                .filter(|(_, c)| c.unsent > 0)
                .map(|(k, c)| (*k, std::mem::take(&mut c.unsent)))
                .collect()
        };
        if sent.is_empty() {
            return Ok(0);
        }
        let started = Instant::now();
        let mut pipe = redis::pipe();
        for ((class, identity), n) in &sent {
            let (_, t) = self.limits[index(*class)];
            pipe.invoke_script(
                self.add
                    .key(Self::key(*class, identity))
                    .arg(now)
                    .arg(t)
                    .arg(*n),
            );
        }
        let mut con = self.connection.clone();
        let mut reply: redis::RedisResult<Vec<String>> = pipe.query_async(&mut con).await;
        if matches!(&reply, Err(e) if e.kind() == redis::ErrorKind::NoScriptError) {
            // Redis restarted and forgot the script: load it and send again.
            self.add.prepare_invoke().load_async(&mut con).await?;
            reply = pipe.query_async(&mut con).await;
        }
        metrics::histogram!(names::REDIS_OPERATION, "op" => "rate_limit_sync")
            .record(started.elapsed().as_secs_f64());
        // Failed: what was sent is dropped, and this node goes on counting alone.
        let tats = reply?;
        let mut copies = self.copies.lock();
        for (((class, identity), _), tat) in sent.iter().zip(tats) {
            let (_, t) = self.limits[index(*class)];
            let shared = tat.parse::<f64>().unwrap_or(0.0).max(now as f64);
            if let Some(copy) = copies.get_mut(&(*class, *identity)) {
                // The shared bucket holds what was sent; what came since is on top.
                copy.tat = copy.tat.max(shared + f64::from(copy.unsent) * t);
            }
        }
        Ok(sent.len())
    }
}

/// A decision as the headers report it, from the GCRA's answer: the reset is given as
/// the in-process limiter does (whole refills of what is missing), so the headers do
/// not depend on where the bucket lives.
fn decision(burst: u32, interval: f64, allowed: bool, remaining: i64, retry_ms: f64) -> Decision {
    let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1000.0);
    let missing = |n: u32| ms(interval * f64::from(burst.saturating_sub(n)));
    if allowed {
        let remaining = u32::try_from(remaining.max(0)).unwrap_or(0);
        Decision {
            allowed: true,
            limit: burst,
            remaining,
            reset_after: missing(remaining),
            retry_after: None,
        }
    } else {
        Decision {
            allowed: false,
            limit: burst,
            remaining: 0,
            reset_after: ms(retry_ms) + missing(1),
            retry_after: Some(ms(retry_ms)),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, class: Class, identity: &Identity) -> Decision {
        if batched(class) {
            return self.decide_here(class, identity);
        }
        let started = Instant::now();
        let decision = self.take(class, identity).await;
        metrics::histogram!(names::REDIS_OPERATION, "op" => "rate_limit")
            .record(started.elapsed().as_secs_f64());
        match decision {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "shared rate limits unavailable; this node counts alone");
                self.fallback.take(class, identity)
            }
        }
    }

    async fn prune(&self) -> usize {
        // Keys expire in Redis when their bucket is full again; so do copies here.
        let now = self.clock.now().millis() as f64;
        let kept = {
            let mut copies = self.copies.lock();
            copies.retain(|_, c| c.unsent > 0 || c.tat > now);
            copies.len()
        };
        kept + self.fallback.prune().await
    }

    async fn sync(&self) {
        if let Err(e) = RedisRateLimiter::sync(self).await {
            tracing::warn!(error = %e, "shared rate limits not synced; this node counts alone meanwhile");
        }
    }
}
