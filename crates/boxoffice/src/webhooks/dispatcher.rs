//! Sends due deliveries to organizers' endpoints, signed, a bounded number at once, and
//! records each attempt. All state is in the store: a restart picks up whatever is due.
//!
//! A 2xx answer settles a delivery. Anything else (another status, a refused
//! connection, a timeout) reschedules it with exponential backoff and full jitter
//! until `max_age_secs` after its first attempt, then marks it failed. Sending is at
//! least once (a crash between the answer and its record sends again), which is why
//! every attempt carries the event's id for the receiver to deduplicate on.
use super::service::signing_secrets;
use crate::clock::DynClock;
use crate::config::WebhooksConfig;
use crate::store::{AttemptRecord, DeliveryRecord, DeliveryStatus, DynStore, WebhookRecord};
use crate::timefmt::rfc3339;
use crate::vault::Vault;
use boxoffice_domain::ids::DeliveryId;
use boxoffice_domain::signature;
use boxoffice_domain::webhook::retry_delay_ms;
use boxoffice_domain::Timestamp;
use parking_lot::Mutex;
use rand::Rng;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>` (one `v1` per live secret).
pub const SIGNATURE_HEADER: &str = "Boxoffice-Signature";
pub const EVENT_ID_HEADER: &str = "Boxoffice-Event-Id";
pub const EVENT_TYPE_HEADER: &str = "Boxoffice-Event-Type";
/// How long after an attempt's timeout a claimed delivery becomes due again when its
/// outcome was never recorded (the process died mid-attempt).
const LEASE_MARGIN_MS: i64 = 30_000;
/// Longest error text kept per attempt.
const MAX_ERROR_CHARS: usize = 500;

pub struct Dispatcher {
    store: DynStore,
    vault: Arc<Vault>,
    clock: DynClock,
    config: WebhooksConfig,
    client: reqwest::Client,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    /// Deliveries being attempted now, so a poll does not start them twice.
    inflight: Mutex<HashSet<DeliveryId>>,
}

impl Dispatcher {
    pub fn new(
        store: DynStore,
        vault: Arc<Vault>,
        clock: DynClock,
        config: WebhooksConfig,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Self> {
        let mut client = reqwest::Client::builder()
            // A redirect could lead a signed payload anywhere: it counts as a failure.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("boxoffice-webhooks/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_millis(config.timeout_ms.max(1)));
        if !config.allow_private_addresses {
            client = client.dns_resolver(Arc::new(PublicOnly));
        }
        let client = client.build()?;
        Ok(Self {
            store,
            vault,
            clock,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            config,
            client,
            wake,
            inflight: Mutex::new(HashSet::new()),
        })
    }

    /// Sends due deliveries until `stop`, then waits for the attempts in flight (each
    /// bounded by the timeout) so their outcome is recorded.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let poll = Duration::from_millis(self.config.poll_ms.max(10));
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            if let Err(e) = self.start_due(&mut tasks).await {
                tracing::warn!(error = %e, "webhook dispatcher could not read due deliveries; retrying");
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Starts an attempt for each due delivery a free slot allows.
    async fn start_due(self: &Arc<Self>, tasks: &mut JoinSet<()>) -> anyhow::Result<()> {
        let free = self.permits.available_permits();
        if free == 0 {
            return Ok(());
        }
        let busy = self.inflight.lock().len();
        let now = self.clock.now();
        let due = self
            .store
            .due_deliveries(now, u32::try_from(free + busy).unwrap_or(u32::MAX))
            .await?;
        let candidates: Vec<DeliveryId> = {
            let inflight = self.inflight.lock();
            due.iter()
                .map(|(d, _)| d.id)
                .filter(|id| !inflight.contains(id))
                .take(free)
                .collect()
        };
        // The read above may predate an attempt that settled since: only what the
        // claim takes is sent, so a delivery never goes out twice from here.
        let lease = now.plus_millis(
            i64::try_from(self.config.timeout_ms)
                .unwrap_or(i64::MAX / 2)
                .saturating_add(LEASE_MARGIN_MS),
        );
        let claimed: HashSet<DeliveryId> = self
            .store
            .claim_deliveries(&candidates, now, lease)
            .await?
            .into_iter()
            .collect();
        for (delivery, endpoint) in due {
            if !claimed.contains(&delivery.id) || !self.inflight.lock().insert(delivery.id) {
                continue;
            }
            // Only this loop takes permits, and at most `free` of them.
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                self.inflight.lock().remove(&delivery.id);
                tracing::warn!(delivery = %delivery.id, "no free slot for a claimed delivery; it is retried after its lease");
                continue;
            };
            let me = self.clone();
            tasks.spawn(async move {
                let id = delivery.id;
                me.attempt(delivery, &endpoint).await;
                me.inflight.lock().remove(&id);
                drop(permit);
            });
        }
        Ok(())
    }

    /// One attempt of `delivery` to `endpoint`, recorded whatever happens.
    pub async fn attempt(&self, delivery: DeliveryRecord, endpoint: &WebhookRecord) {
        let started_at = self.clock.now();
        let started = Instant::now();
        let (status, error) = match self.send(&delivery, endpoint, started_at).await {
            Ok(s) if (200..300).contains(&s) => (Some(s), None),
            Ok(s) => (Some(s), Some(format!("answered {s}"))),
            Err(e) => (None, Some(truncate(&e))),
        };
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let unit = rand::thread_rng().gen::<f64>();
        let (next, attempt) = outcome(
            &self.config,
            delivery,
            started_at,
            status,
            error,
            duration_ms,
            unit,
        );
        let label = match next.status {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "failed",
            DeliveryStatus::Failed => "abandoned",
        };
        metrics::counter!(crate::telemetry::metrics::names::WEBHOOK_DELIVERIES, "outcome" => label)
            .increment(1);
        match self.store.record_attempt(&next, &attempt).await {
            Ok(true) => tracing::debug!(
                delivery = %next.id,
                webhook = %next.endpoint_id,
                attempt = attempt.attempt,
                status = ?attempt.response_status,
                outcome = next.status.as_str(),
                "webhook attempt recorded"
            ),
            Ok(false) => {
                tracing::debug!(delivery = %next.id, "delivery changed during its attempt; outcome dropped")
            }
            Err(e) => {
                tracing::warn!(delivery = %next.id, error = %e, "webhook attempt not recorded; it will be sent again")
            }
        }
    }

    /// POSTs the signed envelope; the HTTP status, or why there was none.
    async fn send(
        &self,
        d: &DeliveryRecord,
        endpoint: &WebhookRecord,
        now: Timestamp,
    ) -> Result<u16, String> {
        if !self.config.allow_private_addresses {
            // Address literals never reach the resolver.
            let url =
                url::Url::parse(&endpoint.url).map_err(|_| "the URL does not parse".to_owned())?;
            if let Some(why) = super::service::local_target(&url) {
                return Err(format!("refused: the URL {why}"));
            }
        }
        let secrets = signing_secrets(&self.vault, endpoint, now)
            .await
            .map_err(|_| {
                "the endpoint's secret cannot be opened with the configured keys".to_owned()
            })?;
        let body = envelope(d);
        let keys: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
        let header = signature::header(&keys, now.millis().div_euclid(1000), &body);
        let res = self
            .client
            .post(&endpoint.url)
            .timeout(Duration::from_millis(self.config.timeout_ms.max(1)))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, header)
            .header(EVENT_ID_HEADER, &d.event_id)
            .header(EVENT_TYPE_HEADER, &d.event_type)
            .body(body)
            .send()
            .await
            // The URL may carry the organizer's own token in its query: never repeat it.
            .map_err(|e| describe(&e.without_url()))?;
        Ok(res.status().as_u16())
    }
}

/// The delivery after an attempt at `at`, and the attempt's log line; `unit` is the
/// jitter draw in `[0, 1)`.
fn outcome(
    config: &WebhooksConfig,
    mut d: DeliveryRecord,
    at: Timestamp,
    status: Option<u16>,
    error: Option<String>,
    duration_ms: i64,
    unit: f64,
) -> (DeliveryRecord, AttemptRecord) {
    d.attempts += 1;
    let first = *d.first_attempt_at.get_or_insert(at);
    d.last_attempt_at = Some(at);
    d.last_status = status;
    d.last_error = error.clone();
    if error.is_none() {
        d.status = DeliveryStatus::Delivered;
        d.delivered_at = Some(at);
        d.next_attempt_at = None;
    } else {
        let max_age_ms = i64::try_from(config.max_age_secs)
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000);
        let give_up_at = first.plus_millis(max_age_ms);
        let delay = retry_delay_ms(
            d.attempts,
            i64::try_from(config.retry_base_ms).unwrap_or(i64::MAX),
            i64::try_from(config.retry_cap_ms).unwrap_or(i64::MAX),
            unit,
        );
        if at >= give_up_at {
            d.status = DeliveryStatus::Failed;
            d.next_attempt_at = None;
        } else {
            // The last attempt happens when the window closes, not after it.
            d.next_attempt_at = Some(at.plus_millis(delay).min(give_up_at));
        }
    }
    let attempt = AttemptRecord {
        delivery_id: d.id,
        attempt: d.attempts,
        at,
        response_status: status,
        duration_ms,
        error,
    };
    (d, attempt)
}

/// Resolves names to their public addresses only: a name resolving to loopback or
/// private addresses alone fails as a connection error.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| boxoffice_domain::webhook::is_public_address(a.ip()))
                .collect();
            if public.is_empty() {
                return Err("the name resolves to no public address".into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The body sent: `{id, type, created_at, data}`.
pub fn envelope(d: &DeliveryRecord) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": d.event_id,
        "type": d.event_type,
        "created_at": rfc3339(d.event_created_at),
        "data": d.payload,
    }))
    .expect("JSON values serialize")
}

/// Why a request got no answer, with its causes, without the URL.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::ids::WebhookId;

    fn pending() -> DeliveryRecord {
        DeliveryRecord {
            id: DeliveryId::new(),
            endpoint_id: WebhookId::new(),
            event_id: "e1".into(),
            event_type: "booking.confirmed".into(),
            payload: serde_json::json!({"show_id": "s"}),
            event_created_at: Timestamp::from_millis(0),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: Some(Timestamp::from_millis(0)),
            first_attempt_at: None,
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            delivered_at: None,
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn failures_back_off_within_the_window_then_give_up() {
        let c = WebhooksConfig {
            retry_base_ms: 1_000,
            retry_cap_ms: 4_000,
            max_age_secs: 10,
            ..WebhooksConfig::default()
        };
        let t0 = Timestamp::from_millis(1_000_000);
        let (after, log) = outcome(
            &c,
            pending(),
            t0,
            Some(503),
            Some("answered 503".into()),
            5,
            0.99,
        );
        assert_eq!(after.status, DeliveryStatus::Pending);
        assert_eq!((after.attempts, log.attempt), (1, 1));
        assert_eq!(after.first_attempt_at, Some(t0));
        let next = after.next_attempt_at.unwrap();
        assert!(next >= t0 && next <= t0.plus_millis(1_000), "{next:?}");

        let late = t0.plus_millis(9_000);
        let (after, _) = outcome(&c, after, late, None, Some("timed out".into()), 5, 0.99);
        assert!(
            after.next_attempt_at.unwrap() <= t0.plus_millis(10_000),
            "clamped to the window"
        );
        let (after, log) = outcome(
            &c,
            after,
            t0.plus_millis(10_000),
            Some(500),
            Some("x".into()),
            5,
            0.5,
        );
        assert_eq!(after.status, DeliveryStatus::Failed);
        assert_eq!(after.next_attempt_at, None);
        assert_eq!(log.attempt, 3);

        let (ok, log) = outcome(&c, pending(), t0, Some(204), None, 5, 0.5);
        assert_eq!(ok.status, DeliveryStatus::Delivered);
        assert_eq!(ok.delivered_at, Some(t0));
        assert_eq!((log.response_status, log.error), (Some(204), None));
    }

    #[tokio::test]
    async fn names_resolving_only_to_local_addresses_are_refused() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let local = PublicOnly
            .resolve(reqwest::dns::Name::from_str("localhost").unwrap())
            .await;
        let error = local.err().expect("localhost is refused").to_string();
        assert!(error.contains("no public address"), "{error}");
    }

    #[test]
    fn errors_are_truncated_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_CHARS + 10);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS + 1);
        assert_eq!(truncate("short"), "short");
    }

    #[test]
    fn the_envelope_carries_id_type_time_and_data() {
        let body: serde_json::Value = serde_json::from_slice(&envelope(&pending())).unwrap();
        assert_eq!(body["id"], "e1");
        assert_eq!(body["type"], "booking.confirmed");
        assert_eq!(body["created_at"], "1970-01-01T00:00:00Z");
        assert_eq!(body["data"]["show_id"], "s");
    }
}
