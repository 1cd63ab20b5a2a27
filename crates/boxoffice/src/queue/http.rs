//! Waiting-room endpoints: the organizer's settings, steering and figures; the
//! buyer's join, status, event stream and departure; the published draw.
use super::views::*;
use crate::error::Result;
use crate::http::extract::{Auth, Caller, Json, Path};
use crate::http::origin::Origin;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use boxoffice_domain::ShowId;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_queue, configure))
        .routes(routes!(act))
        .routes(routes!(join))
        .routes(routes!(status))
        .routes(routes!(events))
        .routes(routes!(leave))
        .routes(routes!(draw))
        .routes(routes!(stats))
        .routes(routes!(revoke))
}

/// A show's waiting room: method, state, opening, pace, length, the seed's
/// commitment (and the seed once drawn).
#[utoipa::path(get, path = "/api/v1/shows/{id}/queue", operation_id = "getQueue", tag = "queue", params(("id" = Uuid, Path)),
    responses((status = 200, body = QueueView)))]
async fn get_queue(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<QueueView>> {
    s.queue.know(id).await;
    Ok(axum::Json(s.queue.get(id)?))
}

/// Create or change a show's waiting room (its organization's owners and managers).
/// While it exists, reserving tickets for the show needs a queue pass (except for
/// `passthrough`). Method, opening, pre-queue window and winners are fixed once it opened.
#[utoipa::path(put, path = "/api/v1/shows/{id}/queue", operation_id = "configureQueue", tag = "queue", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = QueueSettingsInput, responses((status = 200, body = QueueView)))]
async fn configure(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Json(input): Json<QueueSettingsInput>,
) -> Result<axum::Json<QueueView>> {
    Ok(axum::Json(s.queue.configure(&who, id, input).await?))
}

/// Pause (joins go on, nobody is admitted), resume, drain (no new joins) or close.
#[utoipa::path(post, path = "/api/v1/shows/{id}/queue/state", operation_id = "steerQueue", tag = "queue", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = QueueActionInput, responses((status = 200, body = QueueView)))]
async fn act(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Json(input): Json<QueueActionInput>,
) -> Result<axum::Json<QueueView>> {
    Ok(axum::Json(s.queue.act(&who, id, &input.action).await?))
}

fn with_retry_after(status: StatusCode, place: PlaceView) -> Response {
    let wait = place.poll_after_secs;
    let mut res = (status, axum::Json(place)).into_response();
    if wait > 0 {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    }
    res
}

/// Take a place in the queue (one per account: joining again answers 200 with the
/// same place). In the pre-queue window the place is ordered by the draw at opening;
/// later, first come, first served.
#[utoipa::path(post, path = "/api/v1/shows/{id}/queue/join", operation_id = "joinQueue", tag = "queue", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 201, body = PlaceView, description = "A new place."), (status = 200, body = PlaceView, description = "The place this account already has.")))]
async fn join(
    State(s): State<AppState>,
    Auth(who): Auth,
    origin: Origin,
    Path(id): Path<ShowId>,
) -> Result<Response> {
    let joined = s.queue.join(&who, id, origin.ip).await?;
    let status = if joined.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_retry_after(status, joined.place))
}

/// My place: position, people ahead, estimated wait, and the pass once admitted.
/// Ask again after `Retry-After`; asking sooner is 429 and slows you down.
#[utoipa::path(get, path = "/api/v1/shows/{id}/queue/status", operation_id = "getQueueStatus", tag = "queue", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = PlaceView)))]
async fn status(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
) -> Result<Response> {
    s.queue.know(id).await;
    Ok(with_retry_after(StatusCode::OK, s.queue.status(&who, id)?))
}

/// My place as Server-Sent Events: `position` when it moves, then `admitted` (with
/// the pass), `lost` or `left`, and the stream ends. Each event's data is a PlaceView.
#[utoipa::path(get, path = "/api/v1/shows/{id}/queue/events", operation_id = "followQueue", tag = "queue", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/event-stream", body = String, description = "Events `position`, `admitted`, `lost`, `left`; data: a PlaceView.",
        example = json!("event: position\ndata: {\"status\":\"waiting\",\"position\":42,\"ahead\":41}\n\n"))))]
async fn events(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
) -> Result<Response> {
    s.queue.know(id).await;
    Ok(super::events::follow(s.queue.clone(), who, id)?.into_response())
}

/// Give up my place (or my unused pass), freeing it for the next.
#[utoipa::path(post, path = "/api/v1/shows/{id}/queue/leave", operation_id = "leaveQueue", tag = "queue", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = PlaceView)))]
async fn leave(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<PlaceView>> {
    Ok(axum::Json(s.queue.leave(&who, id).await?))
}

/// The draw made at opening, for anyone to recompute: the seed, the entrants in
/// join order and the resulting order (lottery: the winners first).
#[utoipa::path(get, path = "/api/v1/shows/{id}/queue/draw", operation_id = "getQueueDraw", tag = "queue", params(("id" = Uuid, Path)),
    responses((status = 200, body = DrawView)))]
async fn draw(State(s): State<AppState>, Path(id): Path<ShowId>) -> Result<axum::Json<DrawView>> {
    s.queue.know(id).await;
    Ok(axum::Json(s.queue.draw(id)?))
}

/// The organizer's figures: length, admission rate, abandonment, time in queue,
/// passes used and expired (its organization's members and API keys, admins).
#[utoipa::path(get, path = "/api/v1/shows/{id}/queue/stats", operation_id = "getQueueStats", tag = "queue", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = QueueStats)))]
async fn stats(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<QueueStats>> {
    Ok(axum::Json(s.queue.stats(&who, id).await?))
}

/// Revoke a pass: reserve refuses it from now on (the show's organizer).
#[utoipa::path(post, path = "/api/v1/shows/{id}/queue/passes/{pass_id}/revoke", operation_id = "revokeQueuePass", tag = "queue", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("pass_id" = Uuid, Path)), responses((status = 204)))]
async fn revoke(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, pass)): Path<(ShowId, uuid::Uuid)>,
) -> Result<StatusCode> {
    s.queue.revoke(&who, id, pass).await?;
    Ok(StatusCode::NO_CONTENT)
}
