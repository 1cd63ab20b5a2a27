//! Bookings in SQL: the group-commit batch with its outbox events, the tallies and
//! start-up snapshot the inventory is checked against and rebuilt from, the outbox.
use super::payments::Closing;
use super::statement::{
    bad_row, get_i64, get_id, get_money, get_opt_str, get_parsed, get_str, get_ts, get_u32, i,
    insert_statements, opt_text, t, ts, Arg, Sql, CHUNK,
};
use super::SqlStore;
use crate::store::{
    BookingItem, BookingQuery, BookingRecord, BookingStore, BookingWrite, Deadline,
    InventorySnapshot, OutboxEvent, Page, PaymentWrite, ShowTallies, StoreError, StoreResult,
    WriteOutcome,
};
use crate::telemetry::trace::{self, TraceContext};
use async_trait::async_trait;
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::{BookingId, ShowId, Timestamp, UserId, ZoneId};
use sqlx::any::AnyRow;
use std::collections::HashMap;

pub(super) const BOOKING_COLUMNS: &str =
    "id, user_id, show_id, zone_id, quantity, unit_price_minor, currency, status, expires_at, created_at, updated_at, total_minor";
pub(super) const ITEM_COLUMNS: &str =
    "booking_id, position, zone_id, seat_id, quantity, unit_price_minor";
pub(super) const OUTBOX_COLUMNS: &str =
    "id, event_type, aggregate_id, payload, created_at, trace_context";

pub(super) fn booking_from(row: &AnyRow) -> StoreResult<BookingRecord> {
    Ok(BookingRecord {
        id: get_id(row, "id")?,
        user_id: get_id(row, "user_id")?,
        show_id: get_id(row, "show_id")?,
        zone_id: get_id(row, "zone_id")?,
        quantity: get_u32(row, "quantity")?,
        unit_price: get_money(row, "unit_price_minor")?,
        total: get_money(row, "total_minor")?,
        status: get_parsed(row, "status", |s| {
            BookingStatus::parse(s).ok_or_else(|| format!("status {s}"))
        })?,
        expires_at: get_ts(row, "expires_at")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn outbox_from(row: &AnyRow) -> StoreResult<OutboxEvent> {
    Ok(OutboxEvent {
        seq: get_i64(row, "seq")?,
        id: get_str(row, "id")?,
        event_type: get_str(row, "event_type")?,
        aggregate_id: get_str(row, "aggregate_id")?,
        payload: get_parsed(row, "payload", |s| serde_json::from_str(s))?,
        created_at: get_ts(row, "created_at")?,
        trace_context: get_opt_str(row, "trace_context")?,
    })
}

fn booking_args(b: &BookingRecord) -> Vec<Arg> {
    vec![
        t(b.id),
        t(b.user_id),
        t(b.show_id),
        t(b.zone_id),
        i(b.quantity),
        i(b.unit_price.amount_minor),
        t(b.unit_price.currency),
        t(b.status.as_str()),
        ts(b.expires_at),
        ts(b.created_at),
        ts(b.updated_at),
        i(b.total.amount_minor),
    ]
}

fn item_args(booking: BookingId, position: usize, item: &BookingItem) -> Vec<Arg> {
    vec![
        t(booking),
        i(i64::try_from(position).unwrap_or(i64::MAX)),
        t(item.zone_id),
        item.seat_id.map_or(Arg::NullText, t),
        i(item.quantity),
        i(item.unit_price.amount_minor),
    ]
}

/// The one item of a general-admission hold.
fn implied_item(b: &BookingRecord) -> BookingItem {
    BookingItem {
        zone_id: b.zone_id,
        seat_id: None,
        quantity: b.quantity,
        unit_price: b.unit_price,
    }
}

fn outbox_args(event_type: &str, b: &BookingRecord, at: Timestamp) -> StoreResult<Vec<Arg>> {
    event_args(event_type, &b.id.to_string(), b, at)
}

/// An outbox row: `payload` serialized as the event's JSON, with the trace context
/// current where it is built (see [`trace::within`]).
pub(super) fn event_args(
    event_type: &str,
    aggregate_id: &str,
    payload: &impl serde::Serialize,
    at: Timestamp,
) -> StoreResult<Vec<Arg>> {
    let payload = serde_json::to_string(payload).map_err(|e| StoreError::Other(e.into()))?;
    Ok(vec![
        t(uuid::Uuid::now_v7()),
        t(event_type),
        t(aggregate_id),
        Arg::Text(payload),
        ts(at),
        trace::current_traceparent().map_or(Arg::NullText, Arg::Text),
    ])
}

/// `UPDATE bookings … FROM (VALUES (id, instant, owner) …)`: moves each listed booking
/// from the action's source states to `target`, checked against its own instant and
/// owner, and returns the rows it changed tagged with `group`.
pub(super) fn transition_statement(
    group: usize,
    action: BookingAction,
    target: BookingStatus,
    deadline: Deadline,
    rows: &[(BookingId, Timestamp, Option<UserId>)],
) -> Sql {
    let mut sql = Sql::with_values(
        &[("b_id", "TEXT"), ("b_at", "BIGINT"), ("b_owner", "TEXT")],
        rows.iter()
            .map(|(id, at, owner)| vec![t(id), ts(*at), opt_text(owner.as_ref())]),
    );
    sql.append(Sql::update("bookings"));
    sql.push("status = ")
        .text(target.as_str())
        .push(", updated_at = v.b_at FROM v WHERE id = v.b_id");
    sql.push(&format!(
        " AND status IN ({})",
        status_list(&action.sources())
    ));
    match deadline {
        Deadline::NotPassed => sql.push(" AND expires_at > v.b_at"),
        Deadline::Passed => sql.push(" AND expires_at <= v.b_at"),
        Deadline::Any => &mut sql,
    };
    sql.push(" AND (v.b_owner IS NULL OR user_id = v.b_owner)");
    sql.push(&format!(
        " RETURNING {}, {group} AS batch_group",
        qualified("bookings", BOOKING_COLUMNS)
    ));
    sql
}

/// `table.a, table.b, …` for a column list.
pub(super) fn qualified(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn status_list(statuses: &[BookingStatus]) -> String {
    // Closed set of our own constants: safe to inline.
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    /// `(zone, held, sold)` over the items of live bookings `b` matching `filter` (an
    /// `AND …` fragment), zones in id order.
    async fn zone_tallies(&self, filter: Sql) -> StoreResult<Vec<(ZoneId, u32, u32)>> {
        let mut sql = Sql::new(&format!(
            "SELECT i.zone_id AS zone_id, CAST(SUM(CASE WHEN b.status IN ({}) THEN i.quantity ELSE 0 END) AS BIGINT) AS held, \
             CAST(SUM(CASE WHEN b.status = 'confirmed' THEN i.quantity ELSE 0 END) AS BIGINT) AS sold \
             FROM booking_items i JOIN bookings b ON b.id = i.booking_id WHERE b.status IN ({})",
            status_list(&BookingStatus::pending()),
            status_list(&BookingStatus::live()),
        ));
        sql.append(filter)
            .push(" GROUP BY i.zone_id ORDER BY i.zone_id");
        self.all(&sql, |row| {
            Ok((
                get_id(row, "zone_id")?,
                get_u32(row, "held")?,
                get_u32(row, "sold")?,
            ))
        })
        .await
    }
}

#[async_trait]
impl BookingStore for SqlStore {
    async fn apply_traced(
        &self,
        writes: &[BookingWrite],
        traces: &[Option<TraceContext>],
    ) -> StoreResult<Vec<WriteOutcome>> {
        let trace_of = |n: usize| traces.get(n).copied().flatten();
        // First round trip: the holds with their events, and the transitions.
        let mut first = Vec::new();
        let holds: Vec<(&BookingRecord, Option<TraceContext>)> = writes
            .iter()
            .enumerate()
            .filter_map(|(n, w)| match w {
                BookingWrite::Hold(b) => Some((b, trace_of(n))),
                BookingWrite::Order(o) => Some((&o.0, trace_of(n))),
                BookingWrite::Transition { .. } | BookingWrite::Payment(_) => None,
            })
            .collect();
        let mut items = Vec::new();
        for w in writes {
            match w {
                BookingWrite::Hold(b) => items.push(item_args(b.id, 0, &implied_item(b))),
                BookingWrite::Order(o) => items.extend(
                    o.1.iter()
                        .enumerate()
                        .map(|(n, item)| item_args(o.0.id, n, item)),
                ),
                BookingWrite::Transition { .. } | BookingWrite::Payment(_) => {}
            }
        }
        let payments: Vec<(&PaymentWrite, Option<TraceContext>)> = writes
            .iter()
            .enumerate()
            .filter_map(|(n, w)| match w {
                BookingWrite::Payment(p) => Some((p.as_ref(), trace_of(n))),
                _ => None,
            })
            .collect();
        if !holds.is_empty() {
            first.extend(insert_statements(
                "bookings",
                BOOKING_COLUMNS,
                holds.iter().map(|(b, _)| booking_args(b)).collect(),
            ));
            first.extend(insert_statements("booking_items", ITEM_COLUMNS, items));
            let events = holds
                .iter()
                .map(|(b, trace)| {
                    trace::within(*trace, || {
                        outbox_args(boxoffice_domain::booking::EVENT_RESERVED, b, b.created_at)
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            first.extend(insert_statements("outbox", OUTBOX_COLUMNS, events));
        }
        // Transitions sharing action and deadline rule are applied by one set-based
        // UPDATE joined to their (id, instant, owner) values; each returns its rows
        // tagged with its group. A booking named twice in a group is sent once (the
        // first write that asked gets the outcome).
        type Row = (BookingId, Timestamp, Option<UserId>);
        let mut groups: Vec<((BookingAction, Deadline), Vec<Row>)> = Vec::new();
        // The trace of the first write that asked for each change.
        let mut asked: HashMap<(BookingId, BookingAction), Option<TraceContext>> = HashMap::new();
        for (n, w) in writes.iter().enumerate() {
            if let BookingWrite::Transition {
                id,
                action,
                at,
                deadline,
                owner,
            } = w
            {
                asked.entry((*id, *action)).or_insert(trace_of(n));
                let key = (*action, *deadline);
                let row = (*id, *at, *owner);
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, rows)) if rows.iter().any(|r| r.0 == *id) => {}
                    Some((_, rows)) => rows.push(row),
                    None => groups.push((key, vec![row])),
                }
            }
        }
        for (group, ((action, deadline), rows)) in groups.iter().enumerate() {
            if let Some(target) = action.target() {
                for chunk in rows.chunks(CHUNK) {
                    first.push(transition_statement(
                        group, *action, target, *deadline, chunk,
                    ));
                }
            }
        }
        let mut batch = self.batch().await?;
        if groups.is_empty() && payments.is_empty() {
            batch.finish(first).await?;
            return Ok(vec![WriteOutcome::Held; writes.len()]);
        }
        let rows = batch.run(first).await?;
        // Second round trip (only with transitions): their events, then COMMIT.
        let mut applied: HashMap<(BookingId, BookingAction), BookingRecord> = HashMap::new();
        let mut events = Vec::new();
        for row in &rows {
            let group = usize::try_from(get_i64(row, "batch_group")?).map_err(bad_row)?;
            let ((action, _), _) = groups.get(group).ok_or_else(|| bad_row("batch group"))?;
            let booking = booking_from(row)?;
            let trace = asked.get(&(booking.id, *action)).copied().flatten();
            events.push(trace::within(trace, || {
                outbox_args(action.event_type(), &booking, booking.updated_at)
            })?);
            applied.insert((booking.id, *action), booking);
        }
        // Payment writes, in order, after the booking writes of the batch; what
        // closes each (rows, ledger, events) goes with the commit.
        let mut closing = insert_statements("outbox", OUTBOX_COLUMNS, events);
        let mut paying = Closing::default();
        let paid = Self::write_payments(&mut batch, &payments, &mut paying).await?;
        closing.extend(paying.statements());
        batch.finish(closing).await?;
        // Each applied change is reported once, to the first write that asked for it.
        let mut paid = paid.into_iter();
        let outcomes = writes
            .iter()
            .map(|w| match w {
                BookingWrite::Hold(_) | BookingWrite::Order(_) => WriteOutcome::Held,
                BookingWrite::Transition { id, action, .. } => {
                    match applied.remove(&(*id, *action)) {
                        Some(booking) => WriteOutcome::Applied(booking),
                        None => WriteOutcome::Skipped,
                    }
                }
                BookingWrite::Payment(_) => paid.next().map_or(WriteOutcome::Skipped, |o| {
                    WriteOutcome::Payment(Box::new(o))
                }),
            })
            .collect();
        Ok(outcomes)
    }

    async fn booking(&self, id: BookingId) -> StoreResult<BookingRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, booking_from).await
    }

    async fn list_bookings(
        &self,
        q: &BookingQuery,
        page: Page,
    ) -> StoreResult<(Vec<BookingRecord>, i64)> {
        let filter = || {
            let mut w = Sql::new(" WHERE 1 = 1");
            if let Some(u) = q.user {
                w.push(" AND user_id = ").text(u);
            }
            if !q.statuses.is_empty() {
                w.push(&format!(" AND status IN ({})", status_list(&q.statuses)));
            }
            w
        };
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM bookings");
        count.append(filter());
        let total = self.count(&count).await?;
        let mut sql = Sql::new(&format!("SELECT {BOOKING_COLUMNS} FROM bookings"));
        sql.append(filter())
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        Ok((self.all(&sql, booking_from).await?, total))
    }

    async fn live_bookings(&self) -> StoreResult<Vec<BookingRecord>> {
        let sql = Sql::new(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE status IN ({})",
            status_list(&BookingStatus::live())
        ));
        self.all(&sql, booking_from).await
    }

    async fn inventory_snapshot(&self) -> StoreResult<InventorySnapshot> {
        let pending = status_list(&BookingStatus::pending());
        let live = status_list(&BookingStatus::live());
        let buyers = Sql::new(&format!(
            "SELECT show_id, user_id, CAST(SUM(quantity) AS BIGINT) AS n FROM bookings \
             WHERE status IN ({live}) GROUP BY show_id, user_id"
        ));
        let held = Sql::new(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE status IN ({pending})"
        ));
        Ok(InventorySnapshot {
            zones: self.zone_tallies(Sql::new("")).await?,
            buyers: self
                .all(&buyers, |row| {
                    Ok((
                        get_id(row, "show_id")?,
                        get_id(row, "user_id")?,
                        get_u32(row, "n")?,
                    ))
                })
                .await?,
            pending: self.all(&held, booking_from).await?,
        })
    }

    async fn show_tallies(&self, show: ShowId) -> StoreResult<ShowTallies> {
        let mut only_show = Sql::new(" AND b.show_id = ");
        only_show.text(show);
        let zones = self.zone_tallies(only_show).await?;
        let mut max = Sql::new(&format!(
            "SELECT CAST(COALESCE(MAX(n), 0) AS BIGINT) AS m FROM (SELECT SUM(quantity) AS n FROM bookings WHERE status IN ({}) AND show_id = ",
            status_list(&BookingStatus::live())
        ));
        max.text(show).push(" GROUP BY user_id) per_buyer");
        Ok(ShowTallies {
            zones,
            max_per_buyer: get_u32(&self.fetch_one(&max).await?, "m")?,
        })
    }

    async fn sales_timeline(&self, show: ShowId, bucket_ms: i64) -> StoreResult<Vec<(i64, u32)>> {
        let bucket = bucket_ms.max(1);
        // Integer division on both engines (BIGINT milliseconds).
        let mut sql = Sql::new(&format!(
            "SELECT CAST((updated_at / {bucket}) * {bucket} AS BIGINT) AS at, \
             CAST(SUM(quantity) AS BIGINT) AS n FROM bookings WHERE status = '{}' AND show_id = ",
            BookingStatus::Confirmed.as_str()
        ));
        sql.text(show).push(" GROUP BY 1 ORDER BY 1");
        let rows = self.fetch_all(&sql).await?;
        rows.iter()
            .map(|r| Ok((get_i64(r, "at")?, get_u32(r, "n")?)))
            .collect()
    }

    async fn outbox_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        let mut sql = Sql::new(&format!(
            "SELECT seq, {OUTBOX_COLUMNS} FROM outbox WHERE seq > "
        ));
        sql.int(seq)
            .push(" ORDER BY seq LIMIT ")
            .int(i64::from(limit));
        self.all(&sql, outbox_from).await
    }
}
