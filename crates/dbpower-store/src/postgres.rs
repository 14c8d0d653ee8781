//! The PostgreSQL store: the production database. Row locks (`FOR UPDATE`) serialize audit-chain appends
//! across any number of backend processes.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::MutexGuard;

use crate::{Result, StoreError};

pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    pub(crate) const BACKEND: &'static str = "postgres";
    pub(crate) const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// Concurrent workers skip each other's claimed rows instead of waiting on them.
    pub(crate) const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    pub(crate) const LEAST: &'static str = "LEAST";
    pub(crate) const GREATEST: &'static str = "GREATEST";
    pub(crate) const ILIKE: &'static str = "ILIKE";
    pub(crate) const DAY_OF_HOUR: &'static str = "to_char(r.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')";

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
        Ok(PgStore { pool })
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

crate::common::store_impl!(PgStore, sqlx::Postgres);
