//! Store integration tests: one conformance story, run on SQLite always and on PostgreSQL when
//! `DBPOWER_TEST_POSTGRES_URL` is set (a fresh database per run, dropped after it; set but unreachable
//! fails). Databases come from the test kit ([`dbpower_testkit::TestDb`]), which checks on drop that no
//! job is left claimed and that every audit chain verifies.

mod ingest;
mod reanalysis;
mod story;
mod upgrade;
