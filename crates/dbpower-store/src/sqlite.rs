//! The SQLite store: the embedded default of `dbpower serve` (one file in the data directory, WAL mode).
//!
//! SQLite allows one writer at a time; read-then-write sequences (the audit chain append) are serialized
//! by an in-process lock instead of relying on busy retries. One process owns the file. The SQL is the
//! shared module `sql/` compiled for [`sqlx::Sqlite`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::dialect::Dialect;
use crate::{Result, StoreError};

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    write_lock: Mutex<()>,
    pub(crate) debounce: crate::queue::Debounce,
}

impl SqliteStore {
    /// One file, one pool: the heavy reads use it too.
    pub(crate) fn read_pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn replica_status(&self) -> Option<crate::ReplicaStatus> {
        None
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `sqlite:PATH`.
    pub async fn connect(url: &str) -> Result<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {url}: {e}")))?;
        Ok(SqliteStore {
            pool,
            write_lock: Mutex::new(()),
            debounce: Default::default(),
        })
    }

    /// The pool, for tests that need to reach under the trait (e.g. to simulate tampering).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) async fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        Some(self.write_lock.lock().await)
    }

    pub(crate) async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

/// The database the shared SQL of `sql/` is compiled for here.
type Db = sqlx::Sqlite;
/// The store type it implements the traits for.
type DbStore = SqliteStore;
const DIALECT: Dialect = crate::dialect::SQLITE;

// The same module as in `postgres.rs`, compiled for SQLite.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
