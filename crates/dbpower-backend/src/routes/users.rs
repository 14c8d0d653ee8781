//! `/api/v1/users`: ORG_ADMIN manages its organization's users, TEAM_LEAD the users of its team, a USER
//! sees itself. Nobody grants a role above their own or manages someone ranked above them.

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dbpower_core::perm::{self, Action, UserEdit, UserRefusal};
use dbpower_core::{Scope, validate};
use dbpower_store::{NewUser, UserPatch};
use dbpower_types::{
    CreateUserRequest, ErrorBody, Page, PageQuery, Role, UpdateUserRequest, UserView,
};

use super::{optional_name, require, write_org};
use crate::context::{Ctx, page_of, page_request};
use crate::routes::auth::Auth;
use crate::state::AppState;

/// The API's answer to a refused change of a user account (the rules are `perm::check_user_edit`).
fn refused(r: UserRefusal) -> ApiError {
    match r {
        UserRefusal::OwnAdministration => {
            ApiError::forbidden("you cannot change your own role, team, identity or active state")
        }
        UserRefusal::DeleteSelf => ApiError::forbidden("you cannot delete yourself"),
        UserRefusal::Outranked { caller, subject } => {
            ApiError::forbidden(format!("a {caller} cannot manage a {subject}"))
        }
        UserRefusal::CannotGrant { caller, role } => {
            ApiError::forbidden(format!("a {caller} cannot grant the role {role}"))
        }
        UserRefusal::SuperAdminChange => {
            ApiError::validation("role", "super admins are created, not promoted or demoted")
        }
        UserRefusal::OtherTeam => {
            ApiError::forbidden("a team lead manages users of its own team only")
        }
    }
}

async fn hash(s: &AppState, password: String) -> ApiResult<String> {
    validate::password(&password)?;
    s.hasher.hash(password).await.map_err(|e| {
        tracing::error!(error = %e, "password hashing failed");
        ApiError::internal()
    })
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = Page<UserView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_users(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<UserView>>> {
    let req = page_request(&q)?;
    let (items, total) = s.store.list_users(&Scope::of(&p), req).await?;
    Ok(ApiJson(page_of(items, total, req, |u| u.view)))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, ApiJson<UserView>)> {
    require(&p, Action::ManageUsers)?;
    perm::check_user_edit(&p, None, UserEdit::Create { role: req.role }).map_err(refused)?;
    let email = validate::email(&req.email)?;
    let full_name = optional_name("full_name", req.full_name.as_deref())?;
    let organization_id = if req.role == Role::SuperAdmin {
        if req.organization_id.is_some() || req.team_id.is_some() || req.identity_id.is_some() {
            return Err(ApiError::validation(
                "organization_id",
                "a super admin belongs to no organization",
            ));
        }
        None
    } else {
        Some(write_org(&Scope::of(&p), req.organization_id)?.get())
    };
    let team_id = perm::team_for_user(&p, req.team_id).map_err(refused)?;
    let password_hash = hash(&s, req.password).await?;
    let new = NewUser {
        email,
        password_hash,
        full_name,
        role: req.role,
        organization_id,
        team_id,
        identity_id: req.identity_id,
    };
    let user = s.store.insert_user(&new).await.named("user")?;
    s.audit(
        ctx.event(&p, "user.create", "user")
            .on(user.view.organization_id, user.view.id)
            .details(serde_json::json!({"email": user.view.email, "role": user.view.role})),
    )
    .await;
    Ok((StatusCode::CREATED, ApiJson(user.view)))
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(
        s.store
            .user_by_id(&Scope::of(&p), id)
            .await
            .named("user")?
            .view,
    ))
}

/// The names of the fields an update sets (recorded in the audit log, never their values).
fn changed_fields(req: &UpdateUserRequest) -> Vec<&'static str> {
    [
        ("full_name", req.full_name.is_some()),
        ("role", req.role.is_some()),
        ("team_id", req.team_id.is_some()),
        ("identity_id", req.identity_id.is_some()),
        ("is_active", req.is_active.is_some()),
        ("password", req.password.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

/// Changing one's own password needs the current one (a stolen session must not lock its owner out).
async fn check_current_password(
    s: &AppState,
    target: &dbpower_store::UserRecord,
    current: Option<String>,
) -> ApiResult<()> {
    let current = current.unwrap_or_default();
    let ok = !current.is_empty()
        && current.len() <= validate::MAX_PASSWORD_BYTES
        && s.hasher
            .verify(current, target.password_hash.clone())
            .await
            .map_err(|_| ApiError::internal())?;
    if !ok {
        return Err(ApiError::validation(
            "current_password",
            "give your current password to set a new one",
        ));
    }
    Ok(())
}

/// Update a user. Everyone may change their own name and password; role, team, identity and
/// enable/disable need the right to manage that user. A password reset or a disable revokes the user's
/// refresh tokens and ends their access tokens.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UpdateUserRequest,
    responses((status = 200, body = UserView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn update_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<ApiJson<UserView>> {
    let scope = Scope::of(&p);
    let target = s.store.user_by_id(&scope, id).await.named("user")?;
    let is_self = target.view.id == p.user_id;
    let admin_fields = req.role.is_some()
        || req.team_id.is_some()
        || req.identity_id.is_some()
        || req.is_active.is_some();
    perm::check_user_edit(
        &p,
        Some((target.view.id, target.view.role)),
        UserEdit::Update {
            role: req.role,
            admin_fields,
        },
    )
    .map_err(refused)?;
    let team_id = if req.team_id.is_some() {
        perm::team_for_user(&p, req.team_id).map_err(refused)?
    } else {
        None
    };
    if is_self && req.password.is_some() {
        check_current_password(&s, &target, req.current_password.clone()).await?;
    }
    let password_hash = match req.password.clone() {
        Some(pw) => Some(hash(&s, pw).await?),
        None => None,
    };
    let patch = UserPatch {
        full_name: optional_name("full_name", req.full_name.as_deref())?,
        role: req.role,
        team_id,
        identity_id: req.identity_id,
        is_active: req.is_active,
        password_hash,
    };
    let user = s
        .store
        .update_user(&scope, id, &patch)
        .await
        .named("user")?;
    if req.password.is_some() || req.is_active == Some(false) {
        s.store.revoke_user_refresh_tokens(id).await?;
        s.store.end_access_tokens(id).await?;
    }
    s.audit(
        ctx.event(&p, "user.update", "user").on(user.view.organization_id, id)
            .details(serde_json::json!({"changed": changed_fields(&req), "role": req.role, "is_active": req.is_active})),
    )
    .await;
    Ok(ApiJson(user.view))
}

#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_user(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let scope = Scope::of(&p);
    let target = s.store.user_by_id(&scope, id).await.named("user")?;
    perm::check_user_edit(
        &p,
        Some((target.view.id, target.view.role)),
        UserEdit::Delete,
    )
    .map_err(refused)?;
    s.store.delete_user(&scope, id).await.named("user")?;
    s.audit(
        ctx.event(&p, "user.delete", "user")
            .on(target.view.organization_id, id)
            .details(serde_json::json!({"email": target.view.email})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
