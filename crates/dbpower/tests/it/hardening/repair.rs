//! `dbpower migrate` repairs classes that out-of-range numbers corrupted before ingestion bounded them:
//! a SQLite counter that overflowed into a REAL, negative and non-finite totals. After the repair every
//! list and dashboard reads again and the class accepts new executions.

use std::process::Command;

use reqwest::Method as M;
use sqlx::Connection;

use crate::support::serve_as;

#[tokio::test(flavor = "multi_thread")]
async fn migrate_repairs_classes_corrupted_before_the_bounds() {
    let dir = tempfile::tempdir().expect("tmp");
    let owner = ("owner@repair.test", "owner-password-1");
    let platform = || {
        serve_as(owner)
            .in_dir(dir.path())
            .args(&["--data-dir", "data"])
    };
    // A first start creates the database with the demo organization's classes.
    drop(platform().spawn());
    let db = dir.path().join("data").join("dbpower.db");
    let url = format!("sqlite:{}", db.display());
    {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
        // What the unbounded upserts left behind, and a database from before the repair migration.
        for sql in [
            "UPDATE query_classes SET count = 9.3e18, rows_examined = -7, total_time_ms = 1e300 \
             WHERE id = (SELECT MIN(id) FROM query_classes)",
            "UPDATE class_histogram SET count = 1.0e19 \
             WHERE class_id = (SELECT MIN(id) FROM query_classes)",
            "DELETE FROM _sqlx_migrations WHERE version = 6",
        ] {
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dbpower"))
        .args(["migrate", "--database-url", &url])
        .output();
    crate::support::stdout_of(out, "dbpower migrate");
    {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
        let (kind, count, rows, total): (String, i64, i64, f64) = sqlx::query_as(
            "SELECT typeof(count), count, rows_examined, total_time_ms FROM query_classes \
             WHERE id = (SELECT MIN(id) FROM query_classes)",
        )
        .fetch_one(&mut conn)
        .await
        .expect("class");
        assert_eq!(kind, "integer");
        assert!(
            count > 0 && rows == 0 && total <= 1e18,
            "{count} {rows} {total}"
        );
    }
    let server = platform().spawn();
    let c = server.client();
    let sa = c.login(owner.0, owner.1).await;
    for path in [
        "/api/v1/query-classes?per_page=100",
        "/api/v1/stats/dashboard",
        "/api/v1/slow-queries",
    ] {
        let (s, b) = c.call(M::GET, path, Some(&sa), None).await;
        assert_eq!(s.as_u16(), 200, "{path}: {b}");
    }
}
