//! Payment endpoints: checkout and the buyer's view of a booking's money, refunds and
//! their approval, refund policies, and the gateway's webhook.
use super::settle;
use super::views::{
    ApproveRefund, BookingPayments, CheckoutRequest, CheckoutView, RefundPolicyInput,
    RefundPolicyView, RefundView,
};
use crate::error::{Error, Result};
use crate::http::extract::{Auth, Caller, Json, Path, Query};
use crate::http::paging::{self, Paged};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::payment::RefundStatus;
use boxoffice_domain::{BookingId, ShowId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// Where the gateway posts its webhooks.
pub const WEBHOOK_PATH: &str = "/api/v1/payments/webhook";

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkout))
        .routes(routes!(booking_payments))
        .routes(routes!(request_refund))
        .routes(routes!(approve_refund))
        .routes(routes!(reject_refund))
        .routes(routes!(show_refunds))
        .routes(routes!(get_refund_policy, set_refund_policy))
        .routes(routes!(webhook))
}

/// Pay for a hold. The attempt goes to the payment provider and its result comes
/// asynchronously: poll the booking (or its payments) until it is `confirmed` or
/// `payment_failed` (then pay again with another method while the hold lasts). Or
/// send `Prefer: wait=N` (RFC 7240, N ≤ 10 seconds): the answer then waits for the
/// provider's result and is `200` with the settled booking (`Preference-Applied:
/// wait=N`), or `202` if the result is not in after N seconds. Free tickets are
/// confirmed at once. Send an `Idempotency-Key`: a retried request never starts a
/// second attempt.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/checkout", operation_id = "checkoutBooking", tag = "payments", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Prefer" = Option<String>, Header, description = "`wait=N`: answer once the payment has settled, waiting at most N seconds (capped at 10)", example = "wait=5")),
    request_body = CheckoutRequest,
    responses(
        (status = 200, body = CheckoutView, description = "Asked to wait, and the payment settled: the booking is `confirmed` or `payment_failed`"),
        (status = 202, body = CheckoutView, description = "The payment is with the provider; its result comes later")))]
async fn checkout(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
    headers: HeaderMap,
    Json(body): Json<CheckoutRequest>,
) -> Result<Response> {
    let wait = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .and_then(settle::preferred_wait);
    let view = s.payments.checkout(who, id, body, wait).await?;
    let Some(wait) = wait else {
        return Ok((StatusCode::ACCEPTED, axum::Json(view)).into_response());
    };
    let status = if view.booking.status == BookingStatus::PaymentPending.as_str() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let applied = [(
        HeaderName::from_static("preference-applied"),
        format!("wait={}", wait.as_secs()),
    )];
    Ok((status, applied, axum::Json(view)).into_response())
}

/// Payment attempts, refunds and ledger rows of a booking (its owner or an admin).
#[utoipa::path(get, path = "/api/v1/bookings/{id}/payments", operation_id = "getBookingPayments", tag = "payments", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingPayments)))]
async fn booking_payments(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<axum::Json<BookingPayments>> {
    Ok(axum::Json(s.payments.of_booking(who, id).await?))
}

/// Ask for a confirmed booking's money back. Within the show's refund policy the
/// refund is executed at once (`processing`, then `succeeded`) and the tickets go
/// back on sale; outside it the request waits for the organizer (`requested`).
#[utoipa::path(post, path = "/api/v1/bookings/{id}/refund", operation_id = "requestRefund", tag = "payments", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 202, body = RefundView)))]
async fn request_refund(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<(StatusCode, axum::Json<RefundView>)> {
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(s.payments.request_refund(who, id).await?),
    ))
}

/// Grant a refund request outside the policy, in full or in part (the show's
/// organization: owners and managers; admins).
#[utoipa::path(post, path = "/api/v1/refunds/{id}/approve", operation_id = "approveRefund", tag = "payments", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ApproveRefund,
    responses((status = 200, body = RefundView)))]
async fn approve_refund(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<ApproveRefund>,
) -> Result<axum::Json<RefundView>> {
    Ok(axum::Json(
        s.payments
            .approve_refund(who, &id.to_string(), body)
            .await?,
    ))
}

/// Turn a refund request down.
#[utoipa::path(post, path = "/api/v1/refunds/{id}/reject", operation_id = "rejectRefund", tag = "payments", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = RefundView)))]
async fn reject_refund(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<axum::Json<RefundView>> {
    Ok(axum::Json(
        s.payments.reject_refund(who, &id.to_string()).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RefundListQuery {
    /// Only refunds in this state.
    #[param(schema_with = crate::http::contract::refund_status)]
    pub status: Option<String>,
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
    pub per_page: Option<u32>,
}

/// Refunds of a show, newest first (its organization's members and API keys, admins).
#[utoipa::path(get, path = "/api/v1/shows/{id}/refunds", operation_id = "listShowRefunds", tag = "payments", security(("bearer" = [])), params(("id" = Uuid, Path), RefundListQuery),
    responses((status = 200, body = Paged<RefundView>)))]
async fn show_refunds(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Query(q): Query<RefundListQuery>,
) -> Result<axum::Json<Paged<RefundView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let status = q
        .status
        .map(|raw| {
            RefundStatus::parse(&raw).ok_or_else(|| {
                let names: Vec<&str> = RefundStatus::ALL.iter().map(|s| s.as_str()).collect();
                Error::field("status", format!("must be one of {}", names.join(", ")))
            })
        })
        .transpose()?;
    let (items, total) = s.payments.show_refunds(who, id, status, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// A show's refund policy (public: buyers read it before they buy).
#[utoipa::path(get, path = "/api/v1/shows/{id}/refund-policy", operation_id = "getRefundPolicy", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = RefundPolicyView)))]
async fn get_refund_policy(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<RefundPolicyView>> {
    Ok(axum::Json(s.payments.refund_policy(id).await?))
}

/// Replace a show's refund policy (owners and managers of its organization, admins).
/// Tiers go from furthest to closest to the show, with fewer hours and no larger
/// share each.
#[utoipa::path(put, path = "/api/v1/shows/{id}/refund-policy", operation_id = "setRefundPolicy", tag = "payments", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = RefundPolicyInput,
    responses((status = 200, body = RefundPolicyView)))]
async fn set_refund_policy(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
    Json(body): Json<RefundPolicyInput>,
) -> Result<axum::Json<RefundPolicyView>> {
    Ok(axum::Json(
        s.payments.set_refund_policy(who, id, body).await?,
    ))
}

/// An event as the payment provider posts it, signed in its signature header
/// (`Paysim-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`).
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "evt_3f9a2c",
    "type": "payment_intent.succeeded",
    "created": 1767225600000_i64,
    "data": {"object": {
        "id": "pi_7d1e0b", "object": "payment_intent", "status": "succeeded",
        "amount": 5000, "currency": "EUR", "payment_method": "pm_card_visa",
        "created": 1767225599000_i64, "captured_at": 1767225600000_i64,
        "failure_code": null, "amount_refunded": 0,
        "metadata": {"booking_id": "01890a5d-ac96-774b-bcce-b302099a8057",
                     "payment_id": "01890a5d-ac96-774b-bcce-b302099a8058"}}}
}))]
pub struct ProviderEvent {
    pub id: String,
    /// `payment_intent.succeeded`, `payment_intent.payment_failed`,
    /// `payment_intent.canceled`, `refund.succeeded`, `refund.failed`; others are
    /// acknowledged and ignored.
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    /// `{"object": …}`: the intent or refund as the provider sees it now.
    pub data: serde_json::Value,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    /// `processed` (a duplicate is processed again and changes nothing), or
    /// `ignored` for an event type this platform does not act on.
    #[schema(schema_with = crate::http::contract::webhook_outcome)]
    pub status: String,
}

/// The payment provider's webhook: a signed event (intent succeeded, failed or
/// cancelled; refund succeeded or failed). A missing, malformed, stale or wrong
/// signature is refused with 401, an event for an unknown payment with 404, and both
/// are logged; duplicates are processed again and change nothing.
#[utoipa::path(post, path = "/api/v1/payments/webhook", operation_id = "receivePaymentWebhook", tag = "payments", request_body(content = ProviderEvent, description = "The provider's event, signed in its signature header; the raw body is what is verified."),
    responses((status = 200, body = WebhookAck)))]
async fn webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<WebhookAck>> {
    let header = s.payments.signature_header();
    let signature = headers.get(header).and_then(|v| v.to_str().ok());
    let status = s.payments.handle_webhook(signature, &body).await?;
    Ok(axum::Json(WebhookAck {
        status: status.into(),
    }))
}
