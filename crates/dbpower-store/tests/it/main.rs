//! Store integration tests: one conformance story, run on SQLite always and on PostgreSQL when
//! `DBPOWER_TEST_POSTGRES_URL` is set (a fresh database per run; set but unreachable fails).

mod ingest;
mod story;
mod upgrade;

use std::sync::Arc;

use dbpower_store::Store;

/// A migrated store plus what must stay alive (temp dir) or be cleaned (database name).
pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    let store = dbpower_store::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestDb {
        store,
        url,
        _dir: Some(dir),
    }
}

/// `None` when `DBPOWER_TEST_POSTGRES_URL` is unset.
pub async fn postgres() -> Option<TestDb> {
    let server = std::env::var("DBPOWER_TEST_POSTGRES_URL").ok()?;
    let name = format!("dbpower_store_{}", uuid::Uuid::new_v4().simple());
    let url = dbpower_store::create_postgres_database(&server, &name)
        .await
        .expect("DBPOWER_TEST_POSTGRES_URL is set but the server is unreachable");
    let store = dbpower_store::connect(&url)
        .await
        .expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    Some(TestDb {
        store,
        url,
        _dir: None,
    })
}
