//! `dbpower digest` against pt-query-digest: on the shared corpus of real slow logs
//! (`DBPOWER_TEST_CORPUS`), and on a slow log the machine's MariaDB writes now (`DBPOWER_TEST_MYSQL_URL`).
//! Both need `DBPOWER_TEST_PT_QUERY_DIGEST` (Debian's percona-toolkit; CI installs it).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::stdout_of;

/// Query id -> count from `dbpower digest --json`.
pub(crate) fn ours(file: &Path) -> (BTreeMap<String, u64>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dbpower"))
        .args(["digest", "--json", "--limit", "1000000"])
        .arg(file)
        .output();
    let out = stdout_of(out, &format!("dbpower digest on {}", file.display()));
    let v: Value = serde_json::from_str(&out).expect("json");
    let m = v["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| {
            (
                c["query_id"].as_str().unwrap_or("").to_string(),
                c["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    (m, v)
}

/// Query id (last 16 hex digits of pt's checksum) -> count, and how many events had an empty statement.
pub(crate) fn pt(exe: &str, file: &Path) -> (BTreeMap<String, u64>, u64) {
    let out = Command::new(exe)
        .args(["--output", "json", "--limit", "100%"])
        .arg(file)
        .output()
        .expect("DBPOWER_TEST_PT_QUERY_DIGEST is set but cannot be run");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return (BTreeMap::new(), 0);
    }
    let v: Value = serde_json::from_str(&text).expect("pt-query-digest json");
    let mut m = BTreeMap::new();
    let mut empty = 0;
    for c in v["classes"].as_array().cloned().unwrap_or_default() {
        let n = c["query_count"].as_u64().unwrap_or(0);
        // pt makes a class of events that have headers but no statement; dbpower reports them as skipped.
        if c["fingerprint"].as_str() == Some("") {
            empty += n;
            continue;
        }
        let id = c["checksum"].as_str().unwrap_or("");
        m.insert(id[id.len().saturating_sub(16)..].to_string(), n);
    }
    (m, empty)
}

#[test]
fn corpus_digest_matches_pt_query_digest() {
    let (Ok(corpus), Ok(exe)) = (
        std::env::var("DBPOWER_TEST_CORPUS"),
        std::env::var("DBPOWER_TEST_PT_QUERY_DIGEST"),
    ) else {
        return;
    };
    let dir = Path::new(&corpus).join("percona-slowlogs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("DBPOWER_TEST_CORPUS/percona-slowlogs")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() > 20, "corpus at {} looks empty", dir.display());
    let mut mismatches = Vec::new();
    for f in &files {
        let (mine, v) = ours(f);
        let (theirs, empty) = pt(&exe, f);
        let skipped_empty = v["skipped"]["header without a statement"]
            .as_u64()
            .unwrap_or(0);
        if mine != theirs || skipped_empty < empty {
            mismatches.push(format!(
                "{}: pt {theirs:?} (+{empty} empty), dbpower {mine:?} skipped {}",
                f.display(),
                v["skipped"]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} files differ:\n{}",
        mismatches.len(),
        files.len(),
        mismatches.join("\n")
    );
}

pub(crate) fn mariadb(url: &str, sql: &str) -> String {
    // mysql://user[:password]@host:port/db
    let rest = url.split("://").nth(1).expect("mysql URL");
    let (creds, hostpart) = rest.split_once('@').unwrap_or(("root", rest));
    let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
    let (hostport, db) = hostpart.split_once('/').unwrap_or((hostpart, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "-u", user, "-h", host, "-P", port, "-N", "-B", db, "-e", sql,
    ]);
    if !password.is_empty() {
        cmd.arg(format!("-p{password}"));
    }
    stdout_of(cmd.output(), "mariadb (DBPOWER_TEST_MYSQL_URL is set)")
}

#[test]
fn digest_of_a_fresh_mariadb_slow_log_matches_pt_query_digest() {
    let (Ok(url), Ok(exe)) = (
        std::env::var("DBPOWER_TEST_MYSQL_URL"),
        std::env::var("DBPOWER_TEST_PT_QUERY_DIGEST"),
    ) else {
        return;
    };
    let _globals = crate::MARIADB_GLOBALS.blocking_lock();
    let log = std::env::temp_dir().join(format!("dbpower-digest-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let previous = mariadb(
        &url,
        "SELECT @@global.slow_query_log_file, @@global.slow_query_log",
    );
    let mut prev = previous.trim().split('\t');
    let (prev_file, prev_on) = (
        prev.next().unwrap_or("").to_string(),
        prev.next().unwrap_or("0").to_string(),
    );
    mariadb(
        &url,
        &format!(
            "SET GLOBAL slow_query_log_file = '{}'; SET GLOBAL slow_query_log = 1",
            log.display()
        ),
    );
    // One session logs everything it runs (long_query_time = 0 for this session only).
    let mut script = String::from(
        "SET SESSION long_query_time = 0; DROP TABLE IF EXISTS dbp_digest; CREATE TABLE dbp_digest (id INT PRIMARY KEY, email VARCHAR(100), amount DECIMAL(10,2));",
    );
    for i in 0..40 {
        script.push_str(&format!(
            "INSERT INTO dbp_digest VALUES ({i}, 'user{i}@example.com', {i}.50);"
        ));
    }
    for i in 0..25 {
        script.push_str(&format!(
            "SELECT * FROM dbp_digest WHERE email = 'user{i}@example.com';"
        ));
        script.push_str(&format!(
            "SELECT id FROM dbp_digest WHERE id IN ({}) ORDER BY id ASC LIMIT {i}, 5;",
            (0..(i % 6 + 1))
                .map(|k| (k + i).to_string())
                .collect::<Vec<_>>()
                .join(",")
        ));
        script.push_str(&format!(
            "UPDATE dbp_digest SET amount = amount + {i} WHERE id = {i};"
        ));
    }
    script.push_str("SELECT COUNT(*), SUM(amount) FROM dbp_digest; DROP TABLE dbp_digest;");
    mariadb(&url, &script);
    mariadb(
        &url,
        &format!(
            "SET GLOBAL slow_query_log = {prev_on}; SET GLOBAL slow_query_log_file = '{prev_file}'"
        ),
    );
    let (mine, v) = ours(&log);
    let (theirs, _) = pt(&exe, &log);
    let _ = std::fs::remove_file(&log);
    assert_eq!(mine, theirs, "same classes and counts as pt-query-digest");
    let total: u64 = mine.values().sum();
    assert!(
        total >= 116,
        "every statement was logged and digested: {total}"
    );
    let dump = v.to_string();
    assert!(!dump.contains("@example.com"), "samples are scrubbed");
}

#[test]
fn text_report_ranks_by_total_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("slow.log");
    std::fs::write(
        &f,
        "# Time: 241125 16:42:00\n# User@Host: app[app] @ localhost []\n# Thread_id: 8  Schema: shop  QC_hit: No\n\
# Query_time: 3.000000  Lock_time: 0.000100  Rows_sent: 1  Rows_examined: 90000\n# Rows_affected: 0  Bytes_sent: 60\n\
SET timestamp=1732552920;\nSELECT * FROM orders WHERE email = 'a@b.com';\n\
# User@Host: app[app] @ localhost []\n# Query_time: 0.100000  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 1\nSELECT 1;\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_dbpower"))
        .args(["digest"])
        .arg(&f)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("# 2 events in 2 classes"), "{text}");
    let first = text
        .lines()
        .find(|l| l.starts_with("#    1 "))
        .expect("rank 1");
    assert!(
        first.contains("3.0000"),
        "the slowest class ranks first: {text}"
    );
    assert!(
        text.contains("SELECT * FROM orders WHERE email = ?") && !text.contains("a@b.com"),
        "{text}"
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_dbpower"))
        .args(["digest", "/nonexistent/slow.log"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/slow.log"));
}

/// The server log of the PostgreSQL server `c` is connected to, as it grows: its path for
/// `pg_read_binary_file` (the current log file, or the server's standard error when it writes no log
/// file, as Debian's cluster does) and its size now.
async fn postgres_log_end(c: &mut sqlx::PgConnection) -> (String, i64) {
    let current: Option<String> = sqlx::query_scalar("SELECT pg_current_logfile('stderr')")
        .fetch_one(&mut *c)
        .await
        .expect("pg_current_logfile");
    let path = current.unwrap_or_else(|| "/proc/self/fd/2".to_string());
    let size: i64 = sqlx::query_scalar("SELECT (pg_stat_file($1)).size")
        .bind(&path)
        .fetch_one(&mut *c)
        .await
        .expect("the server log is readable through pg_stat_file (a superuser URL is needed)");
    (path, size)
}

/// The lines of `log` written for database `db` (with their continuation lines): the test's own, among
/// those of every test running at the same time.
fn lines_of_database(log: &str, db: &str) -> String {
    let (at, eq) = (format!("@{db} "), format!("db={db}"));
    let mut out = String::new();
    let mut keep = false;
    for line in log.lines() {
        if !line.starts_with('\t') {
            keep = line.contains(&at) || line.contains(&eq);
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn pgbench(url: &str, args: &[&str], log_all: bool) {
    let mut cmd = Command::new("pgbench");
    if log_all {
        cmd.env("PGOPTIONS", "-c log_min_duration_statement=0");
    }
    let out = cmd.args(args).arg(url).output();
    stdout_of(
        out,
        &format!("pgbench {args:?} (DBPOWER_TEST_POSTGRES_URL is set)"),
    );
}

/// Sums the durations of `phase` lines (`execute`, `parse`, `bind`, `statement:`) whose text holds `needle`.
fn logged_ms(log: &str, phase: &str, needle: &str) -> f64 {
    log.lines()
        .filter(|l| l.contains(needle) && l.contains(&format!(" ms  {phase}")))
        .filter_map(|l| {
            l.split("duration: ")
                .nth(1)?
                .split(" ms")
                .next()?
                .parse::<f64>()
                .ok()
        })
        .sum()
}

/// Runs the workload on a database of its own with every statement logged: pgbench in its three
/// protocols (simple: literals; extended: unnamed statements; prepared: named ones), then five failing
/// statements (three simple, two extended). Returns this database's part of the server log and
/// pg_stat_statements' calls per query id (as dbpower reads its texts).
async fn postgres_workload(server: &str) -> (String, BTreeMap<String, u64>) {
    use sqlx::{Connection, Row};
    let db = dbpower_testkit::TestDb::scratch_postgres(server).await;
    let url = db.url().to_string();
    let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut c)
        .await
        .expect("name");
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut c)
        .await
        .expect("extension");
    pgbench(&url, &["-i", "-q", "-s", "1"], false);
    sqlx::raw_sql("SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)")
        .execute(&mut c)
        .await
        .expect("reset");
    // The log is read through a connection to another database, so pg_stat_statements does not count
    // those reads in this one.
    let mut admin = sqlx::PgConnection::connect(server).await.expect("connect");
    let (path, start) = postgres_log_end(&mut admin).await;
    pgbench(&url, &["-M", "simple", "-t", "10", "-c", "1"], true);
    pgbench(&url, &["-M", "extended", "-t", "20", "-c", "1"], true);
    pgbench(&url, &["-M", "prepared", "-t", "30", "-c", "1"], true);
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("url");
    let mut failing =
        sqlx::PgConnection::connect_with(&options.options([("log_min_duration_statement", "0")]))
            .await
            .expect("connect");
    for _ in 0..3 {
        assert!(
            sqlx::raw_sql("SELECT 1/0")
                .execute(&mut failing)
                .await
                .is_err()
        );
    }
    for _ in 0..2 {
        let r = sqlx::query("SELECT 1/$1")
            .bind(0i32)
            .execute(&mut failing)
            .await;
        assert!(r.is_err());
    }
    drop(failing);
    let (_, end) = postgres_log_end(&mut admin).await;
    let bytes: Vec<u8> = sqlx::query_scalar("SELECT pg_read_binary_file($1, $2, $3)")
        .bind(&path)
        .bind(start)
        .bind(end - start)
        .fetch_one(&mut admin)
        .await
        .expect("read the server log");
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    for row in sqlx::query("SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'")
        .fetch_all(&mut c)
        .await
        .expect("pg_stat_statements")
    {
        let (q, n): (String, i64) = (row.get(0), row.get(1));
        let (_, id) = dbpower_sql::fingerprint_and_id(&q, dbpower_sql::Dialect::Postgresql);
        *calls.entry(id).or_insert(0) += n as u64;
    }
    let log = lines_of_database(&String::from_utf8_lossy(&bytes), &name);
    (log, calls)
}

/// The digest of that log counts one execution per `execute` or `statement:` line, exactly as many as
/// pg_stat_statements counts calls, keeps parse and bind time apart, and counts the failures as errors
/// of their class.
#[tokio::test(flavor = "multi_thread")]
async fn digest_of_a_fresh_postgres_log_counts_each_execution_once() {
    let Some(server) = dbpower_testkit::postgres_server() else {
        return;
    };
    let (log, calls) = postgres_workload(&server).await;
    assert!(
        log.contains(" ms  parse ") && log.contains(" ms  execute "),
        "the server logged this database's statements (log_line_prefix must name the database): {log}"
    );
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("postgresql.log");
    std::fs::write(&file, &log).expect("write");
    let (counts, v) = ours(&file);
    let mut executed: BTreeMap<String, u64> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    // pg_stat_statements counts a transaction command run through a named prepared statement once
    // only (PostgreSQL 15: 10 simple + 20 extended + 1 prepared); the log has every execution.
    let mut calls = calls;
    for command in ["BEGIN", "END"] {
        let (_, id) = dbpower_sql::fingerprint_and_id(command, dbpower_sql::Dialect::Postgresql);
        assert_eq!(
            executed.remove(&id),
            Some(60),
            "{command}: 10 + 20 + 30 transactions"
        );
        assert!(calls.remove(&id).is_some_and(|n| n <= 60), "{command}");
    }
    assert_eq!(
        executed, calls,
        "one execution per execute or statement line, as pg_stat_statements counts"
    );
    let classes = v["classes"].as_array().expect("classes");
    let class = |needle: &str| {
        classes
            .iter()
            .find(|c| {
                c["fingerprint"]
                    .as_str()
                    .is_some_and(|f| f.contains(needle))
            })
            .unwrap_or_else(|| panic!("no class {needle}: {v}"))
    };
    let accounts = class("update pgbench_accounts set abalance");
    assert_eq!(
        accounts["count"], 60,
        "10 simple, 20 extended, 30 prepared: {accounts}"
    );
    let needle = "UPDATE pgbench_accounts SET abalance";
    let executions = logged_ms(&log, "execute", needle) + logged_ms(&log, "statement:", needle);
    let preparation = logged_ms(&log, "parse", needle) + logged_ms(&log, "bind", needle);
    let total = accounts["total_s"].as_f64().expect("total") * 1000.0;
    let prepare = accounts["prepare_s"].as_f64().expect("prepare") * 1000.0;
    assert!(
        (total - executions).abs() < 1e-6,
        "{total} ms counted, {executions} ms executed"
    );
    assert!(
        (prepare - preparation).abs() < 1e-6 && preparation > 0.0,
        "{prepare} ms, {preparation} ms parse/bind"
    );
    // 20 extended transactions parse and bind it every time, 30 prepared ones parse once and bind 30 times.
    assert_eq!(accounts["prepares"], 20 * 2 + 1 + 30, "{accounts}");
    let failed = class("select ? / ?");
    assert_eq!(
        (failed["count"].as_u64(), failed["errors"].as_u64()),
        (Some(0), Some(5)),
        "{failed}"
    );
    assert_eq!(v["errors"].as_u64(), Some(5), "{v}");
}

/// `dbpower digest --compare OLD NEW` on two corpus logs agrees with each log's own digest: every class
/// of either is listed once, new only in NEW, gone only in OLD, with each side's calls and mean as the
/// log's digest gives them and the mean ratio their quotient.
#[test]
fn digest_compare_of_two_corpus_logs_agrees_with_each_digest() {
    let Ok(corpus) = std::env::var("DBPOWER_TEST_CORPUS") else {
        println!("skipping: DBPOWER_TEST_CORPUS is not set");
        return;
    };
    let dir = Path::new(&corpus).join("percona-slowlogs");
    let (old, new) = (dir.join("slow008.txt"), dir.join("slow019.txt"));
    let (_, a) = ours(&old);
    let (_, b) = ours(&new);
    let out = Command::new(env!("CARGO_BIN_EXE_dbpower"))
        .args(["digest", "--compare", "--json"])
        .arg(&old)
        .arg(&new)
        .output();
    let v: Value = serde_json::from_str(&stdout_of(out, "dbpower digest --compare")).expect("json");
    let side = |d: &Value, id: &str| -> Option<(u64, f64)> {
        d["classes"]
            .as_array()?
            .iter()
            .find(|c| c["query_id"] == id)
            .map(|c| {
                (
                    c["count"].as_u64().unwrap_or(0),
                    c["avg_s"].as_f64().unwrap_or(0.0) * 1000.0,
                )
            })
    };
    let classes = v["classes"].as_array().expect("classes");
    let ids: std::collections::BTreeSet<String> = [&a, &b]
        .into_iter()
        .flat_map(|d| d["classes"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["query_id"].as_str().map(String::from))
        .collect();
    assert_eq!(classes.len(), ids.len(), "{v}");
    let mut both = 0;
    for c in classes {
        let id = c["query_id"].as_str().expect("id");
        let (sa, sb) = (side(&a, id), side(&b, id));
        let change = c["change"].as_str().expect("change");
        match (sa, sb) {
            (None, Some((n, _))) => {
                assert_eq!((change, c["b"]["calls"].as_u64()), ("new", Some(n)))
            }
            (Some((n, _)), None) => {
                assert_eq!((change, c["a"]["calls"].as_u64()), ("gone", Some(n)))
            }
            (Some((na, ma)), Some((nb, mb))) => {
                both += 1;
                assert_eq!(
                    (c["a"]["calls"].as_u64(), c["b"]["calls"].as_u64()),
                    (Some(na), Some(nb))
                );
                let ratio = c["mean_ratio"].as_f64().expect("ratio");
                assert!(
                    (ratio - mb / ma).abs() <= 1e-6 * ratio.abs().max(1.0),
                    "{c}"
                );
                assert!(
                    ["regressed", "improved", "unchanged"].contains(&change),
                    "{c}"
                );
            }
            (None, None) => panic!("{id} in neither digest"),
        }
    }
    assert!(both > 0, "the two logs share classes: {v}");
    assert_eq!(
        v["summary"]
            .as_object()
            .map(|s| s.values().filter_map(Value::as_u64).sum::<u64>()),
        Some(classes.len() as u64)
    );
}
