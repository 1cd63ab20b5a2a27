//! The catalog in SQL: events, shows and zones, the public listing's filters, and the
//! show bundles the catalog cache and the inventory are built from.
use super::statement::{
    get_i64, get_id, get_money, get_str, get_ts, get_u32, i, like_pattern, t, ts, update_by_id,
    Arg, Sql, CHUNK,
};
use super::SqlStore;
use crate::store::{
    CatalogStore, EventFilter, EventRecord, Page, ShowBundle, ShowRecord, StoreError, StoreResult,
    ZoneRecord,
};
use async_trait::async_trait;
use boxoffice_domain::catalog::{EventDetails, ShowDetails, ZoneDetails};
use boxoffice_domain::{EventId, ShowId, ZoneId};
use sqlx::any::AnyRow;
use std::collections::HashMap;

const EVENT_COLUMNS: &str =
    "id, organization_id, organizer_id, title, description, category, city, created_at, updated_at";
const SHOW_COLUMNS: &str = "id, event_id, venue, starts_at, sale_opens_at, sale_closes_at, hold_ttl_secs, per_user_limit, created_at, updated_at";
const ZONE_COLUMNS: &str =
    "id, show_id, name, price_minor, currency, capacity, created_at, updated_at";

fn event_from(row: &AnyRow) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        id: get_id(row, "id")?,
        organization_id: get_id(row, "organization_id")?,
        organizer_id: get_id(row, "organizer_id")?,
        details: EventDetails {
            title: get_str(row, "title")?,
            description: get_str(row, "description")?,
            category: get_str(row, "category")?,
            city: get_str(row, "city")?,
        },
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn show_from(row: &AnyRow) -> StoreResult<ShowRecord> {
    Ok(ShowRecord {
        id: get_id(row, "id")?,
        event_id: get_id(row, "event_id")?,
        details: ShowDetails {
            venue: get_str(row, "venue")?,
            starts_at: get_ts(row, "starts_at")?,
            sale_opens_at: get_ts(row, "sale_opens_at")?,
            sale_closes_at: get_ts(row, "sale_closes_at")?,
            hold_ttl_secs: get_i64(row, "hold_ttl_secs")?,
            per_user_limit: get_u32(row, "per_user_limit")?,
        },
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn zone_from(row: &AnyRow) -> StoreResult<ZoneRecord> {
    Ok(ZoneRecord {
        id: get_id(row, "id")?,
        show_id: get_id(row, "show_id")?,
        details: ZoneDetails {
            name: get_str(row, "name")?,
            price: get_money(row, "price_minor")?,
            capacity: get_u32(row, "capacity")?,
        },
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn event_args(e: &EventRecord) -> Vec<Arg> {
    vec![
        t(e.id),
        t(e.organization_id),
        t(e.organizer_id),
        t(&e.details.title),
        t(&e.details.description),
        t(&e.details.category),
        t(&e.details.city),
        ts(e.created_at),
        ts(e.updated_at),
    ]
}

fn show_args(s: &ShowRecord) -> Vec<Arg> {
    let d = &s.details;
    vec![
        t(s.id),
        t(s.event_id),
        t(&d.venue),
        ts(d.starts_at),
        ts(d.sale_opens_at),
        ts(d.sale_closes_at),
        i(d.hold_ttl_secs),
        i(d.per_user_limit),
        ts(s.created_at),
        ts(s.updated_at),
    ]
}

fn zone_args(z: &ZoneRecord) -> Vec<Arg> {
    let d = &z.details;
    vec![
        t(z.id),
        t(z.show_id),
        t(&d.name),
        i(d.price.amount_minor),
        t(d.price.currency),
        i(d.capacity),
        ts(z.created_at),
        ts(z.updated_at),
    ]
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn event_where(f: &EventFilter) -> Sql {
    let mut sql = Sql::new(" WHERE 1 = 1");
    if let Some(text) = &f.text {
        let p = like_pattern(text);
        sql.push(" AND (LOWER(e.title) LIKE ")
            .text(p.clone())
            .push(" ESCAPE '\\' OR LOWER(e.description) LIKE ");
        sql.text(p).push(" ESCAPE '\\')");
    }
    if let Some(c) = &f.category {
        sql.push(" AND e.category = ").text(c);
    }
    if let Some(c) = &f.city {
        sql.push(" AND LOWER(e.city) = ").text(c.to_lowercase());
    }
    if let Some(o) = f.organization {
        sql.push(" AND e.organization_id = ").text(o);
    }
    if f.from.is_some() || f.to.is_some() {
        sql.push(" AND EXISTS (SELECT 1 FROM shows s WHERE s.event_id = e.id");
        if let Some(from) = f.from {
            sql.push(" AND s.starts_at >= ").int(from.millis());
        }
        if let Some(to) = f.to {
            sql.push(" AND s.starts_at < ").int(to.millis());
        }
        sql.push(")");
    }
    sql
}

impl SqlStore {
    async fn zones_of_shows(&self, shows: &[ShowId]) -> StoreResult<Vec<ZoneRecord>> {
        let mut out = Vec::new();
        for chunk in shows.chunks(CHUNK) {
            let mut sql = Sql::new(&format!(
                "SELECT {ZONE_COLUMNS} FROM zones WHERE show_id IN "
            ));
            sql.tuple(chunk.iter().map(t).collect());
            sql.push(" ORDER BY created_at, id");
            out.extend(self.all(&sql, zone_from).await?);
        }
        Ok(out)
    }

    async fn bundles(&self, where_clause: Sql) -> StoreResult<Vec<ShowBundle>> {
        let mut sql = Sql::new(
            "SELECT s.id, s.event_id, s.venue, s.starts_at, s.sale_opens_at, s.sale_closes_at, s.hold_ttl_secs, \
             s.per_user_limit, s.created_at, s.updated_at, e.organization_id FROM shows s JOIN events e ON e.id = s.event_id",
        );
        sql.append(where_clause);
        let mut bundles = self
            .all(&sql, |row| {
                Ok(ShowBundle {
                    show: show_from(row)?,
                    organization_id: get_id(row, "organization_id")?,
                    zones: Vec::new(),
                })
            })
            .await?;
        let ids: Vec<ShowId> = bundles.iter().map(|b| b.show.id).collect();
        let mut by_show: HashMap<ShowId, Vec<ZoneRecord>> = HashMap::new();
        for z in self.zones_of_shows(&ids).await? {
            by_show.entry(z.show_id).or_default().push(z);
        }
        for b in &mut bundles {
            b.zones = by_show.remove(&b.show.id).unwrap_or_default();
        }
        Ok(bundles)
    }
}

#[async_trait]
impl CatalogStore for SqlStore {
    async fn insert_event(&self, e: &EventRecord) -> StoreResult<()> {
        self.insert_one("events", EVENT_COLUMNS, event_args(e))
            .await
    }

    async fn update_event(&self, e: &EventRecord) -> StoreResult<()> {
        self.exec_one(&update_by_id("events", EVENT_COLUMNS, event_args(e)))
            .await
    }

    async fn delete_event(&self, id: EventId) -> StoreResult<()> {
        self.delete_by_id("events", id.to_string()).await
    }

    async fn event(&self, id: EventId) -> StoreResult<EventRecord> {
        let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = "));
        sql.text(id);
        self.one(&sql, event_from).await
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        page: Page,
    ) -> StoreResult<(Vec<EventRecord>, i64)> {
        let cols = EVENT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM events e");
        count.append(event_where(filter));
        let total = self.count(&count).await?;
        let mut sql = Sql::new(&format!("SELECT {cols} FROM events e"));
        sql.append(event_where(filter));
        sql.push(" ORDER BY e.created_at DESC, e.id DESC LIMIT ")
            .int(i64::from(page.per_page));
        sql.push(" OFFSET ").int(page.offset());
        Ok((self.all(&sql, event_from).await?, total))
    }

    async fn insert_show(&self, s: &ShowRecord) -> StoreResult<()> {
        self.insert_one("shows", SHOW_COLUMNS, show_args(s)).await
    }

    async fn update_show(&self, s: &ShowRecord) -> StoreResult<()> {
        self.exec_one(&update_by_id("shows", SHOW_COLUMNS, show_args(s)))
            .await
    }

    async fn delete_show(&self, id: ShowId) -> StoreResult<()> {
        self.delete_by_id("shows", id.to_string()).await
    }

    async fn shows_of_event(&self, event: EventId) -> StoreResult<Vec<ShowRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {SHOW_COLUMNS} FROM shows WHERE event_id = "
        ));
        sql.text(event).push(" ORDER BY starts_at, id");
        self.all(&sql, show_from).await
    }

    async fn insert_zone(&self, z: &ZoneRecord) -> StoreResult<()> {
        self.insert_one("zones", ZONE_COLUMNS, zone_args(z)).await
    }

    async fn update_zone(&self, z: &ZoneRecord) -> StoreResult<()> {
        self.exec_one(&update_by_id("zones", ZONE_COLUMNS, zone_args(z)))
            .await
    }

    async fn delete_zone(&self, id: ZoneId) -> StoreResult<()> {
        self.delete_by_id("zones", id.to_string()).await
    }

    async fn show_bundle(&self, id: ShowId) -> StoreResult<ShowBundle> {
        let mut w = Sql::new(" WHERE s.id = ");
        w.text(id);
        self.bundles(w).await?.pop().ok_or(StoreError::NotFound)
    }

    async fn all_show_bundles(&self) -> StoreResult<Vec<ShowBundle>> {
        self.bundles(Sql::new(" ORDER BY s.starts_at, s.id")).await
    }

    async fn show_has_bookings(&self, id: ShowId) -> StoreResult<bool> {
        let mut sql =
            Sql::new("SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM bookings WHERE show_id = ");
        sql.text(id).push(" LIMIT 1) b");
        Ok(self.count(&sql).await? > 0)
    }
}
