//! The admission task and the replay at start-up. Admission is where the pace is
//! enforced: a token bucket for a fixed rate, or the tickets still available for
//! automatic admission; the draw happens here too, at the first tick after opening.
use super::service::{admission, entry, QueueService, ShowQueue};
use crate::store::queue::QueueLogKind;
use std::sync::Arc;

/// Most buyers one tick admits per queue, so one tick never holds a lock for long.
const MAX_PER_TICK: u64 = 10_000;

/// One round over every queue: draw when due, admit what the pace allows, count
/// passes that lapsed.
pub async fn admit_due(service: &QueueService) {
    for queue in service.all() {
        if let Err(e) = admit_one(service, &queue).await {
            tracing::warn!(error = %e, "queue admission failed; retrying at the next tick");
        }
    }
}

async fn admit_one(service: &QueueService, queue: &Arc<ShowQueue>) -> crate::error::Result<()> {
    let (show, automatic) = {
        let d = queue.data.lock();
        (d.show, d.settings.rate_per_sec == 0)
    };
    // Automatic admission: one buyer per ticket still on sale (held tickets are not:
    // a cancelled or expired hold returns its tickets, and so its slot, at once),
    // minus the passes out that have not been used yet.
    let available = if automatic {
        let counts = service.inventory.counts(show).await.unwrap_or_default();
        Some(
            counts
                .zones
                .iter()
                .map(|(_, c)| u64::from(c.available()))
                .sum::<u64>(),
        )
    } else {
        None
    };
    let now = service.clock.now();
    let (due, draw_due, ttl) = {
        let mut d = queue.data.lock();
        d.sweep(now);
        let elapsed = u64::try_from(now.millis() - d.last_tick_ms).unwrap_or(0);
        d.last_tick_ms = now.millis();
        let open = d.settings.state.admits() && now >= d.settings.opens_at;
        let draw_due = open && d.settings.method.draws() && d.draw.is_none();
        let allowed = match (open && !draw_due, available) {
            (false, _) => 0,
            (true, Some(slots)) => slots.saturating_sub(d.active_passes(now)),
            (true, None) => {
                let rate = d.settings.rate_per_sec;
                d.pace.allow(rate, elapsed, 1000)
            }
        };
        let due = service.engine.front(show, allowed.min(MAX_PER_TICK));
        (due, draw_due, i64::from(d.settings.pass_ttl_secs))
    };
    if draw_due {
        // The draw first; admissions start at the next tick, in its order.
        let draw = entry(show, QueueLogKind::Draw, None, None, now);
        service.sequencer.submit(queue, vec![draw]).await?;
        let settings = queue.data.lock().settings.clone();
        service.store.put_queue_settings(&settings).await?;
        return Ok(());
    }
    if due.is_empty() {
        return Ok(());
    }
    let admits = due
        .into_iter()
        .map(|user| admission(show, user, now, ttl))
        .collect();
    service.sequencer.submit(queue, admits).await?;
    Ok(())
}

/// Rebuilds every queue from its settings and log: places in their order (draws
/// recomputed from the seed), passes with the same tokens, and the figures.
pub async fn restore(service: &QueueService) -> anyhow::Result<(usize, usize)> {
    let mut places = 0;
    let settings = service.store.all_queue_settings().await?;
    let queues = settings.len();
    for s in settings {
        places += service.adopt(s).await?.data.lock().places.len();
    }
    Ok((queues, places))
}
