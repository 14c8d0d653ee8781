//! Audit-log entries, their filters and the chain verification report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditLogView {
    pub id: i64,
    /// `null` for platform-level events (a super admin's actions, failed logins of unknown accounts).
    pub organization_id: Option<i64>,
    pub actor_user_id: Option<i64>,
    pub actor_email: Option<String>,
    /// Dotted action name, e.g. `auth.login`, `team.create`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// SHA-256 (hex) of this entry chained to `prev_hash`.
    pub hash: String,
    pub prev_hash: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditLogQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    /// Exact action, e.g. `auth.login`.
    pub action: Option<String>,
    /// Actor user id.
    pub actor: Option<i64>,
    /// Resource type, e.g. `user`.
    pub resource: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// SUPER_ADMIN only: restrict to one organization.
    pub organization_id: Option<i64>,
}

/// Result of re-computing one chain of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditVerifyView {
    /// `null` for the platform chain.
    pub organization_id: Option<i64>,
    pub entries: i64,
    pub valid: bool,
    /// The first entry whose hash or link does not match, when `valid` is false.
    pub first_invalid_id: Option<i64>,
}
