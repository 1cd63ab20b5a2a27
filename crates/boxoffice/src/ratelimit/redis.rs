//! Buckets every node shares, in Redis: one key per caller and class holding the
//! GCRA arrival time, changed by one script call per request and expiring when the
//! bucket is full again. If Redis does not answer, the node falls back to its own
//! buckets (limits per node) rather than refusing or letting everything through.
use super::{Class, Decision, Identity, LocalRateLimiter, RateLimiter};
use crate::clock::DynClock;
use crate::config::{Limit, RateLimits};
use crate::telemetry::metrics::names;
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use std::time::{Duration, Instant};

pub struct RedisRateLimiter {
    connection: ConnectionManager,
    script: redis::Script,
    /// `(burst, interval in ms)` by class.
    limits: [(u32, f64); 4],
    clock: DynClock,
    fallback: LocalRateLimiter,
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
        let ms = |ms: f64| Duration::from_secs_f64(ms.max(0.0) / 1000.0);
        let remaining = u32::try_from(remaining.max(0)).unwrap_or(0);
        let retry = retry.parse::<f64>().unwrap_or(0.0);
        // The reset is reported as the in-process limiter does (whole refills of what
        // is missing), so the headers do not depend on the engine.
        let missing = |n: u32| ms(interval * f64::from(burst.saturating_sub(n)));
        Ok(if allowed == 1 {
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
                reset_after: ms(retry) + missing(1),
                retry_after: Some(ms(retry)),
            }
        })
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, class: Class, identity: &Identity) -> Decision {
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
        // Keys expire when their bucket is full again; only the fallback keeps state.
        self.fallback.prune().await
    }
}
