//! `Idempotency-Key` on writes: the first response to a key is stored (24 h by
//! default) and replayed for retries with the same request; the same key with a
//! different request is refused with 422, and a retry racing the first is told 409.
//! Keys are scoped to the caller and the route (method and path); requests without a
//! valid token are left to the handler's 401. Endpoints that mint credentials are
//! exempt: their responses carry live tokens that must never sit in the database in
//! clear.
use crate::accounts::tokens::digest;
use crate::error::{ConflictKind, Error};
use crate::http::extract::{authenticate, bearer};
use crate::state::AppState;
use crate::store::IdempotencyClaim;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub const HEADER: &str = "idempotency-key";
const REPLAYED: &str = "idempotent-replayed";
const MAX_STORED_BODY: usize = 1024 * 1024;
/// The payment provider's webhook is not ours to key: it de-duplicates by event id.
pub const EXEMPT_PREFIXES: &[&str] = &[
    "/api/v1/auth/",
    "/api/v1/admin/users/",
    "/api/v1/payments/webhook",
];

pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_write = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let path = req.uri().path().to_owned();
    let Some(key) = req.headers().get(HEADER).cloned() else {
        return next.run(req).await;
    };
    if !is_write || EXEMPT_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return next.run(req).await;
    }
    match handle(state, key, req, next).await {
        Ok(res) | Err(res) => res,
    }
}

async fn handle(
    state: AppState,
    key: HeaderValue,
    req: Request,
    next: Next,
) -> Result<Response, Response> {
    // Scope: the authenticated caller and the route. Without a valid token there is
    // nothing to scope by: the handler answers 401, and nothing is stored. A valid
    // token is handed on so it is verified once (the rate limiter in front may have
    // verified it already).
    let (mut parts, body) = req.into_parts();
    let verified = parts
        .extensions
        .get::<crate::accounts::Principal>()
        .copied();
    let caller = match (verified, bearer(&parts)) {
        (Some(p), _) => Some(p),
        (None, Some(token)) => authenticate(&state, token).await.ok(),
        (None, None) => None,
    };
    let Some(caller) = caller else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    parts.extensions.insert(caller);
    let scope = format!("{} {} {}", caller.scope(), parts.method, parts.uri.path());
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Error::field(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        })?
        .to_owned();
    let limit = state.config.body_limit_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        Error::PayloadTooLarge("the request body exceeds the size limit".into()).into_response()
    })?;
    let fingerprint = digest(&format!(
        "{}\n{}\n{}",
        parts.method,
        parts.uri,
        String::from_utf8_lossy(&bytes)
    ));
    let now = state.clock.now();
    let expires = now.plus_secs(state.config.idempotency_ttl_secs);
    // Requests are cut at the request timeout: a claim older than that (with a
    // margin) was left by a process that stopped mid-request.
    let lease = i64::try_from(state.config.request_timeout_secs).unwrap_or(i64::MAX / 2000) + 5;
    let abandoned_before = now.plus_secs(-lease);
    let claim = state
        .store
        .claim_key(&scope, &key, &fingerprint, now, expires, abandoned_before)
        .await
        .map_err(|e| Error::from(e).into_response())?;
    match claim {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::InFlight { fingerprint: f } if f == fingerprint => {
            return Err(Error::conflict(
                ConflictKind::RequestInFlight,
                "a request with this Idempotency-Key is still running",
            )
            .into_response())
        }
        IdempotencyClaim::Done {
            fingerprint: f,
            status,
            content_type,
            body,
        } if f == fingerprint => {
            let mut res =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            if let Ok(ct) = HeaderValue::from_str(&content_type) {
                res.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            res.headers_mut()
                .insert(REPLAYED, HeaderValue::from_static("true"));
            return Ok(res);
        }
        _ => return Err(Error::IdempotencyMismatch.into_response()),
    }
    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = res.status();
    if status.is_server_error() {
        // Let the client retry with the same key.
        if let Err(e) = state.store.abandon_key(&scope, &key).await {
            tracing::warn!(error = %e, "could not release idempotency key");
        }
        return Ok(res);
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "response too large to store for idempotency");
            let _ = state.store.abandon_key(&scope, &key).await;
            return Err(
                Error::Internal(anyhow::anyhow!("response body unreadable")).into_response()
            );
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Err(e) = state
        .store
        .complete_key(
            &scope,
            &key,
            status.as_u16(),
            &content_type,
            &String::from_utf8_lossy(&bytes),
        )
        .await
    {
        tracing::error!(error = %e, "could not store idempotent response");
    }
    parts
        .headers
        .insert(REPLAYED, HeaderValue::from_static("false"));
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

/// Forgets stored responses past their retention (run periodically).
pub async fn purge_expired(store: &crate::store::DynStore, clock: &crate::clock::DynClock) {
    match store.purge_keys(clock.now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "expired idempotency keys removed"),
        Err(e) => tracing::warn!(error = %e, "purging idempotency keys failed"),
    }
}
