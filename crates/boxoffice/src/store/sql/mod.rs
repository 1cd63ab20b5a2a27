//! The SQL adapter: every store port over `sqlx::Any`, so SQLite and PostgreSQL run the
//! very same statements; only the migration files differ between the two schemas.
mod accounts;
mod audit;
mod batch;
mod bookings;
mod catalog;
mod constraints;
mod idempotency;
mod lifecycle;
mod mfa;
mod notifications;
mod organizations;
mod outbox;
mod payment_batch;
mod payments;
mod personal;
mod queue;
mod seating;
mod settings;
mod statement;
mod tickets;
mod webhooks;

use super::Durability;
use anyhow::{anyhow, Context};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(anyhow!(
                "database URL must start with sqlite:// or postgres://"
            ))
        }
    }
}

#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// `application_name` of this process's PostgreSQL sessions.
    session_name: String,
    /// SQLite: write transactions take turns here, first come first served (see
    /// `batch`). `None` on PostgreSQL, whose row locks let writers run side by side.
    write_gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// WAL size (in pages) past which a checkpoint rewinds the WAL: 1 GiB of 4 KiB pages.
/// A bound for long bursts, not a routine: each RESTART holds commits while it
/// copies and syncs, which costs the open-loop tail (measured: a 64 MiB bound put the
/// p99 at 50 % load from 11 ms to 22–150 ms), so ordinary sales never reach it.
const WAL_RESTART_FRAMES: i64 = 262_144;

/// Attempts (250 ms apart) to take the inventory lock before giving up.
const OWNERSHIP_RETRIES: u32 = 20;
/// Longest wait for the transactions a killed owner left running (see
/// `await_earlier_transactions`).
const EARLIER_TRANSACTIONS_WAIT: Duration = Duration::from_secs(10);

impl SqlStore {
    /// Connects to `url` (creating the SQLite file and its folder when missing).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        durability: Durability,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        // Names this process's PostgreSQL sessions, so a node taking over the
        // inventory can tell a killed owner's from its own (see
        // `await_earlier_transactions`).
        let session_name = format!("boxoffice-{}", uuid::Uuid::new_v4().simple());
        let app_name = format!("SET application_name = '{session_name}'");
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // A ping per checkout is a round trip per group commit; broken
            // connections surface as errors on use and are replaced then.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                let app_name = app_name.clone();
                Box::pin(async move {
                    if backend == Backend::Postgres {
                        conn.execute(app_name.as_str()).await?;
                        // `normal`: a commit returns before its WAL reaches the disk
                        // (PostgreSQL's crash may lose the last few; ours loses none).
                        if durability == Durability::Normal {
                            conn.execute("SET synchronous_commit = off").await?;
                        }
                    }
                    if backend == Backend::Sqlite {
                        conn.execute(match durability {
                            // Every commit fsyncs the WAL: an acknowledged hold
                            // survives a power cut. Paid once per group commit.
                            Durability::Full => "PRAGMA synchronous = FULL",
                            // The WAL is fsynced at checkpoints only: survives a
                            // process crash, may lose the last commits on power loss.
                            Durability::Normal => "PRAGMA synchronous = NORMAL",
                        })
                        .await?;
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA foreign_keys = ON",
                            "PRAGMA busy_timeout = 10000",
                            // Hot index pages stay in memory during a sale instead of
                            // being re-read through the kernel on every batch.
                            "PRAGMA cache_size = -65536",
                            // Commits never checkpoint (copy the WAL into the
                            // database, with an fsync): `checkpoint` does it beside
                            // the writer instead of inside a committing batch.
                            "PRAGMA wal_autocheckpoint = 0",
                        ] {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        Ok(Self {
            pool,
            backend,
            session_name,
            write_gate: (backend == Backend::Sqlite)
                .then(|| std::sync::Arc::new(tokio::sync::Mutex::new(()))),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Copies committed WAL frames into the SQLite database without blocking the
    /// writer (a passive checkpoint); returns the frames the WAL holds. No-op on
    /// PostgreSQL.
    ///
    /// Under a steady stream of commits a passive checkpoint never catches up with
    /// the writer, and SQLite only rewinds the WAL once it has, so the file grows for
    /// as long as the burst lasts (about 700 MB in 10 s of closed-loop holds) and
    /// starts over at the first pause. Past [`WAL_RESTART_FRAMES`] the passive pass
    /// that just copied nearly everything is followed by a RESTART checkpoint: it
    /// holds new commits for the frames left, and the next commit rewinds the WAL.
    pub async fn checkpoint(&self) -> anyhow::Result<i64> {
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        let frames = row.try_get::<i64, _>(1).unwrap_or(0);
        if frames >= WAL_RESTART_FRAMES {
            sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .fetch_one(&self.pool)
                .await?;
        }
        Ok(frames)
    }

    /// Applies pending migrations of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("applying migrations")?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Makes this process the only one serving live inventory from this database.
    /// The in-process engine keeps counters in memory, so a second node on the same
    /// PostgreSQL database would sell the same tickets twice; it is refused at start-up
    /// instead. The returned connection holds a session advisory lock until the pool
    /// closes (or the process dies). SQLite is single-process by construction.
    pub async fn claim_inventory_ownership(
        &self,
    ) -> anyhow::Result<Option<sqlx::pool::PoolConnection<sqlx::Any>>> {
        if self.backend != Backend::Postgres {
            return Ok(None);
        }
        let mut conn = self.pool.acquire().await?;
        // A node killed a moment ago may still hold the lock until PostgreSQL notices
        // its connection is gone: retry briefly before refusing to start.
        for attempt in 0..=OWNERSHIP_RETRIES {
            let row = sqlx::query(
                "SELECT pg_try_advisory_lock(7262081) AS owned, \
                 CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT) AS at_us",
            )
            .fetch_one(&mut *conn)
            .await?;
            if row.try_get::<bool, _>("owned")? {
                let at = row.try_get::<i64, _>("at_us")?;
                self.await_earlier_transactions(&mut conn, at).await?;
                return Ok(Some(conn));
            }
            if attempt < OWNERSHIP_RETRIES {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        anyhow::bail!(
            "another boxoffice node already serves live inventory from this database; \
             the in-process inventory engine allows one node per database"
        );
    }
}

impl SqlStore {
    /// Waits until no transaction that began before `lock_at_us` (µs since the epoch,
    /// the database's clock) is still running. The lock of a killed node is freed as
    /// soon as its locking connection is gone, but another of its connections may
    /// still be committing what it sent just before it died (a confirmation, say):
    /// the rebuild must read the store after that commit, or the live counters would
    /// miss it. Such a statement may even start after the lock was taken (PostgreSQL
    /// reads it from the dead client's socket), so the sessions another boxoffice
    /// process opened before the lock are waited for too. Bounded by [`EARLIER_TRANSACTIONS_WAIT`]; past it, start anyway and
    /// say so (the periodic check of counters against the store repairs the rest).
    async fn await_earlier_transactions(
        &self,
        conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
        lock_at_us: i64,
    ) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        loop {
            // Running transactions begun before the lock, and sessions of another
            // boxoffice process opened before it: a killed process's session may
            // still read a statement from its socket and commit it after the lock
            // was taken (it leaves once it finds its client gone).
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND ((xact_start IS NOT NULL \
                       AND CAST(EXTRACT(EPOCH FROM xact_start) * 1000000 AS BIGINT) < $1) \
                   OR (application_name LIKE 'boxoffice-%' AND application_name <> $2 \
                       AND CAST(EXTRACT(EPOCH FROM backend_start) * 1000000 AS BIGINT) < $1))",
            )
            .bind(lock_at_us)
            .bind(self.session_name.as_str())
            .fetch_one(&mut **conn)
            .await?;
            let running = row.try_get::<i64, _>("n")?;
            if running == 0 {
                return Ok(());
            }
            if started.elapsed() >= EARLIER_TRANSACTIONS_WAIT {
                tracing::warn!(
                    running,
                    "transactions begun before this node took the inventory are still running; rebuilding anyway"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn prepare_sqlite_url(url: &str) -> anyhow::Result<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" {
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
        }
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}
