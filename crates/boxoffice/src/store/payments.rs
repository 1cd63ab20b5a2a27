//! Storage port of payments: attempts, refunds and the ledger. Every change of money
//! and the booking change it causes are written in one transaction with their outbox
//! events, so a crash between "charged" and "confirmed" cannot happen: both are
//! recorded or neither is.
use super::{BookingRecord, Deadline, Page, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::booking::BookingAction;
use boxoffice_domain::payment::{PaymentStatus, RefundPolicy, RefundReason, RefundStatus};
use boxoffice_domain::{BookingId, Money, ShowId, Timestamp, UserId};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PaymentRecord {
    pub id: String,
    pub booking_id: BookingId,
    pub user_id: UserId,
    pub show_id: ShowId,
    /// 1 for the first attempt on a booking, then 2, 3 … after declines.
    pub attempt: u32,
    pub amount: Money,
    pub payment_method: String,
    pub status: PaymentStatus,
    pub intent_id: Option<String>,
    pub failure_code: Option<String>,
    pub captured_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefundRecord {
    pub id: String,
    pub booking_id: BookingId,
    pub payment_id: String,
    pub show_id: ShowId,
    pub user_id: UserId,
    pub amount: Money,
    pub percent: u8,
    pub reason: RefundReason,
    pub status: RefundStatus,
    pub requested_by: Option<UserId>,
    pub decided_by: Option<UserId>,
    pub gateway_refund_id: Option<String>,
    pub failure: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// An intent was created for this amount (no money moved yet).
    Charge,
    /// The gateway captured the money.
    Capture,
    /// Money went back.
    Refund,
}

impl LedgerKind {
    pub const ALL: [LedgerKind; 3] = [LedgerKind::Charge, LedgerKind::Capture, LedgerKind::Refund];

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Charge => "charge",
            LedgerKind::Capture => "capture",
            LedgerKind::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerEntry {
    pub id: String,
    pub booking_id: BookingId,
    pub show_id: ShowId,
    pub payment_id: String,
    pub refund_id: Option<String>,
    pub kind: LedgerKind,
    pub amount: Money,
    /// The gateway's id of the intent or refund: unique per kind.
    pub external_ref: String,
    pub at: Timestamp,
}

/// A booking transition written together with a payment or refund change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookingStep {
    pub action: BookingAction,
    pub deadline: Deadline,
    /// The instant the deadline is judged at (a capture's time, for confirmation).
    pub at: Timestamp,
}

/// Moves a payment to `to` (only from a state that may become it) and, if it moved,
/// writes the ledger entry and tries the booking step, all in one transaction.
#[derive(Clone, Debug)]
pub struct PaymentChange {
    pub payment_id: String,
    pub to: PaymentStatus,
    pub at: Timestamp,
    pub intent_id: Option<String>,
    pub captured_at: Option<Timestamp>,
    pub failure_code: Option<String>,
    pub ledger: Option<LedgerEntry>,
    pub booking: Option<BookingStep>,
}

/// Moves a refund to `to` (only from `from`) with the same companions.
#[derive(Clone, Debug)]
pub struct RefundChange {
    pub refund_id: String,
    pub from: Vec<RefundStatus>,
    pub to: RefundStatus,
    pub at: Timestamp,
    pub decided_by: Option<UserId>,
    /// A new amount and share (set when an organizer approves).
    pub amount: Option<(i64, u8)>,
    pub gateway_refund_id: Option<String>,
    pub failure: Option<String>,
    pub ledger: Option<LedgerEntry>,
    pub booking: Option<BookingStep>,
}

/// What a change did.
#[derive(Clone, Debug)]
pub struct Changed<T> {
    /// The record after the change, or as it was when nothing changed.
    pub record: T,
    /// Whether the record moved (false: it already had moved on, e.g. a duplicate
    /// webhook).
    pub changed: bool,
    /// The booking after its step, when the step applied.
    pub booking: Option<BookingRecord>,
}

/// One payment write. The group-commit writer commits these in the same
/// transactions as holds and booking transitions (one flush for a batch of all of
/// them), applied in order after the batch's booking writes.
#[derive(Clone, Debug)]
pub enum PaymentWrite {
    /// See [`PaymentStore::start_payment`].
    Start {
        payment: PaymentRecord,
        at: Timestamp,
    },
    /// See [`PaymentStore::payment_processing`].
    Processing {
        payment_id: String,
        intent_id: String,
        ledger: LedgerEntry,
        at: Timestamp,
    },
    Change(PaymentChange),
    InsertRefund(RefundRecord),
    ChangeRefund(RefundChange),
}

/// What a [`PaymentWrite`] did, by kind.
#[derive(Clone, Debug)]
pub enum PaymentOutcome {
    Started(Option<BookingRecord>),
    Processing(PaymentRecord),
    Changed(Changed<PaymentRecord>),
    RefundInserted,
    RefundChanged(Changed<RefundRecord>),
}

impl<T> Changed<T> {
    /// A record that had already moved on.
    pub fn unchanged(record: T) -> Self {
        Self {
            record,
            changed: false,
            booking: None,
        }
    }
}

/// Money recorded per booking of a show, for the sales report and reconciliation.
#[derive(Clone, Debug)]
pub struct BookingMoney {
    pub booking: BookingRecord,
    pub captured_minor: i64,
    pub refunded_minor: i64,
}

#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Starts an attempt: moves the booking to `payment_pending` (before its
    /// deadline at `at`, for its owner) and inserts the payment, in one transaction.
    /// `None` when the booking could not start a payment.
    async fn start_payment(
        &self,
        payment: &PaymentRecord,
        at: Timestamp,
    ) -> StoreResult<Option<BookingRecord>>;
    /// Records the gateway's intent id and the `charge` ledger row, `pending` →
    /// `processing`.
    async fn payment_processing(
        &self,
        payment_id: &str,
        intent_id: &str,
        ledger: &LedgerEntry,
        at: Timestamp,
    ) -> StoreResult<PaymentRecord>;
    async fn change_payment(&self, change: &PaymentChange) -> StoreResult<Changed<PaymentRecord>>;
    async fn payment(&self, id: &str) -> StoreResult<PaymentRecord>;
    async fn payment_by_intent(&self, intent_id: &str) -> StoreResult<PaymentRecord>;
    /// Attempts of a booking, oldest first.
    async fn payments_of(&self, booking: BookingId) -> StoreResult<Vec<PaymentRecord>>;
    /// Attempts still `pending` (the gateway call's answer was lost) or `processing`
    /// (no webhook yet) last changed before `before`.
    async fn stale_payments(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentRecord>>;
    /// Holds with a payment open (`payment_pending`, `payment_failed`) whose deadline
    /// is at or before `now`.
    async fn overdue_payment_holds(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<BookingRecord>>;

    async fn insert_refund(&self, refund: &RefundRecord) -> StoreResult<()>;
    async fn change_refund(&self, change: &RefundChange) -> StoreResult<Changed<RefundRecord>>;
    async fn refund(&self, id: &str) -> StoreResult<RefundRecord>;
    async fn refund_by_gateway_id(&self, gateway_id: &str) -> StoreResult<RefundRecord>;
    async fn refunds_of(&self, booking: BookingId) -> StoreResult<Vec<RefundRecord>>;
    async fn refunds_of_show(
        &self,
        show: ShowId,
        status: Option<RefundStatus>,
        page: Page,
    ) -> StoreResult<(Vec<RefundRecord>, i64)>;
    /// Refunds in `processing` or `failed` last changed before `before` (to retry).
    async fn stale_refunds(&self, before: Timestamp, limit: u32) -> StoreResult<Vec<RefundRecord>>;

    /// Captured and refunded money per booking of a show (bookings with any payment).
    async fn show_money(&self, show: ShowId) -> StoreResult<Vec<BookingMoney>>;
    async fn ledger_of(&self, booking: BookingId) -> StoreResult<Vec<LedgerEntry>>;

    async fn refund_policy(&self, show: ShowId) -> StoreResult<Option<RefundPolicy>>;
    async fn set_refund_policy(
        &self,
        show: ShowId,
        policy: &RefundPolicy,
        at: Timestamp,
    ) -> StoreResult<()>;
}

impl PaymentRecord {
    /// The outbox payload of its events: flat, with what consumers route on.
    pub fn event_payload(&self) -> serde_json::Value {
        serde_json::json!({
            "payment_id": self.id,
            "booking_id": self.booking_id,
            "show_id": self.show_id,
            "user_id": self.user_id,
            "attempt": self.attempt,
            "amount_minor": self.amount.amount_minor,
            "currency": self.amount.currency,
            "status": self.status.as_str(),
            "failure_code": self.failure_code,
            "captured_at": self.captured_at.map(|t| t.millis()),
        })
    }

    /// The event written when a payment reaches `status`, if any.
    pub fn event_type(status: PaymentStatus) -> Option<&'static str> {
        match status {
            PaymentStatus::Succeeded => Some("payment.succeeded"),
            PaymentStatus::Failed => Some("payment.failed"),
            PaymentStatus::Cancelled => Some("payment.cancelled"),
            PaymentStatus::Pending | PaymentStatus::Processing => None,
        }
    }
}

impl RefundRecord {
    pub fn event_payload(&self) -> serde_json::Value {
        serde_json::json!({
            "refund_id": self.id,
            "payment_id": self.payment_id,
            "booking_id": self.booking_id,
            "show_id": self.show_id,
            "user_id": self.user_id,
            "amount_minor": self.amount.amount_minor,
            "currency": self.amount.currency,
            "percent": self.percent,
            "reason": self.reason.as_str(),
            "status": self.status.as_str(),
        })
    }

    pub fn event_type(status: RefundStatus) -> Option<&'static str> {
        match status {
            RefundStatus::Requested => Some("refund.requested"),
            RefundStatus::Succeeded => Some("refund.succeeded"),
            RefundStatus::Failed => Some("refund.failed"),
            RefundStatus::Rejected => Some("refund.rejected"),
            RefundStatus::Processing => None,
        }
    }
}
