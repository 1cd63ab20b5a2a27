//! The gateway adapter for the simulator's Stripe-like HTTP API (`boxoffice
//! payment-sim`, or the in-process simulator). It only translates: requests to JSON
//! with an `Idempotency-Key`, answers and failures to the port's types, webhooks
//! through the shared signature check. A real provider's adapter is a file like it.
use super::{
    GatewayError, GatewayEvent, GatewayEventKind, GatewayRefund, GatewayRefundStatus, Intent,
    IntentRequest, IntentStatus, PaymentGateway, RefundRequest, WebhookError,
};
use async_trait::async_trait;
use boxoffice_domain::signature::{self, SignatureError};
use boxoffice_domain::{Currency, Timestamp};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A webhook signed longer ago than this is refused as a replay.
const WEBHOOK_TOLERANCE_SECS: i64 = signature::DEFAULT_TOLERANCE_SECS;

/// Where the simulator signs its webhooks (header names are case-insensitive; the
/// lower case is what a `HeaderMap` lookup wants).
const SIGNATURE_HEADER: &str = "paysim-signature";

/// Retry-After when the gateway says 503 without one.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct HttpGateway {
    base: String,
    client: reqwest::Client,
    api_key: SecretString,
    webhook_secret: SecretString,
}

impl std::fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGateway")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct WireCreateIntent<'a> {
    amount: i64,
    currency: &'a str,
    payment_method: &'a str,
    metadata: WireMetadata,
}

#[derive(Serialize, Deserialize)]
struct WireMetadata {
    booking_id: String,
    payment_id: String,
}

#[derive(Deserialize)]
struct WireIntent {
    id: String,
    status: String,
    amount: i64,
    currency: String,
    captured_at: Option<i64>,
    failure_code: Option<String>,
    metadata: WireMetadata,
}

#[derive(Serialize)]
struct WireCreateRefund<'a> {
    payment_intent: &'a str,
    amount: i64,
}

#[derive(Deserialize)]
struct WireRefund {
    id: String,
    payment_intent: String,
    amount: i64,
    status: String,
}

#[derive(Deserialize)]
struct WireEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: WireEventData,
}

#[derive(Deserialize)]
struct WireEventData {
    object: serde_json::Value,
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireError,
}

#[derive(Deserialize)]
struct WireError {
    #[serde(rename = "type")]
    kind: String,
    code: Option<String>,
    message: Option<String>,
}

impl TryFrom<WireIntent> for Intent {
    type Error = String;
    fn try_from(w: WireIntent) -> Result<Self, String> {
        let status = match w.status.as_str() {
            "processing" => IntentStatus::Processing,
            "succeeded" => IntentStatus::Succeeded,
            "failed" => IntentStatus::Failed,
            "canceled" => IntentStatus::Cancelled,
            other => return Err(format!("unknown intent status {other:?}")),
        };
        let currency = Currency::parse(&w.currency.to_ascii_uppercase())?;
        Ok(Intent {
            id: w.id,
            status,
            amount_minor: w.amount,
            currency,
            captured_at: w.captured_at.map(Timestamp::from_millis),
            failure_code: w.failure_code,
            payment: w.metadata.payment_id,
        })
    }
}

impl TryFrom<WireRefund> for GatewayRefund {
    type Error = String;
    fn try_from(w: WireRefund) -> Result<Self, String> {
        let status = match w.status.as_str() {
            "pending" => GatewayRefundStatus::Pending,
            "succeeded" => GatewayRefundStatus::Succeeded,
            "failed" => GatewayRefundStatus::Failed,
            other => return Err(format!("unknown refund status {other:?}")),
        };
        Ok(GatewayRefund {
            id: w.id,
            intent_id: w.payment_intent,
            amount_minor: w.amount,
            status,
        })
    }
}

impl HttpGateway {
    /// A client of the API at `base_url`; every call gives up after `timeout`.
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        webhook_secret: SecretString,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        url::Url::parse(&base)
            .map_err(|e| anyhow::anyhow!("payments.gateway_url {base:?} is not a URL: {e}"))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            base,
            client,
            api_key,
            webhook_secret,
        })
    }

    /// One call, timed under a bounded operation name (never its path, which
    /// carries ids).
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T, GatewayError> {
        let operation = match path {
            "/v1/payment_intents" => "create_intent",
            "/v1/refunds" => "refund",
            p if p.ends_with("/cancel") => "cancel_intent",
            _ if method == Method::GET => "retrieve_intent",
            _ => "other",
        };
        let started = std::time::Instant::now();
        let result = self.exchange(method, path, idempotency_key, body).await;
        metrics::histogram!(
            crate::telemetry::metrics::names::GATEWAY_DURATION,
            "operation" => operation,
            "outcome" => if result.is_ok() { "ok" } else { "error" }
        )
        .record(started.elapsed().as_secs_f64());
        result
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> Result<T, GatewayError> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.api_key.expose_secret());
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            let bytes = response.bytes().await.map_err(transport)?;
            return serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::Transport(format!("unreadable answer: {e}")));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(transport)?;
        let detail = match serde_json::from_slice::<WireErrorBody>(&bytes) {
            Ok(b) => format!(
                "{} {}: {}",
                b.error.kind,
                b.error.code.unwrap_or_default(),
                b.error.message.unwrap_or_default()
            ),
            Err(_) => format!("status {status}"),
        };
        Err(match status {
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                GatewayError::Unavailable {
                    retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
                }
            }
            s if s.is_client_error() => GatewayError::Rejected(detail),
            _ => GatewayError::Transport(detail),
        })
    }
}

fn transport(e: reqwest::Error) -> GatewayError {
    if e.is_timeout() {
        GatewayError::Timeout
    } else {
        GatewayError::Transport(e.to_string())
    }
}

fn intent(w: WireIntent) -> Result<Intent, GatewayError> {
    Intent::try_from(w).map_err(|e| GatewayError::Transport(format!("unreadable intent: {e}")))
}

#[async_trait]
impl PaymentGateway for HttpGateway {
    async fn create_intent(&self, req: &IntentRequest) -> Result<Intent, GatewayError> {
        let body = WireCreateIntent {
            amount: req.amount_minor,
            currency: req.currency.as_str(),
            payment_method: &req.payment_method,
            metadata: WireMetadata {
                booking_id: req.booking.to_string(),
                payment_id: req.payment.clone(),
            },
        };
        let w: WireIntent = self
            .call(
                Method::POST,
                "/v1/payment_intents",
                Some(&req.idempotency_key),
                Some(&body),
            )
            .await?;
        intent(w)
    }

    async fn retrieve_intent(&self, id: &str) -> Result<Intent, GatewayError> {
        let path = format!("/v1/payment_intents/{}", path_segment(id)?);
        let w: WireIntent = self.call(Method::GET, &path, None, None::<&()>).await?;
        intent(w)
    }

    async fn cancel_intent(&self, id: &str, idempotency_key: &str) -> Result<Intent, GatewayError> {
        let path = format!("/v1/payment_intents/{}/cancel", path_segment(id)?);
        let w: WireIntent = self
            .call(Method::POST, &path, Some(idempotency_key), None::<&()>)
            .await?;
        intent(w)
    }

    async fn refund(&self, req: &RefundRequest) -> Result<GatewayRefund, GatewayError> {
        let body = WireCreateRefund {
            payment_intent: &req.intent_id,
            amount: req.amount_minor,
        };
        let w: WireRefund = self
            .call(
                Method::POST,
                "/v1/refunds",
                Some(&req.idempotency_key),
                Some(&body),
            )
            .await?;
        GatewayRefund::try_from(w)
            .map_err(|e| GatewayError::Transport(format!("unreadable refund: {e}")))
    }

    fn signature_header(&self) -> &'static str {
        SIGNATURE_HEADER
    }

    fn verify_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: Timestamp,
    ) -> Result<GatewayEvent, WebhookError> {
        let header = signature.ok_or(SignatureError::Malformed)?;
        signature::verify(
            header,
            body,
            &[self.webhook_secret.expose_secret().as_bytes()],
            now.millis().div_euclid(1000),
            WEBHOOK_TOLERANCE_SECS,
        )?;
        let event: WireEvent =
            serde_json::from_slice(body).map_err(|e| WebhookError::Body(e.to_string()))?;
        let object = event.data.object;
        let kind = if event.kind.starts_with("payment_intent.") {
            let w: WireIntent =
                serde_json::from_value(object).map_err(|e| WebhookError::Body(e.to_string()))?;
            GatewayEventKind::Intent(Intent::try_from(w).map_err(WebhookError::Body)?)
        } else if event.kind.starts_with("refund.") {
            let w: WireRefund =
                serde_json::from_value(object).map_err(|e| WebhookError::Body(e.to_string()))?;
            GatewayEventKind::Refund(GatewayRefund::try_from(w).map_err(WebhookError::Body)?)
        } else {
            GatewayEventKind::Other(event.kind)
        };
        Ok(GatewayEvent { id: event.id, kind })
    }
}

/// Provider ids are short tokens (`pi_…`); anything that would change the path is
/// refused before it is sent.
fn path_segment(id: &str) -> Result<&str, GatewayError> {
    if !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(GatewayError::Rejected(format!(
            "malformed gateway id {id:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn gateway() -> HttpGateway {
        HttpGateway::new(
            "http://127.0.0.1:9/",
            SecretString::from("sk_test"),
            SecretString::from("whsec_test"),
            Duration::from_secs(1),
        )
        .unwrap()
    }

    fn signed(body: &str, at_secs: i64) -> String {
        signature::header(&[b"whsec_test"], at_secs, body.as_bytes())
    }

    const SUCCEEDED: &str = r#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1,
        "data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","amount":1500,
        "currency":"EUR","payment_method":"pm_card_ok","created":1,"captured_at":1700000000123,
        "failure_code":null,"amount_refunded":0,"metadata":{"booking_id":"b","payment_id":"pay_1"}}}}"#;

    #[test]
    fn a_signed_event_parses_into_the_ports_types() {
        let now = Timestamp::from_millis(1_700_000_010_000);
        let event = gateway()
            .verify_webhook(
                Some(&signed(SUCCEEDED, 1_700_000_000)),
                SUCCEEDED.as_bytes(),
                now,
            )
            .unwrap();
        assert_eq!(event.id, "evt_1");
        match event.kind {
            GatewayEventKind::Intent(i) => {
                assert_eq!(i.status, IntentStatus::Succeeded);
                assert_eq!(i.amount_minor, 1500);
                assert_eq!(
                    i.captured_at,
                    Some(Timestamp::from_millis(1_700_000_000_123))
                );
                assert_eq!(i.payment, "pay_1");
            }
            other => panic!("{other:?}"),
        }
        let other = r#"{"id":"evt_2","type":"customer.created","data":{"object":{}}}"#;
        let event = gateway()
            .verify_webhook(Some(&signed(other, 1_700_000_000)), other.as_bytes(), now)
            .unwrap();
        assert_eq!(
            event.kind,
            GatewayEventKind::Other("customer.created".into())
        );
    }

    #[test]
    fn forged_stale_unsigned_and_garbled_webhooks_are_refused() {
        let now = Timestamp::from_millis(1_700_000_010_000);
        let g = gateway();
        let forged = signature::header(&[b"whsec_other"], 1_700_000_000, SUCCEEDED.as_bytes());
        assert_eq!(
            g.verify_webhook(Some(&forged), SUCCEEDED.as_bytes(), now),
            Err(WebhookError::Signature(SignatureError::Mismatch))
        );
        assert_eq!(
            g.verify_webhook(
                Some(&signed(SUCCEEDED, 1_699_999_000)),
                SUCCEEDED.as_bytes(),
                now
            ),
            Err(WebhookError::Signature(SignatureError::Stale))
        );
        assert_eq!(
            g.verify_webhook(None, SUCCEEDED.as_bytes(), now),
            Err(WebhookError::Signature(SignatureError::Malformed))
        );
        let garbled =
            r#"{"id":"evt_3","type":"payment_intent.succeeded","data":{"object":{"id":1}}}"#;
        assert!(matches!(
            g.verify_webhook(
                Some(&signed(garbled, 1_700_000_000)),
                garbled.as_bytes(),
                now
            ),
            Err(WebhookError::Body(_))
        ));
    }

    #[test]
    fn the_signature_header_is_the_simulators() {
        assert!(gateway()
            .signature_header()
            .eq_ignore_ascii_case(paysim::SIGNATURE_HEADER));
    }

    #[test]
    fn ids_that_would_change_the_path_are_refused() {
        assert!(path_segment("pi_0123abc").is_ok());
        for bad in ["", "../refunds", "pi_1?x=1", "pi 1", "pi_1/cancel"] {
            assert!(
                matches!(path_segment(bad), Err(GatewayError::Rejected(_))),
                "{bad}"
            );
        }
    }
}
