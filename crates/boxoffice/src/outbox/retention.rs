//! Retention of the event log: outbox rows older than the retention period *and*
//! handled by every consumer of this process are deleted in bounded batches (never
//! past the slowest offset, so no consumer loses an event it has not read), and
//! replayed or discarded dead letters go after their own period. Parked retries and
//! dead letters keep a copy of their event, so pruning never takes one from them.
use super::registry::Consumers;
use crate::clock::DynClock;
use crate::store::{DynStore, StoreResult};
use std::sync::Arc;
use std::time::Duration;

/// Rows per delete statement: one short transaction each, never a long lock.
pub const PRUNE_BATCH: u32 = 1_000;
/// Batches per run; what is left waits for the next run.
const MAX_BATCHES: u32 = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub dead_letters: u64,
}

pub struct Retention {
    store: DynStore,
    consumers: Arc<Consumers>,
    clock: DynClock,
    pub events_for: Duration,
    pub dead_letters_for: Duration,
}

impl Retention {
    pub fn new(
        store: DynStore,
        consumers: Arc<Consumers>,
        clock: DynClock,
        events_for: Duration,
        dead_letters_for: Duration,
    ) -> Self {
        Self {
            store,
            consumers,
            clock,
            events_for,
            dead_letters_for,
        }
    }

    /// One pass over the outbox and the dead letters.
    pub async fn run_once(&self) -> StoreResult<Pruned> {
        let now = self.clock.now();
        let names = self.consumers.names();
        let events = prune_outbox(
            &self.store,
            &names,
            now.plus_millis(-(self.events_for.as_millis() as i64)),
        )
        .await?;
        let before = now.plus_millis(-(self.dead_letters_for.as_millis() as i64));
        let mut dead_letters = 0;
        for _ in 0..MAX_BATCHES {
            let n = self.store.prune_dead_letters(before, PRUNE_BATCH).await?;
            dead_letters += n;
            if n < u64::from(PRUNE_BATCH) {
                break;
            }
        }
        Ok(Pruned {
            events,
            dead_letters,
        })
    }
}

/// Deletes outbox events created before `before` that every one of `consumers` has
/// handled; with no consumer, nothing (the log is all anyone has).
pub async fn prune_outbox(
    store: &DynStore,
    consumers: &[&str],
    before: boxoffice_domain::Timestamp,
) -> StoreResult<u64> {
    let mut slowest: Option<i64> = None;
    for name in consumers {
        let offset = store.consumer_offset(name).await?;
        slowest = Some(slowest.map_or(offset, |s| s.min(offset)));
    }
    let Some(up_to) = slowest else { return Ok(0) };
    let mut pruned = 0;
    for _ in 0..MAX_BATCHES {
        let n = store.prune_outbox(up_to, before, PRUNE_BATCH).await?;
        pruned += n;
        if n < u64::from(PRUNE_BATCH) {
            break;
        }
    }
    Ok(pruned)
}
