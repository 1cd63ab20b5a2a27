//! The outbox's upkeep in SQL: parked retries and dead letters (each with a copy of
//! its event) and the bounded deletes of retention.
use super::statement::{
    bad_row, get_i64, get_opt_str, get_opt_ts, get_parsed, get_str, get_ts, get_u32, i,
    insert_statements, opt_text, t, ts, Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    DeadLetterFilter, DeadLetterRecord, DeadLetterStatus, OutboxEvent, OutboxUpkeepStore, Page,
    RetryRecord, StoreResult,
};
use async_trait::async_trait;
use boxoffice_domain::Timestamp;
use sqlx::any::AnyRow;

const RETRY_COLUMNS: &str = "consumer, event_seq, event_id, event_type, aggregate_id, payload, event_created_at, trace_context, attempts, first_failed_at, last_failed_at, next_attempt_at, last_error";
const LETTER_COLUMNS: &str = "id, consumer, event_seq, event_id, event_type, aggregate_id, payload, event_created_at, trace_context, last_error, attempts, first_failed_at, last_failed_at, status, resolved_at";

fn event_args(e: &OutboxEvent) -> StoreResult<Vec<Arg>> {
    Ok(vec![
        Arg::Int(e.seq),
        t(&e.id),
        t(&e.event_type),
        t(&e.aggregate_id),
        Arg::Text(serde_json::to_string(&e.payload).map_err(bad_row)?),
        ts(e.created_at),
        opt_text(e.trace_context.as_deref()),
    ])
}

fn event_from(row: &AnyRow) -> StoreResult<OutboxEvent> {
    Ok(OutboxEvent {
        seq: get_i64(row, "event_seq")?,
        id: get_str(row, "event_id")?,
        event_type: get_str(row, "event_type")?,
        aggregate_id: get_str(row, "aggregate_id")?,
        payload: get_parsed(row, "payload", |s| serde_json::from_str(s))?,
        created_at: get_ts(row, "event_created_at")?,
        trace_context: get_opt_str(row, "trace_context")?,
    })
}

fn retry_from(row: &AnyRow) -> StoreResult<RetryRecord> {
    Ok(RetryRecord {
        consumer: get_str(row, "consumer")?,
        event: event_from(row)?,
        attempts: get_u32(row, "attempts")?,
        first_failed_at: get_ts(row, "first_failed_at")?,
        last_failed_at: get_ts(row, "last_failed_at")?,
        next_attempt_at: get_ts(row, "next_attempt_at")?,
        last_error: get_str(row, "last_error")?,
    })
}

fn letter_from(row: &AnyRow) -> StoreResult<DeadLetterRecord> {
    Ok(DeadLetterRecord {
        id: get_str(row, "id")?,
        consumer: get_str(row, "consumer")?,
        event: event_from(row)?,
        last_error: get_str(row, "last_error")?,
        attempts: get_u32(row, "attempts")?,
        first_failed_at: get_ts(row, "first_failed_at")?,
        last_failed_at: get_ts(row, "last_failed_at")?,
        status: get_parsed(row, "status", |s| {
            DeadLetterStatus::parse(s).ok_or_else(|| format!("status {s}"))
        })?,
        resolved_at: get_opt_ts(row, "resolved_at")?,
    })
}

fn letter_filter(sql: &mut Sql, filter: &DeadLetterFilter) {
    if let Some(c) = &filter.consumer {
        sql.push(" AND consumer = ").text(c);
    }
    if let Some(s) = filter.status {
        sql.push(" AND status = ").text(s.as_str());
    }
}

#[async_trait]
impl OutboxUpkeepStore for SqlStore {
    async fn retry_of(&self, consumer: &str, event_id: &str) -> StoreResult<Option<RetryRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {RETRY_COLUMNS} FROM outbox_retries WHERE consumer = "
        ));
        sql.text(consumer).push(" AND event_id = ").text(event_id);
        self.fetch_optional(&sql)
            .await?
            .as_ref()
            .map(retry_from)
            .transpose()
    }

    async fn put_retry(&self, r: &RetryRecord) -> StoreResult<()> {
        let mut values = vec![t(&r.consumer)];
        values.extend(event_args(&r.event)?);
        values.extend([
            i(r.attempts),
            ts(r.first_failed_at),
            ts(r.last_failed_at),
            ts(r.next_attempt_at),
            t(&r.last_error),
        ]);
        let mut sql = Sql::insert("outbox_retries", RETRY_COLUMNS);
        sql.tuple(values).push(
            " ON CONFLICT (consumer, event_id) DO UPDATE SET attempts = excluded.attempts, \
             last_failed_at = excluded.last_failed_at, next_attempt_at = excluded.next_attempt_at, \
             last_error = excluded.last_error",
        );
        self.execute(&sql).await.map(drop)
    }

    async fn due_retries(
        &self,
        consumer: &str,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<RetryRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {RETRY_COLUMNS} FROM outbox_retries WHERE consumer = "
        ));
        sql.text(consumer)
            .push(" AND next_attempt_at <= ")
            .int(now.millis())
            .push(" ORDER BY event_seq LIMIT ")
            .int(i64::from(limit));
        self.all(&sql, retry_from).await
    }

    async fn delete_retry(&self, consumer: &str, event_id: &str) -> StoreResult<()> {
        let mut sql = Sql::delete("outbox_retries");
        sql.push("consumer = ")
            .text(consumer)
            .push(" AND event_id = ")
            .text(event_id);
        self.execute(&sql).await.map(drop)
    }

    async fn bury(&self, l: &DeadLetterRecord) -> StoreResult<()> {
        let mut values = vec![t(&l.id), t(&l.consumer)];
        values.extend(event_args(&l.event)?);
        values.extend([
            t(&l.last_error),
            i(l.attempts),
            ts(l.first_failed_at),
            ts(l.last_failed_at),
            t(l.status.as_str()),
            l.resolved_at.map(ts).unwrap_or(Arg::NullInt),
        ]);
        let mut insert = insert_statements("dead_letters", LETTER_COLUMNS, vec![values]);
        let mut letter = insert.remove(0);
        letter.push(
            " ON CONFLICT (consumer, event_id) DO UPDATE SET last_error = excluded.last_error, \
             attempts = excluded.attempts, last_failed_at = excluded.last_failed_at, \
             status = excluded.status, resolved_at = excluded.resolved_at",
        );
        let mut retry = Sql::delete("outbox_retries");
        retry
            .push("consumer = ")
            .text(&l.consumer)
            .push(" AND event_id = ")
            .text(&l.event.id);
        let mut batch = self.batch().await?;
        batch.run(vec![letter]).await?;
        batch.finish(vec![retry]).await.map(drop)
    }

    async fn dead_letter(&self, id: &str) -> StoreResult<DeadLetterRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {LETTER_COLUMNS} FROM dead_letters WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, letter_from).await
    }

    async fn dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: Page,
    ) -> StoreResult<(Vec<DeadLetterRecord>, i64)> {
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM dead_letters WHERE 1 = 1");
        letter_filter(&mut count, filter);
        let mut sql = Sql::new(&format!(
            "SELECT {LETTER_COLUMNS} FROM dead_letters WHERE 1 = 1"
        ));
        letter_filter(&mut sql, filter);
        sql.push(" ORDER BY last_failed_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        Ok((
            self.all(&sql, letter_from).await?,
            self.count(&count).await?,
        ))
    }

    async fn update_open_letter(&self, l: &DeadLetterRecord) -> StoreResult<bool> {
        let mut sql = Sql::update("dead_letters");
        sql.push("status = ")
            .text(l.status.as_str())
            .push(", last_error = ")
            .text(&l.last_error)
            .push(", attempts = ")
            .arg(i(l.attempts))
            .push(", last_failed_at = ")
            .int(l.last_failed_at.millis())
            .push(", resolved_at = ")
            .arg(l.resolved_at.map(ts).unwrap_or(Arg::NullInt))
            .push(" WHERE id = ")
            .text(&l.id)
            .push(" AND status = ")
            .text(DeadLetterStatus::Open.as_str());
        Ok(self.execute(&sql).await? > 0)
    }

    async fn prune_outbox(
        &self,
        up_to_seq: i64,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<u64> {
        let mut sql = Sql::delete("outbox");
        sql.push("seq IN (SELECT seq FROM outbox WHERE seq <= ")
            .int(up_to_seq)
            .push(" AND created_at < ")
            .int(before.millis())
            .push(" ORDER BY seq LIMIT ")
            .int(i64::from(limit))
            .push(")");
        self.execute(&sql).await
    }

    async fn prune_dead_letters(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let mut sql = Sql::delete("dead_letters");
        sql.push("id IN (SELECT id FROM dead_letters WHERE status IN (")
            .text(DeadLetterStatus::Replayed.as_str())
            .push(", ")
            .text(DeadLetterStatus::Discarded.as_str())
            .push(") AND resolved_at < ")
            .int(before.millis())
            .push(" ORDER BY resolved_at LIMIT ")
            .int(i64::from(limit))
            .push(")");
        self.execute(&sql).await
    }
}
