//! The DBPower backend service: authentication, tenants and RBAC, the audit log, and the resource routes.
//! `dbpower serve` runs it with embedded defaults; [`app::Application`] is the entry point.

pub mod app;
pub mod bootstrap;
pub mod config;
pub mod context;
pub mod demo;
pub mod gateway;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod password;
pub mod routes;
pub mod secrets;
pub mod state;
pub mod throttle;
pub mod workers;

pub use app::Application;
pub use config::{Overrides, Settings};

/// Whether this binary embeds the admin panel (it does unless npm was missing at build time).
pub fn panel_built() -> bool {
    dbpower_web::is_built()
}
