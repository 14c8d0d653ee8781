//! Store integration tests: one conformance story, run on SQLite always and on PostgreSQL when
//! `DBPOWER_TEST_POSTGRES_URL` is set (a fresh database per run, dropped after it; set but unreachable
//! fails). Databases come from the test kit ([`dbpower_testkit::TestDb`]), which checks on drop that no
//! job is left claimed and that every audit chain verifies.

/// The tests `NAME::on_sqlite` and `NAME::on_postgres` running `scenario` on a fresh database (PostgreSQL
/// when one is named).
macro_rules! on_both_stores {
    ($name:ident, $scenario:ident) => {
        mod $name {
            use dbpower_testkit::TestDb;

            #[tokio::test]
            async fn on_sqlite() {
                let db = TestDb::sqlite().await;
                super::$scenario(&db).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                let Some(db) = TestDb::postgres_if_set().await else {
                    return;
                };
                super::$scenario(&db).await;
            }
        }
    };
}

mod ingest;
mod keys;
mod partitions;
mod pooler;
mod reanalysis;
mod reports;
mod story;
mod upgrade;
