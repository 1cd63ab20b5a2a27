//! Booking endpoints: reserve (the hot path), confirm, cancel and the buyer's lists.
use super::{BookingView, ReserveRequest, SalesReport};
use crate::error::{Error, Result};
use crate::http::extract::{Auth, Caller, Json, Path, Query};
use crate::http::paging::{self, PageQuery, Paged};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::{BookingId, ShowId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BookingListQuery {
    /// Statuses to include, comma-separated: `held,confirmed`. Default: all.
    #[param(schema_with = crate::http::contract::booking_status_list)]
    pub status: Option<String>,
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
    pub per_page: Option<u32>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(reserve))
        .routes(routes!(confirm))
        .routes(routes!(cancel))
        .routes(routes!(list))
        .routes(routes!(pending))
        .routes(routes!(get_booking))
        .routes(routes!(sales))
}

/// Hold tickets. The answer comes once the hold is durable; it expires after the
/// show's hold time unless confirmed. While the show has a waiting room, send the
/// pass it gave you as `X-Queue-Pass` (one reserve per pass).
#[utoipa::path(post, path = "/api/v1/bookings/reserve", operation_id = "reserveTickets", tag = "booking", security(("bearer" = [])), request_body = ReserveRequest,
    params(("X-Queue-Pass" = Option<String>, Header, description = "The queue pass (a JWT) of a queued show; checked before inventory is touched.")),
    responses((status = 201, body = BookingView)))]
async fn reserve(
    State(s): State<AppState>,
    Auth(who): Auth,
    headers: axum::http::HeaderMap,
    Json(r): Json<ReserveRequest>,
) -> Result<(StatusCode, axum::Json<BookingView>)> {
    let pass = headers
        .get(crate::queue::pass::HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    let reserved = s.queue.reserve_through(&s.booking, who, r, pass).await?;
    Ok((StatusCode::CREATED, axum::Json(reserved)))
}

/// Complete a hold before it expires.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/confirm", operation_id = "confirmBooking", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingView)))]
async fn confirm(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<axum::Json<BookingView>> {
    Ok(axum::Json(s.booking.confirm(who, id).await?))
}

/// Release a hold; its tickets return to sale at once.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/cancel", operation_id = "cancelBooking", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingView)))]
async fn cancel(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<axum::Json<BookingView>> {
    Ok(axum::Json(s.booking.cancel(who, id).await?))
}

fn parse_statuses(raw: Option<String>) -> Result<Vec<BookingStatus>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    // Exactly the schema: one or more names, separated by single commas.
    raw.split(',')
        .map(|s| {
            BookingStatus::parse(s).ok_or_else(|| {
                let names: Vec<&str> = BookingStatus::ALL.iter().map(|s| s.as_str()).collect();
                Error::field(
                    "status",
                    format!(
                        "must list one or more of {}, separated by commas",
                        names.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// My bookings, newest first.
#[utoipa::path(get, path = "/api/v1/bookings", operation_id = "listBookings", tag = "booking", security(("bearer" = [])), params(BookingListQuery),
    responses((status = 200, body = Paged<BookingView>)))]
async fn list(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<BookingListQuery>,
) -> Result<axum::Json<Paged<BookingView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.booking.list(who, parse_statuses(q.status)?, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// My holds awaiting confirmation.
#[utoipa::path(get, path = "/api/v1/bookings/pending", operation_id = "listPendingBookings", tag = "booking", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Paged<BookingView>)))]
async fn pending(
    State(s): State<AppState>,
    Auth(who): Auth,
    Query(q): Query<PageQuery>,
) -> Result<axum::Json<Paged<BookingView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.booking.list(who, BookingStatus::pending(), page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// One booking (its owner or an admin).
#[utoipa::path(get, path = "/api/v1/bookings/{id}", operation_id = "getBooking", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingView)))]
async fn get_booking(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<axum::Json<BookingView>> {
    Ok(axum::Json(s.booking.get(who, id).await?))
}

/// Live and recorded sales of a show with an invariant check, and its revenue by the ledger with a reconciliation of money against bookings (its organization's members and API keys, admins).
#[utoipa::path(get, path = "/api/v1/shows/{id}/sales", operation_id = "getSales", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = SalesReport)))]
async fn sales(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<SalesReport>> {
    Ok(axum::Json(s.payments.sales(who, id).await?))
}
