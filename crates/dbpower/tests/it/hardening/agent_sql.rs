//! The agent never executes collected text: a statement crafted to hide a second statement from a
//! dialect-blind check is explained as one prepared statement or not at all, and the monitored database
//! is left unchanged.

use std::path::Path;

use dbpower_testkit::TestDb;
use serde_json::json;

use crate::agent::{OrgAdmin, Platform, agent, ok, write_config};
use crate::digest::mariadb;
use crate::support::psql;

/// One PostgreSQL jsonlog line carrying `statement` with a duration.
fn pg_log_line(db: &str, statement: &str) -> String {
    json!({
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string(),
        "user": "app",
        "dbname": db,
        "remote_host": "10.0.0.9",
        "message": format!("duration: 1500.000 ms  statement: {statement}"),
    })
    .to_string()
        + "\n"
}

fn exists_pg(url: &str, table: &str) -> bool {
    psql(url, &format!("SELECT to_regclass('{table}') IS NOT NULL"))
        .trim()
        .eq("t")
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_statement_hiding_a_commit_is_never_run() {
    let Ok(server) = std::env::var("DBPOWER_TEST_POSTGRES_URL") else {
        return;
    };
    let monitored = TestDb::scratch_postgres(&server).await;
    let url = monitored.url().to_string();
    let name = monitored.postgres_name().expect("a PostgreSQL database");
    psql(
        &url,
        "CREATE TABLE dbp_hard (id int PRIMARY KEY, email text); \
         INSERT INTO dbp_hard SELECT g, 'u' || g FROM generate_series(1, 1000) g; ANALYZE dbp_hard",
    );
    let work = tempfile::tempdir().expect("tmp");
    let log = work.path().join("postgresql.json");
    let mut text = String::new();
    // `#` is PostgreSQL's XOR operator, not a comment: a MySQL-lexer check saw one SELECT here.
    text += &pg_log_line(
        name,
        "SELECT 1 #0; COMMIT; CREATE TABLE public.dbp_pwned_xor (a int); SELECT 1",
    );
    // No backslash escapes in a standard string: the quote closes after the backslash.
    text += &pg_log_line(
        name,
        "SELECT 'x\\'; COMMIT; CREATE TABLE public.dbp_pwned_bs (a int); SELECT '",
    );
    // A dollar-quoted DO block after a COMMIT.
    text += &pg_log_line(
        name,
        "SELECT 2 #0; COMMIT; DO $x$ BEGIN EXECUTE 'CREATE TABLE public.dbp_pwned_do (a int)'; END $x$",
    );
    // Legitimate statements still get plans: a literal one and a `$n` one (generic plan).
    text += &pg_log_line(name, "SELECT * FROM dbp_hard WHERE email = 'u7'");
    text += &pg_log_line(name, "SELECT id FROM dbp_hard WHERE id = $1");
    std::fs::write(&log, text).expect("write log");

    let platform = Platform::start();
    let key = platform.key("Hardening PG").await;
    let source = format!(
        "[[source]]\nname = \"pg\"\nkind = \"postgresql\"\nurl = \"{url}\"\nmethods = [\"postgres_log\"]\nlog_path = \"{}\"\nstart_at = \"beginning\"\nexplain = true\nschema = true\n",
        log.display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    ok(&agent(&config, &["--once"]));

    for t in ["dbp_pwned_xor", "dbp_pwned_bs", "dbp_pwned_do"] {
        assert!(
            !exists_pg(&url, &format!("public.{t}")),
            "the agent executed collected text: {t} exists"
        );
    }
    // The agent's connection left no transaction or prepared statement behind, and the data is intact.
    assert_eq!(psql(&url, "SELECT count(*) FROM dbp_hard").trim(), "1000");

    let plans = explained(&platform, &key.0, "dbp_hard").await;
    assert!(
        plans.iter().any(|(sql, _)| sql.contains("email =")),
        "the literal SELECT was explained: {plans:?}"
    );
    assert!(
        plans.iter().any(|(sql, _)| sql.contains("id = $1")),
        "the $n SELECT was explained through its generic plan: {plans:?}"
    );
}

/// `(sql_text, plan)` of the organization's stored queries whose text contains `needle` and that carry
/// a plan.
async fn explained(platform: &Platform, who: &OrgAdmin, needle: &str) -> Vec<(String, String)> {
    let oa = platform.org_admin(who).await;
    let c = platform.client();
    let (_, list) = c
        .call(
            reqwest::Method::GET,
            "/api/v1/slow-queries?per_page=100",
            Some(&oa),
            None,
        )
        .await;
    let mut out = Vec::new();
    for item in list["items"].as_array().cloned().unwrap_or_default() {
        let sql = item["sql_text"].as_str().unwrap_or("").to_string();
        if !sql.contains(needle) {
            continue;
        }
        let id = item["id"].as_i64().expect("id");
        let (_, d) = c
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/slow-queries/{id}"),
                Some(&oa),
                None,
            )
            .await;
        if !d["explain"].is_null() {
            out.push((sql, d["explain"].to_string()));
        }
    }
    out
}

/// A MySQL slow-log entry for `sql` in database `db`.
fn slow_log_entry(db: &str, sql: &str) -> String {
    let now = chrono::Utc::now();
    let (time, ts) = (now.format("%y%m%d %H:%M:%S"), now.timestamp());
    format!(
        "# Time: {time}\n# User@Host: app[app] @ localhost []\n# Thread_id: 7  Schema: {db}  QC_hit: No\n# Query_time: 1.500000  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 1000\nuse {db};\nSET timestamp={ts};\n{sql};\n"
    )
}

fn exists_mysql(url: &str, table: &str) -> bool {
    mariadb(
        url,
        &format!("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = '{table}'"),
    )
    .trim()
        != "0"
}

/// The server's global sql_mode, put back when the test ends (also when it fails).
struct SqlMode {
    url: String,
    saved: String,
}

impl Drop for SqlMode {
    fn drop(&mut self) {
        mariadb(
            &self.url,
            &format!("SET GLOBAL sql_mode = '{}'", self.saved),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_statement_hiding_a_second_statement_is_never_run() {
    let Some((url, _globals)) = crate::mariadb_globals().await else {
        return;
    };
    mariadb(
        &url,
        "DROP TABLE IF EXISTS dbp_pwned_nbe, dbp_pwned_ansi, dbp_hard; \
         CREATE TABLE dbp_hard (id INT PRIMARY KEY, email VARCHAR(100)); \
         INSERT INTO dbp_hard VALUES (1, 'a'), (2, 'b')",
    );
    let work = tempfile::tempdir().expect("tmp");
    let log = work.path().join("slow.log");
    let mut text = String::from(
        "/usr/sbin/mariadbd, Version: 10.11.0-MariaDB-log (Debian). started with:\nTcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\nTime\t\t    Id Command\tArgument\n",
    );
    // With NO_BACKSLASH_ESCAPES on the server, the quote closes after the backslash; a lexer that
    // assumes backslash escapes sees one string.
    text += &slow_log_entry(
        "test",
        "SELECT 'x\\'; CREATE TABLE test.dbp_pwned_nbe (a int); SELECT '",
    );
    // With ANSI_QUOTES, "..." is an identifier with no escapes.
    text += &slow_log_entry(
        "test",
        "SELECT \"x\\\"; CREATE TABLE test.dbp_pwned_ansi (a int); SELECT \"",
    );
    // A `?` placeholder with nothing to bind (as in a performance_schema digest text): a prepared
    // EXPLAIN of it left the client library waiting forever; it is not explained, and the round ends.
    text += &slow_log_entry("test", "SELECT * FROM dbp_hard WHERE id = ? AND email = ?");
    text += &slow_log_entry("test", "SELECT * FROM dbp_hard WHERE email = 'a'");
    std::fs::write(&log, text).expect("write log");

    // A run killed before its `Drop` left the two modes on: they are never part of what is put back.
    let saved = mariadb(&url, "SELECT @@GLOBAL.sql_mode")
        .trim()
        .split(',')
        .filter(|m| !["NO_BACKSLASH_ESCAPES", "ANSI_QUOTES"].contains(m))
        .collect::<Vec<_>>()
        .join(",");
    let _mode = SqlMode {
        url: url.clone(),
        saved: saved.clone(),
    };
    mariadb(
        &url,
        &format!(
            "SET GLOBAL sql_mode = CONCAT_WS(',', NULLIF('{saved}', ''), 'NO_BACKSLASH_ESCAPES', 'ANSI_QUOTES')"
        ),
    );

    let platform = Platform::start();
    let key = platform.key("Hardening MySQL").await;
    let source = format!(
        "[[source]]\nname = \"my\"\nkind = \"mysql\"\nurl = \"{url}\"\nmethods = [\"slow_log_file\"]\nlog_path = \"{}\"\nstart_at = \"beginning\"\nexplain = true\n",
        log.display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    let out = agent(&config, &["--once"]);
    drop(_mode);
    ok(&out);
    for t in ["dbp_pwned_nbe", "dbp_pwned_ansi"] {
        assert!(
            !exists_mysql(&url, t),
            "the agent executed collected text: {t} exists"
        );
    }
    let plans = explained(&platform, &key.0, "dbp_hard").await;
    assert!(
        plans.iter().any(|(_, p)| p.contains("query_block")),
        "the legitimate SELECT was explained: {plans:?}"
    );
    mariadb(
        &url,
        "DROP TABLE IF EXISTS dbp_pwned_nbe, dbp_pwned_ansi, dbp_hard",
    );
}

/// Documented: the least-privilege grants the agent needs are in docs/AGENT.md.
#[test]
fn agent_docs_state_least_privilege_grants() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/AGENT.md"))
            .expect("docs/AGENT.md");
    for needle in [
        "GRANT pg_read_all_stats",
        "GRANT SELECT ON performance_schema.*",
        "least privilege",
    ] {
        assert!(doc.contains(needle), "docs/AGENT.md lacks {needle:?}");
    }
}
