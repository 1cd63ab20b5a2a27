//! paysim: a card processor simulator with a Stripe-like HTTP API, so boxoffice's
//! checkout is exercised against real sockets, real signatures and real misbehaviour
//! (latency, declines, timeouts, duplicated and reordered webhooks, an outage)
//! instead of a stub that always succeeds.
//!
//! It keeps the provider's state in memory: run as its own process (`boxoffice
//! payment-sim`) it outlives a crash of boxoffice, as a real provider would. API:
//!
//! - `POST /v1/payment_intents` (`Idempotency-Key`) `{amount, currency,
//!   payment_method, metadata: {booking_id, payment_id}}` → a `processing` intent,
//!   which `processing_ms` later succeeds or fails and is announced by webhook;
//! - `GET /v1/payment_intents/{id}`, `POST /v1/payment_intents/{id}/cancel`;
//! - `POST /v1/refunds` `{payment_intent, amount}`, `GET /v1/refunds/{id}`;
//! - `GET|POST /_sim/knobs`, `GET /_sim/ledger` for tests and operators.
//!
//! Every route wants `Authorization: Bearer <api key>`. Times are unix milliseconds.
//! Webhooks carry `Paysim-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.
#![forbid(unsafe_code)]

mod api;
pub mod books;
pub mod knobs;
pub mod webhook;

pub use books::{
    CreateIntent, CreateRefund, Intent, IntentStatus, Ledger, LedgerEntry, Metadata, Refund,
    RefundStatus, Totals,
};
pub use knobs::{KnobsUpdate, KnobsView, SimulatorKnobs};
pub use webhook::Event;

use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The header webhooks are signed in.
pub const SIGNATURE_HEADER: &str = "Paysim-Signature";

/// Everything the simulator needs to start. Secrets print redacted.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Callers must present it as a bearer token.
    pub api_key: SecretString,
    /// Where webhooks go; none: results are only seen by retrieving intents.
    pub webhook_url: Option<String>,
    /// Signs webhooks.
    pub webhook_secret: SecretString,
    pub knobs: SimulatorKnobs,
    /// Deliveries of one webhook before it is abandoned.
    pub webhook_attempts: u32,
    /// Wait before the first redelivery; doubles at each further one.
    pub webhook_retry_base: Duration,
    /// How long an answer is held back when `timeout_rate` strikes: far beyond any
    /// client's timeout.
    pub timeout_hold: Duration,
}

impl SimulatorConfig {
    pub fn new(api_key: SecretString, webhook_secret: SecretString) -> Self {
        Self {
            api_key,
            webhook_url: None,
            webhook_secret,
            knobs: SimulatorKnobs::default(),
            webhook_attempts: 5,
            webhook_retry_base: Duration::from_millis(250),
            timeout_hold: Duration::from_secs(60),
        }
    }
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    attempts_failed: AtomicU64,
    abandoned: AtomicU64,
}

/// State shared by the handlers and the background work (processing, webhooks).
pub(crate) struct Shared {
    config: SimulatorConfig,
    books: Mutex<books::Books>,
    knobs: RwLock<SimulatorKnobs>,
    down: AtomicBool,
    counters: Counters,
    client: reqwest::Client,
    cancel: CancellationToken,
}

impl Shared {
    fn knobs(&self) -> SimulatorKnobs {
        self.knobs
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The books, locked. Nothing awaits while they are held.
    fn books(&self) -> std::sync::MutexGuard<'_, books::Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update_knobs(&self, update: &KnobsUpdate) -> Result<KnobsView, String> {
        let mut knobs = self.knobs.write().unwrap_or_else(PoisonError::into_inner);
        let next = update.apply(&knobs);
        next.validate()?;
        *knobs = next;
        if let Some(down) = update.down {
            self.down.store(down, Ordering::SeqCst);
        }
        Ok(KnobsView {
            knobs: knobs.clone(),
            down: self.down.load(Ordering::SeqCst),
        })
    }

    fn ledger(&self) -> Ledger {
        let mut ledger = self.books().ledger();
        ledger.totals.webhooks_delivered = self.counters.delivered.load(Ordering::Relaxed);
        ledger.totals.webhook_attempts_failed =
            self.counters.attempts_failed.load(Ordering::Relaxed);
        ledger.totals.webhooks_abandoned = self.counters.abandoned.load(Ordering::Relaxed);
        ledger
    }
}

pub(crate) fn now_ms() -> i64 {
    boxoffice_domain::Timestamp::now().millis()
}

/// Starts simulators.
pub struct Simulator;

impl Simulator {
    /// Serves the simulator on `listener` (within a Tokio runtime) until the handle
    /// is shut down or dropped.
    pub fn start(
        config: SimulatorConfig,
        listener: TcpListener,
    ) -> anyhow::Result<SimulatorHandle> {
        config.knobs.validate().map_err(anyhow::Error::msg)?;
        let addr = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            knobs: RwLock::new(config.knobs.clone()),
            config,
            books: Mutex::new(books::Books::default()),
            down: AtomicBool::new(false),
            counters: Counters::default(),
            client,
            cancel: cancel.clone(),
        });
        let router = api::router(shared.clone());
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "payment simulator stopped");
            }
        });
        tracing::info!(%addr, "payment simulator listening");
        Ok(SimulatorHandle {
            url: format!("http://{addr}"),
            addr,
            shared,
            task: Some(task),
            _guard: cancel.drop_guard(),
        })
    }
}

/// A running simulator. Dropping it stops the simulator.
pub struct SimulatorHandle {
    url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
    _guard: DropGuard,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SimulatorHandle {
    /// Base URL of the API (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn knobs(&self) -> KnobsView {
        KnobsView {
            knobs: self.shared.knobs(),
            down: self.shared.down.load(Ordering::SeqCst),
        }
    }

    /// Changes the knobs named in `update`; refused (and nothing changed) if a rate
    /// is out of bounds.
    pub fn update_knobs(&self, update: &KnobsUpdate) -> Result<KnobsView, String> {
        self.shared.update_knobs(update)
    }

    /// Takes the whole API down (503) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// The ground truth: every intent, what it captured and refunded, and totals.
    pub fn ledger(&self) -> Ledger {
        self.shared.ledger()
    }

    /// Stops accepting, ends pending work and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
