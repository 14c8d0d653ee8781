//! Organizations, teams, identities, users and api keys ([`TenantStore`]).

use async_trait::async_trait;
use dbpower_core::{OrgId, Scope};
use dbpower_types::{IdentityView, OrganizationView, TeamView};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::{Db, DbStore};
use crate::error::write_error;
use crate::scope_sql::{self, Table};
use crate::tenants::{
    API_KEY_COLS, API_KEYS, ApiKeyRow, IDENTITIES, IDENTITY_COLS, IdentityRow, ORG_COLS,
    ORGANIZATIONS, OrgRow, TEAM_COLS, TEAMS, TeamRow, TenantTable, USER_COLS, USERS, UserRow,
};
use crate::{
    ApiKeyRecord, Entity, NewApiKey, NewOrganization, NewUser, OrganizationPatch, PageRequest,
    Reference, Result, StoreError, TeamPatch, TenantStore, UserPatch, UserRecord, now, one,
};

impl DbStore {
    /// The row of `t` with this id, if `scope` sees it.
    async fn by_id<R>(&self, t: &TenantTable, scope: &Scope, id: i64) -> Result<R>
    where
        R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    {
        let sql = format!(
            "SELECT {} FROM {} WHERE id = $1 AND {}",
            t.cols,
            t.name,
            scope_sql::predicate(scope, t.kind)
        );
        let row: Option<R> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        one(row)
    }

    /// Deletes the row of `t` with this id, if `scope` sees it.
    async fn delete_by_id(&self, t: &TenantTable, scope: &Scope, id: i64) -> Result<()> {
        let sql = format!(
            "DELETE FROM {} WHERE id = $1 AND {}",
            t.name,
            scope_sql::predicate(scope, t.kind)
        );
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// One page of `t`'s rows visible in `scope`, oldest first, with the total: the shape every
    /// tenant list shares.
    async fn list_page<R>(
        &self,
        t: &TenantTable,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<R>, i64)>
    where
        R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    {
        let (table, cols) = (t.name, t.cols);
        let pred = scope_sql::predicate(scope, t.kind);
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {table} WHERE {pred}"
        )))
        .fetch_one(&self.pool)
        .await?;
        let sql = format!("SELECT {cols} FROM {table} WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2");
        let rows: Vec<R> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        Ok((rows, total))
    }
}

#[async_trait]
impl TenantStore for DbStore {
    // ---- organizations ----

    async fn insert_organization(&self, new: &NewOrganization) -> Result<OrganizationView> {
        let now = now();
        let settings =
            serde_json::to_value(&new.settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "INSERT INTO organizations (name, settings, retention_days, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {}",
            ORG_COLS
        );
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let row: OrgRow = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&new.name)
            .bind(Json(settings))
            .bind(new.retention_days)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| write_error(e, Entity::Organization))?;
        // Every organization starts with the default alert rules (docs/ALERTS.md), notifying every
        // channel it will have.
        for (name, kind) in [
            ("Regressions", "regression"),
            ("New slow queries", "new_class"),
            ("Plan changes", "plan_changed"),
        ] {
            sqlx::query(
                "INSERT INTO alert_rules (organization_id, name, kind, enabled, thresholds, \
                 resolve_after_secs, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 3600, \
                 $6, $6)",
            )
            .bind(row.id)
            .bind(name)
            .bind(kind)
            .bind(true)
            .bind(Json(serde_json::json!({})))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(row.into())
    }

    async fn organization_by_id(&self, scope: &Scope, id: i64) -> Result<OrganizationView> {
        Ok(self
            .by_id::<OrgRow>(&ORGANIZATIONS, scope, id)
            .await?
            .into())
    }

    async fn list_organizations(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<OrganizationView>, i64)> {
        let (rows, total) = self
            .list_page::<OrgRow>(&ORGANIZATIONS, scope, page)
            .await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    async fn update_organization(
        &self,
        org: OrgId,
        patch: &OrganizationPatch,
    ) -> Result<OrganizationView> {
        let settings = match &patch.settings {
            Some(s) => Some(Json(
                serde_json::to_value(s).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )),
            None => None,
        };
        let sql = format!(
            "UPDATE organizations SET name = COALESCE($2, name), settings = COALESCE($3, \
             settings), \
             retention_days = COALESCE($4, retention_days), updated_at = $5 \
             WHERE id = $1 RETURNING {}",
            ORG_COLS
        );
        let row: Option<OrgRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(patch.name.as_deref())
            .bind(settings)
            .bind(patch.retention_days)
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::Organization))?;
        Ok(one(row)?.into())
    }

    async fn delete_organization(&self, org: OrgId) -> Result<()> {
        let done = sqlx::query("DELETE FROM organizations WHERE id = $1")
            .bind(org.get())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn organization_ids(&self) -> Result<Vec<i64>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM organizations ORDER BY id")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    // ---- teams ----

    async fn insert_team(
        &self,
        org: OrgId,
        name: &str,
        description: Option<&str>,
    ) -> Result<TeamView> {
        let sql = format!(
            "INSERT INTO teams (organization_id, name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {}",
            TEAM_COLS
        );
        let row: TeamRow = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(name)
            .bind(description)
            .bind(now())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::Team))?;
        Ok(row.into())
    }

    async fn team_by_id(&self, scope: &Scope, id: i64) -> Result<TeamView> {
        Ok(self.by_id::<TeamRow>(&TEAMS, scope, id).await?.into())
    }

    async fn list_teams(&self, scope: &Scope, page: PageRequest) -> Result<(Vec<TeamView>, i64)> {
        let (rows, total) = self.list_page::<TeamRow>(&TEAMS, scope, page).await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    async fn update_team(&self, scope: &Scope, id: i64, patch: &TeamPatch) -> Result<TeamView> {
        let sql = format!(
            "UPDATE teams SET name = COALESCE($2, name), description = COALESCE($3, description), \
             updated_at = $4 WHERE id = $1 AND {} RETURNING {}",
            scope_sql::predicate(scope, Table::Teams),
            TEAM_COLS
        );
        let row: Option<TeamRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .bind(patch.name.as_deref())
            .bind(patch.description.as_deref())
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::Team))?;
        Ok(one(row)?.into())
    }

    async fn delete_team(&self, scope: &Scope, id: i64) -> Result<()> {
        self.delete_by_id(&TEAMS, scope, id).await
    }

    // ---- identities ----

    async fn insert_identity(&self, org: OrgId, team_id: i64, name: &str) -> Result<IdentityView> {
        // The team must belong to the same organization: a foreign team id reads as "no such team".
        let sql = format!(
            "INSERT INTO identities (organization_id, team_id, name, created_at, updated_at) \
             SELECT $1, id, $3, $4, $4 FROM teams WHERE id = $2 \
             AND organization_id = $1 RETURNING {}",
            IDENTITY_COLS
        );
        let row: Option<IdentityRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(team_id)
            .bind(name)
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::Identity))?;
        row.map(Into::into)
            .ok_or_else(|| StoreError::InvalidReference(Reference::TeamId))
    }

    async fn identity_by_id(&self, scope: &Scope, id: i64) -> Result<IdentityView> {
        Ok(self
            .by_id::<IdentityRow>(&IDENTITIES, scope, id)
            .await?
            .into())
    }

    async fn list_identities(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<IdentityView>, i64)> {
        let (rows, total) = self
            .list_page::<IdentityRow>(&IDENTITIES, scope, page)
            .await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    async fn update_identity(&self, scope: &Scope, id: i64, name: &str) -> Result<IdentityView> {
        let sql = format!(
            "UPDATE identities SET name = $2, updated_at = $3 WHERE id = $1 AND {} RETURNING {}",
            scope_sql::predicate(scope, Table::Identities),
            IDENTITY_COLS
        );
        let row: Option<IdentityRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .bind(name)
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::Identity))?;
        Ok(one(row)?.into())
    }

    async fn delete_identity(&self, scope: &Scope, id: i64) -> Result<()> {
        self.delete_by_id(&IDENTITIES, scope, id).await
    }

    // ---- users ----

    async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn insert_user(&self, new: &NewUser) -> Result<UserRecord> {
        // Team and identity must belong to the user's organization, and the identity to the user's
        // team (checked in the same statement). Without a team, the user joins the identity's.
        let sql = format!(
            "INSERT INTO users (email, password_hash, full_name, role, organization_id, team_id, \
             identity_id, is_active, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, COALESCE($6, (SELECT team_id FROM identities \
             WHERE id = $7 \
             AND organization_id = $5)), \
             $7, TRUE, $8, $8 WHERE \
             ($6 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $6 AND organization_id = $5)) \
             AND \
             ($7 IS NULL OR EXISTS (SELECT 1 FROM identities WHERE id = $7 \
             AND organization_id = $5 \
             AND team_id = COALESCE($6, team_id))) \
             RETURNING {}",
            USER_COLS
        );
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(&new.email)
            .bind(&new.password_hash)
            .bind(new.full_name.as_deref())
            .bind(new.role.as_str())
            .bind(new.organization_id)
            .bind(new.team_id)
            .bind(new.identity_id)
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::User))?;
        match row {
            Some(r) => r.try_into(),
            None => Err(StoreError::InvalidReference(Reference::TeamIdOrIdentityId)),
        }
    }

    async fn user_for_login(&self, email: &str, organization: Option<&str>) -> Result<UserRecord> {
        let sql = format!(
            "SELECT {} FROM users WHERE email = $1 AND CASE WHEN $2 IS NULL \
             THEN organization_id IS NULL \
             ELSE organization_id = (SELECT id FROM organizations WHERE name = $2) END",
            USER_COLS
        );
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(email)
            .bind(organization)
            .fetch_optional(&self.pool)
            .await?;
        one(row)?.try_into()
    }

    async fn user_by_id(&self, scope: &Scope, id: i64) -> Result<UserRecord> {
        self.by_id::<UserRow>(&USERS, scope, id).await?.try_into()
    }

    async fn list_users(&self, scope: &Scope, page: PageRequest) -> Result<(Vec<UserRecord>, i64)> {
        let (rows, total) = self.list_page::<UserRow>(&USERS, scope, page).await?;
        let items = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<Vec<_>>>()?;
        Ok((items, total))
    }

    async fn update_user(&self, scope: &Scope, id: i64, patch: &UserPatch) -> Result<UserRecord> {
        let sql = format!(
            "UPDATE users SET full_name = COALESCE($2, full_name), role = COALESCE($3, role), \
             team_id = COALESCE($4, team_id, (SELECT i.team_id FROM identities i WHERE i.id = $5 \
             AND i.organization_id = users.organization_id)), \
             identity_id = COALESCE($5, identity_id), \
             is_active = COALESCE($6, is_active), password_hash = COALESCE($7, password_hash), \
             updated_at = $8 WHERE id = $1 AND {} AND \
             ($4 IS NULL OR EXISTS (SELECT 1 FROM teams t WHERE t.id = $4 \
             AND t.organization_id = users.organization_id)) AND \
             (COALESCE($5, users.identity_id) IS NULL OR EXISTS (SELECT 1 FROM identities i \
             WHERE i.id = COALESCE($5, users.identity_id) AND i.organization_id = \
             users.organization_id \
             AND i.team_id = COALESCE($4, users.team_id, i.team_id))) \
             RETURNING {}",
            scope_sql::predicate(scope, Table::Users),
            USER_COLS
        );
        let row: Option<UserRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .bind(patch.full_name.as_deref())
            .bind(patch.role.map(|r| r.as_str()))
            .bind(patch.team_id)
            .bind(patch.identity_id)
            .bind(patch.is_active)
            .bind(patch.password_hash.as_deref())
            .bind(now())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => r.try_into(),
            None => {
                // Distinguish "no such user in scope" from "bad team/identity reference".
                self.user_by_id(scope, id).await?;
                Err(StoreError::InvalidReference(Reference::TeamIdOrIdentityId))
            }
        }
    }

    async fn delete_user(&self, scope: &Scope, id: i64) -> Result<()> {
        self.delete_by_id(&USERS, scope, id).await
    }

    async fn touch_last_login(&self, user_id: i64) -> Result<()> {
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- api keys ----

    async fn insert_api_key(&self, org: OrgId, new: &NewApiKey) -> Result<ApiKeyRecord> {
        let sql = format!(
            "INSERT INTO api_keys (organization_id, team_id, identity_id, key_id, name, \
             secret_ciphertext, \
             created_by, created_at) SELECT $1, COALESCE($2, (SELECT team_id FROM identities \
             WHERE id = $3 AND organization_id = $1)), \
             $3, $4, $5, $6, $7, $8 WHERE \
             ($2 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $2 AND organization_id = $1)) \
             AND \
             ($3 IS NULL OR EXISTS (SELECT 1 FROM identities WHERE id = $3 \
             AND organization_id = $1 \
             AND team_id = COALESCE($2, team_id))) \
             RETURNING {}",
            API_KEY_COLS
        );
        let row: Option<ApiKeyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.get())
            .bind(new.team_id)
            .bind(new.identity_id)
            .bind(&new.key_id)
            .bind(&new.name)
            .bind(&new.secret_ciphertext)
            .bind(new.created_by)
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| write_error(e, Entity::ApiKey))?;
        row.map(Into::into)
            .ok_or_else(|| StoreError::InvalidReference(Reference::TeamIdOrIdentityId))
    }

    async fn list_api_keys(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<ApiKeyRecord>, i64)> {
        let (rows, total) = self.list_page::<ApiKeyRow>(&API_KEYS, scope, page).await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    async fn api_key_by_id(&self, scope: &Scope, id: i64) -> Result<ApiKeyRecord> {
        Ok(self.by_id::<ApiKeyRow>(&API_KEYS, scope, id).await?.into())
    }

    async fn api_key_by_key_id(&self, key_id: &str) -> Result<ApiKeyRecord> {
        let sql = format!("SELECT {} FROM api_keys WHERE key_id = $1", API_KEY_COLS);
        let row: Option<ApiKeyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(one(row)?.into())
    }

    async fn revoke_api_key(&self, scope: &Scope, id: i64) -> Result<ApiKeyRecord> {
        let sql = format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
             AND {} RETURNING {}",
            scope_sql::predicate(scope, Table::ApiKeys),
            API_KEY_COLS
        );
        let row: Option<ApiKeyRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .bind(now())
            .fetch_optional(&self.pool)
            .await?;
        Ok(one(row)?.into())
    }
}
