//! Sessions and the audit log: refresh tokens and the hash-chained audit entries. The [`AuthStore`]
//! trait, its records and the audit row (the chain's hashing is in [`crate::audit`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::Scope;
use dbpower_types::{AuditLogQuery, AuditLogView, AuditVerifyView};
use sqlx::types::Json;

use crate::{PageRequest, Result};

/// Refresh tokens and the audit log (a supertrait of [`crate::Store`]).
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

pub(crate) const AUDIT_COLS: &str = "id, organization_id, actor_user_id, actor_email, action, \
     resource_type, resource_id, outcome, request_id, ip, details, created_at, prev_hash, hash";

/// A refresh token's owner and family, and when it was spent (if it was).
#[derive(sqlx::FromRow)]
pub(crate) struct RefreshTokenRow {
    pub user_id: i64,
    pub family_id: String,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: i64,
    organization_id: Option<i64>,
    actor_user_id: Option<i64>,
    actor_email: Option<String>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    outcome: String,
    request_id: Option<String>,
    ip: Option<String>,
    details: Json<serde_json::Value>,
    created_at: DateTime<Utc>,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditLogView {
    fn from(r: AuditRow) -> Self {
        AuditLogView {
            id: r.id,
            organization_id: r.organization_id,
            actor_user_id: r.actor_user_id,
            actor_email: r.actor_email,
            action: r.action,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            outcome: r.outcome,
            request_id: r.request_id,
            ip: r.ip,
            details: r.details.0,
            created_at: r.created_at,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}
