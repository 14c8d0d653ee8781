//! `/api/v1/audit-logs`: the tamper-evident trail (ORG_ADMIN: its organization; SUPER_ADMIN: all), and
//! `/api/v1/llm-calls`: the record of every prompt sent to an LLM provider.

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult};
use axum::extract::State;
use dbpower_core::perm::Action;
use dbpower_core::{Scope, ScopeFilter};
use dbpower_types::{
    AuditLogQuery, AuditLogView, AuditVerifyView, ErrorBody, LlmCallView, Page, PageQuery,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::require;
use crate::context::{page_of, page_request};
use crate::routes::auth::Auth;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit", params(AuditLogQuery),
    responses((status = 200, body = Page<AuditLogView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_audit_logs(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<AuditLogQuery>,
) -> ApiResult<ApiJson<Page<AuditLogView>>> {
    require(&p, Action::ReadAuditLog)?;
    let req = page_request(&PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let (items, total) = s.store.list_audit(&Scope::of(&p), &q, req).await?;
    Ok(ApiJson(page_of(items, total, req, |e| e)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LlmCallsQuery {
    /// How many of the newest calls (1-500, default 100).
    pub limit: Option<i64>,
}

/// Prompts sent to LLM providers for the caller's organization (the prompt's hash, never its text).
#[utoipa::path(get, path = "/api/v1/llm-calls", tag = "audit", params(LlmCallsQuery),
    responses((status = 200, body = Vec<LlmCallView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_llm_calls(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<LlmCallsQuery>,
) -> ApiResult<ApiJson<Vec<LlmCallView>>> {
    require(&p, Action::ReadAuditLog)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit", "must be between 1 and 500"));
    }
    let rows = s.store.llm_calls(&Scope::of(&p), limit).await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(|r| LlmCallView {
                id: r.id,
                organization_id: r.organization_id,
                class_id: r.class_id,
                provider: r.call.provider,
                model: r.call.model,
                prompt_sha256: r.call.prompt_sha256,
                prompt_tokens: r.call.prompt_tokens,
                completion_tokens: r.call.completion_tokens,
                latency_ms: r.call.latency_ms,
                outcome: r.call.outcome,
                detail: r.call.detail,
                created_at: r.created_at,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VerifyQuery {
    /// SUPER_ADMIN: the organization whose chain to verify; omitted, the platform chain.
    pub organization_id: Option<i64>,
}

/// Re-computes the hash chain of the caller's organization (or, for a super admin, the one named).
#[utoipa::path(get, path = "/api/v1/audit-logs/verify", tag = "audit", params(VerifyQuery),
    responses((status = 200, body = AuditVerifyView), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn verify_audit_logs(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> ApiResult<ApiJson<AuditVerifyView>> {
    require(&p, Action::ReadAuditLog)?;
    let org = match Scope::of(&p).filter() {
        ScopeFilter::All => q.organization_id,
        ScopeFilter::Org { org } => match q.organization_id {
            Some(other) if other != org => return Err(ApiError::not_found("organization")),
            _ => Some(org),
        },
        _ => {
            return Err(ApiError::forbidden(
                "only administrators verify the audit log",
            ));
        }
    };
    Ok(ApiJson(s.store.verify_audit_chain(org).await?))
}
