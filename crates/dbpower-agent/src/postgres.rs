//! PostgreSQL collection: `pg_stat_statements` deltas per round (PG 13-17 column names, and the older
//! `total_time`; resets and deallocated entries handled) and the server log with
//! `log_min_duration_statement` in stderr, csvlog or jsonlog format, with `auto_explain` JSON plans
//! attached to their statement when present.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use dbpower_sql::slowlog::{EventKind, Item, Origin, PgEvents, PgRecord, PgStderrRecords, Skipped};
use dbpower_types::SlowQueryIn;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};

use crate::collect::{Ctx, MARKER, Raw, Tally, parse_time};
use crate::mysql::digest_round;
use crate::source::Output;
use crate::state::{Counters, SourceState};
use crate::tail::{line_starts, read_appended};

/// The `application_name` of every session the agent opens.
pub(crate) const APPLICATION: &str = "dbpower-agent";

/// Server settings that keep a session's statements out of `pg_stat_statements` and the server log.
/// They are superuser-only parameters: the agent asks for them when it connects, and an unprivileged
/// role has them from `ALTER ROLE ... SET` (or `GRANT SET ON PARAMETER`, PostgreSQL 15 and later).
pub(crate) const QUIET: &[(&str, &str)] = &[
    ("pg_stat_statements.track", "none"),
    ("log_min_duration_statement", "-1"),
    ("log_min_duration_sample", "-1"),
    ("log_transaction_sample_rate", "0"),
    ("log_statement", "none"),
    ("log_duration", "off"),
    ("auto_explain.log_min_duration", "-1"),
];

/// What an agent session keeps to itself, as the server reports it once connected.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Quiet {
    /// `pg_stat_statements.track = none` (or the module is not loaded): nothing the session runs is
    /// counted in `pg_stat_statements`.
    pub pgss: bool,
    /// Every statement-logging setting off: nothing the session runs is logged as a statement.
    pub log: bool,
}

/// One connection of the agent to one database.
pub(crate) struct Session {
    pub conn: PgConnection,
    /// The role the agent is connected as (`current_user`).
    pub role: String,
    pub quiet: Quiet,
}

/// Whether a collected statement is the agent's own. When the agent's sessions are quiet for the
/// method that collected it, none is: nothing they run reaches `pg_stat_statements` or the log, and
/// every collected statement is a customer's, whatever its text. Otherwise a statement is the agent's
/// when it ran as the agent's own role and carries [`MARKER`]; a statement of another role (or of a
/// log record without a user) is a customer's even if it carries the marker.
pub(crate) fn is_own(quiet: bool, agent_role: &str, user: Option<&str>, sql: &str) -> bool {
    !quiet && user == Some(agent_role) && sql.contains(MARKER)
}

/// Whether a connection was refused because of the [`QUIET`] startup options (no privilege to set
/// them, or a parameter this server does not know), rather than for a reason that a plain connection
/// would meet as well.
fn refused_options(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "42501" || c == "42704" || c == "22023")
}

/// Opens a session on `database` (the URL's own database when `None`). With `quiet_options` the
/// [`QUIET`] settings are asked for as startup options, so that not even the session's first statement
/// is tracked or logged; when the server refuses them, `quiet_options` is cleared and the session
/// opens without them (the role's own settings may still make it quiet).
pub(crate) async fn open(
    url: &str,
    database: Option<&str>,
    quiet_options: &mut bool,
) -> anyhow::Result<Session> {
    let mut opts: PgConnectOptions = url.parse().context("not a PostgreSQL URL")?;
    opts = opts.application_name(APPLICATION);
    if let Some(db) = database {
        opts = opts.database(db);
    }
    let mut conn = None;
    if *quiet_options {
        match PgConnection::connect_with(&opts.clone().options(QUIET.iter().copied())).await {
            Ok(c) => conn = Some(c),
            Err(e) if refused_options(&e) => *quiet_options = false,
            Err(e) => return Err(e).context("cannot connect to PostgreSQL"),
        }
    }
    let mut conn = match conn {
        Some(c) => c,
        None => PgConnection::connect_with(&opts)
            .await
            .context("cannot connect to PostgreSQL")?,
    };
    let row = sqlx::query(
        "/* dbpower-agent */ SELECT current_user::text, \
         COALESCE(current_setting('pg_stat_statements.track', true), 'none') IN ('none', ''), \
         current_setting('log_min_duration_statement') = '-1' \
         AND COALESCE(current_setting('log_min_duration_sample', true), '-1') = '-1' \
         AND COALESCE(current_setting('log_transaction_sample_rate', true), '0') IN ('0', '') \
         AND current_setting('log_statement') = 'none' AND current_setting('log_duration') = 'off' \
         AND COALESCE(current_setting('auto_explain.log_min_duration', true), '-1') IN ('-1', '')",
    )
    .fetch_one(&mut conn)
    .await
    .context("cannot read the session's settings")?;
    Ok(Session {
        role: row.try_get(0)?,
        quiet: Quiet {
            pgss: row.try_get(1)?,
            log: row.try_get(2)?,
        },
        conn,
    })
}

/// A bounded map with least-recently-used eviction: at most `max` entries; reading or inserting an
/// entry makes it the most recently used.
pub(crate) struct Lru<T> {
    max: usize,
    items: Vec<(String, T)>,
}

impl<T> Lru<T> {
    pub(crate) fn new(max: usize) -> Lru<T> {
        Lru {
            max: max.max(1),
            items: Vec::new(),
        }
    }

    pub(crate) fn get(&mut self, key: &str) -> Option<&mut T> {
        let i = self.items.iter().position(|(k, _)| k == key)?;
        let item = self.items.remove(i);
        self.items.push(item);
        self.items.last_mut().map(|(_, v)| v)
    }

    /// Inserts (or replaces) `key`; returns the entry evicted to make room, if any.
    pub(crate) fn insert(&mut self, key: String, value: T) -> Option<(String, T)> {
        let mut evicted = self.remove(&key).map(|v| (key.clone(), v));
        if self.items.len() >= self.max {
            evicted = Some(self.items.remove(0));
        }
        self.items.push((key, value));
        evicted
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<T> {
        let i = self.items.iter().position(|(k, _)| k == key)?;
        Some(self.items.remove(i).1)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.len()
    }
}

/// Databases of one source with an open session at a time; the least recently used is closed first.
pub(crate) const MAX_DATABASES: usize = 8;

/// Databases per round remembered as unreachable (not retried, reported once).
const MAX_FAILED: usize = 64;

/// A PostgreSQL source's sessions for one round: its own (the URL's database: `pg_stat_statements`,
/// the log's path) and one per database its statements ran in (EXPLAIN and schema run in the
/// statement's own database), at most [`MAX_DATABASES`] open. A database the agent cannot connect to
/// fails only the enrichment of its statements, once per round.
pub(crate) struct Sessions {
    url: String,
    quiet_options: bool,
    home: Option<Session>,
    home_db: Option<String>,
    others: Lru<Session>,
    failed: Vec<String>,
}

impl Sessions {
    pub(crate) fn new(url: &str) -> Sessions {
        Sessions {
            url: url.to_string(),
            quiet_options: true,
            home: None,
            home_db: None,
            others: Lru::new(MAX_DATABASES),
            failed: Vec::new(),
        }
    }

    /// The session on the URL's own database, opened on first use (and again after [`Sessions::discard`]).
    pub(crate) async fn home(&mut self) -> anyhow::Result<&mut Session> {
        if self.home.is_none() {
            let mut s = open(&self.url, None, &mut self.quiet_options).await?;
            let db: String =
                sqlx::query_scalar("/* dbpower-agent */ SELECT current_database()::text")
                    .fetch_one(&mut s.conn)
                    .await?;
            self.home_db = Some(db);
            self.home = Some(s);
        }
        self.home
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("no session"))
    }

    /// The session on `database` (the URL's own for `None` or its name).
    pub(crate) async fn on(&mut self, database: Option<&str>) -> anyhow::Result<&mut Session> {
        let name = match database.filter(|d| !d.is_empty()) {
            None => return self.home().await,
            Some(d) => d,
        };
        if self.home_db.is_none() {
            self.home().await?;
        }
        if self.home_db.as_deref() == Some(name) {
            return self.home().await;
        }
        // PostgreSQL names are at most 63 bytes; a control character (NUL, an escape sequence) is never
        // sent to the server nor written to the agent's log.
        if name.len() > 63 || name.chars().any(char::is_control) {
            anyhow::bail!("not a database name ({} bytes)", name.len());
        }
        if self.failed.iter().any(|f| f == name) {
            anyhow::bail!("database {name} was unreachable earlier this round");
        }
        if self.others.get(name).is_none() {
            match open(&self.url, Some(name), &mut self.quiet_options).await {
                Ok(s) => {
                    // The evicted session (if any) is closed when dropped.
                    self.others.insert(name.to_string(), s);
                }
                Err(e) => {
                    if self.failed.len() < MAX_FAILED {
                        self.failed.push(name.to_string());
                    }
                    return Err(e.context(format!("database {name}")));
                }
            }
        }
        self.others
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("no session"))
    }

    /// Closes the session on `database`: its state is unknown. The next use opens a new one.
    pub(crate) fn discard(&mut self, database: Option<&str>) {
        match database.filter(|d| Some(*d) != self.home_db.as_deref()) {
            Some(d) if !d.is_empty() => {
                self.others.remove(d);
            }
            _ => self.home = None,
        }
    }
}

pub(crate) async fn pg_stat_statements(
    session: &mut Session,
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> anyhow::Result<Output> {
    let conn = &mut session.conn;
    let (new_names, toplevel): (bool, bool) = sqlx::query_as(
        "/* dbpower-agent */ SELECT COALESCE(bool_or(attname = 'total_exec_time'), false), \
         COALESCE(bool_or(attname = 'toplevel'), false) \
         FROM pg_attribute WHERE attrelid = to_regclass('pg_stat_statements')",
    )
    .fetch_one(&mut *conn)
    .await?;
    let total = if new_names {
        "total_exec_time"
    } else {
        "total_time"
    };
    // PostgreSQL 14+ keeps a statement run inside a function (track = all) apart from the same statement
    // at top level, under one queryid: the nested entry gets its own key (top-level keys are unchanged,
    // so saved snapshots stay valid).
    let nested = if toplevel {
        " || CASE WHEN s.toplevel THEN '' ELSE ':nested' END"
    } else {
        ""
    };
    let sql = format!(
        "/* dbpower-agent */ SELECT s.userid::text || ':' || s.dbid::text || ':' || s.queryid::text{nested}, s.query, \
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
    let mut own = 0u64;
    for r in rows {
        let key: String = r.try_get(0)?;
        let (query, user): (String, String) = (r.try_get(1)?, r.try_get(3)?);
        if is_own(session.quiet.pgss, &session.role, Some(&user), &query) {
            own += 1;
            continue;
        }
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
        texts.insert(key, (query, r.try_get(2)?, user));
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
    out.tally.own += own;
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
        "/* dbpower-agent */ SELECT pg_current_logfile(), current_setting('data_directory')",
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
    let mut feed = |r: Result<PgRecord, Skipped>| match r {
        Ok(r) => match plan_message(&r.message) {
            Some(m) if r.severity == "LOG" => plans.push((m, r)),
            _ => events.push(r),
        },
        Err(s) => events.skip(s.line, s.reason),
    };
    let consumed = if name.ends_with(".csv") {
        let (records, consumed) = csv_records(bytes);
        for (n, r) in records.iter().enumerate().filter(|(_, r)| r.len() > 13) {
            feed(Ok(csv_record(n as u64 + 1, r)));
        }
        consumed
    } else if name.ends_with(".json") {
        // A line not yet ended by its newline is still being written.
        let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        for (n, line) in bytes[..end].split(|&b| b == b'\n').enumerate() {
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                continue;
            };
            feed(Ok(json_record(n as u64 + 1, &v)));
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
        PgStderrRecords::new(std::io::Cursor::new(&bytes[..end])).for_each(&mut feed);
        end
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
fn queries_of(ctx: &Ctx<'_>, me: Me<'_>, items: Vec<Item>, tally: &mut Tally) -> Shipped {
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
                if me.owns(ev.origin.user.as_deref(), &ev.sql) {
                    tally.own += 1;
                    continue;
                }
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

/// The agent as the log shows it: whether its sessions are logged, and its role.
#[derive(Clone, Copy)]
struct Me<'a> {
    quiet: bool,
    role: &'a str,
}

impl Me<'_> {
    fn owns(&self, user: Option<&str>, sql: &str) -> bool {
        is_own(self.quiet, self.role, user, sql)
    }
}

/// `auto_explain` logs a statement's plan before the statement's own duration line: a plan is attached
/// to the execution of the same server process and text when the round has it (one statement, one
/// execution), and shipped as the execution itself otherwise (`auto_explain` without
/// `log_min_duration_statement`).
fn attach_plans(
    ctx: &Ctx<'_>,
    me: Me<'_>,
    plans: Vec<(Message, PgRecord)>,
    (mut queries, keys): Shipped,
    tally: &mut Tally,
) -> Vec<SlowQueryIn> {
    for (mut m, r) in plans {
        // The plan's filters and conditions carry the statement's literals.
        let level = crate::enrich::level(ctx.scrub);
        m.plan = m
            .plan
            .and_then(|p| crate::enrich::scrub_plan(p, ctx.dialect(), level));
        let same = (0..queries.len())
            .find(|&k| queries[k].explain.is_none() && keys[k].0 == r.pid && keys[k].1 == m.sql);
        if let Some(k) = same {
            queries[k].explain = m.plan;
            continue;
        }
        if me.owns(r.origin.user.as_deref(), &m.sql) {
            tally.own += 1;
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
    session: &mut Session,
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> anyhow::Result<Output> {
    let path = log_path(&mut session.conn, ctx.source.log_path.as_ref()).await?;
    let chunk = read_appended(&path, state.log.clone(), ctx.source.start_at)
        .with_context(|| format!("cannot read the server log {}", path.display()))?;
    let name = path.to_string_lossy().to_lowercase();
    let (items, plans, consumed) = read_log(&name, &chunk.bytes, chunk.eof);
    let mut tally = Tally::default();
    let me = Me {
        quiet: session.quiet.log,
        role: &session.role,
    };
    let shipped = queries_of(ctx, me, items, &mut tally);
    let queries = attach_plans(ctx, me, plans, shipped, &mut tally);
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

    const ME: Me<'static> = Me {
        quiet: true,
        role: "dbpower_agent",
    };

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
            describe_every_secs: 3600,
            watch_changes: false,
            watch_every_secs: 300,
            whatif: false,
            explain_analyze: false,
            role: crate::config::SourceRole::Collect,
            sandbox_database: None,
            sandbox_runs: 5,
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
        let shipped = queries_of(&ctx, ME, items, &mut tally);
        let q = attach_plans(&ctx, ME, plans, shipped, &mut tally);
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
    fn stderr_auto_explain_plans_join_their_statement_scrubbed() {
        // auto_explain with log_format = json in the stderr format: the plan's lines continue the message.
        let log = "2026-12-03 10:00:00.100 UTC [42] app@shop LOG:  duration: 9.0 ms  plan:\n\t{\n\t  \"Query Text\": \"SELECT * FROM users WHERE email = 'alice@example.com'\",\n\t  \"Plan\": {\n\t    \"Node Type\": \"Seq Scan\",\n\t    \"Relation Name\": \"users\",\n\t    \"bob@example.com\": 1,\n\t    \"Filter\": \"(email = 'alice@example.com'::text)\"\n\t  }\n\t}\n\
2026-12-03 10:00:00.101 UTC [42] app@shop LOG:  duration: 9.5 ms  statement: SELECT * FROM users WHERE email = 'alice@example.com'\n\
2026-12-03 10:00:00.200 UTC [43] app@shop LOG:  duration: 3.0 ms  plan:\n\tQuery Text: SELECT 1\n\tResult  (cost=0.00..0.01 rows=1 width=4)\n";
        let (items, plans, consumed) = read_log("postgresql.log", log.as_bytes(), true);
        assert_eq!((plans.len(), consumed), (1, log.len()));
        let src = source();
        let ex = crate::config::Exclusions::compile(&src.exclude).expect("exclusions");
        for scrub in [crate::config::Scrub::Strict, crate::config::Scrub::PiiOnly] {
            let ctx = Ctx::new(&src, &ex, scrub);
            let mut tally = Tally::default();
            let shipped = queries_of(&ctx, ME, items.clone(), &mut tally);
            let (_, plans, _) = read_log("postgresql.log", log.as_bytes(), true);
            let q = attach_plans(&ctx, ME, plans, shipped, &mut tally);
            assert_eq!(q.len(), 1, "the plan joins its statement: {q:?}");
            let plan = q[0].explain.as_ref().expect("plan");
            assert_eq!(plan[0]["Plan"]["Relation Name"], "users");
            let text = plan.to_string();
            assert!(!text.contains("alice"), "{scrub:?}: {text}");
            assert!(!text.contains("bob@"), "a key is scrubbed too: {text}");
            assert_eq!(
                tally.skipped, 1,
                "the text-format plan is counted as skipped"
            );
        }
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
        let (q, _) = queries_of(&ctx, ME, items, &mut tally);
        assert_eq!(q.len(), 1, "one execution");
        assert_eq!(
            (q[0].execution_time_ms, q[0].calls),
            (9.0, None),
            "execute plus its fetch, never the bind"
        );
        assert_eq!((tally.prepares, tally.failed, tally.skipped), (1, 1, 0));
    }

    #[test]
    fn sessions_per_database_are_bounded_and_the_least_recently_used_goes_first() {
        let mut lru = Lru::new(3);
        for (i, db) in ["a", "b", "c"].into_iter().enumerate() {
            assert!(lru.insert(db.to_string(), i).is_none());
        }
        assert_eq!(lru.get("a"), Some(&mut 0), "a is now the most recent");
        assert_eq!(lru.insert("d".into(), 3), Some(("b".to_string(), 1)));
        assert_eq!(lru.len(), 3);
        assert!(lru.get("b").is_none());
        assert_eq!(
            lru.insert("c".into(), 9),
            Some(("c".to_string(), 2)),
            "replaced"
        );
        assert_eq!(lru.insert("e".into(), 4), Some(("a".to_string(), 0)));
        assert_eq!(lru.remove("d"), Some(3));
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get("c"), Some(&mut 9));
        assert_eq!(lru.get("e"), Some(&mut 4));
        let mut one = Lru::new(0);
        assert!(one.insert("x".into(), 1).is_none());
        assert_eq!(
            one.insert("y".into(), 2),
            Some(("x".to_string(), 1)),
            "never more than one"
        );
        let mut many = Lru::new(MAX_DATABASES);
        for i in 0..1000 {
            many.insert(format!("db{i}"), i);
        }
        assert_eq!(many.len(), MAX_DATABASES);
        assert_eq!(many.get("db999"), Some(&mut 999));
    }

    #[test]
    fn only_the_agents_own_unquiet_sessions_are_its_statements() {
        let ours = "/* dbpower-agent */ EXPLAIN (FORMAT JSON) SELECT 1";
        // Quiet sessions: nothing collected is the agent's, whatever the text says.
        assert!(!is_own(true, "dbpower_agent", Some("dbpower_agent"), ours));
        // Otherwise: the agent's role and the marker, both.
        assert!(is_own(false, "dbpower_agent", Some("dbpower_agent"), ours));
        assert!(
            !is_own(false, "dbpower_agent", Some("app"), ours),
            "a customer's text"
        );
        assert!(!is_own(false, "dbpower_agent", None, ours), "no user: kept");
        assert!(!is_own(
            false,
            "dbpower_agent",
            Some("dbpower_agent"),
            "SELECT 1"
        ));
        assert!(!is_own(false, "app", Some("app"), "SELECT 'dbpower-agent'"));
    }

    #[test]
    fn log_records_of_the_agents_role_are_dropped_only_when_its_sessions_are_logged() {
        let line = |user: &str, sql: &str| {
            serde_json::json!({"timestamp": "2026-12-03 10:00:00.100 UTC", "pid": 7, "user": user, "dbname": "shop", "error_severity": "LOG", "message": format!("duration: 1.0 ms  statement: {sql}")}).to_string() + "\n"
        };
        let log = line(
            "dbpower_agent",
            "/* dbpower-agent */ SELECT pg_current_logfile()",
        ) + &line("app", "SELECT 1 /* dbpower-agent */")
            + &line("app", "SELECT 2");
        let src = source();
        let ex = crate::config::Exclusions::compile(&src.exclude).expect("exclusions");
        let ctx = Ctx::new(&src, &ex, crate::config::Scrub::Strict);
        for (quiet, shipped, own) in [(false, 2, 1), (true, 3, 0)] {
            let (items, _, _) = read_log("postgresql.json", log.as_bytes(), true);
            let mut tally = Tally::default();
            let me = Me {
                quiet,
                role: "dbpower_agent",
            };
            let (q, _) = queries_of(&ctx, me, items, &mut tally);
            assert_eq!((q.len(), tally.own), (shipped, own), "quiet: {quiet}");
        }
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
