//! `/api/v1/organizations`: SUPER_ADMIN creates and deletes; ORG_ADMIN reads and updates its own.

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dbpower_core::perm::Action;
use dbpower_core::{Principal, Scope, validate};
use dbpower_store::{NewOrganization, OrganizationPatch};
use dbpower_types::{
    AiPolicy, CreateOrganizationRequest, ErrorBody, OrgSettings, OrganizationView, Page, PageQuery,
    Role, UpdateOrganizationRequest,
};

use super::{optional_name, require, write_org};
use crate::context::{Ctx, page_of, page_request};
use crate::routes::auth::Auth;
use crate::state::AppState;

/// List the organizations visible to the caller.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations", params(PageQuery),
    responses((status = 200, body = Page<OrganizationView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_organizations(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<OrganizationView>>> {
    let req = page_request(&q)?;
    let (items, total) = s.store.list_organizations(&Scope::of(&p), req).await?;
    Ok(ApiJson(page_of(items, total, req, |o| o)))
}

/// Create an organization (SUPER_ADMIN).
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations", request_body = CreateOrganizationRequest,
    responses((status = 201, body = OrganizationView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_organization(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateOrganizationRequest>,
) -> ApiResult<(StatusCode, ApiJson<OrganizationView>)> {
    require(&p, Action::CreateOrganization)?;
    let new = NewOrganization {
        name: validate::name("name", &req.name)?,
        settings: req.settings.unwrap_or_default(),
        retention_days: validate::retention_days(req.retention_days.unwrap_or(90))?,
    };
    let org = s
        .store
        .insert_organization(&new)
        .await
        .named("organization")?;
    s.audit(
        ctx.event(&p, "organization.create", "organization")
            .resource(org.id)
            .details(serde_json::json!({"name": org.name})),
    )
    .await;
    Ok((StatusCode::CREATED, ApiJson(org)))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = i64, Path)),
    responses((status = 200, body = OrganizationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_organization(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<OrganizationView>> {
    let org = s
        .store
        .organization_by_id(&Scope::of(&p), id)
        .await
        .named("organization")?;
    Ok(ApiJson(org))
}

/// Most requests per window an organization may be given (per minute and per hour).
const MAX_LIMIT: u32 = 100_000_000;

/// The deployment's default limits (per minute, per hour); unlimited when limits are off.
fn limit_defaults(s: &AppState) -> (u32, u32) {
    s.rate_limits
        .as_deref()
        .or(s.key_limits.as_deref())
        .map_or((u32::MAX, u32::MAX), |r| r.org_defaults())
}

/// The platform's settings (limits, AI allowance) are the SUPER_ADMIN's: an ORG_ADMIN may only lower its
/// limits and turn LLM use off. Everyone's values are bounded.
fn check_settings(
    p: &Principal,
    current: &OrgSettings,
    next: &OrgSettings,
    (default_minute, default_hour): (u32, u32),
) -> ApiResult<()> {
    for (field, v) in [
        ("settings.rate_limit_per_minute", next.rate_limit_per_minute),
        ("settings.rate_limit_per_hour", next.rate_limit_per_hour),
    ] {
        if v.is_some_and(|v| !(1..=MAX_LIMIT).contains(&v)) {
            return Err(ApiError::validation(
                field,
                format!("must be from 1 to {MAX_LIMIT}, or null for the default"),
            ));
        }
    }
    if p.role == Role::SuperAdmin {
        return Ok(());
    }
    let effective = |v: Option<u32>, default: u32| v.unwrap_or(default);
    let raised_minute = effective(next.rate_limit_per_minute, default_minute)
        > effective(current.rate_limit_per_minute, default_minute);
    let raised_hour = effective(next.rate_limit_per_hour, default_hour)
        > effective(current.rate_limit_per_hour, default_hour);
    let llm_on = next.ai_policy == AiPolicy::AllowLlm && current.ai_policy != AiPolicy::AllowLlm;
    if raised_minute || raised_hour {
        return Err(ApiError::forbidden(
            "rate limits are the platform's: an organization admin may only lower them",
        ));
    }
    if llm_on {
        return Err(ApiError::forbidden(
            "LLM use is allowed by the platform's administrators, not by the organization",
        ));
    }
    Ok(())
}

/// Update name, settings or retention (SUPER_ADMIN, or ORG_ADMIN of this organization). Only the settings
/// named in the body change. Raising rate limits or allowing LLM use is the SUPER_ADMIN's.
#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = i64, Path)), request_body = UpdateOrganizationRequest,
    responses((status = 200, body = OrganizationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn update_organization(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UpdateOrganizationRequest>,
) -> ApiResult<ApiJson<OrganizationView>> {
    let scope = Scope::of(&p);
    let current = s
        .store
        .organization_by_id(&scope, id)
        .await
        .named("organization")?;
    require(&p, Action::UpdateOrganization)?;
    let org = write_org(&scope, Some(id))?;
    let settings = match &req.settings {
        Some(change) => {
            let next = change.apply(&current.settings);
            check_settings(&p, &current.settings, &next, limit_defaults(&s))?;
            Some(next)
        }
        None => None,
    };
    let patch = OrganizationPatch {
        name: optional_name("name", req.name.as_deref())?,
        settings,
        retention_days: req
            .retention_days
            .map(validate::retention_days)
            .transpose()?,
    };
    let updated = s
        .store
        .update_organization(org, &patch)
        .await
        .named("organization")?;
    s.audit(
        ctx.event(&p, "organization.update", "organization")
            .on(Some(id), id)
            .details(serde_json::to_value(&req).unwrap_or_default()),
    )
    .await;
    Ok(ApiJson(updated))
}

/// Delete an organization and everything it owns (SUPER_ADMIN). The audit log keeps its entries.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_organization(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let scope = Scope::of(&p);
    s.store
        .organization_by_id(&scope, id)
        .await
        .named("organization")?;
    require(&p, Action::DeleteOrganization)?;
    s.store
        .delete_organization(write_org(&scope, Some(id))?)
        .await
        .named("organization")?;
    s.audit(
        ctx.event(&p, "organization.delete", "organization")
            .on(Some(id), id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
