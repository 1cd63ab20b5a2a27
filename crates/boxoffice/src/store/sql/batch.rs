//! One write transaction in as few round trips as the backend allows. SQLite runs on
//! a worker thread per connection, and every statement is a hop there and back; a
//! group commit sends its statements (and BEGIN/COMMIT) as one multi-statement query,
//! so a batch of holds is one hop. PostgreSQL runs them one by one in a transaction.
use super::statement::{db_err, Sql};
use super::{Backend, SqlStore};
use crate::store::StoreResult;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Executor, Transaction};

pub(super) enum Batch {
    /// The `BEGIN` is sent with the first statements.
    Sqlite {
        conn: PoolConnection<Any>,
        begun: bool,
    },
    Postgres(Transaction<'static, Any>),
}

impl SqlStore {
    pub(super) async fn batch(&self) -> StoreResult<Batch> {
        Ok(match self.backend {
            Backend::Sqlite => Batch::Sqlite {
                conn: self.pool.acquire().await.map_err(db_err)?,
                begun: false,
            },
            Backend::Postgres => Batch::Postgres(self.pool.begin().await.map_err(db_err)?),
        })
    }
}

impl Batch {
    /// Runs `statements` in order inside the transaction; the rows they returned.
    pub(super) async fn run(&mut self, statements: Vec<Sql>) -> StoreResult<Vec<AnyRow>> {
        self.send(statements, false).await
    }

    /// Runs the last `statements` and commits, in the same round trip on SQLite.
    pub(super) async fn finish(mut self, statements: Vec<Sql>) -> StoreResult<Vec<AnyRow>> {
        let rows = self.send(statements, true).await?;
        if let Batch::Postgres(tx) = self {
            tx.commit().await.map_err(db_err)?;
        }
        Ok(rows)
    }

    async fn send(&mut self, statements: Vec<Sql>, commit: bool) -> StoreResult<Vec<AnyRow>> {
        match self {
            Batch::Sqlite { conn, begun } => {
                let mut parts = Vec::with_capacity(statements.len() + 2);
                if !*begun {
                    parts.push(Sql::new("BEGIN IMMEDIATE"));
                    *begun = true;
                }
                parts.extend(statements);
                if commit {
                    parts.push(Sql::new("COMMIT"));
                }
                let script = Sql::script(parts);
                match script.fetch_all(Backend::Sqlite, &mut **conn).await {
                    Ok(rows) => Ok(rows),
                    Err(e) => {
                        // A statement failed: those after it, COMMIT included, did not
                        // run. Nothing of the transaction may stay behind.
                        if let Err(rollback) = conn.execute("ROLLBACK").await {
                            tracing::debug!(error = %rollback, "rollback after a failed batch");
                        }
                        Err(e)
                    }
                }
            }
            Batch::Postgres(tx) => {
                let mut rows = Vec::new();
                for s in &statements {
                    // Dropping the transaction on an error rolls it back.
                    rows.extend(s.fetch_all(Backend::Postgres, &mut **tx).await?);
                }
                Ok(rows)
            }
        }
    }
}
