//! Settings in SQL: small values the platform generates once and keeps (signing
//! secrets), and the readiness ping.
use super::statement::{get_str, t, Sql};
use super::SqlStore;
use crate::store::{PoolUsage, SettingsStore, StoreError, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl SettingsStore for SqlStore {
    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let mut sql = Sql::new("SELECT value FROM settings WHERE key = ");
        sql.text(key);
        match self.fetch_optional(&sql).await? {
            Some(row) => Ok(Some(get_str(&row, "value")?)),
            None => Ok(None),
        }
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String> {
        let mut sql = Sql::insert("settings", "key, value");
        sql.tuple(vec![t(key), t(value)])
            .push(" ON CONFLICT (key) DO NOTHING");
        self.execute(&sql).await?;
        self.setting(key).await?.ok_or(StoreError::NotFound)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.execute(&Sql::new("SELECT 1")).await.map(drop)
    }

    fn pool_usage(&self) -> PoolUsage {
        PoolUsage {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
        }
    }
}
