//! The HTTP edge: routes of every capability, the OpenAPI document and its docs page,
//! and the middleware every request passes (request id, tracing, security headers,
//! body limit, rate limits, idempotency, problem responses for every error).
pub mod contract;
pub mod extract;
mod health;
pub mod idempotency;
pub mod observe;
pub mod origin;
pub mod paging;
pub mod problem;

use crate::error::Error;
use crate::state::AppState;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use axum::Router;
use problem::PROBLEM_JSON;
use std::any::Any;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(title = "boxoffice", description = "Ticketing for high-demand on-sales: browse, hold, confirm. Every error is application/problem+json with a stable `type` (see the Problem schema) and lists every status an operation can answer. Writes accept an Idempotency-Key header; every request may carry an X-Request-Id, which every answer echoes."),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Registration, login, tokens, profile"),
        (name = "organizations", description = "Organizations (tenants), members, invitations and API keys"),
        (name = "webhooks", description = "Signed event deliveries to organizers' endpoints: endpoints, secrets, the delivery log. The payloads are the WebhookEvent schema, which also describes how to verify the Boxoffice-Signature header"),
        (name = "mfa", description = "Second factor: TOTP, backup codes, trusted devices"),
        (name = "catalog", description = "Events, shows and zones"),
        (name = "booking", description = "Holds and bookings: the on-sale hot path"),
        (name = "seating", description = "Reserved seating: venue layouts, shows' seat maps, live seat status and the SVG map"),
        (name = "payments", description = "Checkout (hold → payment_pending → confirmed), refunds and refund policies, the payment provider's webhook. A paid hold is confirmed by its captured payment; a payment captured after the hold ended is confirmed if the same tickets can still be taken, otherwise refunded automatically."),
        (name = "notifications", description = "The signed-in user's notifications"),
        (name = "queue", description = "The virtual waiting room of a queued show: join, follow your place (polling or Server-Sent Events), and reserve with the signed pass you get when admitted (X-Queue-Pass). Organizers set the method (FIFO, random at opening, lottery, passthrough), the pace and the pass validity, steer the queue and read its figures; the draw at opening is published for anyone to recompute"),
        (name = "keys", description = "Public keys (JWKS, Ed25519) that verify what the platform signs: queue passes and e-tickets. An edge or a gate scanner verifies offline with them"),
        (name = "tickets", description = "E-tickets: signed QR codes, PDFs, transfers"),
        (name = "check-in", description = "The door: scans, check-in lists, offline gates and their sync, live attendance"),
        (name = "admin", description = "Operator tools"),
        (name = "health", description = "Liveness and readiness")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every route with its OpenAPI description.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::accounts::http::routes())
        .merge(crate::organizations::http::routes())
        .merge(crate::accounts::mfa::http::routes())
        .merge(crate::catalog::http::routes())
        .merge(crate::booking::http::routes())
        .merge(crate::seating::http::routes())
        .merge(crate::payments::http::routes())
        .merge(crate::audit::http::routes())
        .merge(crate::webhooks::http::routes())
        .merge(crate::outbox::http::routes())
        .merge(crate::notifications::http::routes())
        .merge(crate::tickets::http::routes())
        .merge(crate::queue::http::routes())
        .merge(crate::signing::http::routes())
        .merge(health::routes())
        .split_for_parts();
    crate::webhooks::http::add_payload_schemas(&mut doc);
    contract::complete(&mut doc);
    (router, doc)
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    let body_limit = state.config.body_limit_bytes;
    let request_timeout = state.config.request_timeout_secs.max(1);
    api.merge(SwaggerUi::new("/docs").url(OPENAPI_PATH, openapi))
        .merge(crate::web::routes())
        .fallback(|| async { Error::NotFound("route") })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), idempotency::idempotency))
        // Outside idempotency: a refused request claims no key.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::http::limit,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), crate::audit::request_scope))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(middleware::from_fn(observe::observe))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(problem_responses))
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(HandleErrorLayer::new(move |_: BoxError| async move {
                    Error::Unavailable(format!(
                        "the request took longer than {request_timeout} s; retry it"
                    ))
                }))
                .timeout(Duration::from_secs(request_timeout))
                .layer(middleware::from_fn(run_to_completion))
                .layer(security_header("x-content-type-options", "nosniff"))
                .layer(security_header("x-frame-options", "DENY"))
                .layer(security_header("referrer-policy", "no-referrer"))
                .layer(security_header(
                    "content-security-policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                )),
        )
}

fn security_header(name: &'static str, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        HeaderName::from_static(name),
        HeaderValue::from_static(value),
    )
}

/// Runs the rest of the request in a task of its own. A request that times out, or
/// whose client hangs up, stops being waited for but is not stopped half-way: a
/// handler that committed a change still moves the live counters after it (a paid
/// confirmation dropped between the two left a sold ticket counted as held).
async fn run_to_completion(req: Request, next: Next) -> Response {
    let span = tracing::Span::current();
    let trace = crate::telemetry::trace::current();
    let handler = crate::telemetry::trace::within_async(trace, next.run(req)).instrument(span);
    match tokio::spawn(handler).await {
        Ok(res) => res,
        // CatchPanicLayer, outside, turns it into a 500 problem.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => {
            Error::Unavailable("the server is shutting down; retry shortly".into()).into_response()
        }
    }
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    Error::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

/// Gives every error response a problem body carrying the request id, including
/// errors produced by layers outside the handlers.
async fn problem_responses(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    // The web UI's pages answer errors as pages.
    if res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
    {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 256 * 1024)
        .await
        .unwrap_or_default();
    let mut doc: serde_json::Value = if is_problem {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| serde_json::json!({}))
    } else {
        let reason = status.canonical_reason().unwrap_or("Error");
        let text = String::from_utf8_lossy(&bytes).trim().to_string();
        serde_json::json!({
            "type": format!("/problems/http-{}", status.as_u16()),
            "title": reason,
            "status": status.as_u16(),
            "detail": if text.is_empty() { reason.to_string() } else { text },
        })
    };
    if let Some(obj) = doc.as_object_mut() {
        if let Some(id) = request_id {
            obj.insert("request_id".into(), serde_json::Value::String(id));
        }
        if let Some(trace) = crate::telemetry::trace::current() {
            obj.insert(
                "trace_id".into(),
                serde_json::Value::String(trace.trace_id.to_string()),
            );
        }
    }
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
