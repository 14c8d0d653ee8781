//! `/api/v1/teams`: ORG_ADMIN manages its organization's teams; team leads and users read their own team.

use crate::http::{ApiJson, ApiQuery, ApiResult, StoreResultExt};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dbpower_core::perm::Action;
use dbpower_core::{Scope, validate};
use dbpower_store::TeamPatch;
use dbpower_types::{CreateTeamRequest, ErrorBody, Page, PageQuery, TeamView, UpdateTeamRequest};

use super::{optional_name, require, write_org};
use crate::context::{Ctx, page_of, page_request};
use crate::routes::auth::Auth;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", params(PageQuery),
    responses((status = 200, body = Page<TeamView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_teams(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<TeamView>>> {
    let req = page_request(&q)?;
    let (items, total) = s.store.list_teams(&Scope::of(&p), req).await?;
    Ok(ApiJson(page_of(items, total, req, |t| t)))
}

#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeamRequest,
    responses((status = 201, body = TeamView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_team(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateTeamRequest>,
) -> ApiResult<(StatusCode, ApiJson<TeamView>)> {
    require(&p, Action::ManageTeams)?;
    let org = write_org(&Scope::of(&p), req.organization_id)?;
    let name = validate::name("name", &req.name)?;
    let description = optional_name("description", req.description.as_deref())?;
    let team = s
        .store
        .insert_team(org, &name, description.as_deref())
        .await
        .named("organization")?;
    s.audit(
        ctx.event(&p, "team.create", "team")
            .on(Some(team.organization_id), team.id)
            .details(serde_json::json!({"name": team.name})),
    )
    .await;
    Ok((StatusCode::CREATED, ApiJson(team)))
}

#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = 200, body = TeamView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_team(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<TeamView>> {
    Ok(ApiJson(
        s.store.team_by_id(&Scope::of(&p), id).await.named("team")?,
    ))
}

#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)), request_body = UpdateTeamRequest,
    responses((status = 200, body = TeamView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn update_team(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UpdateTeamRequest>,
) -> ApiResult<ApiJson<TeamView>> {
    let scope = Scope::of(&p);
    s.store.team_by_id(&scope, id).await.named("team")?;
    require(&p, Action::ManageTeams)?;
    let patch = TeamPatch {
        name: optional_name("name", req.name.as_deref())?,
        description: optional_name("description", req.description.as_deref())?,
    };
    let team = s
        .store
        .update_team(&scope, id, &patch)
        .await
        .named("team")?;
    s.audit(
        ctx.event(&p, "team.update", "team")
            .on(Some(team.organization_id), id)
            .details(serde_json::to_value(&req).unwrap_or_default()),
    )
    .await;
    Ok(ApiJson(team))
}

#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_team(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let scope = Scope::of(&p);
    let team = s.store.team_by_id(&scope, id).await.named("team")?;
    require(&p, Action::ManageTeams)?;
    s.store.delete_team(&scope, id).await.named("team")?;
    s.audit(
        ctx.event(&p, "team.delete", "team")
            .on(Some(team.organization_id), id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
