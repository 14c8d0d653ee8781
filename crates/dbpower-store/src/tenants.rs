//! Tenants and people: organizations, teams, identities, users and api keys. The [`TenantStore`]
//! trait, the records it takes and returns, and the rows it reads (shared by both databases).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, Scope};
use dbpower_types::{
    ApiKeyView, IdentityView, OrgSettings, OrganizationView, Role, TeamView, UserView,
};
use sqlx::types::Json;

use crate::scope_sql::Table;
use crate::{PageRequest, Result, StoreError};

/// Organizations, teams, identities, users and api keys (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait TenantStore: Send + Sync {
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
    /// Login lookup, the one unscoped user read: the account with `email` in the organization named
    /// `organization`, or the platform account (no organization) with `email` when it is `None`.
    /// E-mail addresses are unique per organization (and among platform accounts), never across
    /// organizations, so what one organization creates says nothing about another's accounts.
    async fn user_for_login(&self, email: &str, organization: Option<&str>) -> Result<UserRecord>;
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

/// A tenant table: its name, the columns its row type reads, and its tenant columns.
pub(crate) struct TenantTable {
    pub name: &'static str,
    pub cols: &'static str,
    pub kind: Table,
}

pub(crate) const ORGANIZATIONS: TenantTable = TenantTable {
    name: "organizations",
    cols: ORG_COLS,
    kind: Table::Organizations,
};
pub(crate) const TEAMS: TenantTable = TenantTable {
    name: "teams",
    cols: TEAM_COLS,
    kind: Table::Teams,
};
pub(crate) const IDENTITIES: TenantTable = TenantTable {
    name: "identities",
    cols: IDENTITY_COLS,
    kind: Table::Identities,
};
pub(crate) const USERS: TenantTable = TenantTable {
    name: "users",
    cols: USER_COLS,
    kind: Table::Users,
};
pub(crate) const API_KEYS: TenantTable = TenantTable {
    name: "api_keys",
    cols: API_KEY_COLS,
    kind: Table::ApiKeys,
};

pub(crate) const ORG_COLS: &str = "id, name, settings, retention_days, created_at, updated_at";
pub(crate) const TEAM_COLS: &str = "id, organization_id, name, description, created_at, updated_at";
pub(crate) const IDENTITY_COLS: &str = "id, organization_id, team_id, name, created_at, updated_at";
pub(crate) const USER_COLS: &str = "id, email, password_hash, full_name, role, organization_id, \
     team_id, identity_id, is_active, created_at, updated_at, last_login_at, token_version";
pub(crate) const API_KEY_COLS: &str = "id, organization_id, team_id, identity_id, key_id, name, \
     secret_ciphertext, created_by, created_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct OrgRow {
    pub(crate) id: i64,
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
