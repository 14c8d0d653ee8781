//! Records of prompts sent to LLM providers ([`LlmCallStore`]).

use async_trait::async_trait;
use dbpower_core::{OrgId, Scope};
use sqlx::AssertSqlSafe;

use super::DbStore;
use crate::llm_calls::LlmCallRow;
use crate::scope_sql::{self, Table};
use crate::{LlmCallRecord, LlmCallStore, NewLlmCall, Result, now};

#[async_trait]
impl LlmCallStore for DbStore {
    async fn record_llm_calls(
        &self,
        org: OrgId,
        class_id: Option<i64>,
        calls: &[NewLlmCall],
    ) -> Result<()> {
        let now = now();
        let _guard = self.write_guard().await;
        for c in calls {
            sqlx::query(
                "INSERT INTO llm_calls (organization_id, class_id, provider, model, \
                 prompt_sha256, \
                 prompt_tokens, \
                 completion_tokens, latency_ms, outcome, detail, created_at) VALUES ($1, $2, \
                 $3, \
                 $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(org.get())
            .bind(class_id)
            .bind(&c.provider)
            .bind(&c.model)
            .bind(&c.prompt_sha256)
            .bind(c.prompt_tokens)
            .bind(c.completion_tokens)
            .bind(c.latency_ms)
            .bind(&c.outcome)
            .bind(c.detail.as_deref())
            .bind(now)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    async fn llm_calls(&self, scope: &Scope, limit: i64) -> Result<Vec<LlmCallRecord>> {
        let sql = format!(
            "SELECT id, organization_id, class_id, provider, model, prompt_sha256, prompt_tokens, \
             completion_tokens, \
             latency_ms, outcome, detail, created_at FROM llm_calls WHERE {} \
             ORDER BY id DESC LIMIT $1",
            scope_sql::predicate(scope, Table::LlmCalls)
        );
        let rows: Vec<LlmCallRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
