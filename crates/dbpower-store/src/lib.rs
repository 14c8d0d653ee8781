//! The DBPower store: one [`Store`] trait, a PostgreSQL and a SQLite implementation, their migrations.
//!
//! Invariant: every tenant read takes a [`Scope`](dbpower_core::Scope) and every tenant write takes an
//! [`OrgId`](dbpower_core::OrgId); the SQL that confines a statement to the caller's tenant is generated
//! here ([`scope_sql`]), never by a handler. Another tenant's row is indistinguishable from a missing one
//! ([`StoreError::NotFound`]).
//!
//! Layout: one file per concern holds its trait, the records it takes and returns, and the rows it reads
//! (`tenants.rs`, `auth.rs`, `ingest.rs`, `reads.rs`, `queue.rs`, `agents.rs`, `llm_calls.rs`). The SQL
//! that implements them is written once in `sql/` and compiled once per database: `sqlite.rs` and
//! `postgres.rs` each include that module with their own `Db` type and [`dialect`] (the few fragments
//! that differ).

mod advice;
mod agents;
mod alerts;
pub mod audit;
mod auth;
mod dialect;
mod error;
mod ingest;
mod llm_calls;
mod postgres;
mod queue;
mod reads;
mod replica;
mod reports;
mod scope_sql;
mod sqlite;
mod tenants;

use std::sync::Arc;

use async_trait::async_trait;

pub use advice::{
    AdviceInputs, AdviceStore, MAX_VALIDATION_ATTEMPTS, MAX_VALIDATIONS_PER_CLASS,
    VALIDATION_LEASE_SECS,
};
pub use agents::{AgentRecord, AgentStore};
pub use alerts::{
    AlertFilter, AlertStore, ChannelPatch, ChannelPublic, ChannelRecord, ClaimedDelivery,
    DeliveryOutcome, EvalData, EvalOutcome, EvalWindow, EventFilter, Firing, MAX_COMPARE_CLASSES,
    NewChannel, NewEvent, NewRule, PlanSide, PlanSwitch, RowSums, RulePatch, SeriesRow, SideSums,
    WindowClass,
};
pub use auth::{AuthStore, NewAuditEntry, NewRefreshToken, RefreshUse};
pub use error::{DriverError, Entity, Reference, Result, StoreError};
pub use ingest::{
    DroppedPartition, IngestCredential, IngestOutcome, IngestStore, NewBatch, NewSlowQuery,
};
pub use llm_calls::{LlmCallRecord, LlmCallStore, NewLlmCall};
pub use postgres::PgStore;
pub use queue::{ClaimedJob, MAX_ANALYSIS_DEBOUNCE, MAX_JOB_ATTEMPTS, QueueStore};
pub use reads::{
    COUNT_CAP, ClassLookup, ClassRef, DashboardData, ReadStore, SlowQueryRecord, Total,
};
pub use replica::{ReplicaConfig, ReplicaStatus};
pub use reports::{DueReport, ReportStore};
pub use sqlite::SqliteStore;
pub use tenants::{
    ApiKeyRecord, NewApiKey, NewOrganization, NewUser, OrganizationPatch, TeamPatch, TenantStore,
    UserPatch, UserRecord,
};

/// Offset pagination already validated by the caller (page >= 1, per_page >= 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub per_page: u32,
}

impl PageRequest {
    pub fn offset(self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.per_page)
    }
    pub fn limit(self) -> i64 {
        i64::from(self.per_page)
    }
}

/// The persistence contract of the platform: one supertrait per concern. Both implementations pass the
/// same conformance story (`tests/it/story.rs`).
#[async_trait]
pub trait Store:
    TenantStore
    + AuthStore
    + IngestStore
    + ReadStore
    + QueueStore
    + AgentStore
    + LlmCallStore
    + AlertStore
    + ReportStore
    + AdviceStore
    + Send
    + Sync
    + 'static
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Connections the pool holds open, and how many of them are idle (for metrics).
    fn pool_stats(&self) -> (u32, usize);
    /// The read replica's state, when one is configured.
    fn replica(&self) -> Option<ReplicaStatus>;
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// A round trip to the database (readiness).
    async fn ping(&self) -> Result<()>;
}

/// Current time at the precision both databases store.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    audit::stamp(chrono::Utc::now())
}

/// One row or [`StoreError::NotFound`].
pub(crate) fn one<T>(row: Option<T>) -> Result<T> {
    row.ok_or(StoreError::NotFound)
}

/// Opens the store named by the URL's scheme (`sqlite:` or `postgres:`/`postgresql:`).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    connect_with(url, None).await
}

/// [`connect`], with a PostgreSQL streaming replica for the heavy reads (refused for SQLite).
pub async fn connect_with(url: &str, replica: Option<&ReplicaConfig>) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        if replica.is_some() {
            return Err(StoreError::Unavailable(
                "a read replica (database_read_url) needs a PostgreSQL database_url".into(),
            ));
        }
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::connect_with(url, replica).await?))
    } else {
        Err(StoreError::Unavailable(format!(
            "unsupported database URL scheme in {:?}: use sqlite:PATH or postgres://...",
            redact_url(url)
        )))
    }
}

/// A URL safe to print: any password is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("sqlite:./x.db"), "sqlite:./x.db");
    }

    #[test]
    fn page_offsets() {
        let p = PageRequest {
            page: 3,
            per_page: 20,
        };
        assert_eq!((p.offset(), p.limit()), (40, 20));
    }
}

/// Creates an empty PostgreSQL database `name` on the server at `server_url` and returns its URL.
/// Used by the test suites (a fresh database per run).
pub async fn create_postgres_database(server_url: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::InvalidDatabaseName(name.to_string()));
    }
    let mut conn = sqlx::PgConnection::connect(server_url).await.map_err(|e| {
        StoreError::Unavailable(format!("cannot connect to {}: {e}", redact_url(server_url)))
    })?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(replace_database(server_url, name))
}

/// Drops a database made by [`create_postgres_database`], disconnecting its sessions.
pub async fn drop_postgres_database(server_url: &str, name: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server_url).await.map_err(|e| {
        StoreError::Unavailable(format!("cannot connect to {}: {e}", redact_url(server_url)))
    })?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// `postgres://u@h:5432/old?x=y` with the database path replaced by `name`.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod url_tests {
    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            super::replace_database("postgres://u@h:5432/x", "y"),
            "postgres://u@h:5432/y"
        );
        assert_eq!(
            super::replace_database("postgres://u@h", "y"),
            "postgres://u@h/y"
        );
        assert_eq!(
            super::replace_database("postgres://h/x?sslmode=disable", "y"),
            "postgres://h/y?sslmode=disable"
        );
    }
}
