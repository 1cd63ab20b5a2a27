//! Seating in SQL: layouts with their seats, each show's use of a layout, and the
//! items of bookings (read with seat labels, and the live ones for the start-up rebuild).
use super::bookings::status_list;
use super::statement::{
    get_i64, get_id, get_opt_str, get_parsed, get_str, get_ts, get_u32, i, insert_statements, t,
    ts, Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    BookingItem, BookingItemRecord, LayoutRecord, LayoutSeatRecord, LiveItem, SeatLabels,
    SeatingStore, ShowSeatingRecord, StoreError, StoreResult,
};
use async_trait::async_trait;
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::{BookingId, Currency, LayoutId, Money, OrganizationId, ShowId};
use sqlx::any::AnyRow;
use std::collections::HashMap;

const LAYOUT_COLUMNS: &str = "id, organization_id, name, created_at";
const SEAT_COLUMNS: &str = "id, layout_id, idx, section, row_label, row_order, row_rank, number, label, x, y, category, accessible, companion";

fn layout_from(row: &AnyRow) -> StoreResult<LayoutRecord> {
    Ok(LayoutRecord {
        id: get_id(row, "id")?,
        organization_id: get_id(row, "organization_id")?,
        name: get_str(row, "name")?,
        created_at: get_ts(row, "created_at")?,
    })
}

fn int32(row: &AnyRow, col: &str) -> StoreResult<i32> {
    i32::try_from(get_i64(row, col)?).map_err(super::statement::bad_row)
}

fn seat_from(row: &AnyRow) -> StoreResult<LayoutSeatRecord> {
    Ok(LayoutSeatRecord {
        id: get_id(row, "id")?,
        idx: get_u32(row, "idx")?,
        section: get_str(row, "section")?,
        row_label: get_str(row, "row_label")?,
        row_order: get_u32(row, "row_order")?,
        row_rank: get_u32(row, "row_rank")?,
        number: int32(row, "number")?,
        label: get_str(row, "label")?,
        x: int32(row, "x")?,
        y: int32(row, "y")?,
        category: get_str(row, "category")?,
        accessible: get_i64(row, "accessible")? != 0,
        companion: get_i64(row, "companion")? != 0,
    })
}

fn item_from(row: &AnyRow) -> StoreResult<BookingItemRecord> {
    let seat_id = get_opt_str(row, "seat_id")?
        .map(|s| s.parse().map_err(super::statement::bad_row))
        .transpose()?;
    let seat = match seat_id {
        Some(_) => Some(SeatLabels {
            section: get_str(row, "section")?,
            row: get_str(row, "row_label")?,
            number: int32(row, "number")?,
            label: get_str(row, "label")?,
        }),
        None => None,
    };
    Ok(BookingItemRecord {
        booking_id: get_id(row, "booking_id")?,
        position: get_u32(row, "position")?,
        item: BookingItem {
            zone_id: get_id(row, "zone_id")?,
            seat_id,
            quantity: get_u32(row, "quantity")?,
            unit_price: Money {
                amount_minor: get_i64(row, "unit_price_minor")?,
                currency: get_parsed(row, "currency", Currency::parse)?,
            },
        },
        seat,
    })
}

impl SqlStore {
    /// Show seatings matching `filter` (a `WHERE …` fragment on `s`), with their
    /// categories and blocked seats.
    async fn seatings(&self, filter: Sql) -> StoreResult<Vec<ShowSeatingRecord>> {
        let mut sql = Sql::new("SELECT s.show_id, s.layout_id, s.updated_at FROM show_seating s");
        sql.append(filter);
        let mut found = self
            .all(&sql, |row| {
                Ok(ShowSeatingRecord {
                    show_id: get_id(row, "show_id")?,
                    layout_id: get_id(row, "layout_id")?,
                    categories: Vec::new(),
                    blocked: Vec::new(),
                    updated_at: get_ts(row, "updated_at")?,
                })
            })
            .await?;
        if found.is_empty() {
            return Ok(found);
        }
        let by_show: HashMap<ShowId, usize> = found
            .iter()
            .enumerate()
            .map(|(n, s)| (s.show_id, n))
            .collect();
        let categories = Sql::new(
            "SELECT show_id, category, zone_id FROM show_seat_categories ORDER BY show_id, category",
        );
        for (show, category, zone) in self
            .all(&categories, |row| {
                Ok((
                    get_id::<ShowId>(row, "show_id")?,
                    get_str(row, "category")?,
                    get_id(row, "zone_id")?,
                ))
            })
            .await?
        {
            if let Some(&n) = by_show.get(&show) {
                found[n].categories.push((category, zone));
            }
        }
        let blocked =
            Sql::new("SELECT show_id, seat_id FROM show_blocked_seats ORDER BY show_id, seat_id");
        for (show, seat) in self
            .all(&blocked, |row| {
                Ok((get_id::<ShowId>(row, "show_id")?, get_id(row, "seat_id")?))
            })
            .await?
        {
            if let Some(&n) = by_show.get(&show) {
                found[n].blocked.push(seat);
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl SeatingStore for SqlStore {
    async fn insert_layout(
        &self,
        layout: &LayoutRecord,
        seats: &[LayoutSeatRecord],
    ) -> StoreResult<()> {
        let mut statements = insert_statements(
            "venue_layouts",
            LAYOUT_COLUMNS,
            vec![vec![
                t(layout.id),
                t(layout.organization_id),
                t(&layout.name),
                ts(layout.created_at),
            ]],
        );
        statements.extend(insert_statements(
            "layout_seats",
            SEAT_COLUMNS,
            seats
                .iter()
                .map(|s| {
                    vec![
                        t(s.id),
                        t(layout.id),
                        i(s.idx),
                        t(&s.section),
                        t(&s.row_label),
                        i(s.row_order),
                        i(s.row_rank),
                        i(s.number),
                        t(&s.label),
                        i(s.x),
                        i(s.y),
                        t(&s.category),
                        i(i64::from(s.accessible)),
                        i(i64::from(s.companion)),
                    ]
                })
                .collect(),
        ));
        let mut batch = self.batch().await?;
        batch.run(statements).await?;
        batch.finish(Vec::new()).await.map(drop)
    }

    async fn layout(&self, id: LayoutId) -> StoreResult<LayoutRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {LAYOUT_COLUMNS} FROM venue_layouts WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, layout_from).await
    }

    async fn layout_seats(&self, id: LayoutId) -> StoreResult<Vec<LayoutSeatRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {SEAT_COLUMNS} FROM layout_seats WHERE layout_id = "
        ));
        sql.text(id).push(" ORDER BY idx");
        self.all(&sql, seat_from).await
    }

    async fn layouts_of(&self, organization: OrganizationId) -> StoreResult<Vec<LayoutRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {LAYOUT_COLUMNS} FROM venue_layouts WHERE organization_id = "
        ));
        sql.text(organization).push(" ORDER BY created_at, id");
        self.all(&sql, layout_from).await
    }

    async fn put_show_seating(
        &self,
        seating: &ShowSeatingRecord,
        capacities: &[(boxoffice_domain::ZoneId, u32)],
    ) -> StoreResult<()> {
        let show = seating.show_id;
        let mut statements = Vec::new();
        for table in ["show_seat_categories", "show_blocked_seats", "show_seating"] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE show_id = "));
            sql.text(show);
            statements.push(sql);
        }
        statements.extend(insert_statements(
            "show_seating",
            "show_id, layout_id, updated_at",
            vec![vec![t(show), t(seating.layout_id), ts(seating.updated_at)]],
        ));
        statements.extend(insert_statements(
            "show_seat_categories",
            "show_id, category, zone_id",
            seating
                .categories
                .iter()
                .map(|(c, z)| vec![t(show), t(c), t(z)])
                .collect(),
        ));
        statements.extend(insert_statements(
            "show_blocked_seats",
            "show_id, seat_id",
            seating
                .blocked
                .iter()
                .map(|s| vec![t(show), t(s)])
                .collect(),
        ));
        for (zone, capacity) in capacities {
            let mut sql = Sql::update("zones");
            sql.push("capacity = ")
                .arg(i(*capacity))
                .push(", updated_at = ")
                .arg(ts(seating.updated_at))
                .push(" WHERE id = ")
                .arg(Arg::Text(zone.to_string()));
            statements.push(sql);
        }
        let mut batch = self.batch().await?;
        batch.run(statements).await?;
        batch.finish(Vec::new()).await.map(drop)
    }

    async fn show_seating(&self, show: ShowId) -> StoreResult<Option<ShowSeatingRecord>> {
        let mut w = Sql::new(" WHERE s.show_id = ");
        w.text(show);
        Ok(self.seatings(w).await?.pop())
    }

    async fn all_show_seatings(&self) -> StoreResult<Vec<ShowSeatingRecord>> {
        self.seatings(Sql::new(" ORDER BY s.show_id")).await
    }

    async fn booking_items(&self, booking: BookingId) -> StoreResult<Vec<BookingItemRecord>> {
        let mut sql = Sql::new(
            "SELECT i.booking_id, i.position, i.zone_id, i.seat_id, i.quantity, i.unit_price_minor, \
             b.currency, l.section, l.row_label, l.number, l.label \
             FROM booking_items i JOIN bookings b ON b.id = i.booking_id \
             LEFT JOIN layout_seats l ON l.id = i.seat_id WHERE i.booking_id = ",
        );
        sql.text(booking).push(" ORDER BY i.position");
        let items = self.all(&sql, item_from).await?;
        if items.is_empty() {
            return Err(StoreError::NotFound);
        }
        Ok(items)
    }

    async fn live_items(&self) -> StoreResult<Vec<LiveItem>> {
        let sql = Sql::new(&format!(
            "SELECT b.show_id, b.id AS booking_id, b.status, i.zone_id, i.seat_id, i.quantity \
             FROM booking_items i JOIN bookings b ON b.id = i.booking_id \
             WHERE b.status IN ({}) AND b.id IN \
             (SELECT booking_id FROM booking_items WHERE seat_id IS NOT NULL OR position > 0) \
             ORDER BY b.id, i.position",
            status_list(&BookingStatus::live())
        ));
        self.all(&sql, |row| {
            Ok(LiveItem {
                show_id: get_id(row, "show_id")?,
                booking_id: get_id(row, "booking_id")?,
                status: get_parsed(row, "status", |s| {
                    BookingStatus::parse(s).ok_or_else(|| format!("status {s}"))
                })?,
                zone_id: get_id(row, "zone_id")?,
                seat_id: get_opt_str(row, "seat_id")?
                    .map(|s| s.parse().map_err(super::statement::bad_row))
                    .transpose()?,
                quantity: get_u32(row, "quantity")?,
            })
        })
        .await
    }
}
