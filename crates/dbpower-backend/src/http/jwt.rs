//! JWT issuing and checking (HS256). Access tokens live 30 minutes, refresh tokens 7 days; the `typ`
//! claim keeps them apart, so a refresh token is never accepted where an access token is required.

use chrono::Utc;
use dbpower_types::{ErrorCode, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use crate::http::ApiError;

pub const ACCESS_TTL_SECS: i64 = 30 * 60;
pub const REFRESH_TTL_SECS: i64 = 7 * 24 * 3600;
const ISSUER: &str = "dbpower";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string per RFC 7519.
    pub sub: String,
    pub uid: i64,
    pub org: Option<i64>,
    pub role: Role,
    pub typ: TokenType,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// Unique id; for refresh tokens, the key of its row in the store.
    pub jti: String,
    /// Refresh-token family (rotation lineage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fam: Option<String>,
    /// The user's token version when issued; an older version than the user's is refused.
    #[serde(default)]
    pub ver: i64,
}

/// The user a token is issued to.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    pub user_id: i64,
    pub organization_id: Option<i64>,
    pub role: Role,
    /// The user's token version (see [`Claims::ver`]).
    pub token_version: i64,
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

/// The token of an `Authorization` header value using the Bearer scheme, whatever the scheme's case
/// (RFC 9110: schemes are case-insensitive), with the whitespace around it removed. The one parser
/// every reader of the header uses.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

/// The bearer token of a request's `Authorization` header, if it has one.
pub fn bearer_of(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        TokenKeys {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Issues a token of type `typ` to `to` (in refresh-token `family`); returns it with its claims.
    pub fn issue(
        &self,
        typ: TokenType,
        to: Subject,
        family: Option<String>,
    ) -> Result<(String, Claims), ApiError> {
        let now = Utc::now().timestamp();
        let ttl = match typ {
            TokenType::Access => ACCESS_TTL_SECS,
            TokenType::Refresh => REFRESH_TTL_SECS,
        };
        let claims = Claims {
            sub: to.user_id.to_string(),
            uid: to.user_id,
            org: to.organization_id,
            role: to.role,
            typ,
            iss: ISSUER.into(),
            iat: now,
            exp: now + ttl,
            jti: uuid::Uuid::new_v4().to_string(),
            fam: family,
            ver: to.token_version,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .map_err(|e| {
                tracing::error!(error = %e, "token signing failed");
                ApiError::internal()
            })?;
        Ok((token, claims))
    }

    /// Verifies signature, expiry, issuer and token type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized(ErrorCode::TokenExpired, "token has expired")
                }
                _ => ApiError::unauthorized(ErrorCode::InvalidToken, "token is invalid"),
            },
        )?;
        if data.claims.typ != expected {
            return Err(ApiError::unauthorized(
                ErrorCode::InvalidToken,
                format!("a {:?} token cannot be used here", data.claims.typ).to_lowercase(),
            ));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer abc", "bearer abc", "BEARER  abc ", "bEaReR\tabc"] {
            assert_eq!(bearer(v), Some("abc"), "{v}");
        }
        for v in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc", ""] {
            assert_eq!(bearer(v), None, "{v}");
        }
    }

    #[test]
    fn types_are_not_interchangeable_and_tampering_fails() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let to = Subject {
            user_id: 1,
            organization_id: Some(2),
            role: Role::User,
            token_version: 0,
        };
        let (access, _) = keys.issue(TokenType::Access, to, None).expect("issue");
        let (refresh, c) = keys
            .issue(TokenType::Refresh, to, Some("f".into()))
            .expect("issue");
        assert_eq!(
            keys.verify(&access, TokenType::Access)
                .expect("access ok")
                .uid,
            1
        );
        assert_eq!(c.fam.as_deref(), Some("f"));
        assert_eq!(
            keys.verify(&refresh, TokenType::Access)
                .expect_err("refresh as access")
                .code,
            ErrorCode::InvalidToken
        );
        let other = TokenKeys::new(b"another secret another secret 12");
        assert_eq!(
            other
                .verify(&access, TokenType::Access)
                .expect_err("wrong key")
                .code,
            ErrorCode::InvalidToken
        );
        assert!(keys.verify("not.a.jwt", TokenType::Access).is_err());
    }
}
