//! `dbpower analyze` and `dbpower analyzer` as a user runs them: rules, exit codes, bad input; and the
//! index DDL it proposes, executed on the machine's real PostgreSQL (`DBPOWER_TEST_POSTGRES_URL`) and
//! MariaDB (`DBPOWER_TEST_MYSQL_URL`), where the planner then uses the new index.

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use dbpower_testkit::{Role, TestDb, postgres_server};
use serde_json::{Value, json};

use crate::digest::mariadb;
use crate::support::{bin, psql};

/// `dbpower analyze ARGS` with an empty standard input.
fn analyze(args: &[&str]) -> Output {
    analyze_stdin(args, "")
}

/// `dbpower analyze ARGS` reading `stdin`.
fn analyze_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .command()
        .arg("analyze")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dbpower analyze");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn report(args: &[&str]) -> Value {
    let out = crate::support::stdout_of(Ok(analyze(args)), "dbpower analyze");
    serde_json::from_str(&out).expect("JSON report")
}

fn rules(r: &Value) -> Vec<String> {
    let mut v: Vec<String> = r["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["rule_id"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

fn index_ddl(r: &Value) -> Vec<String> {
    r["recommendations"]
        .as_array()
        .expect("recommendations")
        .iter()
        .filter(|x| x["kind"] == "index")
        .filter_map(|x| x["sql"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn analyze_names_the_rules_a_statement_breaks() {
    let r = report(&[
        "--dialect",
        "mysql",
        "--json",
        "SELECT * FROM orders WHERE YEAR(created_at) = 2024 ORDER BY RAND() LIMIT 5",
    ]);
    assert_eq!(
        rules(&r),
        vec!["function_on_column", "order_by_rand", "select_star"]
    );
    assert_eq!(r["parse_ok"], true);

    let text = analyze_stdin(&["--dialect", "postgresql", "-"], "DELETE FROM sessions");
    assert!(text.status.success());
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.starts_with("CRITICAL"), "{stdout}");
    assert!(stdout.contains("dml_without_where"), "{stdout}");
}

/// `--fail-on`: 3 when the worst severity reaches the level, 0 below it.
#[test]
fn fail_on_exits_3_at_the_level_and_0_below_it() {
    let failed = analyze(&[
        "--dialect",
        "postgresql",
        "--fail-on",
        "high",
        "DELETE FROM sessions",
    ]);
    assert_eq!(failed.status.code(), Some(3));
    let passed = analyze(&[
        "--dialect",
        "postgresql",
        "--fail-on",
        "high",
        "SELECT id FROM t WHERE id = $1",
    ]);
    assert_eq!(passed.status.code(), Some(0));
}

/// Bad input: exit 2 with a message that names the problem.
#[test]
fn bad_input_exits_2_naming_the_problem() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("schema.json");
    std::fs::write(&bad, "{not json").expect("write");
    let out = analyze(&[
        "--dialect",
        "mysql",
        "--schema",
        bad.to_str().expect("path"),
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a valid schema snapshot"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = analyze(&[
        "--dialect",
        "mysql",
        "--explain",
        "/nonexistent/plan.json",
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = analyze_stdin(&["--dialect", "mysql", "-"], "   ");
    assert_eq!(out.status.code(), Some(2));
    let out = analyze(&["--dialect", "oracle", "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_analyzer_service_starts_on_its_own() {
    let dir = tempfile::tempdir().expect("tmp");
    let analyzer = bin().role(Role::Analyzer).in_dir(dir.path()).spawn();
    let addr = analyzer.base.trim_start_matches("http://").to_string();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (health, analyze, unknown) = rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = reqwest::Client::new();
        let h = c
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .expect("health");
        let a = c
            .post(format!("http://{addr}/analyzer/analyze"))
            .json(&json!({"sql": "SELECT 1", "database_type": "mysql"}))
            .send()
            .await
            .expect("analyze");
        let u = c
            .get(format!("http://{addr}/api/v1/auth/me"))
            .send()
            .await
            .expect("unknown");
        (
            h.status().as_u16(),
            a.status().as_u16(),
            u.status().as_u16(),
        )
    });
    drop(analyzer);
    assert_eq!(health, 200);
    assert_eq!(analyze, 401, "the analyzer requires a token");
    assert_eq!(unknown, 404, "the analyzer serves only its own routes");
    assert!(
        !dir.path().join("dbpower-data/bootstrap-admin.txt").exists(),
        "the analyzer bootstraps no account"
    );
}

/// `dbpower analyze --json` of [`QUERY`] in `dialect` with a captured plan and schema snapshot.
fn advice(dialect: &str, plan: &Value, schema: &Value) -> Value {
    let dir = tempfile::tempdir().expect("tmp");
    let (pf, sf) = (
        write(dir.path(), "plan.json", plan),
        write(dir.path(), "schema.json", schema),
    );
    let args = [
        "--dialect",
        dialect,
        "--json",
        "--explain",
        &pf,
        "--schema",
        &sf,
    ];
    report(&[&args[..], &[QUERY]].concat())
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(v).expect("json")).expect("write");
    p.to_string_lossy().into_owned()
}

const QUERY: &str =
    "SELECT id, total FROM orders_an WHERE status = 'refunded' ORDER BY created_at DESC LIMIT 20";

#[test]
fn proposed_index_works_on_real_postgresql() {
    let Some(server) = postgres_server() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let monitored = rt.block_on(TestDb::scratch_postgres(&server));
    let url = monitored.url().to_string();
    psql(
        &url,
        "CREATE TABLE orders_an (id bigserial PRIMARY KEY, status text NOT NULL, total numeric NOT NULL, created_at timestamptz NOT NULL); \
         INSERT INTO orders_an (status, total, created_at) SELECT CASE WHEN g % 100 = 0 THEN 'refunded' ELSE 'paid' END, g % 500, \
         now() - g * interval '1 minute' FROM generate_series(1, 60000) g; ANALYZE orders_an;",
    );
    let plan: Value = serde_json::from_str(&psql(&url, &format!("EXPLAIN (FORMAT JSON) {QUERY}")))
        .expect("plan json");
    let schema = json!({"tables": [{"name": "orders_an", "schema": "public", "rows": 60000,
        "columns": [{"name": "id", "type": "bigint"}, {"name": "status", "type": "text"}, {"name": "total", "type": "numeric"}, {"name": "created_at", "type": "timestamp with time zone"}],
        "indexes": [{"name": "orders_an_pkey", "columns": ["id"], "unique": true}]}]});
    let r = advice("postgresql", &plan, &schema);
    assert_eq!(rules(&r), vec!["missing_index", "plan_full_scan"], "{r}");
    let ddl = index_ddl(&r);
    assert_eq!(
        ddl,
        vec![
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_an_status_created_at ON orders_an (status, created_at);"
        ]
    );
    psql(&url, &ddl[0]);
    let after = psql(&url, &format!("EXPLAIN (FORMAT JSON) {QUERY}"));
    assert!(
        after.contains("idx_orders_an_status_created_at"),
        "the planner uses the new index: {after}"
    );
    assert!(!after.contains("\"Seq Scan\""), "{after}");
    // With the index in the snapshot, the advice is gone.
    let schema_after = json!({"tables": [{"name": "orders_an", "rows": 60000, "columns": schema["tables"][0]["columns"],
        "indexes": [{"name": "orders_an_pkey", "columns": ["id"]}, {"name": "idx_orders_an_status_created_at", "columns": ["status", "created_at"]}]}]});
    let dir = tempfile::tempdir().expect("tmp");
    let sf2 = write(dir.path(), "schema2.json", &schema_after);
    let r2 = report(&["--dialect", "postgresql", "--json", "--schema", &sf2, QUERY]);
    assert!(index_ddl(&r2).is_empty() && rules(&r2).is_empty(), "{r2}");
    // 99% of the rows are 'paid': the planner reads the table in full although the index exists, and
    // that is right. The report says so and proposes no index.
    let most = "SELECT id, total FROM orders_an WHERE status = 'paid'";
    let plan = psql(&url, &format!("EXPLAIN (ANALYZE, FORMAT JSON) {most}"));
    assert!(plan.contains("\"Seq Scan\""), "{plan}");
    let pf = write(
        dir.path(),
        "plan2.json",
        &serde_json::from_str::<Value>(&plan).expect("plan json"),
    );
    let sf = write(dir.path(), "schema.json", &schema);
    let r3 = report(&[
        "--dialect",
        "postgresql",
        "--json",
        "--explain",
        &pf,
        "--schema",
        &sf,
        most,
    ]);
    assert_eq!(rules(&r3), vec!["plan_full_scan_right"], "{r3}");
    assert!(index_ddl(&r3).is_empty(), "{r3}");
}

#[test]
fn proposed_index_works_on_real_mariadb() {
    let Ok(url) = std::env::var("DBPOWER_TEST_MYSQL_URL") else {
        return;
    };
    mariadb(&url, "CREATE DATABASE IF NOT EXISTS test");
    mariadb(
        &url,
        "DROP TABLE IF EXISTS orders_an; \
         CREATE TABLE orders_an (id BIGINT AUTO_INCREMENT PRIMARY KEY, status VARCHAR(16) NOT NULL, total DECIMAL(10,2) NOT NULL, created_at DATETIME NOT NULL) ENGINE=InnoDB; \
         INSERT INTO orders_an (status, total, created_at) SELECT IF(seq % 100 = 0, 'refunded', 'paid'), seq % 500, NOW() - INTERVAL seq MINUTE FROM seq_1_to_60000; \
         ANALYZE TABLE orders_an;",
    );
    let plan: Value = serde_json::from_str(
        &mariadb(&url, &format!("EXPLAIN FORMAT=JSON {QUERY}")).replace("\\n", "\n"),
    )
    .expect("plan json");
    let schema = json!({"tables": [{"name": "orders_an", "rows": 60000,
        "columns": [{"name": "id", "type": "bigint"}, {"name": "status", "type": "varchar(16)"}, {"name": "total", "type": "decimal(10,2)"}, {"name": "created_at", "type": "datetime"}],
        "indexes": [{"name": "PRIMARY", "columns": ["id"], "unique": true}]}]});
    let r = advice("mysql", &plan, &schema);
    assert_eq!(
        rules(&r),
        vec!["missing_index", "plan_filesort", "plan_full_scan"],
        "{r}"
    );
    let ddl = index_ddl(&r);
    assert_eq!(
        ddl,
        vec![
            "ALTER TABLE orders_an ADD INDEX idx_orders_an_status_created_at (status, created_at), ALGORITHM=INPLACE, LOCK=NONE;"
        ]
    );
    mariadb(&url, &ddl[0]);
    let after = mariadb(&url, &format!("EXPLAIN FORMAT=JSON {QUERY}"));
    assert!(
        after.contains("idx_orders_an_status_created_at"),
        "MariaDB uses the new index: {after}"
    );
    assert!(!after.contains("\"access_type\": \"ALL\""), "{after}");
    mariadb(&url, "DROP TABLE orders_an");
}
