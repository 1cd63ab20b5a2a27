//! The virtual waiting room: on a big on-sale the crowd waits in a fair line, and
//! reserve sees only as many buyers as the sale can serve, each with a signed pass.
//!
//! Every change is an entry of the show's log, applied in the log's order to the
//! node's copy (places ordered by an engine with sorted-set semantics) and kept by a
//! group-committed store, so a restart keeps each place and pass; in the scaled mode
//! the log is a Redis stream every node follows. The order at opening is drawn from
//! a published seed.
pub mod admission;
pub mod config;
pub mod engine;
pub(crate) mod events;
pub mod http;
pub mod pass;
mod sequencer;
mod service;
mod settings;
mod shared;
mod state;
pub mod views;
mod writer;

pub use admission::admit_due;
pub use config::QueueConfig;
pub use service::{ClaimedPass, Joined, QueueService};
pub use settings::REFRESH_EVERY;

use crate::catalog::ShowCache;
use crate::clock::DynClock;
use crate::inventory::DynInventory;
use crate::organizations::Access;
use crate::signing::Keyring;
use crate::store::queue::DynQueueStore;
use crate::store::DynStore;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the waiting room is built from.
pub struct QueueParts {
    pub store: DynQueueStore,
    pub accounts: DynStore,
    pub keys: Arc<Keyring>,
    pub clock: DynClock,
    pub access: Arc<Access>,
    pub cache: Arc<ShowCache>,
    pub inventory: DynInventory,
    pub config: QueueConfig,
    /// Redis shared by every node (URL, answer timeout): the scaled mode.
    pub redis: Option<(String, std::time::Duration)>,
}

impl QueueService {
    /// Starts the log writer (stopped by `stop`, after committing what is queued)
    /// and rebuilds every queue from the store.
    pub async fn start(
        parts: QueueParts,
        stop: CancellationToken,
    ) -> anyhow::Result<(Arc<Self>, JoinHandle<()>)> {
        let (log, task) = writer::LogWriter::spawn(parts.store.clone(), stop.clone());
        let engine: engine::DynQueueEngine = Arc::new(engine::LocalQueueEngine::default());
        let replica = sequencer::Replica {
            keys: parts.keys.clone(),
            engine: engine.clone(),
            store: parts.store.clone(),
            log,
        };
        let sequencer: sequencer::DynSequencer = match &parts.redis {
            Some((url, timeout)) => Arc::new(Arc::new(
                shared::RedisSequencer::connect(url, *timeout, replica, stop).await?,
            )),
            None => Arc::new(sequencer::LocalSequencer { replica }),
        };
        let service = Self::from_parts(parts, engine, sequencer);
        let (queues, places) = admission::restore(&service).await?;
        tracing::info!(queues, places, "waiting rooms rebuilt from the log");
        Ok((Arc::new(service), task))
    }
}
