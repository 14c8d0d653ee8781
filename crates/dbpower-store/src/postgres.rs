//! The PostgreSQL store: the production database. Row locks (`FOR UPDATE`) serialize audit-chain appends
//! across any number of backend processes. The SQL is the shared module `sql/` compiled for
//! [`sqlx::Postgres`].

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::MutexGuard;

use crate::dialect::Dialect;
use crate::replica::{Replica, ReplicaConfig, ReplicaStatus};
use crate::{Result, StoreError};

/// The advisory lock key migrations hold (`"dbpower\0"` read as a big-endian integer).
const MIGRATION_LOCK: i64 = 0x6462_706f_7765_7200;

pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) debounce: crate::queue::Debounce,
    replica: Option<Arc<Replica>>,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore> {
        PgStore::connect_with(url, None).await
    }

    /// The primary at `url`, and a streaming replica for the heavy reads when one is configured.
    pub async fn connect_with(url: &str, replica: Option<&ReplicaConfig>) -> Result<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot connect to {}: {e}",
                    crate::redact_url(url)
                ))
            })?;
        let replica = replica.map(|r| Replica::start(r, &pool)).transpose()?;
        Ok(PgStore {
            pool,
            debounce: Default::default(),
            replica,
        })
    }

    /// The pool the heavy reads use: the replica while it is in use, else the primary.
    pub(crate) fn read_pool(&self) -> &PgPool {
        match &self.replica {
            Some(r) if r.in_use() => &r.pool,
            _ => &self.pool,
        }
    }

    pub(crate) fn replica_status(&self) -> Option<ReplicaStatus> {
        self.replica.as_ref().map(|r| r.status())
    }

    /// The pool, for tests that need to reach under the trait (e.g. to simulate tampering).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        None
    }

    /// Applies the pending migrations in one transaction that holds a transaction-scoped advisory
    /// lock: processes starting together apply them once, and, unlike the migrator's own session lock,
    /// the lock cannot stay behind on a server connection that PgBouncer (transaction mode) hands to
    /// another client.
    pub(crate) async fn run_migrations(&self) -> Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // All of them run in one transaction, so none may need to run outside one.
        if let Some(m) = migrator.iter().find(|m| m.no_tx) {
            return Err(StoreError::Unavailable(format!(
                "migration {} must run outside a transaction, which this runner does not do",
                m.version
            )));
        }
        migrator.set_locking(false);
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        // `run_direct`: `run` on a transaction trips the compiler's "Acquire is not general enough"
        migrator.run_direct(None, &mut *tx, false).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The database the shared SQL of `sql/` is compiled for here.
type Db = sqlx::Postgres;
/// The store type it implements the traits for.
type DbStore = PgStore;
const DIALECT: Dialect = crate::dialect::POSTGRES;

// The same module as in `sqlite.rs`, compiled for PostgreSQL.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;
