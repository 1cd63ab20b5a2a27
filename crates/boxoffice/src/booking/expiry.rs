//! The expiry job: a short tick keeps the promise that an unconfirmed hold returns to
//! sale within a second of its deadline. Errors are logged and retried next tick.
use super::BookingService;

const BATCH: usize = 2_000;

/// Releases every hold past its deadline, in batches; run on each tick.
pub async fn expire_due(service: &BookingService) {
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
