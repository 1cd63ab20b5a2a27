//! What the waiting room keeps: each queue's settings and its append-only log, from
//! which a restart rebuilds every place, draw and pass.
use super::StoreResult;
use async_trait::async_trait;
use boxoffice_domain::queue::{QueueMethod, QueueState};
use boxoffice_domain::{ShowId, Timestamp, UserId};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSettingsRecord {
    pub show_id: ShowId,
    pub method: QueueMethod,
    /// Buyers admitted per second; 0: automatic.
    pub rate_per_sec: u32,
    pub pass_ttl_secs: u32,
    pub max_size: u64,
    pub opens_at: Timestamp,
    pub pre_queue_secs: u32,
    pub lottery_winners: u64,
    /// Only accounts with a verified email may join.
    pub verified_only: bool,
    pub state: QueueState,
    pub seed: [u8; 32],
    pub drawn_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLogKind {
    /// A place taken in the pre-queue window (ordered by the draw).
    PreJoin,
    Join,
    Draw,
    Admit,
    Use,
    Leave,
    Revoke,
}

impl QueueLogKind {
    pub const ALL: [QueueLogKind; 7] = [
        QueueLogKind::PreJoin,
        QueueLogKind::Join,
        QueueLogKind::Draw,
        QueueLogKind::Admit,
        QueueLogKind::Use,
        QueueLogKind::Leave,
        QueueLogKind::Revoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QueueLogKind::PreJoin => "prejoin",
            QueueLogKind::Join => "join",
            QueueLogKind::Draw => "draw",
            QueueLogKind::Admit => "admit",
            QueueLogKind::Use => "use",
            QueueLogKind::Leave => "leave",
            QueueLogKind::Revoke => "revoke",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a queue's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLogRecord {
    pub show_id: ShowId,
    pub seq: u64,
    pub kind: QueueLogKind,
    pub user_id: Option<UserId>,
    /// The place (join) or the pass (admit, use, revoke).
    pub ref_id: Option<Uuid>,
    pub at: Timestamp,
    /// When the pass expires (admit).
    pub until: Option<Timestamp>,
}

#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Creates or replaces a show's settings.
    async fn put_queue_settings(&self, settings: &QueueSettingsRecord) -> StoreResult<()>;
    async fn all_queue_settings(&self) -> StoreResult<Vec<QueueSettingsRecord>>;
    /// Appends log entries in one transaction (the group commit).
    async fn append_queue_log(&self, entries: &[QueueLogRecord]) -> StoreResult<()>;
    /// A show's log, in order.
    async fn queue_log(&self, show: ShowId) -> StoreResult<Vec<QueueLogRecord>>;
}

pub type DynQueueStore = std::sync::Arc<dyn QueueStore>;
