//! Signed webhooks to the merchant, delivered the way processors do: at least once,
//! retried with backoff on any non-2xx, and — by the knobs — duplicated and delayed
//! so that they arrive out of order.
use crate::Shared;
use rand::Rng;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// `{id, type, created, data: {object}}`, as Stripe shapes events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix milliseconds.
    pub created: i64,
    pub data: EventData,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

impl Event {
    pub fn new(kind: &str, object: &impl Serialize, now_ms: i64) -> Self {
        Self {
            id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            object: "event".into(),
            kind: kind.into(),
            created: now_ms,
            data: EventData {
                object: serde_json::to_value(object).unwrap_or(serde_json::Value::Null),
            },
        }
    }
}

/// Sends `event` to the configured URL in the background (twice, at
/// `duplicate_rate`), each copy after its own random delay up to `reorder_ms`.
pub(crate) fn dispatch(shared: &Arc<Shared>, event: Event) {
    if shared.config.webhook_url.is_none() {
        return;
    }
    let body = match serde_json::to_vec(&event) {
        Ok(b) => axum::body::Bytes::from(b),
        Err(_) => return,
    };
    let knobs = shared.knobs();
    let copies = if rand::thread_rng().gen::<f64>() < knobs.duplicate_rate {
        2
    } else {
        1
    };
    for _ in 0..copies {
        let delay = if knobs.reorder_ms > 0 {
            Duration::from_millis(rand::thread_rng().gen_range(0..=knobs.reorder_ms))
        } else {
            Duration::ZERO
        };
        let shared = shared.clone();
        let body = body.clone();
        let id = event.id.clone();
        let cancel = shared.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = deliver(&shared, &id, body, delay) => {}
            }
        });
    }
}

async fn deliver(shared: &Shared, id: &str, body: axum::body::Bytes, delay: Duration) {
    let Some(url) = shared.config.webhook_url.as_deref() else {
        return;
    };
    tokio::time::sleep(delay).await;
    let attempts = shared.config.webhook_attempts.max(1);
    for attempt in 0..attempts {
        // Signed at each attempt, as a receiver checks the timestamp's freshness.
        let signature = boxoffice_domain::signature::header(
            &[shared.config.webhook_secret.expose_secret().as_bytes()],
            crate::now_ms() / 1000,
            &body,
        );
        let sent = shared
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(crate::SIGNATURE_HEADER, signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                shared.counters.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(r) => {
                tracing::warn!(
                    event = id,
                    attempt,
                    status = r.status().as_u16(),
                    "webhook refused"
                );
            }
            Err(e) => {
                tracing::warn!(event = id, attempt, error = %e, "webhook delivery failed");
            }
        }
        shared
            .counters
            .attempts_failed
            .fetch_add(1, Ordering::Relaxed);
        if attempt + 1 < attempts {
            let backoff = (shared.config.webhook_retry_base * 2u32.saturating_pow(attempt))
                .min(Duration::from_secs(60));
            tokio::time::sleep(backoff).await;
        }
    }
    shared.counters.abandoned.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(event = id, attempts, "webhook abandoned");
}
