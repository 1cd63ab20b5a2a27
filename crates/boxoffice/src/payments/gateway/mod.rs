//! The payment gateway port: what the checkout saga needs from a card processor,
//! shaped after payment intents (Stripe, Adyen, Mollie all have one) so that an
//! adapter for a real provider is a file beside the simulator's, not a redesign.
//!
//! Every call that moves money carries an idempotency key: a retry after a timeout
//! reaches the same intent or refund instead of charging twice. Results arrive
//! asynchronously as signed webhooks; `retrieve_intent` answers the same question
//! when a webhook is late or lost.
pub mod breaker;
pub mod http;

pub use breaker::Breaker;
pub use http::HttpGateway;

use crate::config::{GatewayKind, PaymentsConfig};
use async_trait::async_trait;
use boxoffice_domain::{BookingId, Currency, Timestamp};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Asks the gateway to take `amount_minor` for one booking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentRequest {
    /// One per payment attempt: the same key always reaches the same intent.
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: Currency,
    /// What the buyer pays with, as the provider names it (`pm_card_visa`).
    pub payment_method: String,
    /// Carried as metadata so webhooks and the gateway's dashboard name the booking.
    pub booking: BookingId,
    /// Our payment record's id, carried the same way.
    pub payment: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentStatus {
    /// Accepted; the result is on its way.
    Processing,
    /// Captured.
    Succeeded,
    /// Declined.
    Failed,
    /// Cancelled before any capture.
    Cancelled,
}

/// A payment intent as the gateway reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub id: String,
    pub status: IntentStatus,
    pub amount_minor: i64,
    pub currency: Currency,
    /// When the money was captured (the gateway's clock); decides a race with the
    /// hold's deadline.
    pub captured_at: Option<Timestamp>,
    /// Why it failed, in the provider's words (`card_declined`).
    pub failure_code: Option<String>,
    /// Our payment record's id, from the metadata.
    pub payment: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// One per refund: a retried refund never pays out twice.
    pub idempotency_key: String,
    pub intent_id: String,
    pub amount_minor: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayRefundStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayRefund {
    pub id: String,
    pub intent_id: String,
    pub amount_minor: i64,
    pub status: GatewayRefundStatus,
}

/// A verified webhook from the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayEvent {
    /// The provider's event id: deliveries repeat, handling must not.
    pub id: String,
    pub kind: GatewayEventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayEventKind {
    /// An intent reached a final state (succeeded, failed or cancelled).
    Intent(Intent),
    Refund(GatewayRefund),
    /// An event type this platform does not act on; acknowledged and dropped.
    Other(String),
}

#[derive(Debug, Error)]
pub enum GatewayError {
    /// The circuit breaker is open (or the provider said 503): fail fast, try again
    /// after the given time.
    #[error("the payment gateway is unavailable")]
    Unavailable { retry_after: Duration },
    /// No answer in time: the request may or may not have taken effect, so it must
    /// be retried with the same idempotency key or looked up, never assumed failed.
    #[error("the payment gateway did not answer in time")]
    Timeout,
    /// The provider refused the request itself (unknown intent, amount too large,
    /// an idempotency key reused with other parameters).
    #[error("the payment gateway refused the request: {0}")]
    Rejected(String),
    /// The connection failed or the answer made no sense.
    #[error("payment gateway failure: {0}")]
    Transport(String),
}

impl GatewayError {
    /// Whether the same call may be retried as is (with its idempotency key).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, GatewayError::Rejected(_))
    }
}

/// Why a webhook was refused. Logged with the reason; answered 400/401.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("webhook signature: {0}")]
    Signature(#[from] boxoffice_domain::signature::SignatureError),
    #[error("webhook body: {0}")]
    Body(String),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Creates (or, with a key already used, finds) the intent for one attempt.
    async fn create_intent(&self, req: &IntentRequest) -> Result<Intent, GatewayError>;
    async fn retrieve_intent(&self, id: &str) -> Result<Intent, GatewayError>;
    /// Cancels an intent not yet captured. Answers the intent as it ends up: a
    /// capture that won the race is reported `Succeeded`, never an error.
    async fn cancel_intent(&self, id: &str, idempotency_key: &str) -> Result<Intent, GatewayError>;
    async fn refund(&self, req: &RefundRequest) -> Result<GatewayRefund, GatewayError>;
    /// Whether the provider answers (readiness): a lookup of an intent that does not
    /// exist must come back refused, not fail in transport or time out.
    async fn probe(&self) -> Result<(), GatewayError> {
        match self.retrieve_intent("pi_readiness_probe").await {
            Ok(_) | Err(GatewayError::Rejected(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
    /// The request header the provider puts its webhook signature in.
    fn signature_header(&self) -> &'static str {
        "paysim-signature"
    }
    /// Checks a webhook's signature (header value) and timestamp against `now` and
    /// parses it.
    fn verify_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<GatewayEvent, WebhookError>;
}

pub type DynGateway = Arc<dyn PaymentGateway>;

/// The simulator's knobs live with the simulator; configuration names them here.
pub use paysim::SimulatorKnobs;

/// What [`connect`] set up: the gateway the saga calls (none when payments are
/// off) and, for the embedded default, the in-process simulator serving it.
pub struct Gateway {
    pub gateway: Option<DynGateway>,
    /// Kept alive with the gateway: dropping it stops the simulator.
    pub simulator: Option<paysim::SimulatorHandle>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("gateway", &self.gateway.is_some())
            .field("simulator", &self.simulator)
            .finish()
    }
}

/// Builds the configured gateway behind a circuit breaker. The in-process simulator
/// posts its webhooks to `payments.webhook_url` (the public URL of the webhook
/// route, filled in from the bound address when unset); a separate gateway is told
/// its webhook URL on its own side.
pub async fn connect(cfg: &PaymentsConfig) -> anyhow::Result<Gateway> {
    let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
    let (http, simulator) = match cfg.gateway {
        GatewayKind::None => {
            return Ok(Gateway {
                gateway: None,
                simulator: None,
            })
        }
        GatewayKind::Http => {
            let url = cfg.gateway_url.clone().ok_or_else(|| {
                anyhow::anyhow!("payments.gateway_url is required for the http gateway")
            })?;
            let api_key = cfg.api_key.clone().ok_or_else(|| {
                anyhow::anyhow!("payments.api_key is required for the http gateway")
            })?;
            let secret = cfg.webhook_secret.clone().ok_or_else(|| {
                anyhow::anyhow!("payments.webhook_secret is required for the http gateway")
            })?;
            (HttpGateway::new(&url, api_key, secret, timeout)?, None)
        }
        GatewayKind::Simulator => {
            let api_key = cfg.api_key.clone().unwrap_or_else(random_secret);
            let secret = cfg.webhook_secret.clone().unwrap_or_else(random_secret);
            let mut sim = paysim::SimulatorConfig::new(api_key.clone(), secret.clone());
            sim.webhook_url = cfg.webhook_url.clone();
            sim.knobs = cfg.simulator.clone();
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
            let handle = paysim::Simulator::start(sim, listener)?;
            let http = HttpGateway::new(handle.url(), api_key, secret, timeout)?;
            (http, Some(handle))
        }
    };
    let breaker = Breaker::new(
        http,
        cfg.breaker_failures,
        Duration::from_secs(cfg.breaker_open_secs),
    );
    let gateway: DynGateway = Arc::new(breaker);
    Ok(Gateway {
        gateway: Some(gateway),
        simulator,
    })
}

/// 32 random bytes, hex: a key or signing secret nobody configured.
fn random_secret() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    SecretString::from(hex::encode(bytes))
}
