//! LLM-call records: the [`LlmCallStore`] trait (what was sent to which provider for an
//! organization's analyses, by hash, never the prompt's text), its records and row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, Scope};

use crate::Result;

/// Records of prompts sent to LLM providers (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait LlmCallStore: Send + Sync {
    /// Records prompts sent to LLM providers for an organization's analyses.
    async fn record_llm_calls(
        &self,
        org: OrgId,
        class_id: Option<i64>,
        calls: &[NewLlmCall],
    ) -> Result<()>;
    /// The newest recorded LLM calls visible in `scope` (organization level only).
    async fn llm_calls(&self, scope: &Scope, limit: i64) -> Result<Vec<LlmCallRecord>>;
}

/// One prompt sent to an LLM provider, as recorded for audit (the prompt's hash, never its text).
#[derive(Debug, Clone, PartialEq)]
pub struct NewLlmCall {
    pub provider: String,
    pub model: String,
    pub prompt_sha256: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: f64,
    pub outcome: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlmCallRecord {
    pub id: i64,
    pub organization_id: i64,
    pub class_id: Option<i64>,
    pub call: NewLlmCall,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct LlmCallRow {
    id: i64,
    organization_id: i64,
    class_id: Option<i64>,
    provider: String,
    model: String,
    prompt_sha256: String,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    latency_ms: f64,
    outcome: String,
    detail: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<LlmCallRow> for LlmCallRecord {
    fn from(r: LlmCallRow) -> Self {
        LlmCallRecord {
            id: r.id,
            organization_id: r.organization_id,
            class_id: r.class_id,
            call: NewLlmCall {
                provider: r.provider,
                model: r.model,
                prompt_sha256: r.prompt_sha256,
                prompt_tokens: r.prompt_tokens,
                completion_tokens: r.completion_tokens,
                latency_ms: r.latency_ms,
                outcome: r.outcome,
                detail: r.detail,
            },
            created_at: r.created_at,
        }
    }
}
