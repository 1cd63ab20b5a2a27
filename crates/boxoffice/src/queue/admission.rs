//! The admission task and the replay at start-up. Admission is where the pace is
//! enforced: a token bucket for a fixed rate, or the tickets still available for
//! automatic admission; the draw happens here too, at the first tick after opening.
use super::service::{QueueService, ShowQueue};
use super::state::{PlaceStatus, QueueData};
use super::writer::Pending;
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
    let mut pending: Vec<Pending> = Vec::new();
    let mut drawn = None;
    let mut admitted: Vec<boxoffice_domain::UserId> = Vec::new();
    {
        let mut d = queue.data.lock();
        d.sweep(now);
        let elapsed = u64::try_from(now.millis() - d.last_tick_ms).unwrap_or(0);
        d.last_tick_ms = now.millis();
        if d.settings.state.admits() && now >= d.settings.opens_at {
            if d.settings.method.draws() && d.settings.drawn_at.is_none() {
                d.draw(service.engine.as_ref(), now);
                pending.extend(d.record(
                    Some(&service.log),
                    QueueLogKind::Draw,
                    None,
                    None,
                    now,
                    None,
                ));
                drawn = Some(d.settings.clone());
            }
            let allowed = match available {
                Some(slots) => slots.saturating_sub(d.active_passes(now)),
                None => {
                    let rate = d.settings.rate_per_sec;
                    d.pace.allow(rate, elapsed, 1000)
                }
            };
            admitted = service.engine.pop_front(show, allowed.min(MAX_PER_TICK));
            for user in &admitted {
                pending.extend(service.admit_locked(&mut d, *user, now));
            }
        }
    }
    let drew = drawn.is_some();
    if let Some(settings) = drawn {
        service.store.put_queue_settings(&settings).await?;
    }
    for p in pending {
        p.durable().await?;
    }
    // Once durable: the admitted hear of their pass at once; a draw reorders
    // everyone. Those still waiting see the line move at their own pace.
    if !admitted.is_empty() {
        let d = queue.data.lock();
        for user in &admitted {
            d.wake(*user);
        }
    }
    if drew {
        queue.bump();
    }
    Ok(())
}

/// Rebuilds every queue from its settings and log: places in their order (draws
/// recomputed from the seed), passes with the same tokens, and the figures.
pub async fn restore(service: &QueueService) -> anyhow::Result<(usize, usize)> {
    let mut places = 0;
    let settings = service.store.all_queue_settings().await?;
    let queues = settings.len();
    for s in settings {
        let show = s.show_id;
        service.engine.clear(show);
        let mut d = QueueData::new(s);
        d.settings.drawn_at = None;
        for entry in service.store.queue_log(show).await? {
            d.next_seq = entry.seq;
            replay(service, &mut d, &entry);
            d.next_seq = entry.seq + 1;
        }
        places += d.places.len();
        d.last_tick_ms = service.clock.now().millis();
        let queue = Arc::new(ShowQueue::new(d));
        service.queues.write().insert(show, queue);
    }
    Ok((queues, places))
}

fn replay(service: &QueueService, d: &mut QueueData, e: &crate::store::queue::QueueLogRecord) {
    let engine = service.engine.as_ref();
    match (e.kind, e.user_id, e.ref_id) {
        (QueueLogKind::PreJoin | QueueLogKind::Join, Some(user), Some(place)) => {
            d.take_place(engine, user, place, e.at, e.kind == QueueLogKind::PreJoin);
        }
        (QueueLogKind::Draw, _, _) => d.draw(engine, e.at),
        (QueueLogKind::Admit, Some(user), Some(jti)) => {
            engine.remove(d.show, user);
            let expires = e.until.unwrap_or(e.at);
            d.admit(&service.keys, user, jti, e.at, expires);
        }
        (QueueLogKind::Use, _, Some(jti)) => {
            if let Some(p) = d.passes.get_mut(&jti) {
                p.used = true;
                d.counters.used += 1;
            }
        }
        (QueueLogKind::Leave, Some(user), _) => {
            let Some(place) = d.places.get_mut(&user) else {
                return;
            };
            let (was, pass) = (place.status, place.pass);
            place.status = PlaceStatus::Left;
            if was == PlaceStatus::Waiting {
                engine.remove(d.show, user);
            }
            if let Some(p) = pass.and_then(|j| d.passes.get_mut(&j)) {
                p.revoked = true;
            }
            d.counters.left += 1;
        }
        (QueueLogKind::Revoke, _, Some(jti)) => {
            if let Some(p) = d.passes.get_mut(&jti) {
                p.revoked = true;
                d.counters.revoked += 1;
            }
        }
        _ => tracing::warn!(
            seq = e.seq,
            kind = e.kind.as_str(),
            "queue log entry skipped: incomplete"
        ),
    }
}
