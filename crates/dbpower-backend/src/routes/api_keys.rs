//! `/api/v1/api-keys`: agent credentials. The signing secret is generated here, returned once by the
//! create call, and stored only encrypted under the master key.

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dbpower_core::perm::Action;
use dbpower_core::{Scope, validate};
use dbpower_store::NewApiKey;
use dbpower_types::{ApiKeyCreated, ApiKeyView, CreateApiKeyRequest, ErrorBody, Page, PageQuery};

use super::{require, write_org};
use crate::context::{Ctx, page_of, page_request};
use crate::routes::auth::Auth;
use crate::secrets::random_hex;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", params(PageQuery),
    responses((status = 200, body = Page<ApiKeyView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_api_keys(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<ApiKeyView>>> {
    require(&p, Action::ManageApiKeys)?;
    let req = page_request(&q)?;
    let (items, total) = s.store.list_api_keys(&Scope::of(&p), req).await?;
    Ok(ApiJson(page_of(items, total, req, |k| k.view)))
}

/// Create an agent credential. The response carries `secret` this once; it cannot be read again.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    responses((status = 201, body = ApiKeyCreated), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_api_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> ApiResult<(StatusCode, ApiJson<ApiKeyCreated>)> {
    require(&p, Action::ManageApiKeys)?;
    let org = write_org(&Scope::of(&p), req.organization_id)?;
    let name = validate::name("name", &req.name)?;
    let secret = format!("dbps_{}", random_hex(32));
    let secret_ciphertext = s.cipher.encrypt(&secret).map_err(|e| {
        tracing::error!(error = %e, "api key encryption failed");
        ApiError::internal()
    })?;
    let new = NewApiKey {
        key_id: format!("dbpk_{}", random_hex(12)),
        name,
        secret_ciphertext,
        team_id: req.team_id,
        identity_id: req.identity_id,
        created_by: Some(p.user_id),
    };
    let key = s.store.insert_api_key(org, &new).await.named("api key")?;
    s.audit(
        ctx.event(&p, "api_key.create", "api_key")
            .on(Some(key.view.organization_id), key.view.id)
            .details(serde_json::json!({"key_id": key.view.key_id, "name": key.view.name})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        ApiJson(ApiKeyCreated {
            key: key.view,
            secret,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = i64, Path)),
    responses((status = 200, body = ApiKeyView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_api_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<ApiKeyView>> {
    require(&p, Action::ManageApiKeys)?;
    Ok(ApiJson(
        s.store
            .api_key_by_id(&Scope::of(&p), id)
            .await
            .named("api key")?
            .view,
    ))
}

/// Revoke a key: agents using it are refused from the next request on. Revoking twice is harmless.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_api_key(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    require(&p, Action::ManageApiKeys)?;
    let key = s
        .store
        .revoke_api_key(&Scope::of(&p), id)
        .await
        .named("api key")?;
    s.audit(
        ctx.event(&p, "api_key.revoke", "api_key")
            .on(Some(key.view.organization_id), id)
            .details(serde_json::json!({"key_id": key.view.key_id})),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
