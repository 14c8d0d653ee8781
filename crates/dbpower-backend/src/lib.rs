//! The DBPower backend service: authentication, tenants and RBAC, the audit log, and the resource routes.
//! `dbpower serve` runs it with embedded defaults; [`Application`] is the entry point.

mod app;
mod bootstrap;
mod config;
mod context;
mod demo;
mod gateway;
mod http;
mod metrics;
mod middleware;
mod openapi;
mod password;
mod routes;
mod secrets;
mod state;
mod throttle;
mod workers;

pub use app::{Application, open_store};
pub use bootstrap::LoginHint;
pub use config::{LogFormat, Overrides, Role, Settings, env_names};
/// Token issuing and checking (public for the `jwt` benchmark).
pub use http::jwt;
pub use openapi::document as openapi_document;
pub use workers::retention::sweep as sweep_retention;

/// Whether this binary embeds the admin panel (it does unless npm was missing at build time).
pub fn panel_built() -> bool {
    dbpower_web::is_built()
}
