//! The second factor in SQL: TOTP enrolments, hashed backup codes, login challenges
//! and trusted devices, plus the sealed-column walk key rotation needs.
use super::statement::{
    get_id, get_opt_i64, get_opt_ts, get_str, get_ts, get_u32, i, insert_statements, opt_ts, t, ts,
    Arg, Sql,
};
use super::SqlStore;
use crate::store::{
    MfaChallengeRecord, MfaStore, SealedField, SealedStore, StoreResult, TotpRecord,
    TrustedDeviceRecord,
};
use async_trait::async_trait;
use boxoffice_domain::{Timestamp, UserId};
use sqlx::any::AnyRow;

const TOTP_COLUMNS: &str = "user_id, secret, confirmed_at, last_step, created_at, updated_at";
const CHALLENGE_COLUMNS: &str = "token_hash, user_id, expires_at, used_at, attempts, created_at";
const DEVICE_COLUMNS: &str =
    "id, user_id, token_hash, label, created_at, expires_at, last_used_at, revoked_at";

fn totp_from(row: &AnyRow) -> StoreResult<TotpRecord> {
    Ok(TotpRecord {
        user_id: get_id(row, "user_id")?,
        secret: get_str(row, "secret")?,
        confirmed_at: get_opt_ts(row, "confirmed_at")?,
        last_step: get_opt_i64(row, "last_step")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn challenge_from(row: &AnyRow) -> StoreResult<MfaChallengeRecord> {
    Ok(MfaChallengeRecord {
        token_hash: get_str(row, "token_hash")?,
        user_id: get_id(row, "user_id")?,
        expires_at: get_ts(row, "expires_at")?,
        used_at: get_opt_ts(row, "used_at")?,
        attempts: get_u32(row, "attempts")?,
        created_at: get_ts(row, "created_at")?,
    })
}

fn device_from(row: &AnyRow) -> StoreResult<TrustedDeviceRecord> {
    Ok(TrustedDeviceRecord {
        id: get_id(row, "id")?,
        user_id: get_id(row, "user_id")?,
        token_hash: get_str(row, "token_hash")?,
        label: get_str(row, "label")?,
        created_at: get_ts(row, "created_at")?,
        expires_at: get_ts(row, "expires_at")?,
        last_used_at: get_opt_ts(row, "last_used_at")?,
        revoked_at: get_opt_ts(row, "revoked_at")?,
    })
}

/// `DELETE FROM table WHERE user_id = $`.
fn delete_of_user(table: &'static str, user: UserId) -> Sql {
    let mut sql = Sql::delete(table);
    sql.push("user_id = ").text(user);
    sql
}

/// Table, row key and column of a sealed field.
fn sealed_column(field: SealedField) -> (&'static str, &'static str, &'static str) {
    match field {
        SealedField::TotpSecret => ("mfa_totp", "user_id", "secret"),
        SealedField::UserPhone => ("users", "id", "phone_sealed"),
        SealedField::WebhookSecret => ("webhook_endpoints", "id", "secret_sealed"),
        SealedField::WebhookPreviousSecret => ("webhook_endpoints", "id", "previous_secret_sealed"),
    }
}

#[async_trait]
impl MfaStore for SqlStore {
    async fn totp(&self, user: UserId) -> StoreResult<Option<TotpRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {TOTP_COLUMNS} FROM mfa_totp WHERE user_id = "
        ));
        sql.text(user);
        self.fetch_optional(&sql)
            .await?
            .as_ref()
            .map(totp_from)
            .transpose()
    }

    async fn put_pending_totp(&self, r: &TotpRecord) -> StoreResult<bool> {
        let mut sql = Sql::insert("mfa_totp", TOTP_COLUMNS);
        sql.tuple(vec![
            t(r.user_id),
            t(&r.secret),
            Arg::NullInt,
            Arg::NullInt,
            ts(r.created_at),
            ts(r.updated_at),
        ]);
        sql.push(" ON CONFLICT (user_id) DO UPDATE SET secret = ")
            .text(&r.secret)
            .push(", created_at = ")
            .int(r.created_at.millis())
            .push(", updated_at = ")
            .int(r.updated_at.millis())
            .push(" WHERE mfa_totp.confirmed_at IS NULL");
        Ok(self.execute(&sql).await? == 1)
    }

    async fn activate_totp(
        &self,
        user: UserId,
        secret: &str,
        step: i64,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut sql = Sql::update("mfa_totp");
        sql.push("confirmed_at = ")
            .int(at.millis())
            .push(", last_step = ")
            .int(step)
            .push(", updated_at = ")
            .int(at.millis());
        sql.push(" WHERE user_id = ")
            .text(user)
            .push(" AND secret = ")
            .text(secret)
            .push(" AND confirmed_at IS NULL");
        Ok(self.execute(&sql).await? == 1)
    }

    async fn use_totp_step(&self, user: UserId, step: i64, at: Timestamp) -> StoreResult<bool> {
        let mut sql = Sql::update("mfa_totp");
        sql.push("last_step = ")
            .int(step)
            .push(", updated_at = ")
            .int(at.millis());
        sql.push(" WHERE user_id = ")
            .text(user)
            .push(" AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < ")
            .int(step)
            .push(")");
        Ok(self.execute(&sql).await? == 1)
    }

    async fn delete_mfa(&self, user: UserId, at: Timestamp) -> StoreResult<()> {
        let mut revoke = Sql::update("trusted_devices");
        revoke
            .push("revoked_at = ")
            .int(at.millis())
            .push(" WHERE user_id = ")
            .text(user)
            .push(" AND revoked_at IS NULL");
        self.batch()
            .await?
            .finish(vec![
                delete_of_user("mfa_backup_codes", user),
                delete_of_user("mfa_challenges", user),
                revoke,
                delete_of_user("mfa_totp", user),
            ])
            .await
            .map(drop)
    }

    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[String],
        at: Timestamp,
    ) -> StoreResult<()> {
        let rows = hashes
            .iter()
            .map(|h| vec![t(user), t(h), Arg::NullInt, ts(at)])
            .collect();
        let mut statements = vec![delete_of_user("mfa_backup_codes", user)];
        statements.extend(insert_statements(
            "mfa_backup_codes",
            "user_id, code_hash, used_at, created_at",
            rows,
        ));
        self.batch().await?.finish(statements).await.map(drop)
    }

    async fn use_backup_code(&self, user: UserId, hash: &str, at: Timestamp) -> StoreResult<bool> {
        let mut sql = Sql::update("mfa_backup_codes");
        sql.push("used_at = ")
            .int(at.millis())
            .push(" WHERE user_id = ")
            .text(user)
            .push(" AND code_hash = ")
            .text(hash)
            .push(" AND used_at IS NULL");
        Ok(self.execute(&sql).await? == 1)
    }

    async fn backup_codes_left(&self, user: UserId) -> StoreResult<i64> {
        let mut sql = Sql::new(
            "SELECT COUNT(*) AS n FROM mfa_backup_codes WHERE used_at IS NULL AND user_id = ",
        );
        sql.text(user);
        self.count(&sql).await
    }

    async fn insert_mfa_challenge(&self, c: &MfaChallengeRecord) -> StoreResult<()> {
        self.insert_one(
            "mfa_challenges",
            CHALLENGE_COLUMNS,
            vec![
                t(&c.token_hash),
                t(c.user_id),
                ts(c.expires_at),
                opt_ts(c.used_at),
                i(c.attempts),
                ts(c.created_at),
            ],
        )
        .await
    }

    async fn mfa_challenge(&self, token_hash: &str) -> StoreResult<MfaChallengeRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE token_hash = "
        ));
        sql.text(token_hash);
        self.one(&sql, challenge_from).await
    }

    async fn fail_mfa_challenge(&self, token_hash: &str) -> StoreResult<()> {
        let mut sql = Sql::update("mfa_challenges");
        sql.push("attempts = attempts + 1 WHERE token_hash = ")
            .text(token_hash);
        self.execute(&sql).await.map(drop)
    }

    async fn spend_mfa_challenge(&self, token_hash: &str, at: Timestamp) -> StoreResult<bool> {
        let mut sql = Sql::update("mfa_challenges");
        sql.push("used_at = ")
            .int(at.millis())
            .push(" WHERE token_hash = ")
            .text(token_hash)
            .push(" AND used_at IS NULL");
        Ok(self.execute(&sql).await? == 1)
    }

    async fn insert_trusted_device(&self, d: &TrustedDeviceRecord) -> StoreResult<()> {
        self.insert_one(
            "trusted_devices",
            DEVICE_COLUMNS,
            vec![
                t(d.id),
                t(d.user_id),
                t(&d.token_hash),
                t(&d.label),
                ts(d.created_at),
                ts(d.expires_at),
                opt_ts(d.last_used_at),
                opt_ts(d.revoked_at),
            ],
        )
        .await
    }

    async fn trusted_device(&self, token_hash: &str) -> StoreResult<TrustedDeviceRecord> {
        let mut sql = Sql::new(&format!(
            "SELECT {DEVICE_COLUMNS} FROM trusted_devices WHERE token_hash = "
        ));
        sql.text(token_hash);
        self.one(&sql, device_from).await
    }

    async fn touch_trusted_device(&self, id: uuid::Uuid, at: Timestamp) -> StoreResult<()> {
        let mut sql = Sql::update("trusted_devices");
        sql.push("last_used_at = ")
            .int(at.millis())
            .push(" WHERE id = ")
            .text(id);
        self.execute(&sql).await.map(drop)
    }

    async fn trusted_devices(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> StoreResult<Vec<TrustedDeviceRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {DEVICE_COLUMNS} FROM trusted_devices WHERE user_id = "
        ));
        sql.text(user)
            .push(" AND revoked_at IS NULL AND expires_at > ")
            .int(now.millis())
            .push(" ORDER BY created_at DESC, id");
        self.all(&sql, device_from).await
    }

    async fn revoke_trusted_device(
        &self,
        user: UserId,
        id: uuid::Uuid,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut sql = Sql::update("trusted_devices");
        sql.push("revoked_at = ")
            .int(at.millis())
            .push(" WHERE id = ")
            .text(id)
            .push(" AND user_id = ")
            .text(user)
            .push(" AND revoked_at IS NULL AND expires_at > ")
            .int(at.millis());
        Ok(self.execute(&sql).await? == 1)
    }

    async fn revoke_trusted_devices(&self, user: UserId, at: Timestamp) -> StoreResult<u64> {
        let mut sql = Sql::update("trusted_devices");
        sql.push("revoked_at = ")
            .int(at.millis())
            .push(" WHERE user_id = ")
            .text(user)
            .push(" AND revoked_at IS NULL");
        self.execute(&sql).await
    }
}

#[async_trait]
impl SealedStore for SqlStore {
    async fn sealed_not_under(
        &self,
        field: SealedField,
        key_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<(String, String)>> {
        let (table, key, column) = sealed_column(field);
        let prefix = format!("{key_id}:");
        // The length is ours, written inline: PostgreSQL has no substr(text, int, bigint).
        let mut sql = Sql::new(&format!(
            "SELECT {key} AS row_id, {column} AS sealed FROM {table} WHERE substr({column}, 1, {}) <> ",
            prefix.len()
        ));
        sql.text(&prefix)
            .push(&format!(" ORDER BY {key} LIMIT "))
            .int(i64::from(limit));
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|row| Ok((get_str(row, "row_id")?, get_str(row, "sealed")?)))
            .collect()
    }

    async fn reseal(
        &self,
        field: SealedField,
        row: &str,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let (table, key, column) = sealed_column(field);
        let mut sql = Sql::update(table);
        sql.push(&format!("{column} = "))
            .text(new)
            .push(&format!(" WHERE {key} = "))
            .text(row)
            .push(&format!(" AND {column} = "))
            .text(old);
        Ok(self.execute(&sql).await? == 1)
    }
}
