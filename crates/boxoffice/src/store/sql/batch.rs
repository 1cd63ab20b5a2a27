//! One write transaction in as few round trips as the backend allows. Every statement
//! is a hop to the database (SQLite: its worker thread; PostgreSQL: a backend process)
//! and back. On SQLite a group commit sends its statements with BEGIN and COMMIT as
//! one multi-statement query; on PostgreSQL a batch that is only inserts is one
//! statement (data-modifying CTEs), atomic without BEGIN/COMMIT.
//!
//! SQLite admits one writer at a time, and a transaction refused its lock sleeps in
//! SQLite's busy handler (1, 2, 5 … 100 ms) and tries again: behind a group commit
//! that starts its next batch as soon as one ends, a consumer's transaction lost
//! every race and waited seconds. Write transactions of this process therefore
//! queue for the lock in order of arrival (a fair mutex) before they ask SQLite.
//! Single statements outside a batch do not: on the request path most of them
//! (a session's last use, an idempotency claim) change a row or none in a moment,
//! and queueing them behind every group commit cost a third of the hold rate. A
//! background write that must not starve goes through a batch.
use super::statement::{db_err, Sql};
use super::{Backend, SqlStore};
use crate::store::StoreResult;
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Executor};
use tokio::sync::OwnedMutexGuard;

/// Values one PostgreSQL statement may bind (the protocol counts them in 16 bits).
const PG_MAX_BINDS: usize = 65_535;

pub(super) struct Batch {
    conn: PoolConnection<Any>,
    backend: Backend,
    /// Whether BEGIN was sent (it goes with the first statements).
    begun: bool,
    /// SQLite: this process's turn to write, held until the batch is dropped.
    _turn: Option<OwnedMutexGuard<()>>,
}

impl SqlStore {
    pub(super) async fn batch(&self) -> StoreResult<Batch> {
        // The turn before the connection: a transaction waiting for its turn holds
        // no connection that readers could use.
        let turn = match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        };
        Ok(Batch {
            conn: self.pool.acquire().await.map_err(db_err)?,
            backend: self.backend,
            begun: false,
            _turn: turn,
        })
    }
}

impl Batch {
    /// Runs `statements` in order inside the transaction; the rows they returned.
    pub(super) async fn run(&mut self, statements: Vec<Sql>) -> StoreResult<Vec<AnyRow>> {
        self.send(statements, false).await
    }

    /// Runs the last `statements` and commits, in the same round trip.
    pub(super) async fn finish(mut self, statements: Vec<Sql>) -> StoreResult<Vec<AnyRow>> {
        self.send(statements, true).await
    }

    async fn send(&mut self, statements: Vec<Sql>, commit: bool) -> StoreResult<Vec<AnyRow>> {
        if statements.is_empty() && !self.begun {
            return Ok(Vec::new());
        }
        let result = match self.backend {
            Backend::Sqlite => {
                let mut parts = Vec::with_capacity(statements.len() + 2);
                if !self.begun {
                    parts.push(Sql::new("BEGIN IMMEDIATE"));
                }
                parts.extend(statements);
                if commit {
                    parts.push(Sql::new("COMMIT"));
                }
                Sql::script(parts)
                    .fetch_all(Backend::Sqlite, &mut *self.conn)
                    .await
            }
            // Only inserts and nothing before: one statement is its own transaction,
            // within what one PostgreSQL statement may bind.
            Backend::Postgres
                if !self.begun
                    && commit
                    && statements.iter().map(Sql::arg_count).sum::<usize>() <= PG_MAX_BINDS =>
            {
                Sql::with_all(statements)
                    .fetch_all(Backend::Postgres, &mut *self.conn)
                    .await
            }
            Backend::Postgres => self.send_one_by_one(statements, commit).await,
        };
        // A failed statement ends the transaction (rolled back below).
        self.begun = !commit && result.is_ok();
        if result.is_err() {
            // A statement failed: those after it, COMMIT included, did not run.
            // Nothing of the transaction may stay behind on the pooled connection.
            if let Err(e) = self.conn.execute("ROLLBACK").await {
                tracing::debug!(error = %e, "rollback after a failed batch");
            }
        }
        result
    }

    /// Statements one after another in a transaction (what does not fit in one).
    async fn send_one_by_one(
        &mut self,
        statements: Vec<Sql>,
        commit: bool,
    ) -> StoreResult<Vec<AnyRow>> {
        if !self.begun {
            self.conn.execute("BEGIN").await.map_err(db_err)?;
        }
        let mut rows = Vec::new();
        for s in &statements {
            rows.extend(s.fetch_all(self.backend, &mut *self.conn).await?);
        }
        if commit {
            self.conn.execute("COMMIT").await.map_err(db_err)?;
        }
        Ok(rows)
    }
}

impl Drop for Batch {
    /// A batch dropped between two round trips (an error decoding the first one's
    /// rows, a cancelled task) has BEGIN sent and no COMMIT: its connection must not
    /// go back to the pool with the transaction open, where the next user would write
    /// inside it (and on SQLite keep the write lock). It is closed instead, which
    /// rolls the transaction back, and the pool opens another.
    fn drop(&mut self) {
        if self.begun {
            self.conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::statement::Sql;
    use super::super::SqlStore;
    use crate::store::Durability;

    #[tokio::test]
    async fn a_batch_dropped_half_way_leaves_no_transaction_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/batch.db", dir.path().display());
        // One connection: the next batch gets the same one back unless it was closed.
        let store = SqlStore::connect(&url, 1, Durability::Normal)
            .await
            .unwrap();
        store
            .execute(&Sql::new("CREATE TABLE t (x INTEGER)"))
            .await
            .unwrap();
        let mut half = store.batch().await.unwrap();
        half.run(vec![Sql::new("INSERT INTO t VALUES (1)")])
            .await
            .unwrap();
        drop(half);
        store
            .batch()
            .await
            .unwrap()
            .finish(vec![Sql::new("INSERT INTO t VALUES (2)")])
            .await
            .expect("a transaction of its own");
        let n = store
            .count(&Sql::new("SELECT COUNT(*) AS n FROM t"))
            .await
            .unwrap();
        assert_eq!(n, 1, "the dropped batch's insert was rolled back");
    }
}
