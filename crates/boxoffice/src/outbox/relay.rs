//! The relay port: how committed outbox events leave the transaction that wrote them.
//! Embedded, consumers read the outbox table in-process and the relay only wakes them
//! the moment a batch commits (polling stays as the fallback); scaled out, an adapter
//! publishes each event to NATS JetStream on a subject per event type, keyed by the
//! event id so a batch sent twice is de-duplicated by the stream.
use crate::store::OutboxEvent;
use async_trait::async_trait;
use tokio::sync::watch;

/// Subjects are `<prefix>.<event type>`: `boxoffice.events.booking.confirmed`.
pub const SUBJECT_PREFIX: &str = "boxoffice.events";

#[async_trait]
pub trait OutboxRelay: Send + Sync {
    /// A transaction that wrote outbox events has committed. Called by every outbox
    /// writer right after its commit; never blocks it.
    fn committed(&self);
    /// Publishes committed events in `seq` order, each as [`RelayMessage::of`] shapes it.
    async fn publish(&self, events: &[OutboxEvent]) -> anyhow::Result<()>;
}

/// One event as a stream message.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayMessage {
    pub subject: String,
    /// The event id, sent as `Nats-Msg-Id`: the stream drops a second copy.
    pub dedup_id: String,
    /// The event as JSON (its seq, id, type, aggregate, payload and time).
    pub body: Vec<u8>,
}

impl RelayMessage {
    pub fn of(event: &OutboxEvent) -> anyhow::Result<Self> {
        Ok(Self {
            subject: subject_of(&event.event_type),
            dedup_id: event.id.clone(),
            body: serde_json::to_vec(event)?,
        })
    }
}

/// The subject an event type is published on; characters NATS reserves in subjects
/// (white space, `*`, `>`) become `_`.
pub fn subject_of(event_type: &str) -> String {
    let clean: String = event_type
        .chars()
        .map(|c| {
            if c.is_whitespace() || c == '*' || c == '>' {
                '_'
            } else {
                c
            }
        })
        .collect();
    format!("{SUBJECT_PREFIX}.{clean}")
}

/// The embedded adapter: a commit counter that in-process consumers wait on.
pub struct LocalRelay {
    commits: watch::Sender<u64>,
}

impl Default for LocalRelay {
    fn default() -> Self {
        Self {
            commits: watch::Sender::new(0),
        }
    }
}

impl LocalRelay {
    /// A waiter that wakes after each commit announced from now on.
    pub fn subscribe(&self) -> Wakeup {
        Wakeup(self.commits.subscribe())
    }
}

#[async_trait]
impl OutboxRelay for LocalRelay {
    fn committed(&self) {
        self.commits.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// In-process consumers read the table themselves: publishing only wakes them.
    async fn publish(&self, events: &[OutboxEvent]) -> anyhow::Result<()> {
        if !events.is_empty() {
            self.committed();
        }
        Ok(())
    }
}

/// Waits for the next commit; commits announced while nobody waited wake it once.
pub struct Wakeup(watch::Receiver<u64>);

impl Wakeup {
    pub async fn next(&mut self) {
        if self.0.changed().await.is_err() {
            // The relay is gone: only the poll interval wakes the consumer now.
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxoffice_domain::Timestamp;
    use std::time::Duration;

    #[test]
    fn messages_carry_a_subject_per_type_and_the_event_id() {
        let e = OutboxEvent {
            seq: 3,
            id: "0190d0f4-7f0c-7aa6-8f2e-5c2d3b1a9e77".into(),
            event_type: "booking.confirmed".into(),
            aggregate_id: "b1".into(),
            payload: serde_json::json!({"quantity": 2}),
            created_at: Timestamp::from_millis(5),
            trace_context: None,
        };
        let m = RelayMessage::of(&e).unwrap();
        assert_eq!(m.subject, "boxoffice.events.booking.confirmed");
        assert_eq!(m.dedup_id, e.id);
        let body: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        assert_eq!(body["payload"]["quantity"], 2);
        assert_eq!(body["seq"], 3);
        assert_eq!(subject_of("odd type*>"), "boxoffice.events.odd_type__");
    }

    #[tokio::test]
    async fn a_commit_wakes_every_waiter_and_commits_coalesce() {
        let relay = LocalRelay::default();
        let mut a = relay.subscribe();
        let mut b = relay.subscribe();
        let waiting = tokio::spawn(async move {
            a.next().await;
            a
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        relay.committed();
        let mut a = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("woken")
            .unwrap();
        relay.committed();
        relay.committed();
        tokio::time::timeout(Duration::from_secs(1), b.next())
            .await
            .expect("a waiter that was not waiting still sees the commits");
        tokio::time::timeout(Duration::from_secs(1), a.next())
            .await
            .expect("two commits, one wake");
        assert!(
            tokio::time::timeout(Duration::from_millis(30), a.next())
                .await
                .is_err(),
            "no commit, no wake"
        );
        relay.publish(&[]).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(30), b.next())
            .await
            .is_err());
    }
}
