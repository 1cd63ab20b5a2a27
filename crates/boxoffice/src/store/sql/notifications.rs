//! In-app notifications in SQL: inserts that keep the first notification of an event
//! and user, the buyer's inbox newest first, and the count the email limit reads.
use super::statement::{
    bad_row, get_id, get_opt_ts, get_parsed, get_str, get_ts, insert_statements, opt_ts, t, ts,
    Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    EmailStatus, NotificationRecord, NotificationStore, Page, StoreError, StoreResult,
};
use async_trait::async_trait;
use boxoffice_domain::{Timestamp, UserId};
use sqlx::any::AnyRow;
use std::collections::HashSet;

const COLUMNS: &str = "id, user_id, event_id, kind, title, body, detail, email_status, emailed_at, created_at, read_at";

fn notification_from(row: &AnyRow) -> StoreResult<NotificationRecord> {
    Ok(NotificationRecord {
        id: get_str(row, "id")?,
        user_id: get_id(row, "user_id")?,
        event_id: get_str(row, "event_id")?,
        kind: get_str(row, "kind")?,
        title: get_str(row, "title")?,
        body: get_str(row, "body")?,
        detail: get_parsed(row, "detail", |s| serde_json::from_str(s))?,
        email_status: get_parsed(row, "email_status", |s| {
            EmailStatus::parse(s).ok_or_else(|| format!("email status {s}"))
        })?,
        emailed_at: get_opt_ts(row, "emailed_at")?,
        created_at: get_ts(row, "created_at")?,
        read_at: get_opt_ts(row, "read_at")?,
    })
}

impl SqlStore {
    async fn notification_of(&self, user: UserId, id: &str) -> StoreResult<NotificationRecord> {
        let mut sql = Sql::new(&format!("SELECT {COLUMNS} FROM notifications WHERE id = "));
        sql.text(id).push(" AND user_id = ").text(user);
        self.one(&sql, notification_from).await
    }
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn put_notifications(
        &self,
        records: &[NotificationRecord],
    ) -> StoreResult<Vec<NotificationRecord>> {
        // One row per event and user: a second one in the same write would meet the
        // first inside one statement.
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(records.len());
        for r in records {
            if !seen.insert((r.event_id.as_str(), r.user_id)) {
                continue;
            }
            let detail = serde_json::to_string(&r.detail).map_err(bad_row)?;
            rows.push(vec![
                t(&r.id),
                t(r.user_id),
                t(&r.event_id),
                t(&r.kind),
                t(&r.title),
                t(&r.body),
                Arg::Text(detail),
                t(r.email_status.as_str()),
                opt_ts(r.emailed_at),
                ts(r.created_at),
                opt_ts(r.read_at),
            ]);
        }
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let inserts = insert_statements("notifications", COLUMNS, rows)
            .into_iter()
            .map(|mut sql| {
                sql.push(" ON CONFLICT (event_id, user_id) DO NOTHING");
                sql
            })
            .collect();
        self.batch().await?.finish(inserts).await?;
        let mut stored = Sql::new(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE event_id IN "
        ));
        let events: HashSet<&str> = seen.iter().map(|(event, _)| *event).collect();
        stored.tuple(events.into_iter().map(t).collect());
        let all = self.all(&stored, notification_from).await?;
        Ok(all
            .into_iter()
            .filter(|n| seen.contains(&(n.event_id.as_str(), n.user_id)))
            .collect())
    }

    async fn set_email_statuses(
        &self,
        ids: &[String],
        status: EmailStatus,
        at: Option<Timestamp>,
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::update("notifications");
        sql.push("email_status = ")
            .text(status.as_str())
            .push(", emailed_at = ")
            .arg(opt_ts(at))
            .push(" WHERE id IN ")
            .tuple(ids.iter().map(t).collect());
        match self.execute(&sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    async fn emails_sent_since(&self, user: UserId, since: Timestamp) -> StoreResult<i64> {
        let mut sql = Sql::new("SELECT COUNT(*) AS n FROM notifications WHERE user_id = ");
        sql.text(user)
            .push(" AND email_status = ")
            .text(EmailStatus::Sent.as_str())
            .push(" AND emailed_at >= ")
            .int(since.millis());
        self.count(&sql).await
    }

    async fn notifications_of(
        &self,
        user: UserId,
        unread_only: bool,
        page: Page,
    ) -> StoreResult<(Vec<NotificationRecord>, i64)> {
        let filter = |sql: &mut Sql| {
            sql.text(user);
            if unread_only {
                sql.push(" AND read_at IS NULL");
            }
        };
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM notifications WHERE user_id = ");
        filter(&mut count);
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM notifications WHERE user_id = "
        ));
        filter(&mut sql);
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        Ok((
            self.all(&sql, notification_from).await?,
            self.count(&count).await?,
        ))
    }

    async fn mark_notification_read(
        &self,
        user: UserId,
        id: &str,
        at: Timestamp,
    ) -> StoreResult<NotificationRecord> {
        let mut sql = Sql::update("notifications");
        sql.push("read_at = COALESCE(read_at, ")
            .int(at.millis())
            .push(") WHERE id = ")
            .text(id)
            .push(" AND user_id = ")
            .text(user);
        self.exec_one(&sql).await?;
        self.notification_of(user, id).await
    }

    async fn mark_all_notifications_read(&self, user: UserId, at: Timestamp) -> StoreResult<u64> {
        let mut sql = Sql::update("notifications");
        sql.push("read_at = ")
            .int(at.millis())
            .push(" WHERE user_id = ")
            .text(user)
            .push(" AND read_at IS NULL");
        self.execute(&sql).await
    }

    async fn delete_notifications_of(&self, user: UserId) -> StoreResult<u64> {
        let mut sql = Sql::delete("notifications");
        sql.push("user_id = ").text(user);
        self.execute(&sql).await
    }
}
