//! PostgreSQL collection: `pg_stat_statements` deltas per round (PG 13-17 column names, and the older
//! `total_time`; resets and deallocated entries handled) and the server log with
//! `log_min_duration_statement` in stderr, csvlog or jsonlog format, with `auto_explain` JSON plans
//! attached to their statement when present.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use dbpower_sql::slowlog::{EventKind, Item, Origin, PgEvents, PgRecord, PostgresLog};
use dbpower_types::SlowQueryIn;
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use crate::collect::{Ctx, Raw, Tally, parse_time};
use crate::mysql::digest_round;
use crate::source::Output;
use crate::state::{Counters, SourceState};
use crate::tail::{line_starts, read_appended};

pub(crate) async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(url)
        .await
        .context("cannot connect to PostgreSQL")
}

pub(crate) async fn pg_stat_statements(
    conn: &mut PgConnection,
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> anyhow::Result<Output> {
    let new_names: i64 = sqlx::query_scalar(
        "SELECT /* dbpower-agent */ count(*) FROM pg_attribute WHERE attrelid = to_regclass('pg_stat_statements') AND attname = 'total_exec_time'",
    )
    .fetch_one(&mut *conn)
    .await?;
    let total = if new_names > 0 {
        "total_exec_time"
    } else {
        "total_time"
    };
    let sql = format!(
        "SELECT /* dbpower-agent */ s.userid::text || ':' || s.dbid::text || ':' || s.queryid::text, s.query, \
         COALESCE(d.datname, ''), COALESCE(r.rolname, ''), s.calls, s.{total}::float8, s.rows \
         FROM pg_stat_statements s LEFT JOIN pg_database d ON d.oid = s.dbid LEFT JOIN pg_roles r ON r.oid = s.userid \
         WHERE s.queryid IS NOT NULL"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await
        .context("cannot read pg_stat_statements (is the extension created in this database?)")?;
    let mut now: HashMap<String, Counters> = HashMap::new();
    let mut texts: HashMap<String, (String, String, String)> = HashMap::new();
    for r in rows {
        let key: String = r.try_get(0)?;
        now.insert(
            key.clone(),
            Counters {
                calls: r.try_get(4)?,
                total_ms: r.try_get(5)?,
                lock_ms: 0.0,
                rows_sent: r.try_get(6)?,
                rows_examined: 0,
            },
        );
        texts.insert(key, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    let mut out = digest_round(
        ctx,
        state,
        now,
        |key| {
            texts
                .get(key)
                .map(|(q, d, u)| (q.as_str(), Some(d.as_str()), Some(u.as_str())))
        },
        "pg_stat_statements",
        "pgss",
    );
    for q in &mut out.queries {
        q.lock_time_ms = None;
    }
    Ok(out)
}

/// The server's current log file: the configured path, else `pg_current_logfile()` under the data directory.
pub(crate) async fn log_path(
    conn: &mut PgConnection,
    configured: Option<&PathBuf>,
) -> anyhow::Result<PathBuf> {
    if let Some(p) = configured {
        return Ok(p.clone());
    }
    let row = sqlx::query(
        "SELECT /* dbpower-agent */ pg_current_logfile(), current_setting('data_directory')",
    )
    .fetch_one(&mut *conn)
    .await?;
    let file: Option<String> = row.try_get(0)?;
    let dir: String = row.try_get(1)?;
    let file = file.context("the server writes no log file (logging_collector is off): set log_path to the file stderr goes to")?;
    let p = PathBuf::from(file);
    Ok(if p.is_absolute() {
        p
    } else {
        PathBuf::from(dir).join(p)
    })
}

/// An `auto_explain` message: its duration, statement and plan.
struct Message {
    ms: f64,
    sql: String,
    plan: Option<Value>,
}

/// `duration: N ms  plan: {...}` from `auto_explain` with `log_format = json`.
fn plan_message(msg: &str) -> Option<Message> {
    let rest = msg.strip_prefix("duration: ")?;
    let (ms, rest) = rest.split_once(" ms")?;
    let ms: f64 = ms.trim().parse().ok()?;
    let plan = rest.trim_start().strip_prefix("plan:")?;
    // auto_explain with log_format = json: {"Query Text": ..., "Plan": {...}}
    let v: Value = serde_json::from_str(plan.trim()).ok()?;
    let sql = v.get("Query Text")?.as_str()?.to_string();
    let mut plan = v;
    if let Some(o) = plan.as_object_mut() {
        o.remove("Query Text");
    }
    Some(Message {
        ms,
        sql,
        plan: Some(Value::Array(vec![plan])),
    })
}

/// Splits CSV records (quoted fields may span lines); returns the records and the bytes consumed
/// (an unterminated final record waits for the next round).
fn csv_records(bytes: &[u8]) -> (Vec<Vec<String>>, usize) {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut consumed = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek().is_some_and(|(_, n)| *n == '"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                out.push(std::mem::take(&mut record));
                consumed = i + 1;
            }
            (false, c) => field.push(c),
        }
    }
    (out, consumed)
}

/// The log's messages as events (see `dbpower_sql::slowlog::PgEvents`), and its `auto_explain` plans
/// with their metadata; returns them and the bytes consumed. Unless the chunk reached the end of the
/// file (`eof`), its last message may have been cut by the per-round limit: it waits for the next round.
fn read_log(name: &str, bytes: &[u8], eof: bool) -> (Vec<Item>, Vec<(Message, PgRecord)>, usize) {
    let mut events = PgEvents::new();
    let mut plans = Vec::new();
    let mut feed = |r: PgRecord| match plan_message(&r.message) {
        Some(m) if r.severity == "LOG" => plans.push((m, r)),
        _ => events.push(r),
    };
    let consumed = if name.ends_with(".csv") {
        let (records, consumed) = csv_records(bytes);
        for (n, r) in records.iter().enumerate().filter(|(_, r)| r.len() > 13) {
            feed(csv_record(n as u64 + 1, r));
        }
        consumed
    } else if name.ends_with(".json") {
        // A line not yet ended by its newline is still being written.
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        for (n, line) in bytes[..end].split(|&b| b == b'\n').enumerate() {
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            feed(json_record(n as u64 + 1, &v));
        }
        end
    } else {
        let end = if eof {
            bytes.len()
        } else {
            // Continuation lines start with a tab: the last message starts at the last line without one.
            line_starts(bytes)
                .into_iter()
                .rfind(|&s| bytes[s] != b'\t')
                .unwrap_or(0)
        };
        let items = PostgresLog::new(std::io::Cursor::new(&bytes[..end])).collect();
        return (items, plans, end);
    };
    events.finish();
    (
        std::iter::from_fn(|| events.pop()).collect(),
        plans,
        consumed,
    )
}

/// A csvlog record (at least 14 fields): time, user, database, pid, client, ..., severity (12th),
/// message (14th), ..., query (20th).
fn csv_record(line: u64, r: &[String]) -> PgRecord {
    let field = |i: usize| r.get(i).filter(|v| !v.is_empty()).cloned();
    PgRecord {
        line,
        pid: r[3].parse().ok(),
        severity: r[11].clone(),
        message: r[13].clone(),
        statement: field(19),
        time: r[0].get(..19).map(String::from),
        origin: Origin {
            user: field(1),
            db: field(2),
            host: r[4]
                .split(':')
                .next()
                .filter(|h| !h.is_empty())
                .map(String::from),
        },
    }
}

/// A jsonlog record.
fn json_record(line: u64, v: &Value) -> PgRecord {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    PgRecord {
        line,
        pid: v
            .get("pid")
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok()),
        // A record without a severity is read as a LOG message.
        severity: s("error_severity").unwrap_or_else(|| "LOG".to_string()),
        message: s("message").unwrap_or_default(),
        statement: s("statement"),
        time: s("timestamp").and_then(|t| t.get(..19).map(String::from)),
        origin: Origin {
            user: s("user"),
            db: s("dbname"),
            host: s("remote_host"),
        },
    }
}

fn raw<'a>(sql: &'a str, ms: f64, origin: &'a Origin, at: Option<&str>) -> Raw<'a> {
    Raw {
        db: origin.db.as_deref(),
        user: origin.user.as_deref(),
        host: origin.host.as_deref(),
        at: at.and_then(parse_time),
        ..Raw::new(sql, ms, "postgres_log")
    }
}

/// One execution per `statement:` or `execute` line; `execute fetch from` adds its time to the
/// execution of the same server process shipped this round; parse and bind times, failed statements
/// and skipped messages are counted, never shipped as executions.
/// Returns the queries and, for each, its server process and statement as logged.
fn queries_of(ctx: &Ctx<'_>, items: Vec<Item>, tally: &mut Tally) -> Shipped {
    let mut queries: Vec<SlowQueryIn> = Vec::new();
    let mut keys: Vec<(Option<u32>, String)> = Vec::new();
    let mut last: HashMap<u32, (usize, String)> = HashMap::new();
    for item in items {
        let ev = match item {
            Ok(ev) => ev,
            Err(_) => {
                tally.skipped += 1;
                continue;
            }
        };
        let ms = ev.measures.query_time_s * 1000.0;
        match ev.kind {
            EventKind::Execution => {
                let raw = raw(&ev.sql, ms, &ev.origin, ev.time.as_deref());
                if let Some(q) = ctx.accept(raw, tally) {
                    if let Some(pid) = ev.pid {
                        last.insert(pid, (queries.len(), ev.sql.clone()));
                    }
                    keys.push((ev.pid, ev.sql));
                    queries.push(q);
                }
            }
            EventKind::Fetch => match ev.pid.and_then(|p| last.get(&p)) {
                Some((k, sql)) if *sql == ev.sql => queries[*k].execution_time_ms += ms,
                _ => tally.skipped += 1,
            },
            EventKind::Prepare => tally.prepares += 1,
            EventKind::Error => tally.failed += 1,
        }
    }
    (queries, keys)
}

type Shipped = (Vec<SlowQueryIn>, Vec<(Option<u32>, String)>);

/// `auto_explain` logs a statement's plan before the statement's own duration line: a plan is attached
/// to the execution of the same server process and text when the round has it (one statement, one
/// execution), and shipped as the execution itself otherwise (`auto_explain` without
/// `log_min_duration_statement`).
fn attach_plans(
    ctx: &Ctx<'_>,
    plans: Vec<(Message, PgRecord)>,
    (mut queries, keys): Shipped,
    tally: &mut Tally,
) -> Vec<SlowQueryIn> {
    for (m, r) in plans {
        let same = (0..queries.len())
            .find(|&k| queries[k].explain.is_none() && keys[k].0 == r.pid && keys[k].1 == m.sql);
        if let Some(k) = same {
            queries[k].explain = m.plan;
            continue;
        }
        if let Some(mut q) = ctx.accept(raw(&m.sql, m.ms, &r.origin, r.time.as_deref()), tally) {
            q.explain = m.plan;
            queries.push(q);
        }
    }
    queries
}

pub(crate) async fn postgres_log(
    conn: &mut PgConnection,
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> anyhow::Result<Output> {
    let path = log_path(conn, ctx.source.log_path.as_ref()).await?;
    let chunk = read_appended(&path, state.log.clone(), ctx.source.start_at)
        .with_context(|| format!("cannot read the server log {}", path.display()))?;
    let name = path.to_string_lossy().to_lowercase();
    let (items, plans, consumed) = read_log(&name, &chunk.bytes, chunk.eof);
    let mut tally = Tally::default();
    let shipped = queries_of(ctx, items, &mut tally);
    let queries = attach_plans(ctx, plans, shipped, &mut tally);
    let counted = (tally.failed, tally.prepares, tally.skipped);
    let mut out = Output::from_log(&chunk, consumed, state, queries, tally, "server log", &path);
    if counted != (0, 0, 0) {
        let note = format!(
            "server log {}: {} failed statements and {} parse/bind messages (not executions), {} messages skipped",
            path.display(),
            counted.0,
            counted.1,
            counted.2
        );
        out.note = Some(out.note.map_or(note.clone(), |n| format!("{n}; {note}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_explain_plans() {
        let m = plan_message("duration: 2000.1 ms  plan:\n{\"Query Text\": \"SELECT * FROM big WHERE x = 1\", \"Plan\": {\"Node Type\": \"Seq Scan\"}}").expect("plan");
        assert_eq!(
            (m.ms, m.sql.as_str()),
            (2000.1, "SELECT * FROM big WHERE x = 1")
        );
        assert_eq!(m.plan.expect("plan")[0]["Plan"]["Node Type"], "Seq Scan");
        assert!(plan_message("duration: 12.5 ms  execute <unnamed>: SELECT 1").is_none());
        assert!(plan_message("connection received: host=[local]").is_none());
    }

    fn source() -> crate::config::SourceConfig {
        crate::config::SourceConfig {
            name: "pg".into(),
            kind: crate::config::SourceKind::Postgresql,
            url: "postgres://x".into(),
            methods: vec![crate::config::Method::PostgresLog],
            min_duration_ms: 0.0,
            log_path: None,
            start_at: crate::config::StartAt::End,
            exclude: crate::config::Exclude::default(),
            explain: false,
            schema: false,
        }
    }

    #[test]
    fn an_auto_explain_plan_joins_its_statement_instead_of_counting_again() {
        let line = |pid: u32, message: &str| {
            serde_json::json!({"timestamp": "2026-12-03 10:00:00.100 UTC", "pid": pid, "error_severity": "LOG", "message": message}).to_string() + "\n"
        };
        let plan = |sql: &str| {
            format!(
                "duration: 9.0 ms  plan:\n{}",
                serde_json::json!({"Query Text": sql, "Plan": {"Node Type": "Seq Scan"}})
            )
        };
        let log = line(42, &plan("SELECT * FROM big WHERE x = 1"))
            + &line(
                42,
                "duration: 9.5 ms  statement: SELECT * FROM big WHERE x = 1",
            )
            + &line(43, &plan("SELECT * FROM big WHERE x = 2"));
        let (items, plans, _) = read_log("postgresql.json", log.as_bytes(), true);
        let src = source();
        let ex = crate::config::Exclusions::compile(&src.exclude).expect("exclusions");
        let ctx = Ctx::new(&src, &ex, crate::config::Scrub::Strict);
        let mut tally = Tally::default();
        let shipped = queries_of(&ctx, items, &mut tally);
        let q = attach_plans(&ctx, plans, shipped, &mut tally);
        assert_eq!(q.len(), 2, "one query per statement executed");
        assert_eq!(q[0].execution_time_ms, 9.5);
        assert_eq!(
            q[0].explain
                .as_ref()
                .map(|p| p[0]["Plan"]["Node Type"].clone()),
            Some("Seq Scan".into())
        );
        assert!(
            q[1].explain.is_some(),
            "a plan alone is its statement's execution"
        );
    }

    #[test]
    fn a_message_cut_by_the_round_limit_waits_for_the_next_round() {
        let log = "2026-12-03 10:00:00.100 UTC [7] LOG:  duration: 1.0 ms  statement: SELECT 1\n\
2026-12-03 10:00:00.200 UTC [7] LOG:  duration: 2.0 ms  statement: SELECT a,\n\tb FROM t\n";
        let second = log.find("2026-12-03 10:00:00.200").expect("second message");
        let (items, _, consumed) = read_log("postgresql.log", log.as_bytes(), false);
        assert_eq!((items.len(), consumed), (1, second));
        let (items, _, consumed) = read_log("postgresql.log", log.as_bytes(), true);
        assert_eq!((items.len(), consumed), (2, log.len()));
        let json = "{\"pid\": 1, \"error_severity\": \"LOG\", \"message\": \"duration: 1.0 ms  statement: SELECT 1\"}\n{\"pid\": 1, \"error_sev";
        let (items, _, consumed) = read_log("postgresql.json", json.as_bytes(), false);
        assert_eq!(
            (items.len(), consumed),
            (1, json.find('\n').expect("newline") + 1)
        );
    }

    #[test]
    fn every_format_counts_one_execution_per_execute() {
        let csv = "\
2026-12-03 10:00:00.100 UTC,\"app\",\"shop\",42,\"10.0.0.9:5432\",s,1,PARSE,x,1/2,0,LOG,00000,\"duration: 1.0 ms  parse <unnamed>: SELECT 1\",,,,,,,,,\"\"
2026-12-03 10:00:00.200 UTC,\"app\",\"shop\",42,\"10.0.0.9:5432\",s,2,BIND,x,1/2,0,LOG,00000,\"duration: 2.0 ms  bind <unnamed>: SELECT 1\",,,,,,,,,\"\"
2026-12-03 10:00:00.300 UTC,\"app\",\"shop\",42,\"10.0.0.9:5432\",s,3,SELECT,x,1/2,0,LOG,00000,\"duration: 3.0 ms  execute <unnamed>: SELECT 1\",,,,,,,,,\"\"
2026-12-03 10:00:00.400 UTC,\"app\",\"shop\",42,\"10.0.0.9:5432\",s,4,SELECT,x,1/2,0,ERROR,22012,\"division by zero\",,,,,,\"select 1/0\",,,\"psql\"
";
        let (items, plans, consumed) = read_log("postgresql.csv", csv.as_bytes(), true);
        assert_eq!((plans.len(), consumed), (0, csv.len()));
        let kinds: Vec<EventKind> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::Prepare,
                EventKind::Prepare,
                EventKind::Execution,
                EventKind::Error
            ]
        );
        let json = "{\"timestamp\":\"2026-12-03 10:00:00.100 UTC\",\"user\":\"app\",\"dbname\":\"shop\",\"pid\":42,\"error_severity\":\"LOG\",\"message\":\"duration: 1.0 ms  bind S_1: SELECT 2\"}\n\
{\"timestamp\":\"2026-12-03 10:00:00.200 UTC\",\"user\":\"app\",\"dbname\":\"shop\",\"pid\":42,\"error_severity\":\"LOG\",\"message\":\"duration: 4.0 ms  execute S_1: SELECT 2\"}\n\
{\"timestamp\":\"2026-12-03 10:00:00.300 UTC\",\"pid\":42,\"error_severity\":\"LOG\",\"message\":\"duration: 5.0 ms  execute fetch from S_1/C_1: SELECT 2\"}\n\
{\"timestamp\":\"2026-12-03 10:00:00.400 UTC\",\"pid\":43,\"error_severity\":\"ERROR\",\"message\":\"canceling statement due to statement timeout\",\"statement\":\"SELECT pg_sleep(9)\"}\n";
        let (items, _, _) = read_log("postgresql.json", json.as_bytes(), true);
        let src = source();
        let ex = crate::config::Exclusions::compile(&src.exclude).expect("exclusions");
        let ctx = Ctx::new(&src, &ex, crate::config::Scrub::Strict);
        let mut tally = Tally::default();
        let (q, _) = queries_of(&ctx, items, &mut tally);
        assert_eq!(q.len(), 1, "one execution");
        assert_eq!(
            (q[0].execution_time_ms, q[0].calls),
            (9.0, None),
            "execute plus its fetch, never the bind"
        );
        assert_eq!((tally.prepares, tally.failed, tally.skipped), (1, 1, 0));
    }

    #[test]
    fn csv_records_span_lines_and_wait_when_unterminated() {
        let text = "2026-12-03 10:00:00.123 UTC,\"app\",\"shop\",42,\"10.0.0.9:5432\",s,1,SELECT,x,1/2,0,LOG,00000,\"duration: 5.0 ms  statement: SELECT 'a,b'\nFROM \"\"t\"\"\",,,,,,,,,\"\"\n2026-12-03 10:00:01.000 UTC,\"app\",\"shop\",42,\"\",s,2,SELECT,x,1/2,0,LOG,00000,\"duration: 1 ms  statement: SELECT";
        let (records, consumed) = csv_records(text.as_bytes());
        assert_eq!(records.len(), 1);
        assert_eq!(
            records[0][13],
            "duration: 5.0 ms  statement: SELECT 'a,b'\nFROM \"t\""
        );
        assert!(text[consumed..].starts_with("2026-12-03 10:00:01"));
    }
}
