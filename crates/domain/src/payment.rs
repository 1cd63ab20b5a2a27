//! Payments and refunds as state machines, and the refund policy. The checkout saga
//! in the service layer drives these; the rules of which moves are legal, and how
//! much of a sale a buyer gets back when, live here so they are tested without IO.
use serde::{Deserialize, Serialize};

/// One attempt to take the money for one booking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Recorded, not yet accepted by the gateway.
    Pending,
    /// The gateway accepted the intent; its result comes by webhook (or a lookup).
    Processing,
    /// The gateway captured the money.
    Succeeded,
    /// Declined, or the attempt could not be made.
    Failed,
    /// Abandoned before any capture (the hold ended first).
    Cancelled,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 5] = [
        PaymentStatus::Pending,
        PaymentStatus::Processing,
        PaymentStatus::Succeeded,
        PaymentStatus::Failed,
        PaymentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Processing => "processing",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// No later answer changes it.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PaymentStatus::Succeeded | PaymentStatus::Failed | PaymentStatus::Cancelled
        )
    }

    /// Whether the attempt may move to `next`. A capture reported by the gateway
    /// always wins over our own `Failed`/`Cancelled` (a timeout we gave up on can
    /// still have charged): the money exists, so the record must say so.
    pub fn may_become(self, next: PaymentStatus) -> bool {
        use PaymentStatus as P;
        matches!(
            (self, next),
            (
                P::Pending,
                P::Processing | P::Failed | P::Cancelled | P::Succeeded
            ) | (P::Processing, P::Succeeded | P::Failed | P::Cancelled)
                | (P::Failed | P::Cancelled, P::Succeeded)
        )
    }
}

/// One refund of (part of) a captured payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Outside the policy: waits for an organizer or admin.
    Requested,
    /// Approved (or within policy) and being executed through the gateway.
    Processing,
    Succeeded,
    /// The gateway refused; retried by the saga or an admin.
    Failed,
    /// An organizer or admin said no.
    Rejected,
}

impl RefundStatus {
    pub const ALL: [RefundStatus; 5] = [
        RefundStatus::Requested,
        RefundStatus::Processing,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
        RefundStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Requested => "requested",
            RefundStatus::Processing => "processing",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
            RefundStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Why money goes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// The buyer asked (within the show's policy or approved outside it).
    Requested,
    /// A capture arrived after its hold had ended and the tickets could not be taken
    /// again.
    LatePayment,
    /// A second capture for a booking already paid.
    Duplicate,
}

impl RefundReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundReason::Requested => "requested",
            RefundReason::LatePayment => "late_payment",
            RefundReason::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RefundReason::Requested,
            RefundReason::LatePayment,
            RefundReason::Duplicate,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// What a show refunds, by how long before the show a buyer asks: the first tier
/// whose `min_hours_before` the request meets applies; none: 0 %.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundPolicy {
    /// Tiers, most generous (furthest from the show) first.
    pub tiers: Vec<RefundTier>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTier {
    /// At least this many hours before the show starts.
    pub min_hours_before: u32,
    /// Share of the price returned, 0–100.
    pub percent: u8,
}

impl Default for RefundPolicy {
    /// 100 % up to 7 days before the show, 50 % up to 48 h before, nothing after.
    fn default() -> Self {
        Self {
            tiers: vec![
                RefundTier {
                    min_hours_before: 7 * 24,
                    percent: 100,
                },
                RefundTier {
                    min_hours_before: 48,
                    percent: 50,
                },
            ],
        }
    }
}

impl RefundPolicy {
    /// Checks the tiers: at most 10, each 0–100 %, ordered by strictly decreasing
    /// hours with non-increasing percentages (a later request never gets more back).
    pub fn parse(tiers: Vec<RefundTier>) -> Result<Self, String> {
        if tiers.len() > 10 {
            return Err("must have at most 10 tiers".into());
        }
        for (n, t) in tiers.iter().enumerate() {
            if t.percent > 100 {
                return Err(format!("tier {n}: percent must be between 0 and 100"));
            }
            if t.min_hours_before > 24 * 366 {
                return Err(format!("tier {n}: min_hours_before must be at most 8784"));
            }
            if let Some(prev) = n.checked_sub(1).map(|p| tiers[p]) {
                if t.min_hours_before >= prev.min_hours_before || t.percent > prev.percent {
                    return Err(format!(
                        "tier {n}: tiers must go from furthest to closest to the show with fewer hours and no larger percent"
                    ));
                }
            }
        }
        Ok(Self { tiers })
    }

    /// The share refunded to a request made `secs_before` seconds before the show
    /// (negative: after it started).
    pub fn percent_at(&self, secs_before: i64) -> u8 {
        self.tiers
            .iter()
            .find(|t| secs_before >= i64::from(t.min_hours_before) * 3600)
            .map_or(0, |t| t.percent)
    }

    /// Minor units refunded of `amount_minor` at `percent`, rounded down (the buyer
    /// never gets more than the policy says).
    pub fn share(amount_minor: i64, percent: u8) -> i64 {
        amount_minor.saturating_mul(i64::from(percent)) / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    #[test]
    fn the_default_policy_follows_the_calendar() {
        let p = RefundPolicy::default();
        assert_eq!(p.percent_at(30 * 24 * H), 100);
        assert_eq!(p.percent_at(7 * 24 * H), 100);
        assert_eq!(p.percent_at(7 * 24 * H - 1), 50);
        assert_eq!(p.percent_at(48 * H), 50);
        assert_eq!(p.percent_at(48 * H - 1), 0);
        assert_eq!(p.percent_at(-H), 0);
        assert_eq!(RefundPolicy::share(9_999, 50), 4_999);
    }

    #[test]
    fn policies_must_get_stricter_towards_the_show() {
        let t = |h, p| RefundTier {
            min_hours_before: h,
            percent: p,
        };
        assert!(RefundPolicy::parse(vec![t(100, 100), t(10, 20)]).is_ok());
        assert!(RefundPolicy::parse(vec![t(10, 20), t(100, 100)]).is_err());
        assert!(RefundPolicy::parse(vec![t(100, 20), t(10, 50)]).is_err());
        assert!(RefundPolicy::parse(vec![t(100, 101)]).is_err());
        assert!(RefundPolicy::parse(vec![]).is_ok(), "no refunds at all");
    }

    #[test]
    fn a_capture_overrides_a_failure_but_nothing_undoes_a_capture() {
        use PaymentStatus as P;
        assert!(P::Failed.may_become(P::Succeeded));
        assert!(P::Cancelled.may_become(P::Succeeded));
        for next in P::ALL {
            assert!(!P::Succeeded.may_become(next), "succeeded -> {next:?}");
        }
        assert!(!P::Failed.may_become(P::Processing));
        for s in P::ALL {
            assert_eq!(P::parse(s.as_str()), Some(s));
        }
    }
}
