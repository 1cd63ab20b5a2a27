//! The payment resolver job: what no webhook settled gets settled by asking the
//! gateway. Lost answers are retried with their keys, holds past their deadline with
//! a payment open are decided by the capture time, refunds without a result are sent
//! again. Errors are logged and retried next tick.
use super::PaymentService;

const BATCH: u32 = 500;

pub async fn resolve_payments(service: &PaymentService) {
    match service.resolve(BATCH).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(touched = n, "payment resolver pass"),
        Err(e) => tracing::warn!(error = %e, "payment resolver failed; retrying next tick"),
    }
}
