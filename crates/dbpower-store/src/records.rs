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
