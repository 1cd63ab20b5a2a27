//! Storage port of organizer webhooks: endpoints, one delivery per (endpoint, event)
//! and the log of attempts. Delivery state lives here, not in memory, so a restart
//! resumes exactly the deliveries that were due.
use super::{Page, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::ids::{DeliveryId, WebhookId};
use boxoffice_domain::{OrganizationId, Timestamp};

#[derive(Clone, Debug)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub url: String,
    /// Empty when none was given.
    pub description: String,
    /// Subscribed types, from `boxoffice_domain::webhook::EVENT_TYPES`.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// The signing secret, sealed by the vault.
    pub secret_sealed: String,
    /// The secret before the last rotation, sealed, while it still signs.
    pub previous_secret_sealed: Option<String>,
    pub previous_expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookRecord {
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == event_type)
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Gave up: still failing when the retry window closed.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown delivery status {s:?}"))
    }
}

/// One event for one endpoint, with the outcome of its latest attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    /// The outbox event's id: the receiver's idempotency key.
    pub event_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub event_created_at: Timestamp,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// When a pending delivery is sent next; `None` once it is settled.
    pub next_attempt_at: Option<Timestamp>,
    /// Start of the retry window.
    pub first_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// One attempt of a delivery, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: Timestamp,
    /// `None` when no HTTP answer came (refused, timed out).
    pub response_status: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn insert_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()>;
    async fn webhook(&self, id: WebhookId) -> StoreResult<WebhookRecord>;
    /// The organization's endpoints, oldest first.
    async fn webhooks_of(&self, org: OrganizationId) -> StoreResult<Vec<WebhookRecord>>;
    /// Every enabled endpoint (the fan-out matches events against them).
    async fn enabled_webhooks(&self) -> StoreResult<Vec<WebhookRecord>>;
    /// Rewrites everything but the id, organization and creation time.
    async fn update_webhook(&self, webhook: &WebhookRecord) -> StoreResult<()>;
    /// Removes an endpoint of `org` with its deliveries; `false` if there is none.
    async fn delete_webhook(&self, org: OrganizationId, id: WebhookId) -> StoreResult<bool>;

    /// Inserts deliveries, skipping any whose (endpoint, event) exists; how many
    /// were new.
    async fn insert_deliveries(&self, deliveries: &[DeliveryRecord]) -> StoreResult<u64>;
    async fn delivery(&self, id: DeliveryId) -> StoreResult<DeliveryRecord>;
    /// Pending deliveries due at `now` to enabled endpoints, the most overdue first,
    /// each with its endpoint.
    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(DeliveryRecord, WebhookRecord)>>;
    /// Takes deliveries for an attempt: those of `ids` still pending and due at `now`
    /// get `lease_until` as their next attempt (a crash mid-attempt sends again after
    /// it); the ids taken. A delivery settled or taken meanwhile is not returned.
    async fn claim_deliveries(
        &self,
        ids: &[DeliveryId],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<DeliveryId>>;
    /// An endpoint's deliveries, newest first, and how many it has.
    async fn deliveries_of(
        &self,
        endpoint: WebhookId,
        page: Page,
    ) -> StoreResult<(Vec<DeliveryRecord>, i64)>;
    /// Logs `attempt` and stores `delivery` as it is after it, in one transaction,
    /// provided the delivery is still pending with `attempt.attempt - 1` attempts;
    /// `false` when it changed meanwhile (a redelivery) and nothing was written.
    async fn record_attempt(
        &self,
        delivery: &DeliveryRecord,
        attempt: &AttemptRecord,
    ) -> StoreResult<bool>;
    /// Makes a delivery pending again, due at `at`, with a fresh retry window.
    async fn redeliver(&self, id: DeliveryId, at: Timestamp) -> StoreResult<()>;
    /// The attempts of a delivery, first first.
    async fn attempts_of(&self, delivery: DeliveryId) -> StoreResult<Vec<AttemptRecord>>;
}
