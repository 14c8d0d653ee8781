//! The workspace's one test kit (a dev-dependency only; no normal crate may depend on it):
//!
//! - [`TestDb`]: a migrated store on SQLite, or on a fresh PostgreSQL database that is dropped with it;
//! - [`TestApp`]: the application in-process in any role, on its own runtime, with typed settings
//!   overrides ([`AppBuilder::with_settings`]);
//! - [`Binary`]: the real `dbpower` binary in any role ([`Proc`]), its settings typed the same way;
//! - [`Client`]: HTTP with the login split (platform accounts, accounts of an organization) and
//!   agent-signed ingestion batches;
//! - [`HttpReceiver`] and [`SmtpReceiver`]: local stand-ins, each on its own thread, for the alert
//!   channels no test machine can reach (Slack, PagerDuty, a webhook endpoint, an SMTP relay),
//!   recording what they are sent; [`verify_standard_webhook`] checks a webhook's signature;
//! - [`redis_cluster::RedisCluster`]: a three-master Redis Cluster of the test's own;
//! - [`Checks`]: invariants checked when a database or app is dropped (no analysis job left claimed,
//!   every audit chain verifies), each with an explicit opt-out that names its reason.
//!
//! Suites read `DBPOWER_TEST_POSTGRES_URL` through [`postgres_server`]: unset, the PostgreSQL half of a
//! test is skipped with a printed reason; set but unreachable, the test fails.

mod app;
mod bin;
mod checks;
mod db;
mod http;
mod receivers;
pub mod redis_cluster;
mod settings;

pub use app::{AppBuilder, TestApp, on_all_backends, on_all_backends_with};
pub use bin::{Binary, Proc, ProcBuilder};
pub use checks::Checks;
pub use db::{POOLER, TestDb, execute_on, postgres_server};
pub use dbpower_backend::{Role, Settings};
pub use http::{ApiKey, Client, Resp, access_token, signed_batch_request, signed_request};
pub use receivers::{
    Behaviour, HttpReceiver, Mail, Received, SmtpReceiver, verify_standard_webhook,
};
pub use secrecy::SecretString;
pub use settings::{ADMIN_EMAIL, ADMIN_PASSWORD, env_of, named, secret, set_listen};

/// Installs the TLS provider reqwest and the app need (idempotent).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `DBPOWER_TEST_<name>`, or `None` after printing why the test that needs it is skipped.
pub fn service(name: &str, test: &str) -> Option<String> {
    let var = format!("DBPOWER_TEST_{name}");
    match std::env::var(&var) {
        Ok(v) => Some(v),
        Err(_) => {
            println!("skipping {test}: {var} is not set");
            None
        }
    }
}
