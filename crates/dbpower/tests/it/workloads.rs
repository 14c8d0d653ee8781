//! The stored real-workload corpus (`tests/corpus/workloads/`, written by
//! `scripts/capture-workloads.sh`): what MariaDB 10.11 and PostgreSQL 15 logged while sysbench, pgbench
//! and an ORM test suite's statements ran, with the grouping the servers made of the same statements
//! (performance_schema digests, pg_stat_statements) and pt-query-digest's report. No server is needed:
//! the truth is stored beside the logs.
//!
//! - `dbpower digest` groups and counts the slow log as pt-query-digest did.
//! - One engine id, one DBPower id: the statements MariaDB gave one digest get one query id, the same as
//!   the digest text's own (so a sample shipped under the digest text and a logged execution meet in one
//!   class); every pg_stat_statements entry's text gets the id of the logged statements it counts.
//! - The counts agree with the servers' own counters.
//! - The distinct statement shapes parse (>= 99.8% per engine).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use dbpower_sql::Dialect;
use dbpower_sql::fingerprint::digest_key;
use dbpower_sql::fingerprint_and_id;
use dbpower_sql::slowlog::MysqlSlowLog;

use crate::digest::ours;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/workloads")
}

/// A stored file's text (gunzipped when its name ends in `.gz`).
fn read(name: &str) -> String {
    let path = dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if name.ends_with(".gz") {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        text
    } else {
        String::from_utf8(bytes).expect("utf-8")
    }
}

/// The rows of a tab-separated file with a header line, as maps from column name to value.
fn tsv(text: &str) -> Vec<HashMap<&str, &str>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.splitn(header.len(), '\t').collect();
            assert_eq!(cells.len(), header.len(), "{l}");
            header.iter().copied().zip(cells).collect()
        })
        .collect()
}

/// `dbpower digest --json` of a stored log (written out to a temporary file first).
fn digest_of(name: &str) -> (BTreeMap<String, u64>, serde_json::Value) {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join(name.trim_end_matches(".gz"));
    std::fs::write(&file, read(name)).expect("write");
    ours(&file)
}

/// The MariaDB slow log's events: (default schema, statement).
fn mariadb_events() -> Vec<(String, String)> {
    let log = read("mariadb.slow.log.gz");
    MysqlSlowLog::new(log.as_bytes())
        .map(|e| e.expect("every stored event reads"))
        .map(|e| (e.origin.db.unwrap_or_default(), e.sql))
        .collect()
}

#[test]
fn stored_mariadb_workload_digest_equals_pt_query_digest() {
    let (mine, report) = digest_of("mariadb.slow.log.gz");
    let truth: BTreeMap<String, u64> = tsv(&read("mariadb.pt-query-digest.tsv.gz"))
        .iter()
        .map(|r| {
            let c = r["checksum"];
            (
                c[c.len() - 16..].to_ascii_uppercase(),
                r["count"].parse().expect("count"),
            )
        })
        .collect();
    let events: u64 = truth.values().sum();
    assert_eq!(
        events,
        mariadb_events().len() as u64,
        "pt counted every event"
    );
    let mine: BTreeMap<String, u64> = mine
        .into_iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v))
        .collect();
    // Classes both count alike; the others must be made only of statements pt's regular expressions
    // mis-lex (docs/FINGERPRINTS.md), and hold the same events on both sides.
    let ours_only: BTreeMap<&String, &u64> = mine
        .iter()
        .filter(|(id, n)| truth.get(*id) != Some(n))
        .collect();
    let pt_only: BTreeMap<&String, &u64> = truth
        .iter()
        .filter(|(id, n)| mine.get(*id) != Some(n))
        .collect();
    let mut by_id: HashMap<String, Vec<String>> = HashMap::new();
    for (_, sql) in mariadb_events() {
        let (_, id) = fingerprint_and_id(&sql, Dialect::Mysql);
        by_id.entry(id.to_ascii_uppercase()).or_default().push(sql);
    }
    let undocumented: Vec<&String> = ours_only
        .keys()
        .flat_map(|id| by_id.get(*id).into_iter().flatten())
        .filter(|sql| !pt_mislexes(sql))
        .collect();
    let events_ours: u64 = ours_only.values().copied().sum();
    let events_pt: u64 = pt_only.values().copied().sum();
    println!(
        "mariadb: {events} events, pt {} classes, dbpower {} classes; {} events ({:.2}%) in classes that differ, all where pt mis-lexes",
        truth.len(),
        mine.len(),
        events_ours,
        100.0 * events_ours as f64 / events as f64
    );
    assert!(
        undocumented.is_empty(),
        "classes that differ from pt-query-digest without a documented reason:\n{undocumented:#?}\n{}",
        report["skipped"]
    );
    assert_eq!(events_ours, events_pt, "{ours_only:?}\n{pt_only:?}");
    assert!(events_ours * 100 <= events, "{events_ours} of {events}");
}

/// Whether pt's regular expressions mis-read the statement (docs/FINGERPRINTS.md): a backtick name
/// holding a quote or the word `null`, a string with a backslash escape or a doubled quote.
fn pt_mislexes(sql: &str) -> bool {
    use dbpower_sql::lexer::{Kind, Lexer};
    Lexer::new(sql, Dialect::Mysql).any(|t| match t.kind {
        Kind::QuotedIdent => {
            t.text.contains('"') || t.text.contains('\'') || t.text.eq_ignore_ascii_case("`null`")
        }
        Kind::String => {
            let inner = t.text.get(1..t.text.len().saturating_sub(1)).unwrap_or("");
            inner.contains('\\') || inner.contains("''")
        }
        _ => false,
    })
}

#[test]
fn stored_mariadb_workload_ids_agree_with_the_server_digests() {
    let digests = read("mariadb.digests.tsv.gz");
    let rows = tsv(&digests);
    // The agent's matching: (schema, digest key) -> the server's digest, its text and count.
    // The agent's matching: (schema, digest key) -> the server's digests with that key (MariaDB can
    // give two statements one key and two digests, `SUBSTRING(x, 1)` and `SUBSTRING(x, -1)`), their
    // texts and their counts.
    let mut by_key: HashMap<(String, String), Vec<(&str, u64)>> = HashMap::new();
    for r in &rows {
        let schema = if r["schema_name"] == "NULL" {
            ""
        } else {
            r["schema_name"]
        };
        by_key
            .entry((schema.to_string(), digest_key(r["digest_text"])))
            .or_default()
            .push((
                r["digest_text"],
                r["count_star"].parse::<u64>().expect("count"),
            ));
    }
    let mut ids: HashMap<&(String, String), BTreeSet<String>> = HashMap::new();
    let mut logged: HashMap<&(String, String), u64> = HashMap::new();
    let mut unmatched: BTreeMap<String, u64> = BTreeMap::new();
    let events = mariadb_events();
    for (schema, sql) in &events {
        match by_key.get_key_value(&(schema.clone(), digest_key(sql))) {
            Some((key, _)) => {
                ids.entry(key)
                    .or_default()
                    .insert(fingerprint_and_id(sql, Dialect::Mysql).1);
                *logged.entry(key).or_default() += 1;
            }
            None => *unmatched.entry(schema.clone()).or_default() += 1,
        }
    }
    // Query ids follow pt-query-digest, which keeps a statement's spacing and quoting (`a=1` and
    // `a = 1`, `` `t` `` and `t`) and cuts a multi-row INSERT after its first row, RETURNING included;
    // the server's digest does neither, so some digests hold statements of several ids. The agent
    // ships those executions under the digest's text: one class per digest (docs/FINGERPRINTS.md).
    let split: u64 = ids
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(k, _)| logged[k])
        .sum();
    let miscounted: Vec<String> = by_key
        .iter()
        .filter(|(key, rows)| {
            logged.get(key).copied().unwrap_or(0) != rows.iter().map(|r| r.1).sum::<u64>()
        })
        .map(|(key, rows)| format!("{key:?}: server {rows:?}, logged {:?}", logged.get(key)))
        .collect();
    let digests: usize = by_key.values().map(Vec::len).sum();
    println!(
        "mariadb: {} events, {digests} digests; {split} events in digests whose statements have several ids; {} digest keys miscounted; not in the digest table, by schema: {unmatched:?}",
        events.len(),
        miscounted.len()
    );
    assert!(split * 100 <= events.len() as u64, "{split}");
    assert!(
        miscounted.is_empty(),
        "digest counts that differ from the log:\n{}",
        miscounted.join("\n")
    );
    // MariaDB's digest table holds no binary-protocol execution: sysbench's prepared run (200
    // executions in `sbps`) is the only part of the workload no digest holds (the one other statement
    // is the capture's readiness probe, run before the digest table was emptied).
    assert_eq!(
        unmatched,
        BTreeMap::from([(String::new(), 1), ("sbps".to_string(), 200)]),
        "logged statements without a digest"
    );
}

#[test]
fn stored_postgresql_workload_counts_agree_with_pg_stat_statements() {
    let (counts, _) = digest_of("postgresql.log");
    let mut calls: BTreeMap<String, u64> = BTreeMap::new();
    let pgss = read("postgresql.pgss.tsv");
    let rows = tsv(&pgss);
    for r in &rows {
        let (_, id) = fingerprint_and_id(r["query"], Dialect::Postgresql);
        *calls.entry(id).or_default() += r["calls"].parse::<u64>().expect("calls");
    }
    let mut executed: BTreeMap<String, u64> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
    // pg_stat_statements counts a transaction command run through a named prepared statement once
    // (PostgreSQL 15): 20 simple + 20 extended + 1 prepared of pgbench's 60 transactions.
    for command in ["BEGIN", "END"] {
        let (_, id) = fingerprint_and_id(command, Dialect::Postgresql);
        assert_eq!(executed.remove(&id), Some(60), "{command}");
        assert_eq!(calls.remove(&id), Some(41), "{command}");
    }
    println!(
        "postgresql: {} pg_stat_statements entries, {} classes, {} executions",
        rows.len(),
        executed.len(),
        executed.values().sum::<u64>()
    );
    assert_eq!(
        executed, calls,
        "per class, the log's executions are pg_stat_statements' calls"
    );
}

#[test]
fn stored_workload_shapes_parse() {
    let mut shapes: BTreeMap<(bool, String), String> = BTreeMap::new();
    for (_, sql) in mariadb_events() {
        let (_, id) = fingerprint_and_id(&sql, Dialect::Mysql);
        shapes.entry((true, id)).or_insert(sql);
    }
    let pgss = read("postgresql.pgss.tsv");
    for r in tsv(&pgss) {
        let (_, id) = fingerprint_and_id(r["query"], Dialect::Postgresql);
        shapes.entry((false, id)).or_insert(r["query"].to_string());
    }
    for mysql in [true, false] {
        let dialect = if mysql {
            Dialect::Mysql
        } else {
            Dialect::Postgresql
        };
        let of: Vec<&String> = shapes
            .iter()
            .filter(|((m, _), _)| *m == mysql)
            .map(|(_, sql)| sql)
            .collect();
        let failed: Vec<&&String> = of
            .iter()
            .filter(|sql| {
                dbpower_analysis::statement_findings(sql, dialect, None)
                    .1
                    .is_err()
            })
            .collect();
        let rate = 1.0 - failed.len() as f64 / of.len() as f64;
        println!(
            "{dialect:?}: {} distinct shapes, {} do not parse ({:.2}% parse)",
            of.len(),
            failed.len(),
            rate * 100.0
        );
        assert!(of.len() > if mysql { 7000 } else { 5 });
        assert!(rate >= 0.998, "{dialect:?}: {failed:#?}");
    }
}
