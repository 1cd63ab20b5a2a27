//! Accounts in SQL: users and their refresh tokens, the records sign-up, login and
//! token rotation read and write.
use super::statement::{
    get_id, get_opt_ts, get_parsed, get_str, get_ts, insert_statements, like_pattern, opt_ts, t,
    ts, Arg, Sql,
};
use super::SqlStore;
use crate::store::{AccountStore, Page, RefreshRecord, StoreResult, UserFilter, UserRecord};
use async_trait::async_trait;
use boxoffice_domain::account::{Email, Role};
use boxoffice_domain::{Timestamp, UserId};
use sqlx::any::AnyRow;

const USER_COLUMNS: &str =
    "id, email, password_hash, display_name, role, email_verified_at, created_at, updated_at";
const REFRESH_COLUMNS: &str =
    "token_hash, user_id, family_id, expires_at, created_at, used_at, revoked_at";

fn user_from(row: &AnyRow) -> StoreResult<UserRecord> {
    Ok(UserRecord {
        id: get_id(row, "id")?,
        email: get_parsed(row, "email", Email::parse)?,
        password_hash: get_str(row, "password_hash")?,
        display_name: get_str(row, "display_name")?,
        role: get_parsed(row, "role", Role::parse)?,
        email_verified_at: get_opt_ts(row, "email_verified_at")?,
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

fn user_args(u: &UserRecord) -> Vec<Arg> {
    vec![
        t(u.id),
        t(u.email.as_str()),
        t(&u.password_hash),
        t(&u.display_name),
        t(u.role.as_str()),
        opt_ts(u.email_verified_at),
        ts(u.created_at),
        ts(u.updated_at),
    ]
}

fn refresh_args(r: &RefreshRecord) -> Vec<Arg> {
    vec![
        t(&r.token_hash),
        t(r.user_id),
        t(&r.family_id),
        ts(r.expires_at),
        ts(r.created_at),
        opt_ts(r.used_at),
        opt_ts(r.revoked_at),
    ]
}

fn user_where(f: &UserFilter) -> Sql {
    let mut sql = Sql::new(" WHERE 1 = 1");
    if let Some(text) = &f.text {
        let p = like_pattern(text);
        sql.push(" AND (LOWER(email) LIKE ")
            .text(p.clone())
            .push(" ESCAPE '\\' OR LOWER(display_name) LIKE ");
        sql.text(p).push(" ESCAPE '\\')");
    }
    if let Some(role) = f.role {
        sql.push(" AND role = ").text(role.as_str());
    }
    sql
}

#[async_trait]
impl AccountStore for SqlStore {
    async fn insert_users(&self, users: &[UserRecord]) -> StoreResult<()> {
        let rows = users.iter().map(user_args).collect();
        self.batch()
            .await?
            .finish(insert_statements("users", USER_COLUMNS, rows))
            .await
            .map(drop)
    }

    async fn user(&self, id: UserId) -> StoreResult<UserRecord> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = "));
        sql.text(id);
        self.one(&sql, user_from).await
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<UserRecord> {
        let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = "));
        sql.text(email.as_str());
        self.one(&sql, user_from).await
    }

    async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> StoreResult<(Vec<UserRecord>, i64)> {
        let mut count = Sql::new("SELECT COUNT(*) AS n FROM users");
        count.append(user_where(filter));
        let total = self.count(&count).await?;
        let mut sql = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users"));
        sql.append(user_where(filter));
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .int(i64::from(page.per_page));
        sql.push(" OFFSET ").int(page.offset());
        Ok((self.all(&sql, user_from).await?, total))
    }

    async fn count_users(&self) -> StoreResult<i64> {
        self.count(&Sql::new("SELECT COUNT(*) AS n FROM users"))
            .await
    }

    async fn update_user(&self, u: &UserRecord) -> StoreResult<()> {
        let mut sql = Sql::update("users");
        sql.push("email = ")
            .text(u.email.as_str())
            .push(", password_hash = ")
            .text(&u.password_hash);
        sql.push(", display_name = ")
            .text(&u.display_name)
            .push(", role = ")
            .text(u.role.as_str());
        sql.push(", email_verified_at = ")
            .arg(opt_ts(u.email_verified_at));
        sql.push(", updated_at = ")
            .int(u.updated_at.millis())
            .push(" WHERE id = ")
            .text(u.id);
        self.exec_one(&sql).await
    }

    async fn insert_refresh(&self, r: &RefreshRecord) -> StoreResult<()> {
        self.insert_one("refresh_tokens", REFRESH_COLUMNS, refresh_args(r))
            .await
    }

    async fn refresh(&self, token_hash: &str) -> StoreResult<RefreshRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = "
        ));
        sql.text(token_hash);
        self.one(&sql, refresh_from).await
    }

    async fn spend_refresh(&self, token_hash: &str, at: Timestamp) -> StoreResult<bool> {
        let mut sql = Sql::update("refresh_tokens");
        sql.push("used_at = ")
            .int(at.millis())
            .push(" WHERE token_hash = ")
            .text(token_hash);
        sql.push(" AND used_at IS NULL AND revoked_at IS NULL");
        Ok(self.execute(&sql).await? == 1)
    }

    async fn revoke_refresh_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()> {
        let mut sql = Sql::update("refresh_tokens");
        sql.push("revoked_at = ")
            .int(at.millis())
            .push(" WHERE family_id = ")
            .text(family_id)
            .push(" AND revoked_at IS NULL");
        self.execute(&sql).await.map(drop)
    }
}
