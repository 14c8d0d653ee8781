//! `/api/v1/audit-logs`: the tamper-evident trail (ORG_ADMIN: its organization; SUPER_ADMIN: all).

use axum::extract::State;
use dbpower_core::perm::Action;
use dbpower_core::{Scope, ScopeFilter};
use dbpower_http::{ApiError, ApiJson, ApiQuery, ApiResult};
use dbpower_types::{AuditLogQuery, AuditLogView, AuditVerifyView, ErrorBody, Page, PageQuery};
use serde::Deserialize;
use utoipa::IntoParams;

use super::require;
use crate::auth::Auth;
use crate::state::{AppState, page_of, page_request};

#[utoipa::path(get, path = "/api/v1/audit-logs", tag = "audit", params(AuditLogQuery),
    responses((status = 200, body = Page<AuditLogView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_audit_logs(
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
pub struct VerifyQuery {
    /// SUPER_ADMIN: the organization whose chain to verify; omitted, the platform chain.
    pub organization_id: Option<i64>,
}

/// Re-computes the hash chain of the caller's organization (or, for a super admin, the one named).
#[utoipa::path(get, path = "/api/v1/audit-logs/verify", tag = "audit", params(VerifyQuery),
    responses((status = 200, body = AuditVerifyView), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn verify_audit_logs(
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
