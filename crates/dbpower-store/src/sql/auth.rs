//! Refresh tokens and the audit log's hash chain ([`AuthStore`]).

use async_trait::async_trait;
use dbpower_core::Scope;
use dbpower_types::{AuditLogQuery, AuditLogView, AuditVerifyView};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::{DIALECT, Db, DbStore};
use crate::auth::{AUDIT_COLS, AuditRow, RefreshTokenRow};
use crate::error::write_error;
use crate::scope_sql::{self, Table};
use crate::{
    AuthStore, Entity, NewAuditEntry, NewRefreshToken, PageRequest, RefreshUse, Result, audit, now,
};

#[async_trait]
impl AuthStore for DbStore {
    // ---- refresh tokens ----

    async fn insert_refresh_token(&self, t: &NewRefreshToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (jti, family_id, user_id, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.jti)
        .bind(&t.family_id)
        .bind(t.user_id)
        .bind(t.issued_at)
        .bind(t.expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, Entity::RefreshToken))?;
        Ok(())
    }

    async fn use_refresh_token(&self, jti: &str) -> Result<RefreshUse> {
        let now = now();
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
            return Ok(RefreshUse::Rotated { user_id, family_id });
        }
        let known: Option<RefreshTokenRow> =
            sqlx::query_as("SELECT user_id, family_id, used_at FROM refresh_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        match known {
            Some(RefreshTokenRow {
                user_id,
                family_id,
                used_at: Some(_),
            }) => {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) \
                     WHERE family_id = $1",
                )
                .bind(&family_id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(RefreshUse::Reused { user_id })
            }
            _ => Ok(RefreshUse::Invalid),
        }
    }

    async fn revoke_refresh_family_of(&self, user_id: i64, jti: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $3) \
             WHERE family_id IN \
             (SELECT family_id FROM refresh_tokens WHERE jti = $1 AND user_id = $2) \
             AND revoked_at IS NULL",
        )
        .bind(jti)
        .bind(user_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn revoke_user_refresh_tokens(&self, user_id: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn end_access_tokens(&self, user_id: i64) -> Result<()> {
        sqlx::query("UPDATE users SET token_version = token_version + 1 WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- audit log ----

    async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditLogView> {
        let key = audit::chain_key(e.organization_id);
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO audit_chain_heads (chain_key, last_hash) VALUES ($1, $2) \
             ON CONFLICT (chain_key) DO NOTHING",
        )
        .bind(key)
        .bind(audit::GENESIS_HASH)
        .execute(&mut *tx)
        .await?;
        // Locks the chain head (PostgreSQL row lock; SQLite is serialized by the write guard).
        let prev_hash: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT last_hash FROM audit_chain_heads WHERE chain_key = $1{}",
            DIALECT.for_update
        )))
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let mut view = AuditLogView {
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
            created_at: now(),
            prev_hash,
            hash: String::new(),
        };
        view.hash = audit::entry_hash(&view);
        view.id = sqlx::query_scalar(
            "INSERT INTO audit_logs (chain_key, organization_id, actor_user_id, \
             actor_email, \
             action, \
             resource_type, resource_id, outcome, request_id, ip, details, created_at, \
             prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14) RETURNING id",
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
        .bind(Json(&view.details))
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
        scope: &Scope,
        q: &AuditLogQuery,
        page: PageRequest,
    ) -> Result<(Vec<AuditLogView>, i64)> {
        let pred = format!(
            "{} AND ($1 IS NULL OR action = $1) AND ($2 IS NULL OR actor_user_id = $2) AND \
             ($3 IS NULL OR resource_type = $3) AND ($4 IS NULL OR created_at >= $4) AND \
             ($5 IS NULL OR created_at < $5) AND ($6 IS NULL OR organization_id = $6)",
            scope_sql::predicate(scope, Table::AuditLogs)
        );
        let count = format!("SELECT COUNT(*) FROM audit_logs WHERE {pred}");
        let (total,): (i64,) = audit_filtered(count, q).fetch_one(&self.pool).await?;
        let sql = format!(
            "SELECT {} FROM audit_logs WHERE {pred} ORDER BY id DESC LIMIT $7 OFFSET $8",
            AUDIT_COLS
        );
        let rows: Vec<AuditRow> = audit_filtered(sql, q)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    async fn verify_audit_chain(&self, organization_id: Option<i64>) -> Result<AuditVerifyView> {
        let key = audit::chain_key(organization_id);
        let sql = format!(
            "SELECT {} FROM audit_logs WHERE chain_key = $1 AND id > $2 ORDER BY id LIMIT 1000",
            AUDIT_COLS
        );
        let mut prev = audit::GENESIS_HASH.to_string();
        let mut after = 0_i64;
        let mut entries = 0_i64;
        loop {
            let rows: Vec<AuditRow> = sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(key)
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
            if rows.is_empty() {
                break;
            }
            let views: Vec<AuditLogView> = rows.into_iter().map(Into::into).collect();
            after = views.last().map_or(after, |v| v.id);
            if let Some(bad) = audit::first_broken(&mut prev, views.iter()) {
                return Ok(AuditVerifyView {
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
        let head_ok = head.as_deref().unwrap_or(audit::GENESIS_HASH) == prev;
        Ok(AuditVerifyView {
            organization_id,
            entries,
            valid: head_ok,
            first_invalid_id: if head_ok { None } else { Some(after + 1) },
        })
    }
}

/// `sql` with an audit query's six filters bound as `$1` to `$6`.
fn audit_filtered<'q, O>(
    sql: String,
    q: &'q AuditLogQuery,
) -> sqlx::query::QueryAs<'q, Db, O, <Db as sqlx::Database>::Arguments>
where
    O: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row>,
{
    sqlx::query_as(AssertSqlSafe(sql))
        .bind(q.action.as_deref())
        .bind(q.actor)
        .bind(q.resource.as_deref())
        .bind(q.from)
        .bind(q.to)
        .bind(q.organization_id)
}
