//! Idempotency keys in SQL: the first request with a key claims it, and its finished
//! response is kept until the key expires so that retries replay it.
use super::statement::{bad_row, get_opt_i64, get_opt_str, get_str, t, ts, Arg, Sql};
use super::SqlStore;
use crate::store::{IdempotencyClaim, IdempotencyStore, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::Timestamp;

const KEY_COLUMNS: &str =
    "scope, key, fingerprint, status, content_type, body, created_at, expires_at";

/// `DELETE FROM idempotency_keys WHERE scope = $ AND key = $`, for more conditions.
fn delete_key(scope: &str, key: &str) -> Sql {
    let mut sql = Sql::delete("idempotency_keys");
    sql.push("scope = ")
        .text(scope)
        .push(" AND key = ")
        .text(key);
    sql
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
        abandoned_before: Timestamp,
    ) -> StoreResult<IdempotencyClaim> {
        // A stale key (past its retention) or a claim its process never finished is
        // forgotten before claiming afresh.
        let mut stale = delete_key(scope, key);
        stale
            .push(" AND (expires_at <= ")
            .int(now.millis())
            .push(" OR (status IS NULL AND created_at < ")
            .int(abandoned_before.millis())
            .push("))");
        self.execute(&stale).await?;
        let mut claim = Sql::insert("idempotency_keys", KEY_COLUMNS);
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
        if self.execute(&claim).await? == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let mut sql = Sql::new(
            "SELECT fingerprint, status, content_type, body FROM idempotency_keys WHERE scope = ",
        );
        sql.text(scope).push(" AND key = ").text(key);
        let row = self.fetch_one(&sql).await?;
        let fingerprint = get_str(&row, "fingerprint")?;
        match get_opt_i64(&row, "status")? {
            None => Ok(IdempotencyClaim::InFlight { fingerprint }),
            Some(status) => Ok(IdempotencyClaim::Done {
                fingerprint,
                status: u16::try_from(status).map_err(bad_row)?,
                content_type: get_opt_str(&row, "content_type")?.unwrap_or_default(),
                body: get_opt_str(&row, "body")?.unwrap_or_default(),
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
        let mut sql = Sql::update("idempotency_keys");
        sql.push("status = ")
            .int(i64::from(status))
            .push(", content_type = ")
            .text(content_type)
            .push(", body = ")
            .text(body);
        sql.push(" WHERE scope = ")
            .text(scope)
            .push(" AND key = ")
            .text(key);
        self.exec_one(&sql).await
    }

    async fn abandon_key(&self, scope: &str, key: &str) -> StoreResult<()> {
        let mut sql = delete_key(scope, key);
        sql.push(" AND status IS NULL");
        self.execute(&sql).await.map(drop)
    }

    async fn purge_keys(&self, now: Timestamp) -> StoreResult<u64> {
        let mut sql = Sql::delete("idempotency_keys");
        sql.push("expires_at <= ").int(now.millis());
        self.execute(&sql).await
    }
}
