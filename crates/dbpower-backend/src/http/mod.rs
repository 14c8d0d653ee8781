//! The HTTP plumbing every role's router shares: the API error type, its JSON body and the wording of
//! store errors for clients, request ids, the client address behind trusted proxies, the JSON extractor
//! that answers bad input with 4xx, and JWT issuing and checking. A leaf: it uses no other module of
//! this crate (the store's errors are mapped here, so this lives beside the store's callers rather than
//! in a crate of its own).

pub(crate) mod client_ip;
pub(crate) mod error;
pub(crate) mod json;
pub mod jwt;
pub(crate) mod request_id;

pub(crate) use client_ip::TrustedProxies;
pub(crate) use error::{ApiError, ApiResult, StoreResultExt};
pub(crate) use json::{ApiJson, ApiQuery};
pub(crate) use request_id::{ClientIp, RequestId};
