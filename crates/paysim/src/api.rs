//! The simulator's HTTP API. Stripe-like on purpose: bearer key, `Idempotency-Key`
//! on every write, `{"error": {type, code, message, param}}` bodies; a provider
//! adapter written against it needs few changes to speak to a real one.
use crate::books::{BooksError, CreateIntent, CreateRefund, IntentStatus};
use crate::webhook::{dispatch, Event};
use crate::{now_ms, KnobsUpdate, Shared};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let v1 = Router::new()
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/{id}", get(retrieve_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/refunds/{id}", get(retrieve_refund))
        .layer(middleware::from_fn_with_state(shared.clone(), misbehave));
    let sim = Router::new()
        .route("/_sim/knobs", get(knobs).post(update_knobs))
        .route("/_sim/ledger", get(ledger));
    v1.merge(sim)
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .layer(middleware::from_fn_with_state(shared.clone(), outage))
        .with_state(shared)
}

/// A Stripe-like error answer: `{"error": {type, code, message, param}}`.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: String,
    param: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"type": self.kind, "code": self.code,
                                    "message": self.message, "param": self.param}});
        (self.status, Json(body)).into_response()
    }
}

fn error(
    status: StatusCode,
    kind: &'static str,
    code: Option<&'static str>,
    message: &str,
    param: Option<&'static str>,
) -> ApiError {
    ApiError {
        status,
        kind,
        code,
        message: message.to_owned(),
        param,
    }
}

fn books_error(e: BooksError) -> ApiError {
    let invalid = "invalid_request_error";
    match e {
        BooksError::Idempotency(m) => {
            error(StatusCode::BAD_REQUEST, "idempotency_error", None, &m, None)
        }
        BooksError::Invalid { param, message } => error(
            StatusCode::BAD_REQUEST,
            invalid,
            Some("parameter_invalid"),
            &message,
            Some(param),
        ),
        BooksError::NotFound(m) => error(
            StatusCode::NOT_FOUND,
            invalid,
            Some("resource_missing"),
            &m,
            None,
        ),
        BooksError::AmountTooLarge {
            requested,
            refundable,
        } => error(
            StatusCode::BAD_REQUEST,
            invalid,
            Some("amount_too_large"),
            &format!("refund of {requested} exceeds the {refundable} left to refund"),
            Some("amount"),
        ),
        BooksError::NotCaptured(m) => error(
            StatusCode::BAD_REQUEST,
            invalid,
            Some("payment_intent_unexpected_state"),
            &m,
            Some("payment_intent"),
        ),
    }
}

/// While the simulator is down, everything under `/v1` answers 503; `/_sim` stays
/// up so a test can bring it back.
async fn outage(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if shared.down.load(Ordering::SeqCst) && req.uri().path().starts_with("/v1/") {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            None,
            "the payment processor is unavailable",
            None,
        )
        .into_response();
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return r;
    }
    next.run(req).await
}

/// The bearer key, compared in constant time.
async fn authorize(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = shared.config.api_key.expose_secret().as_bytes();
    if !bool::from(presented.as_bytes().ct_eq(expected)) || expected.is_empty() {
        return error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            None,
            "invalid API key",
            None,
        )
        .into_response();
    }
    next.run(req).await
}

/// Latency before the call; at `timeout_rate`, the call takes effect and its answer
/// is held back far beyond any client's patience.
async fn misbehave(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let knobs = shared.knobs();
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    let response = next.run(req).await;
    let hold = rand::thread_rng().gen::<f64>() < knobs.timeout_rate;
    if hold {
        tokio::select! {
            () = shared.cancel.cancelled() => {}
            () = tokio::time::sleep(shared.config.timeout_hold) => {}
        }
    }
    response
}

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(k) if !k.is_empty() && k.len() <= 255 => Ok(k.to_owned()),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_missing"),
            "an Idempotency-Key header of 1 to 255 characters is required",
            Some("Idempotency-Key"),
        )),
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid"),
            &format!("invalid request body: {e}"),
            None,
        )
    })
}

/// 200 with the object; a replay is marked as Stripe marks it.
fn answer(object: &impl Serialize, replayed: bool) -> Response {
    let mut r = Json(object).into_response();
    if replayed {
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    r
}

/// After `processing_ms`, decides the intent (unless cancelled meanwhile) and
/// announces the result.
fn process_intent(shared: &Arc<Shared>, id: String) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let knobs = shared.knobs();
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(knobs.processing_ms)) => {}
        }
        let roll = rand::thread_rng().gen::<f64>();
        let failure_rate = shared.knobs().failure_rate;
        let settled = shared
            .books()
            .settle_intent(&id, roll, failure_rate, now_ms());
        if let Some(intent) = settled {
            let kind = match intent.status {
                IntentStatus::Succeeded => "payment_intent.succeeded",
                _ => "payment_intent.payment_failed",
            };
            dispatch(&shared, Event::new(kind, &intent, now_ms()));
        }
    });
}

fn process_refund(shared: &Arc<Shared>, id: String) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let knobs = shared.knobs();
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(knobs.processing_ms)) => {}
        }
        let settled = shared.books().settle_refund(&id);
        if let Some(refund) = settled {
            dispatch(&shared, Event::new("refund.succeeded", &refund, now_ms()));
        }
    });
}

async fn create_intent(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let req: CreateIntent = parse(&body)?;
    let created = shared.books().create_intent(&key, req, now_ms());
    let (intent, new) = created.map_err(books_error)?;
    if new {
        process_intent(&shared, intent.id.clone());
    }
    Ok(answer(&intent, !new))
}

async fn retrieve_intent(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let intent = shared.books().intent(&id).map_err(books_error)?;
    Ok(answer(&intent, false))
}

async fn cancel_intent(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let cancelled = shared.books().cancel_intent(&key, &id);
    let (intent, changed) = cancelled.map_err(books_error)?;
    if changed {
        dispatch(
            &shared,
            Event::new("payment_intent.canceled", &intent, now_ms()),
        );
    }
    Ok(answer(&intent, false))
}

async fn create_refund(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let req: CreateRefund = parse(&body)?;
    let created = shared.books().create_refund(&key, req, now_ms());
    let (refund, new) = created.map_err(books_error)?;
    if new {
        process_refund(&shared, refund.id.clone());
    }
    Ok(answer(&refund, !new))
}

async fn retrieve_refund(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let refund = shared.books().refund(&id).map_err(books_error)?;
    Ok(answer(&refund, false))
}

async fn knobs(State(shared): State<Arc<Shared>>) -> Response {
    Json(crate::KnobsView {
        knobs: shared.knobs(),
        down: shared.down.load(Ordering::SeqCst),
    })
    .into_response()
}

async fn update_knobs(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let update: KnobsUpdate = parse(&body)?;
    let view = shared.update_knobs(&update).map_err(|m| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid"),
            &m,
            None,
        )
    })?;
    tracing::info!(knobs = ?view, "payment simulator knobs changed");
    Ok(Json(view).into_response())
}

async fn ledger(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.ledger()).into_response()
}
