//! Authentication bodies: login, refresh, logout and the user view they return.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Role;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// At most 254 bytes (422 beyond).
    #[schema(max_length = 254)]
    pub email: String,
    pub password: String,
    /// The name of the organization the account belongs to. E-mail addresses are unique per
    /// organization, so an account in an organization is named by both; leave it out for a platform
    /// (SUPER_ADMIN) account. At most 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub organization: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Logout revokes the given refresh token's whole family; without one, every refresh token of the caller.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    pub user: UserView,
}

/// A user as the API shows it. Never carries the password hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub full_name: Option<String>,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    #[serde(default)]
    pub full_name: Option<String>,
    pub role: Role,
    /// Required for SUPER_ADMIN callers creating a user in an organization; others create in their own.
    #[serde(default)]
    pub organization_id: Option<i64>,
    #[serde(default)]
    pub team_id: Option<i64>,
    #[serde(default)]
    pub identity_id: Option<i64>,
}

/// Partial update: absent fields are left as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub team_id: Option<i64>,
    #[serde(default)]
    pub identity_id: Option<i64>,
    #[serde(default)]
    pub is_active: Option<bool>,
    /// Sets a new password (a reset); the user's sessions end (refresh and access tokens).
    #[serde(default)]
    pub password: Option<String>,
    /// Required with `password` when changing one's own password.
    #[serde(default)]
    pub current_password: Option<String>,
}
