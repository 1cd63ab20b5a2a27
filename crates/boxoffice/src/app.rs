//! Wiring: builds the store, inventory, caches, services and background tasks from a
//! `Config`, serves HTTP, and shuts down in order (stop accepting, drain requests,
//! stop expiry, flush the booking writer, close the database).
use crate::accounts::mfa::{MfaPolicy, MfaService};
use crate::accounts::tokens::new_signing_secret;
use crate::accounts::{AccountService, TokenIssuer};
use crate::audit::{AuditLog, BookingAuditProjection};
use crate::booking::{expire_due, BookingService, Writer};
use crate::catalog::{CatalogService, ShowCache};
use crate::clock::DynClock;
use crate::config::Config;
use crate::inventory::{DynInventory, LocalInventory, RedisInventory, RedisSettings};
use crate::mail::{MailService, RetryPolicy};
use crate::notifications::{NotificationProjection, NotificationService};
use crate::organizations::{Access, OrganizationService};
use crate::outbox::{
    ConsumerSettings, Consumers, DeadLetterService, FollowSettings, JetStreamRelay, LocalRelay,
    OutboxConsumer, OutboxHandler, Retention,
};
use crate::payments::{PaymentService, SagaTiming};
use crate::ratelimit::{DynRateLimiter, LocalRateLimiter, RedisRateLimiter};
use crate::seating::SeatingService;
use crate::state::{AppState, Services};
use crate::store::{Backend, DynStore, OrganizationStore, SqlStore};
use crate::tasks::{Health, TaskGroup};
use crate::tickets::{TicketProjection, TicketService};
use crate::webhooks::{Dispatcher, WebhookFanOut, WebhookService};
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Events an outbox consumer handles per transaction.
const OUTBOX_BATCH: u32 = 1_000;
/// How long a consumer waits for an outbox position that is not visible yet (a
/// transaction still committing) before taking it as rolled back.
const OUTBOX_GAP_GRACE: Duration = Duration::from_secs(5);

pub struct App {
    pub state: AppState,
    /// The payment gateway (and the in-process simulator, which lives as long as
    /// the app).
    _gateway: crate::payments::gateway::Gateway,
    sql: SqlStore,
    /// Holds the database-wide inventory lock (PostgreSQL) while the app runs.
    ownership: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    /// Expiry, idempotency purger, outbox consumers and WAL checkpoints: stopped first.
    jobs: TaskGroup,
    /// The audit writer: stopped after the jobs, committing what is queued.
    audit: TaskGroup,
    /// The mail sender: stopped after the jobs, so what their last handlers queue
    /// (notifications) is still sent.
    mail: TaskGroup,
    /// The group-commit writer: stopped last, after committing what is queued.
    writer: TaskGroup,
    /// How outbox consumers added with [`App::add_consumer`] read and retry.
    consumer_settings: ConsumerSettings,
    /// The outbox's newest events, read once for all of this process's consumers.
    outbox_tail: Arc<crate::outbox::OutboxTail>,
    /// The admin listener with the metrics it renders (`metrics` on).
    admin: Option<(TcpListener, metrics_exporter_prometheus::PrometheusHandle)>,
}

impl App {
    /// Connects, migrates, rebuilds live state from the store and starts the
    /// background tasks.
    pub async fn build(config: Config, clock: DynClock) -> anyhow::Result<Self> {
        let sql = SqlStore::connect(
            config.database_url.expose(),
            config.database_max_connections,
            config.durability,
        )
        .await?;
        sql.migrate().await?;
        config.validate_role()?;
        // API nodes of the scaled mode share Redis and leave the jobs to the worker;
        // every other node is the one job runner (and, in-process, inventory owner).
        let leader = config.role.runs_jobs();
        let ownership = if leader {
            sql.claim_inventory_ownership().await?
        } else {
            None
        };
        let store: DynStore = Arc::new(sql.clone());
        let secret = match &config.jwt_secret {
            Some(s) => s.expose_secret().to_owned(),
            None => {
                store
                    .init_setting("jwt_secret", &new_signing_secret())
                    .await?
            }
        };
        let issuer = Arc::new(TokenIssuer::new(secret.as_bytes()));
        let web = Arc::new(crate::web::Web::new(secret.as_bytes())?);

        let (record, seating) = crate::booking::restore::read(&store).await?;
        let seating = Arc::new(seating);
        let (inventory, shared): (DynInventory, _) = match &config.redis_url {
            None => (Arc::new(LocalInventory::new()), None),
            Some(url) => {
                let engine = Arc::new(
                    RedisInventory::connect(&RedisSettings {
                        url: url.expose().to_owned(),
                        connections: config.redis_connections.max(1),
                        timeout: Duration::from_millis(config.redis_timeout_ms.max(1)),
                    })
                    .await?,
                );
                (engine.clone() as DynInventory, Some(engine))
            }
        };
        inventory.restore(&record).await?;
        tracing::info!(
            engine = if shared.is_some() {
                "redis"
            } else {
                "in-process"
            },
            shows = record.shows.len(),
            pending_holds = record.snapshot.pending.len(),
            buyers = record.snapshot.buyers.len(),
            seated_orders = record.orders.len(),
            "inventory rebuilt from the store"
        );
        let cache = Arc::new(ShowCache::new(record.shows));

        let health = Health::default();
        let admin = match config
            .metrics
            .then(crate::telemetry::metrics::install)
            .flatten()
        {
            Some(handle) => {
                if !config.metrics_addr.ip().is_loopback() {
                    tracing::warn!(addr = %config.metrics_addr, "the metrics listener is reachable from other hosts; keep it on a private network");
                }
                crate::telemetry::metrics::register_known();
                Some((crate::cli::listen(config.metrics_addr)?, handle))
            }
            None => None,
        };
        let mut writer_group = TaskGroup::new(&health);
        let writer_tasks = match (config.writer_tasks, sql.backend()) {
            (0, Backend::Sqlite) => 1,
            (0, Backend::Postgres) => 2,
            (n, _) => n,
        };
        let relay = Arc::new(LocalRelay::default());
        let (writer, writer_task) = Writer::spawn(
            store.clone(),
            writer_tasks,
            config.writer_batch_max,
            writer_group.token(),
            relay.clone(),
        )?;
        for task in writer_task {
            writer_group.watch("booking-writer", task);
        }
        let mut audit_group = TaskGroup::new(&health);
        let (audit, audit_task) =
            AuditLog::spawn(store.clone(), clock.clone(), audit_group.token());
        audit_group.watch("audit-writer", audit_task);
        let mut jobs = TaskGroup::new(&health);
        let mailer = crate::mail::mailer_from_config(&config)?;
        let mut mail_group = TaskGroup::new(&health);
        let (mail, mail_sender) = MailService::start(
            mailer,
            RetryPolicy {
                attempts: config.mail_attempts.max(1),
                attempt_timeout: Duration::from_secs(config.smtp_timeout_secs.max(1) * 3),
                ..RetryPolicy::default()
            },
            mail_group.token(),
        );
        mail_group.spawn("mail-sender", mail_sender);
        let vault = Arc::new(
            crate::vault::Vault::load(config.encryption_keys.as_ref(), store.clone()).await?,
        );
        let keys = Arc::new(
            crate::signing::Keyring::load(
                &config.signing,
                store.clone(),
                vault.clone(),
                clock.clone(),
            )
            .await?,
        );
        let reloading = keys.clone();
        // Another node (or `admin rotate-signing-key`) may have rotated.
        jobs.every("signing-key-reload", Duration::from_secs(60), move || {
            let keys = reloading.clone();
            async move {
                if let Err(e) = keys.reload().await {
                    tracing::warn!(error = %e, "signing keys not reloaded; retrying later");
                }
            }
        });
        let mfa = Arc::new(MfaService::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            MfaPolicy::from_role_names(&config.mfa_required_roles)?,
            audit.clone(),
        ));
        let accounts = Arc::new(
            AccountService::new(store.clone(), issuer, clock.clone(), audit.clone())
                .await?
                .with_mfa(mfa.clone())
                .with_mail(mail.clone()),
        );
        let org_store: Arc<dyn OrganizationStore> = Arc::new(sql.clone());
        let access = Arc::new(
            Access::new(org_store.clone()).with_mfa_for_members(config.mfa_required_for_members),
        );
        let wake_dispatcher = Arc::new(tokio::sync::Notify::new());
        let webhooks = Arc::new(WebhookService::new(
            store.clone(),
            access.clone(),
            vault.clone(),
            clock.clone(),
            audit.clone(),
            config.webhooks.clone(),
            wake_dispatcher.clone(),
        ));
        let organizations = Arc::new(
            OrganizationService::new(
                org_store.clone(),
                Arc::new(sql.clone()),
                access.clone(),
                clock.clone(),
                audit.clone(),
            )
            .with_mail(mail.clone()),
        );
        let catalog = Arc::new(CatalogService::new(
            store.clone(),
            org_store,
            access.clone(),
            cache.clone(),
            inventory.clone(),
            clock.clone(),
            audit.clone(),
        ));
        let gateway = crate::payments::gateway::connect(&config.payments).await?;
        let seating = Arc::new(SeatingService::new(
            store.clone(),
            access.clone(),
            cache.clone(),
            seating,
            inventory.clone(),
            clock.clone(),
        ));
        let booking = Arc::new(
            BookingService::new(
                store.clone(),
                access.clone(),
                cache.clone(),
                inventory.clone(),
                writer.clone(),
                clock.clone(),
                gateway.gateway.is_some(),
            )
            .with_seating(seating.cache().clone()),
        );
        let (queue, queue_log) = crate::queue::QueueService::start(
            crate::queue::QueueParts {
                store: Arc::new(sql.clone()),
                accounts: store.clone(),
                keys: keys.clone(),
                clock: clock.clone(),
                access: access.clone(),
                cache: cache.clone(),
                inventory: inventory.clone(),
                config: config.queue.clone(),
                redis: config.redis_url.as_ref().map(|url| {
                    (
                        url.expose().to_owned(),
                        Duration::from_millis(config.redis_timeout_ms.max(1)),
                    )
                }),
            },
            writer_group.token(),
        )
        .await?;
        writer_group.watch("queue-log-writer", queue_log);
        if leader {
            let admitting = queue.clone();
            jobs.every(
                "queue-admission",
                Duration::from_millis(config.queue.admission_interval_ms.max(10)),
                move || {
                    let queue = admitting.clone();
                    async move { crate::queue::admit_due(&queue).await }
                },
            );
        }
        let payments = Arc::new(PaymentService::new(
            store.clone(),
            writer,
            gateway.gateway.clone(),
            booking.clone(),
            inventory,
            cache.clone(),
            access.clone(),
            clock.clone(),
            SagaTiming {
                grace: Duration::from_secs(config.payments.grace_secs),
                retry_after: Duration::from_secs(config.payments.retry_secs),
                ..SagaTiming::default()
            },
        ));
        if leader && payments.enabled() {
            let resolving = payments.clone();
            jobs.every(
                "payment-resolver",
                Duration::from_millis(config.payments.resolve_interval_ms.max(10)),
                move || {
                    let payments = resolving.clone();
                    async move { crate::payments::resolve_payments(&payments).await }
                },
            );
        }
        let expiry_every = Duration::from_millis(config.expiry_interval_ms.max(10));
        let expiring = booking.clone();
        jobs.every("hold-expiry", expiry_every, move || {
            let booking = expiring.clone();
            async move { expire_due(&booking).await }
        });
        if let Some((_, handle)) = &admin {
            // Folds recorded histogram samples so memory stays flat between scrapes.
            let handle = handle.clone();
            jobs.every("metrics-upkeep", Duration::from_secs(5), move || {
                let handle = handle.clone();
                async move { handle.run_upkeep() }
            });
        }
        if shared.is_some() {
            // Other nodes open queues and steer them: take what the store has.
            let refreshing = queue.clone();
            jobs.every("queue-settings-refresh", crate::queue::REFRESH_EVERY, move || {
                let queue = refreshing.clone();
                async move {
                    if let Err(e) = queue.refresh().await {
                        tracing::warn!(error = %e, "queue settings were not refreshed; retrying");
                    }
                }
            });
        }
        if let Some(engine) = shared.clone() {
            // Other nodes change the catalog and seat shows: take what the store has.
            let (store, cache, seats) = (store.clone(), cache.clone(), seating.cache().clone());
            jobs.every("catalog-refresh", Duration::from_secs(1), move || {
                let (engine, store, cache, seats) =
                    (engine.clone(), store.clone(), cache.clone(), seats.clone());
                async move {
                    let changes = cache.changes();
                    match store.all_show_bundles().await {
                        Ok(bundles) => cache.replace_all(bundles, changes),
                        Err(e) => {
                            tracing::warn!(error = %e, "the catalog was not refreshed; retrying")
                        }
                    }
                    let changes = seats.changes();
                    match crate::seating::SeatingCache::load(&store).await {
                        Ok(fresh) => {
                            let maps = fresh.maps();
                            if seats.replace_with(fresh, changes) {
                                engine.know_maps(maps);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "seat maps were not refreshed; retrying")
                        }
                    }
                }
            });
        }
        if let Some(engine) = shared {
            // Redis may restart empty: find out within a second and rebuild from the store.
            let store = store.clone();
            jobs.every("inventory-watch", Duration::from_secs(1), move || {
                let (engine, store) = (engine.clone(), store.clone());
                async move {
                    let load = || async { Ok(crate::booking::restore::read(&store).await?.0) };
                    if let Err(e) = engine.recover(load).await {
                        tracing::warn!(error = %e, "the Redis inventory is not checked or rebuilt; retrying");
                    }
                }
            });
        }
        if leader {
            let reconciling = booking.clone();
            let every = Duration::from_secs(config.reconcile_interval_secs.max(1));
            jobs.every("inventory-reconcile", every, move || {
                let booking = reconciling.clone();
                async move {
                    if let Err(e) = booking.reconcile().await {
                        tracing::warn!(error = %e, "inventory reconciliation failed; retrying later");
                    }
                }
            });
            let (purge_store, purge_clock) = (store.clone(), clock.clone());
            jobs.every("idempotency-purger", Duration::from_secs(600), move || {
                let (store, clock) = (purge_store.clone(), purge_clock.clone());
                async move { crate::http::idempotency::purge_expired(&store, &clock).await }
            });
        }
        let rate_limits: Option<DynRateLimiter> = if !config.rate_limits.enabled {
            None
        } else if let (Some(url), true) = (&config.redis_url, config.rate_limits.shared) {
            // Every node draws from the same buckets.
            let limiter = RedisRateLimiter::connect(
                url.expose(),
                Duration::from_millis(config.redis_timeout_ms.max(1)),
                &config.rate_limits,
                clock.clone(),
            )
            .await?;
            Some(Arc::new(limiter))
        } else {
            Some(Arc::new(LocalRateLimiter::new(
                &config.rate_limits,
                clock.clone(),
            )?))
        };
        if let (Some(limiter), true) = (rate_limits.clone(), config.redis_url.is_some()) {
            // What this node allowed reaches the shared buckets, and the others' back.
            let every = Duration::from_millis(config.rate_limits.sync_interval_ms.max(1));
            jobs.every("rate-limit-sync", every, move || {
                let limiter = limiter.clone();
                async move { limiter.sync().await }
            });
        }
        if let Some(limiter) = rate_limits.clone() {
            // Full buckets are dropped, so memory follows the callers of the last minute.
            jobs.every("rate-limit-pruner", Duration::from_secs(60), move || {
                let limiter = limiter.clone();
                async move {
                    let kept = limiter.prune().await;
                    tracing::debug!(kept, "rate-limit buckets pruned");
                }
            });
        }
        let consumer_settings = ConsumerSettings {
            batch: OUTBOX_BATCH,
            gap_grace: OUTBOX_GAP_GRACE,
            backoff: config.outbox_backoff(),
        };
        let pace = crate::outbox::registry::Pace::of(&config);
        let poll = pace.poll;
        let consumers = Arc::new(Consumers::default());
        let outbox_tail = Arc::new(crate::outbox::OutboxTail::default());
        let notifications = Arc::new(NotificationService::new(store.clone(), clock.clone()));
        let tickets = Arc::new(TicketService::new(
            store.clone(),
            keys.clone(),
            access,
            cache.clone(),
            clock.clone(),
            audit.clone(),
        ));
        let mut handlers: Vec<(&'static str, Arc<dyn OutboxHandler>)> = vec![
            (
                crate::audit::OUTBOX_CONSUMER,
                Arc::new(BookingAuditProjection::new(store.clone())),
            ),
            (
                crate::notifications::OUTBOX_CONSUMER,
                Arc::new(NotificationProjection::new(
                    store.clone(),
                    mail.clone(),
                    clock.clone(),
                    config.notification_emails_per_hour,
                )),
            ),
            (
                crate::webhooks::OUTBOX_CONSUMER,
                Arc::new(WebhookFanOut::new(
                    store.clone(),
                    cache,
                    clock.clone(),
                    wake_dispatcher.clone(),
                )),
            ),
            (
                crate::tickets::OUTBOX_CONSUMER,
                Arc::new(TicketProjection::new(tickets.clone(), mail.clone())),
            ),
        ];
        let event_stream = match (&config.nats_url, leader) {
            (Some(url), true) => {
                let relay = Arc::new(
                    JetStreamRelay::connect(
                        url.expose(),
                        &config.nats_stream,
                        Duration::from_secs(5),
                    )
                    .await?,
                );
                handlers.push((crate::outbox::jetstream::OUTBOX_CONSUMER, relay.clone()));
                Some(relay)
            }
            _ => None,
        };
        // With an event stream, the built-in consumers read it (each on its durable)
        // and only the relay reads the table.
        let follower = event_stream.as_ref().map(|relay| {
            relay.follower(FollowSettings {
                store: store.clone(),
                batch: OUTBOX_BATCH as usize,
                poll,
                ack_wait: Duration::from_secs(60),
            })
        });
        for (name, handler) in handlers {
            let consumer = Arc::new(
                OutboxConsumer::new(
                    name,
                    store.clone(),
                    handler,
                    clock.clone(),
                    consumer_settings,
                )
                .with_tail(outbox_tail.clone()),
            );
            consumers.register(consumer.clone());
            if !leader {
                continue;
            }
            match &follower {
                Some(follower) if name != crate::outbox::jetstream::OUTBOX_CONSUMER => {
                    jobs.spawn(name, follower.clone().run(consumer, jobs.token()));
                }
                _ => jobs.spawn(
                    name,
                    crate::outbox::registry::run(consumer, relay.subscribe(), pace, jobs.token()),
                ),
            }
        }
        let retention = Arc::new(Retention::new(
            store.clone(),
            consumers.clone(),
            clock.clone(),
            Duration::from_secs(config.outbox_retention_hours.saturating_mul(3600)),
            Duration::from_secs(config.dead_letter_retention_hours.saturating_mul(3600)),
        ));
        if leader {
            jobs.every(
            "outbox-retention",
            Duration::from_secs(config.outbox_prune_interval_secs.max(1)),
            move || {
                let retention = retention.clone();
                async move {
                    match retention.run_once().await {
                        Ok(p) if p.events + p.dead_letters > 0 => tracing::info!(
                            events = p.events,
                            dead_letters = p.dead_letters,
                            "outbox retention pruned"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "outbox retention failed; retrying at the next run"),
                    }
                }
            },
        );
        }
        let dead_letters = Arc::new(DeadLetterService::new(
            store.clone(),
            consumers.clone(),
            clock.clone(),
        ));
        let dispatcher = Arc::new(Dispatcher::new(
            store.clone(),
            vault.clone(),
            clock.clone(),
            config.webhooks.clone(),
            wake_dispatcher,
        )?);
        if leader {
            let dispatcher_stop = jobs.token();
            jobs.spawn("webhook-dispatcher", dispatcher.run(dispatcher_stop));
        }
        if sql.backend() == Backend::Sqlite {
            // Keeps the WAL short off the commit path.
            let wal = sql.clone();
            jobs.every("wal-checkpoint", Duration::from_millis(50), move || {
                let wal = wal.clone();
                async move {
                    let started = std::time::Instant::now();
                    match wal.checkpoint().await {
                        Ok(frames) => tracing::debug!(
                            frames,
                            us = started.elapsed().as_micros() as u64,
                            "WAL checkpoint"
                        ),
                        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
                    }
                }
            });
        }
        let privacy = Arc::new(crate::accounts::privacy::PrivacyService::new(
            store.clone(),
            vault,
            clock.clone(),
            crate::accounts::privacy::ExportSources {
                accounts: accounts.clone(),
                organizations: organizations.clone(),
                booking: booking.clone(),
                mfa: mfa.clone(),
                audit: audit.clone(),
                notifications: notifications.clone(),
                tickets: tickets.clone(),
            },
        ));
        let state = AppState(Arc::new(Services {
            config: Arc::new(config),
            store,
            clock,
            accounts,
            organizations,
            mfa,
            privacy,
            catalog,
            booking,
            seating,
            payments,
            rate_limits,
            mail,
            audit,
            webhooks,
            relay,
            consumers,
            dead_letters,
            notifications,
            queue,
            keys,
            event_stream,
            tickets,
            health,
            web,
        }));
        Ok(Self {
            state,
            _gateway: gateway,
            sql,
            ownership,
            jobs,
            audit: audit_group,
            mail: mail_group,
            writer: writer_group,
            consumer_settings,
            outbox_tail,
            admin,
        })
    }

    /// Where `GET /metrics` is served, when metrics are on.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Runs one more outbox consumer beside the built-in ones, supervised like them,
    /// woken by the same commits, with its dead letters replayable through the API.
    pub fn add_consumer(&mut self, name: &'static str, handler: Arc<dyn OutboxHandler>) {
        let s = &self.state;
        let consumer = Arc::new(
            OutboxConsumer::new(
                name,
                s.store.clone(),
                handler,
                s.clock.clone(),
                self.consumer_settings,
            )
            .with_tail(self.outbox_tail.clone()),
        );
        s.consumers.register(consumer.clone());
        if !s.config.role.runs_jobs() {
            return;
        }
        let pace = crate::outbox::registry::Pace::of(&s.config);
        let run =
            crate::outbox::registry::run(consumer, s.relay.subscribe(), pace, self.jobs.token());
        self.jobs.spawn(name, run);
    }

    /// Starts an extra background task under the same supervision as the built-in
    /// ones (stopped with the expiry job).
    pub fn spawn_task(
        &mut self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.jobs.spawn(name, task);
    }

    /// Serves until `shutdown` resolves or a background task fails, then drains and
    /// stops everything; a failed task makes the result an error.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run(Some(listener), shutdown).await
    }

    /// Runs the background jobs (and the admin listener) without a public listener
    /// until `shutdown` resolves or a task fails: `boxoffice worker`.
    pub async fn work(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.run(None, shutdown).await
    }

    async fn run(
        mut self,
        listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let health = self.state.health.clone();
        let admin_stop = tokio_util::sync::CancellationToken::new();
        let admin = self.admin.take().map(|(admin, handle)| {
            if let Ok(addr) = admin.local_addr() {
                tracing::info!(addr = %addr, "metrics at /metrics");
            }
            let router = crate::telemetry::admin::router(self.state.clone(), handle);
            let stop = admin_stop.clone();
            tokio::spawn(async move {
                axum::serve(admin, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
            })
        });
        let until = async move {
            tokio::select! {
                () = shutdown => {}
                () = health.failed() => tracing::error!("stopping: a background task failed"),
            }
        };
        let served = match listener {
            Some(listener) => {
                tracing::info!(addr = %listener.local_addr()?, role = ?self.state.config.role, "listening");
                let router = crate::http::router(self.state.clone());
                axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .with_graceful_shutdown(until)
                .await
            }
            None => {
                tracing::info!(role = ?self.state.config.role, "running background jobs");
                until.await;
                Ok(())
            }
        };
        let failure = self.state.health.failure();
        admin_stop.cancel();
        if let Some(admin) = admin {
            let _ = admin.await;
        }
        self.stop().await;
        served?;
        match failure {
            Some(reason) => Err(anyhow::anyhow!(reason)),
            None => Ok(()),
        }
    }

    /// Stops the background tasks; the writer commits what is queued first.
    pub async fn stop(self) {
        self.jobs.stop().await;
        self.mail.stop().await;
        self.audit.stop().await;
        self.writer.stop().await;
        // The lock's connection is closed on its own, before the pool: dropped, it would
        // go back to the pool, and one returned while the pool is closing can outlive
        // `close()` and keep the lock from the next process.
        if let Some(conn) = self.ownership {
            if let Err(e) = sqlx::Connection::close(conn.detach()).await {
                tracing::warn!(error = %e, "closing the inventory lock's connection failed");
            }
        }
        self.sql.close().await;
        tracing::info!("stopped");
    }
}
