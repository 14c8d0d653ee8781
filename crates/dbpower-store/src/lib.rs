//! The DBPower store: one [`Store`] trait, a PostgreSQL and a SQLite implementation, their migrations.
//!
//! Invariant: every tenant read takes a [`Scope`] and every tenant write takes an [`OrgId`]; the SQL that
//! confines a statement to the caller's tenant is generated here ([`scope_sql`]), never by a handler.
//! Another tenant's row is indistinguishable from a missing one ([`StoreError::NotFound`]).

pub mod audit;
mod auth_sql;
mod common;
mod ingest;
mod postgres;
mod queue;
mod reads;
pub mod records;
mod rows;
mod scope_sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, Scope};
use dbpower_types::{
    AnalysisReport, AnalysisView, AuditLogQuery, AuditLogView, AuditVerifyView, IdentityView,
    OrganizationView, QueryClassFilter, QueryClassView, SeriesPoint, SlowQueryFilter,
    SlowQueryView, TeamView,
};

pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;

/// What went wrong, in the store's terms; the HTTP layer decides what each means to a client.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in the caller's scope (including: it exists, but in another tenant).
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write; the string names what clashed.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A reference points at nothing in scope (e.g. a team id of another organization).
    #[error("invalid reference: {0}")]
    InvalidReference(String),
    /// The database could not be reached or refused to work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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

/// How a refresh token presented for rotation turned out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// The token was live and is now spent; issue the next one in `family_id`.
    Rotated { user_id: i64, family_id: String },
    /// The token had been spent already: a replay. Its whole family has now been revoked.
    Reused { user_id: i64 },
    /// Revoked, expired or unknown.
    Invalid,
}

/// The persistence contract of the platform. Both implementations pass the same conformance story
/// (`tests/it/story.rs`).
#[async_trait]
pub trait Store: AuthStore + IngestStore + ReadStore + QueueStore + Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Connections the pool holds open, and how many of them are idle (for metrics).
    fn pool_stats(&self) -> (u32, usize);
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;
    /// A round trip to the database (readiness).
    async fn ping(&self) -> Result<()>;

    // Organizations.
    async fn insert_organization(&self, new: &NewOrganization) -> Result<OrganizationView>;
    async fn organization_by_id(&self, scope: &Scope, id: i64) -> Result<OrganizationView>;
    async fn list_organizations(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<OrganizationView>, i64)>;
    async fn update_organization(
        &self,
        org: OrgId,
        patch: &OrganizationPatch,
    ) -> Result<OrganizationView>;
    async fn delete_organization(&self, org: OrgId) -> Result<()>;
    async fn organization_ids(&self) -> Result<Vec<i64>>;

    // Teams.
    async fn insert_team(
        &self,
        org: OrgId,
        name: &str,
        description: Option<&str>,
    ) -> Result<TeamView>;
    async fn team_by_id(&self, scope: &Scope, id: i64) -> Result<TeamView>;
    async fn list_teams(&self, scope: &Scope, page: PageRequest) -> Result<(Vec<TeamView>, i64)>;
    async fn update_team(&self, scope: &Scope, id: i64, patch: &TeamPatch) -> Result<TeamView>;
    async fn delete_team(&self, scope: &Scope, id: i64) -> Result<()>;

    // Identities.
    async fn insert_identity(&self, org: OrgId, team_id: i64, name: &str) -> Result<IdentityView>;
    async fn identity_by_id(&self, scope: &Scope, id: i64) -> Result<IdentityView>;
    async fn list_identities(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<IdentityView>, i64)>;
    async fn update_identity(&self, scope: &Scope, id: i64, name: &str) -> Result<IdentityView>;
    async fn delete_identity(&self, scope: &Scope, id: i64) -> Result<()>;

    // Users.
    async fn count_users(&self) -> Result<i64>;
    async fn insert_user(&self, new: &NewUser) -> Result<UserRecord>;
    /// Login lookup: the one unscoped user read, by the globally unique email.
    async fn user_for_login(&self, email: &str) -> Result<UserRecord>;
    async fn user_by_id(&self, scope: &Scope, id: i64) -> Result<UserRecord>;
    async fn list_users(&self, scope: &Scope, page: PageRequest) -> Result<(Vec<UserRecord>, i64)>;
    async fn update_user(&self, scope: &Scope, id: i64, patch: &UserPatch) -> Result<UserRecord>;
    async fn delete_user(&self, scope: &Scope, id: i64) -> Result<()>;
    async fn touch_last_login(&self, user_id: i64) -> Result<()>;

    // Api keys.
    async fn insert_api_key(&self, org: OrgId, new: &NewApiKey) -> Result<ApiKeyRecord>;
    async fn list_api_keys(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<ApiKeyRecord>, i64)>;
    async fn api_key_by_id(&self, scope: &Scope, id: i64) -> Result<ApiKeyRecord>;
    /// The agent-authentication lookup by public key id (revoked keys included; the caller checks).
    async fn api_key_by_key_id(&self, key_id: &str) -> Result<ApiKeyRecord>;
    async fn revoke_api_key(&self, scope: &Scope, id: i64) -> Result<ApiKeyRecord>;
}

/// Refresh tokens and the audit log (a supertrait of [`Store`]).
#[async_trait]
pub trait AuthStore: Send + Sync {
    // Refresh tokens.
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<()>;
    /// Atomically spends a refresh token; a second use revokes its family.
    async fn use_refresh_token(&self, jti: &str) -> Result<RefreshUse>;
    /// Revokes the family of the given token, if it belongs to `user_id`. Returns how many were revoked.
    async fn revoke_refresh_family_of(&self, user_id: i64, jti: &str) -> Result<u64>;
    async fn revoke_user_refresh_tokens(&self, user_id: i64) -> Result<u64>;
    /// Ends every access token issued to the user so far (bumps the user's token version).
    async fn end_access_tokens(&self, user_id: i64) -> Result<()>;

    // Audit log.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditLogView>;
    async fn list_audit(
        &self,
        scope: &Scope,
        query: &AuditLogQuery,
        page: PageRequest,
    ) -> Result<(Vec<AuditLogView>, i64)>;
    /// Re-computes the hash chain of one organization (`None`: the platform chain).
    async fn verify_audit_chain(&self, organization_id: Option<i64>) -> Result<AuditVerifyView>;
}

/// Ingestion and retention (a supertrait of [`Store`]).
#[async_trait]
pub trait IngestStore: Send + Sync {
    // Ingestion and read models.
    /// Stores a scrubbed, fingerprinted batch in one transaction; a request id seen before for the same
    /// key stores nothing and returns the first outcome.
    async fn ingest(&self, org: OrgId, batch: &NewBatch) -> Result<IngestOutcome> {
        let mut out = self
            .ingest_many(std::slice::from_ref(&(org, batch.clone())))
            .await?;
        out.pop()
            .unwrap_or_else(|| Err(StoreError::Corrupt("no outcome".into())))
    }
    /// The api key with this public id and its organization's settings and retention, in one round trip
    /// (ingestion's per-request lookup).
    async fn ingest_credential(&self, key_id: &str) -> Result<IngestCredential>;
    /// Stores several batches in one transaction (group commit); one result per batch, in order.
    async fn ingest_many(
        &self,
        batches: &[(OrgId, NewBatch)],
    ) -> Result<Vec<Result<IngestOutcome>>>;
    // Retention.
    async fn delete_slow_queries_before(&self, org: OrgId, cutoff: DateTime<Utc>) -> Result<u64>;
    async fn prune_ingest_requests(&self, before: DateTime<Utc>) -> Result<u64>;
}

/// Filtered slow-query lists that the rollups cannot count are counted up to this many rows.
pub const COUNT_CAP: i64 = 10_000;

/// Read models over ingested data (a supertrait of [`Store`]).
#[async_trait]
pub trait ReadStore: Send + Sync {
    async fn list_slow_queries(
        &self,
        scope: &Scope,
        filter: &SlowQueryFilter,
        page: PageRequest,
    ) -> Result<(Vec<SlowQueryView>, i64)>;
    async fn slow_query_by_id(&self, scope: &Scope, id: i64) -> Result<SlowQueryRecord>;
    /// A class by id as `scope` sees it (call with an id obtained through a scoped read). ORG_ADMIN and
    /// SUPER_ADMIN see the organization's class; a team or an identity sees only its own part: the
    /// newest of its statements as the sample, its databases, its count and times from its rollups, null
    /// for the statistics kept only per class, and the severity only when no other owner has rows in it.
    async fn query_class_by_id(&self, scope: &Scope, class_id: i64) -> Result<QueryClassView>;
    /// The id of the class with this query id that the scope can see.
    async fn query_class_id(&self, scope: &Scope, query_id: &str) -> Result<i64>;
    /// The classes `scope` can see, each as [`ReadStore::query_class_by_id`] shows it; filters and sorts
    /// apply to what is shown (per-scope totals for a team or an identity).
    async fn list_query_classes(
        &self,
        scope: &Scope,
        filter: &QueryClassFilter,
        page: PageRequest,
    ) -> Result<(Vec<QueryClassView>, i64)>;
    async fn class_series(
        &self,
        scope: &Scope,
        class_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<SeriesPoint>>;
    /// The class's analysis, derived from its shared sample: a team or an identity sees it only when the
    /// class has no rows of another owner (`None` otherwise).
    async fn analysis_for_class(
        &self,
        scope: &Scope,
        class_id: i64,
    ) -> Result<Option<AnalysisView>>;
    async fn dashboard(&self, scope: &Scope, since: DateTime<Utc>) -> Result<DashboardData>;
}

/// The analysis queue (a supertrait of [`Store`]).
#[async_trait]
pub trait QueueStore: Send + Sync {
    async fn enqueue_analysis(&self, org: OrgId, class_id: i64, reason: &str) -> Result<()>;
    /// Claims up to `limit` jobs (queued, or running with an expired lease) for `lease`.
    async fn claim_jobs(&self, limit: i64, lease: std::time::Duration) -> Result<Vec<ClaimedJob>>;
    /// Stores the result if the job's lease is still this worker's; false when it was lost.
    async fn complete_job(&self, job: &ClaimedJob, report: &AnalysisReport) -> Result<bool>;
    async fn fail_job(&self, job: &ClaimedJob, error: &str) -> Result<()>;
    async fn queue_depth(&self) -> Result<i64>;
    /// Records prompts sent to LLM providers for an organization's analyses.
    /// Stores an agent's newest heartbeat (one agent per api key; attribution from the key).
    async fn record_heartbeat(
        &self,
        key: &dbpower_types::ApiKeyView,
        heartbeat: &serde_json::Value,
    ) -> Result<()>;
    /// Agents visible in `scope`, with their newest heartbeat and when it arrived.
    async fn list_agents(&self, scope: &Scope) -> Result<Vec<AgentRecord>>;
    async fn record_llm_calls(
        &self,
        org: OrgId,
        class_id: Option<i64>,
        calls: &[NewLlmCall],
    ) -> Result<()>;
    /// The newest recorded LLM calls visible in `scope` (organization level only).
    async fn llm_calls(&self, scope: &Scope, limit: i64) -> Result<Vec<LlmCallRecord>>;
}

/// A job whose lease expired this many times is marked failed.
pub const MAX_JOB_ATTEMPTS: i32 = 5;

/// Opens the store named by the URL's scheme (`sqlite:` or `postgres:`/`postgresql:`).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(PgStore::connect(url).await?))
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

/// Maps driver errors on writes to [`StoreError`]: unique violations become conflicts, foreign-key
/// violations invalid references.
pub(crate) fn write_error(e: sqlx::Error, what: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(format!("{what} already exists"));
        }
        if db.is_foreign_key_violation() {
            return StoreError::InvalidReference(format!(
                "{what} refers to something that does not exist"
            ));
        }
    }
    StoreError::Database(e)
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
/// Used by `dbpower migrate --create-database` and by the test suites (a fresh database per run).
pub async fn create_postgres_database(server_url: &str, name: &str) -> Result<String> {
    use sqlx::Connection;
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::InvalidReference(format!(
            "database name {name:?}: use [A-Za-z0-9_]"
        )));
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
fn replace_database(url: &str, name: &str) -> String {
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
