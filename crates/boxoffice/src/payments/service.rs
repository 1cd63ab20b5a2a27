//! The checkout saga: hold → payment_pending → confirmed, or back to a held hold the
//! buyer may pay again, or released (and refunded when money arrived too late).
//!
//! Every step is a conditional write: a payment moves only from a state that may
//! become the new one, and a booking only from the states its action starts from. So
//! a webhook, its duplicate, the resolver's lookup and a retried request can all run
//! at once: exactly one of them changes the record, and only that one moves the
//! live counters or starts a refund. The gateway's capture time decides the race
//! with the hold's deadline, never the order in which we hear about it.
use super::gateway::{
    DynGateway, GatewayError, GatewayEvent, GatewayEventKind, GatewayRefund, GatewayRefundStatus,
    Intent, IntentRequest, IntentStatus, RefundRequest,
};
use super::settle::Settlements;
use super::views::{
    parse_payment_method, ApproveRefund, BookingPayments, CheckoutRequest, CheckoutView,
    LedgerMismatch, LedgerView, PaymentView, RefundPolicyInput, RefundPolicyView, RefundTierView,
    RefundView, Revenue,
};
use crate::accounts::Principal;
use crate::booking::BookingService;
use crate::booking::Writer;
use crate::catalog::ShowCache;
use crate::clock::DynClock;
use crate::error::{ConflictKind, Error, OrNotFound, Result};
use crate::inventory::{DynInventory, Hold};
use crate::organizations::Access;
use crate::store::{
    BookingRecord, BookingStep, BookingWrite, Changed, Deadline, DynStore, LedgerEntry, LedgerKind,
    Page, PaymentChange, PaymentOutcome, PaymentRecord, PaymentWrite, RefundChange, RefundRecord,
    StoreError, WriteOutcome,
};
use crate::timefmt::rfc3339;
use boxoffice_domain::booking::{BookingAction, BookingStatus};
use boxoffice_domain::organization::Permission;
use boxoffice_domain::payment::{
    PaymentStatus, RefundPolicy, RefundReason, RefundStatus, RefundTier,
};
use boxoffice_domain::{BookingId, Money, ShowId, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// Timing of the saga's own decisions.
#[derive(Clone, Copy, Debug)]
pub struct SagaTiming {
    /// How long a hold whose payment is in flight may outlive its deadline while the
    /// gateway cannot be reached; then it is released, and a later capture follows
    /// the late-payment policy.
    pub grace: Duration,
    /// An attempt whose creation got no answer is retried (with its key) after this.
    pub retry_after: Duration,
    /// How long a re-taken late payment's tickets are held while it is confirmed.
    pub late_hold: Duration,
}

impl Default for SagaTiming {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(120),
            retry_after: Duration::from_secs(5),
            late_hold: Duration::from_secs(60),
        }
    }
}

pub struct PaymentService {
    store: DynStore,
    /// Payment writes share the bookings' group commit: one flush for a batch of
    /// holds, transitions and payment changes.
    writer: Writer,
    /// `None`: no online payment (`payments.gateway = "none"`).
    gateway: Option<DynGateway>,
    bookings: Arc<BookingService>,
    inventory: DynInventory,
    cache: Arc<ShowCache>,
    access: Arc<Access>,
    clock: DynClock,
    timing: SagaTiming,
    /// Checkouts waiting in this process for their payment's outcome.
    settlements: Arc<Settlements>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What a booking costs: the sum over its items, recorded with it.
fn total_of(b: &BookingRecord) -> Result<Money> {
    Ok(b.total)
}

fn unexpected(what: &dyn std::fmt::Debug) -> Error {
    Error::Internal(anyhow::anyhow!(
        "the writer answered {what:?} to a payment write"
    ))
}

fn gateway_failure(e: GatewayError) -> Error {
    match e {
        GatewayError::Unavailable { retry_after } => Error::PaymentUnavailable {
            retry_after_secs: retry_after.as_secs().max(1),
        },
        other => Error::Unavailable(format!("{other}; retry with the same Idempotency-Key")),
    }
}

impl PaymentService {
    /// Whether the gateway answers; `None` without online payment (readiness).
    pub async fn probe_gateway(&self) -> Option<Result<(), GatewayError>> {
        match &self.gateway {
            Some(g) => Some(g.probe().await),
            None => None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: DynStore,
        writer: Writer,
        gateway: Option<DynGateway>,
        bookings: Arc<BookingService>,
        inventory: DynInventory,
        cache: Arc<ShowCache>,
        access: Arc<Access>,
        clock: DynClock,
        timing: SagaTiming,
    ) -> Self {
        Self {
            store,
            writer,
            gateway,
            bookings,
            inventory,
            cache,
            access,
            clock,
            timing,
            settlements: Arc::default(),
        }
    }

    async fn write(&self, w: PaymentWrite) -> Result<PaymentOutcome> {
        match self
            .writer
            .submit(BookingWrite::Payment(Box::new(w)))
            .await?
        {
            WriteOutcome::Payment(o) => Ok(*o),
            other => Err(unexpected(&other)),
        }
    }

    async fn change(&self, c: PaymentChange) -> Result<Changed<PaymentRecord>> {
        match self.write(PaymentWrite::Change(c)).await? {
            PaymentOutcome::Changed(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    async fn change_refund(&self, c: RefundChange) -> Result<Changed<RefundRecord>> {
        match self.write(PaymentWrite::ChangeRefund(c)).await? {
            PaymentOutcome::RefundChanged(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    async fn insert_refund(&self, refund: &RefundRecord) -> Result<()> {
        self.write(PaymentWrite::InsertRefund(refund.clone()))
            .await
            .map(drop)
    }

    pub fn enabled(&self) -> bool {
        self.gateway.is_some()
    }

    /// Where the configured gateway signs its webhooks.
    pub fn signature_header(&self) -> &'static str {
        self.gateway
            .as_ref()
            .map_or("paysim-signature", |g| g.signature_header())
    }

    fn gateway(&self) -> Result<&DynGateway> {
        self.gateway.as_ref().ok_or_else(|| {
            Error::conflict(
                ConflictKind::InvalidState,
                "online payment is not enabled on this platform; confirm the booking instead",
            )
        })
    }

    async fn owned(&self, who: &Principal, id: BookingId) -> Result<BookingRecord> {
        let booking = self.store.booking(id).await.or_not_found("booking")?;
        if !who.acts_for(booking.user_id) {
            return Err(Error::Forbidden("this booking belongs to another account"));
        }
        Ok(booking)
    }

    /// Starts (or retries) paying for a hold. Free tickets are confirmed at once.
    /// With `wait`, answers once the provider's result has landed (or `wait` ran out).
    #[tracing::instrument(name = "payments.checkout", skip_all)]
    pub async fn checkout(
        &self,
        who: Principal,
        id: BookingId,
        req: CheckoutRequest,
        wait: Option<Duration>,
    ) -> Result<CheckoutView> {
        let payment_method = parse_payment_method(&req.payment_method)
            .map_err(|m| Error::field("payment_method", m))?;
        let booking = self.owned(&who, id).await?;
        let total = total_of(&booking)?;
        if total.amount_minor == 0 {
            let booking = self.bookings.confirm(who, id).await?;
            return Ok(CheckoutView {
                booking,
                payment: None,
            });
        }
        let gateway = self.gateway()?.clone();
        let now = self.clock.now();
        self.check_payable(&booking, now)?;
        let attempt = self.store.payments_of(id).await?.len() as u32 + 1;
        let payment = PaymentRecord {
            id: new_id(),
            booking_id: id,
            user_id: booking.user_id,
            show_id: booking.show_id,
            attempt,
            amount: total,
            payment_method,
            status: PaymentStatus::Pending,
            intent_id: None,
            failure_code: None,
            captured_at: None,
            created_at: now,
            updated_at: now,
        };
        let started = match self
            .write(PaymentWrite::Start {
                payment: payment.clone(),
                at: now,
            })
            .await?
        {
            PaymentOutcome::Started(b) => b,
            other => return Err(unexpected(&other)),
        };
        if started.is_none() {
            let current = self.owned(&who, id).await?;
            self.check_payable(&current, now)?;
            return Err(Error::conflict(
                ConflictKind::PaymentInProgress,
                "another payment of this booking started at the same time",
            ));
        }
        let watch = wait.map(|_| self.settlements.watch(id));
        let payment = match self.create_intent(&gateway, &payment).await {
            Ok(p) => p,
            Err(e @ GatewayError::Unavailable { .. }) | Err(e @ GatewayError::Rejected(_)) => {
                let code = match &e {
                    GatewayError::Rejected(_) => "rejected",
                    _ => "gateway_unavailable",
                };
                self.fail_attempt(&payment, code).await?;
                if let GatewayError::Rejected(why) = e {
                    tracing::warn!(payment = %payment.id, reason = %why, "gateway refused a payment");
                    return Err(Error::field(
                        "payment_method",
                        "was refused by the payment provider",
                    ));
                }
                return Err(gateway_failure(e));
            }
            // No answer: the attempt stays pending and is looked up with its key.
            Err(e) => {
                tracing::warn!(payment = %payment.id, error = %e, "payment creation unanswered; will retry with its key");
                payment
            }
        };
        let mut booking = self.store.booking(id).await.or_not_found("booking")?;
        if let (Some(watch), Some(wait)) = (watch, wait) {
            let until = tokio::time::Instant::now() + wait;
            while booking.status == BookingStatus::PaymentPending
                && watch
                    .wait(until.saturating_duration_since(tokio::time::Instant::now()))
                    .await
            {
                booking = self.store.booking(id).await.or_not_found("booking")?;
            }
        }
        Ok(CheckoutView {
            booking: (&booking).into(),
            payment: Some((&self.store.payment(&payment.id).await?).into()),
        })
    }

    /// Why `booking` cannot start a payment now, if it cannot.
    fn check_payable(&self, booking: &BookingRecord, now: Timestamp) -> Result<()> {
        match booking.status {
            BookingStatus::PaymentPending => Err(Error::conflict(
                ConflictKind::PaymentInProgress,
                "a payment of this booking is with the payment provider; wait for its result",
            )),
            BookingStatus::Held | BookingStatus::PaymentFailed if booking.expires_at > now => {
                Ok(())
            }
            BookingStatus::Held | BookingStatus::PaymentFailed | BookingStatus::Expired => {
                Err(Error::conflict(
                    ConflictKind::HoldExpired,
                    format!("the hold expired at {}", rfc3339(booking.expires_at)),
                ))
            }
            other => Err(Error::conflict(
                ConflictKind::InvalidState,
                format!("a {} booking cannot be paid", other.as_str()),
            )),
        }
    }

    /// Asks the gateway for the attempt's intent, retrying a lost answer with the
    /// same key; records it as processing and acts on an immediate result.
    async fn create_intent(
        &self,
        gateway: &DynGateway,
        payment: &PaymentRecord,
    ) -> std::result::Result<PaymentRecord, GatewayError> {
        let req = IntentRequest {
            idempotency_key: format!("pay-{}", payment.id),
            amount_minor: payment.amount.amount_minor,
            currency: payment.amount.currency,
            payment_method: payment.payment_method.clone(),
            booking: payment.booking_id,
            payment: payment.id.clone(),
        };
        let mut delay = Duration::from_millis(50);
        let mut tries = 0;
        let intent = loop {
            tries += 1;
            match gateway.create_intent(&req).await {
                Ok(intent) => break intent,
                Err(e)
                    if e.is_retryable()
                        && tries < 3
                        && !matches!(e, GatewayError::Unavailable { .. }) =>
                {
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(e) => return Err(e),
            }
        };
        let ledger = LedgerEntry {
            id: new_id(),
            booking_id: payment.booking_id,
            show_id: payment.show_id,
            payment_id: payment.id.clone(),
            refund_id: None,
            kind: LedgerKind::Charge,
            amount: payment.amount,
            external_ref: intent.id.clone(),
            at: self.clock.now(),
        };
        let recorded = match self
            .write(PaymentWrite::Processing {
                payment_id: payment.id.clone(),
                intent_id: intent.id.clone(),
                ledger,
                at: self.clock.now(),
            })
            .await
        {
            Ok(PaymentOutcome::Processing(p)) => p,
            Ok(other) => {
                return Err(GatewayError::Transport(format!(
                    "recording the intent: {other:?}"
                )))
            }
            Err(e) => {
                return Err(GatewayError::Transport(format!(
                    "recording the intent: {e}"
                )))
            }
        };
        if intent.status != IntentStatus::Processing {
            if let Err(e) = self.apply_intent(&intent).await {
                tracing::error!(payment = %payment.id, error = %e, "could not apply an immediate payment result");
            }
        }
        Ok(recorded)
    }

    /// Ends an attempt that never reached the gateway (or was refused by it); the
    /// hold stays so the buyer can try again.
    async fn fail_attempt(&self, payment: &PaymentRecord, code: &str) -> Result<()> {
        let now = self.clock.now();
        self.change(PaymentChange {
            payment_id: payment.id.clone(),
            to: PaymentStatus::Failed,
            at: now,
            intent_id: None,
            captured_at: None,
            failure_code: Some(code.into()),
            ledger: None,
            booking: Some(BookingStep {
                action: BookingAction::FailPayment,
                deadline: Deadline::Any,
                at: now,
            }),
        })
        .await?;
        Ok(())
    }

    /// A verified gateway webhook. Duplicates are acknowledged and do nothing.
    pub async fn handle_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<&'static str> {
        let gateway = self.gateway()?;
        let event: GatewayEvent = gateway
            .verify_webhook(signature, body, self.clock.now())
            .map_err(|e| {
                tracing::warn!(reason = %e, bytes = body.len(), "refused a payment webhook");
                // The signature is the provider's credential: without a valid one the
                // sender is not known to be the provider.
                Error::Unauthorized(
                    "the payment provider's signature is missing, malformed, stale or wrong",
                )
            })?;
        // Duplicates and reordered deliveries need no bookkeeping of their own: every
        // change they cause is conditional on the state it moves from, so the second
        // delivery of an event finds nothing left to change.
        let handled = match &event.kind {
            GatewayEventKind::Intent(intent) => self.apply_intent(intent).await,
            GatewayEventKind::Refund(refund) => self.apply_refund_result(refund).await,
            GatewayEventKind::Other(kind) => {
                tracing::debug!(kind = %kind, "ignored a payment webhook");
                return Ok("ignored");
            }
        };
        if let Err(e) = handled {
            // Not handled: the gateway's retry tries again.
            if let Error::NotFound(what) = e {
                tracing::warn!(event = %event.id, what, "payment webhook for an unknown record");
            }
            return Err(e);
        }
        Ok("processed")
    }

    /// Acts on the gateway's view of an intent (webhook, lookup or create answer).
    pub async fn apply_intent(&self, intent: &Intent) -> Result<()> {
        let payment = match self.store.payment(&intent.payment).await {
            Ok(p) => p,
            Err(StoreError::NotFound) => self
                .store
                .payment_by_intent(&intent.id)
                .await
                .or_not_found("payment")?,
            Err(e) => return Err(e.into()),
        };
        if payment
            .intent_id
            .as_deref()
            .is_some_and(|id| id != intent.id)
        {
            return Err(Error::NotFound("payment"));
        }
        if intent.status == IntentStatus::Processing {
            return Ok(());
        }
        let applied = self.apply_result(&payment, intent).await;
        self.settlements.settled(payment.booking_id);
        applied
    }

    /// A final answer of the provider about `payment`.
    async fn apply_result(&self, payment: &PaymentRecord, intent: &Intent) -> Result<()> {
        let now = self.clock.now();
        let target = match intent.status {
            IntentStatus::Succeeded => PaymentStatus::Succeeded,
            IntentStatus::Failed => PaymentStatus::Failed,
            IntentStatus::Cancelled => PaymentStatus::Cancelled,
            IntentStatus::Processing => return Ok(()),
        };
        if payment.status == target {
            // A repeated answer: whoever moved the payment did the rest.
            return Ok(());
        }
        match intent.status {
            IntentStatus::Processing => Ok(()),
            IntentStatus::Succeeded => self.captured(payment, intent).await,
            IntentStatus::Failed | IntentStatus::Cancelled => {
                let (to, step) = if intent.status == IntentStatus::Failed {
                    (
                        PaymentStatus::Failed,
                        (BookingAction::FailPayment, Deadline::Any),
                    )
                } else {
                    (
                        PaymentStatus::Cancelled,
                        (BookingAction::AbandonPayment, Deadline::Passed),
                    )
                };
                // Only the newest attempt speaks for the booking.
                let latest = self.is_latest(payment).await?;
                let changed = self
                    .change(PaymentChange {
                        payment_id: payment.id.clone(),
                        to,
                        at: now,
                        intent_id: Some(intent.id.clone()),
                        captured_at: None,
                        failure_code: intent.failure_code.clone(),
                        ledger: None,
                        booking: latest.then_some(BookingStep {
                            action: step.0,
                            deadline: step.1,
                            at: now,
                        }),
                    })
                    .await?;
                if let Some(b) = changed.booking.filter(|_| step.0.releases()) {
                    self.release(&b).await;
                }
                Ok(())
            }
        }
    }

    async fn is_latest(&self, payment: &PaymentRecord) -> Result<bool> {
        let all = self.store.payments_of(payment.booking_id).await?;
        Ok(all.iter().map(|p| p.attempt).max() == Some(payment.attempt))
    }

    /// Money was taken. Confirms the hold if the capture beat its deadline; else the
    /// late-payment policy decides.
    async fn captured(&self, payment: &PaymentRecord, intent: &Intent) -> Result<()> {
        let now = self.clock.now();
        let captured_at = intent.captured_at.unwrap_or(now);
        let changed = self
            .change(PaymentChange {
                payment_id: payment.id.clone(),
                to: PaymentStatus::Succeeded,
                at: now,
                intent_id: Some(intent.id.clone()),
                captured_at: Some(captured_at),
                failure_code: None,
                ledger: Some(LedgerEntry {
                    id: new_id(),
                    booking_id: payment.booking_id,
                    show_id: payment.show_id,
                    payment_id: payment.id.clone(),
                    refund_id: None,
                    kind: LedgerKind::Capture,
                    amount: Money {
                        amount_minor: intent.amount_minor,
                        currency: intent.currency,
                    },
                    external_ref: intent.id.clone(),
                    at: captured_at,
                }),
                booking: Some(BookingStep {
                    action: BookingAction::Confirm,
                    deadline: Deadline::NotPassed,
                    at: captured_at,
                }),
            })
            .await?;
        if !changed.changed {
            return Ok(()); // a duplicate: whoever changed it did the rest
        }
        let payment = changed.record;
        if let Some(b) = changed.booking {
            if let Err(e) = self.inventory.confirm(&Hold::from(&b)).await {
                tracing::error!(booking = %b.id, error = %e, "counters refused a paid confirmation");
            }
            return Ok(());
        }
        let booking = self.store.booking(payment.booking_id).await?;
        match booking.status {
            // Another attempt of the same booking was captured first.
            BookingStatus::Confirmed
            | BookingStatus::Refunded
            | BookingStatus::PartiallyRefunded => {
                tracing::warn!(booking = %booking.id, payment = %payment.id, "second capture for one booking; refunding it");
                self.refund_in_full(&payment, RefundReason::Duplicate).await
            }
            // Captured after the deadline while the hold still stood: released and
            // refunded, never both sold and back on sale.
            BookingStatus::Held | BookingStatus::PaymentPending | BookingStatus::PaymentFailed => {
                let action = if booking.status == BookingStatus::PaymentPending {
                    BookingAction::AbandonPayment
                } else {
                    BookingAction::Expire
                };
                if let Some(b) = self
                    .bookings
                    .apply(booking.id, action, Deadline::Passed, now)
                    .await?
                {
                    self.release(&b).await;
                }
                self.refund_in_full(&payment, RefundReason::LatePayment)
                    .await
            }
            BookingStatus::Expired | BookingStatus::Cancelled => {
                self.late(&booking, &payment).await
            }
        }
    }

    /// The late-payment policy: the hold had already ended when the money came. If
    /// the same tickets can be taken again atomically the sale stands; otherwise the
    /// money goes back, and the buyer hears of either.
    async fn late(&self, booking: &BookingRecord, payment: &PaymentRecord) -> Result<()> {
        let now = self.clock.now();
        let limit = self
            .cache
            .get(booking.show_id)
            .map(|s| s.show.details.per_user_limit)
            .unwrap_or(booking.quantity);
        let hold = Hold {
            booking: booking.id,
            show: booking.show_id,
            zone: booking.zone_id,
            buyer: booking.user_id,
            quantity: booking.quantity,
            expires_at: now.plus_secs(self.timing.late_hold.as_secs() as i64),
        };
        // The same zones and the same seats, or nothing.
        let retaken = match self.bookings.selections_of(booking).await? {
            Some(items) => self
                .inventory
                .reserve_items(&hold, &items, limit)
                .await
                .ok(),
            None => None,
        };
        if let Some((_, grant)) = retaken {
            let applied = self
                .bookings
                .apply(booking.id, BookingAction::ConfirmLate, Deadline::Any, now)
                .await;
            // Recorded (or not): a rebuild may read the store from here on.
            drop(grant);
            match applied {
                Ok(Some(_)) => {
                    if let Err(e) = self.inventory.confirm(&hold).await {
                        tracing::error!(booking = %booking.id, error = %e, "counters refused a late confirmation");
                    }
                    tracing::info!(booking = %booking.id, "late payment confirmed: the tickets were still available");
                    return Ok(());
                }
                other => {
                    if let Err(e) = self.inventory.release(&hold).await {
                        tracing::error!(booking = %booking.id, error = %e, "could not release a late re-take");
                    }
                    other?;
                }
            }
        }
        tracing::info!(booking = %booking.id, "late payment refunded: the tickets are gone");
        self.refund_in_full(payment, RefundReason::LatePayment)
            .await
    }

    async fn release(&self, b: &BookingRecord) {
        if let Err(e) = self.inventory.release(&Hold::from(b)).await {
            tracing::error!(booking = %b.id, error = %e, "counters refused a release");
        }
    }

    /// Refunds a whole captured payment that bought nothing (late or duplicate).
    async fn refund_in_full(&self, payment: &PaymentRecord, reason: RefundReason) -> Result<()> {
        let now = self.clock.now();
        let refund = RefundRecord {
            id: new_id(),
            booking_id: payment.booking_id,
            payment_id: payment.id.clone(),
            show_id: payment.show_id,
            user_id: payment.user_id,
            amount: payment.amount,
            percent: 100,
            reason,
            status: RefundStatus::Processing,
            requested_by: None,
            decided_by: None,
            gateway_refund_id: None,
            failure: None,
            created_at: now,
            updated_at: now,
        };
        self.insert_refund(&refund).await?;
        self.execute_refund(&refund).await
    }

    /// Sends a processing refund to the gateway (again, with its key, after a lost
    /// answer) and records what it says.
    async fn execute_refund(&self, refund: &RefundRecord) -> Result<()> {
        if refund.amount.amount_minor == 0 {
            return self.refund_done(refund, None).await;
        }
        let gateway = self.gateway()?;
        let payment = self.store.payment(&refund.payment_id).await?;
        let Some(intent_id) = payment.intent_id.clone() else {
            return Err(Error::Internal(anyhow::anyhow!(
                "refund {} of a payment without an intent",
                refund.id
            )));
        };
        let answer = gateway
            .refund(&RefundRequest {
                idempotency_key: format!("refund-{}", refund.id),
                intent_id,
                amount_minor: refund.amount.amount_minor,
            })
            .await;
        match answer {
            Ok(r) => self.apply_refund_answer(refund, &r).await,
            Err(e) if e.is_retryable() => {
                tracing::warn!(refund = %refund.id, error = %e, "refund unanswered; will retry with its key");
                Ok(())
            }
            Err(e) => {
                self.change_refund(RefundChange {
                    failure: Some(e.to_string()),
                    ..self.refund_move(refund, RefundStatus::Failed)
                })
                .await?;
                Ok(())
            }
        }
    }

    fn refund_move(&self, refund: &RefundRecord, to: RefundStatus) -> RefundChange {
        RefundChange {
            refund_id: refund.id.clone(),
            from: vec![RefundStatus::Processing, RefundStatus::Failed],
            to,
            at: self.clock.now(),
            decided_by: None,
            amount: None,
            gateway_refund_id: None,
            failure: None,
            ledger: None,
            booking: None,
        }
    }

    async fn apply_refund_answer(&self, refund: &RefundRecord, r: &GatewayRefund) -> Result<()> {
        match r.status {
            GatewayRefundStatus::Succeeded => self.refund_done(refund, Some(&r.id)).await,
            GatewayRefundStatus::Pending => {
                self.change_refund(RefundChange {
                    from: vec![RefundStatus::Processing],
                    gateway_refund_id: Some(r.id.clone()),
                    ..self.refund_move(refund, RefundStatus::Processing)
                })
                .await?;
                Ok(())
            }
            GatewayRefundStatus::Failed => {
                self.change_refund(RefundChange {
                    gateway_refund_id: Some(r.id.clone()),
                    failure: Some("refused by the payment provider".into()),
                    ..self.refund_move(refund, RefundStatus::Failed)
                })
                .await?;
                Ok(())
            }
        }
    }

    /// A refund webhook.
    async fn apply_refund_result(&self, r: &GatewayRefund) -> Result<()> {
        let refund = self
            .store
            .refund_by_gateway_id(&r.id)
            .await
            .or_not_found("refund")?;
        self.apply_refund_answer(&refund, r).await
    }

    /// The money went back: ledger row, and for a buyer's refund the booking leaves
    /// the sale and its tickets go back on sale.
    async fn refund_done(&self, refund: &RefundRecord, gateway_id: Option<&str>) -> Result<()> {
        let now = self.clock.now();
        let step = (refund.reason == RefundReason::Requested).then_some(BookingStep {
            action: if refund.percent >= 100 {
                BookingAction::Refund
            } else {
                BookingAction::RefundPartially
            },
            deadline: Deadline::Any,
            at: now,
        });
        let ledger = gateway_id.map(|g| LedgerEntry {
            id: new_id(),
            booking_id: refund.booking_id,
            show_id: refund.show_id,
            payment_id: refund.payment_id.clone(),
            refund_id: Some(refund.id.clone()),
            kind: LedgerKind::Refund,
            amount: refund.amount,
            external_ref: g.to_string(),
            at: now,
        });
        let changed = self
            .change_refund(RefundChange {
                gateway_refund_id: gateway_id.map(str::to_string),
                ledger,
                booking: step,
                ..self.refund_move(refund, RefundStatus::Succeeded)
            })
            .await?;
        if let Some(b) = changed.booking {
            if let Err(e) = self.inventory.return_sold(&Hold::from(&b)).await {
                tracing::error!(booking = %b.id, error = %e, "counters refused a refund");
            }
        }
        Ok(())
    }

    /// A buyer asks for their money back: within the show's policy it is executed at
    /// once; outside it, it waits for the organizer.
    pub async fn request_refund(&self, who: Principal, id: BookingId) -> Result<RefundView> {
        let booking = self.owned(&who, id).await?;
        if booking.status != BookingStatus::Confirmed {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                format!("a {} booking cannot be refunded", booking.status.as_str()),
            ));
        }
        let refunds = self.store.refunds_of(id).await?;
        if let Some(open) = refunds.iter().find(|r| {
            r.reason == RefundReason::Requested
                && matches!(
                    r.status,
                    RefundStatus::Requested | RefundStatus::Processing | RefundStatus::Failed
                )
        }) {
            return Ok(open.into());
        }
        let payment = self
            .store
            .payments_of(id)
            .await?
            .into_iter()
            .find(|p| p.status == PaymentStatus::Succeeded)
            .ok_or_else(|| {
                Error::conflict(
                    ConflictKind::InvalidState,
                    "this booking was not paid online; nothing to refund",
                )
            })?;
        let show = self
            .cache
            .get(booking.show_id)
            .ok_or(Error::NotFound("show"))?;
        let policy = self.policy_of(booking.show_id).await?;
        let now = self.clock.now();
        let before = (show.show.details.starts_at.millis() - now.millis()) / 1000;
        let percent = policy.percent_at(before);
        let refund = RefundRecord {
            id: new_id(),
            booking_id: id,
            payment_id: payment.id.clone(),
            show_id: booking.show_id,
            user_id: booking.user_id,
            amount: Money {
                amount_minor: RefundPolicy::share(payment.amount.amount_minor, percent),
                currency: payment.amount.currency,
            },
            percent,
            reason: RefundReason::Requested,
            status: if percent > 0 {
                RefundStatus::Processing
            } else {
                RefundStatus::Requested
            },
            requested_by: Some(who.user),
            decided_by: None,
            gateway_refund_id: None,
            failure: None,
            created_at: now,
            updated_at: now,
        };
        self.insert_refund(&refund).await?;
        if refund.status == RefundStatus::Processing {
            self.execute_refund(&refund).await?;
        }
        Ok((&self.store.refund(&refund.id).await?).into())
    }

    async fn refund_for_organizer(&self, who: &Principal, id: &str) -> Result<RefundRecord> {
        let refund = self.store.refund(id).await.or_not_found("refund")?;
        let show = self
            .cache
            .get(refund.show_id)
            .ok_or(Error::NotFound("refund"))?;
        self.access
            .require(who, show.organization_id, Permission::ManageRefunds)
            .await?;
        Ok(refund)
    }

    /// An organizer (or admin) grants a refund outside the policy.
    pub async fn approve_refund(
        &self,
        who: Principal,
        id: &str,
        body: ApproveRefund,
    ) -> Result<RefundView> {
        let refund = self.refund_for_organizer(&who, id).await?;
        let percent = match body.percent {
            None => 100,
            Some(p) if (0..=100).contains(&p) => p as u8,
            Some(_) => return Err(Error::field("percent", "must be between 0 and 100")),
        };
        let payment = self.store.payment(&refund.payment_id).await?;
        let changed = self
            .change_refund(RefundChange {
                from: vec![RefundStatus::Requested],
                decided_by: Some(who.user),
                amount: Some((
                    RefundPolicy::share(payment.amount.amount_minor, percent),
                    percent,
                )),
                ..self.refund_move(&refund, RefundStatus::Processing)
            })
            .await?;
        if !changed.changed {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                format!(
                    "a {} refund cannot be approved",
                    changed.record.status.as_str()
                ),
            ));
        }
        self.execute_refund(&changed.record).await?;
        Ok((&self.store.refund(id).await?).into())
    }

    pub async fn reject_refund(&self, who: Principal, id: &str) -> Result<RefundView> {
        let refund = self.refund_for_organizer(&who, id).await?;
        let changed = self
            .change_refund(RefundChange {
                from: vec![RefundStatus::Requested],
                decided_by: Some(who.user),
                ..self.refund_move(&refund, RefundStatus::Rejected)
            })
            .await?;
        if !changed.changed {
            return Err(Error::conflict(
                ConflictKind::InvalidState,
                format!(
                    "a {} refund cannot be rejected",
                    changed.record.status.as_str()
                ),
            ));
        }
        Ok((&changed.record).into())
    }

    pub async fn show_refunds(
        &self,
        who: Principal,
        show: ShowId,
        status: Option<RefundStatus>,
        page: Page,
    ) -> Result<(Vec<RefundView>, i64)> {
        let meta = self.cache.get(show).ok_or(Error::NotFound("show"))?;
        self.access
            .require(&who, meta.organization_id, Permission::ViewSales)
            .await?;
        let (items, total) = self.store.refunds_of_show(show, status, page).await?;
        Ok((items.iter().map(RefundView::from).collect(), total))
    }

    /// Attempts, refunds and ledger rows of one booking (its buyer, admins).
    pub async fn of_booking(&self, who: Principal, id: BookingId) -> Result<BookingPayments> {
        let booking = self.owned(&who, id).await?;
        Ok(BookingPayments {
            booking: self.bookings.view(&booking).await?,
            payments: self
                .store
                .payments_of(id)
                .await?
                .iter()
                .map(PaymentView::from)
                .collect(),
            refunds: self
                .store
                .refunds_of(id)
                .await?
                .iter()
                .map(RefundView::from)
                .collect(),
            ledger: self
                .store
                .ledger_of(id)
                .await?
                .iter()
                .map(LedgerView::from)
                .collect(),
        })
    }

    async fn policy_of(&self, show: ShowId) -> Result<RefundPolicy> {
        Ok(self.store.refund_policy(show).await?.unwrap_or_default())
    }

    pub async fn refund_policy(&self, show: ShowId) -> Result<RefundPolicyView> {
        self.cache.get(show).ok_or(Error::NotFound("show"))?;
        let own = self.store.refund_policy(show).await?;
        let default = own.is_none();
        Ok(policy_view(&own.unwrap_or_default(), default))
    }

    pub async fn set_refund_policy(
        &self,
        who: Principal,
        show: ShowId,
        body: RefundPolicyInput,
    ) -> Result<RefundPolicyView> {
        let meta = self.cache.get(show).ok_or(Error::NotFound("show"))?;
        self.access
            .require(&who, meta.organization_id, Permission::ManageRefunds)
            .await?;
        let mut tiers = Vec::with_capacity(body.tiers.len());
        for (n, t) in body.tiers.iter().enumerate() {
            let hours = u32::try_from(t.min_hours_before)
                .ok()
                .filter(|h| *h <= 8784)
                .ok_or_else(|| {
                    Error::field(
                        &format!("tiers[{n}].min_hours_before"),
                        "must be between 0 and 8784",
                    )
                })?;
            let percent = u8::try_from(t.percent)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| {
                    Error::field(&format!("tiers[{n}].percent"), "must be between 0 and 100")
                })?;
            tiers.push(RefundTier {
                min_hours_before: hours,
                percent,
            });
        }
        let policy = RefundPolicy::parse(tiers).map_err(|m| Error::field("tiers", m))?;
        self.store
            .set_refund_policy(show, &policy, self.clock.now())
            .await?;
        Ok(policy_view(&policy, false))
    }

    /// Revenue of a show by the ledger, checked booking by booking: a confirmed sale
    /// keeps its total, a refunded one its price less the refund, anything else
    /// keeps nothing (what was captured must have gone back).
    /// A show's sales report with its revenue by the ledger (who may read it is the
    /// sales report's rule).
    pub async fn sales(&self, who: Principal, show: ShowId) -> Result<crate::booking::SalesReport> {
        let mut report = self.bookings.sales(who, show).await?;
        report.revenue = self.revenue(show).await?;
        Ok(report)
    }

    pub async fn revenue(&self, show: ShowId) -> Result<Revenue> {
        let mut out = Revenue::default();
        for m in self.store.show_money(show).await? {
            out.captured_minor += m.captured_minor;
            out.refunded_minor += m.refunded_minor;
            out.bookings_with_money += 1;
            let expected = match m.booking.status {
                BookingStatus::Confirmed => Some(total_of(&m.booking)?.amount_minor),
                BookingStatus::Refunded => Some(0),
                // The kept share depends on the policy applied: captured less refunds
                // must stay positive and below the total.
                BookingStatus::PartiallyRefunded => None,
                _ => Some(0),
            };
            let net = m.captured_minor - m.refunded_minor;
            let ok = match expected {
                Some(e) => net == e,
                None => net > 0 && net <= total_of(&m.booking)?.amount_minor,
            };
            // Money still on its way back (a refund in flight) is not a mismatch yet.
            let settling = !ok && self.refund_in_flight(m.booking.id).await?;
            if !ok && !settling {
                out.mismatches.push(LedgerMismatch {
                    booking_id: m.booking.id,
                    status: m.booking.status.as_str().into(),
                    captured_minor: m.captured_minor,
                    refunded_minor: m.refunded_minor,
                    expected_net_minor: expected.unwrap_or(net),
                });
            }
        }
        out.net_minor = out.captured_minor - out.refunded_minor;
        Ok(out)
    }

    async fn refund_in_flight(&self, booking: BookingId) -> Result<bool> {
        Ok(self.store.refunds_of(booking).await?.iter().any(|r| {
            matches!(
                r.status,
                RefundStatus::Processing | RefundStatus::Failed | RefundStatus::Requested
            )
        }))
    }

    /// One pass of the resolver: lost gateway answers, holds past their deadline
    /// with a payment open, refunds without a result. Returns how many it touched.
    pub async fn resolve(&self, max: u32) -> Result<usize> {
        let Some(gateway) = self.gateway.clone() else {
            return Ok(0);
        };
        let now = self.clock.now();
        let before =
            Timestamp::from_millis(now.millis() - self.timing.retry_after.as_millis() as i64);
        let mut touched = 0;
        for payment in self.store.stale_payments(before, max).await? {
            touched += 1;
            if let Err(e) = self.settle_stale(&gateway, &payment, now).await {
                tracing::debug!(payment = %payment.id, error = %e, "payment still unsettled");
            }
        }
        for booking in self.store.overdue_payment_holds(now, max).await? {
            touched += 1;
            if let Err(e) = self.resolve_overdue(&gateway, &booking, now).await {
                tracing::warn!(booking = %booking.id, error = %e, "could not resolve an overdue payment yet");
            }
        }
        for refund in self.store.stale_refunds(before, max).await? {
            touched += 1;
            if let Err(e) = self.execute_refund(&refund).await {
                tracing::warn!(refund = %refund.id, error = %e, "refund retry failed");
            }
        }
        Ok(touched)
    }

    /// An attempt the gateway has not settled with us: a creation whose answer was
    /// lost is sent again with its key; a processing intent whose webhook is late
    /// or lost is looked up.
    async fn settle_stale(
        &self,
        gateway: &DynGateway,
        payment: &PaymentRecord,
        now: Timestamp,
    ) -> Result<()> {
        match (&payment.intent_id, payment.status) {
            (Some(intent), PaymentStatus::Processing) => {
                let intent = gateway
                    .retrieve_intent(intent)
                    .await
                    .map_err(gateway_failure)?;
                self.apply_intent(&intent).await
            }
            _ => match self.create_intent(gateway, payment).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let booking = self.store.booking(payment.booking_id).await?;
                    if self.past_grace(&booking, now) {
                        tracing::warn!(payment = %payment.id, error = %e, "giving up on an unanswered payment");
                        self.give_up(payment, &booking).await
                    } else {
                        Err(gateway_failure(e))
                    }
                }
            },
        }
    }

    fn past_grace(&self, booking: &BookingRecord, now: Timestamp) -> bool {
        now.millis() >= booking.expires_at.millis() + self.timing.grace.as_millis() as i64
    }

    /// Ends an attempt nobody could settle in time; the hold lapses.
    async fn give_up(&self, payment: &PaymentRecord, booking: &BookingRecord) -> Result<()> {
        let now = self.clock.now();
        let latest = self.is_latest(payment).await?;
        let changed = self
            .change(PaymentChange {
                payment_id: payment.id.clone(),
                to: PaymentStatus::Failed,
                at: now,
                intent_id: None,
                captured_at: None,
                failure_code: Some("gateway_timeout".into()),
                ledger: None,
                booking: latest.then_some(BookingStep {
                    action: BookingAction::AbandonPayment,
                    deadline: Deadline::Passed,
                    at: now,
                }),
            })
            .await?;
        if let Some(b) = changed.booking {
            self.release(&b).await;
        } else if booking.status == BookingStatus::PaymentPending {
            self.abandon(booking.id, now).await?;
        }
        Ok(())
    }

    async fn abandon(&self, id: BookingId, now: Timestamp) -> Result<()> {
        if let Some(b) = self
            .bookings
            .apply(id, BookingAction::AbandonPayment, Deadline::Passed, now)
            .await?
        {
            self.release(&b).await;
        }
        Ok(())
    }

    /// A hold past its deadline with a payment open: the gateway says whether the
    /// money was captured in time; a processing intent is cancelled first.
    async fn resolve_overdue(
        &self,
        gateway: &DynGateway,
        booking: &BookingRecord,
        now: Timestamp,
    ) -> Result<()> {
        if booking.status == BookingStatus::PaymentFailed {
            if let Some(b) = self
                .bookings
                .apply(booking.id, BookingAction::Expire, Deadline::Passed, now)
                .await?
            {
                self.release(&b).await;
            }
            return Ok(());
        }
        let payments = self.store.payments_of(booking.id).await?;
        let Some(payment) = payments.last() else {
            return self.abandon(booking.id, now).await;
        };
        let Some(intent_id) = payment.intent_id.clone() else {
            // Creation unanswered: the stale-payment pass owns it until the grace ends.
            if self.past_grace(booking, now) {
                self.give_up(payment, booking).await?;
            }
            return Ok(());
        };
        let looked_up = match gateway.retrieve_intent(&intent_id).await {
            Ok(i) if i.status == IntentStatus::Processing => {
                gateway
                    .cancel_intent(&intent_id, &format!("cancel-{}", payment.id))
                    .await
            }
            other => other,
        };
        match looked_up {
            Ok(intent) => self.apply_intent(&intent).await,
            Err(e) if self.past_grace(booking, now) => {
                tracing::warn!(booking = %booking.id, error = %e, "gateway unreachable past the grace period; releasing the hold");
                self.abandon(booking.id, now).await
            }
            Err(e) => Err(gateway_failure(e)),
        }
    }
}

fn policy_view(p: &RefundPolicy, default: bool) -> RefundPolicyView {
    RefundPolicyView {
        tiers: p
            .tiers
            .iter()
            .map(|t| RefundTierView {
                min_hours_before: t.min_hours_before,
                percent: t.percent,
            })
            .collect(),
        default,
    }
}
