//! Backend integration tests over real HTTP: each scenario runs on SQLite, and again on a fresh
//! PostgreSQL database when `DBPOWER_TEST_POSTGRES_URL` is set (set but unreachable fails). Apps come
//! from the test kit ([`dbpower_testkit::TestApp`]), which checks the database's invariants on drop.

mod advice;
mod agents;
mod analyzer;
mod auth;
mod classes;
mod compare;
mod errors;
mod events;
mod ingest;
mod llm;
mod observability;
mod panel;
mod ratelimit;
mod rbac;
mod reanalysis;

pub(crate) use dbpower_testkit::{
    Settings, TestApp, named, on_all_backends, on_all_backends_with, secret,
};
