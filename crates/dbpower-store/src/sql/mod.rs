//! The SQL of every store trait, written once and compiled once per database: `sqlite.rs` and
//! `postgres.rs` include this module (`#[path]`) after defining `Db` (the sqlx database), `DbStore`
//! (their store type, with a `pool`, `write_guard` and `run_migrations`) and `DIALECT` (the fragments
//! that differ). Placeholders are `$n`, which SQLite accepts too.

mod advice;
mod agents;
mod alerts;
mod auth;
mod ingest;
mod llm_calls;
mod partitions;
mod queue;
mod reads;
mod reports;
mod tenants;

use async_trait::async_trait;

use super::{DIALECT, Db, DbStore};
use crate::{Result, Store, StoreError};

/// A connection of this database; inside a transaction `tx`, pass `&mut tx`.
type Conn = <Db as sqlx::Database>::Connection;

#[async_trait]
impl Store for DbStore {
    fn backend(&self) -> &'static str {
        DIALECT.backend
    }

    fn pool_stats(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    fn replica(&self) -> Option<crate::ReplicaStatus> {
        self.replica_status()
    }

    async fn migrate(&self) -> Result<()> {
        self.run_migrations().await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(())
    }
}
