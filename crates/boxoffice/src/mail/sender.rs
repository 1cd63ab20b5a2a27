//! The outbox other capabilities send through: `send_template` renders and queues,
//! a supervised background task delivers with retries (see the module doc of `mail`).
use super::templates::Templates;
use super::{Attachment, DynMailer, MailMessage};
use boxoffice_domain::account::Email;
use rand::Rng;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Messages waiting for the sender; past this, new ones are dropped (and logged)
/// rather than holding memory for a mail server that is not coming back.
const QUEUE: usize = 10_000;
/// Deliveries in flight at once.
const CONCURRENCY: usize = 8;

/// How often and how patiently a message is tried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each one after (with jitter).
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// One attempt gives up after this long.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based), with up to 25 % jitter.
    fn backoff(&self, n: u32) -> Duration {
        let base = self
            .first_backoff
            .saturating_mul(1 << (n.saturating_sub(1)).min(16))
            .min(self.max_backoff);
        let jitter = rand::thread_rng().gen_range(0.0..0.25);
        base.mul_f64(1.0 + jitter)
    }
}

/// Renders templates and queues messages for the background sender.
pub struct MailService {
    templates: Templates,
    queue: mpsc::Sender<MailMessage>,
    /// Messages queued and not yet delivered or given up on.
    pending: Arc<AtomicUsize>,
    /// The transport, also probed by readiness.
    mailer: DynMailer,
}

impl MailService {
    /// Whether the transport accepts connections now; `None` when it has no server
    /// to ask (readiness).
    pub async fn probe(&self) -> Option<anyhow::Result<()>> {
        self.mailer.probe().await
    }

    /// The service and its sender task, which runs until `stop` is cancelled (then
    /// abandons what is still queued, logging how much).
    pub fn start(
        mailer: DynMailer,
        policy: RetryPolicy,
        stop: CancellationToken,
    ) -> (
        Arc<Self>,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let pending = Arc::new(AtomicUsize::new(0));
        let service = Arc::new(Self {
            templates: Templates::new(),
            queue,
            pending: pending.clone(),
            mailer: mailer.clone(),
        });
        (service, run(mailer, policy, rx, stop, pending))
    }

    /// Renders `template` with `context` and queues it for `to`. Returns once queued:
    /// delivery happens in the background. An unknown template or a context missing
    /// one of its variables is an error; a full queue drops the message with a log.
    pub fn send_template(
        &self,
        to: &Email,
        template: &str,
        context: impl Serialize,
    ) -> anyhow::Result<()> {
        self.send_with_attachments(to, template, context, Vec::new())
    }

    /// [`Self::send_template`] with files attached.
    pub fn send_with_attachments(
        &self,
        to: &Email,
        template: &str,
        context: impl Serialize,
        attachments: Vec<Attachment>,
    ) -> anyhow::Result<()> {
        let rendered = self.templates.render(template, context)?;
        let message = MailMessage {
            to: to.as_str().to_owned(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            template: template.to_owned(),
            attachments,
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = self.queue.try_send(message) {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "the queue is full",
                mpsc::error::TrySendError::Closed(_) => "the sender has stopped",
            };
            tracing::error!(template, reason, "mail dropped");
        }
        Ok(())
    }

    /// Waits until every queued message was delivered or given up on, for at most
    /// `wait`; whether it got there. For commands that send mail and then exit.
    pub async fn idle(&self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        while self.pending.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

async fn run(
    mailer: DynMailer,
    policy: RetryPolicy,
    mut rx: mpsc::Receiver<MailMessage>,
    stop: CancellationToken,
    pending: Arc<AtomicUsize>,
) {
    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let mut deliveries = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Some(done) = deliveries.join_next(), if !deliveries.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a mail delivery task failed");
                }
            }
            next = rx.recv() => {
                let Some(message) = next else { break };
                let Ok(slot) = slots.clone().acquire_owned().await else { break };
                let mailer = mailer.clone();
                let pending = pending.clone();
                deliveries.spawn(async move {
                    deliver(&*mailer, &message, policy).await;
                    pending.fetch_sub(1, Ordering::SeqCst);
                    drop(slot);
                });
            }
        }
    }
    rx.close();
    let mut abandoned = deliveries.len();
    while rx.try_recv().is_ok() {
        abandoned += 1;
    }
    if abandoned > 0 {
        tracing::warn!(abandoned, "stopping with mail not yet delivered");
    }
    deliveries.shutdown().await;
}

/// Tries `message` up to `policy.attempts` times; logs the outcome without the
/// recipient, the bodies or any token.
async fn deliver(mailer: &dyn super::Mailer, message: &MailMessage, policy: RetryPolicy) {
    let id = uuid::Uuid::new_v4();
    for attempt in 1..=policy.attempts.max(1) {
        let outcome = tokio::time::timeout(policy.attempt_timeout, mailer.send(message)).await;
        let error = match outcome {
            Ok(Ok(())) => {
                tracing::info!(template = %message.template, %id, attempt, "mail sent");
                metrics::counter!(crate::telemetry::metrics::names::MAIL_MESSAGES, "outcome" => "sent").increment(1);
                return;
            }
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => format!("no answer within {:?}", policy.attempt_timeout),
        };
        if attempt == policy.attempts.max(1) {
            tracing::error!(template = %message.template, %id, attempts = attempt, error = %error, "mail not delivered; giving up");
            metrics::counter!(crate::telemetry::metrics::names::MAIL_MESSAGES, "outcome" => "failed").increment(1);
            return;
        }
        let wait = policy.backoff(attempt);
        tracing::warn!(template = %message.template, %id, attempt, error = %error, retry_in_ms = wait.as_millis() as u64, "mail delivery failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Mailer;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A transport that fails its first `failures` sends, then delivers (counting).
    struct Flaky {
        failures: u32,
        tries: AtomicU32,
        delivered: AtomicU32,
    }

    #[async_trait]
    impl Mailer for Flaky {
        async fn send(&self, _: &MailMessage) -> anyhow::Result<()> {
            if self.tries.fetch_add(1, Ordering::SeqCst) < self.failures {
                anyhow::bail!("451 try again later");
            }
            self.delivered.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn quick(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            first_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            attempt_timeout: Duration::from_secs(1),
        }
    }

    fn context() -> serde_json::Value {
        serde_json::json!({"display_name": "Ana", "email": "ana@example.com", "token": "t", "hours": 1})
    }

    async fn settle(flaky: &Flaky, tries: u32) {
        for _ in 0..200 {
            if flaky.tries.load(Ordering::SeqCst) >= tries {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    #[tokio::test]
    async fn a_failing_peer_is_retried_until_it_accepts() {
        let flaky = Arc::new(Flaky {
            failures: 2,
            tries: AtomicU32::new(0),
            delivered: AtomicU32::new(0),
        });
        let stop = CancellationToken::new();
        let (mail, task) = MailService::start(flaky.clone(), quick(5), stop.clone());
        let task = tokio::spawn(task);
        let to = Email::parse("ana@example.com").unwrap();
        mail.send_template(&to, "verify_email", context()).unwrap();
        settle(&flaky, 3).await;
        assert_eq!(flaky.tries.load(Ordering::SeqCst), 3);
        assert_eq!(flaky.delivered.load(Ordering::SeqCst), 1);
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn delivery_gives_up_after_the_last_attempt() {
        let flaky = Arc::new(Flaky {
            failures: u32::MAX,
            tries: AtomicU32::new(0),
            delivered: AtomicU32::new(0),
        });
        let stop = CancellationToken::new();
        let (mail, task) = MailService::start(flaky.clone(), quick(3), stop.clone());
        let task = tokio::spawn(task);
        let to = Email::parse("ana@example.com").unwrap();
        mail.send_template(&to, "password_reset", context())
            .unwrap();
        settle(&flaky, 3).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(flaky.tries.load(Ordering::SeqCst), 3, "no fourth attempt");
        assert_eq!(flaky.delivered.load(Ordering::SeqCst), 0);
        assert!(mail.send_template(&to, "no_such", context()).is_err());
        stop.cancel();
        task.await.unwrap();
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(1),
        };
        let within = |d: Duration, base: u64| {
            d >= Duration::from_secs(base) && d <= Duration::from_secs(base).mul_f64(1.25)
        };
        assert!(within(p.backoff(1), 2));
        assert!(within(p.backoff(2), 4));
        assert!(within(p.backoff(3), 8));
        assert!(within(p.backoff(9), 60));
    }
}
