//! Group commit of the waiting room's log: entries are queued in the order the
//! service made them (under the show's lock) and one task commits everything that
//! arrived while its previous transaction ran, so 50,000 joins a second cost a few
//! hundred commits. A join is answered only once its entry committed; a commit that
//! fails twice ends the task, which fails readiness (memory would be ahead of the log).
use crate::error::{Error, Result};
use crate::store::queue::{DynQueueStore, QueueLogRecord};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Most log entries per transaction.
const BATCH_MAX: usize = 4096;

struct Job {
    entry: QueueLogRecord,
    reply: Option<oneshot::Sender<Result<()>>>,
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<Job>,
}

/// An entry queued for commit; await it to know it is durable.
pub struct Pending(Option<oneshot::Receiver<Result<()>>>);

impl Pending {
    pub async fn durable(self) -> Result<()> {
        match self.0 {
            Some(rx) => rx.await.map_err(|_| stopped())?,
            None => Err(stopped()),
        }
    }
}

fn stopped() -> Error {
    Error::Unavailable("the waiting room is shutting down; retry".into())
}

impl LogWriter {
    /// Starts the writer task; on `stop` it commits what is queued and ends.
    pub fn spawn(store: DynQueueStore, stop: CancellationToken) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, tokio::spawn(run(store, rx, stop)))
    }

    /// Queues `entry` (never waits: call it under the lock that ordered it).
    pub fn append(&self, entry: QueueLogRecord) -> Pending {
        let (reply, rx) = oneshot::channel();
        match self.tx.send(Job {
            entry,
            reply: Some(reply),
        }) {
            Ok(()) => Pending(Some(rx)),
            Err(_) => Pending(None),
        }
    }
}

async fn run(store: DynQueueStore, mut rx: mpsc::UnboundedReceiver<Job>, stop: CancellationToken) {
    let mut jobs: Vec<Job> = Vec::with_capacity(BATCH_MAX);
    loop {
        let received = tokio::select! {
            biased;
            n = rx.recv_many(&mut jobs, BATCH_MAX) => n,
            () = stop.cancelled() => 0,
        };
        if received == 0 {
            // Stopping: commit what is queued, then end.
            rx.close();
            while jobs.len() < BATCH_MAX {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if jobs.is_empty() {
                return;
            }
        }
        let entries: Vec<QueueLogRecord> = jobs.iter().map(|j| j.entry.clone()).collect();
        let mut outcome = store.append_queue_log(&entries).await;
        if let Err(e) = &outcome {
            // One retry: a busy database is worth a second chance before refusing.
            tracing::warn!(error = %e, entries = entries.len(), "queue log commit failed; retrying once");
            outcome = store.append_queue_log(&entries).await;
        }
        let failed = outcome.is_err();
        if let Err(e) = outcome {
            tracing::error!(error = %e, entries = entries.len(), "queue log commit failed");
        }
        for job in jobs.drain(..) {
            if let Some(reply) = job.reply {
                let _ = reply.send(if failed {
                    Err(Error::Unavailable(
                        "the waiting room could not record this; retry".into(),
                    ))
                } else {
                    Ok(())
                });
            }
        }
        if failed {
            // Memory is now ahead of the log: stop, so readiness fails and a restart
            // rebuilds from what was committed.
            return;
        }
    }
}
