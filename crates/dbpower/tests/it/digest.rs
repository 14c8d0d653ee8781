//! `dbpower digest` against pt-query-digest: on the shared corpus of real slow logs
//! (`DBPOWER_TEST_CORPUS`), and on a slow log the machine's MariaDB writes now (`DBPOWER_TEST_MYSQL_URL`).
//! Both need `DBPOWER_TEST_PT_QUERY_DIGEST` (Debian's percona-toolkit; CI installs it).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Query id -> count from `dbpower digest --json`.
fn ours(file: &Path) -> (BTreeMap<String, u64>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_dbpower"))
        .args(["digest", "--json", "--limit", "1000000"])
        .arg(file)
        .output()
        .expect("run dbpower digest");
    assert!(
        out.status.success(),
        "dbpower digest failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
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
fn pt(exe: &str, file: &Path) -> (BTreeMap<String, u64>, u64) {
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
    let out = cmd
        .output()
        .expect("DBPOWER_TEST_MYSQL_URL is set but the mariadb client cannot be run");
    assert!(
        out.status.success(),
        "mariadb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
