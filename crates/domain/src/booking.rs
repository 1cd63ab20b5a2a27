//! The booking life cycle. A hold either becomes a sale or returns its tickets to the
//! pool; this module is the single place that says which moves are legal.
use serde::{Deserialize, Serialize};

/// Tickets one reserve request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(u32);

impl Quantity {
    /// 1 up to the show's per-buyer limit.
    pub fn parse(raw: i64, per_user_limit: u32) -> Result<Self, String> {
        if raw < 1 {
            return Err("must be at least 1".into());
        }
        if raw > i64::from(per_user_limit) {
            return Err(format!(
                "must be at most {per_user_limit}, the per-buyer limit of this show"
            ));
        }
        Ok(Self(
            u32::try_from(raw).map_err(|_| "is too large".to_string())?,
        ))
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    /// Tickets are taken from sale until `expires_at`.
    Held,
    /// A payment attempt is with the gateway; the hold is kept until it answers.
    PaymentPending,
    /// The last payment attempt failed; the tickets stay held until the deadline so
    /// the buyer can try again.
    PaymentFailed,
    /// Sold.
    Confirmed,
    /// Released by the buyer.
    Cancelled,
    /// Released because nobody confirmed in time.
    Expired,
    /// Sold, then refunded in full; the tickets are back on sale.
    Refunded,
    /// Sold, then refunded in part under the show's refund policy; the tickets are
    /// back on sale.
    PartiallyRefunded,
}

/// What can happen to a booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BookingAction {
    StartPayment,
    /// The gateway declined or the attempt failed; the hold stays.
    FailPayment,
    Confirm,
    Cancel,
    /// The deadline passed with no payment in flight.
    Expire,
    /// The deadline passed while a payment was in flight, and the gateway confirmed
    /// it was not captured in time.
    AbandonPayment,
    /// A capture arrived after the hold had ended and the same tickets could be
    /// taken again.
    ConfirmLate,
    /// A sale refunded in full.
    Refund,
    /// A sale refunded in part.
    RefundPartially,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 8] = [
        BookingStatus::Held,
        BookingStatus::PaymentPending,
        BookingStatus::PaymentFailed,
        BookingStatus::Confirmed,
        BookingStatus::Cancelled,
        BookingStatus::Expired,
        BookingStatus::Refunded,
        BookingStatus::PartiallyRefunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Held => "held",
            BookingStatus::PaymentPending => "payment_pending",
            BookingStatus::PaymentFailed => "payment_failed",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Cancelled => "cancelled",
            BookingStatus::Expired => "expired",
            BookingStatus::Refunded => "refunded",
            BookingStatus::PartiallyRefunded => "partially_refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the booking's tickets are out of the pool (held or sold).
    pub fn takes_stock(self) -> bool {
        self.is_pending() || self == BookingStatus::Confirmed
    }

    /// Whether tickets are held but not yet sold.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            BookingStatus::Held | BookingStatus::PaymentPending | BookingStatus::PaymentFailed
        )
    }

    /// Statuses of holds not yet sold.
    pub fn pending() -> Vec<Self> {
        Self::ALL.into_iter().filter(|s| s.is_pending()).collect()
    }

    /// Statuses that hold or own tickets.
    pub fn live() -> Vec<Self> {
        Self::ALL.into_iter().filter(|s| s.takes_stock()).collect()
    }

    /// The state `action` leads to from `self`, if legal.
    pub fn apply(self, action: BookingAction) -> Option<BookingStatus> {
        use BookingAction as A;
        use BookingStatus as S;
        match (self, action) {
            (S::Held | S::PaymentFailed, A::StartPayment) => Some(S::PaymentPending),
            (S::PaymentPending, A::FailPayment) => Some(S::PaymentFailed),
            // Confirming a failed attempt's hold is for admins and free tickets; a
            // buyer's paid confirmation comes from a captured payment.
            (S::Held | S::PaymentPending | S::PaymentFailed, A::Confirm) => Some(S::Confirmed),
            // While the gateway has the money in flight only its answer or the
            // deadline may end the hold: a buyer's cancel would race the capture.
            (S::Held | S::PaymentFailed, A::Cancel) => Some(S::Cancelled),
            // A payment in flight is resolved with the gateway before its hold may
            // lapse: expiry alone never releases tickets someone may have paid for.
            (S::Held | S::PaymentFailed, A::Expire) => Some(S::Expired),
            (S::PaymentPending, A::AbandonPayment) => Some(S::Expired),
            (S::Expired | S::Cancelled, A::ConfirmLate) => Some(S::Confirmed),
            (S::Confirmed, A::Refund) => Some(S::Refunded),
            (S::Confirmed, A::RefundPartially) => Some(S::PartiallyRefunded),
            _ => None,
        }
    }
}

impl BookingAction {
    /// Whether applying the action gives the booking's tickets back to sale (as
    /// opposed to selling them or keeping them held).
    pub fn releases(self) -> bool {
        matches!(
            self,
            BookingAction::Cancel
                | BookingAction::Expire
                | BookingAction::AbandonPayment
                | BookingAction::Refund
                | BookingAction::RefundPartially
        )
    }

    /// Name of the domain event written to the outbox when the action succeeds.
    pub fn event_type(self) -> &'static str {
        match self {
            BookingAction::StartPayment => "booking.payment_started",
            BookingAction::FailPayment => "booking.payment_failed",
            BookingAction::Confirm => "booking.confirmed",
            BookingAction::Cancel => "booking.cancelled",
            BookingAction::Expire | BookingAction::AbandonPayment => "booking.expired",
            BookingAction::ConfirmLate => "booking.confirmed",
            BookingAction::Refund => "booking.refunded",
            BookingAction::RefundPartially => "booking.partially_refunded",
        }
    }

    /// The state the action leads to (the same from every source state).
    pub const ALL: [BookingAction; 9] = [
        BookingAction::StartPayment,
        BookingAction::FailPayment,
        BookingAction::Confirm,
        BookingAction::Cancel,
        BookingAction::Expire,
        BookingAction::AbandonPayment,
        BookingAction::ConfirmLate,
        BookingAction::Refund,
        BookingAction::RefundPartially,
    ];

    pub fn target(self) -> Option<BookingStatus> {
        self.sources().first().and_then(|s| s.apply(self))
    }

    /// States the action may start from.
    pub fn sources(self) -> Vec<BookingStatus> {
        BookingStatus::ALL
            .into_iter()
            .filter(|s| s.apply(self).is_some())
            .collect()
    }
}

/// Outbox event type of a new hold.
pub const EVENT_RESERVED: &str = "booking.reserved";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_is_bounded_by_the_show_limit() {
        assert!(Quantity::parse(0, 4).is_err());
        assert!(Quantity::parse(-3, 4).is_err());
        assert!(Quantity::parse(5, 4).is_err());
        assert_eq!(Quantity::parse(4, 4).unwrap().get(), 4);
    }

    #[test]
    fn final_states_are_final() {
        for s in [BookingStatus::Refunded, BookingStatus::PartiallyRefunded] {
            for a in BookingAction::ALL {
                assert_eq!(s.apply(a), None, "{s:?} --{a:?}");
            }
        }
        for a in BookingAction::ALL {
            let refund = matches!(a, BookingAction::Refund | BookingAction::RefundPartially);
            assert_eq!(
                BookingStatus::Confirmed.apply(a).is_some(),
                refund,
                "a sale only ends by a refund ({a:?})"
            );
        }
        assert_eq!(
            BookingStatus::Held.apply(BookingAction::Confirm),
            Some(BookingStatus::Confirmed)
        );
        assert_eq!(
            BookingAction::Expire.sources(),
            vec![BookingStatus::Held, BookingStatus::PaymentFailed],
            "a hold with money in flight waits for the gateway"
        );
        for s in [BookingStatus::Cancelled, BookingStatus::Expired] {
            for a in BookingAction::ALL {
                assert_eq!(
                    s.apply(a).is_some(),
                    a == BookingAction::ConfirmLate,
                    "{s:?} --{a:?}"
                );
            }
        }
        assert_eq!(
            BookingStatus::PaymentPending.apply(BookingAction::Cancel),
            None,
            "money in flight is settled by the gateway or the deadline"
        );
    }

    #[test]
    fn every_action_has_one_target_from_all_its_sources() {
        for a in BookingAction::ALL {
            let target = a.target().expect("every action applies somewhere");
            for s in a.sources() {
                assert_eq!(s.apply(a), Some(target), "{s:?} --{a:?}");
            }
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in BookingStatus::ALL {
            assert_eq!(BookingStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(BookingStatus::parse("sold"), None);
    }
}
