//! What the payments API shows and accepts. Kept apart from the saga so the
//! service reads as the sequence of steps it is.
use crate::booking::BookingView;
use crate::store::{LedgerEntry, PaymentRecord, RefundRecord};
use crate::timefmt::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"payment_method": "pm_card_visa"}))]
pub struct CheckoutRequest {
    /// What the buyer pays with, as the payment provider names it (test cards of the
    /// simulator: `pm_card_visa`, `pm_card_ok`, `pm_card_declined`).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_]+$")]
    pub payment_method: String,
}

/// What `payment_method` accepts, as the schema states it.
pub fn parse_payment_method(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("may contain only letters, digits and underscores".into());
    }
    Ok(raw.to_owned())
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PaymentView {
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub booking_id: boxoffice_domain::BookingId,
    /// 1 for the first attempt, then one more per retry after a failure.
    pub attempt: u32,
    #[schema(schema_with = crate::http::contract::payment_status)]
    pub status: String,
    pub amount_minor: i64,
    #[schema(schema_with = crate::http::contract::currency)]
    pub currency: String,
    pub payment_method: String,
    /// Why the attempt failed, in the provider's words (`card_declined`).
    pub failure_code: Option<String>,
    #[schema(schema_with = crate::http::contract::date_time_or_null)]
    pub captured_at: Option<String>,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub updated_at: String,
}

impl From<&PaymentRecord> for PaymentView {
    fn from(p: &PaymentRecord) -> Self {
        Self {
            id: p.id.clone(),
            booking_id: p.booking_id,
            attempt: p.attempt,
            status: p.status.as_str().into(),
            amount_minor: p.amount.amount_minor,
            currency: p.amount.currency.to_string(),
            payment_method: p.payment_method.clone(),
            failure_code: p.failure_code.clone(),
            captured_at: p.captured_at.map(rfc3339),
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// A booking after checkout started, with the attempt that started.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckoutView {
    pub booking: BookingView,
    /// The attempt; absent for free tickets, which are confirmed at once.
    pub payment: Option<PaymentView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub id: String,
    #[schema(value_type = String, format = Uuid)]
    pub booking_id: boxoffice_domain::BookingId,
    pub payment_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub show_id: boxoffice_domain::ShowId,
    pub amount_minor: i64,
    #[schema(schema_with = crate::http::contract::currency)]
    pub currency: String,
    /// Share of the price returned.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    #[schema(schema_with = crate::http::contract::refund_reason)]
    pub reason: String,
    #[schema(schema_with = crate::http::contract::refund_status)]
    pub status: String,
    pub failure: Option<String>,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub created_at: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub updated_at: String,
}

impl From<&RefundRecord> for RefundView {
    fn from(r: &RefundRecord) -> Self {
        Self {
            id: r.id.clone(),
            booking_id: r.booking_id,
            payment_id: r.payment_id.clone(),
            show_id: r.show_id,
            amount_minor: r.amount.amount_minor,
            currency: r.amount.currency.to_string(),
            percent: r.percent,
            reason: r.reason.as_str().into(),
            status: r.status.as_str().into(),
            failure: r.failure.clone(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerView {
    pub id: String,
    pub payment_id: String,
    pub refund_id: Option<String>,
    /// `charge` (an intent was made), `capture` (money taken), `refund` (money back).
    #[schema(schema_with = crate::http::contract::ledger_kind)]
    pub kind: String,
    pub amount_minor: i64,
    #[schema(schema_with = crate::http::contract::currency)]
    pub currency: String,
    /// The provider's id of what moved.
    pub external_ref: String,
    #[schema(schema_with = crate::http::contract::date_time)]
    pub at: String,
}

impl From<&LedgerEntry> for LedgerView {
    fn from(e: &LedgerEntry) -> Self {
        Self {
            id: e.id.clone(),
            payment_id: e.payment_id.clone(),
            refund_id: e.refund_id.clone(),
            kind: e.kind.as_str().into(),
            amount_minor: e.amount.amount_minor,
            currency: e.amount.currency.to_string(),
            external_ref: e.external_ref.clone(),
            at: rfc3339(e.at),
        }
    }
}

/// Everything money-related about one booking.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BookingPayments {
    pub booking: BookingView,
    pub payments: Vec<PaymentView>,
    pub refunds: Vec<RefundView>,
    pub ledger: Vec<LedgerView>,
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"percent": 100}))]
pub struct ApproveRefund {
    /// Share of the price to return; 100 when absent.
    #[serde(default, deserialize_with = "crate::http::extract::integer::opt_i64")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 100)]
    pub percent: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RefundTierView {
    /// At least this many hours before the show starts.
    #[schema(minimum = 0, maximum = 8784)]
    pub min_hours_before: u32,
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
}

/// A show's refund policy: the first tier whose hours a request meets applies;
/// none: 0 %, and the request waits for an organizer's approval.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"tiers": [{"min_hours_before": 168, "percent": 100}, {"min_hours_before": 48, "percent": 50}], "default": true}))]
pub struct RefundPolicyView {
    pub tiers: Vec<RefundTierView>,
    /// Whether this is the platform's default (the show has none of its own).
    pub default: bool,
}

/// One tier as sent: whole numbers (`48` or `48.0`), checked against the bounds with
/// the field named.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundTierInput {
    /// At least this many hours before the show starts.
    #[serde(deserialize_with = "crate::http::extract::integer::i64")]
    #[schema(minimum = 0, maximum = 8784)]
    pub min_hours_before: i64,
    /// Share of the price returned.
    #[serde(deserialize_with = "crate::http::extract::integer::i64")]
    #[schema(minimum = 0, maximum = 100)]
    pub percent: i64,
}

/// A show's new refund policy: tiers from furthest to closest to the show, with
/// fewer hours and no larger share each.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tiers": [{"min_hours_before": 168, "percent": 100}, {"min_hours_before": 48, "percent": 50}]}))]
pub struct RefundPolicyInput {
    #[schema(max_items = 10)]
    pub tiers: Vec<RefundTierInput>,
}

/// Revenue of a show by the ledger, and the check of the ledger against bookings.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Revenue {
    /// Money captured, in minor units (every currency of the show's zones summed;
    /// zones of a show share one currency in practice).
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub net_minor: i64,
    /// Bookings with any ledger row.
    pub bookings_with_money: u32,
    /// Bookings whose money does not match their state (see `mismatches`).
    pub mismatches: Vec<LedgerMismatch>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LedgerMismatch {
    #[schema(value_type = String, format = Uuid)]
    pub booking_id: boxoffice_domain::BookingId,
    #[schema(schema_with = crate::http::contract::booking_status)]
    pub status: String,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    /// What the booking's state says should be kept.
    pub expected_net_minor: i64,
}
