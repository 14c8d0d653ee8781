//! The PostgreSQL store: the production database. Row locks (`FOR UPDATE`) serialize audit-chain appends
//! across any number of backend processes. The SQL is the shared module `sql/` compiled for
//! [`sqlx::Postgres`].

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::MutexGuard;

use crate::dialect::Dialect;
use crate::{Result, StoreError};

pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) debounce: crate::queue::Debounce,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore> {
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
        Ok(PgStore {
            pool,
            debounce: Default::default(),
        })
    }

    /// The pool, for tests that need to reach under the trait (e.g. to simulate tampering).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        None
    }

    pub(crate) async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
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
