//! The limiter at the HTTP edge: every limited request takes from its bucket before
//! anything else runs, so a refused one writes nothing, claims no idempotency key and
//! touches no inventory. Answers carry `RateLimit-*` (and `X-RateLimit-*`) headers; a
//! refusal is a 429 problem with `Retry-After`.
use super::{ceil_secs, class_of, Decision, Identity};
use crate::error::Error;
use crate::http::extract::{authenticate, bearer};
use crate::http::origin::client_ip;
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Requests the bucket holds when full.
pub const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// Requests left after this one.
pub const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// Seconds until the bucket is full again.
pub const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
/// The same three under the names older clients read.
pub const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
pub const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
pub const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Every header a limited answer carries, with what it means (for the OpenAPI document).
pub const HEADERS: &[(&str, &str)] = &[
    (
        "RateLimit-Limit",
        "Requests the caller's bucket for this route holds when full (the burst).",
    ),
    (
        "RateLimit-Remaining",
        "Requests left in the bucket after this one.",
    ),
    ("RateLimit-Reset", "Seconds until the bucket is full again."),
    ("X-RateLimit-Limit", "Same as RateLimit-Limit."),
    ("X-RateLimit-Remaining", "Same as RateLimit-Remaining."),
    ("X-RateLimit-Reset", "Same as RateLimit-Reset."),
];

pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(limiter) = state.rate_limits.as_ref() else {
        return next.run(req).await;
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(req.uri().path(), MatchedPath::as_str);
    let Some(class) = class_of(req.method().as_str(), route) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    // A valid token names the caller; it is verified here once and handed on, so
    // the handler does not verify it again. An invalid one is left to the handler's
    // 401, and meanwhile counts against the address.
    let account = if class.per_address() {
        None
    } else {
        match bearer(&parts) {
            Some(token) => authenticate(&state, token).await.ok(),
            None => None,
        }
    };
    let identity = match account {
        Some(principal) => {
            parts.extensions.insert(principal);
            match principal.key {
                Some(key) => Identity::ApiKey(key.id),
                None => Identity::Account(principal.user),
            }
        }
        None => {
            let peer = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0);
            Identity::Address(client_ip(
                &parts.headers,
                peer,
                state.config.trusted_proxy_header.as_deref(),
            ))
        }
    };
    let decision = limiter.check(class, &identity).await;
    let mut res = if decision.allowed {
        next.run(Request::from_parts(parts, body)).await
    } else {
        tracing::debug!(class = class.as_str(), "rate limited");
        metrics::counter!(crate::telemetry::metrics::names::RATE_LIMITED, "class" => class.as_str())
            .increment(1);
        Error::RateLimited {
            retry_after_secs: ceil_secs(decision.retry_after.unwrap_or_default()).max(1),
        }
        .into_response()
    };
    set_headers(res.headers_mut(), &decision);
    res
}

fn set_headers(h: &mut HeaderMap, d: &Decision) {
    let reset = HeaderValue::from(ceil_secs(d.reset_after));
    let limit = HeaderValue::from(d.limit);
    let remaining = HeaderValue::from(d.remaining);
    h.insert(X_LIMIT, limit.clone());
    h.insert(X_REMAINING, remaining.clone());
    h.insert(X_RESET, reset.clone());
    h.insert(LIMIT, limit);
    h.insert(REMAINING, remaining);
    h.insert(RESET, reset);
}
