//! The expiry job: a short tick keeps the promise that an unconfirmed hold returns to
//! sale within a second of its deadline. Errors are logged and retried next tick.
use super::BookingService;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const BATCH: usize = 2_000;

pub fn spawn_expiry(
    service: Arc<BookingService>,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => break,
            }
            loop {
                match service.expire_due(BATCH).await {
                    Ok(n) if n > 0 => tracing::info!(released = n, "holds expired"),
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "expiring holds failed; retrying next tick");
                        break;
                    }
                }
            }
        }
    })
}
