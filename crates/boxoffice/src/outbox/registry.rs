//! The consumers this process runs, by name: dead-letter replays find a letter's
//! handler here, and retention never prunes past the slowest of them.
use super::consumer::OutboxConsumer;
use super::relay::Wakeup;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
pub struct Consumers {
    by_name: RwLock<BTreeMap<&'static str, Arc<OutboxConsumer>>>,
}

impl Consumers {
    /// Adds a consumer; a second one with the same name replaces the first.
    pub fn register(&self, consumer: Arc<OutboxConsumer>) {
        self.by_name
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(consumer.name(), consumer);
    }

    pub fn get(&self, name: &str) -> Option<Arc<OutboxConsumer>> {
        self.by_name
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.by_name
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect()
    }
}

/// Runs `consumer` until `stop`: catches up and retries what is due, then sleeps
/// until the relay announces a commit or `poll` passes, whichever comes first.
pub async fn run(
    consumer: Arc<OutboxConsumer>,
    mut wake: Wakeup,
    poll: Duration,
    stop: CancellationToken,
) {
    loop {
        if let Err(e) = consumer.catch_up().await {
            tracing::warn!(consumer = consumer.name(), error = %format!("{e:#}"), "outbox consumer failed; retrying");
        }
        if let Err(e) = consumer.retry_due().await {
            tracing::warn!(consumer = consumer.name(), error = %format!("{e:#}"), "outbox retries failed; retrying");
        }
        tokio::select! {
            () = wake.next() => {}
            () = tokio::time::sleep(poll) => {}
            () = stop.cancelled() => break,
        }
    }
}
