//! The processor's books: intents, refunds and the idempotency keys that reach them.
//! Pure and synchronous so every money rule is tested without a socket; the HTTP
//! layer keeps them behind one lock, which makes a key's first use atomic.
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Test cards, as the simulator understands them.
pub const CARD_RANDOM: &str = "pm_card_visa";
pub const CARD_DECLINED: &str = "pm_card_declined";
pub const CARD_OK: &str = "pm_card_ok";
const CARDS: [&str; 3] = [CARD_RANDOM, CARD_DECLINED, CARD_OK];

/// Stripe's upper bound for one charge, in minor units.
const MAX_AMOUNT: i64 = 99_999_999;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub booking_id: String,
    pub payment_id: String,
}

/// A payment intent on the wire. Times are unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    pub object: String,
    pub status: IntentStatus,
    pub amount: i64,
    pub currency: String,
    pub payment_method: String,
    pub created: i64,
    pub captured_at: Option<i64>,
    pub failure_code: Option<String>,
    /// Refunded and settled.
    pub amount_refunded: i64,
    pub metadata: Metadata,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub object: String,
    pub payment_intent: String,
    pub amount: i64,
    pub status: RefundStatus,
    pub created: i64,
}

/// `POST /v1/payment_intents`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIntent {
    pub amount: i64,
    pub currency: String,
    pub payment_method: String,
    pub metadata: Metadata,
}

/// `POST /v1/refunds`; without an amount, whatever is left of the capture.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    pub payment_intent: String,
    pub amount: Option<i64>,
}

/// Why the books refused a request; the API turns it into a Stripe-like error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BooksError {
    /// The key was used before for another operation or other parameters.
    Idempotency(String),
    Invalid {
        param: &'static str,
        message: String,
    },
    NotFound(String),
    /// A refund beyond what is captured and not yet refunded.
    AmountTooLarge {
        requested: i64,
        refundable: i64,
    },
    /// A refund of an intent that captured nothing.
    NotCaptured(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    CreateIntent,
    Cancel,
    Refund,
}

struct KeyUse {
    operation: Operation,
    fingerprint: String,
    object: String,
}

/// The ground truth of one intent for tests and operators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: String,
    pub status: IntentStatus,
    pub amount: i64,
    pub currency: String,
    pub captured: i64,
    pub refunded: i64,
    pub refund_pending: i64,
    pub booking_id: String,
    pub payment_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub intents: u64,
    pub processing: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub canceled: u64,
    pub captured: i64,
    pub refunded: i64,
    pub refunds: u64,
    pub webhooks_delivered: u64,
    pub webhook_attempts_failed: u64,
    pub webhooks_abandoned: u64,
}

/// `GET /_sim/ledger`: every intent in creation order, and totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub intents: Vec<LedgerEntry>,
    pub totals: Totals,
}

#[derive(Default)]
pub struct Books {
    intents: HashMap<String, Intent>,
    order: Vec<String>,
    refunds: HashMap<String, Refund>,
    keys: HashMap<String, KeyUse>,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl Books {
    /// Finds what `key` reached before, or `None` on its first use. A key reused for
    /// another operation or with other parameters is an error, as at Stripe.
    fn replay(
        &self,
        key: &str,
        operation: Operation,
        fingerprint: &str,
    ) -> Result<Option<String>, BooksError> {
        match self.keys.get(key) {
            None => Ok(None),
            Some(used) if used.operation == operation && used.fingerprint == fingerprint => {
                Ok(Some(used.object.clone()))
            }
            Some(_) => Err(BooksError::Idempotency(
                "this idempotency key was used with other parameters".into(),
            )),
        }
    }

    fn remember(&mut self, key: &str, operation: Operation, fingerprint: String, object: &str) {
        self.keys.insert(
            key.to_owned(),
            KeyUse {
                operation,
                fingerprint,
                object: object.to_owned(),
            },
        );
    }

    /// Creates the intent, or returns the one `key` created (as it is now); the flag
    /// says whether it is new, so only a new one is processed.
    pub fn create_intent(
        &mut self,
        key: &str,
        req: CreateIntent,
        now_ms: i64,
    ) -> Result<(Intent, bool), BooksError> {
        let fingerprint = serde_json::to_string(&req).unwrap_or_default();
        if let Some(id) = self.replay(key, Operation::CreateIntent, &fingerprint)? {
            return Ok((self.intent(&id)?, false));
        }
        if !(1..=MAX_AMOUNT).contains(&req.amount) {
            return Err(BooksError::Invalid {
                param: "amount",
                message: format!("amount must be between 1 and {MAX_AMOUNT}"),
            });
        }
        if req.currency.len() != 3 || !req.currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(BooksError::Invalid {
                param: "currency",
                message: "currency must be a three-letter ISO 4217 code".into(),
            });
        }
        if !CARDS.contains(&req.payment_method.as_str()) {
            return Err(BooksError::Invalid {
                param: "payment_method",
                message: format!("no such payment method; test cards: {}", CARDS.join(", ")),
            });
        }
        let intent = Intent {
            id: new_id("pi"),
            object: "payment_intent".into(),
            status: IntentStatus::Processing,
            amount: req.amount,
            currency: req.currency,
            payment_method: req.payment_method,
            created: now_ms,
            captured_at: None,
            failure_code: None,
            amount_refunded: 0,
            metadata: req.metadata,
        };
        self.remember(key, Operation::CreateIntent, fingerprint, &intent.id);
        self.order.push(intent.id.clone());
        self.intents.insert(intent.id.clone(), intent.clone());
        Ok((intent, true))
    }

    pub fn intent(&self, id: &str) -> Result<Intent, BooksError> {
        self.intents
            .get(id)
            .cloned()
            .ok_or_else(|| BooksError::NotFound(format!("no such payment_intent: {id}")))
    }

    pub fn refund(&self, id: &str) -> Result<Refund, BooksError> {
        self.refunds
            .get(id)
            .cloned()
            .ok_or_else(|| BooksError::NotFound(format!("no such refund: {id}")))
    }

    /// Ends processing: captured or declined by the card and `roll` (uniform in
    /// [0, 1)) against `failure_rate`. `None` when the intent was no longer processing
    /// (cancelled first), so no result and no webhook.
    pub fn settle_intent(
        &mut self,
        id: &str,
        roll: f64,
        failure_rate: f64,
        now_ms: i64,
    ) -> Option<Intent> {
        let intent = self.intents.get_mut(id)?;
        if intent.status != IntentStatus::Processing {
            return None;
        }
        let declined = match intent.payment_method.as_str() {
            CARD_DECLINED => true,
            CARD_OK => false,
            _ => roll < failure_rate,
        };
        if declined {
            intent.status = IntentStatus::Failed;
            intent.failure_code = Some("card_declined".into());
        } else {
            intent.status = IntentStatus::Succeeded;
            intent.captured_at = Some(now_ms);
        }
        Some(intent.clone())
    }

    /// Cancels an intent still processing. A capture (or decline) that came first
    /// stands and is answered as it is. The flag says whether this call cancelled it.
    pub fn cancel_intent(&mut self, key: &str, id: &str) -> Result<(Intent, bool), BooksError> {
        if let Some(id) = self.replay(key, Operation::Cancel, id)? {
            return Ok((self.intent(&id)?, false));
        }
        let intent = self
            .intents
            .get_mut(id)
            .ok_or_else(|| BooksError::NotFound(format!("no such payment_intent: {id}")))?;
        let cancelled = intent.status == IntentStatus::Processing;
        if cancelled {
            intent.status = IntentStatus::Canceled;
        }
        let intent = intent.clone();
        self.remember(key, Operation::Cancel, id.to_owned(), id);
        Ok((intent, cancelled))
    }

    /// What is still refundable on a captured intent: pending refunds count as spent.
    fn refundable(&self, intent: &Intent) -> i64 {
        let spent: i64 = self
            .refunds
            .values()
            .filter(|r| r.payment_intent == intent.id && r.status != RefundStatus::Failed)
            .map(|r| r.amount)
            .sum();
        intent.amount - spent
    }

    /// Opens a refund (pending until settled), never beyond the capture.
    pub fn create_refund(
        &mut self,
        key: &str,
        req: CreateRefund,
        now_ms: i64,
    ) -> Result<(Refund, bool), BooksError> {
        let fingerprint = serde_json::to_string(&req).unwrap_or_default();
        if let Some(id) = self.replay(key, Operation::Refund, &fingerprint)? {
            return Ok((self.refund(&id)?, false));
        }
        let intent = self
            .intents
            .get(&req.payment_intent)
            .ok_or_else(|| BooksError::Invalid {
                param: "payment_intent",
                message: format!("no such payment_intent: {}", req.payment_intent),
            })?;
        if intent.status != IntentStatus::Succeeded {
            return Err(BooksError::NotCaptured(format!(
                "payment_intent {} has captured nothing to refund",
                intent.id
            )));
        }
        let refundable = self.refundable(intent);
        let amount = req.amount.unwrap_or(refundable);
        if amount < 1 {
            return Err(BooksError::Invalid {
                param: "amount",
                message: "amount must be positive".into(),
            });
        }
        if amount > refundable {
            return Err(BooksError::AmountTooLarge {
                requested: amount,
                refundable,
            });
        }
        let refund = Refund {
            id: new_id("re"),
            object: "refund".into(),
            payment_intent: intent.id.clone(),
            amount,
            status: RefundStatus::Pending,
            created: now_ms,
        };
        self.remember(key, Operation::Refund, fingerprint, &refund.id);
        self.refunds.insert(refund.id.clone(), refund.clone());
        Ok((refund, true))
    }

    /// Pays a pending refund out. `None` when it was already settled.
    pub fn settle_refund(&mut self, id: &str) -> Option<Refund> {
        let refund = self.refunds.get_mut(id)?;
        if refund.status != RefundStatus::Pending {
            return None;
        }
        refund.status = RefundStatus::Succeeded;
        let refund = refund.clone();
        if let Some(intent) = self.intents.get_mut(&refund.payment_intent) {
            intent.amount_refunded += refund.amount;
        }
        Some(refund)
    }

    /// Every intent with what it captured and refunded; webhook counts are added by
    /// the caller, which keeps them.
    pub fn ledger(&self) -> Ledger {
        let mut ledger = Ledger::default();
        for id in &self.order {
            let Some(intent) = self.intents.get(id) else {
                continue;
            };
            let captured = if intent.status == IntentStatus::Succeeded {
                intent.amount
            } else {
                0
            };
            let refund_pending = self
                .refunds
                .values()
                .filter(|r| r.payment_intent == intent.id && r.status == RefundStatus::Pending)
                .map(|r| r.amount)
                .sum();
            let totals = &mut ledger.totals;
            totals.intents += 1;
            match intent.status {
                IntentStatus::Processing => totals.processing += 1,
                IntentStatus::Succeeded => totals.succeeded += 1,
                IntentStatus::Failed => totals.failed += 1,
                IntentStatus::Canceled => totals.canceled += 1,
            }
            totals.captured += captured;
            totals.refunded += intent.amount_refunded;
            ledger.intents.push(LedgerEntry {
                id: intent.id.clone(),
                status: intent.status,
                amount: intent.amount,
                currency: intent.currency.clone(),
                captured,
                refunded: intent.amount_refunded,
                refund_pending,
                booking_id: intent.metadata.booking_id.clone(),
                payment_id: intent.metadata.payment_id.clone(),
            });
        }
        ledger.totals.refunds = self.refunds.len() as u64;
        ledger
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(amount: i64, card: &str) -> CreateIntent {
        CreateIntent {
            amount,
            currency: "EUR".into(),
            payment_method: card.into(),
            metadata: Metadata {
                booking_id: "b1".into(),
                payment_id: "p1".into(),
            },
        }
    }

    #[test]
    fn a_key_reaches_one_intent_and_refuses_other_parameters() {
        let mut books = Books::default();
        let (first, new) = books
            .create_intent("k1", request(1000, CARD_OK), 1)
            .unwrap();
        assert!(new);
        let (again, new) = books
            .create_intent("k1", request(1000, CARD_OK), 2)
            .unwrap();
        assert!(!new);
        assert_eq!(again.id, first.id);
        assert!(matches!(
            books.create_intent("k1", request(999, CARD_OK), 3),
            Err(BooksError::Idempotency(_))
        ));
        // Nor may a key of a charge be reused for a refund.
        assert!(matches!(
            books.create_refund(
                "k1",
                CreateRefund {
                    payment_intent: first.id.clone(),
                    amount: None
                },
                4
            ),
            Err(BooksError::Idempotency(_))
        ));
        assert_eq!(books.ledger().totals.intents, 1);
    }

    #[test]
    fn bad_requests_name_their_parameter_and_leave_no_key_behind() {
        let mut books = Books::default();
        for (req, param) in [
            (request(0, CARD_OK), "amount"),
            (request(MAX_AMOUNT + 1, CARD_OK), "amount"),
            (request(10, "pm_card_unknown"), "payment_method"),
            (
                CreateIntent {
                    currency: "EURO".into(),
                    ..request(10, CARD_OK)
                },
                "currency",
            ),
        ] {
            match books.create_intent("k", req, 1) {
                Err(BooksError::Invalid { param: p, .. }) => assert_eq!(p, param),
                other => panic!("{other:?}"),
            }
        }
        assert!(books.create_intent("k", request(10, CARD_OK), 1).is_ok());
    }

    #[test]
    fn test_cards_decide_regardless_of_the_roll_and_visa_follows_it() {
        let mut books = Books::default();
        let ok = books.create_intent("a", request(1, CARD_OK), 1).unwrap().0;
        let declined = books
            .create_intent("b", request(1, CARD_DECLINED), 1)
            .unwrap()
            .0;
        let visa_low = books
            .create_intent("c", request(1, CARD_RANDOM), 1)
            .unwrap()
            .0;
        let visa_high = books
            .create_intent("d", request(1, CARD_RANDOM), 1)
            .unwrap()
            .0;
        let ok = books.settle_intent(&ok.id, 0.0, 1.0, 7).unwrap();
        assert_eq!(ok.status, IntentStatus::Succeeded);
        assert_eq!(ok.captured_at, Some(7));
        let declined = books.settle_intent(&declined.id, 0.99, 0.0, 7).unwrap();
        assert_eq!(declined.status, IntentStatus::Failed);
        assert_eq!(declined.failure_code.as_deref(), Some("card_declined"));
        assert_eq!(declined.captured_at, None);
        assert_eq!(
            books
                .settle_intent(&visa_low.id, 0.2, 0.5, 7)
                .unwrap()
                .status,
            IntentStatus::Failed
        );
        assert_eq!(
            books
                .settle_intent(&visa_high.id, 0.7, 0.5, 7)
                .unwrap()
                .status,
            IntentStatus::Succeeded
        );
        // Settling twice changes nothing and reports nothing.
        assert_eq!(books.settle_intent(&visa_high.id, 0.0, 1.0, 8), None);
        let totals = books.ledger().totals;
        assert_eq!(
            (totals.succeeded, totals.failed, totals.captured),
            (2, 2, 2)
        );
    }

    #[test]
    fn cancel_wins_before_capture_and_a_capture_that_came_first_stands() {
        let mut books = Books::default();
        let early = books.create_intent("a", request(5, CARD_OK), 1).unwrap().0;
        let (cancelled, changed) = books.cancel_intent("c1", &early.id).unwrap();
        assert!(changed);
        assert_eq!(cancelled.status, IntentStatus::Canceled);
        assert_eq!(books.settle_intent(&early.id, 0.0, 0.0, 2), None);

        let late = books.create_intent("b", request(5, CARD_OK), 1).unwrap().0;
        books.settle_intent(&late.id, 0.0, 0.0, 2).unwrap();
        let (answer, changed) = books.cancel_intent("c2", &late.id).unwrap();
        assert!(!changed);
        assert_eq!(answer.status, IntentStatus::Succeeded);
        assert!(matches!(
            books.cancel_intent("c2", &early.id),
            Err(BooksError::Idempotency(_))
        ));
        assert!(matches!(
            books.cancel_intent("c3", "pi_missing"),
            Err(BooksError::NotFound(_))
        ));
    }

    #[test]
    fn refunds_never_exceed_the_capture_even_while_pending() {
        let mut books = Books::default();
        let intent = books
            .create_intent("a", request(1000, CARD_OK), 1)
            .unwrap()
            .0;
        let refund = |amount| CreateRefund {
            payment_intent: intent.id.clone(),
            amount,
        };
        assert!(matches!(
            books.create_refund("r0", refund(Some(1)), 1),
            Err(BooksError::NotCaptured(_))
        ));
        books.settle_intent(&intent.id, 0.0, 0.0, 2).unwrap();
        let (first, _) = books.create_refund("r1", refund(Some(600)), 3).unwrap();
        assert_eq!(first.status, RefundStatus::Pending);
        // The first is still pending: only 400 is left.
        assert_eq!(
            books.create_refund("r2", refund(Some(401)), 3),
            Err(BooksError::AmountTooLarge {
                requested: 401,
                refundable: 400
            })
        );
        // A retried refund is the same refund, not a second payout.
        let (again, new) = books.create_refund("r1", refund(Some(600)), 4).unwrap();
        assert_eq!((again.id.as_str(), new), (first.id.as_str(), false));
        let (rest, _) = books.create_refund("r3", refund(None), 5).unwrap();
        assert_eq!(rest.amount, 400);
        assert!(matches!(
            books.create_refund("r4", refund(Some(1)), 6),
            Err(BooksError::AmountTooLarge { refundable: 0, .. })
        ));
        assert!(matches!(
            books.create_refund("r5", refund(Some(0)), 6),
            Err(BooksError::Invalid {
                param: "amount",
                ..
            })
        ));
        assert_eq!(books.settle_refund(&first.id).unwrap().amount, 600);
        assert_eq!(books.settle_refund(&first.id), None);
        let ledger = books.ledger();
        assert_eq!(ledger.intents[0].refunded, 600);
        assert_eq!(ledger.intents[0].refund_pending, 400);
        assert_eq!(ledger.totals.refunded, 600);
        assert_eq!(ledger.totals.captured, 1000);
    }
}
