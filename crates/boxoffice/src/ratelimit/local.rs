//! The in-process limiter: one keyed GCRA limiter (`governor`) per class, timed by
//! the service clock so tests move time instead of sleeping. Memory stays bounded:
//! buckets that are full again are dropped by `prune`, which the server runs every
//! minute.
use super::{Class, Decision, Identity, RateLimiter};
use crate::clock::DynClock;
use crate::config::{Limit, RateLimits};
use async_trait::async_trait;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;
use std::num::NonZeroU32;
use std::time::Duration;

/// The service clock as governor's time source (milliseconds are plenty for
/// per-minute quotas).
#[derive(Clone)]
pub struct ServiceClock(DynClock);

impl governor::clock::Clock for ServiceClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let ms = u64::try_from(self.0.now().millis()).unwrap_or(0);
        Nanos::from(Duration::from_millis(ms))
    }
}

type Keyed = governor::RateLimiter<
    Identity,
    DefaultKeyedStateStore<Identity>,
    ServiceClock,
    StateInformationMiddleware,
>;

struct Bucket {
    limiter: Keyed,
    burst: u32,
    /// Time one request takes to come back.
    interval: Duration,
}

pub struct LocalRateLimiter {
    /// By `Class as usize`.
    buckets: [Bucket; 4],
    clock: ServiceClock,
}

fn quota(limit: Limit) -> anyhow::Result<Quota> {
    let per_minute = NonZeroU32::new(limit.per_minute)
        .ok_or_else(|| anyhow::anyhow!("a rate limit needs at least 1 request per minute"))?;
    let burst = NonZeroU32::new(limit.burst)
        .ok_or_else(|| anyhow::anyhow!("a rate limit needs a burst of at least 1"))?;
    Ok(Quota::per_minute(per_minute).allow_burst(burst))
}

impl LocalRateLimiter {
    pub fn new(limits: &RateLimits, clock: DynClock) -> anyhow::Result<Self> {
        limits.validate()?;
        let clock = ServiceClock(clock);
        let bucket = |class: Class| -> anyhow::Result<Bucket> {
            let limit = match class {
                Class::Login => limits.login,
                Class::Register => limits.register,
                Class::Reserve => limits.reserve,
                Class::Default => limits.default,
            };
            let quota = quota(limit)?;
            Ok(Bucket {
                limiter: governor::RateLimiter::dashmap_with_clock(quota, clock.clone())
                    .with_middleware::<StateInformationMiddleware>(),
                burst: limit.burst,
                interval: quota.replenish_interval(),
            })
        };
        Ok(Self {
            buckets: [
                bucket(Class::Login)?,
                bucket(Class::Register)?,
                bucket(Class::Reserve)?,
                bucket(Class::Default)?,
            ],
            clock,
        })
    }

    fn bucket(&self, class: Class) -> &Bucket {
        &self.buckets[match class {
            Class::Login => 0,
            Class::Register => 1,
            Class::Reserve => 2,
            Class::Default => 3,
        }]
    }

    /// Takes one request; the synchronous core of [`RateLimiter::check`].
    pub fn take(&self, class: Class, identity: &Identity) -> Decision {
        let b = self.bucket(class);
        match b.limiter.check_key(identity) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Decision {
                    allowed: true,
                    limit: b.burst,
                    remaining,
                    reset_after: b.interval * b.burst.saturating_sub(remaining),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(&self.clock));
                Decision {
                    allowed: false,
                    limit: b.burst,
                    remaining: 0,
                    reset_after: wait + b.interval * b.burst.saturating_sub(1),
                    retry_after: Some(wait),
                }
            }
        }
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check(&self, class: Class, identity: &Identity) -> Decision {
        self.take(class, identity)
    }

    async fn prune(&self) -> usize {
        self.buckets
            .iter()
            .map(|b| {
                b.limiter.retain_recent();
                b.limiter.shrink_to_fit();
                b.limiter.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use boxoffice_domain::UserId;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    fn limiter(login: Limit) -> (LocalRateLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let limits = RateLimits {
            login,
            ..RateLimits::default()
        };
        (
            LocalRateLimiter::new(&limits, clock.clone()).unwrap(),
            clock,
        )
    }

    fn ip(last: u8) -> Identity {
        Identity::Address(IpAddr::V4(Ipv4Addr::new(203, 0, 113, last)))
    }

    #[test]
    fn the_burst_passes_then_the_bucket_refuses_until_it_refills() {
        let (l, clock) = limiter(Limit::new(6, 3));
        let a = ip(1);
        let seen: Vec<(bool, u32)> = (0..4)
            .map(|_| l.take(Class::Login, &a))
            .map(|d| (d.allowed, d.remaining))
            .collect();
        assert_eq!(seen, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        let refused = l.take(Class::Login, &a);
        assert_eq!(refused.limit, 3);
        let wait = refused.retry_after.unwrap();
        // 6 per minute: one request back every 10 s.
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert!(refused.reset_after >= wait + Duration::from_secs(19));
        clock.advance_secs(10);
        let d = l.take(Class::Login, &a);
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.remaining, 0);
        assert!(!l.take(Class::Login, &a).allowed);
        clock.advance_secs(60);
        assert_eq!(
            l.take(Class::Login, &a).remaining,
            2,
            "full again after a while"
        );
    }

    #[test]
    fn identities_and_classes_have_buckets_of_their_own() {
        let (l, _) = limiter(Limit::new(5, 1));
        assert!(l.take(Class::Login, &ip(1)).allowed);
        assert!(!l.take(Class::Login, &ip(1)).allowed);
        assert!(l.take(Class::Login, &ip(2)).allowed);
        let account = Identity::Account(UserId::new());
        assert!(l.take(Class::Login, &account).allowed);
        assert!(l.take(Class::Register, &ip(1)).allowed, "another class");
        let d = l.take(Class::Reserve, &ip(1));
        assert_eq!((d.allowed, d.limit, d.remaining), (true, 10, 9));
        let d = l.take(Class::Default, &ip(1));
        assert_eq!((d.allowed, d.limit, d.remaining), (true, 20, 19));
    }

    #[tokio::test]
    async fn pruning_forgets_full_buckets_only() {
        // One request back per second.
        let (l, clock) = limiter(Limit::new(60, 3));
        for n in 0..50 {
            l.take(Class::Login, &ip(n));
        }
        for _ in 0..3 {
            l.take(Class::Login, &ip(200));
        }
        assert_eq!(l.prune().await, 51);
        // The 50 one-request buckets are full again; the emptied one is not.
        clock.advance_secs(3);
        assert_eq!(l.prune().await, 1);
        assert_eq!(l.take(Class::Login, &ip(7)).remaining, 2, "a new bucket");
        clock.advance_secs(3);
        assert_eq!(l.prune().await, 0);
    }

    #[test]
    fn empty_buckets_are_refused() {
        let clock = Arc::new(ManualClock::default());
        for bad in [Limit::new(0, 3), Limit::new(5, 0)] {
            let limits = RateLimits {
                register: bad,
                ..RateLimits::default()
            };
            let e = LocalRateLimiter::new(&limits, clock.clone()).err().unwrap();
            assert!(e.to_string().contains("rate_limits.register"), "{e}");
        }
    }
}
