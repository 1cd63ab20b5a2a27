//! The group-commit writer of booking changes. Requests queue their writes here; a
//! writer task commits everything that arrived while its previous transaction ran as
//! one transaction, so thousands of holds per second cost a few hundred commits.
//! SQLite gets one task (one writer at a time anyway); PostgreSQL gets several, so
//! one batch's commit flush overlaps the next batch's inserts.
use crate::error::{Error, Result};
use crate::outbox::OutboxRelay;
use crate::store::{BookingWrite, DynStore, PaymentOutcome, WriteOutcome};
use crate::telemetry::metrics::names;
use crate::telemetry::trace::{self, TraceContext};
use boxoffice_domain::booking::BookingStatus;
use boxoffice_domain::payment::{PaymentStatus, RefundStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

struct Job {
    write: BookingWrite,
    /// The trace of the request that queued it, recorded with its events.
    trace: Option<TraceContext>,
    reply: oneshot::Sender<Result<WriteOutcome>>,
}

#[derive(Clone)]
pub struct Writer {
    lanes: Arc<[mpsc::Sender<Job>]>,
    next: Arc<AtomicUsize>,
}

const QUEUE_DEPTH: usize = 65_536;
/// A commit this slow stalls every request waiting on it: worth a warning.
const SLOW_COMMIT: std::time::Duration = std::time::Duration::from_millis(100);

impl Writer {
    /// Starts `tasks` writer tasks. On `stop` they refuse new writes, commit what is
    /// queued and end. Each commit that wrote outbox events is announced to `relay`.
    ///
    /// The tasks run on a runtime of their own, on their own thread: a commit is a few
    /// round trips to the database driver, and on the shared runtime each answer
    /// waited in the run queue behind every HTTP request in flight, which stretched
    /// each commit (and so every hold's latency) by the length of that queue.
    pub fn spawn(
        store: DynStore,
        tasks: usize,
        batch_max: usize,
        stop: CancellationToken,
        relay: Arc<dyn OutboxRelay>,
    ) -> std::io::Result<(Self, Vec<JoinHandle<()>>)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (alive, mut all_done) = mpsc::channel::<()>(1);
        let mut lanes = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..tasks.max(1) {
            let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
            let lane = run(
                store.clone(),
                rx,
                batch_max.max(1),
                stop.clone(),
                relay.clone(),
            );
            let alive = alive.clone();
            handles.push(runtime.spawn(async move {
                lane.await;
                drop(alive);
            }));
            lanes.push(tx);
        }
        drop(alive);
        // Drives the lanes until every one has ended (each holds an `alive` sender).
        std::thread::Builder::new()
            .name("booking-writer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let _ = all_done.recv().await;
                });
            })?;
        let writer = Self {
            lanes: lanes.into(),
            next: Arc::new(AtomicUsize::new(0)),
        };
        Ok((writer, handles))
    }

    /// Queues one write and waits until its transaction committed.
    pub async fn submit(&self, write: BookingWrite) -> Result<WriteOutcome> {
        let rx = self.enqueue(write).await?;
        rx.await.map_err(|_| stopped())?
    }

    /// Queues several writes (they share a transaction when the writer is idle) and
    /// waits for all of them.
    pub async fn submit_many(&self, writes: Vec<BookingWrite>) -> Vec<Result<WriteOutcome>> {
        let mut pending = Vec::with_capacity(writes.len());
        for w in writes {
            pending.push(self.enqueue(w).await);
        }
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            out.push(match p {
                Ok(rx) => rx.await.map_err(|_| stopped()).and_then(|r| r),
                Err(e) => Err(e),
            });
        }
        out
    }

    async fn enqueue(
        &self,
        write: BookingWrite,
    ) -> Result<oneshot::Receiver<Result<WriteOutcome>>> {
        let (reply, rx) = oneshot::channel();
        let lane = self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len();
        self.lanes[lane]
            .send(Job {
                write,
                trace: trace::current(),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        Ok(rx)
    }
}

/// Counts what a committed write did: bookings confirmed, cancelled or expired,
/// payments and refunds settled.
fn count(outcome: &WriteOutcome) {
    let booking = match outcome {
        WriteOutcome::Applied(b) => Some(b),
        WriteOutcome::Payment(p) => match p.as_ref() {
            PaymentOutcome::Changed(c) if c.changed => {
                let outcome = match c.record.status {
                    PaymentStatus::Succeeded => Some("captured"),
                    // The provider's own codes are the issuer's refusals; ours
                    // name a gateway that refused or did not answer.
                    PaymentStatus::Failed => match c.record.failure_code.as_deref() {
                        None | Some("rejected" | "gateway_unavailable" | "gateway_timeout") => {
                            Some("failed")
                        }
                        Some(_) => Some("declined"),
                    },
                    PaymentStatus::Cancelled => Some("cancelled"),
                    PaymentStatus::Pending | PaymentStatus::Processing => None,
                };
                if let Some(outcome) = outcome {
                    metrics::counter!(names::PAYMENTS, "outcome" => outcome).increment(1);
                }
                c.booking.as_ref()
            }
            PaymentOutcome::RefundChanged(c) if c.changed => {
                let outcome = match c.record.status {
                    RefundStatus::Succeeded => Some("succeeded"),
                    RefundStatus::Failed => Some("failed"),
                    _ => None,
                };
                if let Some(outcome) = outcome {
                    metrics::counter!(names::REFUNDS, "outcome" => outcome).increment(1);
                }
                c.booking.as_ref()
            }
            _ => None,
        },
        WriteOutcome::Held | WriteOutcome::Skipped => None,
    };
    let Some(b) = booking else { return };
    let name = match b.status {
        BookingStatus::Confirmed => names::CONFIRMATIONS,
        BookingStatus::Cancelled => names::CANCELLATIONS,
        BookingStatus::Expired => names::EXPIRATIONS,
        _ => return,
    };
    metrics::counter!(name, "show" => b.show_id.to_string()).increment(1);
}

fn unrecorded() -> Error {
    Error::Unavailable("the booking could not be recorded; retry".into())
}

fn stopped() -> Error {
    Error::Unavailable("the server is shutting down; retry shortly".into())
}

async fn run(
    store: DynStore,
    mut rx: mpsc::Receiver<Job>,
    batch_max: usize,
    stop: CancellationToken,
    relay: Arc<dyn OutboxRelay>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(batch_max);
    let mut closing = false;
    loop {
        let n = if closing {
            rx.recv_many(&mut jobs, batch_max).await
        } else {
            tokio::select! {
                n = rx.recv_many(&mut jobs, batch_max) => n,
                () = stop.cancelled() => {
                    rx.close();
                    closing = true;
                    continue;
                }
            }
        };
        if n == 0 {
            break;
        }
        let mut writes = Vec::with_capacity(n);
        let mut traces = Vec::with_capacity(n);
        let mut replies = Vec::with_capacity(n);
        for job in jobs.drain(..) {
            writes.push(job.write);
            traces.push(job.trace);
            replies.push(job.reply);
        }
        let started = std::time::Instant::now();
        // Exported when one of the requests it serves is (see `batch_context`).
        let context = trace::batch_context(
            traces.iter().flatten().any(|t| t.sampled),
            traces.iter().any(Option::is_none),
        );
        let span = trace::within(context, || tracing::info_span!("booking.commit", batch = n));
        let result = trace::within_async(
            context,
            store.apply_traced(&writes, &traces).instrument(span),
        )
        .await;
        let took = started.elapsed();
        metrics::histogram!(names::WRITER_BATCH_SIZE).record(n as f64);
        metrics::histogram!(names::WRITER_COMMIT).record(took.as_secs_f64());
        if took >= SLOW_COMMIT {
            tracing::warn!(batch = n, ms = took.as_millis() as u64, "slow group commit");
        } else {
            tracing::debug!(batch = n, us = took.as_micros() as u64, "group commit");
        }
        match result {
            Ok(outcomes) => {
                // Every hold and applied transition wrote an event.
                if outcomes.iter().any(|o| !matches!(o, WriteOutcome::Skipped)) {
                    relay.committed();
                }
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    count(&outcome);
                    let _ = reply.send(Ok(outcome));
                }
            }
            // One write broke the batch: each is tried alone, so only that one
            // fails and the others (someone else's holds) are kept.
            Err(e) if n > 1 => {
                tracing::warn!(error = %e, batch = n, "booking batch failed; committing its writes one by one");
                for ((write, trace), reply) in writes.into_iter().zip(traces).zip(replies) {
                    let outcome = match store
                        .apply_traced(std::slice::from_ref(&write), &[trace])
                        .await
                    {
                        Ok(mut outcomes) => outcomes.pop().inspect(count).ok_or_else(|| {
                            Error::Internal(anyhow::anyhow!("a write without an outcome"))
                        }),
                        Err(e) => {
                            tracing::error!(error = %e, "booking write failed");
                            Err(unrecorded())
                        }
                    };
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = n, "booking batch failed");
                for reply in replies {
                    let _ = reply.send(Err(unrecorded()));
                }
            }
        }
    }
    tracing::info!("booking writer stopped");
}
