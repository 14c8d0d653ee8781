//! Black-box tests of the `dbpower` binary, as a new user would run it.

/// The scenario `async fn $scenario(env: $env)` (or `env: &$env`, written `&$env`) as two tests, `$scenario::on_sqlite` and
/// `$scenario::on_postgres`: the environment is `$env::sqlite()` or `$env::postgres(server)` on the
/// PostgreSQL server `DBPOWER_TEST_POSTGRES_URL` names (the second returns early when it is unset).
macro_rules! on_both_stores {
    ($scenario:ident, $env:ident) => {
        on_both_stores!($scenario, $env, |env| env);
    };
    ($scenario:ident, &$env:ident) => {
        on_both_stores!($scenario, $env, |env| &env);
    };
    ($scenario:ident, $env:ident, |$e:ident| $arg:expr) => {
        mod $scenario {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn on_sqlite() {
                let $e = $env::sqlite().await;
                super::$scenario($arg).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn on_postgres() {
                let Some(server) = dbpower_testkit::postgres_server() else {
                    return;
                };
                let $e = $env::postgres(&server).await;
                super::$scenario($arg).await;
            }
        }
    };
}

mod agent;
mod agentmy;
mod agentpg;
mod alerts;
mod analyze;
mod digest;
mod hardening;
mod panel;
mod pgss;
mod planhistory;
mod replica;
mod serve;
mod support;
mod tidy;
mod topology;
mod whatif;
mod workloads;

/// MariaDB's global slow-log settings are shared by every test that changes them: one at a time.
pub(crate) static MARIADB_GLOBALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// For a test that changes MariaDB's global settings: the server `DBPOWER_TEST_MYSQL_URL` names (`None`
/// when it is unset) and the lock that keeps the other such tests waiting until this one ends.
pub(crate) async fn mariadb_globals() -> Option<(String, tokio::sync::MutexGuard<'static, ()>)> {
    let url = std::env::var("DBPOWER_TEST_MYSQL_URL").ok()?;
    Some((url, MARIADB_GLOBALS.lock().await))
}
