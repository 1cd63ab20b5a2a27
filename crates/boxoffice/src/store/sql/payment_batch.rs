//! The payment writes of one group commit, applied set-based. One by one, each
//! checkout cost the writer two or three round trips to the database inside the
//! transaction, and a batch of 500 held every other write that long; here each kind of
//! write is a few statements for the whole batch, however many payments it carries.
//!
//! The writes of one batch were queued concurrently (none of their callers had an
//! answer yet), so any order among them is a valid one, and each is still a
//! conditional move from the states it may leave. A write naming a booking or payment
//! that another write of the batch already names, and the refund writes (rare, with
//! companions of their own), are applied one by one after the set-based ones.
use super::batch::Batch;
use super::bookings::{booking_from, qualified, transition_statement};
use super::payments::{names, payment_from, Closing, PAYMENT_COLUMNS};
use super::statement::{get_i64, opt_text, opt_ts, t, ts, Arg, Sql, CHUNK};
use super::SqlStore;
use crate::store::{
    BookingRecord, BookingStep, Changed, Deadline, LedgerEntry, PaymentChange, PaymentOutcome,
    PaymentRecord, PaymentWrite, StoreError, StoreResult,
};
use crate::telemetry::trace::{self, TraceContext};
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::payment::PaymentStatus;
use boxoffice_domain::{BookingId, Timestamp};
use std::collections::{HashMap, HashSet};

/// A payment started: the booking moves to `payment_pending`, the payment row is added.
struct Start<'a> {
    at: usize,
    payment: &'a PaymentRecord,
    when: Timestamp,
}

/// The provider's intent recorded on a pending payment.
struct Processing<'a> {
    at: usize,
    payment_id: &'a str,
    intent_id: &'a str,
    ledger: &'a LedgerEntry,
    when: Timestamp,
}

/// The writes of a batch, sorted by how they are applied.
#[derive(Default)]
struct Sorted<'a> {
    starts: Vec<Start<'a>>,
    processing: Vec<Processing<'a>>,
    changes: Vec<(usize, &'a PaymentChange)>,
    one_by_one: Vec<usize>,
}

fn sort<'a>(writes: &[(&'a PaymentWrite, Option<TraceContext>)]) -> Sorted<'a> {
    let mut sorted = Sorted::default();
    let mut named = HashSet::new();
    for (at, (w, _)) in writes.iter().enumerate() {
        match *w {
            PaymentWrite::Start { payment, at: when }
                if named.insert(("booking", payment.booking_id.to_string())) =>
            {
                sorted.starts.push(Start {
                    at,
                    payment,
                    when: *when,
                })
            }
            PaymentWrite::Processing {
                payment_id,
                intent_id,
                ledger,
                at: when,
            } if named.insert(("payment", payment_id.clone())) => {
                sorted.processing.push(Processing {
                    at,
                    payment_id,
                    intent_id,
                    ledger,
                    when: *when,
                })
            }
            PaymentWrite::Change(c) if named.insert(("payment", c.payment_id.clone())) => {
                sorted.changes.push((at, c))
            }
            _ => sorted.one_by_one.push(at),
        }
    }
    sorted
}

/// A kind of booking step: the action, its deadline rule, the state it leads to.
type StepKind = (BookingAction, Deadline, BookingStatus);
/// A booking to step, the instant judged against its deadline, and no owner check.
type StepRow = (BookingId, Timestamp, Option<boxoffice_domain::UserId>);

/// `SELECT columns FROM payments WHERE id IN (…)`, in chunks.
fn read_payments<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<Sql> {
    let ids: Vec<&str> = ids.collect();
    ids.chunks(CHUNK)
        .map(|chunk| {
            let mut sql = Sql::new(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE id IN "
            ));
            sql.tuple(chunk.iter().map(t).collect());
            sql
        })
        .collect()
}

fn payments_by_id(rows: &[sqlx::any::AnyRow]) -> StoreResult<HashMap<String, PaymentRecord>> {
    rows.iter()
        .map(|r| payment_from(r).map(|p| (p.id.clone(), p)))
        .collect()
}

impl SqlStore {
    /// Applies `writes` inside the open transaction of `batch`; what closes them goes
    /// to `closing`. The outcomes, in the order of `writes`.
    pub(super) async fn write_payments(
        batch: &mut Batch,
        writes: &[(&PaymentWrite, Option<TraceContext>)],
        closing: &mut Closing,
    ) -> StoreResult<Vec<PaymentOutcome>> {
        let mut outcomes: Vec<Option<PaymentOutcome>> = vec![None; writes.len()];
        let sorted = sort(writes);
        let trace_of = |n: usize| writes[n].1;
        Self::starts(batch, &sorted.starts, trace_of, closing, &mut outcomes).await?;
        Self::intents(batch, &sorted.processing, trace_of, closing, &mut outcomes).await?;
        Self::changes(batch, &sorted.changes, trace_of, closing, &mut outcomes).await?;
        for n in sorted.one_by_one {
            let outcome =
                trace::within_async(trace_of(n), Self::write_in(batch, writes[n].0, closing))
                    .await?;
            outcomes[n] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.ok_or_else(|| {
                    StoreError::Other(anyhow::anyhow!("a payment write was not applied"))
                })
            })
            .collect()
    }

    /// Every start in one `UPDATE bookings … FROM (VALUES …)`.
    async fn starts(
        batch: &mut Batch,
        starts: &[Start<'_>],
        trace_of: impl Fn(usize) -> Option<TraceContext>,
        closing: &mut Closing,
        outcomes: &mut [Option<PaymentOutcome>],
    ) -> StoreResult<()> {
        if starts.is_empty() {
            return Ok(());
        }
        let action = BookingAction::StartPayment;
        let rows: Vec<_> = starts
            .iter()
            .map(|s| (s.payment.booking_id, s.when, Some(s.payment.user_id)))
            .collect();
        let statements = rows
            .chunks(CHUNK)
            .map(|chunk| {
                transition_statement(
                    0,
                    action,
                    BookingStatus::PaymentPending,
                    Deadline::NotPassed,
                    chunk,
                )
            })
            .collect();
        let moved: HashMap<BookingId, BookingRecord> = batch
            .run(statements)
            .await?
            .iter()
            .map(|r| booking_from(r).map(|b| (b.id, b)))
            .collect::<StoreResult<_>>()?;
        for s in starts {
            let booking = moved.get(&s.payment.booking_id).cloned();
            if let Some(b) = &booking {
                trace::within(trace_of(s.at), || {
                    closing.payment(s.payment);
                    closing.change(None, None, Some((b, action)), s.when)
                })?;
            }
            outcomes[s.at] = Some(PaymentOutcome::Started(booking));
        }
        Ok(())
    }

    /// Every recorded intent in two updates (pending → processing; the intent id on
    /// those a webhook already moved on) and one read.
    async fn intents(
        batch: &mut Batch,
        all: &[Processing<'_>],
        trace_of: impl Fn(usize) -> Option<TraceContext>,
        closing: &mut Closing,
        outcomes: &mut [Option<PaymentOutcome>],
    ) -> StoreResult<()> {
        if all.is_empty() {
            return Ok(());
        }
        let columns = [("p_id", "TEXT"), ("p_intent", "TEXT"), ("p_at", "BIGINT")];
        let mut statements = Vec::new();
        for chunk in all.chunks(CHUNK) {
            let rows: Vec<Vec<Arg>> = chunk
                .iter()
                .map(|p| vec![t(p.payment_id), t(p.intent_id), ts(p.when)])
                .collect();
            let mut upd = Sql::with_values(&columns, rows.iter().cloned());
            upd.append(Sql::update("payments"));
            upd.push(&format!(
                "status = '{}', intent_id = v.p_intent, updated_at = v.p_at FROM v WHERE id = v.p_id AND status = '{}'",
                PaymentStatus::Processing.as_str(),
                PaymentStatus::Pending.as_str()
            ));
            // Already past pending (a webhook overtook the answer): the intent id.
            let mut fill = Sql::with_values(&columns, rows);
            fill.append(Sql::update("payments"));
            fill.push("intent_id = v.p_intent FROM v WHERE id = v.p_id AND intent_id IS NULL");
            statements.push(upd);
            statements.push(fill);
        }
        statements.extend(read_payments(all.iter().map(|p| p.payment_id)));
        let read = payments_by_id(&batch.run(statements).await?)?;
        for p in all {
            let payment = read
                .get(p.payment_id)
                .cloned()
                .ok_or(StoreError::NotFound)?;
            trace::within(trace_of(p.at), || closing.ledger(p.ledger));
            outcomes[p.at] = Some(PaymentOutcome::Processing(payment));
        }
        Ok(())
    }

    /// Every payment change in one update per target state, the booking steps of
    /// those that moved in one update per kind of step, and one read of those that
    /// had already moved on.
    async fn changes(
        batch: &mut Batch,
        changes: &[(usize, &PaymentChange)],
        trace_of: impl Fn(usize) -> Option<TraceContext>,
        closing: &mut Closing,
        outcomes: &mut [Option<PaymentOutcome>],
    ) -> StoreResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut targets: Vec<PaymentStatus> = Vec::new();
        for (_, c) in changes {
            if !targets.contains(&c.to) {
                targets.push(c.to);
            }
        }
        let columns = [
            ("p_id", "TEXT"),
            ("p_at", "BIGINT"),
            ("p_intent", "TEXT"),
            ("p_captured", "BIGINT"),
            ("p_failure", "TEXT"),
        ];
        let mut statements = Vec::new();
        for to in targets {
            let sources: Vec<PaymentStatus> = PaymentStatus::ALL
                .into_iter()
                .filter(|s| s.may_become(to))
                .collect();
            let rows: Vec<Vec<Arg>> = changes
                .iter()
                .filter(|(_, c)| c.to == to)
                .map(|(_, c)| {
                    vec![
                        t(&c.payment_id),
                        ts(c.at),
                        opt_text(c.intent_id.as_ref()),
                        opt_ts(c.captured_at),
                        opt_text(c.failure_code.as_ref()),
                    ]
                })
                .collect();
            for chunk in rows.chunks(CHUNK) {
                let mut upd = Sql::with_values(&columns, chunk.iter().cloned());
                upd.append(Sql::update("payments"));
                upd.push(&format!(
                    "status = '{}', updated_at = v.p_at, \
                     intent_id = COALESCE(intent_id, v.p_intent), \
                     captured_at = COALESCE(v.p_captured, captured_at), \
                     failure_code = COALESCE(v.p_failure, failure_code) \
                     FROM v WHERE id = v.p_id AND status IN ({}) RETURNING {}",
                    to.as_str(),
                    names(&sources, PaymentStatus::as_str),
                    qualified("payments", PAYMENT_COLUMNS)
                ));
                statements.push(upd);
            }
        }
        let moved = payments_by_id(&batch.run(statements).await?)?;
        let unmoved: Vec<&str> = changes
            .iter()
            .map(|(_, c)| c.payment_id.as_str())
            .filter(|id| !moved.contains_key(*id))
            .collect();
        let as_is = if unmoved.is_empty() {
            HashMap::new()
        } else {
            payments_by_id(&batch.run(read_payments(unmoved.into_iter())).await?)?
        };
        let steps = Self::steps(batch, changes, &moved).await?;
        for (n, c) in changes {
            let changed = match moved.get(&c.payment_id) {
                Some(record) => {
                    let booking = steps.get(&c.payment_id).cloned();
                    trace::within(trace_of(*n), || {
                        let event = PaymentRecord::event_type(c.to)
                            .map(|k| (k, record.id.clone(), record.event_payload()));
                        closing.change(
                            c.ledger.as_ref(),
                            event,
                            booking.as_ref().zip(c.booking.map(|s| s.action)),
                            c.at,
                        )
                    })?;
                    Changed {
                        record: record.clone(),
                        changed: true,
                        booking,
                    }
                }
                None => Changed::unchanged(
                    as_is
                        .get(&c.payment_id)
                        .cloned()
                        .ok_or(StoreError::NotFound)?,
                ),
            };
            outcomes[*n] = Some(PaymentOutcome::Changed(changed));
        }
        Ok(())
    }

    /// The booking steps of the payments that moved, by payment id: the booking after
    /// its step, where the step applied. One update per kind of step; a booking named
    /// by two payments of the batch has the second step tried after the first.
    async fn steps(
        batch: &mut Batch,
        changes: &[(usize, &PaymentChange)],
        moved: &HashMap<String, PaymentRecord>,
    ) -> StoreResult<HashMap<String, BookingRecord>> {
        let mut groups: Vec<(StepKind, Vec<StepRow>, Vec<String>)> = Vec::new();
        let mut later: Vec<(String, BookingId, BookingStep)> = Vec::new();
        let mut stepped = HashSet::new();
        for (_, c) in changes {
            let (Some(payment), Some(step)) = (moved.get(&c.payment_id), c.booking) else {
                continue;
            };
            let Some(target) = step.action.target() else {
                continue;
            };
            if !stepped.insert(payment.booking_id) {
                later.push((c.payment_id.clone(), payment.booking_id, step));
                continue;
            }
            let kind = (step.action, step.deadline, target);
            let row = (payment.booking_id, step.at, None);
            match groups.iter_mut().find(|(k, _, _)| *k == kind) {
                Some((_, rows, ids)) => {
                    rows.push(row);
                    ids.push(c.payment_id.clone());
                }
                None => groups.push((kind, vec![row], vec![c.payment_id.clone()])),
            }
        }
        let mut statements = Vec::new();
        for (group, ((action, deadline, target), rows, _)) in groups.iter().enumerate() {
            for chunk in rows.chunks(CHUNK) {
                statements.push(transition_statement(
                    group, *action, *target, *deadline, chunk,
                ));
            }
        }
        let mut applied: HashMap<(usize, BookingId), BookingRecord> = HashMap::new();
        for row in &batch.run(statements).await? {
            let group =
                usize::try_from(get_i64(row, "batch_group")?).map_err(super::statement::bad_row)?;
            let booking = booking_from(row)?;
            applied.insert((group, booking.id), booking);
        }
        let mut by_payment = HashMap::new();
        for (group, (_, rows, ids)) in groups.iter().enumerate() {
            for ((booking, _, _), id) in rows.iter().zip(ids) {
                if let Some(b) = applied.remove(&(group, *booking)) {
                    by_payment.insert(id.clone(), b);
                }
            }
        }
        for (id, booking, step) in later {
            if let Some(b) = Self::step(batch, booking, Some(step)).await? {
                by_payment.insert(id, b);
            }
        }
        Ok(by_payment)
    }
}
