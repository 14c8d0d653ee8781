//! The SQL both databases share, written once. `store_impl!` expands the whole [`crate::Store`] impl
//! for a store type with a `pool` field; the few dialect differences are associated items each store
//! type defines (`FOR_UPDATE`, `write_guard`, `run_migrations`).

use chrono::{DateTime, Utc};
use dbpower_types::{
    ApiKeyView, AuditLogView, IdentityView, OrgSettings, OrganizationView, Role, TeamView, UserView,
};
use sqlx::types::Json;

use crate::{ApiKeyRecord, StoreError, UserRecord};

pub(crate) const ORG_COLS: &str = "id, name, settings, retention_days, created_at, updated_at";
pub(crate) const TEAM_COLS: &str = "id, organization_id, name, description, created_at, updated_at";
pub(crate) const IDENTITY_COLS: &str = "id, organization_id, team_id, name, created_at, updated_at";
pub(crate) const USER_COLS: &str = "id, email, password_hash, full_name, role, organization_id, team_id, \
     identity_id, is_active, created_at, updated_at, last_login_at";
pub(crate) const API_KEY_COLS: &str = "id, organization_id, team_id, identity_id, key_id, name, \
     secret_ciphertext, created_by, created_at, last_used_at, revoked_at";
pub(crate) const AUDIT_COLS: &str = "id, organization_id, actor_user_id, actor_email, action, resource_type, \
     resource_id, outcome, request_id, ip, details, created_at, prev_hash, hash";

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

/// Current time at the precision both databases store.
pub(crate) fn now() -> DateTime<Utc> {
    crate::audit::stamp(Utc::now())
}

/// One row or [`StoreError::NotFound`].
pub(crate) fn one<T>(row: Option<T>) -> Result<T, StoreError> {
    row.ok_or(StoreError::NotFound)
}

/// Expands `impl Store for $ty` with the shared SQL. Placeholders are `$n`, which SQLite accepts too.
macro_rules! store_impl {
    ($ty:ty, $db:ty) => {
        $crate::ingest::ingest_impl!($ty, $db);

        #[async_trait::async_trait]
        impl $crate::Store for $ty {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            async fn migrate(&self) -> $crate::Result<()> {
                self.run_migrations().await
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(|e| $crate::StoreError::Unavailable(e.to_string()))?;
                Ok(())
            }

            // ---- organizations ----

            async fn insert_organization(
                &self,
                new: &$crate::NewOrganization,
            ) -> $crate::Result<dbpower_types::OrganizationView> {
                let now = $crate::common::now();
                let settings = serde_json::to_value(&new.settings).map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?;
                let sql = format!(
                    "INSERT INTO organizations (name, settings, retention_days, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING {}",
                    $crate::common::ORG_COLS
                );
                let row: $crate::common::OrgRow = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&new.name)
                    .bind(sqlx::types::Json(settings))
                    .bind(new.retention_days)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "an organization with this name"))?;
                Ok(row.into())
            }

            async fn organization_by_id(
                &self,
                scope: &dbpower_core::Scope,
                id: i64,
            ) -> $crate::Result<dbpower_types::OrganizationView> {
                let sql = format!(
                    "SELECT {} FROM organizations WHERE id = $1 AND {}",
                    $crate::common::ORG_COLS,
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Organizations)
                );
                let row: Option<$crate::common::OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn list_organizations(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<dbpower_types::OrganizationView>, i64)> {
                let pred = $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Organizations);
                let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM organizations WHERE {pred}")))
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!(
                    "SELECT {} FROM organizations WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2",
                    $crate::common::ORG_COLS
                );
                let rows: Vec<$crate::common::OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }

            async fn update_organization(
                &self,
                org: dbpower_core::OrgId,
                patch: &$crate::OrganizationPatch,
            ) -> $crate::Result<dbpower_types::OrganizationView> {
                let settings = match &patch.settings {
                    Some(s) => Some(sqlx::types::Json(
                        serde_json::to_value(s).map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?,
                    )),
                    None => None,
                };
                let sql = format!(
                    "UPDATE organizations SET name = COALESCE($2, name), settings = COALESCE($3, settings), \
                     retention_days = COALESCE($4, retention_days), updated_at = $5 WHERE id = $1 RETURNING {}",
                    $crate::common::ORG_COLS
                );
                let row: Option<$crate::common::OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(org.get())
                    .bind(patch.name.as_deref())
                    .bind(settings)
                    .bind(patch.retention_days)
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "an organization with this name"))?;
                Ok($crate::common::one(row)?.into())
            }

            async fn delete_organization(&self, org: dbpower_core::OrgId) -> $crate::Result<()> {
                let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
                    .bind(org.get())
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn organization_ids(&self) -> $crate::Result<Vec<i64>> {
                Ok(sqlx::query_scalar("SELECT id FROM organizations ORDER BY id").fetch_all(&self.pool).await?)
            }

            // ---- teams ----

            async fn insert_team(
                &self,
                org: dbpower_core::OrgId,
                name: &str,
                description: Option<&str>,
            ) -> $crate::Result<dbpower_types::TeamView> {
                let sql = format!(
                    "INSERT INTO teams (organization_id, name, description, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING {}",
                    $crate::common::TEAM_COLS
                );
                let row: $crate::common::TeamRow = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(org.get())
                    .bind(name)
                    .bind(description)
                    .bind($crate::common::now())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "a team with this name"))?;
                Ok(row.into())
            }

            async fn team_by_id(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<dbpower_types::TeamView> {
                let sql = format!(
                    "SELECT {} FROM teams WHERE id = $1 AND {}",
                    $crate::common::TEAM_COLS,
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Teams)
                );
                let row: Option<$crate::common::TeamRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn list_teams(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<dbpower_types::TeamView>, i64)> {
                let pred = $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Teams);
                let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM teams WHERE {pred}")))
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!(
                    "SELECT {} FROM teams WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2",
                    $crate::common::TEAM_COLS
                );
                let rows: Vec<$crate::common::TeamRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }

            async fn update_team(
                &self,
                scope: &dbpower_core::Scope,
                id: i64,
                patch: &$crate::TeamPatch,
            ) -> $crate::Result<dbpower_types::TeamView> {
                let sql = format!(
                    "UPDATE teams SET name = COALESCE($2, name), description = COALESCE($3, description), \
                     updated_at = $4 WHERE id = $1 AND {} RETURNING {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Teams),
                    $crate::common::TEAM_COLS
                );
                let row: Option<$crate::common::TeamRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .bind(patch.name.as_deref())
                    .bind(patch.description.as_deref())
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "a team with this name"))?;
                Ok($crate::common::one(row)?.into())
            }

            async fn delete_team(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<()> {
                let sql = format!(
                    "DELETE FROM teams WHERE id = $1 AND {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Teams)
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).execute(&self.pool).await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            // ---- identities ----

            async fn insert_identity(
                &self,
                org: dbpower_core::OrgId,
                team_id: i64,
                name: &str,
            ) -> $crate::Result<dbpower_types::IdentityView> {
                // The team must belong to the same organization: a foreign team id reads as "no such team".
                let sql = format!(
                    "INSERT INTO identities (organization_id, team_id, name, created_at, updated_at) \
                     SELECT $1, id, $3, $4, $4 FROM teams WHERE id = $2 AND organization_id = $1 RETURNING {}",
                    $crate::common::IDENTITY_COLS
                );
                let row: Option<$crate::common::IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(org.get())
                    .bind(team_id)
                    .bind(name)
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "an identity with this name"))?;
                row.map(Into::into)
                    .ok_or_else(|| $crate::StoreError::InvalidReference("team_id: no such team".into()))
            }

            async fn identity_by_id(
                &self,
                scope: &dbpower_core::Scope,
                id: i64,
            ) -> $crate::Result<dbpower_types::IdentityView> {
                let sql = format!(
                    "SELECT {} FROM identities WHERE id = $1 AND {}",
                    $crate::common::IDENTITY_COLS,
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Identities)
                );
                let row: Option<$crate::common::IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn list_identities(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<dbpower_types::IdentityView>, i64)> {
                let pred = $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Identities);
                let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM identities WHERE {pred}")))
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!(
                    "SELECT {} FROM identities WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2",
                    $crate::common::IDENTITY_COLS
                );
                let rows: Vec<$crate::common::IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }

            async fn update_identity(
                &self,
                scope: &dbpower_core::Scope,
                id: i64,
                name: &str,
            ) -> $crate::Result<dbpower_types::IdentityView> {
                let sql = format!(
                    "UPDATE identities SET name = $2, updated_at = $3 WHERE id = $1 AND {} RETURNING {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Identities),
                    $crate::common::IDENTITY_COLS
                );
                let row: Option<$crate::common::IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .bind(name)
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "an identity with this name"))?;
                Ok($crate::common::one(row)?.into())
            }

            async fn delete_identity(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<()> {
                let sql = format!(
                    "DELETE FROM identities WHERE id = $1 AND {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Identities)
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).execute(&self.pool).await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            // ---- users ----

            async fn count_users(&self) -> $crate::Result<i64> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
            }

            async fn insert_user(&self, new: &$crate::NewUser) -> $crate::Result<$crate::UserRecord> {
                // Team and identity must belong to the user's organization (checked in the same statement).
                let sql = format!(
                    "INSERT INTO users (email, password_hash, full_name, role, organization_id, team_id, \
                     identity_id, is_active, created_at, updated_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, TRUE, $8, $8 WHERE \
                     ($6 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $6 AND organization_id = $5)) AND \
                     ($7 IS NULL OR EXISTS (SELECT 1 FROM identities WHERE id = $7 AND organization_id = $5)) \
                     RETURNING {}",
                    $crate::common::USER_COLS
                );
                let row: Option<$crate::common::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(&new.email)
                    .bind(&new.password_hash)
                    .bind(new.full_name.as_deref())
                    .bind(new.role.as_str())
                    .bind(new.organization_id)
                    .bind(new.team_id)
                    .bind(new.identity_id)
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "a user with this email"))?;
                match row {
                    Some(r) => r.try_into(),
                    None => Err($crate::StoreError::InvalidReference(
                        "team_id or identity_id: not in this organization".into(),
                    )),
                }
            }

            async fn user_for_login(&self, email: &str) -> $crate::Result<$crate::UserRecord> {
                let sql = format!("SELECT {} FROM users WHERE email = $1", $crate::common::USER_COLS);
                let row: Option<$crate::common::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(email).fetch_optional(&self.pool).await?;
                $crate::common::one(row)?.try_into()
            }

            async fn user_by_id(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::UserRecord> {
                let sql = format!(
                    "SELECT {} FROM users WHERE id = $1 AND {}",
                    $crate::common::USER_COLS,
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Users)
                );
                let row: Option<$crate::common::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                $crate::common::one(row)?.try_into()
            }

            async fn list_users(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<$crate::UserRecord>, i64)> {
                let pred = $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Users);
                let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM users WHERE {pred}")))
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!(
                    "SELECT {} FROM users WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2",
                    $crate::common::USER_COLS
                );
                let rows: Vec<$crate::common::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?;
                let users = rows.into_iter().map(TryInto::try_into).collect::<$crate::Result<Vec<_>>>()?;
                Ok((users, total))
            }

            async fn update_user(
                &self,
                scope: &dbpower_core::Scope,
                id: i64,
                patch: &$crate::UserPatch,
            ) -> $crate::Result<$crate::UserRecord> {
                let sql = format!(
                    "UPDATE users SET full_name = COALESCE($2, full_name), role = COALESCE($3, role), \
                     team_id = COALESCE($4, team_id), identity_id = COALESCE($5, identity_id), \
                     is_active = COALESCE($6, is_active), password_hash = COALESCE($7, password_hash), \
                     updated_at = $8 WHERE id = $1 AND {} AND \
                     ($4 IS NULL OR EXISTS (SELECT 1 FROM teams t WHERE t.id = $4 AND t.organization_id = users.organization_id)) AND \
                     ($5 IS NULL OR EXISTS (SELECT 1 FROM identities i WHERE i.id = $5 AND i.organization_id = users.organization_id)) \
                     RETURNING {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Users),
                    $crate::common::USER_COLS
                );
                let row: Option<$crate::common::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .bind(patch.full_name.as_deref())
                    .bind(patch.role.map(|r| r.as_str()))
                    .bind(patch.team_id)
                    .bind(patch.identity_id)
                    .bind(patch.is_active)
                    .bind(patch.password_hash.as_deref())
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(r) => r.try_into(),
                    None => {
                        // Distinguish "no such user in scope" from "bad team/identity reference".
                        self.user_by_id(scope, id).await?;
                        Err($crate::StoreError::InvalidReference(
                            "team_id or identity_id: not in this organization".into(),
                        ))
                    }
                }
            }

            async fn delete_user(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<()> {
                let sql = format!(
                    "DELETE FROM users WHERE id = $1 AND {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Users)
                );
                let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).execute(&self.pool).await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn touch_last_login(&self, user_id: i64) -> $crate::Result<()> {
                sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind($crate::common::now())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            // ---- api keys ----

            async fn insert_api_key(
                &self,
                org: dbpower_core::OrgId,
                new: &$crate::NewApiKey,
            ) -> $crate::Result<$crate::ApiKeyRecord> {
                let sql = format!(
                    "INSERT INTO api_keys (organization_id, team_id, identity_id, key_id, name, secret_ciphertext, \
                     created_by, created_at) SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE \
                     ($2 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $2 AND organization_id = $1)) AND \
                     ($3 IS NULL OR EXISTS (SELECT 1 FROM identities WHERE id = $3 AND organization_id = $1)) \
                     RETURNING {}",
                    $crate::common::API_KEY_COLS
                );
                let row: Option<$crate::common::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(org.get())
                    .bind(new.team_id)
                    .bind(new.identity_id)
                    .bind(&new.key_id)
                    .bind(&new.name)
                    .bind(&new.secret_ciphertext)
                    .bind(new.created_by)
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| $crate::write_error(e, "an api key with this key id"))?;
                row.map(Into::into).ok_or_else(|| {
                    $crate::StoreError::InvalidReference("team_id or identity_id: not in this organization".into())
                })
            }

            async fn list_api_keys(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<$crate::ApiKeyRecord>, i64)> {
                let pred = $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::ApiKeys);
                let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM api_keys WHERE {pred}")))
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!(
                    "SELECT {} FROM api_keys WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2",
                    $crate::common::API_KEY_COLS
                );
                let rows: Vec<$crate::common::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }

            async fn api_key_by_id(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::ApiKeyRecord> {
                let sql = format!(
                    "SELECT {} FROM api_keys WHERE id = $1 AND {}",
                    $crate::common::API_KEY_COLS,
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::ApiKeys)
                );
                let row: Option<$crate::common::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn api_key_by_key_id(&self, key_id: &str) -> $crate::Result<$crate::ApiKeyRecord> {
                let sql = format!("SELECT {} FROM api_keys WHERE key_id = $1", $crate::common::API_KEY_COLS);
                let row: Option<$crate::common::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(key_id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn revoke_api_key(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::ApiKeyRecord> {
                let sql = format!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 AND {} RETURNING {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::ApiKeys),
                    $crate::common::API_KEY_COLS
                );
                let row: Option<$crate::common::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok($crate::common::one(row)?.into())
            }

            // ---- refresh tokens ----

            async fn insert_refresh_token(&self, t: &$crate::NewRefreshToken) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (jti, family_id, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.jti)
                .bind(&t.family_id)
                .bind(t.user_id)
                .bind(t.issued_at)
                .bind(t.expires_at)
                .execute(&self.pool)
                .await
                .map_err(|e| $crate::write_error(e, "a refresh token with this id"))?;
                Ok(())
            }

            async fn use_refresh_token(&self, jti: &str) -> $crate::Result<$crate::RefreshUse> {
                let now = $crate::common::now();
                // Spending is one conditional UPDATE: of two concurrent uses, exactly one wins.
                let spent: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET used_at = $2 WHERE jti = $1 AND used_at IS NULL \
                     AND revoked_at IS NULL AND expires_at > $2 RETURNING user_id, family_id",
                )
                .bind(jti)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                if let Some((user_id, family_id)) = spent {
                    return Ok($crate::RefreshUse::Rotated { user_id, family_id });
                }
                let known: Option<(i64, String, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
                    "SELECT user_id, family_id, used_at FROM refresh_tokens WHERE jti = $1",
                )
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
                match known {
                    Some((user_id, family_id, Some(_))) => {
                        sqlx::query("UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE family_id = $1")
                            .bind(&family_id)
                            .bind(now)
                            .execute(&self.pool)
                            .await?;
                        Ok($crate::RefreshUse::Reused { user_id })
                    }
                    _ => Ok($crate::RefreshUse::Invalid),
                }
            }

            async fn revoke_refresh_family_of(&self, user_id: i64, jti: &str) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE family_id IN \
                     (SELECT family_id FROM refresh_tokens WHERE jti = $1 AND user_id = $2) AND revoked_at IS NULL",
                )
                .bind(jti)
                .bind(user_id)
                .bind($crate::common::now())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_user_refresh_tokens(&self, user_id: i64) -> $crate::Result<u64> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                )
                .bind(user_id)
                .bind($crate::common::now())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            // ---- audit log ----

            async fn append_audit(&self, e: &$crate::NewAuditEntry) -> $crate::Result<dbpower_types::AuditLogView> {
                let key = $crate::audit::chain_key(e.organization_id);
                let _guard = self.write_guard().await;
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO audit_chain_heads (chain_key, last_hash) VALUES ($1, $2) ON CONFLICT (chain_key) DO NOTHING")
                    .bind(key)
                    .bind($crate::audit::GENESIS_HASH)
                    .execute(&mut *tx)
                    .await?;
                // Locks the chain head (PostgreSQL row lock; SQLite is serialized by the write guard).
                let prev_hash: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT last_hash FROM audit_chain_heads WHERE chain_key = $1{}",
                    Self::FOR_UPDATE
                )))
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                let mut view = dbpower_types::AuditLogView {
                    id: 0,
                    organization_id: e.organization_id,
                    actor_user_id: e.actor_user_id,
                    actor_email: e.actor_email.clone(),
                    action: e.action.clone(),
                    resource_type: e.resource_type.clone(),
                    resource_id: e.resource_id.clone(),
                    outcome: e.outcome.clone(),
                    request_id: e.request_id.clone(),
                    ip: e.ip.clone(),
                    details: e.details.clone(),
                    created_at: $crate::common::now(),
                    prev_hash,
                    hash: String::new(),
                };
                view.hash = $crate::audit::entry_hash(&view);
                view.id = sqlx::query_scalar(
                    "INSERT INTO audit_logs (chain_key, organization_id, actor_user_id, actor_email, action, \
                     resource_type, resource_id, outcome, request_id, ip, details, created_at, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
                )
                .bind(key)
                .bind(view.organization_id)
                .bind(view.actor_user_id)
                .bind(view.actor_email.as_deref())
                .bind(&view.action)
                .bind(&view.resource_type)
                .bind(view.resource_id.as_deref())
                .bind(&view.outcome)
                .bind(view.request_id.as_deref())
                .bind(view.ip.as_deref())
                .bind(sqlx::types::Json(&view.details))
                .bind(view.created_at)
                .bind(&view.prev_hash)
                .bind(&view.hash)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("UPDATE audit_chain_heads SET last_hash = $2 WHERE chain_key = $1")
                    .bind(key)
                    .bind(&view.hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(view)
            }

            async fn list_audit(
                &self,
                scope: &dbpower_core::Scope,
                q: &dbpower_types::AuditLogQuery,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<dbpower_types::AuditLogView>, i64)> {
                let pred = format!(
                    "{} AND ($1 IS NULL OR action = $1) AND ($2 IS NULL OR actor_user_id = $2) AND \
                     ($3 IS NULL OR resource_type = $3) AND ($4 IS NULL OR created_at >= $4) AND \
                     ($5 IS NULL OR created_at < $5) AND ($6 IS NULL OR organization_id = $6)",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::AuditLogs)
                );
                let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM audit_logs WHERE {pred}")))
                    .bind(q.action.as_deref())
                    .bind(q.actor)
                    .bind(q.resource.as_deref())
                    .bind(q.from)
                    .bind(q.to)
                    .bind(q.organization_id)
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!(
                    "SELECT {} FROM audit_logs WHERE {pred} ORDER BY id DESC LIMIT $7 OFFSET $8",
                    $crate::common::AUDIT_COLS
                );
                let rows: Vec<$crate::common::AuditRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(q.action.as_deref())
                    .bind(q.actor)
                    .bind(q.resource.as_deref())
                    .bind(q.from)
                    .bind(q.to)
                    .bind(q.organization_id)
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }

            async fn verify_audit_chain(&self, organization_id: Option<i64>) -> $crate::Result<dbpower_types::AuditVerifyView> {
                let key = $crate::audit::chain_key(organization_id);
                let sql = format!(
                    "SELECT {} FROM audit_logs WHERE chain_key = $1 AND id > $2 ORDER BY id LIMIT 1000",
                    $crate::common::AUDIT_COLS
                );
                let mut prev = $crate::audit::GENESIS_HASH.to_string();
                let mut after = 0_i64;
                let mut entries = 0_i64;
                loop {
                    let rows: Vec<$crate::common::AuditRow> =
                        sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(key).bind(after).fetch_all(&self.pool).await?;
                    if rows.is_empty() {
                        break;
                    }
                    let views: Vec<dbpower_types::AuditLogView> = rows.into_iter().map(Into::into).collect();
                    after = views.last().map_or(after, |v| v.id);
                    if let Some(bad) = $crate::audit::first_broken(&mut prev, views.iter()) {
                        return Ok(dbpower_types::AuditVerifyView {
                            organization_id,
                            entries: entries + views.iter().take_while(|v| v.id < bad).count() as i64,
                            valid: false,
                            first_invalid_id: Some(bad),
                        });
                    }
                    entries += views.len() as i64;
                }
                // The head must match the last entry: truncating the tail of the chain is detected too.
                let head: Option<String> =
                    sqlx::query_scalar("SELECT last_hash FROM audit_chain_heads WHERE chain_key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                let head_ok = head.as_deref().unwrap_or($crate::audit::GENESIS_HASH) == prev;
                Ok(dbpower_types::AuditVerifyView {
                    organization_id,
                    entries,
                    valid: head_ok,
                    first_invalid_id: if head_ok { None } else { Some(after + 1) },
                })
            }
        }
    };
}
pub(crate) use store_impl;
