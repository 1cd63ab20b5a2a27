//! Catalog endpoints: public browsing and organizer management.
use super::{EventInput, EventView, ShowInput, ShowView, ZoneInput, ZoneView};
use crate::state::AppState;
use crate::error::{Error, Result};
use crate::http::extract::{Auth, Json, Path, Query};
use crate::http::paging::{self, Paged};
use crate::http::problem::Problem;
use crate::store::EventFilter;
use crate::timefmt::parse_rfc3339;
use axum::extract::State;
use axum::http::StatusCode;
use boxoffice_domain::catalog::parse_category;
use boxoffice_domain::{EventId, ShowId, Violations, ZoneId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Words in the title or description.
    pub q: Option<String>,
    pub category: Option<String>,
    pub city: Option<String>,
    /// Events with a show starting at or after this instant (RFC 3339).
    pub from: Option<String>,
    /// Events with a show starting before this instant (RFC 3339).
    pub to: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events, create_event))
        .routes(routes!(get_event, update_event, delete_event))
        .routes(routes!(list_shows, create_show))
        .routes(routes!(get_show, update_show, delete_show))
        .routes(routes!(list_zones, create_zone))
        .routes(routes!(update_zone, delete_zone))
}

fn filter(q: EventQuery) -> Result<EventFilter> {
    let mut v = Violations::new();
    let text = q.q.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 100) {
        v.push("q", "must be at most 100 characters");
    }
    let category = q
        .category
        .and_then(|c| v.check("category", parse_category(&c)));
    let from = q.from.and_then(|f| v.check("from", parse_rfc3339(&f)));
    let to = q.to.and_then(|t| v.check("to", parse_rfc3339(&t)));
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            v.push("to", "must be after from");
        }
    }
    let city = q
        .city
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    v.finish(|| EventFilter {
        text,
        category,
        city,
        from,
        to,
        organizer: None,
    })
    .map_err(Error::from)
}

/// Browse events (public).
#[utoipa::path(get, path = "/api/v1/events", tag = "catalog", params(EventQuery),
    responses((status = 200, body = Paged<EventView>), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn list_events(
    State(s): State<AppState>,
    Query(q): Query<EventQuery>,
) -> Result<axum::Json<Paged<EventView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.catalog.list_events(filter(q)?, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// Publish an event (organizers and admins).
#[utoipa::path(post, path = "/api/v1/events", tag = "catalog", security(("bearer" = [])), request_body = EventInput,
    responses((status = 201, body = EventView), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create_event(
    State(s): State<AppState>,
    Auth(who): Auth,
    Json(input): Json<EventInput>,
) -> Result<(StatusCode, axum::Json<EventView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.catalog.create_event(who, input).await?),
    ))
}

/// One event (public).
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = EventView), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_event(
    State(s): State<AppState>,
    Path(id): Path<EventId>,
) -> Result<axum::Json<EventView>> {
    Ok(axum::Json(s.catalog.event(id).await?))
}

/// Replace an event's details (its organizer or an admin).
#[utoipa::path(put, path = "/api/v1/events/{id}", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = EventInput,
    responses((status = 200, body = EventView), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn update_event(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<EventId>,
    Json(input): Json<EventInput>,
) -> Result<axum::Json<EventView>> {
    Ok(axum::Json(s.catalog.update_event(who, id, input).await?))
}

/// Delete an event with its shows and zones; refused once anything was booked.
#[utoipa::path(delete, path = "/api/v1/events/{id}", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn delete_event(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<EventId>,
) -> Result<StatusCode> {
    s.catalog.delete_event(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Shows of an event with live availability (public).
#[utoipa::path(get, path = "/api/v1/events/{id}/shows", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ShowView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list_shows(
    State(s): State<AppState>,
    Path(id): Path<EventId>,
) -> Result<axum::Json<Vec<ShowView>>> {
    Ok(axum::Json(s.catalog.shows_of_event(id).await?))
}

/// Add a show (a date at a venue), optionally with its zones.
#[utoipa::path(post, path = "/api/v1/events/{id}/shows", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ShowInput,
    responses((status = 201, body = ShowView), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create_show(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<EventId>,
    Json(input): Json<ShowInput>,
) -> Result<(StatusCode, axum::Json<ShowView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.catalog.create_show(who, id, input).await?),
    ))
}

/// One show with live availability per zone (public).
#[utoipa::path(get, path = "/api/v1/shows/{id}", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = ShowView), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_show(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<ShowView>> {
    Ok(axum::Json(s.catalog.show(id).await?))
}

/// Change a show's date, venue, sale window, hold time or per-buyer limit.
#[utoipa::path(put, path = "/api/v1/shows/{id}", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ShowInput,
    responses((status = 200, body = ShowView), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_show(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
    Json(input): Json<ShowInput>,
) -> Result<axum::Json<ShowView>> {
    Ok(axum::Json(s.catalog.update_show(who, id, input).await?))
}

/// Delete a show nobody booked.
#[utoipa::path(delete, path = "/api/v1/shows/{id}", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn delete_show(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
) -> Result<StatusCode> {
    s.catalog.delete_show(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Zones of a show with live availability (public).
#[utoipa::path(get, path = "/api/v1/shows/{id}/zones", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ZoneView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn list_zones(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<Vec<ZoneView>>> {
    Ok(axum::Json(s.catalog.zones(id).await?))
}

/// Add a zone to a show.
#[utoipa::path(post, path = "/api/v1/shows/{id}/zones", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ZoneInput,
    responses((status = 201, body = ZoneView), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create_zone(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path(id): Path<ShowId>,
    Json(input): Json<ZoneInput>,
) -> Result<(StatusCode, axum::Json<ZoneView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.catalog.create_zone(who, id, input).await?),
    ))
}

/// Change a zone's name, price or capacity (never below what is held or sold).
#[utoipa::path(put, path = "/api/v1/shows/{id}/zones/{zone_id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("zone_id" = Uuid, Path)), request_body = ZoneInput,
    responses((status = 200, body = ZoneView), (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update_zone(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path((id, zone_id)): Path<(ShowId, ZoneId)>,
    Json(input): Json<ZoneInput>,
) -> Result<axum::Json<ZoneView>> {
    Ok(axum::Json(
        s.catalog.update_zone(who, id, zone_id, input).await?,
    ))
}

/// Delete a zone nobody booked.
#[utoipa::path(delete, path = "/api/v1/shows/{id}/zones/{zone_id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("zone_id" = Uuid, Path)),
    responses((status = 204), (status = 409, body = Problem, content_type = "application/problem+json")))]
async fn delete_zone(
    State(s): State<AppState>,
    Auth(who): Auth,
    Path((id, zone_id)): Path<(ShowId, ZoneId)>,
) -> Result<StatusCode> {
    s.catalog.delete_zone(who, id, zone_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
