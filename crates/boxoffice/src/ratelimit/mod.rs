//! Rate limits: a token bucket per caller and class of request, so one caller (a
//! password guesser, a bot on the reserve path) cannot take the capacity others need.
//! The port is async so that the scaled mode can keep the buckets in Redis.
pub mod http;
mod local;
mod redis;

pub use self::redis::RedisRateLimiter;
pub use local::LocalRateLimiter;

use async_trait::async_trait;
use boxoffice_domain::{ApiKeyId, UserId};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Which bucket a request draws from; each class has its own quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Credential checks: login, its MFA step, password reset and email verification
    /// (codes and tokens must not be guessed quickly; reset and verification mail must
    /// not be sent in floods).
    Login,
    Register,
    /// The on-sale hot path.
    Reserve,
    /// Every other API route.
    Default,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::Login,
        Class::Register,
        Class::Reserve,
        Class::Default,
    ];

    /// The name of the class in the configuration (`rate_limits.<name>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::Register => "register",
            Class::Reserve => "reserve",
            Class::Default => "default",
        }
    }

    /// Whether the caller is always counted by address: they are signing in or up,
    /// so a token they send proves nothing about who is guessing.
    pub fn per_address(self) -> bool {
        matches!(self, Class::Login | Class::Register)
    }
}

/// Routes with a bucket of their own, by method and route template. Endpoints that
/// check credentials (MFA codes, password reset) belong to `Class::Login`.
pub const ROUTES: &[(&str, &str, Class)] = &[
    ("POST", "/api/v1/auth/login", Class::Login),
    ("POST", "/api/v1/auth/login/mfa", Class::Login),
    ("POST", "/api/v1/auth/password/forgot", Class::Login),
    ("POST", "/api/v1/auth/password/reset", Class::Login),
    ("POST", "/api/v1/auth/verify-email", Class::Login),
    ("POST", "/api/v1/auth/verify-email/request", Class::Login),
    ("POST", "/api/v1/auth/register", Class::Register),
    ("POST", "/api/v1/bookings/reserve", Class::Reserve),
];

/// Never limited: probes (load balancers poll them), the docs page and the document.
pub const UNLIMITED_PREFIXES: &[&str] = &["/health/", "/docs", "/api/v1/openapi.json"];

/// The class of a request to `route` (a route template such as
/// `/api/v1/shows/{id}`, or the raw path of a request that matched no route), or
/// `None` when it is not limited.
pub fn class_of(method: &str, route: &str) -> Option<Class> {
    if UNLIMITED_PREFIXES.iter().any(|p| route.starts_with(p)) {
        return None;
    }
    if let Some((_, _, class)) = ROUTES
        .iter()
        .find(|(m, r, _)| *r == route && m.eq_ignore_ascii_case(method))
    {
        return Some(*class);
    }
    route.starts_with("/api/").then_some(Class::Default)
}

/// Who a bucket belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A caller with a valid access token.
    Account(UserId),
    /// An organization's integration, by its API key.
    ApiKey(ApiKeyId),
    /// Anyone else, by client address (see `trusted_proxy_header`).
    Address(IpAddr),
}

/// The answer for one request, with what the `RateLimit-*` headers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests the bucket holds when full (the burst).
    pub limit: u32,
    /// Requests left in the bucket after this one.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset_after: Duration,
    /// When refused: until the next request can pass.
    pub retry_after: Option<Duration>,
}

/// Where buckets live: in this process, or (scaled out) in a store every node shares.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one request from the bucket of `identity` in `class`, if there is one.
    async fn check(&self, class: Class, identity: &Identity) -> Decision;

    /// Forgets buckets that are full again (they behave as new ones); returns how many
    /// are still kept. A store with expiring keys needs nothing here.
    async fn prune(&self) -> usize;

    /// Reports what this node allowed to buckets shared with other nodes, and learns
    /// what they took (run every `rate_limits.sync_interval_ms`); nothing to do when
    /// buckets are this node's own.
    async fn sync(&self) {}
}

pub type DynRateLimiter = Arc<dyn RateLimiter>;

/// Whole seconds, rounded up: a client that waits this long is not refused again.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_come_from_the_route_template() {
        assert_eq!(class_of("POST", "/api/v1/auth/login"), Some(Class::Login));
        assert_eq!(class_of("post", "/api/v1/auth/login"), Some(Class::Login));
        for credential in [
            "/api/v1/auth/login/mfa",
            "/api/v1/auth/password/forgot",
            "/api/v1/auth/password/reset",
            "/api/v1/auth/verify-email",
            "/api/v1/auth/verify-email/request",
        ] {
            assert_eq!(
                class_of("POST", credential),
                Some(Class::Login),
                "{credential}"
            );
        }
        assert_eq!(
            class_of("POST", "/api/v1/auth/register"),
            Some(Class::Register)
        );
        assert_eq!(
            class_of("POST", "/api/v1/bookings/reserve"),
            Some(Class::Reserve)
        );
        assert_eq!(
            class_of("GET", "/api/v1/auth/login"),
            Some(Class::Default),
            "another method on the same path is another route"
        );
        assert_eq!(
            class_of("POST", "/api/v1/bookings/{id}/confirm"),
            Some(Class::Default)
        );
        assert_eq!(
            class_of("GET", "/api/v1/no-such-route"),
            Some(Class::Default)
        );
        for free in [
            "/health/live",
            "/health/ready",
            "/docs",
            "/docs/index.html",
            "/api/v1/openapi.json",
            "/",
        ] {
            assert_eq!(class_of("GET", free), None, "{free}");
        }
    }

    #[test]
    fn only_sign_in_and_sign_up_ignore_tokens() {
        let per_address: Vec<_> = Class::ALL.into_iter().filter(|c| c.per_address()).collect();
        assert_eq!(per_address, [Class::Login, Class::Register]);
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(12)), 12);
        assert_eq!(ceil_secs(Duration::from_millis(12_001)), 13);
    }
}
