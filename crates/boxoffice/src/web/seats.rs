//! Picking seats: the show's seat map (the live SVG, drawn in the page so a click on a
//! seat picks it) and, under it, every free seat as a checkbox by section and row, so
//! the choice works with a keyboard, a screen reader and no script; the chosen seats
//! are held in one order.
use super::pages::seated_zones;
use super::view::{in_words, Ctx, Submitted};
use crate::booking::{ReserveItem, ReserveRequest};
use crate::error::Error;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use boxoffice_domain::seating::SeatState;
use boxoffice_domain::{SeatId, ShowId, ZoneId};
use minijinja::context;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Past this many free seats the list would be a wall: best available it is.
const MAX_LISTED: usize = 3_000;
const SEAT_FIELD: &str = "seat_";

pub(super) async fn page(ctx: Ctx, Path(id): Path<String>) -> Response {
    seats_page(ctx, id, None, StatusCode::OK).await
}

async fn seats_page(ctx: Ctx, id: String, error: Option<String>, status: StatusCode) -> Response {
    let (_, show_id) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let state = ctx.state.clone();
    let show = match state.catalog.show(show_id).await {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let seating = match state.seating.show_seating(show_id) {
        Ok(s) => s,
        Err(e) => return ctx.failure(e),
    };
    let live = state.seating.inventory().seat_states(show_id, None).await;
    let Some(live) = live else {
        return ctx.failure(Error::NotFound("seat map"));
    };
    let event = state.catalog.event(show.event_id).await.ok();
    let zone_of: HashMap<&str, ZoneId> = seating
        .categories
        .iter()
        .map(|c| (c.category.as_str(), c.zone_id))
        .collect();
    let price_of: HashMap<ZoneId, (i64, String, String)> = show
        .zones
        .iter()
        .map(|z| (z.id, (z.price_minor, z.currency.clone(), z.name.clone())))
        .collect();
    // Free seats by "section, row", in the map's order.
    let mut rows: BTreeMap<(String, String), Vec<minijinja::Value>> = BTreeMap::new();
    let mut free = 0usize;
    for seat in &seating.seats {
        if live.states.get(seat.index as usize) != Some(&SeatState::Free) {
            continue;
        }
        free += 1;
        if free > MAX_LISTED {
            continue;
        }
        let zone = zone_of.get(seat.category.as_str()).copied();
        let (price, currency, zone_name) = zone
            .and_then(|z| price_of.get(&z).cloned())
            .unwrap_or_default();
        rows.entry((seat.section.clone(), seat.row.clone()))
            .or_default()
            .push(context! {
                id => seat.id.to_string(),
                index => seat.index,
                number => seat.number,
                label => seat.label.clone(),
                accessible => seat.accessible,
                price => price,
                currency => currency,
                zone => zone_name,
            });
    }
    let rows: Vec<_> = rows
        .into_iter()
        .map(|((section, row), seats)| context! { section => section, row => row, seats => seats })
        .collect();
    let seated = seated_zones(&ctx, &show);
    // Drawn inside the page (clickable) when its seats are listed to pick from.
    let map = if free <= MAX_LISTED {
        state.seating.seat_map_inline(show_id).await.ok()
    } else {
        None
    };
    ctx.render(
        status,
        "seats.html",
        context! {
            title => "Pick your seats",
            show => show,
            event => event,
            rows => rows,
            free => free,
            listed => free <= MAX_LISTED,
            map => map,
            limit => seating.seats.len().min(100),
            seated => seated,
            error => error,
        },
    )
}

#[derive(Deserialize)]
pub(super) struct SeatPick {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

pub(super) async fn reserve(
    Path(id): Path<String>,
    Submitted { ctx, form }: Submitted<SeatPick>,
) -> Response {
    let (viewer, show) = match ctx.viewer_and::<ShowId>(&id, "show") {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let seats: Vec<SeatId> = form
        .fields
        .keys()
        .filter_map(|k| k.strip_prefix(SEAT_FIELD))
        .filter_map(|s| s.parse().ok())
        .collect();
    if seats.is_empty() {
        return seats_page(
            ctx,
            id,
            Some("Choose at least one seat.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let request = ReserveRequest {
        show_id: show,
        zone_id: None,
        quantity: None,
        items: Some(vec![ReserveItem {
            zone_id: None,
            quantity: None,
            seats: Some(seats),
            best_available: None,
        }]),
    };
    let state = ctx.state.clone();
    let reserved = state
        .queue
        .reserve_through(&state.booking, viewer.principal, request, None)
        .await;
    match reserved {
        Ok(b) => Redirect::to(&format!("/bookings/{}", b.id)).into_response(),
        Err(e @ Error::NotFound(_)) => ctx.failure(e),
        Err(e) => {
            let message = in_words(&e);
            seats_page(ctx, id, Some(message), StatusCode::CONFLICT).await
        }
    }
}
