//! Store-side records: what the store takes to write and what it returns where the wire view would
//! hide something the server needs (password hashes, encrypted secrets).

use chrono::{DateTime, Utc};
use dbpower_types::{ApiKeyView, OrgSettings, Role, UserView};

#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub settings: OrgSettings,
    pub retention_days: i32,
}

#[derive(Debug, Clone, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub settings: Option<OrgSettings>,
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone, Default)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub full_name: Option<String>,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
}

/// A user row, including the password hash (never serialized: there is no Serialize impl).
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub view: UserView,
    pub password_hash: String,
    /// Access tokens of an older version are refused (see `end_access_tokens`).
    pub token_version: i64,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub full_name: Option<String>,
    pub role: Option<Role>,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub is_active: Option<bool>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key_id: String,
    pub name: String,
    pub secret_ciphertext: String,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub created_by: Option<i64>,
}

/// An api key row, including the encrypted signing secret.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub view: ApiKeyView,
    pub secret_ciphertext: String,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub jti: String,
    pub family_id: String,
    pub user_id: i64,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One audit event to append. The store stamps the time and the chain hashes.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub organization_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub actor_email: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
}

/// One slow query ready to store: already scrubbed and fingerprinted.
#[derive(Debug, Clone)]
pub struct NewSlowQuery {
    pub database_type: dbpower_types::DatabaseType,
    pub query_id: String,
    pub fingerprint: String,
    pub fingerprint_version: i32,
    pub sql_text: String,
    pub database_name: Option<String>,
    pub db_user: Option<String>,
    pub client_host: Option<String>,
    pub execution_time_ms: f64,
    pub lock_time_ms: Option<f64>,
    pub rows_examined: Option<i64>,
    pub rows_sent: Option<i64>,
    pub rows_affected: Option<i64>,
    pub calls: i64,
    pub observed_at: DateTime<Utc>,
    pub explain: Option<serde_json::Value>,
    pub schema: Option<serde_json::Value>,
    pub source: Option<String>,
}

/// A signed ingestion request: who sent it (from the api key, never the body) and what.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub api_key_id: i64,
    pub request_id: String,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub items: Vec<NewSlowQuery>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Stored ids in the order sent (on a replay: the ids stored the first time).
    pub ids: Vec<i64>,
    /// True when this request id was seen before and nothing new was stored.
    pub replayed: bool,
    /// Query classes seen for the first time (queued for analysis).
    pub new_classes: usize,
}

/// An analysis job claimed by a worker, with what the analyzer needs.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub organization_id: i64,
    pub class_id: i64,
    pub lease_token: String,
    pub attempts: i32,
    pub database_type: dbpower_types::DatabaseType,
    pub sample_sql: String,
    pub count: i64,
    pub total_time_ms: f64,
    pub max_time_ms: f64,
    pub rows_examined: i64,
    pub rows_sent: i64,
    pub lock_time_ms: f64,
    /// The newest EXPLAIN plan and schema snapshot stored for the class, if any.
    pub explain: Option<serde_json::Value>,
    pub schema: Option<serde_json::Value>,
    /// The organization's total query time, for the class's share of it.
    pub org_total_time_ms: f64,
}

/// An agent's newest heartbeat, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub api_key_id: i64,
    pub organization_id: i64,
    pub team_id: Option<i64>,
    pub heartbeat: serde_json::Value,
    pub last_seen: DateTime<Utc>,
}

/// One prompt sent to an LLM provider, as recorded for audit (the prompt's hash, never its text).
#[derive(Debug, Clone, PartialEq)]
pub struct NewLlmCall {
    pub provider: String,
    pub model: String,
    pub prompt_sha256: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: f64,
    pub outcome: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlmCallRecord {
    pub id: i64,
    pub organization_id: i64,
    pub class_id: Option<i64>,
    pub call: NewLlmCall,
    pub created_at: DateTime<Utc>,
}

/// A slow query row with the id of its class (for detail views).
#[derive(Debug, Clone)]
pub struct SlowQueryRecord {
    pub view: dbpower_types::SlowQueryView,
    pub class_id: i64,
    pub organization_id: i64,
    pub explain: Option<serde_json::Value>,
}

/// Raw dashboard numbers; the service turns them into the 7-day view.
#[derive(Debug, Clone)]
pub struct DashboardData {
    pub total_queries: i64,
    pub total_time_ms: f64,
    /// Analyzed classes in scope with at least one issue.
    pub issues: i64,
    /// Classes in scope whose analysis is CRITICAL.
    pub critical: i64,
    /// (UTC day as YYYY-MM-DD, queries, total time, queries of CRITICAL classes).
    pub days: Vec<(String, i64, f64, i64)>,
}

/// What ingestion needs to know about a signed request's api key.
#[derive(Debug, Clone)]
pub struct IngestCredential {
    pub key: crate::ApiKeyRecord,
    pub settings: dbpower_types::OrgSettings,
    /// The organization's retention: older executions are refused (they would be deleted at once).
    pub retention_days: i32,
}
