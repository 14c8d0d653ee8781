//! The HTTP endpoints: login and tokens ([`auth`]), signed ingestion ([`ingest`]), the resources under
//! `/api/v1`, the analyzer's ([`analyzer`]) and each role's health, readiness and metrics ([`ops`]).
//! Resource routes under `/api/v1`. Handlers check the RBAC table ([`dbpower_core::perm`]) and hand the
//! caller's [`dbpower_core::Scope`] to the store, which confines every statement to the tenant.

pub(crate) mod advice;
pub(crate) mod agents;
pub(crate) mod alerts;
pub(crate) mod analyzer;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod compare;
pub(crate) mod events;
pub(crate) mod identities;
pub(crate) mod ingest;
pub(crate) mod ops;
pub(crate) mod organizations;
pub(crate) mod queries;
pub(crate) mod reports;
pub(crate) mod stream;
pub(crate) mod teams;
pub(crate) mod users;

use crate::http::{ApiError, ApiResult};
use dbpower_core::perm::{self, Action};
use dbpower_core::{Principal, Scope, scope::ScopeError, validate};

/// 403 unless the caller's role allows `action`.
pub(crate) fn require(p: &Principal, action: Action) -> ApiResult<()> {
    if perm::allows(p, action) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "your role ({}) does not allow this",
            p.role
        )))
    }
}

/// The organization a write goes to, as the API reports problems with it.
pub(crate) fn write_org(scope: &Scope, requested: Option<i64>) -> ApiResult<dbpower_core::OrgId> {
    scope.write_org(requested).map_err(|e| match e {
        ScopeError::OrganizationRequired => {
            ApiError::validation("organization_id", "is required for a super admin")
        }
        ScopeError::NotFound => ApiError::not_found("organization"),
    })
}

/// [`validate::name`] for a field the request may leave out.
pub(crate) fn optional_name(field: &str, raw: Option<&str>) -> ApiResult<Option<String>> {
    Ok(raw.map(|r| validate::name(field, r)).transpose()?)
}
