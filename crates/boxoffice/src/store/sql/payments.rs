//! Payments in SQL. Each change is one transaction: the payment (or refund) row moves
//! only from a state that may become the new one, and only if it moved are the
//! ledger row, the booking step and the outbox events written with it.
use super::batch::Batch;
use super::bookings::{
    booking_from, event_args, status_list, transition_statement, BOOKING_COLUMNS, OUTBOX_COLUMNS,
};
use super::statement::{
    get_i64, get_id, get_money, get_opt_str, get_opt_ts, get_parsed, get_str, get_ts, get_u32, i,
    insert_statements, opt_text, opt_ts, t, ts, Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    BookingMoney, BookingRecord, BookingStep, Changed, Deadline, LedgerEntry, LedgerKind, Page,
    PaymentChange, PaymentOutcome, PaymentRecord, PaymentStore, PaymentWrite, RefundChange,
    RefundRecord, StoreError, StoreResult,
};
use async_trait::async_trait;
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::payment::{PaymentStatus, RefundPolicy, RefundReason, RefundStatus};
use boxoffice_domain::{BookingId, ShowId, Timestamp};
use sqlx::any::AnyRow;

pub(super) const PAYMENT_COLUMNS: &str = "id, booking_id, user_id, show_id, attempt, amount_minor, currency, payment_method, status, intent_id, failure_code, captured_at, created_at, updated_at";
const REFUND_COLUMNS: &str = "id, booking_id, payment_id, show_id, user_id, amount_minor, currency, percent, reason, status, requested_by, decided_by, gateway_refund_id, failure, created_at, updated_at";
const LEDGER_COLUMNS: &str =
    "id, booking_id, show_id, payment_id, refund_id, kind, amount_minor, currency, external_ref, at";

pub(super) fn payment_from(row: &AnyRow) -> StoreResult<PaymentRecord> {
    Ok(PaymentRecord {
        id: get_str(row, "id")?,
        booking_id: get_id(row, "booking_id")?,
        user_id: get_id(row, "user_id")?,
        show_id: get_id(row, "show_id")?,
        attempt: get_u32(row, "attempt")?,
        amount: get_money(row, "amount_minor")?,
        payment_method: get_str(row, "payment_method")?,
        status: get_parsed(row, "status", |s| {
            PaymentStatus::parse(s).ok_or_else(|| format!("payment status {s}"))
        })?,
        intent_id: get_opt_str(row, "intent_id")?,
        failure_code: get_opt_str(row, "failure_code")?,
        captured_at: get_opt_ts(row, "captured_at")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn payment_args(p: &PaymentRecord) -> Vec<Arg> {
    vec![
        t(&p.id),
        t(p.booking_id),
        t(p.user_id),
        t(p.show_id),
        i(p.attempt),
        i(p.amount.amount_minor),
        t(p.amount.currency),
        t(&p.payment_method),
        t(p.status.as_str()),
        opt_text(p.intent_id.as_ref()),
        opt_text(p.failure_code.as_ref()),
        opt_ts(p.captured_at),
        ts(p.created_at),
        ts(p.updated_at),
    ]
}

fn refund_from(row: &AnyRow) -> StoreResult<RefundRecord> {
    Ok(RefundRecord {
        id: get_str(row, "id")?,
        booking_id: get_id(row, "booking_id")?,
        payment_id: get_str(row, "payment_id")?,
        show_id: get_id(row, "show_id")?,
        user_id: get_id(row, "user_id")?,
        amount: get_money(row, "amount_minor")?,
        percent: u8::try_from(get_i64(row, "percent")?).map_err(super::statement::bad_row)?,
        reason: get_parsed(row, "reason", |s| {
            RefundReason::parse(s).ok_or_else(|| format!("refund reason {s}"))
        })?,
        status: get_parsed(row, "status", |s| {
            RefundStatus::parse(s).ok_or_else(|| format!("refund status {s}"))
        })?,
        requested_by: get_opt_str(row, "requested_by")?
            .map(|s| s.parse().map_err(super::statement::bad_row))
            .transpose()?,
        decided_by: get_opt_str(row, "decided_by")?
            .map(|s| s.parse().map_err(super::statement::bad_row))
            .transpose()?,
        gateway_refund_id: get_opt_str(row, "gateway_refund_id")?,
        failure: get_opt_str(row, "failure")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn refund_args(r: &RefundRecord) -> Vec<Arg> {
    vec![
        t(&r.id),
        t(r.booking_id),
        t(&r.payment_id),
        t(r.show_id),
        t(r.user_id),
        i(r.amount.amount_minor),
        t(r.amount.currency),
        i(r.percent),
        t(r.reason.as_str()),
        t(r.status.as_str()),
        opt_text(r.requested_by),
        opt_text(r.decided_by),
        opt_text(r.gateway_refund_id.as_ref()),
        opt_text(r.failure.as_ref()),
        ts(r.created_at),
        ts(r.updated_at),
    ]
}

fn ledger_from(row: &AnyRow) -> StoreResult<LedgerEntry> {
    Ok(LedgerEntry {
        id: get_str(row, "id")?,
        booking_id: get_id(row, "booking_id")?,
        show_id: get_id(row, "show_id")?,
        payment_id: get_str(row, "payment_id")?,
        refund_id: get_opt_str(row, "refund_id")?,
        kind: get_parsed(row, "kind", |s| {
            LedgerKind::parse(s).ok_or_else(|| format!("ledger kind {s}"))
        })?,
        amount: get_money(row, "amount_minor")?,
        external_ref: get_str(row, "external_ref")?,
        at: get_ts(row, "at")?,
    })
}

fn ledger_args(e: &LedgerEntry) -> Vec<Arg> {
    vec![
        t(&e.id),
        t(e.booking_id),
        t(e.show_id),
        t(&e.payment_id),
        opt_text(e.refund_id.as_ref()),
        t(e.kind.as_str()),
        i(e.amount.amount_minor),
        t(e.amount.currency),
        t(&e.external_ref),
        ts(e.at),
    ]
}

/// The rows that close the payment writes of one transaction (payment and refund
/// rows, ledger rows, outbox events), sent with its commit as one multi-row insert per
/// table however many writes the transaction holds.
#[derive(Default)]
pub(super) struct Closing {
    payments: Vec<Vec<Arg>>,
    refunds: Vec<Vec<Arg>>,
    ledger: Vec<Vec<Arg>>,
    outbox: Vec<Vec<Arg>>,
}

impl Closing {
    /// The inserts, parents first (a ledger row names its payment and refund); the
    /// events in the order they were added.
    pub(super) fn statements(self) -> Vec<Sql> {
        let mut all = insert_statements("payments", PAYMENT_COLUMNS, self.payments);
        all.extend(insert_statements("refunds", REFUND_COLUMNS, self.refunds));
        // Unless the same movement (kind, gateway id) is recorded.
        all.extend(
            insert_statements("ledger_entries", LEDGER_COLUMNS, self.ledger)
                .into_iter()
                .map(|mut sql| {
                    sql.push(" ON CONFLICT (kind, external_ref) DO NOTHING");
                    sql
                }),
        );
        all.extend(insert_statements("outbox", OUTBOX_COLUMNS, self.outbox));
        all
    }

    pub(super) fn payment(&mut self, p: &PaymentRecord) {
        self.payments.push(payment_args(p));
    }

    pub(super) fn ledger(&mut self, e: &LedgerEntry) {
        self.ledger.push(ledger_args(e));
    }

    /// An outbox event, with the trace context current where it is added.
    pub(super) fn event(
        &mut self,
        event_type: &str,
        aggregate: &str,
        payload: &serde_json::Value,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.outbox
            .push(event_args(event_type, aggregate, payload, at)?);
        Ok(())
    }

    /// What closes a change: its ledger row, the record's event, the booking's event.
    pub(super) fn change(
        &mut self,
        ledger: Option<&LedgerEntry>,
        event: Option<(&str, String, serde_json::Value)>,
        booking: Option<(&BookingRecord, BookingAction)>,
        at: Timestamp,
    ) -> StoreResult<()> {
        if let Some(l) = ledger {
            self.ledger(l);
        }
        if let Some((kind, aggregate, payload)) = event {
            self.event(kind, &aggregate, &payload, at)?;
        }
        if let Some((b, action)) = booking {
            let payload = serde_json::to_value(b).map_err(|e| StoreError::Other(e.into()))?;
            self.event(
                action.event_type(),
                &b.id.to_string(),
                &payload,
                b.updated_at,
            )?;
        }
        Ok(())
    }
}

pub(super) fn names<T: Copy>(items: &[T], name: fn(T) -> &'static str) -> String {
    // Closed sets of our own constants: safe to inline.
    items
        .iter()
        .map(|s| format!("'{}'", name(*s)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SqlStore {
    /// Runs the booking step inside an open batch; the booking if it applied.
    pub(super) async fn step(
        batch: &mut Batch,
        booking: BookingId,
        step: Option<BookingStep>,
    ) -> StoreResult<Option<BookingRecord>> {
        let Some(step) = step else { return Ok(None) };
        let Some(target) = step.action.target() else {
            return Ok(None);
        };
        let rows = batch
            .run(vec![transition_statement(
                0,
                step.action,
                target,
                step.deadline,
                &[(booking, step.at, None)],
            )])
            .await?;
        rows.first().map(booking_from).transpose()
    }
}

/// `SELECT columns FROM table WHERE column = value`, then `tail` (an `ORDER BY`).
fn select_by(columns: &str, table: &str, column: &str, value: impl ToString, tail: &str) -> Sql {
    let mut sql = Sql::new(&format!("SELECT {columns} FROM {table} WHERE {column} = "));
    sql.text(value).push(tail);
    sql
}

fn unexpected(outcome: PaymentOutcome) -> StoreError {
    StoreError::Other(anyhow::anyhow!("a payment write answered {outcome:?}"))
}

/// `UPDATE … SET status = to … WHERE id = … AND status IN (from) RETURNING …`.
fn move_statement(
    table: &'static str,
    id: &str,
    to: &str,
    from: &str,
    at: Timestamp,
    sets: impl FnOnce(&mut Sql),
    columns: &str,
) -> Sql {
    let mut upd = Sql::update(table);
    upd.push("status = ")
        .text(to)
        .push(", updated_at = ")
        .int(at.millis());
    sets(&mut upd);
    upd.push(" WHERE id = ").text(id);
    upd.push(&format!(" AND status IN ({from}) RETURNING {columns}"));
    upd
}

impl SqlStore {
    /// One payment write in a transaction of its own.
    async fn write_alone(&self, w: &PaymentWrite) -> StoreResult<PaymentOutcome> {
        let mut batch = self.batch().await?;
        batch.run(Vec::new()).await?;
        let mut closing = Closing::default();
        let outcome = Self::write_in(&mut batch, w, &mut closing).await?;
        batch.finish(closing.statements()).await?;
        Ok(outcome)
    }

    /// Applies `w` inside an open transaction: its conditional updates run now, the
    /// inserts that close it (payment or refund rows, ledger rows, outbox events) go
    /// to `closing`, to be sent with the commit.
    pub(super) async fn write_in(
        batch: &mut Batch,
        w: &PaymentWrite,
        closing: &mut Closing,
    ) -> StoreResult<PaymentOutcome> {
        match w {
            PaymentWrite::Start { payment, at } => {
                let action = BookingAction::StartPayment;
                let rows = batch
                    .run(vec![transition_statement(
                        0,
                        action,
                        BookingStatus::PaymentPending,
                        Deadline::NotPassed,
                        &[(payment.booking_id, *at, Some(payment.user_id))],
                    )])
                    .await?;
                let Some(booking) = rows.first().map(booking_from).transpose()? else {
                    return Ok(PaymentOutcome::Started(None));
                };
                closing.payment(payment);
                closing.change(None, None, Some((&booking, action)), *at)?;
                Ok(PaymentOutcome::Started(Some(booking)))
            }
            PaymentWrite::Processing {
                payment_id,
                intent_id,
                ledger,
                at,
            } => {
                let mut upd = Sql::update("payments");
                upd.push("status = ")
                    .text(PaymentStatus::Processing.as_str())
                    .push(", intent_id = ")
                    .text(intent_id)
                    .push(", updated_at = ")
                    .int(at.millis())
                    .push(" WHERE id = ")
                    .text(payment_id)
                    .push(" AND status = ")
                    .text(PaymentStatus::Pending.as_str());
                // Already past pending (a webhook overtook the answer): the intent id.
                let mut fill = Sql::update("payments");
                fill.push("intent_id = ")
                    .text(intent_id)
                    .push(" WHERE id = ")
                    .text(payment_id)
                    .push(" AND intent_id IS NULL");
                let read = select_by(PAYMENT_COLUMNS, "payments", "id", payment_id, "");
                let rows = batch.run(vec![upd, fill, read]).await?;
                let payment = rows
                    .last()
                    .map(payment_from)
                    .transpose()?
                    .ok_or(StoreError::NotFound)?;
                closing.ledger(ledger);
                Ok(PaymentOutcome::Processing(payment))
            }
            PaymentWrite::Change(c) => {
                let sources: Vec<PaymentStatus> = PaymentStatus::ALL
                    .into_iter()
                    .filter(|s| s.may_become(c.to))
                    .collect();
                let upd = move_statement(
                    "payments",
                    &c.payment_id,
                    c.to.as_str(),
                    &names(&sources, PaymentStatus::as_str),
                    c.at,
                    |upd| {
                        if let Some(intent) = &c.intent_id {
                            upd.push(", intent_id = COALESCE(intent_id, ")
                                .text(intent)
                                .push(")");
                        }
                        if let Some(at) = c.captured_at {
                            upd.push(", captured_at = ").int(at.millis());
                        }
                        if let Some(code) = &c.failure_code {
                            upd.push(", failure_code = ").text(code);
                        }
                    },
                    PAYMENT_COLUMNS,
                );
                let read = select_by(PAYMENT_COLUMNS, "payments", "id", &c.payment_id, "");
                let event = |p: &PaymentRecord| {
                    PaymentRecord::event_type(c.to).map(|k| (k, p.id.clone(), p.event_payload()))
                };
                let moved = Self::moved(
                    batch,
                    upd,
                    read,
                    payment_from,
                    |p| p.booking_id,
                    event,
                    c.ledger.as_ref(),
                    c.booking,
                    c.at,
                    closing,
                );
                Ok(PaymentOutcome::Changed(moved.await?))
            }
            PaymentWrite::InsertRefund(refund) => {
                closing.refunds.push(refund_args(refund));
                if let Some(kind) = RefundRecord::event_type(refund.status) {
                    closing.event(kind, &refund.id, &refund.event_payload(), refund.created_at)?;
                }
                Ok(PaymentOutcome::RefundInserted)
            }
            PaymentWrite::ChangeRefund(c) => {
                let upd = move_statement(
                    "refunds",
                    &c.refund_id,
                    c.to.as_str(),
                    &names(&c.from, RefundStatus::as_str),
                    c.at,
                    |upd| {
                        if let Some(by) = c.decided_by {
                            upd.push(", decided_by = ").text(by);
                        }
                        if let Some((amount, percent)) = c.amount {
                            upd.push(", amount_minor = ")
                                .int(amount)
                                .push(", percent = ")
                                .int(i64::from(percent));
                        }
                        if let Some(g) = &c.gateway_refund_id {
                            upd.push(", gateway_refund_id = COALESCE(gateway_refund_id, ")
                                .text(g)
                                .push(")");
                        }
                        if let Some(f) = &c.failure {
                            upd.push(", failure = ").text(f);
                        }
                    },
                    REFUND_COLUMNS,
                );
                let read = select_by(REFUND_COLUMNS, "refunds", "id", &c.refund_id, "");
                let event = |r: &RefundRecord| {
                    RefundRecord::event_type(c.to).map(|k| (k, r.id.clone(), r.event_payload()))
                };
                let moved = Self::moved(
                    batch,
                    upd,
                    read,
                    refund_from,
                    |r| r.booking_id,
                    event,
                    c.ledger.as_ref(),
                    c.booking,
                    c.at,
                    closing,
                );
                Ok(PaymentOutcome::RefundChanged(moved.await?))
            }
        }
    }

    /// Runs a conditional move (`upd`, returning the row if it moved). Unmoved: the
    /// record as it is (`read`). Moved: the booking step, then what closes the change
    /// (ledger row, the record's event, the booking's event) goes to `closing`.
    #[allow(clippy::too_many_arguments)]
    async fn moved<T>(
        batch: &mut Batch,
        upd: Sql,
        read: Sql,
        decode: fn(&AnyRow) -> StoreResult<T>,
        booking_of: fn(&T) -> BookingId,
        event: impl Fn(&T) -> Option<(&'static str, String, serde_json::Value)>,
        ledger: Option<&LedgerEntry>,
        step: Option<BookingStep>,
        at: Timestamp,
        closing: &mut Closing,
    ) -> StoreResult<Changed<T>> {
        let rows = batch.run(vec![upd]).await?;
        let Some(record) = rows.first().map(decode).transpose()? else {
            let rows = batch.run(vec![read]).await?;
            let record = rows
                .first()
                .map(decode)
                .transpose()?
                .ok_or(StoreError::NotFound)?;
            return Ok(Changed::unchanged(record));
        };
        let booking = Self::step(batch, booking_of(&record), step).await?;
        closing.change(
            ledger,
            event(&record),
            booking.as_ref().zip(step.map(|s| s.action)),
            at,
        )?;
        Ok(Changed {
            record,
            changed: true,
            booking,
        })
    }
}

#[async_trait]
impl PaymentStore for SqlStore {
    async fn start_payment(
        &self,
        payment: &PaymentRecord,
        at: Timestamp,
    ) -> StoreResult<Option<BookingRecord>> {
        match self
            .write_alone(&PaymentWrite::Start {
                payment: payment.clone(),
                at,
            })
            .await?
        {
            PaymentOutcome::Started(b) => Ok(b),
            other => Err(unexpected(other)),
        }
    }

    async fn payment_processing(
        &self,
        payment_id: &str,
        intent_id: &str,
        ledger: &LedgerEntry,
        at: Timestamp,
    ) -> StoreResult<PaymentRecord> {
        let w = PaymentWrite::Processing {
            payment_id: payment_id.into(),
            intent_id: intent_id.into(),
            ledger: ledger.clone(),
            at,
        };
        match self.write_alone(&w).await? {
            PaymentOutcome::Processing(p) => Ok(p),
            other => Err(unexpected(other)),
        }
    }

    async fn change_payment(&self, c: &PaymentChange) -> StoreResult<Changed<PaymentRecord>> {
        match self.write_alone(&PaymentWrite::Change(c.clone())).await? {
            PaymentOutcome::Changed(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    async fn insert_refund(&self, refund: &RefundRecord) -> StoreResult<()> {
        match self
            .write_alone(&PaymentWrite::InsertRefund(refund.clone()))
            .await?
        {
            PaymentOutcome::RefundInserted => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn change_refund(&self, c: &RefundChange) -> StoreResult<Changed<RefundRecord>> {
        match self
            .write_alone(&PaymentWrite::ChangeRefund(c.clone()))
            .await?
        {
            PaymentOutcome::RefundChanged(c) => Ok(c),
            other => Err(unexpected(other)),
        }
    }

    async fn payment(&self, id: &str) -> StoreResult<PaymentRecord> {
        let sql = select_by(PAYMENT_COLUMNS, "payments", "id", id, "");
        self.one(&sql, payment_from).await
    }

    async fn payment_by_intent(&self, intent_id: &str) -> StoreResult<PaymentRecord> {
        let sql = select_by(PAYMENT_COLUMNS, "payments", "intent_id", intent_id, "");
        self.one(&sql, payment_from).await
    }

    async fn payments_of(&self, booking: BookingId) -> StoreResult<Vec<PaymentRecord>> {
        let sql = select_by(
            PAYMENT_COLUMNS,
            "payments",
            "booking_id",
            booking,
            " ORDER BY attempt",
        );
        self.all(&sql, payment_from).await
    }

    async fn stale_payments(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status IN ('pending', 'processing') AND updated_at < "
        ));
        sql.int(before.millis())
            .push(" ORDER BY updated_at LIMIT ")
            .int(i64::from(limit));
        self.all(&sql, payment_from).await
    }

    async fn overdue_payment_holds(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<BookingRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE status IN ({}) AND expires_at <= ",
            status_list(&[BookingStatus::PaymentPending, BookingStatus::PaymentFailed])
        ));
        sql.int(now.millis())
            .push(" ORDER BY expires_at LIMIT ")
            .int(i64::from(limit));
        self.all(&sql, booking_from).await
    }

    async fn refund(&self, id: &str) -> StoreResult<RefundRecord> {
        let sql = select_by(REFUND_COLUMNS, "refunds", "id", id, "");
        self.one(&sql, refund_from).await
    }

    async fn refund_by_gateway_id(&self, gateway_id: &str) -> StoreResult<RefundRecord> {
        let sql = select_by(
            REFUND_COLUMNS,
            "refunds",
            "gateway_refund_id",
            gateway_id,
            "",
        );
        self.one(&sql, refund_from).await
    }

    async fn refunds_of(&self, booking: BookingId) -> StoreResult<Vec<RefundRecord>> {
        let sql = select_by(
            REFUND_COLUMNS,
            "refunds",
            "booking_id",
            booking,
            " ORDER BY created_at, id",
        );
        self.all(&sql, refund_from).await
    }

    async fn refunds_of_show(
        &self,
        show: ShowId,
        status: Option<RefundStatus>,
        page: Page,
    ) -> StoreResult<(Vec<RefundRecord>, i64)> {
        let filter = || {
            let mut w = Sql::new(" WHERE show_id = ");
            w.text(show);
            if let Some(s) = status {
                w.push(" AND status = ").text(s.as_str());
            }
            w
        };
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM refunds");
        count.append(filter());
        let total = self.count(&count).await?;
        let mut sql = Sql::new(&format!("SELECT {REFUND_COLUMNS} FROM refunds"));
        sql.append(filter())
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        Ok((self.all(&sql, refund_from).await?, total))
    }

    async fn stale_refunds(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<RefundRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE status IN ('processing', 'failed') AND updated_at < "
        ));
        sql.int(before.millis())
            .push(" ORDER BY updated_at LIMIT ")
            .int(i64::from(limit));
        self.all(&sql, refund_from).await
    }

    async fn show_money(&self, show: ShowId) -> StoreResult<Vec<BookingMoney>> {
        let cols = BOOKING_COLUMNS
            .split(", ")
            .map(|c| format!("b.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut sql = Sql::new(&format!(
            "SELECT {cols}, \
             CAST(COALESCE(SUM(CASE WHEN l.kind = 'capture' THEN l.amount_minor ELSE 0 END), 0) AS BIGINT) AS captured, \
             CAST(COALESCE(SUM(CASE WHEN l.kind = 'refund' THEN l.amount_minor ELSE 0 END), 0) AS BIGINT) AS refunded \
             FROM bookings b JOIN ledger_entries l ON l.booking_id = b.id WHERE b.show_id = "
        ));
        sql.text(show)
            .push(&format!(" GROUP BY {cols} ORDER BY b.id"));
        self.all(&sql, |row| {
            Ok(BookingMoney {
                booking: booking_from(row)?,
                captured_minor: get_i64(row, "captured")?,
                refunded_minor: get_i64(row, "refunded")?,
            })
        })
        .await
    }

    async fn ledger_of(&self, booking: BookingId) -> StoreResult<Vec<LedgerEntry>> {
        let sql = select_by(
            LEDGER_COLUMNS,
            "ledger_entries",
            "booking_id",
            booking,
            " ORDER BY at, id",
        );
        self.all(&sql, ledger_from).await
    }

    async fn refund_policy(&self, show: ShowId) -> StoreResult<Option<RefundPolicy>> {
        let mut sql = Sql::new("SELECT tiers FROM refund_policies WHERE show_id = ");
        sql.text(show);
        self.fetch_optional(&sql)
            .await?
            .map(|row| get_parsed(&row, "tiers", |s| serde_json::from_str::<RefundPolicy>(s)))
            .transpose()
    }

    async fn set_refund_policy(
        &self,
        show: ShowId,
        policy: &RefundPolicy,
        at: Timestamp,
    ) -> StoreResult<()> {
        let tiers = serde_json::to_string(policy).map_err(|e| StoreError::Other(e.into()))?;
        let mut sql = Sql::insert("refund_policies", "show_id, tiers, updated_at");
        sql.tuple(vec![t(show), Arg::Text(tiers), ts(at)]).push(
            " ON CONFLICT (show_id) DO UPDATE SET tiers = excluded.tiers, updated_at = excluded.updated_at",
        );
        self.execute(&sql).await.map(drop)
    }
}
