//! A reusable outbox consumer: reads events after its stored offset in batches, hands
//! them to a handler and stores the new offset, so a restart resumes without losses.
//!
//! Delivery is at least once: the offset is saved after the handler ran, so a crash
//! in between replays the batch and handlers must be idempotent (the audit projection
//! reuses each event's id as its entry id, notifications are unique per event and user).
//!
//! A handler reports failures per event. A failed event is parked in
//! `outbox_retries` with a copy of it and the consumer moves on, so one poison event
//! never holds back the others; parked events are retried after an exponential
//! backoff with full jitter, and after the last attempt become dead letters that an
//! admin replays or discards. The attempt count lives in that table, so it survives
//! a restart (a crash between a failure and its record costs one extra attempt at
//! most). Retried events may run after later events of the same aggregate, which
//! handlers must tolerate.
//!
//! Positions (`seq`) come from a sequence, and on PostgreSQL concurrent transactions
//! can commit out of order: seq 12 may become visible after seq 13. Moving the offset
//! past 13 would skip 12 for good, so the consumer only advances over contiguous
//! positions and waits at a hole. A hole that stays open longer than `gap_grace`
//! belongs to a transaction that rolled back (its sequence values are never reused)
//! and is stepped over.
use super::backoff::Backoff;
use super::tail::{OutboxTail, Segment};
use crate::clock::DynClock;
use crate::store::{
    DeadLetterRecord, DeadLetterStatus, DynStore, OutboxEvent, RetryRecord, StoreResult,
};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Longest error text kept with a retry or dead letter.
pub const ERROR_MAX_CHARS: usize = 2_000;

/// One event a handler could not handle.
#[derive(Debug)]
pub struct EventFailure {
    /// Position of the event in the slice the handler was given.
    pub index: usize,
    pub error: anyhow::Error,
}

/// What a consumer does with the events it reads. Must be idempotent.
#[async_trait]
pub trait OutboxHandler: Send + Sync {
    /// Handles `events` in order and returns those it could not handle, with why.
    /// `Err` fails the whole batch: the consumer then hands the events over one at
    /// a time, to tell the failing ones from the rest.
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<Vec<EventFailure>>;
}

/// How a consumer reads and retries.
#[derive(Clone, Copy, Debug)]
pub struct ConsumerSettings {
    /// Events handled per batch.
    pub batch: u32,
    /// How long a missing position may stay missing before it is stepped over.
    pub gap_grace: Duration,
    pub backoff: Backoff,
}

pub struct OutboxConsumer {
    /// The consumer's row in `consumer_offsets`.
    name: &'static str,
    store: DynStore,
    handler: Arc<dyn OutboxHandler>,
    clock: DynClock,
    settings: ConsumerSettings,
    holes: Holes,
    /// The offset as this consumer last read or saved it: it is the only writer of
    /// its row, so the row is read once.
    offset: Mutex<Option<i64>>,
    /// The newest events, read once for every consumer that shares it.
    tail: Option<Arc<OutboxTail>>,
}

impl OutboxConsumer {
    pub fn new(
        name: &'static str,
        store: DynStore,
        handler: Arc<dyn OutboxHandler>,
        clock: DynClock,
        settings: ConsumerSettings,
    ) -> Self {
        Self {
            name,
            store,
            handler,
            clock,
            holes: Holes::new(settings.gap_grace),
            offset: Mutex::new(None),
            tail: None,
            settings: ConsumerSettings {
                batch: settings.batch.max(1),
                ..settings
            },
        }
    }

    /// Reads through `tail`, which the process's other consumers share.
    pub fn with_tail(mut self, tail: Arc<OutboxTail>) -> Self {
        self.tail = Some(tail);
        self
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Handles every event visible now, batch by batch; returns how many were read
    /// (failed ones included: they are parked for a retry).
    pub async fn catch_up(&self) -> anyhow::Result<u64> {
        let known = *self.known_offset();
        let mut offset = match known {
            Some(offset) => offset,
            None => {
                let stored = self.store.consumer_offset(self.name).await?;
                *self.known_offset() = Some(stored);
                stored
            }
        };
        let mut handled = 0u64;
        let batch = self.settings.batch;
        let (mut saved, mut unsaved) = (offset, 0u32);
        loop {
            let segment = self.read_after(offset, batch).await?;
            let events = segment.events();
            let ready = self.holes.ready(offset, events);
            if ready == 0 {
                break;
            }
            let slice = &events[..ready];
            self.deliver(slice).await?;
            offset = slice[ready - 1].seq;
            handled += ready as u64;
            unsaved = unsaved.saturating_add(ready as u32);
            if unsaved >= batch {
                self.save(offset).await?;
                (saved, unsaved) = (offset, 0);
            }
            // A kept segment ends where its read ended, not where the table does.
            if ready < events.len() || (segment.from_table && events.len() < batch as usize) {
                break;
            }
        }
        if offset != saved {
            self.save(offset).await?;
        }
        Ok(handled)
    }

    async fn read_after(&self, offset: i64, limit: u32) -> StoreResult<Segment> {
        match &self.tail {
            Some(tail) => {
                tail.after(offset, limit, |after, limit| {
                    self.store.outbox_after(after, limit)
                })
                .await
            }
            None => Ok(Segment::of_table(
                self.store.outbox_after(offset, limit).await?,
            )),
        }
    }

    async fn save(&self, offset: i64) -> StoreResult<()> {
        self.store.save_consumer_offset(self.name, offset).await?;
        *self.known_offset() = Some(offset);
        Ok(())
    }

    fn known_offset(&self) -> std::sync::MutexGuard<'_, Option<i64>> {
        self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `events` to the handler and parks each one it could not handle; `Err`
    /// only when a failure could not be recorded. The caller then moves past them.
    pub async fn deliver(&self, events: &[OutboxEvent]) -> anyhow::Result<()> {
        for failure in self.run(events).await {
            self.failed(&events[failure.index], &failure.error).await?;
        }
        Ok(())
    }

    /// Tries again the parked events whose backoff has passed; returns how many
    /// succeeded.
    pub async fn retry_due(&self) -> anyhow::Result<u64> {
        let due = self
            .store
            .due_retries(self.name, self.clock.now(), self.settings.batch)
            .await?;
        let mut recovered = 0;
        for retry in due {
            match self.replay(&retry.event).await {
                Ok(()) => {
                    self.store.delete_retry(self.name, &retry.event.id).await?;
                    recovered += 1;
                    tracing::info!(consumer = self.name, event = %retry.event.id, attempts = retry.attempts + 1, "outbox event handled on retry");
                }
                Err(e) => self.failed(&retry.event, &e).await?,
            }
        }
        Ok(recovered)
    }

    /// Runs the handler on one event now (retries, dead-letter replays).
    pub async fn replay(&self, event: &OutboxEvent) -> anyhow::Result<()> {
        match self.run(std::slice::from_ref(event)).await.pop() {
            None => Ok(()),
            Some(f) => Err(f.error),
        }
    }

    /// The handler's failures on `events`; a failed batch is split into single events.
    async fn run(&self, events: &[OutboxEvent]) -> Vec<EventFailure> {
        use crate::telemetry::trace;
        let linked: Vec<trace::TraceContext> = events
            .iter()
            .filter_map(|e| e.trace_context.as_deref().and_then(trace::linkable))
            .collect();
        let unrequested = events.iter().any(|e| e.trace_context.is_none());
        let context = trace::batch_context(!linked.is_empty(), unrequested);
        let span = trace::within(context, || {
            tracing::info_span!("outbox.handle", consumer = self.name, events = events.len())
        });
        for c in &linked {
            trace::add_link(&span, c);
        }
        trace::within_async(context, self.handle(events).instrument(span)).await
    }

    async fn handle(&self, events: &[OutboxEvent]) -> Vec<EventFailure> {
        match self.handler.handle(events).await {
            Ok(failures) => failures
                .into_iter()
                .filter(|f| f.index < events.len())
                .collect(),
            Err(error) if events.len() == 1 => vec![EventFailure { index: 0, error }],
            Err(error) => {
                tracing::warn!(consumer = self.name, events = events.len(), error = %format!("{error:#}"), "outbox batch failed; handling its events one by one");
                let mut failures = Vec::new();
                for (index, event) in events.iter().enumerate() {
                    match self.handler.handle(std::slice::from_ref(event)).await {
                        Ok(f) if f.is_empty() => {}
                        Ok(mut f) => failures.push(EventFailure {
                            index,
                            error: f.remove(0).error,
                        }),
                        Err(error) => failures.push(EventFailure { index, error }),
                    }
                }
                failures
            }
        }
    }

    /// Counts a failed attempt on `event`: parks it for a later retry, or after the
    /// last attempt turns it into a dead letter.
    async fn failed(&self, event: &OutboxEvent, error: &anyhow::Error) -> anyhow::Result<()> {
        let now = self.clock.now();
        let error = truncate(&format!("{error:#}"), ERROR_MAX_CHARS);
        let previous = self.store.retry_of(self.name, &event.id).await?;
        let attempts = previous.as_ref().map_or(1, |r| r.attempts + 1);
        let first_failed_at = previous.as_ref().map_or(now, |r| r.first_failed_at);
        if attempts >= self.settings.backoff.attempts.max(1) {
            tracing::error!(consumer = self.name, event = %event.id, event_type = %event.event_type, attempts, error = %error, "outbox event moved to the dead letters");
            self.store
                .bury(&DeadLetterRecord {
                    id: uuid::Uuid::now_v7().to_string(),
                    consumer: self.name.to_owned(),
                    event: event.clone(),
                    last_error: error,
                    attempts,
                    first_failed_at,
                    last_failed_at: now,
                    status: DeadLetterStatus::Open,
                    resolved_at: None,
                })
                .await?;
            return Ok(());
        }
        let wait = self.settings.backoff.delay(attempts);
        tracing::warn!(consumer = self.name, event = %event.id, event_type = %event.event_type, attempts, retry_in_ms = wait.as_millis() as u64, error = %error, "outbox event failed; retrying later");
        self.store
            .put_retry(&RetryRecord {
                consumer: self.name.to_owned(),
                event: event.clone(),
                attempts,
                first_failed_at,
                last_failed_at: now,
                next_attempt_at: now.plus_millis(wait.as_millis() as i64),
                last_error: error,
            })
            .await?;
        Ok(())
    }
}

/// `text` cut to at most `max` characters (on a character boundary).
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Tracks the first missing position and since when it has been missing.
struct Holes {
    grace: Duration,
    open: Mutex<Option<(i64, Instant)>>,
}

impl Holes {
    fn new(grace: Duration) -> Self {
        Self {
            grace,
            open: Mutex::new(None),
        }
    }

    /// How many of `events` (read after `offset`) can be handled now: up to the first
    /// hole that is younger than the grace period.
    fn ready(&self, offset: i64, events: &[OutboxEvent]) -> usize {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mut expected = offset + 1;
        for (n, e) in events.iter().enumerate() {
            if e.seq > expected {
                match *open {
                    Some((at, since)) if at == expected && since.elapsed() >= self.grace => {
                        tracing::debug!(
                            from = expected,
                            to = e.seq - 1,
                            "stepping over outbox positions that never committed"
                        );
                    }
                    Some((at, _)) if at == expected => return n,
                    _ => {
                        *open = Some((expected, Instant::now()));
                        return n;
                    }
                }
            }
            expected = e.seq + 1;
        }
        *open = None;
        events.len()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An event at `seq` for tests of the outbox's readers.
    pub(crate) fn ev(seq: i64) -> OutboxEvent {
        OutboxEvent {
            seq,
            id: format!("e{seq}"),
            event_type: "booking.reserved".into(),
            aggregate_id: "b".into(),
            payload: serde_json::json!({}),
            created_at: boxoffice_domain::Timestamp::from_millis(0),
            trace_context: None,
        }
    }

    #[test]
    fn waits_at_a_hole_until_it_is_older_than_the_grace() {
        let holes = Holes::new(Duration::from_millis(30));
        let events = [ev(1), ev(2), ev(4), ev(5)];
        assert_eq!(holes.ready(0, &events), 2, "stops before the hole at 3");
        assert_eq!(holes.ready(2, &events[2..]), 0, "still young");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            holes.ready(2, &events[2..]),
            2,
            "an old hole is stepped over"
        );
        assert_eq!(holes.ready(5, &[ev(6), ev(7)]), 2);
    }

    #[test]
    fn a_hole_that_fills_in_time_is_read_in_order() {
        let holes = Holes::new(Duration::from_secs(60));
        assert_eq!(holes.ready(0, &[ev(2)]), 0, "1 is not visible yet");
        assert_eq!(holes.ready(0, &[ev(1), ev(2)]), 2, "1 committed meanwhile");
        assert_eq!(
            holes.ready(2, &[ev(4)]),
            0,
            "a new hole at 3 starts its own wait"
        );
    }

    #[test]
    fn errors_are_truncated_on_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééééé", 3), "ééé…");
        assert_eq!(
            truncate(&"x".repeat(5000), ERROR_MAX_CHARS).chars().count(),
            ERROR_MAX_CHARS + 1
        );
    }
}
