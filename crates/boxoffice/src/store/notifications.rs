//! Storage port of in-app notifications: one per outbox event and user, the state of
//! the email sent with it, and the reads the buyer's inbox needs.
use super::{Page, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::{Timestamp, UserId};

/// What became of the email that goes with a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailStatus {
    /// Not yet handed to the mailer (a replay sends it).
    Pending,
    /// Handed to the mailer.
    Sent,
    /// Over the per-user limit: not sent, on purpose.
    RateLimited,
    /// Nobody to send to (an erased account).
    Skipped,
}

impl EmailStatus {
    pub const ALL: [EmailStatus; 4] = [Self::Pending, Self::Sent, Self::RateLimited, Self::Skipped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::RateLimited => "rate_limited",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug)]
pub struct NotificationRecord {
    /// UUIDv7.
    pub id: String,
    pub user_id: UserId,
    /// The outbox event it comes from.
    pub event_id: String,
    /// The event type (`booking.confirmed` …).
    pub kind: String,
    pub title: String,
    pub body: String,
    pub detail: serde_json::Value,
    pub email_status: EmailStatus,
    pub emailed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Inserts unless the user has one for this event; the one stored afterwards.
    async fn put_notification(
        &self,
        record: &NotificationRecord,
    ) -> StoreResult<NotificationRecord> {
        let mut stored = self.put_notifications(std::slice::from_ref(record)).await?;
        stored.pop().ok_or(super::StoreError::NotFound)
    }
    /// Inserts each record unless its user has one for its event, in one write; the
    /// ones stored afterwards (new or earlier), in no particular order.
    async fn put_notifications(
        &self,
        records: &[NotificationRecord],
    ) -> StoreResult<Vec<NotificationRecord>>;
    async fn set_email_status(
        &self,
        id: &str,
        status: EmailStatus,
        at: Option<Timestamp>,
    ) -> StoreResult<()> {
        self.set_email_statuses(&[id.to_owned()], status, at).await
    }
    /// Sets the email state of every notification in `ids` in one write.
    async fn set_email_statuses(
        &self,
        ids: &[String],
        status: EmailStatus,
        at: Option<Timestamp>,
    ) -> StoreResult<()>;
    /// Emails handed to the mailer for `user` at or after `since`.
    async fn emails_sent_since(&self, user: UserId, since: Timestamp) -> StoreResult<i64>;
    /// The user's notifications, newest first, and how many match.
    async fn notifications_of(
        &self,
        user: UserId,
        unread_only: bool,
        page: Page,
    ) -> StoreResult<(Vec<NotificationRecord>, i64)>;
    /// Marks one of the user's notifications read (keeping the first read time);
    /// `NotFound` when the user has no such notification.
    async fn mark_notification_read(
        &self,
        user: UserId,
        id: &str,
        at: Timestamp,
    ) -> StoreResult<NotificationRecord>;
    /// Marks every unread notification of the user read; how many.
    async fn mark_all_notifications_read(&self, user: UserId, at: Timestamp) -> StoreResult<u64>;
    /// Removes every notification of the user (erasure); how many.
    async fn delete_notifications_of(&self, user: UserId) -> StoreResult<u64>;
}
