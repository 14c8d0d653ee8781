//! Black-box tests of the `dbpower` binary, as a new user would run it.

mod agent;
mod analyze;
mod digest;
mod hardening;
mod panel;
mod serve;
mod support;
mod tidy;
mod topology;

/// MariaDB's global slow-log settings are shared by every test that changes them: one at a time.
pub(crate) static MARIADB_GLOBALS: std::sync::Mutex<()> = std::sync::Mutex::new(());
