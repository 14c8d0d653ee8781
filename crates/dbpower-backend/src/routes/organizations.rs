//! `/api/v1/organizations`: SUPER_ADMIN creates and deletes; ORG_ADMIN reads and updates its own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use dbpower_core::perm::Action;
use dbpower_core::{Scope, validate};
use dbpower_http::{ApiError, ApiJson, ApiQuery, ApiResult};
use dbpower_store::{NewOrganization, OrganizationPatch};
use dbpower_types::{
    CreateOrganizationRequest, ErrorBody, OrganizationView, Page, PageQuery,
    UpdateOrganizationRequest,
};

use super::{require, write_org};
use crate::auth::Auth;
use crate::state::{AppState, Ctx, Event, page_of, page_request};

/// List the organizations visible to the caller.
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations", params(PageQuery),
    responses((status = 200, body = Page<OrganizationView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_organizations(
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
pub async fn create_organization(
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
        .map_err(|e| ApiError::from_store(e, "organization"))?;
    s.audit(
        Event::new(&ctx, Some(&p), "organization.create", "organization")
            .resource(org.id)
            .details(serde_json::json!({"name": org.name})),
    )
    .await;
    Ok((StatusCode::CREATED, ApiJson(org)))
}

/// One organization.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = i64, Path)),
    responses((status = 200, body = OrganizationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get_organization(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<OrganizationView>> {
    let org = s
        .store
        .organization_by_id(&Scope::of(&p), id)
        .await
        .map_err(|e| ApiError::from_store(e, "organization"))?;
    Ok(ApiJson(org))
}

/// Update name, settings or retention (SUPER_ADMIN, or ORG_ADMIN of this organization).
#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = i64, Path)), request_body = UpdateOrganizationRequest,
    responses((status = 200, body = OrganizationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_organization(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UpdateOrganizationRequest>,
) -> ApiResult<ApiJson<OrganizationView>> {
    let scope = Scope::of(&p);
    s.store
        .organization_by_id(&scope, id)
        .await
        .map_err(|e| ApiError::from_store(e, "organization"))?;
    require(&p, Action::UpdateOrganization)?;
    let org = write_org(&scope, Some(id))?;
    let patch = OrganizationPatch {
        name: req
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?,
        settings: req.settings.clone(),
        retention_days: req
            .retention_days
            .map(validate::retention_days)
            .transpose()?,
    };
    let updated = s
        .store
        .update_organization(org, &patch)
        .await
        .map_err(|e| ApiError::from_store(e, "organization"))?;
    s.audit(
        Event::new(&ctx, Some(&p), "organization.update", "organization")
            .org(Some(id))
            .resource(id)
            .details(serde_json::to_value(&req).unwrap_or_default()),
    )
    .await;
    Ok(ApiJson(updated))
}

/// Delete an organization and everything it owns (SUPER_ADMIN). The audit log keeps its entries.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "organizations", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_organization(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let scope = Scope::of(&p);
    s.store
        .organization_by_id(&scope, id)
        .await
        .map_err(|e| ApiError::from_store(e, "organization"))?;
    require(&p, Action::DeleteOrganization)?;
    s.store
        .delete_organization(write_org(&scope, Some(id))?)
        .await
        .map_err(|e| ApiError::from_store(e, "organization"))?;
    s.audit(
        Event::new(&ctx, Some(&p), "organization.delete", "organization")
            .org(Some(id))
            .resource(id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
