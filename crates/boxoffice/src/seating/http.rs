//! Seating endpoints: layouts and a show's seat map for organizers; the live seat
//! status (cacheable, `ETag`) and the SVG of the map for everyone.
use super::{LayoutRequest, LayoutView, SeatStatusView, ShowSeatingRequest, ShowSeatingView};
use crate::error::Result;
use crate::http::extract::{Caller, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use boxoffice_domain::{LayoutId, ShowId};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_layout))
        .routes(routes!(get_layout))
        .routes(routes!(get_show_seating, set_show_seating))
        .routes(routes!(get_seat_status))
        .routes(routes!(get_seat_map_svg))
}

/// Draw a venue layout for an organization (its catalog managers and admins).
#[utoipa::path(post, path = "/api/v1/layouts", operation_id = "createLayout", tag = "seating", security(("bearer" = [])), request_body = LayoutRequest,
    responses((status = 201, body = LayoutView)))]
async fn create_layout(
    State(s): State<AppState>,
    Caller(who): Caller,
    Json(req): Json<LayoutRequest>,
) -> Result<(StatusCode, axum::Json<LayoutView>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(s.seating.create_layout(who, req).await?),
    ))
}

/// A layout with every seat (its organization's members and admins).
#[utoipa::path(get, path = "/api/v1/layouts/{id}", operation_id = "getLayout", tag = "seating", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = LayoutView)))]
async fn get_layout(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<LayoutId>,
) -> Result<axum::Json<LayoutView>> {
    Ok(axum::Json(s.seating.layout(who, id).await?))
}

/// Seat a show with a layout of its organization: a zone per price category, and
/// the blocked seats. Refused while those zones have tickets out.
#[utoipa::path(put, path = "/api/v1/shows/{id}/seating", operation_id = "setShowSeating", tag = "seating", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = ShowSeatingRequest,
    responses((status = 200, body = ShowSeatingView)))]
async fn set_show_seating(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<ShowId>,
    Json(req): Json<ShowSeatingRequest>,
) -> Result<axum::Json<ShowSeatingView>> {
    Ok(axum::Json(s.seating.set_show_seating(who, id, req).await?))
}

/// A show's seat map (public): every seat with its id, label, position and zone.
#[utoipa::path(get, path = "/api/v1/shows/{id}/seating", operation_id = "getShowSeating", tag = "seating", params(("id" = Uuid, Path)),
    responses((status = 200, body = ShowSeatingView)))]
async fn get_show_seating(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
) -> Result<axum::Json<ShowSeatingView>> {
    Ok(axum::Json(s.seating.show_seating(id)?))
}

/// Live status of every seat of a show (public), run-length encoded in seat index
/// order. Send the `ETag` back in `If-None-Match`: `304` until a seat changes.
#[utoipa::path(get, path = "/api/v1/shows/{id}/seats", operation_id = "getSeatStatus", tag = "seating",
    params(("id" = Uuid, Path), ("If-None-Match" = Option<String>, Header, description = "The ETag of the status the client has")),
    responses((status = 200, body = SeatStatusView, headers(("ETag" = String))), (status = 304, description = "No seat changed since that ETag")))]
async fn get_seat_status(
    State(s): State<AppState>,
    Path(id): Path<ShowId>,
    headers: HeaderMap,
) -> Result<Response> {
    let known = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        });
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    match s.seating.seat_status(id, known.as_deref()).await? {
        None => {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Some(k) = known.and_then(|k| HeaderValue::from_str(&format!("\"{k}\"")).ok()) {
                r.headers_mut().insert(header::ETAG, k);
            }
            r.headers_mut().insert(cache.0, cache.1);
            Ok(r)
        }
        Some(view) => {
            let etag = HeaderValue::from_str(&format!("\"{}\"", view.version))
                .map_err(|e| crate::error::Error::Internal(e.into()))?;
            Ok(([(header::ETAG, etag), cache], axum::Json(view)).into_response())
        }
    }
}

/// The seat map as SVG (public), coloured by live state: free, held, sold, blocked.
#[utoipa::path(get, path = "/api/v1/shows/{id}/seats.svg", operation_id = "getSeatMapSvg", tag = "seating", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The seat map", content((String = "image/svg+xml", example = json!("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-12 -12 124 64\"><circle id=\"s0\" class=\"f\" cx=\"0\" cy=\"10\" r=\"4\"><title>Floor A-1</title></circle></svg>"))))))]
async fn get_seat_map_svg(State(s): State<AppState>, Path(id): Path<ShowId>) -> Result<Response> {
    let svg = s.seating.seat_map_svg(id).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        svg,
    )
        .into_response())
}
