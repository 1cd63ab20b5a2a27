//! Wiring: builds the store, inventory, caches, services and background tasks from a
//! `Config`, serves HTTP, and shuts down in order (stop accepting, drain requests,
//! stop expiry, flush the booking writer, close the database).
use crate::accounts::tokens::new_signing_secret;
use crate::accounts::{AccountService, TokenIssuer};
use crate::booking::{spawn_expiry, BookingService, Writer};
use crate::catalog::{CatalogService, ShowCache};
use crate::clock::DynClock;
use crate::config::Config;
use crate::state::{AppState, Services};
use crate::inventory::{DynInventory, LocalInventory};
use crate::store::{Backend, DynStore, SqlStore};
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct App {
    pub state: AppState,
    sql: SqlStore,
    /// Holds the database-wide inventory lock (PostgreSQL) while the app runs.
    ownership: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    /// The expiry job and the idempotency purger.
    expiry: (CancellationToken, Vec<JoinHandle<()>>),
    writer: (CancellationToken, Vec<JoinHandle<()>>),
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
        let ownership = sql.claim_inventory_ownership().await?;
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

        let bundles = store.all_show_bundles().await?;
        let snapshot = store.inventory_snapshot().await?;
        let inventory: DynInventory = Arc::new(LocalInventory::new());
        inventory.restore(&bundles, &snapshot).await?;
        tracing::info!(
            shows = bundles.len(),
            pending_holds = snapshot.pending.len(),
            buyers = snapshot.buyers.len(),
            "inventory rebuilt from the store"
        );
        let cache = Arc::new(ShowCache::new(bundles));

        let writer_stop = CancellationToken::new();
        let writer_tasks = match (config.writer_tasks, sql.backend()) {
            (0, Backend::Sqlite) => 1,
            (0, Backend::Postgres) => 4,
            (n, _) => n,
        };
        let (writer, writer_task) = Writer::spawn(
            store.clone(),
            writer_tasks,
            config.writer_batch_max,
            writer_stop.clone(),
        );
        let accounts = Arc::new(AccountService::new(store.clone(), issuer, clock.clone()).await?);
        let catalog = Arc::new(CatalogService::new(
            store.clone(),
            cache.clone(),
            inventory.clone(),
            clock.clone(),
        ));
        let booking = Arc::new(BookingService::new(
            store.clone(),
            cache,
            inventory,
            writer,
            clock.clone(),
        ));
        let expiry_stop = CancellationToken::new();
        let purger = crate::http::idempotency::spawn_purger(
            store.clone(),
            clock.clone(),
            Duration::from_secs(600),
            expiry_stop.clone(),
        );
        let checkpointer = spawn_checkpointer(sql.clone(), expiry_stop.clone());
        let expiry_task = spawn_expiry(
            booking.clone(),
            Duration::from_millis(config.expiry_interval_ms.max(10)),
            expiry_stop.clone(),
        );
        let state = AppState(Arc::new(Services {
            config: Arc::new(config),
            store,
            clock,
            accounts,
            catalog,
            booking,
        }));
        Ok(Self {
            state,
            sql,
            ownership,
            expiry: (expiry_stop, vec![expiry_task, purger, checkpointer]),
            writer: (writer_stop, writer_task),
        })
    }

    /// Serves until `shutdown` resolves, then drains and stops everything.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::http::router(self.state.clone());
        tracing::info!(addr = %listener.local_addr()?, "listening");
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        self.stop().await;
        served.map_err(Into::into)
    }

    /// Stops the background tasks; the writer commits what is queued first.
    pub async fn stop(self) {
        self.expiry.0.cancel();
        for task in self.expiry.1 {
            let _ = task.await;
        }
        self.writer.0.cancel();
        for task in self.writer.1 {
            let _ = task.await;
        }
        // Closing waits for every connection, including the one holding the lock.
        drop(self.ownership);
        self.sql.close().await;
        tracing::info!("stopped");
    }
}

/// Keeps the SQLite WAL short by checkpointing every 250 ms off the commit path.
fn spawn_checkpointer(sql: SqlStore, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        if sql.backend() != Backend::Sqlite {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => break,
            }
            if let Err(e) = sql.checkpoint().await {
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
        }
    })
}
