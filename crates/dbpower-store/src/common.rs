//! The SQL both databases share, written once. `store_impl!` expands the whole [`crate::Store`] impl
//! for a store type with a `pool` field; the few dialect differences are associated items each store
//! type defines (`FOR_UPDATE`, `write_guard`, `run_migrations`).

use chrono::{DateTime, Utc};

use crate::StoreError;

pub(crate) const ORG_COLS: &str = "id, name, settings, retention_days, created_at, updated_at";
pub(crate) const TEAM_COLS: &str = "id, organization_id, name, description, created_at, updated_at";
pub(crate) const IDENTITY_COLS: &str = "id, organization_id, team_id, name, created_at, updated_at";
pub(crate) const USER_COLS: &str = "id, email, password_hash, full_name, role, organization_id, team_id, \
     identity_id, is_active, created_at, updated_at, last_login_at, token_version";
/// Why a write naming a team or an identity was refused: one of them is outside the organization, or the
/// identity belongs to another team than the one the user or key is in.
pub(crate) const TEAM_IDENTITY_MISMATCH: &str =
    "team_id or identity_id: not in this organization, or the identity belongs to another team";
pub(crate) const API_KEY_COLS: &str = "id, organization_id, team_id, identity_id, key_id, name, \
     secret_ciphertext, created_by, created_at, last_used_at, revoked_at";
pub(crate) const AUDIT_COLS: &str = "id, organization_id, actor_user_id, actor_email, action, resource_type, \
     resource_id, outcome, request_id, ip, details, created_at, prev_hash, hash";

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
        impl $ty {
            /// One page of `table`'s rows visible in `scope`, oldest first, with the total: the shape every
            /// tenant list shares.
            async fn list_page<R>(
                &self,
                scope: &dbpower_core::Scope,
                kind: $crate::scope_sql::Table,
                table: &str,
                cols: &str,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<R>, i64)>
            where
                R: for<'r> sqlx::FromRow<'r, <$db as sqlx::Database>::Row> + Send + Unpin,
            {
                let pred = $crate::scope_sql::predicate(scope, kind);
                let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table} WHERE {pred}")))
                    .fetch_one(&self.pool)
                    .await?;
                let sql = format!("SELECT {cols} FROM {table} WHERE {pred} ORDER BY id LIMIT $1 OFFSET $2");
                let rows: Vec<R> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(page.limit())
                    .bind(page.offset())
                    .fetch_all(&self.pool)
                    .await?;
                Ok((rows, total))
            }
        }

        $crate::ingest::ingest_impl!($ty, $db);
        $crate::reads::reads_impl!($ty, $db);
        $crate::queue::queue_impl!($ty, $db);
        $crate::auth_sql::auth_impl!($ty);

        #[async_trait::async_trait]
        impl $crate::Store for $ty {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            fn pool_stats(&self) -> (u32, usize) {
                (self.pool.size(), self.pool.num_idle())
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
                let row: $crate::rows::OrgRow = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                let row: Option<$crate::rows::OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn list_organizations(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<dbpower_types::OrganizationView>, i64)> {
                let (rows, total) = self
                    .list_page::<$crate::rows::OrgRow>(scope, $crate::scope_sql::Table::Organizations, "organizations", $crate::common::ORG_COLS, page)
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
                let row: Option<$crate::rows::OrgRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                let row: $crate::rows::TeamRow = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                let row: Option<$crate::rows::TeamRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn list_teams(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<dbpower_types::TeamView>, i64)> {
                let (rows, total) = self
                    .list_page::<$crate::rows::TeamRow>(scope, $crate::scope_sql::Table::Teams, "teams", $crate::common::TEAM_COLS, page)
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
                let row: Option<$crate::rows::TeamRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                let row: Option<$crate::rows::IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                let row: Option<$crate::rows::IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn list_identities(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<dbpower_types::IdentityView>, i64)> {
                let (rows, total) = self
                    .list_page::<$crate::rows::IdentityRow>(scope, $crate::scope_sql::Table::Identities, "identities", $crate::common::IDENTITY_COLS, page)
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
                let row: Option<$crate::rows::IdentityRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                // Team and identity must belong to the user's organization, and the identity to the user's
                // team (checked in the same statement). Without a team, the user joins the identity's.
                let sql = format!(
                    "INSERT INTO users (email, password_hash, full_name, role, organization_id, team_id, \
                     identity_id, is_active, created_at, updated_at) \
                     SELECT $1, $2, $3, $4, $5, COALESCE($6, (SELECT team_id FROM identities WHERE id = $7 AND organization_id = $5)), \
                     $7, TRUE, $8, $8 WHERE \
                     ($6 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $6 AND organization_id = $5)) AND \
                     ($7 IS NULL OR EXISTS (SELECT 1 FROM identities WHERE id = $7 AND organization_id = $5 \
                        AND team_id = COALESCE($6, team_id))) \
                     RETURNING {}",
                    $crate::common::USER_COLS
                );
                let row: Option<$crate::rows::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                        $crate::common::TEAM_IDENTITY_MISMATCH.into(),
                    )),
                }
            }

            async fn user_for_login(&self, email: &str) -> $crate::Result<$crate::UserRecord> {
                let sql = format!("SELECT {} FROM users WHERE email = $1", $crate::common::USER_COLS);
                let row: Option<$crate::rows::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(email).fetch_optional(&self.pool).await?;
                $crate::common::one(row)?.try_into()
            }

            async fn user_by_id(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::UserRecord> {
                let sql = format!(
                    "SELECT {} FROM users WHERE id = $1 AND {}",
                    $crate::common::USER_COLS,
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Users)
                );
                let row: Option<$crate::rows::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                $crate::common::one(row)?.try_into()
            }

            async fn list_users(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<$crate::UserRecord>, i64)> {
                let (rows, total) = self
                    .list_page::<$crate::rows::UserRow>(scope, $crate::scope_sql::Table::Users, "users", $crate::common::USER_COLS, page)
                    .await?;
                let items = rows.into_iter().map(TryInto::try_into).collect::<$crate::Result<Vec<_>>>()?;
                Ok((items, total))
            }

            async fn update_user(
                &self,
                scope: &dbpower_core::Scope,
                id: i64,
                patch: &$crate::UserPatch,
            ) -> $crate::Result<$crate::UserRecord> {
                let sql = format!(
                    "UPDATE users SET full_name = COALESCE($2, full_name), role = COALESCE($3, role), \
                     team_id = COALESCE($4, team_id, (SELECT i.team_id FROM identities i WHERE i.id = $5 AND i.organization_id = users.organization_id)), \
                     identity_id = COALESCE($5, identity_id), \
                     is_active = COALESCE($6, is_active), password_hash = COALESCE($7, password_hash), \
                     updated_at = $8 WHERE id = $1 AND {} AND \
                     ($4 IS NULL OR EXISTS (SELECT 1 FROM teams t WHERE t.id = $4 AND t.organization_id = users.organization_id)) AND \
                     (COALESCE($5, users.identity_id) IS NULL OR EXISTS (SELECT 1 FROM identities i \
                        WHERE i.id = COALESCE($5, users.identity_id) AND i.organization_id = users.organization_id \
                        AND i.team_id = COALESCE($4, users.team_id, i.team_id))) \
                     RETURNING {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Users),
                    $crate::common::USER_COLS
                );
                let row: Option<$crate::rows::UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                            $crate::common::TEAM_IDENTITY_MISMATCH.into(),
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
                     created_by, created_at) SELECT $1, COALESCE($2, (SELECT team_id FROM identities WHERE id = $3 AND organization_id = $1)), \
                     $3, $4, $5, $6, $7, $8 WHERE \
                     ($2 IS NULL OR EXISTS (SELECT 1 FROM teams WHERE id = $2 AND organization_id = $1)) AND \
                     ($3 IS NULL OR EXISTS (SELECT 1 FROM identities WHERE id = $3 AND organization_id = $1 \
                        AND team_id = COALESCE($2, team_id))) \
                     RETURNING {}",
                    $crate::common::API_KEY_COLS
                );
                let row: Option<$crate::rows::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
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
                    $crate::StoreError::InvalidReference($crate::common::TEAM_IDENTITY_MISMATCH.into())
                })
            }

            async fn list_api_keys(
                &self,
                scope: &dbpower_core::Scope,
                page: $crate::PageRequest,
            ) -> $crate::Result<(Vec<$crate::ApiKeyRecord>, i64)> {
                let (rows, total) = self
                    .list_page::<$crate::rows::ApiKeyRow>(scope, $crate::scope_sql::Table::ApiKeys, "api_keys", $crate::common::API_KEY_COLS, page)
                    .await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }

            async fn api_key_by_id(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::ApiKeyRecord> {
                let sql = format!(
                    "SELECT {} FROM api_keys WHERE id = $1 AND {}",
                    $crate::common::API_KEY_COLS,
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::ApiKeys)
                );
                let row: Option<$crate::rows::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn api_key_by_key_id(&self, key_id: &str) -> $crate::Result<$crate::ApiKeyRecord> {
                let sql = format!("SELECT {} FROM api_keys WHERE key_id = $1", $crate::common::API_KEY_COLS);
                let row: Option<$crate::rows::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(key_id).fetch_optional(&self.pool).await?;
                Ok($crate::common::one(row)?.into())
            }

            async fn revoke_api_key(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::ApiKeyRecord> {
                let sql = format!(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 AND {} RETURNING {}",
                    $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::ApiKeys),
                    $crate::common::API_KEY_COLS
                );
                let row: Option<$crate::rows::ApiKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(id)
                    .bind($crate::common::now())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok($crate::common::one(row)?.into())
            }

        }
    };
}
pub(crate) use store_impl;
