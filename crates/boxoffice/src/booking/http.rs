//! Booking endpoints: reserve (the hot path), confirm, cancel and the buyer's lists.
use super::{BookingView, ReserveRequest, SalesReport};
use crate::state::AppState;
use crate::error::{Error, Result};
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::paging::{self, Paged};
use crate::http::problem::Problem;
use axum::extract::State;
use axum::http::StatusCode;
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::{BookingId, ShowId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BookingListQuery {
    /// Comma-separated statuses to include, e.g. `held,confirmed`.
    pub status: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub page: Option<u32>,
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
/// show's hold time unless confirmed.
#[utoipa::path(post, path = "/api/v1/bookings/reserve", tag = "booking", security(("bearer" = [])), request_body = ReserveRequest,
    responses((status = 201, body = BookingView),
        (status = 404, description = "unknown show or zone", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "sold out, limit reached, sale not open or closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn reserve(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(r): Json<ReserveRequest>,
) -> Result<(StatusCode, axum::Json<BookingView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.booking.reserve(who, r).await?),
    ))
}

/// Complete a hold before it expires.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/confirm", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingView), (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn confirm(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<axum::Json<BookingView>> {
    Ok(axum::Json(s.booking.confirm(who, id).await?))
}

/// Release a hold; its tickets return to sale at once.
#[utoipa::path(post, path = "/api/v1/bookings/{id}/cancel", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingView), (status = 409, body = Problem, content_type = "application/problem+json")))]
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
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            BookingStatus::parse(s).ok_or_else(|| {
                Error::field(
                    "status",
                    "must list held, payment_pending, confirmed, cancelled or expired",
                )
            })
        })
        .collect()
}

/// My bookings, newest first.
#[utoipa::path(get, path = "/api/v1/bookings", tag = "booking", security(("bearer" = [])), params(BookingListQuery),
    responses((status = 200, body = Paged<BookingView>), (status = 401, body = Problem, content_type = "application/problem+json")))]
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
#[utoipa::path(get, path = "/api/v1/bookings/pending", tag = "booking", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Paged<BookingView>), (status = 401, body = Problem, content_type = "application/problem+json")))]
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
#[utoipa::path(get, path = "/api/v1/bookings/{id}", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = BookingView), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_booking(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<BookingId>,
) -> Result<axum::Json<BookingView>> {
    Ok(axum::Json(s.booking.get(who, id).await?))
}

/// Live and recorded sales of a show, with an invariant check (its organizer or an admin).
#[utoipa::path(get, path = "/api/v1/shows/{id}/sales", tag = "booking", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = SalesReport), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn sales(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<SalesReport>> {
    Ok(axum::Json(s.booking.sales(who, id).await?))
}
