//! Catalog endpoints: public browsing and organizer management.
use super::service::ShowChange;
use super::{EventInput, EventView, ShowInput, ShowView, ZoneInput, ZoneView};
use crate::error::{Error, Result};
use crate::http::extract::{Caller, Json, Path, Query};
use crate::http::paging::{self, Paged};
use crate::state::AppState;
use crate::store::EventFilter;
use crate::timefmt::parse_rfc3339;
use axum::extract::State;
use axum::http::StatusCode;
use boxoffice_domain::catalog::{parse_category, EVENT_CITY, SEARCH_TEXT};
use boxoffice_domain::{EventId, ShowId, Violations, ZoneId};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Words in the title or description.
    #[param(schema_with = crate::http::contract::search_text)]
    pub q: Option<String>,
    #[param(schema_with = crate::http::contract::category)]
    pub category: Option<String>,
    #[param(schema_with = crate::http::contract::city_filter)]
    pub city: Option<String>,
    /// Events with a show starting at or after this instant.
    #[param(schema_with = crate::http::contract::date_time)]
    pub from: Option<String>,
    /// Events with a show starting before this instant; must be after `from` (422).
    #[param(schema_with = crate::http::contract::date_time)]
    pub to: Option<String>,
    #[param(schema_with = crate::http::contract::page)]
    pub page: Option<u32>,
    #[param(schema_with = crate::http::contract::per_page)]
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
    let text = q.q.and_then(|t| v.check("q", SEARCH_TEXT.parse(&t)));
    let category = q
        .category
        .and_then(|c| v.check("category", parse_category(&c)))
        .map(|c| c.as_str().to_owned());
    let from = q.from.and_then(|f| v.check("from", parse_rfc3339(&f)));
    let to = q.to.and_then(|t| v.check("to", parse_rfc3339(&t)));
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            v.push("to", "must be after from");
        }
    }
    let city = q.city.and_then(|c| v.check("city", EVENT_CITY.parse(&c)));
    v.finish(|| EventFilter {
        text,
        category,
        city,
        from,
        to,
        organization: None,
    })
    .map_err(Error::from)
}

/// Browse events (public).
#[utoipa::path(get, path = "/api/v1/events", operation_id = "listEvents", tag = "catalog", params(EventQuery),
    responses((status = 200, body = Paged<EventView>)))]
async fn list_events(
    State(s): State<AppState>,
    Query(q): Query<EventQuery>,
) -> Result<axum::Json<Paged<EventView>>> {
    let page = paging::page(q.page, q.per_page)?;
    let (items, total) = s.catalog.list_events(filter(q)?, page).await?;
    Ok(axum::Json(Paged::new(items, page, total)))
}

/// Publish an event (organizers and admins).
#[utoipa::path(post, path = "/api/v1/events", operation_id = "createEvent", tag = "catalog", security(("bearer" = [])), request_body = EventInput,
    responses((status = 201, body = EventView)))]
async fn create_event(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(input): Json<EventInput>,
) -> Result<(StatusCode, axum::Json<EventView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.catalog.create_event(who, input).await?),
    ))
}

/// One event (public).
#[utoipa::path(get, path = "/api/v1/events/{id}", operation_id = "getEvent", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = EventView)))]
async fn get_event(
    State(s): State<AppState>,
    Path(id): Path<EventId>,
) -> Result<axum::Json<EventView>> {
    Ok(axum::Json(s.catalog.event(id).await?))
}

/// Replace an event's details (its organizer or an admin).
#[utoipa::path(put, path = "/api/v1/events/{id}", operation_id = "updateEvent", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = EventInput,
    responses((status = 200, body = EventView)))]
async fn update_event(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<EventId>,
    Json(input): Json<EventInput>,
) -> Result<axum::Json<EventView>> {
    Ok(axum::Json(s.catalog.update_event(who, id, input).await?))
}

/// Delete an event with its shows and zones; refused once anything was booked.
#[utoipa::path(delete, path = "/api/v1/events/{id}", operation_id = "deleteEvent", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn delete_event(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<EventId>,
) -> Result<StatusCode> {
    s.catalog.delete_event(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Shows of an event with live availability (public).
#[utoipa::path(get, path = "/api/v1/events/{id}/shows", operation_id = "listShows", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ShowView>)))]
async fn list_shows(
    State(s): State<AppState>,
    Path(id): Path<EventId>,
) -> Result<axum::Json<Vec<ShowView>>> {
    Ok(axum::Json(s.catalog.shows_of_event(id).await?))
}

/// Add a show (a date at a venue), optionally with its zones.
#[utoipa::path(post, path = "/api/v1/events/{id}/shows", operation_id = "createShow", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ShowInput,
    responses((status = 201, body = ShowView)))]
async fn create_show(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<EventId>,
    Json(input): Json<ShowInput>,
) -> Result<(StatusCode, axum::Json<ShowView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.catalog.create_show(who, id, input).await?),
    ))
}

/// One show with live availability per zone (public).
#[utoipa::path(get, path = "/api/v1/shows/{id}", operation_id = "getShow", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = ShowView)))]
async fn get_show(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<ShowView>> {
    Ok(axum::Json(s.catalog.show(id).await?))
}

/// Change a show's date, venue, sale window, hold time or per-buyer limit.
#[utoipa::path(put, path = "/api/v1/shows/{id}", operation_id = "updateShow", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ShowChange,
    responses((status = 200, body = ShowView)))]
async fn update_show(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Json(input): Json<ShowChange>,
) -> Result<axum::Json<ShowView>> {
    Ok(axum::Json(
        s.catalog.update_show(who, id, input.into()).await?,
    ))
}

/// Delete a show nobody booked.
#[utoipa::path(delete, path = "/api/v1/shows/{id}", operation_id = "deleteShow", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn delete_show(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
) -> Result<StatusCode> {
    s.catalog.delete_show(who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Zones of a show with live availability (public).
#[utoipa::path(get, path = "/api/v1/shows/{id}/zones", operation_id = "listZones", tag = "catalog", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ZoneView>)))]
async fn list_zones(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<Vec<ZoneView>>> {
    Ok(axum::Json(s.catalog.zones(id).await?))
}

/// Add a zone to a show.
#[utoipa::path(post, path = "/api/v1/shows/{id}/zones", operation_id = "createZone", tag = "catalog", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ZoneInput,
    responses((status = 201, body = ZoneView)))]
async fn create_zone(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Json(input): Json<ZoneInput>,
) -> Result<(StatusCode, axum::Json<ZoneView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.catalog.create_zone(who, id, input).await?),
    ))
}

/// Change a zone's name, price or capacity (never below what is held or sold).
#[utoipa::path(put, path = "/api/v1/shows/{id}/zones/{zone_id}", operation_id = "updateZone", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("zone_id" = Uuid, Path)), request_body = ZoneInput,
    responses((status = 200, body = ZoneView)))]
async fn update_zone(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, zone_id)): Path<(ShowId, ZoneId)>,
    Json(input): Json<ZoneInput>,
) -> Result<axum::Json<ZoneView>> {
    Ok(axum::Json(
        s.catalog.update_zone(who, id, zone_id, input).await?,
    ))
}

/// Delete a zone nobody booked.
#[utoipa::path(delete, path = "/api/v1/shows/{id}/zones/{zone_id}", operation_id = "deleteZone", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("zone_id" = Uuid, Path)),
    responses((status = 204)))]
async fn delete_zone(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path((id, zone_id)): Path<(ShowId, ZoneId)>,
) -> Result<StatusCode> {
    s.catalog.delete_zone(who, id, zone_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
