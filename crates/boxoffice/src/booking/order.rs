//! Orders of seats or several zones. The request's items are checked against the
//! cached zones and seat map before the inventory is touched, so bad input holds
//! nothing; what the inventory took becomes the booking's items.
use crate::catalog::ShowMeta;
use crate::error::{ConflictKind, Error, Result};
use crate::seating::ShowSeats;
use crate::store::{BookingItem, BookingItemRecord, BookingRecord};
use boxoffice_domain::booking::Quantity;
use boxoffice_domain::seating::SeatError;
use boxoffice_domain::stock::{Selection, StockError, Taken};
use boxoffice_domain::{Money, SeatId, Violations, ZoneId};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// Items one order may list.
pub const MAX_ITEMS: usize = 20;

/// An integer that may be absent but not `null`.
fn present_i64<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    crate::http::extract::integer::i64(d).map(Some)
}

/// One line of an order: exactly one of `quantity` (with `zone_id`, general
/// admission), `seats` (chosen seats; `zone_id` optional, checked if given) or
/// `best_available` (with `zone_id` of a seated zone).
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"zone_id": "01890a5d-ac96-774b-bcce-b302099a8058", "best_available": 2}))]
pub struct ReserveItem {
    #[schema(value_type = Option<String>, format = Uuid)]
    pub zone_id: Option<ZoneId>,
    /// Tickets of a general-admission zone.
    #[serde(default, deserialize_with = "present_i64")]
    #[schema(schema_with = crate::http::contract::quantity)]
    pub quantity: Option<i64>,
    /// Seat ids from `GET /api/v1/shows/{id}/seating`, each once per order.
    #[schema(value_type = Option<Vec<uuid::Uuid>>, min_items = 1, max_items = 100)]
    pub seats: Option<Vec<SeatId>>,
    /// That many adjacent seats of a seated zone, nearest the stage, chosen so no
    /// single seat is stranded when that can be avoided.
    #[serde(default, deserialize_with = "present_i64")]
    #[schema(schema_with = crate::http::contract::quantity)]
    pub best_available: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemSeatView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    /// As printed on the ticket.
    pub label: String,
}

/// One line of a booking: a seat (`quantity` 1), or admissions to a zone.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BookingItemView {
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
    pub quantity: u32,
    pub unit_price_minor: i64,
    /// The seat, for reserved seating; `null` for general admission.
    pub seat: Option<ItemSeatView>,
}

impl BookingItemView {
    pub fn implied(b: &BookingRecord) -> Self {
        Self {
            zone_id: b.zone_id,
            quantity: b.quantity,
            unit_price_minor: b.unit_price.amount_minor,
            seat: None,
        }
    }
}

impl From<&BookingItemRecord> for BookingItemView {
    fn from(r: &BookingItemRecord) -> Self {
        Self {
            zone_id: r.item.zone_id,
            quantity: r.item.quantity,
            unit_price_minor: r.item.unit_price.amount_minor,
            seat: r
                .item
                .seat_id
                .zip(r.seat.as_ref())
                .map(|(id, s)| ItemSeatView {
                    id,
                    section: s.section.clone(),
                    row: s.row.clone(),
                    number: s.number,
                    label: s.label.clone(),
                }),
        }
    }
}

/// An order checked against the show: what to ask of the inventory.
pub(super) struct Plan {
    pub selections: Vec<(ZoneId, Selection)>,
    pub tickets: u32,
}

/// Checks every item; every problem is reported with its field path.
pub(super) fn plan(
    show: &ShowMeta,
    seating: Option<&ShowSeats>,
    items: &[ReserveItem],
    limit: u32,
) -> Result<Plan> {
    let mut v = Violations::new();
    if items.is_empty() || items.len() > MAX_ITEMS {
        v.push("items", format!("must list 1 to {MAX_ITEMS} items"));
    }
    let seated = |zone: ZoneId| seating.is_some_and(|s| s.is_seated(zone));
    let mut selections: Vec<(ZoneId, Selection)> = Vec::new();
    let mut seen: HashSet<SeatId> = HashSet::new();
    let mut tickets: u32 = 0;
    for (n, item) in items.iter().enumerate() {
        let at = |f: &str| format!("items[{n}].{f}");
        let zone = match item.zone_id {
            Some(z) if show.zone(z).is_none() => {
                v.push(&at("zone_id"), "not a zone of this show");
                continue;
            }
            other => other,
        };
        match (item.quantity, &item.seats, item.best_available) {
            (Some(q), None, None) => {
                let Some(zone) = zone else {
                    v.push(&at("zone_id"), "required with quantity");
                    continue;
                };
                if seated(zone) {
                    v.push(
                        &at("quantity"),
                        "this zone sells numbered seats: name seats or ask for best_available",
                    );
                } else if let Some(q) = v.check(&at("quantity"), Quantity::parse(q, limit)) {
                    tickets = tickets.saturating_add(q.get());
                    selections.push((zone, Selection::Quantity(q.get())));
                }
            }
            (None, None, Some(b)) => {
                let Some(zone) = zone else {
                    v.push(&at("zone_id"), "required with best_available");
                    continue;
                };
                if !seated(zone) {
                    v.push(&at("best_available"), "this zone has no numbered seats");
                } else if let Some(b) = v.check(&at("best_available"), Quantity::parse(b, limit)) {
                    tickets = tickets.saturating_add(b.get());
                    selections.push((zone, Selection::BestAvailable(b.get())));
                }
            }
            (None, Some(seats), None) => {
                let Some(map) = seating else {
                    v.push(&at("seats"), "this show has no numbered seats");
                    continue;
                };
                if seats.is_empty() || seats.len() > 100 {
                    v.push(&at("seats"), "must name 1 to 100 seats");
                    continue;
                }
                let mut by_zone: Vec<(ZoneId, Vec<u32>)> = Vec::new();
                for (k, seat) in seats.iter().enumerate() {
                    let field = format!("items[{n}].seats[{k}]");
                    let Some(idx) = map.index_of(*seat) else {
                        v.push(&field, "not a seat of this show");
                        continue;
                    };
                    if !seen.insert(*seat) {
                        v.push(&field, "named twice in this order");
                        continue;
                    }
                    if map.blocked.contains(seat) {
                        v.push(&field, "this seat is not for sale");
                        continue;
                    }
                    let Some(seat_zone) = map.zone_of(idx) else {
                        v.push(&field, "not a seat of this show");
                        continue;
                    };
                    if zone.is_some_and(|z| z != seat_zone) {
                        v.push(&field, "this seat is not in the item's zone_id");
                        continue;
                    }
                    match by_zone.iter_mut().find(|(z, _)| *z == seat_zone) {
                        Some((_, list)) => list.push(idx),
                        None => by_zone.push((seat_zone, vec![idx])),
                    }
                }
                for (z, list) in by_zone {
                    tickets = tickets.saturating_add(u32::try_from(list.len()).unwrap_or(u32::MAX));
                    selections.push((z, Selection::Seats(list)));
                }
            }
            _ => v.push(
                &format!("items[{n}]"),
                "give exactly one of quantity, seats or best_available",
            ),
        }
    }
    if v.is_empty() && tickets > limit {
        v.push(
            "items",
            format!("{tickets} tickets in one order, above the show's limit of {limit}"),
        );
    }
    if v.is_empty() {
        let mut currencies = selections
            .iter()
            .filter_map(|(z, _)| show.zone(*z).map(|z| z.details.price.currency));
        let first = currencies.next();
        if currencies.any(|c| Some(c) != first) {
            v.push(
                "items",
                "zones priced in different currencies cannot share an order",
            );
        }
    }
    v.finish(|| Plan {
        selections,
        tickets,
    })
    .map_err(Error::from)
}

/// The error for a refused take, naming the seat where one is to blame.
pub(super) fn refusal(e: StockError, seating: Option<&ShowSeats>) -> Error {
    let label = |seat: u32| {
        seating
            .and_then(|s| s.seat(seat))
            .map_or_else(|| format!("#{seat}"), |s| s.label.clone())
    };
    match e {
        StockError::Seat(SeatError::Taken { seat }) => Error::conflict(
            ConflictKind::SeatTaken,
            format!("seat {} is already taken", label(seat)),
        ),
        StockError::NoAdjacentSeats { .. } => {
            Error::conflict(ConflictKind::NoAdjacentSeats, e.to_string())
        }
        other => other.into(),
    }
}

/// The booking's lines from what the inventory took: one per seat, one per
/// general-admission zone.
pub(super) fn items_of(
    taken: &[Taken],
    show: &ShowMeta,
    seating: Option<&ShowSeats>,
) -> Result<Vec<BookingItem>> {
    let mut out = Vec::new();
    let prices: HashMap<ZoneId, Money> =
        show.zones.iter().map(|z| (z.id, z.details.price)).collect();
    for t in taken {
        let price = *prices.get(&t.zone).ok_or(Error::NotFound("zone"))?;
        if t.seats.is_empty() {
            out.push(BookingItem {
                zone_id: t.zone,
                seat_id: None,
                quantity: t.quantity,
                unit_price: price,
            });
            continue;
        }
        for &idx in &t.seats {
            let seat = seating
                .and_then(|s| s.seat(idx))
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("seat #{idx} is not in the map")))?;
            out.push(BookingItem {
                zone_id: t.zone,
                seat_id: Some(seat.id),
                quantity: 1,
                unit_price: price,
            });
        }
    }
    Ok(out)
}

/// What a stored booking's lines ask of the inventory, to take the same tickets again.
pub(crate) fn selections_of(
    items: &[BookingItemRecord],
    seating: Option<&ShowSeats>,
) -> Option<Vec<(ZoneId, Selection)>> {
    let mut out: Vec<(ZoneId, Selection)> = Vec::new();
    for r in items {
        match r.item.seat_id {
            None => out.push((r.item.zone_id, Selection::Quantity(r.item.quantity))),
            Some(seat) => {
                let idx = seating?.index_of(seat)?;
                match out
                    .iter_mut()
                    .find(|(z, s)| *z == r.item.zone_id && matches!(s, Selection::Seats(_)))
                {
                    Some((_, Selection::Seats(list))) => list.push(idx),
                    _ => out.push((r.item.zone_id, Selection::Seats(vec![idx]))),
                }
            }
        }
    }
    Some(out)
}
