//! In-process readers of the outbox, the platform's event log: each keeps its own stored
//! offset so projections (audit, later notifications and webhooks) resume where they stopped.
pub mod consumer;

pub use consumer::{OutboxConsumer, OutboxHandler};
