//! The virtual waiting room: on a big on-sale the crowd waits in a fair line, and
//! reserve sees only as many buyers as the sale can serve, each with a signed pass.
//!
//! Places live in an engine behind a port (sorted-set semantics, in process here),
//! every change is appended to a group-committed log so a restart keeps each place
//! and pass, and the order at opening is drawn from a published seed.
pub mod admission;
pub mod config;
pub mod engine;
pub(crate) mod events;
pub mod http;
pub mod pass;
mod service;
mod settings;
mod state;
pub mod views;
mod writer;

pub use admission::admit_due;
pub use config::QueueConfig;
pub use service::{ClaimedPass, Joined, QueueService};

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
}

impl QueueService {
    /// Starts the log writer (stopped by `stop`, after committing what is queued)
    /// and rebuilds every queue from the store.
    pub async fn start(
        parts: QueueParts,
        stop: CancellationToken,
    ) -> anyhow::Result<(Arc<Self>, JoinHandle<()>)> {
        let (log, task) = writer::LogWriter::spawn(parts.store.clone(), stop);
        let service = Self::from_parts(parts, Arc::new(engine::LocalQueueEngine::default()), log);
        let (queues, places) = admission::restore(&service).await?;
        tracing::info!(queues, places, "waiting rooms rebuilt from the log");
        Ok((Arc::new(service), task))
    }
}
