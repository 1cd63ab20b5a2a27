//! The audit log and outbox consumer offsets in SQL: appends that ignore replayed ids,
//! filtered newest-first reads by position, and one offset row per consumer.
use super::statement::{
    bad_row, get_i64, get_opt_str, get_parsed, get_str, get_ts, insert_statements, opt_text, t, ts,
    Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    AuditFilter, AuditRecord, AuditStore, ConsumerOffsetStore, OutboxBacklog, StoreResult,
};
use async_trait::async_trait;
use boxoffice_domain::audit::{ActionFilter, ActorType};
use sqlx::any::AnyRow;

const AUDIT_COLUMNS: &str = "id, at, actor_type, actor_id, organization_id, action, target_type, target_id, ip, user_agent, request_id, detail";

fn audit_args(r: &AuditRecord) -> StoreResult<Vec<Arg>> {
    let detail = serde_json::to_string(&r.detail).map_err(bad_row)?;
    Ok(vec![
        t(&r.id),
        ts(r.at),
        t(r.actor_type.as_str()),
        opt_text(r.actor_id.as_ref()),
        opt_text(r.organization_id),
        t(&r.action),
        opt_text(r.target_type.as_ref()),
        opt_text(r.target_id.as_ref()),
        opt_text(r.ip.as_ref()),
        opt_text(r.user_agent.as_ref()),
        opt_text(r.request_id.as_ref()),
        Arg::Text(detail),
    ])
}

fn audit_from(row: &AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        seq: get_i64(row, "seq")?,
        id: get_str(row, "id")?,
        at: get_ts(row, "at")?,
        actor_type: get_parsed(row, "actor_type", ActorType::parse)?,
        actor_id: get_opt_str(row, "actor_id")?,
        organization_id: get_opt_str(row, "organization_id")?
            .map(|o| o.parse())
            .transpose()
            .map_err(bad_row)?,
        action: get_str(row, "action")?,
        target_type: get_opt_str(row, "target_type")?,
        target_id: get_opt_str(row, "target_id")?,
        ip: get_opt_str(row, "ip")?,
        user_agent: get_opt_str(row, "user_agent")?,
        request_id: get_opt_str(row, "request_id")?,
        detail: get_parsed(row, "detail", |s| serde_json::from_str(s))?,
    })
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, records: &[AuditRecord]) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let rows = records
            .iter()
            .map(audit_args)
            .collect::<StoreResult<Vec<_>>>()?;
        let statements = insert_statements("audit_log", AUDIT_COLUMNS, rows)
            .into_iter()
            .map(|mut s| {
                s.push(" ON CONFLICT (id) DO NOTHING");
                s
            })
            .collect();
        self.batch().await?.finish(statements).await.map(drop)
    }

    async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT seq, {AUDIT_COLUMNS} FROM audit_log WHERE 1 = 1"
        ));
        if let Some(actor) = &filter.actor_id {
            sql.push(" AND actor_id = ").text(actor);
        }
        if let Some(org) = filter.organization_id {
            sql.push(" AND organization_id = ").text(org);
        }
        match &filter.action {
            Some(ActionFilter::Exact(a)) => {
                sql.push(" AND action = ").text(a);
            }
            // `substr` compares bytes on both backends; LIKE would treat `_` as a
            // wildcard and follow SQLite's case folding.
            Some(ActionFilter::Prefix(p)) => {
                sql.push(" AND substr(action, 1, CAST(")
                    .int(p.len() as i64)
                    .push(" AS INTEGER)) = ")
                    .text(p);
            }
            None => {}
        }
        if let Some(target) = &filter.target_id {
            sql.push(" AND target_id = ").text(target);
        }
        if let Some(from) = filter.from {
            sql.push(" AND at >= ").int(from.millis());
        }
        if let Some(to) = filter.to {
            sql.push(" AND at < ").int(to.millis());
        }
        if let Some(before) = filter.before_seq {
            sql.push(" AND seq < ").int(before);
        }
        sql.push(" ORDER BY seq DESC LIMIT ").int(i64::from(limit));
        self.all(&sql, audit_from).await
    }
}

#[async_trait]
impl ConsumerOffsetStore for SqlStore {
    async fn consumer_offset(&self, consumer: &str) -> StoreResult<i64> {
        let mut sql = Sql::new("SELECT seq FROM consumer_offsets WHERE name = ");
        sql.text(consumer);
        match self.fetch_optional(&sql).await? {
            Some(row) => get_i64(&row, "seq"),
            None => Ok(0),
        }
    }

    async fn save_consumer_offset(&self, consumer: &str, seq: i64) -> StoreResult<()> {
        let mut sql = Sql::insert("consumer_offsets", "name, seq");
        sql.tuple(vec![t(consumer), Arg::Int(seq)]).push(
            " ON CONFLICT (name) DO UPDATE SET seq = excluded.seq \
             WHERE consumer_offsets.seq < excluded.seq",
        );
        // A batch, so that on SQLite it takes its turn behind the group commit
        // rather than losing every race for the lock in the busy handler.
        self.batch().await?.finish(vec![sql]).await.map(drop)
    }

    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog> {
        let head = self
            .fetch_one(&Sql::new(
                "SELECT COALESCE(MAX(seq), 0) AS head FROM outbox",
            ))
            .await?;
        let pairs = |rows: Vec<AnyRow>, column: &str| {
            rows.iter()
                .map(|r| Ok((get_str(r, "name")?, get_i64(r, column)?)))
                .collect::<StoreResult<Vec<_>>>()
        };
        let offsets = self
            .fetch_all(&Sql::new("SELECT name, seq FROM consumer_offsets"))
            .await?;
        let letters = self
            .fetch_all(&Sql::new(
                "SELECT consumer AS name, COUNT(*) AS open FROM dead_letters \
                 WHERE status = 'open' GROUP BY consumer",
            ))
            .await?;
        Ok(OutboxBacklog {
            head: get_i64(&head, "head")?,
            offsets: pairs(offsets, "seq")?,
            open_dead_letters: pairs(letters, "open")?,
        })
    }
}
