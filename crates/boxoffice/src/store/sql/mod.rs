//! The SQL adapter: one implementation of every store port over `sqlx::Any`, so SQLite
//! and PostgreSQL run the very same statements. Schemas differ only in their migration
//! files; statements stick to the common dialect (`$n` parameters, BIGINT instants,
//! TEXT ids, `ON CONFLICT`, `RETURNING`).
use super::*;
use anyhow::{anyhow, Context};
use boxoffice_domain::catalog::{EventDetails, ShowDetails, ZoneDetails};
use boxoffice_domain::Currency;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use std::collections::HashMap;
use std::str::FromStr;
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
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const BOOKING_COLUMNS: &str =
    "id, user_id, show_id, zone_id, quantity, unit_price_minor, currency, status, expires_at, created_at, updated_at";
const USER_COLUMNS: &str = "id, email, password_hash, display_name, role, created_at, updated_at";
const EVENT_COLUMNS: &str =
    "id, organizer_id, title, description, category, city, created_at, updated_at";
const SHOW_COLUMNS: &str = "id, event_id, venue, starts_at, sale_opens_at, sale_closes_at, hold_ttl_secs, per_user_limit, created_at, updated_at";
const ZONE_COLUMNS: &str =
    "id, show_id, name, price_minor, currency, capacity, created_at, updated_at";

/// Attempts (250 ms apart) to take the inventory lock before giving up.
const OWNERSHIP_RETRIES: u32 = 20;

/// Rows per multi-row INSERT; keeps SQLite well under its bound-parameter limit.
const INSERT_CHUNK: usize = 256;

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
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // A ping per checkout is a round trip per group commit; broken
            // connections surface as errors on use and are replaced then.
            .test_before_acquire(false)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Postgres {
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
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations of this backend.
    /// Copies committed WAL frames into the SQLite database without blocking the
    /// writer (a passive checkpoint); returns the frames checkpointed. No-op on
    /// PostgreSQL.
    pub async fn checkpoint(&self) -> anyhow::Result<i64> {
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(2).unwrap_or(0))
    }

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
            let row = sqlx::query("SELECT pg_try_advisory_lock(7262081) AS owned")
                .fetch_one(&mut *conn)
                .await?;
            if row.try_get::<bool, _>("owned")? {
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

fn db_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(ref d) if d.is_unique_violation() || d.is_foreign_key_violation() => {
            StoreError::Conflict(
                d.constraint()
                    .map(str::to_owned)
                    .unwrap_or_else(|| d.message().to_owned()),
            )
        }
        other => StoreError::Other(other.into()),
    }
}

fn bad_row(e: impl std::fmt::Display) -> StoreError {
    StoreError::Other(anyhow!("malformed row: {e}"))
}

/// A value bound to a `$n` parameter.
#[derive(Clone, Debug)]
enum Arg {
    Text(String),
    Int(i64),
    NullInt,
}

/// Builds a statement once for both backends: PostgreSQL gets numbered `$n`
/// parameters, SQLite anonymous `?` ones (SQLite resolves named parameters by a
/// linear scan, which made binding a 700-value batch insert quadratic).
#[derive(Default)]
struct Sql {
    numbered: String,
    positional: String,
    args: Vec<Arg>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            numbered: text.to_owned(),
            positional: text.to_owned(),
            args: Vec::new(),
        }
    }
    fn push(&mut self, s: &str) -> &mut Self {
        self.numbered.push_str(s);
        self.positional.push_str(s);
        self
    }
    /// Appends another statement fragment; only before any argument was added here,
    /// so its numbering stays valid.
    fn append(&mut self, other: Sql) -> &mut Self {
        debug_assert!(self.args.is_empty());
        self.numbered.push_str(&other.numbered);
        self.positional.push_str(&other.positional);
        self.args.extend(other.args);
        self
    }
    /// Adds an argument and appends its placeholder.
    fn arg(&mut self, a: Arg) -> &mut Self {
        self.args.push(a);
        self.numbered.push('$');
        self.numbered.push_str(&self.args.len().to_string());
        self.positional.push('?');
        self
    }
    fn text(&mut self, s: impl ToString) -> &mut Self {
        self.arg(Arg::Text(s.to_string()))
    }
    fn int(&mut self, i: i64) -> &mut Self {
        self.arg(Arg::Int(i))
    }
    /// Appends `(a, b, …)` with one placeholder per value.
    fn tuple(&mut self, values: Vec<Arg>) -> &mut Self {
        self.push("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.arg(v);
        }
        self.push(")")
    }
    fn query(
        &self,
        backend: Backend,
    ) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let text = match backend {
            Backend::Sqlite => &self.positional,
            Backend::Postgres => &self.numbered,
        };
        let mut q = sqlx::query(text);
        for a in &self.args {
            q = match a {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Int(i) => q.bind(*i),
                Arg::NullInt => q.bind(None::<i64>),
            };
        }
        q
    }
}

fn t(s: impl ToString) -> Arg {
    Arg::Text(s.to_string())
}
fn i(v: impl Into<i64>) -> Arg {
    Arg::Int(v.into())
}
fn ts(v: Timestamp) -> Arg {
    Arg::Int(v.millis())
}

fn get_str(row: &AnyRow, col: &str) -> StoreResult<String> {
    row.try_get::<String, _>(col).map_err(bad_row)
}
fn get_i64(row: &AnyRow, col: &str) -> StoreResult<i64> {
    row.try_get::<i64, _>(col).map_err(bad_row)
}
fn get_ts(row: &AnyRow, col: &str) -> StoreResult<Timestamp> {
    get_i64(row, col).map(Timestamp::from_millis)
}
fn get_opt_ts(row: &AnyRow, col: &str) -> StoreResult<Option<Timestamp>> {
    row.try_get::<Option<i64>, _>(col)
        .map(|v| v.map(Timestamp::from_millis))
        .map_err(bad_row)
}
fn get_id<T: FromStr>(row: &AnyRow, col: &str) -> StoreResult<T>
where
    T::Err: std::fmt::Display,
{
    get_str(row, col)?.parse().map_err(bad_row)
}
fn get_u32(row: &AnyRow, col: &str) -> StoreResult<u32> {
    u32::try_from(get_i64(row, col)?).map_err(bad_row)
}

fn user_from(row: &AnyRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: get_id(row, "id")?,
        email: Email::parse(&get_str(row, "email")?).map_err(bad_row)?,
        password_hash: get_str(row, "password_hash")?,
        display_name: get_str(row, "display_name")?,
        role: Role::parse(&get_str(row, "role")?).map_err(bad_row)?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn refresh_from(row: &AnyRow) -> StoreResult<RefreshRecord> {
    Ok(RefreshRecord {
        token_hash: get_str(row, "token_hash")?,
        user_id: get_id(row, "user_id")?,
        family_id: get_str(row, "family_id")?,
        expires_at: get_ts(row, "expires_at")?,
        created_at: get_ts(row, "created_at")?,
        used_at: get_opt_ts(row, "used_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

fn event_from(row: &AnyRow) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        id: get_id(row, "id")?,
        organizer_id: get_id(row, "organizer_id")?,
        details: EventDetails {
            title: get_str(row, "title")?,
            description: get_str(row, "description")?,
            category: get_str(row, "category")?,
            city: get_str(row, "city")?,
        },
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn show_from(row: &AnyRow) -> StoreResult<ShowRecord> {
    Ok(ShowRecord {
        id: get_id(row, "id")?,
        event_id: get_id(row, "event_id")?,
        details: ShowDetails {
            venue: get_str(row, "venue")?,
            starts_at: get_ts(row, "starts_at")?,
            sale_opens_at: get_ts(row, "sale_opens_at")?,
            sale_closes_at: get_ts(row, "sale_closes_at")?,
            hold_ttl_secs: get_i64(row, "hold_ttl_secs")?,
            per_user_limit: get_u32(row, "per_user_limit")?,
        },
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn zone_from(row: &AnyRow) -> StoreResult<ZoneRecord> {
    let currency = Currency::parse(&get_str(row, "currency")?).map_err(bad_row)?;
    Ok(ZoneRecord {
        id: get_id(row, "id")?,
        show_id: get_id(row, "show_id")?,
        details: ZoneDetails {
            name: get_str(row, "name")?,
            price: Money {
                amount_minor: get_i64(row, "price_minor")?,
                currency,
            },
            capacity: get_u32(row, "capacity")?,
        },
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn booking_from(row: &AnyRow) -> StoreResult<BookingRecord> {
    let currency = Currency::parse(&get_str(row, "currency")?).map_err(bad_row)?;
    let status = get_str(row, "status")?;
    Ok(BookingRecord {
        id: get_id(row, "id")?,
        user_id: get_id(row, "user_id")?,
        show_id: get_id(row, "show_id")?,
        zone_id: get_id(row, "zone_id")?,
        quantity: get_u32(row, "quantity")?,
        unit_price: Money {
            amount_minor: get_i64(row, "unit_price_minor")?,
            currency,
        },
        status: BookingStatus::parse(&status).ok_or_else(|| bad_row(format!("status {status}")))?,
        expires_at: get_ts(row, "expires_at")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn rows<T>(rows: &[AnyRow], f: fn(&AnyRow) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(f).collect()
}

fn one_affected(n: u64) -> StoreResult<()> {
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

fn user_args(u: &UserRecord) -> Vec<Arg> {
    vec![
        t(u.id),
        t(u.email.as_str()),
        t(&u.password_hash),
        t(&u.display_name),
        t(u.role.as_str()),
        ts(u.created_at),
        ts(u.updated_at),
    ]
}

fn booking_args(b: &BookingRecord) -> Vec<Arg> {
    vec![
        t(b.id),
        t(b.user_id),
        t(b.show_id),
        t(b.zone_id),
        i(b.quantity),
        i(b.unit_price.amount_minor),
        t(b.unit_price.currency),
        t(b.status.as_str()),
        ts(b.expires_at),
        ts(b.created_at),
        ts(b.updated_at),
    ]
}

fn outbox_args(event_type: &str, b: &BookingRecord, at: Timestamp) -> StoreResult<Vec<Arg>> {
    let payload = serde_json::to_string(b).map_err(|e| StoreError::Other(e.into()))?;
    Ok(vec![
        t(uuid::Uuid::now_v7()),
        t(event_type),
        t(b.id),
        Arg::Text(payload),
        ts(at),
    ])
}

/// `INSERT INTO table (columns) VALUES (…), (…)` for each chunk of rows.
async fn insert_rows(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    head: &str,
    rows: impl IntoIterator<Item = Vec<Arg>>,
) -> StoreResult<()> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = Sql::new(head);
        sql.push(" VALUES ");
        for (n, r) in rows.by_ref().take(INSERT_CHUNK).enumerate() {
            if n > 0 {
                sql.push(", ");
            }
            sql.tuple(r);
        }
        sql.query(backend)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

const OUTBOX_INSERT: &str =
    "INSERT INTO outbox (id, event_type, aggregate_id, payload, created_at)";

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_users(&self, users: &[UserRecord]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        insert_rows(
            &mut tx,
            self.backend,
            &format!("INSERT INTO users ({USER_COLUMNS})"),
            users.iter().map(user_args).collect::<Vec<_>>(),
        )
        .await?;
        tx.commit().await.map_err(db_err)
    }

    async fn user(&self, id: UserId) -> StoreResult<UserRecord> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = "));
        sql.text(id);
        user_from(
            &sql.query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
        )
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<UserRecord> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = "));
        sql.text(email.as_str());
        user_from(
            &sql.query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
        )
    }

    async fn count_users(&self) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        get_i64(&row, "n")
    }

    async fn update_user(&self, u: &UserRecord) -> StoreResult<()> {
        let mut sql = Sql::new("UPDATE users SET email = ");
        sql.text(u.email.as_str())
            .push(", password_hash = ")
            .text(&u.password_hash);
        sql.push(", display_name = ")
            .text(&u.display_name)
            .push(", role = ")
            .text(u.role.as_str());
        sql.push(", updated_at = ")
            .int(u.updated_at.millis())
            .push(" WHERE id = ")
            .text(u.id);
        one_affected(
            sql.query(self.backend)
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected(),
        )
    }

    async fn insert_refresh(&self, r: &RefreshRecord) -> StoreResult<()> {
        let mut sql = Sql::new("INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at, created_at, used_at, revoked_at) VALUES ");
        sql.tuple(vec![
            t(&r.token_hash),
            t(r.user_id),
            t(&r.family_id),
            ts(r.expires_at),
            ts(r.created_at),
            r.used_at.map(ts).unwrap_or(Arg::NullInt),
            r.revoked_at.map(ts).unwrap_or(Arg::NullInt),
        ]);
        sql.query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(drop)
    }

    async fn refresh(&self, token_hash: &str) -> StoreResult<RefreshRecord> {
        let mut sql = Sql::new("SELECT token_hash, user_id, family_id, expires_at, created_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ");
        sql.text(token_hash);
        refresh_from(
            &sql.query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
        )
    }

    async fn spend_refresh(&self, token_hash: &str, at: Timestamp) -> StoreResult<bool> {
        let mut sql = Sql::new("UPDATE refresh_tokens SET used_at = ");
        sql.int(at.millis())
            .push(" WHERE token_hash = ")
            .text(token_hash);
        sql.push(" AND used_at IS NULL AND revoked_at IS NULL");
        Ok(sql
            .query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected()
            == 1)
    }

    async fn revoke_refresh_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()> {
        let mut sql = Sql::new("UPDATE refresh_tokens SET revoked_at = ");
        sql.int(at.millis())
            .push(" WHERE family_id = ")
            .text(family_id)
            .push(" AND revoked_at IS NULL");
        sql.query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(drop)
    }
}

fn event_args(e: &EventRecord) -> Vec<Arg> {
    vec![
        t(e.id),
        t(e.organizer_id),
        t(&e.details.title),
        t(&e.details.description),
        t(&e.details.category),
        t(&e.details.city),
        ts(e.created_at),
        ts(e.updated_at),
    ]
}

fn show_args(s: &ShowRecord) -> Vec<Arg> {
    let d = &s.details;
    vec![
        t(s.id),
        t(s.event_id),
        t(&d.venue),
        ts(d.starts_at),
        ts(d.sale_opens_at),
        ts(d.sale_closes_at),
        i(d.hold_ttl_secs),
        i(d.per_user_limit),
        ts(s.created_at),
        ts(s.updated_at),
    ]
}

fn zone_args(z: &ZoneRecord) -> Vec<Arg> {
    let d = &z.details;
    vec![
        t(z.id),
        t(z.show_id),
        t(&d.name),
        i(d.price.amount_minor),
        t(d.price.currency),
        i(d.capacity),
        ts(z.created_at),
        ts(z.updated_at),
    ]
}

/// `UPDATE table SET c1 = $, c2 = $ … WHERE id = $` from a row's column list and
/// values (the first column is the id; `created_at` is never rewritten).
fn update_by_id(table: &str, columns: &str, mut values: Vec<Arg>) -> Sql {
    let cols: Vec<&str> = columns.split(", ").collect();
    let id = values.remove(0);
    let mut sql = Sql::new(&format!("UPDATE {table} SET "));
    let mut first = true;
    for (col, v) in cols.into_iter().skip(1).zip(values) {
        if col == "created_at" {
            continue;
        }
        if !first {
            sql.push(", ");
        }
        first = false;
        sql.push(col).push(" = ").arg(v);
    }
    sql.push(" WHERE id = ").arg(id);
    sql
}

impl SqlStore {
    async fn exec_one(&self, sql: Sql) -> StoreResult<()> {
        one_affected(
            sql.query(self.backend)
                .execute(&self.pool)
                .await
                .map_err(db_err)?
                .rows_affected(),
        )
    }

    async fn insert_one(&self, table: &str, columns: &str, values: Vec<Arg>) -> StoreResult<()> {
        let mut sql = Sql::new(&format!("INSERT INTO {table} ({columns}) VALUES "));
        sql.tuple(values);
        sql.query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(drop)
    }

    async fn delete_by_id(&self, table: &str, id: String) -> StoreResult<()> {
        let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE id = "));
        sql.text(id);
        self.exec_one(sql).await
    }

    async fn zones_of_shows(&self, shows: &[ShowId]) -> StoreResult<Vec<ZoneRecord>> {
        let mut out = Vec::new();
        for chunk in shows.chunks(INSERT_CHUNK) {
            let mut sql = Sql::new(&format!(
                "SELECT {ZONE_COLUMNS} FROM zones WHERE show_id IN "
            ));
            sql.tuple(chunk.iter().map(t).collect());
            sql.push(" ORDER BY created_at, id");
            out.extend(rows(
                &sql.query(self.backend)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?,
                zone_from,
            )?);
        }
        Ok(out)
    }

    /// `(zone, held, sold)` over live bookings matching `filter` (an `AND …`
    /// fragment), zones in id order.
    async fn zone_tallies(&self, filter: Sql) -> StoreResult<Vec<(ZoneId, u32, u32)>> {
        let mut sql = Sql::new(&format!(
            "SELECT zone_id, CAST(SUM(CASE WHEN status IN ({}) THEN quantity ELSE 0 END) AS BIGINT) AS held, \
             CAST(SUM(CASE WHEN status = 'confirmed' THEN quantity ELSE 0 END) AS BIGINT) AS sold \
             FROM bookings WHERE status IN ({})",
            status_list(&BookingStatus::pending()),
            status_list(&BookingStatus::live()),
        ));
        sql.append(filter)
            .push(" GROUP BY zone_id ORDER BY zone_id");
        let found = sql
            .query(self.backend)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found
            .iter()
            .map(|row| {
                Ok((
                    get_id(row, "zone_id")?,
                    get_u32(row, "held")?,
                    get_u32(row, "sold")?,
                ))
            })
            .collect()
    }

    async fn bundles(&self, where_clause: Sql) -> StoreResult<Vec<ShowBundle>> {
        let mut sql = Sql::new(
            "SELECT s.id, s.event_id, s.venue, s.starts_at, s.sale_opens_at, s.sale_closes_at, s.hold_ttl_secs, \
             s.per_user_limit, s.created_at, s.updated_at, e.organizer_id FROM shows s JOIN events e ON e.id = s.event_id",
        );
        sql.append(where_clause);
        let found = sql
            .query(self.backend)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut bundles = Vec::with_capacity(found.len());
        for row in &found {
            bundles.push(ShowBundle {
                show: show_from(row)?,
                organizer_id: get_id(row, "organizer_id")?,
                zones: Vec::new(),
            });
        }
        let ids: Vec<ShowId> = bundles.iter().map(|b| b.show.id).collect();
        let mut by_show: std::collections::HashMap<ShowId, Vec<ZoneRecord>> =
            std::collections::HashMap::new();
        for z in self.zones_of_shows(&ids).await? {
            by_show.entry(z.show_id).or_default().push(z);
        }
        for b in &mut bundles {
            b.zones = by_show.remove(&b.show.id).unwrap_or_default();
        }
        Ok(bundles)
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn event_where(f: &EventFilter) -> Sql {
    let mut sql = Sql::new(" WHERE 1 = 1");
    if let Some(text) = &f.text {
        let p = like_pattern(text);
        sql.push(" AND (LOWER(e.title) LIKE ")
            .text(p.clone())
            .push(" ESCAPE '\\' OR LOWER(e.description) LIKE ");
        sql.text(p).push(" ESCAPE '\\')");
    }
    if let Some(c) = &f.category {
        sql.push(" AND e.category = ").text(c);
    }
    if let Some(c) = &f.city {
        sql.push(" AND LOWER(e.city) = ").text(c.to_lowercase());
    }
    if let Some(o) = f.organizer {
        sql.push(" AND e.organizer_id = ").text(o);
    }
    if f.from.is_some() || f.to.is_some() {
        sql.push(" AND EXISTS (SELECT 1 FROM shows s WHERE s.event_id = e.id");
        if let Some(from) = f.from {
            sql.push(" AND s.starts_at >= ").int(from.millis());
        }
        if let Some(to) = f.to {
            sql.push(" AND s.starts_at < ").int(to.millis());
        }
        sql.push(")");
    }
    sql
}

#[async_trait]
impl CatalogStore for SqlStore {
    async fn insert_event(&self, e: &EventRecord) -> StoreResult<()> {
        self.insert_one("events", EVENT_COLUMNS, event_args(e))
            .await
    }

    async fn update_event(&self, e: &EventRecord) -> StoreResult<()> {
        self.exec_one(update_by_id("events", EVENT_COLUMNS, event_args(e)))
            .await
    }

    async fn delete_event(&self, id: EventId) -> StoreResult<()> {
        self.delete_by_id("events", id.to_string()).await
    }

    async fn event(&self, id: EventId) -> StoreResult<EventRecord> {
        let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = "));
        sql.text(id);
        event_from(
            &sql.query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
        )
    }

    async fn list_events(
        &self,
        filter: &EventFilter,
        page: Page,
    ) -> StoreResult<(Vec<EventRecord>, i64)> {
        let cols = EVENT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM events e");
        count.append(event_where(filter));
        let total = get_i64(
            &count
                .query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
            "n",
        )?;
        let mut sql = Sql::new(&format!("SELECT {cols} FROM events e"));
        sql.append(event_where(filter));
        sql.push(" ORDER BY e.created_at DESC, e.id DESC LIMIT ")
            .int(i64::from(page.per_page));
        sql.push(" OFFSET ").int(page.offset());
        let found = rows(
            &sql.query(self.backend)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?,
            event_from,
        )?;
        Ok((found, total))
    }

    async fn insert_show(&self, s: &ShowRecord) -> StoreResult<()> {
        self.insert_one("shows", SHOW_COLUMNS, show_args(s)).await
    }

    async fn update_show(&self, s: &ShowRecord) -> StoreResult<()> {
        self.exec_one(update_by_id("shows", SHOW_COLUMNS, show_args(s)))
            .await
    }

    async fn delete_show(&self, id: ShowId) -> StoreResult<()> {
        self.delete_by_id("shows", id.to_string()).await
    }

    async fn shows_of_event(&self, event: EventId) -> StoreResult<Vec<ShowRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {SHOW_COLUMNS} FROM shows WHERE event_id = "
        ));
        sql.text(event).push(" ORDER BY starts_at, id");
        rows(
            &sql.query(self.backend)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?,
            show_from,
        )
    }

    async fn insert_zone(&self, z: &ZoneRecord) -> StoreResult<()> {
        self.insert_one("zones", ZONE_COLUMNS, zone_args(z)).await
    }

    async fn update_zone(&self, z: &ZoneRecord) -> StoreResult<()> {
        self.exec_one(update_by_id("zones", ZONE_COLUMNS, zone_args(z)))
            .await
    }

    async fn delete_zone(&self, id: ZoneId) -> StoreResult<()> {
        self.delete_by_id("zones", id.to_string()).await
    }

    async fn show_bundle(&self, id: ShowId) -> StoreResult<ShowBundle> {
        let mut w = Sql::new(" WHERE s.id = ");
        w.text(id);
        self.bundles(w).await?.pop().ok_or(StoreError::NotFound)
    }

    async fn all_show_bundles(&self) -> StoreResult<Vec<ShowBundle>> {
        self.bundles(Sql::new(" ORDER BY s.starts_at, s.id")).await
    }

    async fn show_has_bookings(&self, id: ShowId) -> StoreResult<bool> {
        let mut sql =
            Sql::new("SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM bookings WHERE show_id = ");
        sql.text(id).push(" LIMIT 1) b");
        Ok(get_i64(
            &sql.query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
            "n",
        )? > 0)
    }
}

fn status_list(statuses: &[BookingStatus]) -> String {
    // Closed set of our own constants: safe to inline.
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl BookingStore for SqlStore {
    async fn apply(&self, writes: &[BookingWrite]) -> StoreResult<Vec<WriteOutcome>> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let holds: Vec<&BookingRecord> = writes
            .iter()
            .filter_map(|w| match w {
                BookingWrite::Hold(b) => Some(b),
                BookingWrite::Transition { .. } => None,
            })
            .collect();
        if !holds.is_empty() {
            insert_rows(
                &mut tx,
                self.backend,
                &format!("INSERT INTO bookings ({BOOKING_COLUMNS})"),
                holds.iter().map(|b| booking_args(b)).collect::<Vec<_>>(),
            )
            .await?;
            let events = holds
                .iter()
                .map(|b| outbox_args(boxoffice_domain::booking::EVENT_RESERVED, b, b.created_at))
                .collect::<StoreResult<Vec<_>>>()?;
            insert_rows(&mut tx, self.backend, OUTBOX_INSERT, events).await?;
        }
        // Transitions sharing action, deadline rule and instant are applied by one
        // set-based UPDATE, and their events by one multi-row insert.
        let mut groups: Vec<((BookingAction, Deadline, Timestamp), Vec<BookingId>)> = Vec::new();
        for w in writes {
            if let BookingWrite::Transition {
                id,
                action,
                at,
                deadline,
            } = w
            {
                let key = (*action, *deadline, *at);
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, ids)) => ids.push(*id),
                    None => groups.push((key, vec![*id])),
                }
            }
        }
        let mut applied: HashMap<(BookingId, BookingAction), BookingRecord> = HashMap::new();
        for ((action, deadline, at), ids) in &groups {
            let Some(target) = action.target() else {
                continue;
            };
            let mut events = Vec::new();
            for chunk in ids.chunks(INSERT_CHUNK) {
                let mut sql = Sql::new("UPDATE bookings SET status = ");
                sql.text(target.as_str())
                    .push(", updated_at = ")
                    .int(at.millis());
                sql.push(" WHERE id IN ")
                    .tuple(chunk.iter().map(t).collect());
                sql.push(&format!(
                    " AND status IN ({})",
                    status_list(&action.sources())
                ));
                match deadline {
                    Deadline::NotPassed => sql.push(" AND expires_at > ").int(at.millis()),
                    Deadline::Passed => sql.push(" AND expires_at <= ").int(at.millis()),
                    Deadline::Any => &mut sql,
                };
                sql.push(&format!(" RETURNING {BOOKING_COLUMNS}"));
                for row in sql
                    .query(self.backend)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?
                {
                    let booking = booking_from(&row)?;
                    events.push(outbox_args(action.event_type(), &booking, *at)?);
                    applied.insert((booking.id, *action), booking);
                }
            }
            insert_rows(&mut tx, self.backend, OUTBOX_INSERT, events).await?;
        }
        // Each applied change is reported once, to the first write that asked for it.
        let outcomes = writes
            .iter()
            .map(|w| match w {
                BookingWrite::Hold(_) => WriteOutcome::Held,
                BookingWrite::Transition { id, action, .. } => {
                    match applied.remove(&(*id, *action)) {
                        Some(booking) => WriteOutcome::Applied(booking),
                        None => WriteOutcome::Skipped,
                    }
                }
            })
            .collect();
        tx.commit().await.map_err(db_err)?;
        Ok(outcomes)
    }

    async fn booking(&self, id: BookingId) -> StoreResult<BookingRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE id = "
        ));
        sql.text(id);
        booking_from(
            &sql.query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
        )
    }

    async fn list_bookings(
        &self,
        q: &BookingQuery,
        page: Page,
    ) -> StoreResult<(Vec<BookingRecord>, i64)> {
        let filter = || {
            let mut w = Sql::new(" WHERE 1 = 1");
            if let Some(u) = q.user {
                w.push(" AND user_id = ").text(u);
            }
            if !q.statuses.is_empty() {
                w.push(&format!(" AND status IN ({})", status_list(&q.statuses)));
            }
            w
        };
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM bookings");
        count.append(filter());
        let total = get_i64(
            &count
                .query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
            "n",
        )?;
        let mut sql = Sql::new(&format!("SELECT {BOOKING_COLUMNS} FROM bookings"));
        sql.append(filter())
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        let found = rows(
            &sql.query(self.backend)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?,
            booking_from,
        )?;
        Ok((found, total))
    }

    async fn live_bookings(&self) -> StoreResult<Vec<BookingRecord>> {
        let sql = format!(
            "SELECT {BOOKING_COLUMNS} FROM bookings WHERE status IN ({})",
            status_list(&BookingStatus::live())
        );
        rows(
            &sqlx::query(&sql)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?,
            booking_from,
        )
    }

    async fn inventory_snapshot(&self) -> StoreResult<InventorySnapshot> {
        let pending = status_list(&BookingStatus::pending());
        let live = status_list(&BookingStatus::live());
        let mut snapshot = InventorySnapshot {
            zones: self.zone_tallies(Sql::new("")).await?,
            ..InventorySnapshot::default()
        };
        let buyers = format!(
            "SELECT show_id, user_id, CAST(SUM(quantity) AS BIGINT) AS n FROM bookings \
             WHERE status IN ({live}) GROUP BY show_id, user_id"
        );
        for row in sqlx::query(&buyers)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
        {
            snapshot.buyers.push((
                get_id(&row, "show_id")?,
                get_id(&row, "user_id")?,
                get_u32(&row, "n")?,
            ));
        }
        let held = format!("SELECT {BOOKING_COLUMNS} FROM bookings WHERE status IN ({pending})");
        snapshot.pending = rows(
            &sqlx::query(&held)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?,
            booking_from,
        )?;
        Ok(snapshot)
    }

    async fn show_tallies(&self, show: ShowId) -> StoreResult<ShowTallies> {
        let mut only_show = Sql::new(" AND show_id = ");
        only_show.text(show);
        let mut tallies = ShowTallies {
            zones: self.zone_tallies(only_show).await?,
            ..ShowTallies::default()
        };
        let mut max = Sql::new(&format!(
            "SELECT CAST(COALESCE(MAX(n), 0) AS BIGINT) AS m FROM (SELECT SUM(quantity) AS n FROM bookings WHERE status IN ({}) AND show_id = ",
            status_list(&BookingStatus::live())
        ));
        max.text(show).push(" GROUP BY user_id) per_buyer");
        tallies.max_per_buyer = get_u32(
            &max.query(self.backend)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?,
            "m",
        )?;
        Ok(tallies)
    }

    async fn outbox_after(&self, seq: i64, limit: u32) -> StoreResult<Vec<OutboxEvent>> {
        let mut sql = Sql::new("SELECT seq, id, event_type, aggregate_id, payload, created_at FROM outbox WHERE seq > ");
        sql.int(seq)
            .push(" ORDER BY seq LIMIT ")
            .int(i64::from(limit));
        let found = sql
            .query(self.backend)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found
            .iter()
            .map(|row| {
                Ok(OutboxEvent {
                    seq: get_i64(row, "seq")?,
                    id: get_str(row, "id")?,
                    event_type: get_str(row, "event_type")?,
                    aggregate_id: get_str(row, "aggregate_id")?,
                    payload: serde_json::from_str(&get_str(row, "payload")?).map_err(bad_row)?,
                    created_at: get_ts(row, "created_at")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl IdempotencyStore for SqlStore {
    async fn claim_key(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<IdempotencyClaim> {
        // A stale key (past its retention) is forgotten before claiming afresh.
        let mut stale = Sql::new("DELETE FROM idempotency_keys WHERE scope = ");
        stale
            .text(scope)
            .push(" AND key = ")
            .text(key)
            .push(" AND expires_at <= ")
            .int(now.millis());
        stale
            .query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        let mut claim = Sql::new("INSERT INTO idempotency_keys (scope, key, fingerprint, status, content_type, body, created_at, expires_at) VALUES ");
        claim.tuple(vec![
            t(scope),
            t(key),
            t(fingerprint),
            Arg::NullInt,
            Arg::NullInt,
            Arg::NullInt,
            ts(now),
            ts(expires_at),
        ]);
        claim.push(" ON CONFLICT (scope, key) DO NOTHING");
        if claim
            .query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected()
            == 1
        {
            return Ok(IdempotencyClaim::Claimed);
        }
        let mut sql = Sql::new(
            "SELECT fingerprint, status, content_type, body FROM idempotency_keys WHERE scope = ",
        );
        sql.text(scope).push(" AND key = ").text(key);
        let row = sql
            .query(self.backend)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        let fingerprint = get_str(&row, "fingerprint")?;
        match row.try_get::<Option<i64>, _>("status").map_err(bad_row)? {
            None => Ok(IdempotencyClaim::InFlight { fingerprint }),
            Some(status) => Ok(IdempotencyClaim::Done {
                fingerprint,
                status: u16::try_from(status).map_err(bad_row)?,
                content_type: row
                    .try_get::<Option<String>, _>("content_type")
                    .map_err(bad_row)?
                    .unwrap_or_default(),
                body: row
                    .try_get::<Option<String>, _>("body")
                    .map_err(bad_row)?
                    .unwrap_or_default(),
            }),
        }
    }

    async fn complete_key(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        content_type: &str,
        body: &str,
    ) -> StoreResult<()> {
        let mut sql = Sql::new("UPDATE idempotency_keys SET status = ");
        sql.int(i64::from(status))
            .push(", content_type = ")
            .text(content_type)
            .push(", body = ")
            .text(body);
        sql.push(" WHERE scope = ")
            .text(scope)
            .push(" AND key = ")
            .text(key);
        self.exec_one(sql).await
    }

    async fn abandon_key(&self, scope: &str, key: &str) -> StoreResult<()> {
        let mut sql = Sql::new("DELETE FROM idempotency_keys WHERE scope = ");
        sql.text(scope)
            .push(" AND key = ")
            .text(key)
            .push(" AND status IS NULL");
        sql.query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(drop)
    }

    async fn purge_keys(&self, now: Timestamp) -> StoreResult<u64> {
        let mut sql = Sql::new("DELETE FROM idempotency_keys WHERE expires_at <= ");
        sql.int(now.millis());
        Ok(sql
            .query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected())
    }
}

#[async_trait]
impl SettingsStore for SqlStore {
    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let mut sql = Sql::new("SELECT value FROM settings WHERE key = ");
        sql.text(key);
        match sql
            .query(self.backend)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
        {
            Some(row) => Ok(Some(get_str(&row, "value")?)),
            None => Ok(None),
        }
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String> {
        let mut sql = Sql::new("INSERT INTO settings (key, value) VALUES ");
        sql.tuple(vec![t(key), t(value)])
            .push(" ON CONFLICT (key) DO NOTHING");
        sql.query(self.backend)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        self.setting(key).await?.ok_or(StoreError::NotFound)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)
            .map(drop)
    }
}
