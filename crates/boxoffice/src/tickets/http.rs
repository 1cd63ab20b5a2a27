//! Tickets and check-in endpoints: the holder's tickets (JSON, QR as SVG, PDF),
//! transfers, the show's ticket policy, scans, check-in lists, the signed offline
//! list and its sync, and live attendance.
use super::views::{
    AttendanceView, CheckinListInput, CheckinListView, ScanRequest, ScanView, SyncRequest,
    SyncView, TicketPolicy, TicketView, TransferRequest,
};
use crate::error::Result;
use crate::http::extract::{Auth, Caller, Json, Path, Query};
use crate::http::paging::{self, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use boxoffice_domain::{BookingId, ShowId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_tickets))
        .routes(routes!(get_ticket))
        .routes(routes!(ticket_qr))
        .routes(routes!(booking_tickets))
        .routes(routes!(booking_tickets_pdf))
        .routes(routes!(transfer_ticket))
        .routes(routes!(get_ticket_policy, set_ticket_policy))
        .routes(routes!(scan_ticket))
        .routes(routes!(list_checkin_lists, create_checkin_list))
        .routes(routes!(offline_checkin_list))
        .routes(routes!(sync_checkin_list))
        .routes(routes!(show_attendance))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketParams {
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
    pub per_page: Option<u32>,
}

/// The caller's tickets, newest first (revoked ones included, without a QR code).
#[utoipa::path(get, path = "/api/v1/tickets", operation_id = "listMyTickets", tag = "tickets", security(("bearer" = [])),
    params(TicketParams),
    responses((status = 200, body = Paged<TicketView>)))]
async fn my_tickets(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<TicketParams>,
) -> Result<axum::Json<Paged<TicketView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.tickets.mine(who, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// One ticket (its holder, an admin, or the show's organizer).
#[utoipa::path(get, path = "/api/v1/tickets/{id}", operation_id = "getTicket", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TicketView)))]
async fn get_ticket(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<axum::Json<TicketView>> {
    Ok(axum::Json(s.tickets.get(who, &id.to_string()).await?))
}

/// A valid ticket's QR code as an SVG image.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/qr.svg", operation_id = "getTicketQr", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "image/svg+xml", body = String, example = "<svg xmlns=\"http://www.w3.org/2000/svg\" …>…</svg>")))]
async fn ticket_qr(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
) -> Result<impl IntoResponse> {
    let svg = s.tickets.qr_svg(who, &id.to_string()).await?;
    Ok((
        [
            (CONTENT_TYPE, "image/svg+xml"),
            (CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    ))
}

/// A booking's tickets (empty until the booking is confirmed).
#[utoipa::path(get, path = "/api/v1/bookings/{id}/tickets", operation_id = "listBookingTickets", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<TicketView>)))]
async fn booking_tickets(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<axum::Json<Vec<TicketView>>> {
    Ok(axum::Json(s.tickets.of_booking(who, id).await?))
}

/// A booking's valid tickets as a PDF, one page each, to print or keep on a phone.
#[utoipa::path(get, path = "/api/v1/bookings/{id}/tickets.pdf", operation_id = "getBookingTicketsPdf", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", body = String, description = "The PDF document", example = "%PDF-1.7 …")))]
async fn booking_tickets_pdf(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<impl IntoResponse> {
    let pdf = s.tickets.pdf(who, id).await?;
    let disposition = format!("inline; filename=\"tickets-{id}.pdf\"");
    Ok((
        [
            (CONTENT_TYPE, "application/pdf".to_owned()),
            (CACHE_CONTROL, "private, no-store".to_owned()),
            (CONTENT_DISPOSITION, disposition),
        ],
        pdf,
    ))
}

/// Give a ticket to another account. The old code stops working at once; the
/// recipient gets a new ticket with a new code. Refused when the organizer forbids
/// transfers for the show, or the ticket was used or revoked.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/transfer", operation_id = "transferTicket", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = TransferRequest,
    responses((status = 200, body = TicketView, description = "The recipient's new ticket")))]
async fn transfer_ticket(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<TransferRequest>,
) -> Result<axum::Json<TicketView>> {
    Ok(axum::Json(
        s.tickets.transfer(who, &id.to_string(), body).await?,
    ))
}

/// The show's ticket rules (transfers allowed by default).
#[utoipa::path(get, path = "/api/v1/shows/{id}/ticket-policy", operation_id = "getTicketPolicy", tag = "tickets",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TicketPolicy)))]
async fn get_ticket_policy(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<TicketPolicy>> {
    Ok(axum::Json(s.tickets.policy(id).await?))
}

/// Set the show's ticket rules (its organizer).
#[utoipa::path(put, path = "/api/v1/shows/{id}/ticket-policy", operation_id = "setTicketPolicy", tag = "tickets", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = TicketPolicy,
    responses((status = 200, body = TicketPolicy)))]
async fn set_ticket_policy(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Json(body): Json<TicketPolicy>,
) -> Result<axum::Json<TicketPolicy>> {
    Ok(axum::Json(s.tickets.set_policy(who, id, body).await?))
}

/// Scan a ticket at a gate (box-office staff of the show's organization): `valid`
/// admits, exactly once even when two gates scan the same ticket at the same moment;
/// otherwise `already_used` (with when and where), `wrong_show`, `not_on_list`,
/// `revoked` or `unknown` (including a QR payload whose signature does not verify).
#[utoipa::path(post, path = "/api/v1/checkin/scan", operation_id = "scanTicket", tag = "check-in", security(("bearer" = [])),
    request_body = ScanRequest,
    responses((status = 200, body = ScanView)))]
async fn scan_ticket(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(body): Json<ScanRequest>,
) -> Result<axum::Json<ScanView>> {
    Ok(axum::Json(s.tickets.scan(who, body).await?))
}

/// The show's check-in lists.
#[utoipa::path(get, path = "/api/v1/shows/{id}/checkin-lists", operation_id = "listCheckinLists", tag = "check-in", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<CheckinListView>)))]
async fn list_checkin_lists(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<Vec<CheckinListView>>> {
    Ok(axum::Json(s.tickets.lists(who, id).await?))
}

/// Create a check-in list: an entrance that admits some zones (or all).
#[utoipa::path(post, path = "/api/v1/shows/{id}/checkin-lists", operation_id = "createCheckinList", tag = "check-in", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CheckinListInput,
    responses((status = 201, body = CheckinListView)))]
async fn create_checkin_list(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Json(body): Json<CheckinListInput>,
) -> Result<(axum::http::StatusCode, axum::Json<CheckinListView>)> {
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(s.tickets.create_list(who, id, body).await?),
    ))
}

/// The list a gate keeps to scan without the network: a JWS (`alg: EdDSA`, `typ:
/// checkin-list+jws`, keys at `/api/v1/keys`) whose payload is an `OfflineList`
/// (tickets with hashed codes, revoked ids, admissions so far).
#[utoipa::path(get, path = "/api/v1/checkin-lists/{id}/offline", operation_id = "getOfflineCheckinList", tag = "check-in", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/jose", body = String, example = "eyJhbGciOiJFZERTQSIsImtpZCI6InYxIiwidHlwIjoiY2hlY2tpbi1saXN0K2p3cyJ9.eyJsaXN0Ijp7fX0.c2lnbmF0dXJl")))]
async fn offline_checkin_list(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<uuid::Uuid>,
) -> Result<impl IntoResponse> {
    let token = s.tickets.offline_list(who, &id.to_string()).await?;
    Ok((
        [
            (CONTENT_TYPE, "application/jose"),
            (CACHE_CONTROL, "private, no-store"),
        ],
        token,
    ))
}

/// Upload the scans a gate made offline. The earliest scan of a ticket is its
/// admission and every scan is kept; the answer says what each came to and carries
/// the revocations and admissions the gate must know from now on.
#[utoipa::path(post, path = "/api/v1/checkin-lists/{id}/sync", operation_id = "syncCheckinList", tag = "check-in", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SyncRequest,
    responses((status = 200, body = SyncView)))]
async fn sync_checkin_list(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<uuid::Uuid>,
    Json(body): Json<SyncRequest>,
) -> Result<axum::Json<SyncView>> {
    Ok(axum::Json(
        s.tickets.sync(who, &id.to_string(), body).await?,
    ))
}

/// Checked in and valid tickets per zone, live.
#[utoipa::path(get, path = "/api/v1/shows/{id}/attendance", operation_id = "getShowAttendance", tag = "check-in", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AttendanceView)))]
async fn show_attendance(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<AttendanceView>> {
    Ok(axum::Json(s.tickets.attendance(who, id).await?))
}
