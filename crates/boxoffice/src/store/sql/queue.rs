//! The waiting room's settings and log in SQL. The log is insert-only, so a group
//! commit is a few multi-row inserts in one transaction.
use super::statement::{
    get_i64, get_id, get_opt_str, get_opt_ts, get_parsed, get_str, get_ts, i, insert_statements,
    opt_text, opt_ts, t, ts, Sql,
};
use super::SqlStore;
use crate::store::queue::{QueueLogKind, QueueLogRecord, QueueSettingsRecord, QueueStore};
use crate::store::StoreResult;
use async_trait::async_trait;
use boxoffice_domain::queue::{QueueMethod, QueueState};
use boxoffice_domain::ShowId;
use sqlx::any::AnyRow;

const SETTINGS_COLUMNS: &str = "show_id, method, rate_per_sec, pass_ttl_secs, max_size, opens_at, pre_queue_secs, lottery_winners, verified_only, state, seed, drawn_at, created_at, updated_at";
const LOG_COLUMNS: &str = "show_id, seq, kind, user_id, ref_id, at, until_at";

fn settings_from(row: &AnyRow) -> StoreResult<QueueSettingsRecord> {
    let seed = hex::decode(get_str(row, "seed")?)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| super::statement::bad_row("queue seed"))?;
    Ok(QueueSettingsRecord {
        show_id: get_id(row, "show_id")?,
        method: get_parsed(row, "method", |s| {
            QueueMethod::parse(s).ok_or("unknown method")
        })?,
        rate_per_sec: u32::try_from(get_i64(row, "rate_per_sec")?).unwrap_or(u32::MAX),
        pass_ttl_secs: u32::try_from(get_i64(row, "pass_ttl_secs")?).unwrap_or(u32::MAX),
        max_size: u64::try_from(get_i64(row, "max_size")?).unwrap_or(0),
        opens_at: get_ts(row, "opens_at")?,
        pre_queue_secs: u32::try_from(get_i64(row, "pre_queue_secs")?).unwrap_or(0),
        lottery_winners: u64::try_from(get_i64(row, "lottery_winners")?).unwrap_or(0),
        verified_only: get_i64(row, "verified_only")? != 0,
        state: get_parsed(row, "state", |s| {
            QueueState::parse(s).ok_or("unknown state")
        })?,
        seed,
        drawn_at: get_opt_ts(row, "drawn_at")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn log_from(row: &AnyRow) -> StoreResult<QueueLogRecord> {
    let parse_uuid = |col: &str| -> StoreResult<Option<uuid::Uuid>> {
        get_opt_str(row, col)?
            .map(|s| s.parse().map_err(super::statement::bad_row))
            .transpose()
    };
    Ok(QueueLogRecord {
        show_id: get_id(row, "show_id")?,
        seq: u64::try_from(get_i64(row, "seq")?).map_err(super::statement::bad_row)?,
        kind: get_parsed(row, "kind", |s| {
            QueueLogKind::parse(s).ok_or("unknown kind")
        })?,
        user_id: parse_uuid("user_id")?.map(boxoffice_domain::UserId::from_uuid),
        ref_id: parse_uuid("ref_id")?,
        at: get_ts(row, "at")?,
        until: get_opt_ts(row, "until_at")?,
    })
}

#[async_trait]
impl QueueStore for SqlStore {
    async fn put_queue_settings(&self, s: &QueueSettingsRecord) -> StoreResult<()> {
        let mut sql = Sql::insert("queue_settings", SETTINGS_COLUMNS);
        sql.tuple(vec![
            t(s.show_id),
            t(s.method.as_str()),
            i(s.rate_per_sec),
            i(s.pass_ttl_secs),
            i(i64::try_from(s.max_size).unwrap_or(i64::MAX)),
            ts(s.opens_at),
            i(s.pre_queue_secs),
            i(i64::try_from(s.lottery_winners).unwrap_or(i64::MAX)),
            i(i64::from(s.verified_only)),
            t(s.state.as_str()),
            t(hex::encode(s.seed)),
            opt_ts(s.drawn_at),
            ts(s.created_at),
            ts(s.updated_at),
        ]);
        sql.push(
            " ON CONFLICT (show_id) DO UPDATE SET method = excluded.method, \
             rate_per_sec = excluded.rate_per_sec, pass_ttl_secs = excluded.pass_ttl_secs, \
             max_size = excluded.max_size, opens_at = excluded.opens_at, \
             pre_queue_secs = excluded.pre_queue_secs, lottery_winners = excluded.lottery_winners, \
             verified_only = excluded.verified_only, state = excluded.state, \
             drawn_at = excluded.drawn_at, updated_at = excluded.updated_at",
        );
        self.execute(&sql).await.map(drop)
    }

    async fn all_queue_settings(&self) -> StoreResult<Vec<QueueSettingsRecord>> {
        let sql = Sql::new(&format!("SELECT {SETTINGS_COLUMNS} FROM queue_settings"));
        self.all(&sql, settings_from).await
    }

    async fn append_queue_log(&self, entries: &[QueueLogRecord]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let rows = entries
            .iter()
            .map(|e| {
                vec![
                    t(e.show_id),
                    i(i64::try_from(e.seq).unwrap_or(i64::MAX)),
                    t(e.kind.as_str()),
                    opt_text(e.user_id),
                    opt_text(e.ref_id),
                    ts(e.at),
                    opt_ts(e.until),
                ]
            })
            .collect();
        let batch = self.batch().await?;
        batch
            .finish(insert_statements("queue_log", LOG_COLUMNS, rows))
            .await
            .map(drop)
    }

    async fn queue_log(&self, show: ShowId) -> StoreResult<Vec<QueueLogRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {LOG_COLUMNS} FROM queue_log WHERE show_id = "
        ));
        sql.text(show).push(" ORDER BY seq");
        self.all(&sql, log_from).await
    }
}
