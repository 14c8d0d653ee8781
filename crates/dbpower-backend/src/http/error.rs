//! [`ApiError`]: the one way a handler fails. It renders `{"error":{code,message,request_id}}` with the
//! status from [`ErrorCode::status`]; 5xx causes are logged once here and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dbpower_core::validate::FieldError;
use dbpower_store::{Entity, Reference, StoreError};
use dbpower_types::{ClassCandidate, ErrorBody, ErrorCode, ErrorDetail};

use crate::http::request_id;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, for 429 responses.
    pub retry_after: Option<u64>,
    /// For `ambiguous_query_id`: the classes to choose from.
    pub candidates: Option<Vec<ClassCandidate>>,
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            candidates: None,
        }
    }
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Forbidden, message)
    }
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::new(code, message)
    }
    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            code: ErrorCode::ValidationFailed,
            message: format!("{field}: {message}"),
            field: Some(field.to_string()),
            retry_after: None,
            candidates: None,
        }
    }
    pub fn internal() -> ApiError {
        ApiError::new(
            ErrorCode::Internal,
            "internal error; the request id identifies it in the server log",
        )
    }
    pub fn with_retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// Maps a store error, naming the resource for 404s.
    pub fn from_store(e: StoreError, what: &str) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(what),
            StoreError::Conflict(Entity::AlertState) => ApiError::new(
                ErrorCode::Conflict,
                "the alert's status does not allow this (acknowledge an open alert; resolve an open \
                 or acknowledged one)",
            ),
            StoreError::Conflict(Entity::RuleWithOpenAlerts) => ApiError::new(
                ErrorCode::Conflict,
                "the rule has unresolved alerts: resolve them (or disable the rule and let them \
                 resolve) before deleting it",
            ),
            StoreError::Conflict(Entity::TestPending) => ApiError::new(
                ErrorCode::Conflict,
                "a test message to this channel is still queued; wait for its result",
            ),
            StoreError::Conflict(entity) => ApiError::new(
                ErrorCode::Conflict,
                format!("{} already exists", unique_key(entity)),
            ),
            StoreError::RequestInProgress => ApiError::new(
                ErrorCode::Conflict,
                "this request id is being processed; retry shortly",
            ),
            StoreError::InvalidReference(reference) => {
                let (field, message) = match reference {
                    Reference::TeamId => ("team_id".to_string(), "team_id: no such team".to_string()),
                    Reference::ReportChannel => (
                        "channel_id".to_string(),
                        "channel_id: not an enabled e-mail channel of this organization that the team may use".to_string(),
                    ),
                    Reference::RuleTarget => (
                        "team_id, identity_id or channel_ids".to_string(),
                        "team_id, identity_id or channel_ids: not in this organization".to_string(),
                    ),
                    Reference::TeamIdOrIdentityId => (
                        "team_id or identity_id".to_string(),
                        "team_id or identity_id: not in this organization, or the identity belongs \
                         to another team"
                            .to_string(),
                    ),
                    // No one field: the message names what was written, and stands for the field.
                    Reference::Row(entity) => {
                        let m = format!(
                            "{} refers to something that does not exist",
                            unique_key(entity)
                        );
                        (m.clone(), m)
                    }
                };
                ApiError {
                    code: ErrorCode::ValidationFailed,
                    message,
                    field: Some(field),
                    retry_after: None,
                    candidates: None,
                }
            }
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "database unavailable");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "the database is unavailable; try again shortly",
                )
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

/// A row of this kind, by the key that must be unique.
fn unique_key(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "an organization with this name",
        Entity::Team => "a team with this name",
        Entity::Identity => "an identity with this name",
        Entity::User => "a user with this email",
        Entity::ApiKey => "an api key with this key id",
        Entity::RefreshToken => "a refresh token with this id",
        Entity::Channel => "an alert channel with this name",
        Entity::Rule => "an alert rule with this name",
        Entity::AlertState => "an alert in this state",
        Entity::RuleWithOpenAlerts => "an alert rule with unresolved alerts",
        Entity::TestPending => "a queued test message",
    }
}

/// A store result as a handler reports it: the error mapped by [`ApiError::from_store`], a missing row
/// answered as "`what` not found".
pub(crate) trait StoreResultExt<T> {
    fn named(self, what: &str) -> ApiResult<T>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn named(self, what: &str) -> ApiResult<T> {
        self.map_err(|e| ApiError::from_store(e, what))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::from_store(e, "resource")
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::validation(&e.field, e.message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                request_id: request_id::current(),
                field: self.field,
                candidates: self.candidates,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_read_as_before() {
        let e = ApiError::from_store(StoreError::InvalidReference(Reference::TeamId), "identity");
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        assert_eq!(
            (e.field.as_deref(), e.message.as_str()),
            (Some("team_id"), "team_id: no such team")
        );
        let e = ApiError::from(StoreError::InvalidReference(Reference::TeamIdOrIdentityId));
        assert_eq!(e.field.as_deref(), Some("team_id or identity_id"));
        assert_eq!(
            e.message,
            "team_id or identity_id: not in this organization, or the identity belongs to another team"
        );
        let e = ApiError::from(StoreError::InvalidReference(Reference::Row(Entity::Team)));
        assert_eq!(
            e.message,
            "a team with this name refers to something that does not exist"
        );
        let e = ApiError::from(StoreError::Conflict(Entity::User));
        assert_eq!(e.code, ErrorCode::Conflict);
        assert_eq!(e.message, "a user with this email already exists");
        let e = ApiError::from(StoreError::RequestInProgress);
        assert_eq!(
            (e.code, e.message.as_str()),
            (
                ErrorCode::Conflict,
                "this request id is being processed; retry shortly"
            )
        );
    }
}
