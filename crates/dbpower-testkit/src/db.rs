//! Test databases: a migrated SQLite store in a temporary directory, a fresh PostgreSQL database that
//! is dropped (`WITH (FORCE)`) with its [`TestDb`], or the SQLite file a spawned binary keeps in its data
//! directory. Dropping one runs the [`Checks`] first, unless the test is already failing.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dbpower_store::Store;

use crate::checks::{Checks, block_on_own_runtime};

/// `DBPOWER_TEST_POSTGRES_URL`, or `None` after printing that the PostgreSQL variant is skipped.
pub fn postgres_server() -> Option<String> {
    crate::service("POSTGRES_URL", "the PostgreSQL variant")
}

/// Names a connection pooler in front of the PostgreSQL server (PgBouncer in transaction mode in
/// `.ci/run`, with `statement-cache-capacity=0`): set, every platform database a test makes is reached
/// through it, while monitored databases ([`TestDb::scratch_postgres`]) and database creation stay direct.
pub const POOLER: &str = "DBPOWER_TEST_POSTGRES_POOLER_URL";

/// A database for one test, cleaned up and checked when dropped.
pub struct TestDb {
    url: String,
    store: Option<Arc<dyn Store>>,
    /// `(server, database)` of a PostgreSQL database this value created and drops.
    postgres: Option<(String, String)>,
    checks: Checks,
    /// Workers that may still hold jobs get this long to finish them before the check counts.
    pub(crate) drain: Duration,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A migrated SQLite store in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut db = TestDb::in_data_dir(dir.path());
        db._dir = Some(dir);
        db.open().await
    }

    /// A migrated store on a fresh PostgreSQL database on `server`.
    pub async fn postgres(server: &str) -> TestDb {
        TestDb::empty_postgres(server).await.open().await
    }

    /// [`TestDb::postgres`] on `DBPOWER_TEST_POSTGRES_URL`; `None` (the skip printed) when it is unset.
    pub async fn postgres_if_set() -> Option<TestDb> {
        Some(TestDb::postgres(&postgres_server()?).await)
    }

    /// A fresh, empty PostgreSQL database on `server` (for an app or binary to migrate). Fails the test
    /// when the server is unreachable.
    pub async fn empty_postgres(server: &str) -> TestDb {
        let name = format!("dbpower_test_{}", uuid::Uuid::new_v4().simple());
        let mut url = dbpower_store::create_postgres_database(server, &name)
            .await
            .expect("DBPOWER_TEST_POSTGRES_URL is set but the server is unreachable");
        // the pooler stands in front of the environment's server only
        if let Ok(pooler) = std::env::var(POOLER)
            && std::env::var("DBPOWER_TEST_POSTGRES_URL").as_deref() == Ok(server)
        {
            url = dbpower_store::replace_database(&pooler, &name);
        }
        TestDb {
            url,
            store: None,
            postgres: Some((server.to_string(), name)),
            checks: Checks::default(),
            drain: Duration::ZERO,
            _dir: None,
        }
    }

    /// A fresh, empty PostgreSQL database on `server` that is no platform's (a monitored server's
    /// database, say): dropped with its value, never checked.
    pub async fn scratch_postgres(server: &str) -> TestDb {
        let mut db = TestDb::empty_postgres(server).await;
        // a monitored server is reached directly, as the agent reaches one (docs/AGENT.md)
        db.url = dbpower_store::replace_database(server, db.postgres_name().unwrap_or_default());
        db.checks = Checks::not_a_platform_database();
        db
    }

    /// The SQLite database an app or binary keeps in `data_dir` (made by it; the directory's owner
    /// removes it).
    pub fn in_data_dir(data_dir: &Path) -> TestDb {
        TestDb {
            url: format!("sqlite:{}", data_dir.join("dbpower.db").display()),
            store: None,
            postgres: None,
            checks: Checks::default(),
            drain: Duration::ZERO,
            _dir: None,
        }
    }

    async fn open(mut self) -> TestDb {
        let store = dbpower_store::connect(&self.url)
            .await
            .expect("open the test database");
        store.migrate().await.expect("migrate the test database");
        self.store = Some(store);
        self
    }

    /// The migrated store (of [`TestDb::sqlite`] and [`TestDb::postgres`]).
    pub fn store(&self) -> &Arc<dyn Store> {
        self.store
            .as_ref()
            .expect("this TestDb was made for an app or binary to migrate: no store opened")
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The name of a PostgreSQL database this value made.
    pub fn postgres_name(&self) -> Option<&str> {
        self.postgres.as_ref().map(|(_, name)| name.as_str())
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        if self.postgres.is_some() || self.url.starts_with("postgres") {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Runs `sql` on a connection of its own, outside the store: what someone with the database's
    /// credentials could do behind the platform's back.
    pub async fn execute_elsewhere(&self, sql: &str) -> sqlx::Result<()> {
        execute_on(&self.url, sql).await
    }

    /// The invariants checked on drop, to switch one off with its reason.
    pub fn checks(&mut self) -> &mut Checks {
        &mut self.checks
    }

    /// Runs the checks now (with the processes that use the database still alive to finish their
    /// jobs) instead of on drop.
    pub(crate) fn check_now(&mut self) {
        let checks = std::mem::replace(&mut self.checks, Checks::done());
        if std::thread::panicking() {
            return;
        }
        let (url, drain) = (self.url.clone(), self.drain);
        block_on_own_runtime(async move { checks.run(&url, drain).await });
    }

    /// The URL to hand a process as `database_url`: `Some` for PostgreSQL; `None` for SQLite, which a
    /// process finds in its data directory.
    pub fn database_url(&self) -> Option<String> {
        self.postgres.as_ref().map(|_| self.url.clone())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // The pool goes first, so that a dropped database has no sessions of ours left.
        self.store = None;
        let checks = std::mem::take(&mut self.checks);
        let (url, drain) = (self.url.clone(), self.drain);
        let postgres = self.postgres.take();
        let check = !std::thread::panicking();
        block_on_own_runtime(async move {
            // A failed check still drops the database; its panic is raised afterwards.
            let checked = match check {
                true => tokio::spawn(async move { checks.run(&url, drain).await }).await,
                false => Ok(()),
            };
            if let Some((server, name)) = postgres {
                dbpower_store::drop_postgres_database(&server, &name)
                    .await
                    .expect("drop the test database");
            }
            if let Err(e) = checked {
                std::panic::resume_unwind(e.into_panic());
            }
        });
    }
}

/// Runs `sql` (one or more statements) on a new connection to the database at `url` (`postgres://` or
/// `sqlite:`), outside any store.
pub async fn execute_on(url: &str, sql: &str) -> sqlx::Result<()> {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(sql).execute(&mut c).await.map(drop)
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::raw_sql(sql).execute(&mut c).await.map(drop)
    }
}

/// The data directory of an app or binary: a temporary one, or one the test chose.
pub(crate) fn data_dir(chosen: Option<PathBuf>) -> (PathBuf, Option<tempfile::TempDir>) {
    match chosen {
        Some(dir) => (dir, None),
        None => {
            let dir = tempfile::tempdir().expect("tempdir");
            (dir.path().to_path_buf(), Some(dir))
        }
    }
}
