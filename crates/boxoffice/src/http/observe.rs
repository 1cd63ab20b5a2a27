//! What every request leaves behind: a span named by its route template (never its
//! raw path) carrying the request id and trace id, one log line with status and
//! latency (and the account, once authenticated; never a secret), and a sample of
//! `http_request_duration_seconds`.
use crate::telemetry::metrics::names;
use crate::telemetry::trace::TraceContext;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::field::Empty;
use tracing::Instrument;

pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

pub async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let request_id = req
        .headers()
        .get(super::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let parent = req
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse);
    let (span, trace) = TraceContext::request_span(parent, || {
        tracing::info_span!(
            "request",
            method = %method,
            route = %route,
            request_id = %request_id,
            trace_id = Empty,
            account_id = Empty,
        )
    });
    span.record("trace_id", tracing::field::display(trace.trace_id));
    let in_flight = metrics::gauge!(names::HTTP_IN_FLIGHT);
    in_flight.increment(1.0);
    let res = trace.scope(next.run(req).instrument(span.clone())).await;
    in_flight.decrement(1.0);
    let elapsed = started.elapsed();
    let status = res.status();
    metrics::histogram!(
        names::HTTP_DURATION,
        "route" => route,
        "method" => method.as_str().to_owned(),
        "status" => status.as_str().to_owned()
    )
    .record(elapsed.as_secs_f64());
    // To the microsecond: `7.906`, not `7.906038000000001`.
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request");
        }
    });
    res
}

/// Names the signed-in account on the current request's span (and so on its log
/// line and trace); an id, never an email or a token.
pub fn record_account(id: &impl std::fmt::Display) {
    tracing::Span::current().record("account_id", tracing::field::display(id));
}
