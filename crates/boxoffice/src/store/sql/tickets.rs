//! Tickets, scans and check-in lists in SQL. Issuing is an insert that skips slots
//! already filled; a transfer revokes and issues in one transaction guarded by the
//! old ticket's state; an admission is the one scan row a partial unique index allows
//! per ticket, so concurrent gates cannot both admit.
use super::statement::{
    bad_row, get_i64, get_id, get_opt_str, get_opt_ts, get_parsed, get_str, get_ts, i,
    insert_statements, opt_text, opt_ts, t, ts, Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    Admission, CheckinListRecord, CheckinRecord, Conflict, Page, StoreError, StoreResult,
    TicketRecord, TicketStore, ZoneAttendance,
};
use async_trait::async_trait;
use boxoffice_domain::ticket::{first_scan_order, RevokeReason, Scan, ScanResult, TicketStatus};
use boxoffice_domain::{BookingId, ShowId, Timestamp, UserId, ZoneId};
use sqlx::any::AnyRow;

const TICKET_COLUMNS: &str = "id, issue_key, code, booking_id, show_id, zone_id, seat_id, \
     seat_label, holder_id, holder_name, status, revoke_reason, replaced_by, issued_at, revoked_at";
const CHECKIN_COLUMNS: &str =
    "id, ticket_id, show_id, list_id, gate, scanned_at, recorded_at, offline, admitted, result";
const LIST_COLUMNS: &str = "id, show_id, name, zone_ids, created_at";

fn ticket_from(row: &AnyRow) -> StoreResult<TicketRecord> {
    Ok(TicketRecord {
        id: get_str(row, "id")?,
        issue_key: get_str(row, "issue_key")?,
        code: get_str(row, "code")?,
        booking_id: get_id(row, "booking_id")?,
        show_id: get_id(row, "show_id")?,
        zone_id: get_id(row, "zone_id")?,
        seat_id: get_opt_str(row, "seat_id")?,
        seat_label: get_opt_str(row, "seat_label")?,
        holder_id: get_id(row, "holder_id")?,
        holder_name: get_str(row, "holder_name")?,
        status: get_parsed(row, "status", |s| {
            TicketStatus::parse(s).ok_or_else(|| format!("ticket status {s}"))
        })?,
        revoke_reason: get_opt_str(row, "revoke_reason")?
            .map(|s| RevokeReason::parse(&s).ok_or_else(|| bad_row(format!("revoke reason {s}"))))
            .transpose()?,
        replaced_by: get_opt_str(row, "replaced_by")?,
        issued_at: get_ts(row, "issued_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

fn ticket_args(r: &TicketRecord) -> Vec<Arg> {
    vec![
        t(&r.id),
        t(&r.issue_key),
        t(&r.code),
        t(r.booking_id),
        t(r.show_id),
        t(r.zone_id),
        opt_text(r.seat_id.as_deref()),
        opt_text(r.seat_label.as_deref()),
        t(r.holder_id),
        t(&r.holder_name),
        t(r.status.as_str()),
        opt_text(r.revoke_reason.map(RevokeReason::as_str)),
        opt_text(r.replaced_by.as_deref()),
        ts(r.issued_at),
        opt_ts(r.revoked_at),
    ]
}

fn checkin_from(row: &AnyRow) -> StoreResult<CheckinRecord> {
    Ok(CheckinRecord {
        id: get_str(row, "id")?,
        ticket_id: get_str(row, "ticket_id")?,
        show_id: get_id(row, "show_id")?,
        list_id: get_opt_str(row, "list_id")?,
        gate: get_str(row, "gate")?,
        scanned_at: get_ts(row, "scanned_at")?,
        recorded_at: get_ts(row, "recorded_at")?,
        offline: get_i64(row, "offline")? != 0,
        admitted: get_i64(row, "admitted")? != 0,
        result: get_parsed(row, "result", |s| {
            ScanResult::parse(s).ok_or_else(|| format!("scan result {s}"))
        })?,
    })
}

fn checkin_insert(c: &CheckinRecord) -> Sql {
    let mut sql = Sql::insert("checkins", CHECKIN_COLUMNS);
    sql.tuple(vec![
        t(&c.id),
        t(&c.ticket_id),
        t(c.show_id),
        opt_text(c.list_id.as_deref()),
        t(&c.gate),
        ts(c.scanned_at),
        ts(c.recorded_at),
        i(i64::from(c.offline)),
        i(i64::from(c.admitted)),
        t(c.result.as_str()),
    ]);
    sql
}

fn list_from(row: &AnyRow) -> StoreResult<CheckinListRecord> {
    Ok(CheckinListRecord {
        id: get_str(row, "id")?,
        show_id: get_id(row, "show_id")?,
        name: get_str(row, "name")?,
        zone_ids: get_parsed(row, "zone_ids", |s| {
            serde_json::from_str::<Vec<ZoneId>>(s).map_err(|e| e.to_string())
        })?,
        created_at: get_ts(row, "created_at")?,
    })
}

fn as_scan(c: &CheckinRecord) -> Scan {
    Scan {
        gate: c.gate.clone(),
        scanned_at: c.scanned_at,
    }
}

fn select_tickets(filter: &str) -> Sql {
    Sql::new(&format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE {filter}"
    ))
}

fn admission_query(ticket: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {CHECKIN_COLUMNS} FROM checkins WHERE admitted = 1 AND ticket_id = "
    ));
    sql.text(ticket);
    sql
}

impl SqlStore {
    /// One try of [`TicketStore::merge_offline_scan`], in one transaction.
    async fn merge_once(&self, scan: &CheckinRecord) -> StoreResult<Admission> {
        let mut tx = self.batch().await?;
        let current = tx.run(vec![admission_query(&scan.ticket_id)]).await?;
        let current = current.first().map(checkin_from).transpose()?;
        let mut mine = scan.clone();
        let (statements, outcome) = match current {
            None => {
                mine.admitted = true;
                (vec![checkin_insert(&mine)], Admission::Admitted)
            }
            Some(earlier) if first_scan_order(&as_scan(&earlier), &as_scan(scan)).is_le() => {
                mine.admitted = false;
                mine.result = ScanResult::AlreadyUsed;
                (vec![checkin_insert(&mine)], Admission::Earlier(earlier))
            }
            Some(later) => {
                // This scan came first: the one on record becomes its duplicate.
                let mut demote = Sql::update("checkins");
                demote
                    .push("admitted = 0, result = ")
                    .text(ScanResult::AlreadyUsed.as_str())
                    .push(" WHERE id = ")
                    .text(&later.id);
                mine.admitted = true;
                (vec![demote, checkin_insert(&mine)], Admission::Admitted)
            }
        };
        tx.finish(statements).await?;
        Ok(outcome)
    }
}

#[async_trait]
impl TicketStore for SqlStore {
    async fn issue_tickets(&self, tickets: &[TicketRecord]) -> StoreResult<Vec<String>> {
        if tickets.is_empty() {
            return Ok(Vec::new());
        }
        let statements: Vec<Sql> = insert_statements(
            "tickets",
            TICKET_COLUMNS,
            tickets.iter().map(ticket_args).collect(),
        )
        .into_iter()
        .map(|mut sql| {
            sql.push(" ON CONFLICT (issue_key) DO NOTHING RETURNING id");
            sql
        })
        .collect();
        // Every statement's rows (one PostgreSQL statement would return only the
        // last one's), then the commit.
        let mut tx = self.batch().await?;
        let rows = tx.run(statements).await?;
        tx.finish(Vec::new()).await?;
        rows.iter().map(|r| get_str(r, "id")).collect()
    }

    async fn ticket(&self, id: &str) -> StoreResult<TicketRecord> {
        let mut sql = select_tickets("id = ");
        sql.text(id);
        self.one(&sql, ticket_from).await
    }

    async fn ticket_by_code(&self, code: &str) -> StoreResult<TicketRecord> {
        let mut sql = select_tickets("code = ");
        sql.text(code);
        self.one(&sql, ticket_from).await
    }

    async fn tickets_of_booking(&self, booking: BookingId) -> StoreResult<Vec<TicketRecord>> {
        let mut sql = select_tickets("booking_id = ");
        sql.text(booking).push(" ORDER BY issued_at, issue_key");
        self.all(&sql, ticket_from).await
    }

    async fn tickets_of_holder(
        &self,
        holder: UserId,
        page: Page,
    ) -> StoreResult<(Vec<TicketRecord>, i64)> {
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM tickets WHERE holder_id = ");
        count.text(holder);
        let mut sql = select_tickets("holder_id = ");
        sql.text(holder)
            .push(" ORDER BY issued_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        Ok((
            self.all(&sql, ticket_from).await?,
            self.count(&count).await?,
        ))
    }

    async fn all_tickets_of_holder(&self, holder: UserId) -> StoreResult<Vec<TicketRecord>> {
        let mut sql = select_tickets("holder_id = ");
        sql.text(holder).push(" ORDER BY issued_at, id");
        self.all(&sql, ticket_from).await
    }

    async fn rename_holder(&self, holder: UserId, name: &str) -> StoreResult<u64> {
        let mut sql = Sql::update("tickets");
        sql.push("holder_name = ")
            .text(name)
            .push(" WHERE holder_id = ")
            .text(holder);
        self.execute(&sql).await
    }

    async fn tickets_of_show(&self, show: ShowId) -> StoreResult<Vec<TicketRecord>> {
        let mut sql = select_tickets("show_id = ");
        sql.text(show).push(" ORDER BY id");
        self.all(&sql, ticket_from).await
    }

    async fn revoke_booking_tickets(
        &self,
        booking: BookingId,
        reason: RevokeReason,
        at: Timestamp,
    ) -> StoreResult<Vec<TicketRecord>> {
        let mut sql = Sql::update("tickets");
        sql.push("status = ")
            .text(TicketStatus::Revoked.as_str())
            .push(", revoke_reason = ")
            .text(reason.as_str())
            .push(", revoked_at = ")
            .int(at.millis())
            .push(" WHERE booking_id = ")
            .text(booking)
            .push(" AND status = ")
            .text(TicketStatus::Valid.as_str())
            .push(&format!(" RETURNING {TICKET_COLUMNS}"));
        self.all(&sql, ticket_from).await
    }

    async fn transfer_ticket(&self, old: &str, new: &TicketRecord) -> StoreResult<bool> {
        let mut revoke = Sql::update("tickets");
        revoke
            .push("status = ")
            .text(TicketStatus::Revoked.as_str())
            .push(", revoke_reason = ")
            .text(RevokeReason::Transferred.as_str())
            .push(", revoked_at = ")
            .int(new.issued_at.millis())
            .push(", replaced_by = ")
            .text(&new.id)
            .push(" WHERE id = ")
            .text(old)
            .push(" AND status = ")
            .text(TicketStatus::Valid.as_str())
            .push(" AND NOT EXISTS (SELECT 1 FROM checkins WHERE admitted = 1 AND ticket_id = ")
            .text(old)
            .push(") RETURNING id");
        let mut tx = self.batch().await?;
        let moved = !tx.run(vec![revoke]).await?.is_empty();
        let mut insert = Sql::insert("tickets", TICKET_COLUMNS);
        insert.tuple(ticket_args(new));
        tx.finish(if moved { vec![insert] } else { Vec::new() })
            .await?;
        Ok(moved)
    }

    async fn admit(&self, scan: &CheckinRecord) -> StoreResult<Admission> {
        let mut mine = scan.clone();
        mine.admitted = true;
        let mut sql = checkin_insert(&mine);
        sql.push(" ON CONFLICT (ticket_id) WHERE admitted = 1 DO NOTHING");
        if self.execute(&sql).await? == 1 {
            return Ok(Admission::Admitted);
        }
        let earlier = self
            .admission_of(&scan.ticket_id)
            .await?
            .ok_or(StoreError::Conflict(Conflict::Unknown))?;
        let mut duplicate = scan.clone();
        duplicate.admitted = false;
        duplicate.result = ScanResult::AlreadyUsed;
        self.execute(&checkin_insert(&duplicate)).await?;
        Ok(Admission::Earlier(earlier))
    }

    async fn record_scan(&self, scan: &CheckinRecord) -> StoreResult<()> {
        let mut mine = scan.clone();
        mine.admitted = false;
        self.execute(&checkin_insert(&mine)).await.map(drop)
    }

    async fn merge_offline_scan(&self, scan: &CheckinRecord) -> StoreResult<Admission> {
        // An online admission may land between the read and the insert (PostgreSQL
        // reads without the write lock SQLite takes): the index refuses it, try again.
        let mut tries = 0;
        loop {
            tries += 1;
            match self.merge_once(scan).await {
                Err(StoreError::Conflict(_)) if tries < 5 => continue,
                other => return other,
            }
        }
    }

    async fn admissions_of_show(&self, show: ShowId) -> StoreResult<Vec<CheckinRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {CHECKIN_COLUMNS} FROM checkins WHERE admitted = 1 AND show_id = "
        ));
        sql.text(show).push(" ORDER BY ticket_id");
        self.all(&sql, checkin_from).await
    }

    async fn admission_of(&self, ticket: &str) -> StoreResult<Option<CheckinRecord>> {
        self.fetch_optional(&admission_query(ticket))
            .await?
            .as_ref()
            .map(checkin_from)
            .transpose()
    }

    async fn attendance(&self, show: ShowId) -> StoreResult<Vec<ZoneAttendance>> {
        let mut sql = Sql::new(
            "SELECT t.zone_id AS zone_id, \
             SUM(CASE WHEN t.status = 'valid' THEN 1 ELSE 0 END) AS valid, \
             SUM(CASE WHEN c.id IS NULL THEN 0 ELSE 1 END) AS checked_in \
             FROM tickets t LEFT JOIN checkins c ON c.ticket_id = t.id AND c.admitted = 1 \
             WHERE t.show_id = ",
        );
        sql.text(show)
            .push(" GROUP BY t.zone_id ORDER BY t.zone_id");
        self.all(&sql, |row| {
            Ok(ZoneAttendance {
                zone_id: get_id(row, "zone_id")?,
                valid: get_i64(row, "valid")?,
                checked_in: get_i64(row, "checked_in")?,
            })
        })
        .await
    }

    async fn insert_checkin_list(&self, list: &CheckinListRecord) -> StoreResult<()> {
        let zones = serde_json::to_string(&list.zone_ids).map_err(bad_row)?;
        self.insert_one(
            "checkin_lists",
            LIST_COLUMNS,
            vec![
                t(&list.id),
                t(list.show_id),
                t(&list.name),
                Arg::Text(zones),
                ts(list.created_at),
            ],
        )
        .await
    }

    async fn checkin_list(&self, id: &str) -> StoreResult<CheckinListRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {LIST_COLUMNS} FROM checkin_lists WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, list_from).await
    }

    async fn checkin_lists_of_show(&self, show: ShowId) -> StoreResult<Vec<CheckinListRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {LIST_COLUMNS} FROM checkin_lists WHERE show_id = "
        ));
        sql.text(show).push(" ORDER BY created_at, id");
        self.all(&sql, list_from).await
    }

    async fn transfers_allowed(&self, show: ShowId) -> StoreResult<bool> {
        let mut sql = Sql::new("SELECT transfers_allowed FROM ticket_policies WHERE show_id = ");
        sql.text(show);
        Ok(match self.fetch_optional(&sql).await? {
            Some(row) => get_i64(&row, "transfers_allowed")? != 0,
            None => true,
        })
    }

    async fn set_transfers_allowed(
        &self,
        show: ShowId,
        allowed: bool,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut sql = Sql::insert("ticket_policies", "show_id, transfers_allowed, updated_at");
        sql.tuple(vec![t(show), i(i64::from(allowed)), ts(at)])
            .push(
            " ON CONFLICT (show_id) DO UPDATE SET transfers_allowed = excluded.transfers_allowed, \
             updated_at = excluded.updated_at",
        );
        self.execute(&sql).await.map(drop)
    }
}
