//! Seating use cases: an organization draws a layout once; the owner of a show maps
//! the layout's price categories to the show's zones and blocks seats. The inventory
//! takes the map first (it refuses while tickets are out), then the store records it.
use super::cache::{SeatingCache, ShowSeats};
use super::status::SeatStatusView;
use crate::accounts::Principal;
use crate::catalog::ShowCache;
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::http::extract::integer;
use crate::inventory::DynInventory;
use crate::organizations::Access;
use crate::store::{DynStore, LayoutRecord, LayoutSeatRecord, ShowSeatingRecord};
use boxoffice_domain::organization::Permission;
use boxoffice_domain::{LayoutId, OrganizationId, SeatId, ShowId, Violations, ZoneId};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use utoipa::ToSchema;

/// Seats one layout may hold.
pub const MAX_LAYOUT_SEATS: usize = 100_000;
/// Longest section, row, label or category name.
const MAX_NAME: usize = 40;

/// A run of seats of one row, side by side: numbers `first`, `first + 1` … A row
/// with an aisle is two runs with the same section and row and a gap in numbers.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutRowInput {
    #[schema(example = "Floor", min_length = 1, max_length = 40)]
    pub section: String,
    #[schema(example = "A", min_length = 1, max_length = 40)]
    pub row: String,
    /// Number of the first seat.
    #[serde(deserialize_with = "integer::i32")]
    #[schema(example = 1, minimum = -100000, maximum = 100000)]
    pub first: i32,
    #[serde(deserialize_with = "integer::u32")]
    #[schema(example = 20, minimum = 1, maximum = 1000)]
    pub count: u32,
    /// Position of the first seat on the map; the stage is at the top (`y = 0`), so
    /// rows with a lower `y` are nearer to it.
    #[serde(deserialize_with = "integer::i32")]
    #[schema(minimum = 0, maximum = 100000)]
    pub x: i32,
    #[serde(deserialize_with = "integer::i32")]
    #[schema(minimum = 0, maximum = 100000)]
    pub y: i32,
    /// Horizontal distance between neighbouring seats (default 10).
    #[serde(default, deserialize_with = "integer::opt_i32")]
    #[schema(minimum = 1, maximum = 1000)]
    pub spacing: Option<i32>,
    /// Price category: each show maps it to one of its zones.
    #[schema(example = "A", min_length = 1, max_length = 40)]
    pub category: String,
    /// Numbers of the accessible seats of this run.
    #[serde(default, deserialize_with = "integer::vec_i32")]
    pub accessible: Vec<i32>,
    /// Numbers of the companion seats (beside accessible ones) of this run.
    #[serde(default, deserialize_with = "integer::vec_i32")]
    pub companion: Vec<i32>,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutRequest {
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrganizationId,
    #[schema(example = "Arena main floor", min_length = 1, max_length = 40)]
    pub name: String,
    /// 1 to 5,000 runs, 100,000 seats at most; each (section, row, number) once.
    #[schema(min_items = 1, max_items = 5000)]
    pub rows: Vec<LayoutRowInput>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SeatView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SeatId,
    /// Position in the show's seat status (`GET /shows/{id}/seats`).
    pub index: u32,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub label: String,
    pub x: i32,
    pub y: i32,
    pub category: String,
    pub accessible: bool,
    pub companion: bool,
    /// The zone the seat sells in (a show's map only).
    #[schema(value_type = Option<String>, format = Uuid)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<ZoneId>,
    /// Never for sale in this show (a show's map only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<bool>,
}

impl SeatView {
    fn of(s: &LayoutSeatRecord) -> Self {
        Self {
            id: s.id,
            index: s.idx,
            section: s.section.clone(),
            row: s.row_label.clone(),
            number: s.number,
            label: s.label.clone(),
            x: s.x,
            y: s.y,
            category: s.category.clone(),
            accessible: s.accessible,
            companion: s.companion,
            zone_id: None,
            blocked: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LayoutView {
    #[schema(value_type = String, format = Uuid)]
    pub id: LayoutId,
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrganizationId,
    pub name: String,
    /// In index order: rows in the order they were first given, seats by number.
    pub seats: Vec<SeatView>,
}

/// A layout as a list shows it: what it holds, without its seats.
#[derive(Clone, Debug, Serialize)]
pub struct LayoutSummary {
    pub id: LayoutId,
    pub name: String,
    pub seats: usize,
    /// Its price categories, in the order they first appear.
    pub categories: Vec<String>,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryZone {
    #[schema(example = "A", min_length = 1, max_length = 40)]
    pub category: String,
    #[schema(value_type = String, format = Uuid)]
    pub zone_id: ZoneId,
}

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShowSeatingRequest {
    #[schema(value_type = String, format = Uuid)]
    pub layout_id: LayoutId,
    /// A zone of this show for every category of the layout; each zone's capacity
    /// becomes its sellable seats.
    pub categories: Vec<CategoryZone>,
    /// Seats never for sale in this show (kills, production holds).
    #[serde(default)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub blocked: Vec<SeatId>,
}

/// A show's seat map: every seat with its zone and whether it is blocked.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShowSeatingView {
    #[schema(value_type = String, format = Uuid)]
    pub show_id: ShowId,
    #[schema(value_type = String, format = Uuid)]
    pub layout_id: LayoutId,
    pub categories: Vec<CategoryZone>,
    pub seats: Vec<SeatView>,
}

pub struct SeatingService {
    store: DynStore,
    access: Arc<Access>,
    shows: Arc<ShowCache>,
    seating: Arc<SeatingCache>,
    inventory: DynInventory,
    clock: DynClock,
    /// Tells this process's seat versions from an earlier one's (they restart at 0).
    epoch: u64,
}

fn name(v: &mut Violations, field: &str, s: &str) {
    if s.trim().is_empty() || s.chars().count() > MAX_NAME {
        v.push(field, format!("must be 1 to {MAX_NAME} characters"));
    }
}

/// Runs a layout may list.
const MAX_RUNS: usize = 5_000;

/// Expands a layout's runs into seats ordered by row (in the order rows are first
/// given) and number; each row ranked by its `y` (nearest the stage first).
fn lay_out(
    runs: &[LayoutRowInput],
) -> std::result::Result<Vec<LayoutSeatRecord>, Vec<boxoffice_domain::FieldError>> {
    let mut v = Violations::new();
    if runs.is_empty() || runs.len() > MAX_RUNS {
        v.push("rows", format!("must list 1 to {MAX_RUNS} runs of seats"));
    }
    let total: u64 = runs.iter().map(|r| u64::from(r.count)).sum();
    if total > MAX_LAYOUT_SEATS as u64 {
        v.push("rows", format!("at most {MAX_LAYOUT_SEATS} seats"));
    }
    let mut rows: HashMap<(&str, &str), u32> = HashMap::new();
    let mut row_y: Vec<i32> = Vec::new();
    let mut seen = HashSet::new();
    for (n, r) in runs.iter().enumerate() {
        let at = |f: &str| format!("rows[{n}].{f}");
        name(&mut v, &at("section"), &r.section);
        name(&mut v, &at("row"), &r.row);
        name(&mut v, &at("category"), &r.category);
        if !(1..=1000).contains(&r.count) {
            v.push(&at("count"), "must be between 1 and 1000");
        }
        let spacing = r.spacing.unwrap_or(10);
        if !(1..=1000).contains(&spacing) {
            v.push(&at("spacing"), "must be between 1 and 1000");
        }
        let last = i64::from(r.first) + i64::from(r.count) - 1;
        if !(-100_000..=100_000).contains(&r.first) || last > 100_000 {
            v.push(
                &at("first"),
                "seat numbers must stay between -100000 and 100000",
            );
        }
        let right = i64::from(r.x) + i64::from(spacing) * (i64::from(r.count) - 1);
        if !(0..=100_000).contains(&r.x) || right > 100_000 {
            v.push(&at("x"), "seats must stay between 0 and 100000");
        }
        if !(0..=100_000).contains(&r.y) {
            v.push(&at("y"), "must be between 0 and 100000");
        }
        for (f, list) in [("accessible", &r.accessible), ("companion", &r.companion)] {
            if list
                .iter()
                .any(|&k| i64::from(k) < i64::from(r.first) || i64::from(k) > last)
            {
                v.push(&at(f), "lists a number outside this run");
            }
        }
        if v.is_empty() {
            for k in 0..r.count {
                if !seen.insert((r.section.as_str(), r.row.as_str(), r.first + k as i32)) {
                    v.push(&at("first"), "overlaps another run of the same row");
                    break;
                }
            }
        }
        let next = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        let row = *rows
            .entry((r.section.as_str(), r.row.as_str()))
            .or_insert(next);
        if row as usize == row_y.len() {
            row_y.push(r.y);
        }
    }
    v.finish(|| ())?;
    let mut by_y: Vec<u32> = (0..u32::try_from(row_y.len()).unwrap_or(u32::MAX)).collect();
    by_y.sort_by_key(|&r| (row_y[r as usize], r));
    let mut rank = vec![0u32; row_y.len()];
    for (position, r) in by_y.into_iter().enumerate() {
        rank[r as usize] = u32::try_from(position).unwrap_or(u32::MAX);
    }
    let mut seats: Vec<(u32, LayoutSeatRecord)> = Vec::new();
    for r in runs {
        let row = rows[&(r.section.as_str(), r.row.as_str())];
        let (section, label) = (r.section.trim(), r.row.trim());
        for k in 0..r.count as i32 {
            let number = r.first + k;
            seats.push((
                row,
                LayoutSeatRecord {
                    id: SeatId::new(),
                    idx: 0,
                    section: section.to_owned(),
                    row_label: label.to_owned(),
                    row_order: row,
                    row_rank: rank[row as usize],
                    number,
                    label: format!("{section} {label}-{number}"),
                    x: r.x + k * r.spacing.unwrap_or(10),
                    y: r.y,
                    category: r.category.trim().to_owned(),
                    accessible: r.accessible.contains(&number),
                    companion: r.companion.contains(&number),
                },
            ));
        }
    }
    seats.sort_by_key(|(row, s)| (*row, s.number));
    Ok(seats
        .into_iter()
        .enumerate()
        .map(|(idx, (_, s))| LayoutSeatRecord {
            idx: u32::try_from(idx).unwrap_or(u32::MAX),
            ..s
        })
        .collect())
}

impl SeatingService {
    pub fn new(
        store: DynStore,
        access: Arc<Access>,
        shows: Arc<ShowCache>,
        seating: Arc<SeatingCache>,
        inventory: DynInventory,
        clock: DynClock,
    ) -> Self {
        Self {
            store,
            access,
            shows,
            seating,
            inventory,
            clock,
            epoch: u64::from(uuid::Uuid::new_v4().as_fields().0),
        }
    }

    pub fn cache(&self) -> &Arc<SeatingCache> {
        &self.seating
    }

    pub fn inventory(&self) -> &DynInventory {
        &self.inventory
    }

    /// Draws a layout for an organization (its catalog managers and admins).
    pub async fn create_layout(&self, who: Principal, req: LayoutRequest) -> Result<LayoutView> {
        let mut v = Violations::new();
        name(&mut v, "name", &req.name);
        v.finish(|| ())?;
        if self.store.organization(req.organization_id).await.is_err() {
            return Err(Error::field("organization_id", "no such organization"));
        }
        self.access
            .require(&who, req.organization_id, Permission::ManageCatalog)
            .await?;
        let id = LayoutId::new();
        let seats = lay_out(&req.rows)?;
        let record = LayoutRecord {
            id,
            organization_id: req.organization_id,
            name: req.name.trim().to_owned(),
            created_at: self.clock.now(),
        };
        self.store.insert_layout(&record, &seats).await?;
        Ok(LayoutView {
            id,
            organization_id: record.organization_id,
            name: record.name,
            seats: seats.iter().map(SeatView::of).collect(),
        })
    }

    /// The newest `limit` layouts an organization drew (its catalog managers and admins).
    pub async fn layouts(
        &self,
        who: Principal,
        organization: OrganizationId,
        limit: usize,
    ) -> Result<Vec<LayoutSummary>> {
        self.access
            .require(&who, organization, Permission::ManageCatalog)
            .await?;
        let mut records = self.store.layouts_of(organization).await?;
        records.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        let mut out = Vec::new();
        for r in records.into_iter().take(limit) {
            let seats = self.store.layout_seats(r.id).await?;
            let mut categories: Vec<String> = Vec::new();
            for s in &seats {
                if !categories.contains(&s.category) {
                    categories.push(s.category.clone());
                }
            }
            out.push(LayoutSummary {
                id: r.id,
                name: r.name,
                seats: seats.len(),
                categories,
                created_at: crate::timefmt::rfc3339(r.created_at),
            });
        }
        Ok(out)
    }

    /// A layout with its seats (its organization's members and admins).
    pub async fn layout(&self, who: Principal, id: LayoutId) -> Result<LayoutView> {
        let record = self.store.layout(id).await.or_not_found("layout")?;
        self.access
            .require(&who, record.organization_id, Permission::ManageCatalog)
            .await?;
        let seats = self.store.layout_seats(id).await?;
        Ok(LayoutView {
            id,
            organization_id: record.organization_id,
            name: record.name,
            seats: seats.iter().map(SeatView::of).collect(),
        })
    }

    /// Seats a show with a layout of its own organization. Refused (409 `in-use`)
    /// while any zone involved has tickets held or sold.
    pub async fn set_show_seating(
        &self,
        who: Principal,
        show_id: ShowId,
        req: ShowSeatingRequest,
    ) -> Result<ShowSeatingView> {
        let show = self.shows.get(show_id).ok_or(Error::NotFound("show"))?;
        self.access
            .require(&who, show.organization_id, Permission::ManageCatalog)
            .await?;
        let layout = match self.store.layout(req.layout_id).await {
            Ok(l) if l.organization_id == show.organization_id => l,
            Ok(_) => {
                return Err(Error::field(
                    "layout_id",
                    "this layout belongs to another organization",
                ))
            }
            Err(_) => return Err(Error::field("layout_id", "no such layout")),
        };
        let seats = Arc::new(self.store.layout_seats(layout.id).await?);
        let mut v = Violations::new();
        let used: HashSet<&str> = seats.iter().map(|s| s.category.as_str()).collect();
        let mut mapped = HashSet::new();
        let mut zones_used = HashSet::new();
        for (n, c) in req.categories.iter().enumerate() {
            if !used.contains(c.category.as_str()) {
                v.push(
                    &format!("categories[{n}].category"),
                    "the layout has no such category",
                );
            } else if !mapped.insert(c.category.as_str()) {
                v.push(
                    &format!("categories[{n}].category"),
                    "this category is mapped twice",
                );
            }
            if show.zone(c.zone_id).is_none() {
                v.push(
                    &format!("categories[{n}].zone_id"),
                    "not a zone of this show",
                );
            } else if !zones_used.insert(c.zone_id) {
                v.push(
                    &format!("categories[{n}].zone_id"),
                    "each zone takes one category",
                );
            }
        }
        let mut missing: Vec<&str> = used.difference(&mapped).copied().collect();
        missing.sort_unstable();
        if !missing.is_empty() {
            v.push(
                "categories",
                format!("categories without a zone: {}", missing.join(", ")),
            );
        }
        let ids: HashSet<SeatId> = seats.iter().map(|s| s.id).collect();
        let mut blocked = HashSet::new();
        for (n, s) in req.blocked.iter().enumerate() {
            if !ids.contains(s) {
                v.push(&format!("blocked[{n}]"), "not a seat of this layout");
            } else if !blocked.insert(*s) {
                v.push(&format!("blocked[{n}]"), "named twice");
            }
        }
        v.finish(|| ())?;
        let record = ShowSeatingRecord {
            show_id,
            layout_id: layout.id,
            categories: req
                .categories
                .iter()
                .map(|c| (c.category.clone(), c.zone_id))
                .collect(),
            blocked: req.blocked.clone(),
            updated_at: self.clock.now(),
        };
        let built = ShowSeats::build(&record, seats).map_err(|e| Error::field("categories", e))?;
        let capacities: Vec<(ZoneId, u32)> = built.map.zones().collect();
        self.inventory
            .set_seating(show_id, built.map.clone())
            .await
            .map_err(|e| Error::conflict(ConflictKind::InUse, e.to_string()))?;
        self.store.put_show_seating(&record, &capacities).await?;
        let built = Arc::new(built);
        self.seating.put(built.clone());
        if let Ok(bundle) = self.store.show_bundle(show_id).await {
            self.shows.put(bundle);
        }
        Ok(Self::view(&built))
    }

    fn view(s: &ShowSeats) -> ShowSeatingView {
        let mut categories: Vec<CategoryZone> = Vec::new();
        for (seat, zone) in s.seats.iter().zip(&s.zones) {
            if !categories.iter().any(|c| c.category == seat.category) {
                categories.push(CategoryZone {
                    category: seat.category.clone(),
                    zone_id: *zone,
                });
            }
        }
        ShowSeatingView {
            show_id: s.show_id,
            layout_id: s.layout_id,
            categories,
            seats: s
                .seats
                .iter()
                .zip(&s.zones)
                .map(|(seat, zone)| SeatView {
                    zone_id: Some(*zone),
                    blocked: Some(s.blocked.contains(&seat.id)),
                    ..SeatView::of(seat)
                })
                .collect(),
        }
    }

    /// The live status of a show's seats; `None` when it is still `known` (an ETag
    /// the caller has).
    pub async fn seat_status(
        &self,
        show_id: ShowId,
        known: Option<&str>,
    ) -> Result<Option<SeatStatusView>> {
        self.seating
            .get(show_id)
            .ok_or(Error::NotFound("seat map"))?;
        let known_version = known
            .and_then(|k| k.strip_prefix(&format!("{:x}-", self.epoch)))
            .and_then(|v| v.parse().ok());
        let live = self
            .inventory
            .seat_states(show_id, known_version)
            .await
            .ok_or(Error::NotFound("seat map"))?;
        if known_version == Some(live.version) {
            return Ok(None);
        }
        let version = format!("{:x}-{}", self.epoch, live.version);
        Ok(Some(SeatStatusView::encode(show_id, version, &live.states)))
    }

    /// The seat map as SVG, coloured by live state.
    pub async fn seat_map_svg(&self, show_id: ShowId) -> Result<String> {
        self.draw(show_id, super::svg::render).await
    }

    /// The live seat map to place inside a page (see `svg::render_inline`).
    pub async fn seat_map_inline(&self, show_id: ShowId) -> Result<String> {
        self.draw(show_id, super::svg::render_inline).await
    }

    async fn draw(
        &self,
        show_id: ShowId,
        render: fn(&ShowSeats, &[boxoffice_domain::seating::SeatState]) -> String,
    ) -> Result<String> {
        let seats = self
            .seating
            .get(show_id)
            .ok_or(Error::NotFound("seat map"))?;
        let live = self
            .inventory
            .seat_states(show_id, None)
            .await
            .ok_or(Error::NotFound("seat map"))?;
        Ok(render(&seats, &live.states))
    }

    /// A show's seat map (public): seat ids, labels, zones and positions.
    pub fn show_seating(&self, show_id: ShowId) -> Result<ShowSeatingView> {
        let s = self
            .seating
            .get(show_id)
            .ok_or(Error::NotFound("seat map"))?;
        Ok(Self::view(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(row: &str, first: i32, count: u32, y: i32) -> LayoutRowInput {
        LayoutRowInput {
            section: "Floor".into(),
            row: row.into(),
            first,
            count,
            x: 0,
            y,
            spacing: None,
            category: "A".into(),
            accessible: vec![first],
            companion: vec![],
        }
    }

    #[test]
    fn seats_are_ordered_by_row_and_rows_ranked_by_distance_to_the_stage() {
        let seats = lay_out(&[run("B", 3, 2, 20), run("A", 1, 1, 10), run("B", 1, 1, 20)]).unwrap();
        let labels: Vec<_> = seats.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["Floor B-1", "Floor B-3", "Floor B-4", "Floor A-1"]);
        assert_eq!(
            seats.iter().map(|s| s.row_rank).collect::<Vec<_>>(),
            [1, 1, 1, 0]
        );
        assert_eq!(
            seats.iter().map(|s| s.idx).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert!(seats[1].accessible && !seats[2].accessible);
        let overlap = lay_out(&[run("A", 1, 3, 0), run("A", 3, 2, 0)]).unwrap_err();
        assert_eq!(overlap[0].field, "rows[1].first");
    }
}
