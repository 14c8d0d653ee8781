//! PostgreSQL collection: `pg_stat_statements` deltas per round (PG 13-17 column names, and the older
//! `total_time`; resets and deallocated entries handled) and the server log with
//! `log_min_duration_statement` in stderr, csvlog or jsonlog format, with `auto_explain` JSON plans
//! attached to their statement when present.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, Utc};
use dbpower_sql::slowlog::PostgresLog;
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use crate::collect::{Ctx, Raw, Tally, parse_time};
use crate::mysql::digest_round;
use crate::source::Output;
use crate::state::{Counters, SourceState};
use crate::tail::read_appended;

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

/// A log message's duration and statement (or auto_explain plan).
struct Message {
    ms: f64,
    sql: String,
    plan: Option<Value>,
}

fn parse_message(msg: &str) -> Option<Message> {
    let rest = msg.strip_prefix("duration: ")?;
    let (ms, rest) = rest.split_once(" ms")?;
    let ms: f64 = ms.trim().parse().ok()?;
    let rest = rest.trim_start();
    if let Some(plan) = rest.strip_prefix("plan:") {
        // auto_explain with log_format = json: {"Query Text": ..., "Plan": {...}}
        let v: Value = serde_json::from_str(plan.trim()).ok()?;
        let sql = v.get("Query Text")?.as_str()?.to_string();
        let mut plan = v;
        if let Some(o) = plan.as_object_mut() {
            o.remove("Query Text");
        }
        return Some(Message {
            ms,
            sql,
            plan: Some(Value::Array(vec![plan])),
        });
    }
    let sql = ["statement: ", "execute ", "parse ", "bind "]
        .iter()
        .find_map(|k| {
            rest.strip_prefix(k).map(|s| {
                if *k == "statement: " {
                    s
                } else {
                    s.split_once(": ").map_or(s, |x| x.1)
                }
            })
        })?;
    Some(Message {
        ms,
        sql: sql.to_string(),
        plan: None,
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

struct LogEntry {
    at: Option<DateTime<Utc>>,
    user: Option<String>,
    db: Option<String>,
    host: Option<String>,
    message: String,
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
    let mut entries = Vec::new();
    let consumed = if name.ends_with(".csv") {
        let (records, consumed) = csv_records(&chunk.bytes);
        for r in records.into_iter().filter(|r| r.len() > 13) {
            entries.push(LogEntry {
                at: r[0].get(..19).and_then(parse_time),
                user: Some(r[1].clone()),
                db: Some(r[2].clone()),
                host: r[4].split(':').next().map(String::from),
                message: r[13].clone(),
            });
        }
        consumed
    } else if name.ends_with(".json") {
        for line in chunk.bytes.split(|&b| b == b'\n') {
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
            entries.push(LogEntry {
                at: s("timestamp")
                    .as_deref()
                    .and_then(|t| t.get(..19))
                    .and_then(parse_time),
                user: s("user"),
                db: s("dbname"),
                host: s("remote_host"),
                message: s("message").unwrap_or_default(),
            });
        }
        chunk.bytes.len()
    } else {
        for e in PostgresLog::new(std::io::Cursor::new(chunk.bytes.as_slice())).flatten() {
            entries.push(LogEntry {
                at: e.time.as_deref().and_then(parse_time),
                user: e.user,
                db: e.db,
                host: None,
                message: format!(
                    "duration: {} ms  statement: {}",
                    e.query_time_s * 1000.0,
                    e.sql
                ),
            });
        }
        chunk.bytes.len()
    };
    let mut tally = Tally::default();
    let mut queries = Vec::new();
    for e in &entries {
        let Some(m) = parse_message(&e.message) else {
            continue;
        };
        if let Some(mut q) = ctx.accept(
            Raw {
                sql: &m.sql,
                ms: m.ms,
                lock_ms: None,
                rows_sent: None,
                rows_examined: None,
                calls: None,
                db: e.db.as_deref(),
                user: e.user.as_deref(),
                host: e.host.as_deref(),
                at: e.at,
                method: "postgres_log",
            },
            &mut tally,
        ) {
            q.explain = m.plan;
            queries.push(q);
        }
    }
    Ok(Output::from_log(
        &chunk,
        consumed,
        state,
        queries,
        tally,
        "server log",
        &path,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_messages_and_auto_explain_plans() {
        let m = parse_message("duration: 1523.250 ms  statement: SELECT * FROM t WHERE id = 5")
            .expect("statement");
        assert_eq!(
            (m.ms, m.sql.as_str()),
            (1523.25, "SELECT * FROM t WHERE id = 5")
        );
        let m = parse_message("duration: 12.5 ms  execute <unnamed>: SELECT 1").expect("execute");
        assert_eq!(m.sql, "SELECT 1");
        let m = parse_message("duration: 2000.1 ms  plan:\n{\"Query Text\": \"SELECT * FROM big WHERE x = 1\", \"Plan\": {\"Node Type\": \"Seq Scan\"}}").expect("plan");
        assert_eq!(m.sql, "SELECT * FROM big WHERE x = 1");
        assert_eq!(m.plan.expect("plan")[0]["Plan"]["Node Type"], "Seq Scan");
        assert!(parse_message("connection received: host=[local]").is_none());
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
