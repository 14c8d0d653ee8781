//! `/api/v1/identities`: the database/application accounts a team owns. ORG_ADMIN manages them.

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dbpower_core::perm::Action;
use dbpower_core::{Scope, validate};
use dbpower_types::{
    CreateIdentityRequest, ErrorBody, IdentityView, Page, PageQuery, UpdateIdentityRequest,
};

use super::{require, write_org};
use crate::context::{Ctx, page_of, page_request};
use crate::routes::auth::Auth;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/identities", tag = "identities", params(PageQuery),
    responses((status = 200, body = Page<IdentityView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_identities(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<IdentityView>>> {
    let req = page_request(&q)?;
    let (items, total) = s.store.list_identities(&Scope::of(&p), req).await?;
    Ok(ApiJson(page_of(items, total, req, |i| i)))
}

#[utoipa::path(post, path = "/api/v1/identities", tag = "identities", request_body = CreateIdentityRequest,
    responses((status = 201, body = IdentityView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_identity(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateIdentityRequest>,
) -> ApiResult<(StatusCode, ApiJson<IdentityView>)> {
    require(&p, Action::ManageIdentities)?;
    let scope = Scope::of(&p);
    let name = validate::name("name", &req.name)?;
    let team = s
        .store
        .team_by_id(&scope, req.team_id)
        .await
        .map_err(|_| ApiError::validation("team_id", "no such team"))?;
    let org = write_org(&scope, Some(team.organization_id))?;
    let identity = s
        .store
        .insert_identity(org, team.id, &name)
        .await
        .named("team")?;
    s.audit(
        ctx.event(&p, "identity.create", "identity")
            .on(Some(identity.organization_id), identity.id)
            .details(serde_json::json!({"name": identity.name, "team_id": identity.team_id})),
    )
    .await;
    Ok((StatusCode::CREATED, ApiJson(identity)))
}

#[utoipa::path(get, path = "/api/v1/identities/{id}", tag = "identities", params(("id" = i64, Path)),
    responses((status = 200, body = IdentityView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_identity(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<IdentityView>> {
    Ok(ApiJson(
        s.store
            .identity_by_id(&Scope::of(&p), id)
            .await
            .named("identity")?,
    ))
}

#[utoipa::path(patch, path = "/api/v1/identities/{id}", tag = "identities", params(("id" = i64, Path)), request_body = UpdateIdentityRequest,
    responses((status = 200, body = IdentityView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn update_identity(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UpdateIdentityRequest>,
) -> ApiResult<ApiJson<IdentityView>> {
    let scope = Scope::of(&p);
    let current = s.store.identity_by_id(&scope, id).await.named("identity")?;
    require(&p, Action::ManageIdentities)?;
    let name = match req.name.as_deref() {
        Some(n) => validate::name("name", n)?,
        None => current.name,
    };
    let identity = s
        .store
        .update_identity(&scope, id, &name)
        .await
        .named("identity")?;
    s.audit(
        ctx.event(&p, "identity.update", "identity")
            .on(Some(identity.organization_id), id)
            .details(serde_json::json!({"name": identity.name})),
    )
    .await;
    Ok(ApiJson(identity))
}

#[utoipa::path(delete, path = "/api/v1/identities/{id}", tag = "identities", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_identity(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let scope = Scope::of(&p);
    let identity = s.store.identity_by_id(&scope, id).await.named("identity")?;
    require(&p, Action::ManageIdentities)?;
    s.store
        .delete_identity(&scope, id)
        .await
        .named("identity")?;
    s.audit(
        ctx.event(&p, "identity.delete", "identity")
            .on(Some(identity.organization_id), id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
