//! Row types of the platform tables and their conversion to wire views (shared by both databases).

use chrono::{DateTime, Utc};
use dbpower_types::{
    ApiKeyView, AuditLogView, IdentityView, OrgSettings, OrganizationView, Role, TeamView, UserView,
};
use sqlx::types::Json;

use crate::{ApiKeyRecord, StoreError, UserRecord};

#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    id: i64,
    name: String,
    settings: Json<serde_json::Value>,
    retention_days: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<OrgRow> for OrganizationView {
    fn from(r: OrgRow) -> Self {
        // Settings written by this version always parse; older or hand-edited JSON falls back per field.
        let settings: OrgSettings = serde_json::from_value(r.settings.0).unwrap_or_default();
        OrganizationView {
            id: r.id,
            name: r.name,
            settings,
            retention_days: r.retention_days,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TeamRow {
    id: i64,
    organization_id: i64,
    name: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TeamRow> for TeamView {
    fn from(r: TeamRow) -> Self {
        TeamView {
            id: r.id,
            organization_id: r.organization_id,
            name: r.name,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IdentityRow {
    id: i64,
    organization_id: i64,
    team_id: i64,
    name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<IdentityRow> for IdentityView {
    fn from(r: IdentityRow) -> Self {
        IdentityView {
            id: r.id,
            organization_id: r.organization_id,
            team_id: r.team_id,
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    email: String,
    password_hash: String,
    full_name: Option<String>,
    role: String,
    organization_id: Option<i64>,
    team_id: Option<i64>,
    identity_id: Option<i64>,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_login_at: Option<DateTime<Utc>>,
    token_version: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let role = Role::parse(&r.role).ok_or_else(|| {
            StoreError::Corrupt(format!("user {} has unknown role {:?}", r.id, r.role))
        })?;
        Ok(UserRecord {
            view: UserView {
                id: r.id,
                email: r.email,
                full_name: r.full_name,
                role,
                organization_id: r.organization_id,
                team_id: r.team_id,
                identity_id: r.identity_id,
                is_active: r.is_active,
                created_at: r.created_at,
                updated_at: r.updated_at,
                last_login_at: r.last_login_at,
            },
            password_hash: r.password_hash,
            token_version: r.token_version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: i64,
    organization_id: i64,
    team_id: Option<i64>,
    identity_id: Option<i64>,
    key_id: String,
    name: String,
    secret_ciphertext: String,
    created_by: Option<i64>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKeyRecord {
    fn from(r: ApiKeyRow) -> Self {
        ApiKeyRecord {
            view: ApiKeyView {
                id: r.id,
                key_id: r.key_id,
                name: r.name,
                organization_id: r.organization_id,
                team_id: r.team_id,
                identity_id: r.identity_id,
                created_by: r.created_by,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                revoked_at: r.revoked_at,
            },
            secret_ciphertext: r.secret_ciphertext,
        }
    }
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
