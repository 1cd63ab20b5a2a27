//! Who orders a queue's changes. A change is an entry of the queue's log: the
//! sequencer gives it its place in the log, every copy of the queue applies it
//! there, and the store keeps it. In one process the show's lock orders entries; in
//! the scaled mode a Redis stream does, and every node follows it (`shared.rs`).
use super::engine::DynQueueEngine;
use super::service::ShowQueue;
use super::state::{Applied, QueueData};
use super::writer::{LogWriter, Pending};
use crate::error::Result;
use crate::signing::Keyring;
use crate::store::queue::{DynQueueStore, QueueLogRecord};
use async_trait::async_trait;
use boxoffice_domain::ShowId;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

#[async_trait]
pub(super) trait Sequencer: Send + Sync {
    /// Whether other nodes keep copies of the queues too (they learn of new ones
    /// from the store, within a refresh).
    fn shared(&self) -> bool;
    /// Starts keeping `queue` on this node: brings its copy up to the log. A `new`
    /// queue (just configured) has no log anywhere yet.
    async fn open(&self, queue: &Arc<ShowQueue>, new: bool) -> anyhow::Result<()>;
    /// Orders `entries` (their `seq` is given here), applies them to this node's
    /// copy and waits until the store keeps them; what each did.
    async fn submit(
        &self,
        queue: &Arc<ShowQueue>,
        entries: Vec<QueueLogRecord>,
    ) -> Result<Vec<Applied>>;
    /// Holds a pass for one reserve against every node for `ttl` (the pass's life:
    /// a used pass stays held); false when another reserve holds it.
    async fn hold_pass(&self, show: ShowId, jti: Uuid, ttl: Duration) -> Result<bool>;
    /// Gives a held pass back (its reserve failed).
    async fn release_pass(&self, show: ShowId, jti: Uuid);
}

pub(super) type DynSequencer = Arc<dyn Sequencer>;

/// What applying entries needs, whoever orders them.
#[derive(Clone)]
pub(super) struct Replica {
    pub keys: Arc<Keyring>,
    pub engine: DynQueueEngine,
    pub store: DynQueueStore,
    pub log: LogWriter,
}

impl Replica {
    /// Applies `entry` as the log's next; the sequence number follows it.
    pub(super) fn apply(&self, d: &mut QueueData, entry: &QueueLogRecord) -> Applied {
        let applied = d.apply(&self.keys, self.engine.as_ref(), entry);
        d.next_seq = d.next_seq.max(entry.seq + 1);
        applied
    }

    /// A fresh copy of the queue, before any entry: settings as stored, no draw yet.
    pub(super) fn reset(&self, d: &mut QueueData) {
        let mut settings = d.settings.clone();
        settings.drawn_at = None;
        let followers = std::mem::take(&mut d.followers);
        self.engine.clear(d.show);
        *d = QueueData::new(settings);
        d.followers = followers;
    }
}

/// The show's lock orders entries: the embedded mode, and PostgreSQL on one node.
pub(super) struct LocalSequencer {
    pub replica: Replica,
}

#[async_trait]
impl Sequencer for LocalSequencer {
    fn shared(&self) -> bool {
        false
    }

    async fn open(&self, queue: &Arc<ShowQueue>, _: bool) -> anyhow::Result<()> {
        let show = queue.data.lock().show;
        let entries = self.replica.store.queue_log(show).await?;
        let mut d = queue.data.lock();
        self.replica.reset(&mut d);
        for entry in &entries {
            self.replica.apply(&mut d, entry);
        }
        Ok(())
    }

    async fn submit(
        &self,
        queue: &Arc<ShowQueue>,
        mut entries: Vec<QueueLogRecord>,
    ) -> Result<Vec<Applied>> {
        let mut pending: Vec<Pending> = Vec::new();
        let applied: Vec<Applied> = {
            let mut d = queue.data.lock();
            entries
                .iter_mut()
                .map(|e| {
                    e.seq = d.next_seq;
                    let applied = d.apply(&self.replica.keys, self.replica.engine.as_ref(), e);
                    // Only what changed the queue is kept: replay would refuse the rest
                    // the same way.
                    if applied == Applied::Done {
                        d.next_seq += 1;
                        pending.push(self.replica.log.append(e.clone()));
                    }
                    applied
                })
                .collect()
        };
        for p in pending {
            p.durable().await?;
        }
        // Once durable: the admitted hear of their pass at once.
        queue.announce(&entries, &applied);
        Ok(applied)
    }

    async fn hold_pass(&self, _: ShowId, _: Uuid, _: Duration) -> Result<bool> {
        // The show's lock is the only holder there is (`in_use`).
        Ok(true)
    }

    async fn release_pass(&self, _: ShowId, _: Uuid) {}
}
