//! Agents and their heartbeats ([`AgentStore`]).

use async_trait::async_trait;
use dbpower_core::Scope;
use dbpower_types::ApiKeyView;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::DbStore;
use crate::agents::AgentRow;
use crate::scope_sql::{self, Table};
use crate::{AgentRecord, AgentStore, PageRequest, Result, now};

#[async_trait]
impl AgentStore for DbStore {
    async fn record_heartbeat(
        &self,
        key: &ApiKeyView,
        heartbeat: &serde_json::Value,
    ) -> Result<()> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "INSERT INTO agents (api_key_id, organization_id, team_id, identity_id, heartbeat, \
             last_seen) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (api_key_id) DO UPDATE SET heartbeat = excluded.heartbeat, \
             last_seen = excluded.last_seen, \
             team_id = excluded.team_id, identity_id = excluded.identity_id",
        )
        .bind(key.id)
        .bind(key.organization_id)
        .bind(key.team_id)
        .bind(key.identity_id)
        .bind(Json(heartbeat))
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_agents(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<AgentRecord>, i64)> {
        let visible = scope_sql::predicate(scope, Table::Owned);
        let sql = format!(
            "SELECT api_key_id, organization_id, team_id, heartbeat, last_seen FROM agents \
             WHERE {visible} \
             ORDER BY api_key_id LIMIT $1 OFFSET $2"
        );
        let rows: Vec<AgentRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM agents WHERE {visible}"
        )))
        .fetch_one(&self.pool)
        .await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }
}
