//! Storage port of the outbox's upkeep: events a consumer failed on (parked for a
//! retry, then dead letters an admin resolves) and retention of what every consumer
//! has handled. Kept apart from bookings, which only append to the outbox.
use super::{OutboxEvent, Page, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::Timestamp;

/// An event a consumer failed on and will try again.
#[derive(Clone, Debug)]
pub struct RetryRecord {
    pub consumer: String,
    /// A copy of the event: retention may prune the outbox row meanwhile.
    pub event: OutboxEvent,
    /// Failed attempts so far.
    pub attempts: u32,
    pub first_failed_at: Timestamp,
    pub last_failed_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub last_error: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadLetterStatus {
    /// Waiting for an admin.
    Open,
    /// Handled by a replay.
    Replayed,
    /// Given up on by an admin.
    Discarded,
}

impl DeadLetterStatus {
    pub const ALL: [DeadLetterStatus; 3] = [Self::Open, Self::Replayed, Self::Discarded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Replayed => "replayed",
            Self::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// An event a consumer gave up on after its last attempt.
#[derive(Clone, Debug)]
pub struct DeadLetterRecord {
    /// UUIDv7.
    pub id: String,
    pub consumer: String,
    pub event: OutboxEvent,
    pub last_error: String,
    pub attempts: u32,
    pub first_failed_at: Timestamp,
    pub last_failed_at: Timestamp,
    pub status: DeadLetterStatus,
    /// When it was replayed or discarded.
    pub resolved_at: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct DeadLetterFilter {
    pub consumer: Option<String>,
    pub status: Option<DeadLetterStatus>,
}

#[async_trait]
pub trait OutboxUpkeepStore: Send + Sync {
    /// The parked retry of `event_id` by `consumer`, if any.
    async fn retry_of(&self, consumer: &str, event_id: &str) -> StoreResult<Option<RetryRecord>>;
    /// Stores (or replaces) a parked retry.
    async fn put_retry(&self, retry: &RetryRecord) -> StoreResult<()>;
    /// Retries of `consumer` due at `now`, oldest event first.
    async fn due_retries(
        &self,
        consumer: &str,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<RetryRecord>>;
    async fn delete_retry(&self, consumer: &str, event_id: &str) -> StoreResult<()>;
    /// Records a dead letter and drops the retry it comes from, in one transaction.
    /// A letter for the same consumer and event is reopened with the new details.
    async fn bury(&self, letter: &DeadLetterRecord) -> StoreResult<()>;
    async fn dead_letter(&self, id: &str) -> StoreResult<DeadLetterRecord>;
    /// Letters matching `filter`, most recently failed first, and how many match.
    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> StoreResult<(Vec<DeadLetterRecord>, i64)>;
    /// Rewrites an open letter (its status, error, attempts and times); `false`
    /// when it is no longer open.
    async fn update_open_letter(&self, letter: &DeadLetterRecord) -> StoreResult<bool>;
    /// Deletes up to `limit` outbox events at or below `up_to_seq` created before
    /// `before`; how many.
    async fn prune_outbox(&self, up_to_seq: i64, before: Timestamp, limit: u32)
        -> StoreResult<u64>;
    /// Deletes up to `limit` replayed or discarded letters resolved before `before`.
    async fn prune_dead_letters(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;
}
