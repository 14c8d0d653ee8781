//! Shared axum plumbing for every DBPower service: the API error type and its JSON body, request ids,
//! the JSON extractor that answers bad input with 4xx, JWT issuing and checking, and health routes.

pub mod client_ip;
pub mod error;
pub mod json;
pub mod jwt;
pub mod request_id;

pub use client_ip::TrustedProxies;
pub use error::{ApiError, ApiResult};
pub use json::{ApiJson, ApiQuery};
pub use request_id::{ClientIp, RequestId};
