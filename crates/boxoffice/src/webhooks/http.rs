//! Webhook endpoints under `/api/v1/organizations/{id}/webhooks`, and the payload
//! schemas organizers code their receivers against. Authorization is the service's.
use super::{
    DeliveryDetail, DeliveryView, NewWebhook, WebhookChange, WebhookView, WebhookWithSecret,
};
use crate::error::Result;
use crate::http::extract::{Caller, Json, Path, Query};
use crate::http::paging::{self, PageQuery, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use boxoffice_domain::ids::{DeliveryId, WebhookId};
use boxoffice_domain::OrganizationId;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/boxoffice", "event_types": ["booking.confirmed", "booking.refunded"], "description": "Ticket sync"}))]
pub struct WebhookInput {
    /// Where deliveries are POSTed: `https` (plain `http` only where the platform
    /// allows it), no user name or password.
    #[schema(schema_with = crate::http::contract::webhook_url)]
    pub url: String,
    /// What to receive; at least one.
    #[schema(schema_with = crate::http::contract::webhook_event_types)]
    pub event_types: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::webhook_description_change)]
    pub description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct WebhookPatch {
    /// Absent or `null`: unchanged (likewise for every field).
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::webhook_url_change)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::webhook_event_types_change)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = crate::http::contract::webhook_description_change)]
    pub description: Option<String>,
    /// `false` pauses deliveries; they resume (within their retry window) when
    /// enabled again.
    #[serde(default)]
    pub enabled: Option<bool>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(get_webhook, update_webhook, delete_webhook))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
        .routes(routes!(ping))
}

/// The organization's webhook endpoints, without their secrets (owners, managers,
/// write API keys).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/webhooks", operation_id = "listWebhooks", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<WebhookView>)))]
async fn list_webhooks(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
) -> Result<axum::Json<Vec<WebhookView>>> {
    Ok(axum::Json(s.webhooks.list(who, id).await?))
}

/// Register an endpoint; its signing secret is in this answer only (owners,
/// managers, write API keys). It receives the events of the organization's shows
/// that happen from now on.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks", operation_id = "createWebhook", tag = "webhooks", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = WebhookInput,
    responses((status = 201, body = WebhookWithSecret)))]
async fn create_webhook(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<OrganizationId>,
    Json(r): Json<WebhookInput>,
) -> Result<(StatusCode, axum::Json<WebhookWithSecret>)> {
    let input = NewWebhook {
        url: r.url,
        event_types: r.event_types,
        description: r.description,
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(s.webhooks.create(who, id, input).await?),
    ))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}", operation_id = "getWebhook", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)),
    responses((status = 200, body = WebhookView)))]
async fn get_webhook(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook)): Path<(OrganizationId, WebhookId)>,
) -> Result<axum::Json<WebhookView>> {
    Ok(axum::Json(s.webhooks.get(who, id, webhook).await?))
}

/// Change an endpoint's URL, event types or description, or enable or disable it.
#[utoipa::path(patch, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}", operation_id = "updateWebhook", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)), request_body = WebhookPatch,
    responses((status = 200, body = WebhookView)))]
async fn update_webhook(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook)): Path<(OrganizationId, WebhookId)>,
    Json(r): Json<WebhookPatch>,
) -> Result<axum::Json<WebhookView>> {
    let change = WebhookChange {
        url: r.url,
        event_types: r.event_types,
        description: r.description,
        enabled: r.enabled,
    };
    Ok(axum::Json(
        s.webhooks.update(who, id, webhook, change).await?,
    ))
}

/// Remove an endpoint and its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}", operation_id = "deleteWebhook", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)),
    responses((status = 204)))]
async fn delete_webhook(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook)): Path<(OrganizationId, WebhookId)>,
) -> Result<StatusCode> {
    s.webhooks.delete(who, id, webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the signing secret; the new one is in this answer only. The old one
/// keeps signing beside it (two `v1` values) until `previous_secret_expires_at`
/// (24 hours by default), so receivers can switch without missing a delivery.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)),
    responses((status = 200, body = WebhookWithSecret)))]
async fn rotate_secret(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook)): Path<(OrganizationId, WebhookId)>,
) -> Result<axum::Json<WebhookWithSecret>> {
    Ok(axum::Json(
        s.webhooks.rotate_secret(who, id, webhook).await?,
    ))
}

/// The endpoint's delivery log, newest first: each event with its attempts, the
/// last answer's status or error, the next attempt and when it was delivered.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = Paged<DeliveryView>)))]
async fn list_deliveries(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook)): Path<(OrganizationId, WebhookId)>,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Paged<DeliveryView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.webhooks.deliveries(who, id, webhook, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// One delivery with every attempt: when, the answer's status, how long it took and
/// why it failed.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}", operation_id = "getWebhookDelivery", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 200, body = DeliveryDetail)))]
async fn get_delivery(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook, delivery)): Path<(OrganizationId, WebhookId, DeliveryId)>,
) -> Result<axum::Json<DeliveryDetail>> {
    Ok(axum::Json(
        s.webhooks.delivery(who, id, webhook, delivery).await?,
    ))
}

/// Send a delivery again now (delivered, failed or pending), with a fresh retry
/// window; it keeps its event id.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", operation_id = "redeliverWebhookDelivery", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = DeliveryView)))]
async fn redeliver(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook, delivery)): Path<(OrganizationId, WebhookId, DeliveryId)>,
) -> Result<(StatusCode, axum::Json<DeliveryView>)> {
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(s.webhooks.redeliver(who, id, webhook, delivery).await?),
    ))
}

/// Send a `webhook.ping` test event to the endpoint, whatever it subscribed to.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/webhooks/{webhook_id}/ping", operation_id = "pingWebhook", tag = "webhooks", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("webhook_id" = Uuid, Path)),
    responses((status = 202, body = DeliveryView)))]
async fn ping(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, webhook)): Path<(OrganizationId, WebhookId)>,
) -> Result<(StatusCode, axum::Json<DeliveryView>)> {
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(s.webhooks.ping(who, id, webhook).await?),
    ))
}

/// The body of every webhook delivery: a POST with `Content-Type: application/json`
/// and the headers `Boxoffice-Event-Id` (the event's id, the same on every retry:
/// deduplicate on it, deliveries are at least once), `Boxoffice-Event-Type` and
/// `Boxoffice-Signature: t=<unix seconds>,v1=<hex>`.
///
/// To verify: take `t` and every `v1` from the header, compute HMAC-SHA256 with the
/// endpoint's secret (the whole `whsec_…` string, as UTF-8) over `"{t}.{raw body}"`
/// (the bytes received, before any JSON parsing), hex-encode it and compare it in
/// constant time with each `v1`; accept if one matches and `t` is within 5 minutes
/// of your clock (refuse older ones: replays). While a secret rotates, the header
/// carries one `v1` per live secret. Answer with a 2xx within 10 seconds; anything
/// else is retried with exponential backoff for up to 24 hours.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77",
    "type": "booking.confirmed",
    "created_at": "2027-03-01T20:00:00Z",
    "data": {"id": "0190d0f4-0000-7aa6-8f2e-5c2d3b1a9e77", "user_id": "0190d0f3-1111-7aa6-8f2e-5c2d3b1a9e77",
             "show_id": "0190d0f2-2222-7aa6-8f2e-5c2d3b1a9e77", "zone_id": "0190d0f2-3333-7aa6-8f2e-5c2d3b1a9e77",
             "quantity": 2, "unit_price": {"amount_minor": 2500, "currency": "EUR"}, "status": "confirmed",
             "expires_at": 1803931800000_i64, "created_at": 1803931200000_i64, "updated_at": 1803931260000_i64}
}))]
pub struct WebhookEvent {
    /// The event's id (also `Boxoffice-Event-Id`).
    #[schema(format = Uuid)]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = WebhookEventType)]
    pub event_type: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    /// `booking.*`: a `BookingPayload`. `payment.*` and `refund.*`: the payment's
    /// record, carrying `show_id` and `booking_id`. `webhook.ping`: `webhook_id`
    /// and `organization_id`.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// The `type` of a delivered event: what endpoints subscribe to, and `webhook.ping`.
pub struct WebhookEventType;

impl PartialSchema for WebhookEventType {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            crate::http::contract::webhook_delivered_type(),
        ))
    }
}

impl ToSchema for WebhookEventType {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("WebhookEventType")
    }
}

/// `data` of a `booking.*` event: the booking as it is after the change. Instants
/// are milliseconds since the Unix epoch.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct BookingPayload {
    #[schema(format = Uuid)]
    pub id: String,
    /// The buyer's account id.
    #[schema(format = Uuid)]
    pub user_id: String,
    #[schema(format = Uuid)]
    pub show_id: String,
    #[schema(format = Uuid)]
    pub zone_id: String,
    #[schema(minimum = 1, example = 2)]
    pub quantity: u32,
    pub unit_price: MoneyPayload,
    #[schema(schema_with = crate::http::contract::booking_status)]
    pub status: String,
    #[schema(example = 1803931800000_i64)]
    pub expires_at: i64,
    #[schema(example = 1803931200000_i64)]
    pub created_at: i64,
    #[schema(example = 1803931260000_i64)]
    pub updated_at: i64,
}

/// An amount in the currency's minor unit.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct MoneyPayload {
    #[schema(example = 2500)]
    pub amount_minor: i64,
    #[schema(schema_with = crate::http::contract::currency)]
    pub currency: String,
}

/// Adds the payload schemas (not reachable from any operation) to the document.
pub fn add_payload_schemas(doc: &mut utoipa::openapi::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        (WebhookEvent::name(), WebhookEvent::schema()),
        (WebhookEventType::name(), WebhookEventType::schema()),
        (BookingPayload::name(), BookingPayload::schema()),
        (MoneyPayload::name(), MoneyPayload::schema()),
    ] {
        components.schemas.insert(name.into_owned(), schema);
    }
}
