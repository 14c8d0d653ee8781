//! The one error body every DBPower endpoint returns, and the stable table of error codes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stable, snake_case error codes. Clients may match on them; never rename one once shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidJson,
    ValidationFailed,
    Unauthorized,
    InvalidCredentials,
    TokenExpired,
    InvalidToken,
    TokenReused,
    AccountDisabled,
    /// Ingestion: `X-API-Key` names no key.
    UnknownApiKey,
    /// Ingestion: the key was revoked.
    ApiKeyRevoked,
    /// Ingestion: `X-Signature` does not match.
    InvalidSignature,
    /// Ingestion: `X-Timestamp` is more than 300 s away from the server's clock.
    TimestampOutOfWindow,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    /// A query id names classes of several engines (or organizations): `candidates` lists them; ask
    /// again with `database_type` (and `organization_id`).
    AmbiguousQueryId,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited,
    TooManyLoginAttempts,
    Internal,
    ServiceUnavailable,
    /// The gateway's upstream is down (502).
    BadGateway,
    /// The gateway's upstream did not answer in time (504).
    GatewayTimeout,
}

impl ErrorCode {
    /// The HTTP status for this code: the single table that maps codes to statuses.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | InvalidJson => 400,
            Unauthorized | InvalidCredentials | TokenExpired | InvalidToken | TokenReused
            | AccountDisabled | UnknownApiKey | ApiKeyRevoked | InvalidSignature
            | TimestampOutOfWindow => 401,
            Forbidden => 403,
            NotFound => 404,
            MethodNotAllowed => 405,
            Conflict | AmbiguousQueryId => 409,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            ValidationFailed => 422,
            RateLimited | TooManyLoginAttempts => 429,
            Internal => 500,
            ServiceUnavailable => 503,
            BadGateway => 502,
            GatewayTimeout => 504,
        }
    }

    /// The snake_case spelling, as serialized.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            InvalidJson => "invalid_json",
            ValidationFailed => "validation_failed",
            Unauthorized => "unauthorized",
            InvalidCredentials => "invalid_credentials",
            TokenExpired => "token_expired",
            InvalidToken => "invalid_token",
            TokenReused => "token_reused",
            AccountDisabled => "account_disabled",
            UnknownApiKey => "unknown_api_key",
            ApiKeyRevoked => "api_key_revoked",
            InvalidSignature => "invalid_signature",
            TimestampOutOfWindow => "timestamp_out_of_window",
            Forbidden => "forbidden",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
            Conflict => "conflict",
            AmbiguousQueryId => "ambiguous_query_id",
            PayloadTooLarge => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            RateLimited => "rate_limited",
            TooManyLoginAttempts => "too_many_login_attempts",
            Internal => "internal",
            ServiceUnavailable => "service_unavailable",
            BadGateway => "bad_gateway",
            GatewayTimeout => "gateway_timeout",
        }
    }
}

/// `{"error": {...}}`: the body of every 4xx and 5xx response.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A sentence for humans; never contains secrets or internals.
    pub message: String,
    /// The request id, also sent as the `X-Request-ID` header.
    pub request_id: String,
    /// For validation errors: the field that failed (dotted path, e.g. `queries[3].sql_text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `ambiguous_query_id`: the classes the query id names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<ClassCandidate>>,
}

/// One of the classes an ambiguous query id names, and the URL that reads it alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClassCandidate {
    pub query_id: String,
    pub database_type: crate::DatabaseType,
    pub organization_id: i64,
    /// `/api/v1/query-classes/{query_id}?database_type=...` (with `organization_id` when the
    /// organizations differ).
    pub href: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spelling_matches_serde() {
        for c in [
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::TooManyLoginAttempts,
            ErrorCode::TokenReused,
            ErrorCode::AmbiguousQueryId,
        ] {
            let json = serde_json::to_string(&c).expect("serialize");
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert_eq!(ErrorCode::NotFound.status(), 404);
        assert_eq!(ErrorCode::ValidationFailed.status(), 422);
        assert_eq!(ErrorCode::AmbiguousQueryId.status(), 409);
    }
}
