//! What every request handler reaches: the configuration and the services. Kept apart
//! from the wiring in `app` so handlers depend on this, never on how it is built.
use crate::accounts::mfa::MfaService;
use crate::accounts::privacy::PrivacyService;
use crate::accounts::AccountService;
use crate::audit::AuditLog;
use crate::booking::BookingService;
use crate::catalog::CatalogService;
use crate::clock::DynClock;
use crate::config::Config;
use crate::mail::MailService;
use crate::notifications::NotificationService;
use crate::organizations::OrganizationService;
use crate::outbox::{Consumers, DeadLetterService, LocalRelay};
use crate::payments::PaymentService;
use crate::ratelimit::DynRateLimiter;
use crate::store::DynStore;
use crate::tasks::Health;
use crate::webhooks::WebhookService;
use std::sync::Arc;

/// What handlers reach: cloned per request, so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub clock: DynClock,
    pub accounts: Arc<AccountService>,
    pub organizations: Arc<OrganizationService>,
    pub mfa: Arc<MfaService>,
    /// Personal data: sealed fields, export and erasure.
    pub privacy: Arc<PrivacyService>,
    pub catalog: Arc<CatalogService>,
    pub booking: Arc<BookingService>,
    /// Layouts, shows' seat maps, live seat status.
    pub seating: Arc<crate::seating::SeatingService>,
    /// Checkout, refunds, the gateway's webhooks.
    pub payments: Arc<PaymentService>,
    /// Token buckets per caller; `None` when `rate_limits.enabled` is off.
    pub rate_limits: Option<DynRateLimiter>,
    /// Outgoing mail: `send_template(to, template, context)`.
    pub mail: Arc<MailService>,
    pub audit: AuditLog,
    /// Organizers' webhook endpoints and their delivery log.
    pub webhooks: Arc<WebhookService>,
    /// Wakes outbox consumers when a transaction with events commits; outbox
    /// writers call `committed()` after their commit.
    pub relay: Arc<LocalRelay>,
    /// The outbox consumers this process runs.
    pub consumers: Arc<Consumers>,
    pub dead_letters: Arc<DeadLetterService>,
    pub notifications: Arc<NotificationService>,
    /// The virtual waiting room of queued shows.
    pub queue: Arc<crate::queue::QueueService>,
    /// Ed25519 keys by purpose (queue passes, tickets), published as JWKS.
    pub keys: Arc<crate::signing::Keyring>,
    /// E-tickets, transfers and the door.
    pub tickets: Arc<crate::tickets::TicketService>,
    /// Whether every background task is alive (readiness).
    pub health: Health,
    /// The relay to NATS JetStream, when `nats_url` is set and this process runs it.
    pub event_stream: Option<Arc<crate::outbox::JetStreamRelay>>,
    /// The web UI's templates and session key.
    pub web: Arc<crate::web::Web>,
}
