//! Backend integration tests over real HTTP: each scenario runs on SQLite, and again on a fresh
//! PostgreSQL database when `DBPOWER_TEST_POSTGRES_URL` is set (set but unreachable fails).

mod analyzer;
mod auth;
mod errors;
mod ingest;
mod llm;
mod observability;
mod panel;
mod ratelimit;
mod rbac;
mod testapp;

pub use testapp::{TestApp, on_all_backends};
