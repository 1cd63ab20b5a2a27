//! A reusable outbox consumer: reads events after its stored offset in batches, hands
//! them to a handler and stores the new offset, so a restart resumes without losses.
//!
//! Delivery is at least once: the offset is saved after the handler succeeded, so a
//! crash in between replays the batch and handlers must be idempotent (the audit
//! projection reuses each event's id as its entry id).
//!
//! Positions (`seq`) come from a sequence, and on PostgreSQL concurrent transactions
//! can commit out of order: seq 12 may become visible after seq 13. Moving the offset
//! past 13 would skip 12 for good, so the consumer only advances over contiguous
//! positions and waits at a hole. A hole that stays open longer than `gap_grace`
//! belongs to a transaction that rolled back (its sequence values are never reused)
//! and is stepped over.
use crate::store::{DynStore, OutboxEvent};
use async_trait::async_trait;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a consumer does with the events it reads. Must be idempotent.
#[async_trait]
pub trait OutboxHandler: Send + Sync {
    async fn handle(&self, events: &[OutboxEvent]) -> anyhow::Result<()>;
}

pub struct OutboxConsumer {
    /// The consumer's row in `consumer_offsets`.
    name: &'static str,
    store: DynStore,
    handler: Arc<dyn OutboxHandler>,
    batch: u32,
    holes: Holes,
}

impl OutboxConsumer {
    pub fn new(
        name: &'static str,
        store: DynStore,
        handler: Arc<dyn OutboxHandler>,
        batch: u32,
        gap_grace: Duration,
    ) -> Self {
        Self {
            name,
            store,
            handler,
            batch: batch.max(1),
            holes: Holes::new(gap_grace),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Handles every event visible now, batch by batch; returns how many.
    pub async fn catch_up(&self) -> anyhow::Result<u64> {
        let mut offset = self.store.consumer_offset(self.name).await?;
        let mut handled = 0u64;
        loop {
            let events = self.store.outbox_after(offset, self.batch).await?;
            let ready = self.holes.ready(offset, &events);
            if ready == 0 {
                break;
            }
            self.handler.handle(&events[..ready]).await?;
            offset = events[ready - 1].seq;
            self.store.save_consumer_offset(self.name, offset).await?;
            handled += ready as u64;
            if ready < events.len() || events.len() < self.batch as usize {
                break;
            }
        }
        Ok(handled)
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
mod tests {
    use super::*;

    fn ev(seq: i64) -> OutboxEvent {
        OutboxEvent {
            seq,
            id: format!("e{seq}"),
            event_type: "booking.reserved".into(),
            aggregate_id: "b".into(),
            payload: serde_json::json!({}),
            created_at: boxoffice_domain::Timestamp::from_millis(0),
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
}
