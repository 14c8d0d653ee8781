//! [`ApiQuery`]: query-string extraction whose failures are JSON 422s naming the problem.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use dbpower_http::ApiError;
use dbpower_types::ErrorCode;
use serde::de::DeserializeOwned;

pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("invalid query string: {}", e.body_text()),
            )),
        }
    }
}
