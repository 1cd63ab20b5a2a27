//! The consumers this process runs, by name: dead-letter replays find a letter's
//! handler here, and retention never prunes past the slowest of them.
use super::consumer::OutboxConsumer;
use super::relay::Wakeup;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
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

/// How a consumer waits between reads.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Longest wait when no commit wakes the consumer (the fallback).
    pub poll: Duration,
    /// Least time from the start of one read to the start of the next.
    pub least: Duration,
}

impl Pace {
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            poll: Duration::from_millis(config.outbox_poll_ms.max(10)),
            least: Duration::from_millis(config.outbox_pace_ms),
        }
    }
}

/// Runs `consumer` until `stop`: catches up and retries what is due, then sleeps
/// until the relay announces a commit or `poll` passes, whichever comes first.
///
/// During a sale every group commit announces itself, hundreds of times a second; a
/// consumer that read at each one paid its fixed cost (offset read and write,
/// retries query, a wake-up) for a handful of events each time. Reads that find
/// events therefore start at least `pace.least` apart: commits in between are taken
/// by the next read, while a consumer that was idle still reads at the first commit.
pub async fn run(
    consumer: Arc<OutboxConsumer>,
    mut wake: Wakeup,
    pace: Pace,
    stop: CancellationToken,
) {
    // When the last read that found events started.
    let mut busy_since: Option<Instant> = None;
    let mut retried: Option<Instant> = None;
    loop {
        let started = Instant::now();
        match consumer.catch_up().await {
            Ok(0) => {}
            Ok(_) => busy_since = Some(started),
            Err(e) => {
                tracing::warn!(consumer = consumer.name(), error = %format!("{e:#}"), "outbox consumer failed; retrying")
            }
        }
        // Parked events wait a backoff of their own: looking once per poll is enough.
        if retried.is_none_or(|at| at.elapsed() >= pace.poll) {
            retried = Some(Instant::now());
            if let Err(e) = consumer.retry_due().await {
                tracing::warn!(consumer = consumer.name(), error = %format!("{e:#}"), "outbox retries failed; retrying");
            }
        }
        tokio::select! {
            () = wake.next() => {}
            () = tokio::time::sleep(pace.poll) => {}
            () = stop.cancelled() => break,
        }
        if let Some(last) = busy_since {
            tokio::select! {
                () = tokio::time::sleep_until((last + pace.least).into()) => {}
                () = stop.cancelled() => break,
            }
        }
    }
}
