//! A circuit breaker around any gateway: after a run of failures it fails fast with
//! a `retry_after` instead of letting every checkout wait out a timeout against a
//! provider that is down, then lets a single probe find out whether it is back.
//!
//! A small state machine rather than a crate: `failsafe`, the established one,
//! rejects without saying for how long (we answer `Retry-After`) and lets every
//! call through while half-open, where we want exactly one probe.
use super::{
    GatewayError, GatewayEvent, GatewayRefund, Intent, IntentRequest, PaymentGateway,
    RefundRequest, WebhookError,
};
use async_trait::async_trait;
use boxoffice_domain::Timestamp;
use parking_lot::Mutex;
use std::future::Future;
use std::time::{Duration, Instant};

/// Retry-After while a probe is out: the probe settles it within a call's timeout.
const PROBE_RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` consecutive retryable failures so far.
    Closed { failures: u32 },
    /// Calls fail fast until `until`.
    Open { until: Instant },
    /// One probe is out; other calls fail fast until it settles.
    HalfOpen,
}

pub struct Breaker<G> {
    inner: G,
    threshold: u32,
    open_for: Duration,
    state: Mutex<BreakerState>,
}

/// Leave to make one call. A probe dropped before it settles (its caller gave up)
/// reopens the way for the next probe instead of leaving the breaker half-open.
struct Permit<'a, G> {
    breaker: &'a Breaker<G>,
    probe: bool,
    settled: bool,
}

impl<G> Drop for Permit<'_, G> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            let mut state = self.breaker.state.lock();
            if *state == BreakerState::HalfOpen {
                *state = BreakerState::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

impl<G: PaymentGateway> Breaker<G> {
    /// Opens after `threshold` consecutive retryable failures (at least one), for
    /// `open_for`.
    pub fn new(inner: G, threshold: u32, open_for: Duration) -> Self {
        Self {
            inner,
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    pub fn state(&self) -> BreakerState {
        *self.state.lock()
    }

    pub fn inner(&self) -> &G {
        &self.inner
    }

    fn admit(&self) -> Result<Permit<'_, G>, GatewayError> {
        let mut state = self.state.lock();
        let mut probe = false;
        match *state {
            BreakerState::Closed { .. } => {}
            BreakerState::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(GatewayError::Unavailable {
                        retry_after: until - now,
                    });
                }
                *state = BreakerState::HalfOpen;
                probe = true;
                tracing::info!("payment gateway breaker half-open: probing");
            }
            BreakerState::HalfOpen => {
                return Err(GatewayError::Unavailable {
                    retry_after: PROBE_RETRY_AFTER.min(self.open_for.max(Duration::from_millis(1))),
                })
            }
        }
        Ok(Permit {
            breaker: self,
            probe,
            settled: false,
        })
    }

    fn settle<T>(&self, mut permit: Permit<'_, G>, outcome: &Result<T, GatewayError>) {
        permit.settled = true;
        let mut state = self.state.lock();
        // A refusal is an answer: the provider is up.
        let failed = matches!(outcome, Err(e) if e.is_retryable());
        if !failed {
            if !matches!(*state, BreakerState::Closed { failures: 0 }) {
                if !matches!(*state, BreakerState::Closed { .. }) {
                    tracing::info!("payment gateway breaker closed");
                }
                *state = BreakerState::Closed { failures: 0 };
            }
            return;
        }
        let reopen = Instant::now() + self.open_for;
        match *state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                *state = BreakerState::Closed {
                    failures: failures + 1,
                };
            }
            BreakerState::Closed { .. } | BreakerState::HalfOpen => {
                tracing::warn!(
                    open_secs = self.open_for.as_secs_f64(),
                    "payment gateway breaker open"
                );
                *state = BreakerState::Open { until: reopen };
            }
            // A call admitted before the breaker opened: already failing fast.
            BreakerState::Open { .. } => {}
        }
    }

    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let permit = self.admit()?;
        let outcome = call.await;
        self.settle(permit, &outcome);
        outcome
    }
}

#[async_trait]
impl<G: PaymentGateway> PaymentGateway for Breaker<G> {
    async fn create_intent(&self, req: &IntentRequest) -> Result<Intent, GatewayError> {
        self.guarded(self.inner.create_intent(req)).await
    }

    async fn retrieve_intent(&self, id: &str) -> Result<Intent, GatewayError> {
        self.guarded(self.inner.retrieve_intent(id)).await
    }

    async fn cancel_intent(&self, id: &str, idempotency_key: &str) -> Result<Intent, GatewayError> {
        self.guarded(self.inner.cancel_intent(id, idempotency_key))
            .await
    }

    async fn refund(&self, req: &RefundRequest) -> Result<GatewayRefund, GatewayError> {
        self.guarded(self.inner.refund(req)).await
    }

    fn signature_header(&self) -> &'static str {
        self.inner.signature_header()
    }

    /// Local work (a signature check): nothing to break.
    fn verify_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<GatewayEvent, WebhookError> {
        self.inner.verify_webhook(signature, body, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::gateway::IntentStatus;
    use boxoffice_domain::{BookingId, Currency};
    use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

    /// A provider whose next answers the test decides: up, down (timeouts), or
    /// refusing; it counts the calls that reach it.
    #[derive(Default)]
    struct Scripted {
        mode: AtomicU8,
        calls: AtomicU32,
    }

    const UP: u8 = 0;
    const TIMING_OUT: u8 = 1;
    const REFUSING: u8 = 2;
    const HANGING: u8 = 3;

    impl Scripted {
        fn set(&self, mode: u8) {
            self.mode.store(mode, Ordering::SeqCst);
        }
        fn calls(&self) -> u32 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl PaymentGateway for Scripted {
        async fn create_intent(&self, req: &IntentRequest) -> Result<Intent, GatewayError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self.mode.load(Ordering::SeqCst) {
                UP => Ok(Intent {
                    id: "pi_1".into(),
                    status: IntentStatus::Processing,
                    amount_minor: req.amount_minor,
                    currency: req.currency,
                    captured_at: None,
                    failure_code: None,
                    payment: req.payment.clone(),
                }),
                TIMING_OUT => Err(GatewayError::Timeout),
                REFUSING => Err(GatewayError::Rejected("card_declined".into())),
                _ => std::future::pending().await,
            }
        }
        async fn retrieve_intent(&self, _: &str) -> Result<Intent, GatewayError> {
            Err(GatewayError::Transport("not scripted".into()))
        }
        async fn cancel_intent(&self, _: &str, _: &str) -> Result<Intent, GatewayError> {
            Err(GatewayError::Transport("not scripted".into()))
        }
        async fn refund(&self, _: &RefundRequest) -> Result<GatewayRefund, GatewayError> {
            Err(GatewayError::Transport("not scripted".into()))
        }
        fn verify_webhook(
            &self,
            _: Option<&str>,
            _: &[u8],
            _: Timestamp,
        ) -> Result<GatewayEvent, WebhookError> {
            Err(WebhookError::Body("not scripted".into()))
        }
    }

    fn request() -> IntentRequest {
        IntentRequest {
            idempotency_key: "k".into(),
            amount_minor: 100,
            currency: Currency::parse("EUR").unwrap(),
            payment_method: "pm_card_ok".into(),
            booking: BookingId::new(),
            payment: "pay".into(),
        }
    }

    #[tokio::test]
    async fn opens_after_the_threshold_fails_fast_and_one_probe_closes_it() {
        let breaker = Breaker::new(Scripted::default(), 3, Duration::from_millis(200));
        breaker.inner().set(TIMING_OUT);
        for _ in 0..3 {
            assert!(matches!(
                breaker.create_intent(&request()).await,
                Err(GatewayError::Timeout)
            ));
        }
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
        breaker.inner().set(UP);
        match breaker.create_intent(&request()).await {
            Err(GatewayError::Unavailable { retry_after }) => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(200))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(breaker.inner().calls(), 3, "an open breaker calls nobody");
        tokio::time::sleep(Duration::from_millis(220)).await;
        assert!(breaker.create_intent(&request()).await.is_ok());
        assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
        assert_eq!(breaker.inner().calls(), 4);
    }

    #[tokio::test]
    async fn a_failed_probe_reopens_for_a_full_window() {
        let breaker = Breaker::new(Scripted::default(), 1, Duration::from_millis(100));
        breaker.inner().set(TIMING_OUT);
        assert!(breaker.create_intent(&request()).await.is_err());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(matches!(
            breaker.create_intent(&request()).await,
            Err(GatewayError::Timeout)
        ));
        match breaker.state() {
            BreakerState::Open { until } => {
                assert!(until > Instant::now() + Duration::from_millis(50))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(breaker.inner().calls(), 2);
    }

    #[tokio::test]
    async fn refusals_do_not_count_and_a_success_resets_the_count() {
        let breaker = Breaker::new(Scripted::default(), 2, Duration::from_secs(60));
        breaker.inner().set(REFUSING);
        for _ in 0..5 {
            assert!(matches!(
                breaker.create_intent(&request()).await,
                Err(GatewayError::Rejected(_))
            ));
        }
        assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
        breaker.inner().set(TIMING_OUT);
        assert!(breaker.create_intent(&request()).await.is_err());
        breaker.inner().set(UP);
        assert!(breaker.create_intent(&request()).await.is_ok());
        breaker.inner().set(TIMING_OUT);
        assert!(breaker.create_intent(&request()).await.is_err());
        assert_eq!(breaker.state(), BreakerState::Closed { failures: 1 });
    }

    #[tokio::test]
    async fn only_one_probe_at_a_time_and_an_abandoned_probe_frees_the_way() {
        let breaker = std::sync::Arc::new(Breaker::new(
            Scripted::default(),
            1,
            Duration::from_millis(50),
        ));
        breaker.inner().set(TIMING_OUT);
        assert!(breaker.create_intent(&request()).await.is_err());
        tokio::time::sleep(Duration::from_millis(60)).await;
        breaker.inner().set(HANGING);
        let probe = {
            let breaker = breaker.clone();
            tokio::spawn(async move { breaker.create_intent(&request()).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(matches!(
            breaker.create_intent(&request()).await,
            Err(GatewayError::Unavailable { .. })
        ));
        probe.abort();
        let _ = probe.await;
        breaker.inner().set(UP);
        assert!(breaker.create_intent(&request()).await.is_ok());
        assert_eq!(breaker.inner().calls(), 3);
    }
}
