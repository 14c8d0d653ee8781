//! Authentication: the [`Auth`] extractor (bearer access token, user re-loaded and checked active on
//! every request) and the login / refresh / logout / me endpoints.

use crate::http::jwt::{ACCESS_TTL_SECS, Subject, TokenType};
use crate::http::{ApiError, ApiJson, ApiResult};
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use dbpower_core::{Principal, Scope, validate};
use dbpower_store::{NewRefreshToken, RefreshUse, StoreError, UserRecord};
use dbpower_types::{
    ErrorBody, ErrorCode, LoginRequest, LogoutRequest, RefreshRequest, TokenResponse, UserView,
};

use crate::context::{Accounts, Ctx, Event};
use crate::state::AppState;

/// The authenticated caller.
pub(crate) struct Auth(pub Principal);

/// The authenticated caller's full user record (for `/auth/me`, saving a second read).
pub(crate) struct CurrentUser(pub UserView);

impl<S> FromRequestParts<S> for Auth
where
    Accounts: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let accounts = Accounts::from_ref(state);
        Ok(Auth(Principal::from(
            &authenticate(parts, &accounts).await?.view,
        )))
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    Accounts: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let accounts = Accounts::from_ref(state);
        Ok(CurrentUser(authenticate(parts, &accounts).await?.view))
    }
}

async fn authenticate(parts: &Parts, state: &Accounts) -> ApiResult<UserRecord> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(
                ErrorCode::Unauthorized,
                "missing Authorization: Bearer <access token>",
            )
        })?;
    let token = crate::http::jwt::bearer(header).ok_or_else(|| {
        ApiError::unauthorized(
            ErrorCode::Unauthorized,
            "Authorization must be a Bearer token",
        )
    })?;
    let claims = state.shared.tokens.verify(token, TokenType::Access)?;
    // The user row is the truth: a disabled, deleted or re-scoped user loses access at once.
    let user = match state.store.user_by_id(&Scope::platform(), claims.uid).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => {
            return Err(ApiError::unauthorized(
                ErrorCode::InvalidToken,
                "the token's user no longer exists",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if !user.view.is_active {
        return Err(account_disabled());
    }
    if claims.ver != user.token_version {
        return Err(ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "this session has ended (logout, password change or a reused refresh token); log in again",
        ));
    }
    Ok(user)
}

/// Issues an access token and a refresh token in `family`, recording the refresh token.
async fn issue_pair(
    state: &AppState,
    user: &UserRecord,
    family: String,
) -> ApiResult<TokenResponse> {
    let v = &user.view;
    let to = Subject {
        user_id: v.id,
        organization_id: v.organization_id,
        role: v.role,
        token_version: user.token_version,
    };
    let tokens = &state.shared.tokens;
    let (access_token, _) = tokens.issue(TokenType::Access, to, None)?;
    let (refresh_token, rc) = tokens.issue(TokenType::Refresh, to, Some(family.clone()))?;
    let issued_at = chrono::DateTime::from_timestamp(rc.iat, 0).unwrap_or_else(chrono::Utc::now);
    let expires_at = chrono::DateTime::from_timestamp(rc.exp, 0).unwrap_or_else(chrono::Utc::now);
    state
        .store
        .insert_refresh_token(&NewRefreshToken {
            jti: rc.jti,
            family_id: family,
            user_id: v.id,
            issued_at,
            expires_at,
        })
        .await?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "bearer".into(),
        expires_in: ACCESS_TTL_SECS,
        user: v.clone(),
    })
}

fn account_disabled() -> ApiError {
    ApiError::unauthorized(ErrorCode::AccountDisabled, "this account is disabled")
}

/// Records the refused attempt of a disabled account and returns the error to answer with.
async fn refuse_disabled(state: &AppState, ctx: &Ctx, p: &Principal, action: &str) -> ApiError {
    let event = Event::new(ctx, Some(p), action, "user")
        .resource(p.user_id)
        .failed();
    state
        .audit(event.details(serde_json::json!({"reason": "disabled"})))
        .await;
    account_disabled()
}

fn bad_credentials() -> ApiError {
    ApiError::unauthorized(
        ErrorCode::InvalidCredentials,
        "email, password or organization is incorrect (an account in an organization logs in \
         with the organization's name)",
    )
}

/// The answer to a throttled login; one audit row per address and window stands for every throttled
/// attempt in it.
async fn throttled(
    state: &AppState,
    ctx: &Ctx,
    account: &LoginAccount,
    ip: &str,
    wait: u64,
) -> ApiError {
    if state.throttle.audit_throttled(ip).await {
        let window = state.throttle.window_secs();
        let mut details = account.details("throttled");
        details["note"] = format!(
            "further throttled attempts from this address in the next {window} s are not \
             recorded one by one"
        )
        .into();
        state
            .audit(
                Event::new(ctx, None, "auth.login", "user")
                    .failed()
                    .details(details),
            )
            .await;
    }
    ApiError::new(
        ErrorCode::TooManyLoginAttempts,
        "too many failed logins; try again later",
    )
    .with_retry_after(wait)
}

/// Who a login names: a normalised e-mail address and, for an account in an organization, that
/// organization's name.
struct LoginAccount {
    email: String,
    organization: Option<String>,
}

impl LoginAccount {
    fn of(req: &LoginRequest) -> ApiResult<LoginAccount> {
        // Nothing unauthenticated is stored at any size: an address is at most 254 bytes (RFC 5321),
        // a name 200 characters.
        if req.email.len() > validate::MAX_EMAIL_BYTES {
            return Err(ApiError::validation(
                "email",
                format!("must be at most {} bytes", validate::MAX_EMAIL_BYTES),
            ));
        }
        let organization = match req.organization.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(validate::name("organization", name)?),
        };
        Ok(LoginAccount {
            email: req.email.trim().to_ascii_lowercase(),
            organization,
        })
    }

    /// What failed logins are counted under (hashed by the throttle, never stored as such): the same
    /// address in two organizations is two accounts.
    fn throttle_key(&self) -> String {
        match &self.organization {
            Some(org) => format!("{}\n{org}", self.email),
            None => self.email.clone(),
        }
    }

    /// The audit details of a refused login.
    fn details(&self, reason: &str) -> serde_json::Value {
        let mut d = serde_json::json!({"email": self.email, "reason": reason});
        if let Some(org) = &self.organization {
            d["organization"] = org.clone().into();
        }
        d
    }
}

/// The account `email` names in `organization` (a platform account without one), when `password` is
/// its password. Exactly one hash is checked on every path (a dummy one without an account), so the
/// answer's time says nothing about which accounts exist, here or in another organization.
async fn verify_login(
    state: &AppState,
    account: &LoginAccount,
    password: String,
) -> ApiResult<Option<UserRecord>> {
    let found = state
        .store
        .user_for_login(&account.email, account.organization.as_deref())
        .await;
    let user = match found {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let ok = match &user {
        Some(u) => state
            .hasher
            .verify(password, u.password_hash.clone())
            .await
            .map_err(|_| ApiError::internal())?,
        None => {
            state
                .hasher
                .verify_dummy(password)
                .await
                .map_err(|_| ApiError::internal())?;
            false
        }
    };
    Ok(user.filter(|_| ok))
}

/// Log in with email, password and, for an account in an organization, the organization's name.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    let account = LoginAccount::of(&req)?;
    let key = account.throttle_key();
    let ip = ctx.ip.clone().unwrap_or_default();
    if let Err(wait) = state.throttle.check(&key, &ip).await {
        return Err(throttled(&state, &ctx, &account, &ip, wait).await);
    }
    if req.password.len() > validate::MAX_PASSWORD_BYTES {
        return Err(bad_credentials());
    }
    let Some(_slot) = state.throttle.hash_slot(&ip) else {
        return Err(ApiError::new(
            ErrorCode::TooManyLoginAttempts,
            "too many logins in progress from this address; try again in a moment",
        )
        .with_retry_after(1));
    };
    let user = verify_login(&state, &account, req.password).await?;
    let Some(user) = user else {
        state.throttle.record_failure(&key, &ip).await;
        state
            .audit(
                Event::new(&ctx, None, "auth.login", "user")
                    .failed()
                    .details(account.details("bad_credentials")),
            )
            .await;
        return Err(bad_credentials());
    };
    let p = Principal::from(&user.view);
    if !user.view.is_active {
        return Err(refuse_disabled(&state, &ctx, &p, "auth.login").await);
    }
    state.throttle.record_success(&key).await;
    state.store.touch_last_login(user.view.id).await?;
    let resp = issue_pair(&state, &user, uuid::Uuid::new_v4().to_string()).await?;
    state
        .audit(Event::new(&ctx, Some(&p), "auth.login", "user").resource(p.user_id))
        .await;
    Ok(ApiJson(resp))
}

/// Exchange a refresh token for a new pair. The presented token is spent; presenting it again revokes
/// its whole family (every token descended from the same login).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = ErrorBody)))]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    let claims = state
        .shared
        .tokens
        .verify(req.refresh_token.trim(), TokenType::Refresh)?;
    match state.store.use_refresh_token(&claims.jti).await? {
        RefreshUse::Rotated { user_id, family_id } => {
            let user = state
                .store
                .user_by_id(&Scope::platform(), user_id)
                .await
                .map_err(|_| {
                    ApiError::unauthorized(ErrorCode::InvalidToken, "refresh token is invalid")
                })?;
            let p = Principal::from(&user.view);
            if !user.view.is_active {
                state.store.revoke_user_refresh_tokens(user_id).await?;
                return Err(refuse_disabled(&state, &ctx, &p, "auth.refresh").await);
            }
            let resp = issue_pair(&state, &user, family_id).await?;
            state
                .audit(Event::new(&ctx, Some(&p), "auth.refresh", "user").resource(user_id))
                .await;
            Ok(ApiJson(resp))
        }
        RefreshUse::Reused { user_id } => {
            // A stolen token may have been refreshed already: its access tokens end too.
            state.store.end_access_tokens(user_id).await?;
            let p = state
                .store
                .user_by_id(&Scope::platform(), user_id)
                .await
                .ok()
                .map(|u| Principal::from(&u.view));
            state
                .audit(
                    Event::new(&ctx, p.as_ref(), "auth.refresh_reuse", "user")
                        .resource(user_id)
                        .failed()
                        .details(serde_json::json!({"family_revoked": true})),
                )
                .await;
            Err(ApiError::unauthorized(
                ErrorCode::TokenReused,
                "refresh token was already used; every session of this login has been revoked",
            ))
        }
        RefreshUse::Invalid => Err(ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "refresh token is revoked, expired or unknown",
        )),
    }
}

/// Log out: revoke the given refresh token's family, or every refresh token of the caller.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = LogoutRequest,
    responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    // The body is optional: an empty one logs out every session of the caller.
    let req: LogoutRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LogoutRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(ErrorCode::InvalidJson, format!("invalid logout body: {e}"))
        })?
    };
    let revoked = match req.refresh_token {
        Some(t) => {
            let claims = state.shared.tokens.verify(t.trim(), TokenType::Refresh)?;
            if claims.uid != p.user_id {
                return Err(ApiError::unauthorized(
                    ErrorCode::InvalidToken,
                    "refresh token belongs to another user",
                ));
            }
            state
                .store
                .revoke_refresh_family_of(p.user_id, &claims.jti)
                .await?
        }
        None => state.store.revoke_user_refresh_tokens(p.user_id).await?,
    };
    // The access token used to log out (and any other of this user) stops working now, not when it
    // expires; other sessions keep their refresh tokens and get a new access token on their next refresh.
    state.store.end_access_tokens(p.user_id).await?;
    state
        .audit(
            Event::new(&ctx, Some(&p), "auth.logout", "user")
                .resource(p.user_id)
                .details(serde_json::json!({"revoked": revoked})),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own user record.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn me(CurrentUser(user): CurrentUser) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(user))
}
