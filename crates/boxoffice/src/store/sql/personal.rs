//! Personal data in SQL: the sealed columns of `users` that hold what identifies a
//! person beyond the login email, read and written only in their sealed form.
use super::statement::{get_opt_str, t, Arg, Sql};
use super::SqlStore;
use crate::store::{PersonalDataStore, StoreResult};
use async_trait::async_trait;
use boxoffice_domain::{Timestamp, UserId};

#[async_trait]
impl PersonalDataStore for SqlStore {
    async fn user_phone(&self, user: UserId) -> StoreResult<Option<String>> {
        let mut sql = Sql::new("SELECT phone_sealed FROM users WHERE id = ");
        sql.text(user);
        self.one(&sql, |row| get_opt_str(row, "phone_sealed")).await
    }

    async fn set_user_phone(
        &self,
        user: UserId,
        sealed: Option<&str>,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut sql = Sql::update("users");
        sql.push("phone_sealed = ")
            .arg(sealed.map(t).unwrap_or(Arg::NullText))
            .push(", updated_at = ")
            .int(at.millis())
            .push(" WHERE id = ")
            .text(user);
        self.exec_one(&sql).await
    }

    async fn anonymize_user(
        &self,
        user: UserId,
        email: &str,
        display_name: &str,
        password_hash: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut sql = Sql::update("users");
        sql.push("email = ")
            .text(email)
            .push(", display_name = ")
            .text(display_name)
            .push(", password_hash = ")
            .text(password_hash)
            .push(", phone_sealed = NULL, email_verified_at = NULL, updated_at = ")
            .int(at.millis())
            .push(" WHERE id = ")
            .text(user);
        self.exec_one(&sql).await
    }
}
