//! Webhook endpoints, deliveries and attempts in SQL. Deliveries are unique per
//! (endpoint, event), so the fan-out can replay a batch; an attempt is logged and its
//! delivery updated in one transaction, guarded by the attempt count.
use super::statement::{
    bad_row, get_i64, get_id, get_opt_i64, get_opt_str, get_opt_ts, get_parsed, get_str, get_ts,
    get_u32, i, insert_statements, opt_text, opt_ts, t, ts, Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    AttemptRecord, DeliveryRecord, DeliveryStatus, Page, StoreResult, WebhookRecord, WebhookStore,
};
use async_trait::async_trait;
use boxoffice_domain::ids::{DeliveryId, WebhookId};
use boxoffice_domain::{OrganizationId, Timestamp};
use sqlx::any::AnyRow;

const ENDPOINT_COLUMNS: &str = "id, organization_id, url, description, event_types, enabled, \
     secret_sealed, previous_secret_sealed, previous_expires_at, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, endpoint_id, event_id, event_type, payload, \
     event_created_at, status, attempts, next_attempt_at, first_attempt_at, last_attempt_at, \
     last_status, last_error, delivered_at, created_at";
const ATTEMPT_COLUMNS: &str = "delivery_id, attempt, at, response_status, duration_ms, error";

fn opt_int(v: Option<i64>) -> Arg {
    v.map(Arg::Int).unwrap_or(Arg::NullInt)
}

fn opt_status(row: &AnyRow, col: &str) -> StoreResult<Option<u16>> {
    get_opt_i64(row, col)?
        .map(|s| u16::try_from(s).map_err(bad_row))
        .transpose()
}

/// Reads an endpoint whose columns carry `prefix` (`""`, or `"e_"` in a join).
fn endpoint_with(row: &AnyRow, prefix: &str) -> StoreResult<WebhookRecord> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(WebhookRecord {
        id: get_id(row, &c("id"))?,
        organization_id: get_id(row, &c("organization_id"))?,
        url: get_str(row, &c("url"))?,
        description: get_str(row, &c("description"))?,
        event_types: get_str(row, &c("event_types"))?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        enabled: get_i64(row, &c("enabled"))? != 0,
        secret_sealed: get_str(row, &c("secret_sealed"))?,
        previous_secret_sealed: get_opt_str(row, &c("previous_secret_sealed"))?,
        previous_expires_at: get_opt_ts(row, &c("previous_expires_at"))?,
        created_at: get_ts(row, &c("created_at"))?,
        updated_at: get_ts(row, &c("updated_at"))?,
    })
}

fn endpoint_from(row: &AnyRow) -> StoreResult<WebhookRecord> {
    endpoint_with(row, "")
}

fn delivery_from(row: &AnyRow) -> StoreResult<DeliveryRecord> {
    Ok(DeliveryRecord {
        id: get_id(row, "id")?,
        endpoint_id: get_id(row, "endpoint_id")?,
        event_id: get_str(row, "event_id")?,
        event_type: get_str(row, "event_type")?,
        payload: get_parsed(row, "payload", |s| serde_json::from_str(s))?,
        event_created_at: get_ts(row, "event_created_at")?,
        status: get_parsed(row, "status", DeliveryStatus::parse)?,
        attempts: get_u32(row, "attempts")?,
        next_attempt_at: get_opt_ts(row, "next_attempt_at")?,
        first_attempt_at: get_opt_ts(row, "first_attempt_at")?,
        last_attempt_at: get_opt_ts(row, "last_attempt_at")?,
        last_status: opt_status(row, "last_status")?,
        last_error: get_opt_str(row, "last_error")?,
        delivered_at: get_opt_ts(row, "delivered_at")?,
        created_at: get_ts(row, "created_at")?,
    })
}

fn attempt_from(row: &AnyRow) -> StoreResult<AttemptRecord> {
    Ok(AttemptRecord {
        delivery_id: get_id(row, "delivery_id")?,
        attempt: get_u32(row, "attempt")?,
        at: get_ts(row, "at")?,
        response_status: opt_status(row, "response_status")?,
        duration_ms: get_i64(row, "duration_ms")?,
        error: get_opt_str(row, "error")?,
    })
}

fn endpoint_args(w: &WebhookRecord) -> Vec<Arg> {
    vec![
        t(w.id),
        t(w.organization_id),
        t(&w.url),
        t(&w.description),
        t(w.event_types.join(",")),
        i(i64::from(w.enabled)),
        t(&w.secret_sealed),
        opt_text(w.previous_secret_sealed.as_deref()),
        opt_ts(w.previous_expires_at),
        ts(w.created_at),
        ts(w.updated_at),
    ]
}

fn delivery_args(d: &DeliveryRecord) -> StoreResult<Vec<Arg>> {
    Ok(vec![
        t(d.id),
        t(d.endpoint_id),
        t(&d.event_id),
        t(&d.event_type),
        Arg::Text(serde_json::to_string(&d.payload).map_err(bad_row)?),
        ts(d.event_created_at),
        t(d.status.as_str()),
        i(d.attempts),
        opt_ts(d.next_attempt_at),
        opt_ts(d.first_attempt_at),
        opt_ts(d.last_attempt_at),
        opt_int(d.last_status.map(i64::from)),
        opt_text(d.last_error.as_deref()),
        opt_ts(d.delivered_at),
        ts(d.created_at),
    ])
}

/// The columns of both tables in a join, the endpoint's prefixed with `e_`.
fn joined_columns() -> String {
    let d = DELIVERY_COLUMNS
        .split(", ")
        .map(|c| format!("d.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let e = ENDPOINT_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c} AS e_{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("{d}, {e}")
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn insert_webhook(&self, w: &WebhookRecord) -> StoreResult<()> {
        self.insert_one("webhook_endpoints", ENDPOINT_COLUMNS, endpoint_args(w))
            .await
    }

    async fn webhook(&self, id: WebhookId) -> StoreResult<WebhookRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, endpoint_from).await
    }

    async fn webhooks_of(&self, org: OrganizationId) -> StoreResult<Vec<WebhookRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE organization_id = "
        ));
        sql.text(org).push(" ORDER BY created_at, id");
        self.all(&sql, endpoint_from).await
    }

    async fn enabled_webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let sql = Sql::new(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled = 1 ORDER BY id"
        ));
        self.all(&sql, endpoint_from).await
    }

    async fn update_webhook(&self, w: &WebhookRecord) -> StoreResult<()> {
        let mut sql = Sql::update("webhook_endpoints");
        sql.push("url = ")
            .text(&w.url)
            .push(", description = ")
            .text(&w.description)
            .push(", event_types = ")
            .text(w.event_types.join(","))
            .push(", enabled = ")
            .int(i64::from(w.enabled))
            .push(", secret_sealed = ")
            .text(&w.secret_sealed)
            .push(", previous_secret_sealed = ")
            .arg(opt_text(w.previous_secret_sealed.as_deref()))
            .push(", previous_expires_at = ")
            .arg(opt_ts(w.previous_expires_at))
            .push(", updated_at = ")
            .int(w.updated_at.millis())
            .push(" WHERE id = ")
            .text(w.id)
            .push(" AND organization_id = ")
            .text(w.organization_id);
        self.exec_one(&sql).await
    }

    async fn delete_webhook(&self, org: OrganizationId, id: WebhookId) -> StoreResult<bool> {
        let mut sql = Sql::delete("webhook_endpoints");
        sql.push("id = ")
            .text(id)
            .push(" AND organization_id = ")
            .text(org);
        Ok(self.execute(&sql).await? == 1)
    }

    async fn insert_deliveries(&self, deliveries: &[DeliveryRecord]) -> StoreResult<u64> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let rows = deliveries
            .iter()
            .map(delivery_args)
            .collect::<StoreResult<Vec<_>>>()?;
        let mut inserted = 0;
        for mut sql in insert_statements("webhook_deliveries", DELIVERY_COLUMNS, rows) {
            sql.push(" ON CONFLICT (endpoint_id, event_id) DO NOTHING");
            inserted += self.execute(&sql).await?;
        }
        Ok(inserted)
    }

    async fn delivery(&self, id: DeliveryId) -> StoreResult<DeliveryRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, delivery_from).await
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(DeliveryRecord, WebhookRecord)>> {
        let mut sql = Sql::new(&format!(
            "SELECT {} FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= ",
            joined_columns()
        ));
        sql.int(now.millis())
            .push(" AND e.enabled = 1 ORDER BY d.next_attempt_at, d.id LIMIT ")
            .int(i64::from(limit));
        self.all(&sql, |row| {
            Ok((delivery_from(row)?, endpoint_with(row, "e_")?))
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        ids: &[DeliveryId],
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Vec<DeliveryId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::update("webhook_deliveries");
        sql.push("next_attempt_at = ")
            .int(lease_until.millis())
            .push(" WHERE status = 'pending' AND next_attempt_at <= ")
            .int(now.millis())
            .push(" AND id IN ")
            .tuple(ids.iter().map(t).collect())
            .push(" RETURNING id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|row| get_id(row, "id"))
            .collect()
    }

    async fn deliveries_of(
        &self,
        endpoint: WebhookId,
        page: Page,
    ) -> StoreResult<(Vec<DeliveryRecord>, i64)> {
        let mut sql = Sql::new(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = "
        ));
        sql.text(endpoint)
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page))
            .push(" OFFSET ")
            .int(page.offset());
        let items = self.all(&sql, delivery_from).await?;
        let mut count =
            Sql::new("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE endpoint_id = ");
        count.text(endpoint);
        Ok((items, self.count(&count).await?))
    }

    async fn record_attempt(&self, d: &DeliveryRecord, a: &AttemptRecord) -> StoreResult<bool> {
        let mut update = Sql::update("webhook_deliveries");
        update
            .push("status = ")
            .text(d.status.as_str())
            .push(", attempts = ")
            .int(i64::from(d.attempts))
            .push(", next_attempt_at = ")
            .arg(opt_ts(d.next_attempt_at))
            .push(", first_attempt_at = ")
            .arg(opt_ts(d.first_attempt_at))
            .push(", last_attempt_at = ")
            .arg(opt_ts(d.last_attempt_at))
            .push(", last_status = ")
            .arg(opt_int(d.last_status.map(i64::from)))
            .push(", last_error = ")
            .arg(opt_text(d.last_error.as_deref()))
            .push(", delivered_at = ")
            .arg(opt_ts(d.delivered_at))
            .push(" WHERE id = ")
            .text(d.id)
            .push(" AND status = 'pending' AND attempts = ")
            .int(i64::from(a.attempt) - 1)
            .push(" RETURNING id");
        let mut log = Sql::insert("webhook_attempts", ATTEMPT_COLUMNS);
        log.tuple(vec![
            t(a.delivery_id),
            i(a.attempt),
            ts(a.at),
            opt_int(a.response_status.map(i64::from)),
            Arg::Int(a.duration_ms),
            opt_text(a.error.as_deref()),
        ]);
        let mut batch = self.batch().await?;
        if batch.run(vec![update]).await?.is_empty() {
            batch.finish(Vec::new()).await?;
            return Ok(false);
        }
        batch.finish(vec![log]).await?;
        Ok(true)
    }

    async fn redeliver(&self, id: DeliveryId, at: Timestamp) -> StoreResult<()> {
        let mut sql = Sql::update("webhook_deliveries");
        sql.push("status = 'pending', next_attempt_at = ")
            .int(at.millis())
            .push(", first_attempt_at = NULL, delivered_at = NULL WHERE id = ")
            .text(id);
        self.exec_one(&sql).await
    }

    async fn attempts_of(&self, delivery: DeliveryId) -> StoreResult<Vec<AttemptRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = "
        ));
        sql.text(delivery).push(" ORDER BY attempt");
        self.all(&sql, attempt_from).await
    }
}
