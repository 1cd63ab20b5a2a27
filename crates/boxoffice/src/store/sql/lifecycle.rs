//! Account lifecycle in SQL: sessions, emailed single-use tokens and login failure
//! counters. Spending a token and counting a failure are single statements, so racing
//! requests and other nodes see one consistent answer.
use super::statement::{
    get_i64, get_id, get_opt_str, get_opt_ts, get_parsed, get_str, get_ts, opt_text, opt_ts, t, ts,
    Arg, Sql,
};
use super::SqlStore;
use crate::store::{AccountTokenRecord, LifecycleStore, LoginFailures, SessionRecord, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::account::Email;
use boxoffice_domain::lifecycle::TokenPurpose;
use boxoffice_domain::{Timestamp, UserId};
use sqlx::any::AnyRow;

const SESSION_COLUMNS: &str = "id, user_id, created_at, last_used_at, ip, user_agent, revoked_at";
const TOKEN_COLUMNS: &str = "token_hash, user_id, purpose, email, created_at, expires_at, used_at";

fn session_from(row: &AnyRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: get_str(row, "id")?,
        user_id: get_id(row, "user_id")?,
        created_at: get_ts(row, "created_at")?,
        last_used_at: get_ts(row, "last_used_at")?,
        ip: get_str(row, "ip")?,
        user_agent: get_opt_str(row, "user_agent")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

fn token_from(row: &AnyRow) -> StoreResult<AccountTokenRecord> {
    Ok(AccountTokenRecord {
        token_hash: get_str(row, "token_hash")?,
        user_id: get_id(row, "user_id")?,
        purpose: get_parsed(row, "purpose", TokenPurpose::parse)?,
        email: get_parsed(row, "email", Email::parse)?,
        created_at: get_ts(row, "created_at")?,
        expires_at: get_ts(row, "expires_at")?,
        used_at: get_opt_ts(row, "used_at")?,
    })
}

/// `UPDATE refresh_tokens` and `UPDATE sessions … RETURNING id` revoking the live
/// sessions of `user` that `filter` selects (`id` / `family_id` compared to `value`).
fn revocation(user: UserId, at: Timestamp, session_filter: Option<(&str, &str)>) -> (Sql, Sql) {
    let mut tokens = Sql::update("refresh_tokens");
    tokens
        .push("revoked_at = ")
        .int(at.millis())
        .push(" WHERE user_id = ")
        .text(user)
        .push(" AND revoked_at IS NULL");
    let mut sessions = Sql::update("sessions");
    sessions
        .push("revoked_at = ")
        .int(at.millis())
        .push(" WHERE user_id = ")
        .text(user)
        .push(" AND revoked_at IS NULL");
    if let Some((op, id)) = session_filter {
        tokens.push(&format!(" AND family_id {op} ")).text(id);
        sessions.push(&format!(" AND id {op} ")).text(id);
    }
    sessions.push(" RETURNING id");
    (tokens, sessions)
}

impl SqlStore {
    /// Runs a revocation in one transaction; the sessions it revoked.
    async fn revoke(&self, (tokens, sessions): (Sql, Sql)) -> StoreResult<u64> {
        let rows = self.batch().await?.finish(vec![tokens, sessions]).await?;
        Ok(rows.len() as u64)
    }
}

#[async_trait]
impl LifecycleStore for SqlStore {
    async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        self.insert_one(
            "sessions",
            SESSION_COLUMNS,
            vec![
                t(&s.id),
                t(s.user_id),
                ts(s.created_at),
                ts(s.last_used_at),
                t(&s.ip),
                opt_text(s.user_agent.as_deref()),
                opt_ts(s.revoked_at),
            ],
        )
        .await
    }

    async fn session(&self, id: &str) -> StoreResult<SessionRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = "
        ));
        sql.text(id);
        self.one(&sql, session_from).await
    }

    async fn sessions_of(
        &self,
        user: UserId,
        active_since: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = "
        ));
        sql.text(user)
            .push(" AND revoked_at IS NULL AND last_used_at >= ")
            .int(active_since.millis())
            .push(" ORDER BY last_used_at DESC, id");
        self.all(&sql, session_from).await
    }

    async fn touch_session(
        &self,
        id: &str,
        at: Timestamp,
        ip: &str,
        user_agent: Option<&str>,
    ) -> StoreResult<bool> {
        let mut sql = Sql::update("sessions");
        sql.push("last_used_at = ")
            .int(at.millis())
            .push(", ip = ")
            .text(ip)
            .push(", user_agent = ")
            .arg(opt_text(user_agent))
            .push(" WHERE id = ")
            .text(id)
            .push(" AND revoked_at IS NULL");
        Ok(self.execute(&sql).await? == 1)
    }

    async fn revoke_session(&self, user: UserId, id: &str, at: Timestamp) -> StoreResult<bool> {
        Ok(self.revoke(revocation(user, at, Some(("=", id)))).await? == 1)
    }

    async fn revoke_sessions_except(
        &self,
        user: UserId,
        keep: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<u64> {
        self.revoke(revocation(user, at, keep.map(|k| ("<>", k))))
            .await
    }

    async fn insert_account_token(&self, r: &AccountTokenRecord) -> StoreResult<()> {
        self.insert_one(
            "account_tokens",
            TOKEN_COLUMNS,
            vec![
                t(&r.token_hash),
                t(r.user_id),
                t(r.purpose.as_str()),
                t(r.email.as_str()),
                ts(r.created_at),
                ts(r.expires_at),
                opt_ts(r.used_at),
            ],
        )
        .await
    }

    async fn spend_account_token(
        &self,
        token_hash: &str,
        purpose: TokenPurpose,
        at: Timestamp,
    ) -> StoreResult<Option<AccountTokenRecord>> {
        let mut sql = Sql::update("account_tokens");
        sql.push("used_at = ")
            .int(at.millis())
            .push(" WHERE token_hash = ")
            .text(token_hash)
            .push(" AND purpose = ")
            .text(purpose.as_str())
            .push(" AND used_at IS NULL AND expires_at > ")
            .int(at.millis())
            .push(&format!(" RETURNING {TOKEN_COLUMNS}"));
        match self.fetch_optional(&sql).await? {
            Some(row) => token_from(&row).map(Some),
            None => Ok(None),
        }
    }

    async fn mark_email_verified(
        &self,
        user: UserId,
        email: &Email,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut sql = Sql::update("users");
        sql.push("email_verified_at = COALESCE(email_verified_at, ")
            .int(at.millis())
            .push(") WHERE id = ")
            .text(user)
            .push(" AND email = ")
            .text(email.as_str());
        Ok(self.execute(&sql).await? == 1)
    }

    async fn login_failures(&self, email_digest: &str) -> StoreResult<Option<LoginFailures>> {
        let mut sql =
            Sql::new("SELECT failures, locked_until FROM login_failures WHERE email_digest = ");
        sql.text(email_digest);
        match self.fetch_optional(&sql).await? {
            Some(row) => Ok(Some(LoginFailures {
                failures: get_i64(&row, "failures")?,
                locked_until: get_ts(&row, "locked_until")?,
            })),
            None => Ok(None),
        }
    }

    async fn record_login_failure(
        &self,
        email_digest: &str,
        at: Timestamp,
        forget_before: Timestamp,
        lock_millis: fn(i64) -> i64,
    ) -> StoreResult<LoginFailures> {
        let mut count = Sql::insert(
            "login_failures",
            "email_digest, failures, last_failed_at, locked_until",
        );
        count
            .tuple(vec![
                t(email_digest),
                Arg::Int(1),
                ts(at),
                ts(at.plus_millis(lock_millis(1))),
            ])
            .push(
                " ON CONFLICT (email_digest) DO UPDATE SET failures = CASE \
                 WHEN login_failures.last_failed_at < ",
            )
            .int(forget_before.millis())
            .push(
                " THEN 1 ELSE login_failures.failures + 1 END, \
                 last_failed_at = excluded.last_failed_at RETURNING failures",
            );
        let failures = get_i64(&self.fetch_one(&count).await?, "failures")?;
        let locked_until = at.plus_millis(lock_millis(failures));
        let mut lock = Sql::update("login_failures");
        lock.push("locked_until = ")
            .int(locked_until.millis())
            .push(" WHERE email_digest = ")
            .text(email_digest);
        self.execute(&lock).await?;
        Ok(LoginFailures {
            failures,
            locked_until,
        })
    }

    async fn clear_login_failures(&self, email_digest: &str) -> StoreResult<()> {
        let mut sql = Sql::delete("login_failures");
        sql.push("email_digest = ").text(email_digest);
        self.execute(&sql).await.map(drop)
    }
}
