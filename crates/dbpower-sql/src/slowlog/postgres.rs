//! PostgreSQL server logs: one execution per `statement:` or `execute` duration line, `parse` and `bind`
//! durations as preparation time (never executions), `execute fetch from` as more time for an execution
//! already counted, failed statements (`ERROR:` then `STATEMENT:`) as errors without a duration, and a
//! statement logged by `log_statement` paired with the bare `duration:` line that follows it.
//! [`PostgresLog`] reads the stderr format; the agent feeds csvlog and jsonlog records to the same
//! [`PgEvents`].

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;

use super::{Event, EventKind, Item, Measures, Origin, Skipped};

/// At most this many server processes may have a message waiting for the next one (an error for its
/// statement, a statement for its duration), holding at most `MAX_WAITING_BYTES` of text; beyond, the
/// oldest is reported as skipped.
const MAX_WAITING: usize = 4096;
const MAX_WAITING_BYTES: usize = 16 << 20;
/// A message longer than this (with its continuation lines) is skipped.
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// One message of a PostgreSQL server log, from any of its formats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PgRecord {
    /// 1-based line number where the message starts.
    pub line: u64,
    pub pid: Option<u32>,
    /// `LOG`, `ERROR`, `STATEMENT`, `DETAIL`, ...
    pub severity: String,
    pub message: String,
    /// csvlog's `query` and jsonlog's `statement` field: the statement of an error record.
    pub statement: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS`.
    pub time: Option<String>,
    pub origin: Origin,
}

enum Waiting {
    /// An error whose `STATEMENT:` line may follow.
    Error(Event),
    /// A statement logged by `log_statement` whose bare `duration:` line may follow.
    Statement(Event),
}

struct Slot {
    waiting: Waiting,
    seq: u64,
    bytes: usize,
}

/// Turns log messages into events, per server process (see the module docs). Memory is bounded by what
/// waits per process (at most 4096 processes and 16 MiB of text).
#[derive(Default)]
pub struct PgEvents {
    waiting: HashMap<Option<u32>, Slot>,
    bytes: usize,
    seq: u64,
    out: VecDeque<Item>,
}

impl PgEvents {
    pub fn new() -> PgEvents {
        PgEvents::default()
    }

    /// The next event or skipped message, in log order as far as each server process goes.
    pub fn pop(&mut self) -> Option<Item> {
        self.out.pop_front()
    }

    /// Reads one message.
    pub fn push(&mut self, r: PgRecord) {
        match r.severity.as_str() {
            "STATEMENT" => {
                if let Some(mut ev) = self.take(r.pid, true) {
                    ev.sql = r.message;
                    self.out.push_back(Ok(ev));
                }
            }
            "DETAIL" | "HINT" | "CONTEXT" | "QUERY" | "LOCATION" => {}
            "ERROR" | "FATAL" | "PANIC" => {
                self.drop_error(r.pid);
                let mut ev = event(&r, EventKind::Error, "", 0.0);
                ev.error = Some(r.message.clone());
                match r.statement.filter(|s| !s.trim().is_empty()) {
                    Some(sql) => {
                        ev.sql = sql;
                        self.out.push_back(Ok(ev));
                    }
                    None => self.wait(r.pid, Waiting::Error(ev)),
                }
            }
            "LOG" => {
                self.drop_error(r.pid);
                self.log(&r);
            }
            _ => self.drop_error(r.pid),
        }
    }

    /// The end of the log: what still waits is reported as skipped.
    pub fn finish(&mut self) {
        let mut rest: Vec<Slot> = self.waiting.drain().map(|(_, s)| s).collect();
        rest.sort_by_key(|s| s.seq);
        self.bytes = 0;
        for s in rest {
            self.out.push_back(Err(unmatched(&s.waiting)));
        }
    }

    /// Reports a message the caller could not read (it counts as skipped).
    pub fn skip(&mut self, line: u64, reason: &'static str) {
        self.out.push_back(Err(Skipped { line, reason }));
    }

    fn log(&mut self, r: &PgRecord) {
        let Some(rest) = r.message.strip_prefix("duration: ") else {
            // `log_statement`: the text now, the duration (if any) on a line of its own.
            if let Some((kind @ (EventKind::Execution | EventKind::Fetch), sql)) =
                statement_text(&r.message)
            {
                if let Some(old) = self.take(r.pid, false) {
                    self.out.push_back(Err(unmatched(&Waiting::Statement(old))));
                }
                self.wait(r.pid, Waiting::Statement(event(r, kind, sql, 0.0)));
            }
            return;
        };
        let Some(ms) = rest
            .split_once(" ms")
            .and_then(|(ms, _)| ms.trim().parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
        else {
            return self.skip(r.line, "malformed duration");
        };
        let text = rest.split_once(" ms").map_or("", |x| x.1).trim_start();
        if text.is_empty() {
            match self.take(r.pid, false) {
                Some(mut ev) => {
                    ev.measures.query_time_s = ms / 1000.0;
                    self.out.push_back(Ok(ev));
                }
                None => self.skip(r.line, "duration without its statement"),
            }
        } else if let Some(plan) = text.strip_prefix("plan:") {
            // The agent reads auto_explain's JSON plans before they reach here; a digest counts them.
            let reason = if plan.trim_start().starts_with('{') {
                "auto_explain JSON plan (the agent reads it; a digest counts statement lines)"
            } else {
                "auto_explain plan in text format (auto_explain.log_format = json is read)"
            };
            self.skip(r.line, reason);
        } else if let Some((kind, sql)) = statement_text(text) {
            self.out.push_back(Ok(event(r, kind, sql, ms)));
        } else {
            self.skip(r.line, "duration without a statement");
        }
    }

    /// Removes what waits for `pid` if it is an error (`error`) or a statement (`!error`).
    fn take(&mut self, pid: Option<u32>, error: bool) -> Option<Event> {
        let matches = self.waiting.get(&pid).is_some_and(|s| match s.waiting {
            Waiting::Error(_) => error,
            Waiting::Statement(_) => !error,
        });
        if !matches {
            return None;
        }
        let slot = self.waiting.remove(&pid)?;
        self.bytes -= slot.bytes;
        match slot.waiting {
            Waiting::Error(ev) | Waiting::Statement(ev) => Some(ev),
        }
    }

    /// Another message of `pid` came: an error waiting for its statement has none.
    fn drop_error(&mut self, pid: Option<u32>) {
        if let Some(ev) = self.take(pid, true) {
            self.out.push_back(Err(unmatched(&Waiting::Error(ev))));
        }
    }

    fn wait(&mut self, pid: Option<u32>, waiting: Waiting) {
        let bytes = match &waiting {
            Waiting::Error(ev) => ev.error.as_ref().map_or(0, String::len),
            Waiting::Statement(ev) => ev.sql.len(),
        };
        while !self.waiting.is_empty()
            && (self.waiting.len() >= MAX_WAITING || self.bytes + bytes > MAX_WAITING_BYTES)
        {
            let oldest = self
                .waiting
                .iter()
                .min_by_key(|(_, s)| s.seq)
                .map(|(k, _)| *k);
            if let Some(slot) = oldest.and_then(|k| self.waiting.remove(&k)) {
                self.bytes -= slot.bytes;
                self.out.push_back(Err(unmatched(&slot.waiting)));
            }
        }
        self.seq += 1;
        self.bytes += bytes;
        let slot = Slot {
            waiting,
            seq: self.seq,
            bytes,
        };
        if let Some(old) = self.waiting.insert(pid, slot) {
            self.bytes -= old.bytes;
            self.out.push_back(Err(unmatched(&old.waiting)));
        }
    }
}

fn unmatched(w: &Waiting) -> Skipped {
    match w {
        Waiting::Error(ev) => Skipped {
            line: ev.line,
            reason: "error without its statement",
        },
        Waiting::Statement(ev) => Skipped {
            line: ev.line,
            reason: "statement logged without a duration",
        },
    }
}

fn event(r: &PgRecord, kind: EventKind, sql: &str, ms: f64) -> Event {
    Event {
        sql: sql.to_string(),
        measures: Measures {
            query_time_s: ms / 1000.0,
            ..Measures::default()
        },
        origin: r.origin.clone(),
        time: r.time.clone(),
        line: r.line,
        kind,
        pid: r.pid,
        ..Event::default()
    }
}

/// What a message after `duration: N ms` (or a `log_statement` message) names: `statement: SQL`,
/// `execute <name>: SQL`, `execute fetch from <portal>: SQL`, `parse <name>: SQL`, `bind <name>: SQL`.
fn statement_text(m: &str) -> Option<(EventKind, &str)> {
    if let Some(sql) = m.strip_prefix("statement: ") {
        return Some((EventKind::Execution, sql));
    }
    let (kind, named) = if let Some(r) = m.strip_prefix("execute fetch from ") {
        (EventKind::Fetch, r)
    } else if let Some(r) = m.strip_prefix("execute ") {
        (EventKind::Execution, r)
    } else if let Some(r) = m.strip_prefix("parse ").or_else(|| m.strip_prefix("bind ")) {
        (EventKind::Prepare, r)
    } else {
        return None;
    };
    named.split_once(": ").map(|(_, sql)| (kind, sql))
}

/// The messages of a PostgreSQL server log in the stderr format (any `log_line_prefix`; `%p` gives the
/// server process, and `%u@%d` or `user=%u,db=%d` the user and database); continuation lines start with a
/// tab and join their message with a newline. A message longer than 16 MiB is an error of its own.
pub struct PgStderrRecords<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: u64,
    cur: Option<PgRecord>,
    /// The current message grew past `MAX_MESSAGE_BYTES`.
    too_long: bool,
    done: bool,
}

impl<R: BufRead> PgStderrRecords<R> {
    pub fn new(reader: R) -> Self {
        PgStderrRecords {
            reader,
            buf: Vec::new(),
            line_no: 0,
            cur: None,
            too_long: false,
            done: false,
        }
    }

    fn flush(&mut self, next: Option<PgRecord>) -> Option<Result<PgRecord, Skipped>> {
        let r = std::mem::replace(&mut self.cur, next)?;
        Some(if std::mem::replace(&mut self.too_long, false) {
            Err(Skipped {
                line: r.line,
                reason: "message longer than 16 MiB",
            })
        } else {
            Ok(r)
        })
    }
}

impl<R: BufRead> Iterator for PgStderrRecords<R> {
    type Item = Result<PgRecord, Skipped>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let Some(line) = read_line_lossy(&mut self.reader, &mut self.buf) else {
                self.done = true;
                return self.flush(None);
            };
            self.line_no += 1;
            if let Some(cont) = line.strip_prefix('\t') {
                if let Some(r) = self.cur.as_mut() {
                    if r.message.len() + cont.len() >= MAX_MESSAGE_BYTES {
                        self.too_long = true;
                    } else {
                        r.message.push('\n');
                        r.message.push_str(cont);
                    }
                }
                continue;
            }
            let next = header(&line, self.line_no);
            if let Some(done) = self.flush(next) {
                return Some(done);
            }
        }
        None
    }
}

/// PostgreSQL server log in the stderr format, as events (see [`PgStderrRecords`] and [`PgEvents`]).
pub struct PostgresLog<R> {
    records: PgStderrRecords<R>,
    events: PgEvents,
    done: bool,
}

impl<R: BufRead> PostgresLog<R> {
    pub fn new(reader: R) -> Self {
        PostgresLog {
            records: PgStderrRecords::new(reader),
            events: PgEvents::new(),
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for PostgresLog<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.events.pop() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.records.next() {
                Some(Ok(r)) => self.events.push(r),
                Some(Err(s)) => self.events.skip(s.line, s.reason),
                None => {
                    self.events.finish();
                    self.done = true;
                }
            }
        }
    }
}

/// Reads one line as text, replacing invalid UTF-8 (logs can hold binary literals); `None` at EOF.
fn read_line_lossy<R: BufRead>(reader: &mut R, raw: &mut Vec<u8>) -> Option<String> {
    raw.clear();
    match reader.read_until(b'\n', raw) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            while matches!(raw.last(), Some(b'\n' | b'\r')) {
                raw.pop();
            }
            Some(String::from_utf8_lossy(raw).into_owned())
        }
    }
}

/// Where the severity is: the first `WORD:  ` (upper-case word, two spaces, as the server writes it)
/// preceded by a space or the start of the line. Returns its start and where the message starts.
fn severity_at(line: &str) -> Option<(usize, usize)> {
    let b = line.as_bytes();
    let mut from = 0;
    while let Some(p) = line[from..].find(":  ").map(|p| from + p) {
        let start = b[..p]
            .iter()
            .rposition(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
            .map_or(0, |k| k + 1);
        if start < p && (start == 0 || b[start - 1] == b' ') {
            return Some((start, p + 3));
        }
        from = p + 1;
    }
    None
}

/// A message's first line: its prefix (time, process, user, database) and severity.
fn header(line: &str, line_no: u64) -> Option<PgRecord> {
    let (sev, msg) = severity_at(line)?;
    let prefix = &line[..sev];
    let pid = prefix.split('[').skip(1).find_map(|p| {
        let (digits, _) = p.split_once(']')?;
        digits.parse::<u32>().ok()
    });
    let pair = |key: &str| {
        prefix
            .split(key)
            .nth(1)
            .and_then(|x| x.split([',', ' ']).next())
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    // Debian's default prefix: `%m [%p] %q%u@%d `; the rightmost `user@database` word, so that words
    // after it (`%a`, `%i`, `%e`, ...) do not hide it.
    let at = prefix
        .split_whitespace()
        .rev()
        .filter(|t| !t.contains('[') && !t.contains('='))
        .filter_map(|t| t.split_once('@'))
        .find(|(u, d)| !u.is_empty() && !d.is_empty());
    Some(PgRecord {
        line: line_no,
        pid,
        severity: line[sev..msg - 3].to_string(),
        message: line[msg..].to_string(),
        statement: None,
        time: line
            .get(..19)
            .filter(|t| t.as_bytes().get(4) == Some(&b'-'))
            .map(String::from),
        origin: Origin {
            user: pair("user=").or_else(|| at.map(|(u, _)| u.to_string())),
            db: pair("db=").or_else(|| at.map(|(_, d)| d.to_string())),
            host: pair("host=").or_else(|| pair("client=")),
        },
    })
}

/// What the agent reads from server log lines written with a `log_line_prefix` (stderr format).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefixReads {
    /// The time of each message (`%m` or `%t`).
    pub time: bool,
    /// The server process (`%p` in brackets), which pairs a statement with its duration and plan.
    pub process: bool,
    /// The user (`%u` as `user@database` or `user=%u`).
    pub user: bool,
    /// The database (`%d` as `user@database` or `db=%d`), where the statement's EXPLAIN runs.
    pub database: bool,
}

impl PrefixReads {
    /// Whether every part is read.
    pub fn all(&self) -> bool {
        self.time && self.process && self.user && self.database
    }
}

/// What the agent reads from lines written with `prefix`: a line is rendered from the prefix with
/// sample values (as the server would write it for a client session) and read back.
pub fn prefix_reads(prefix: &str) -> PrefixReads {
    const USER: &str = "app_user";
    const DATABASE: &str = "shop_db";
    const PID: u32 = 41234;
    let mut line = String::new();
    let mut chars = prefix.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            line.push(c);
            continue;
        }
        // A padding width (`%-10u`, `%8p`) may sit between `%` and the escape.
        while chars.next_if(|d| d.is_ascii_digit() || *d == '-').is_some() {}
        let value = match chars.next() {
            Some('u') => USER.to_string(),
            Some('d') => DATABASE.to_string(),
            Some('p') => PID.to_string(),
            Some('a') => "psql".into(),
            Some('r') => "10.1.2.3(51234)".into(),
            Some('h') => "10.1.2.3".into(),
            Some('b') => "client backend".into(),
            Some('t') => "2024-05-01 10:00:00 UTC".into(),
            Some('m') => "2024-05-01 10:00:00.123 UTC".into(),
            Some('n') => "1714557600.123".into(),
            Some('s') => "2024-05-01 09:59:58 UTC".into(),
            Some('i') => "SELECT".into(),
            Some('e') => "00000".into(),
            Some('c') => "6632f0a0.a112".into(),
            Some('l') => "7".into(),
            Some('v') => "3/17".into(),
            Some('x') => "0".into(),
            Some('Q') => "-1234567890123".into(),
            Some('%') => "%".into(),
            Some('q' | 'P') | None => String::new(),
            Some(other) => format!("%{other}"),
        };
        line.push_str(&value);
    }
    line.push_str("LOG:  duration: 1.000 ms  statement: SELECT 1");
    let Some(r) = header(&line, 1) else {
        return PrefixReads::default();
    };
    PrefixReads {
        time: r.time.is_some(),
        process: r.pid == Some(PID),
        user: r.origin.user.as_deref() == Some(USER),
        database: r.origin.db.as_deref() == Some(DATABASE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(log: &str) -> Vec<Item> {
        PostgresLog::new(log.as_bytes()).collect()
    }

    fn events(log: &str) -> Vec<Event> {
        read(log).into_iter().filter_map(Result::ok).collect()
    }

    #[test]
    fn what_each_prefix_lets_the_agent_read() {
        for good in [
            "%m [%p] %q%u@%d ",
            "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
            "%m [%p] %u@%d %a ",
            "%m [%-8p] %q%u@%d ",
        ] {
            assert!(prefix_reads(good).all(), "{good}: {:?}", prefix_reads(good));
        }
        // PostgreSQL's built-in default and common variants that lose who ran the statement and where.
        let bare = prefix_reads("%m [%p] ");
        assert!(
            bare.time && bare.process && !bare.user && !bare.database,
            "{bare:?}"
        );
        let no_pid = prefix_reads("%m %u@%d ");
        assert!(
            !no_pid.process && no_pid.user && no_pid.database,
            "{no_pid:?}"
        );
        assert_eq!(prefix_reads(""), PrefixReads::default());
        let db_only = prefix_reads("%m [%p] db=%d ");
        assert!(db_only.database && !db_only.user, "{db_only:?}");
    }

    #[test]
    fn duration_lines_with_either_prefix() {
        let log = "2024-05-01 10:00:00.123 UTC [42] user=app,db=shop LOG:  duration: 1500.250 ms  statement: SELECT *\n\tFROM t WHERE id = 1\n\
2024-05-01 10:00:01.000 UTC [42] LOG:  connection received: host=[local]\n\
2024-05-01 10:00:02.000 UTC [43] app@web LOG:  duration: 2.000 ms  execute <unnamed>: UPDATE t SET a = $1\n";
        let ev = events(log);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            (
                ev[0].sql.as_str(),
                ev[0].measures.query_time_s,
                ev[0].origin.db.as_deref(),
                ev[0].origin.user.as_deref(),
                ev[0].pid
            ),
            (
                "SELECT *\nFROM t WHERE id = 1",
                1.50025,
                Some("shop"),
                Some("app"),
                Some(42)
            )
        );
        assert_eq!(
            (
                ev[1].sql.as_str(),
                ev[1].kind,
                ev[1].origin.db.as_deref(),
                ev[1].origin.user.as_deref(),
                ev[1].time.as_deref()
            ),
            (
                "UPDATE t SET a = $1",
                EventKind::Execution,
                Some("web"),
                Some("app"),
                Some("2024-05-01 10:00:02")
            )
        );
    }

    /// Captured from PostgreSQL 15 running `pgbench -M prepared` with `log_min_duration_statement = 0`.
    const EXTENDED: &str = "\
2026-12-06 23:13:14.009 UTC [12484] postgres@bench LOG:  duration: 0.647 ms  parse P_1: UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;
2026-12-06 23:13:14.010 UTC [12484] postgres@bench LOG:  duration: 0.672 ms  bind P_1: UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;
2026-12-06 23:13:14.010 UTC [12484] postgres@bench DETAIL:  parameters: $1 = '-3177', $2 = '53674'
2026-12-06 23:13:14.010 UTC [12484] postgres@bench LOG:  duration: 0.301 ms  execute P_1: UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;
2026-12-06 23:13:14.010 UTC [12484] postgres@bench DETAIL:  parameters: $1 = '-3177', $2 = '53674'
2026-12-06 23:13:14.014 UTC [12484] postgres@bench LOG:  duration: 0.054 ms  bind P_1: UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;
2026-12-06 23:13:14.014 UTC [12484] postgres@bench DETAIL:  parameters: $1 = '-1949', $2 = '21273'
2026-12-06 23:13:14.014 UTC [12484] postgres@bench LOG:  duration: 0.084 ms  execute P_1: UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;
2026-12-06 23:13:14.014 UTC [12484] postgres@bench DETAIL:  parameters: $1 = '-1949', $2 = '21273'
2026-12-06 23:13:14.106 UTC [12489] postgres@bench LOG:  duration: 0.090 ms  parse <unnamed>: BEGIN;
2026-12-06 23:13:14.106 UTC [12489] postgres@bench LOG:  duration: 0.006 ms  bind <unnamed>: BEGIN;
2026-12-06 23:13:14.106 UTC [12489] postgres@bench LOG:  duration: 0.048 ms  execute <unnamed>: BEGIN;
2026-12-06 23:13:14.120 UTC [12489] postgres@bench LOG:  duration: 1.500 ms  execute fetch from <unnamed>/C_1: SELECT * FROM pgbench_accounts;
";

    #[test]
    fn parse_and_bind_are_preparation_and_each_execute_one_execution() {
        let ev = events(EXTENDED);
        let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(
            kinds,
            [
                Prepare, Prepare, Execution, Prepare, Execution, Prepare, Prepare, Execution, Fetch
            ]
        );
        let time = |k: EventKind| -> f64 {
            ev.iter()
                .filter(|e| e.kind == k && e.sql.starts_with("UPDATE"))
                .map(|e| e.measures.query_time_s * 1000.0)
                .sum()
        };
        assert!(
            (time(Execution) - 0.385).abs() < 1e-9,
            "{}",
            time(Execution)
        );
        assert!((time(Prepare) - 1.373).abs() < 1e-9, "{}", time(Prepare));
        assert!(
            ev.iter()
                .all(|e| e.pid.is_some() && e.origin.db.as_deref() == Some("bench"))
        );
        assert_eq!(ev[8].sql, "SELECT * FROM pgbench_accounts;");
    }

    #[test]
    fn failed_statements_are_errors_without_a_duration() {
        let log = "\
2026-12-06 23:08:51.705 UTC [8951] app@shop ERROR:  duplicate key value violates unique constraint \"organizations_name_key\"
2026-12-06 23:08:51.705 UTC [8951] app@shop DETAIL:  Key (name)=(Acme) already exists.
2026-12-06 23:08:51.706 UTC [8952] app@shop LOG:  duration: 3.000 ms  statement: SELECT 1
2026-12-06 23:08:51.705 UTC [8951] app@shop STATEMENT:  INSERT INTO organizations (name)
\tVALUES ($1)
2026-12-06 23:08:52.000 UTC [4911] ERROR:  canceling autovacuum task
2026-12-06 23:08:52.100 UTC [4911] LOG:  checkpoint starting: time
2026-12-06 23:13:14.190 UTC [12492] app@shop ERROR:  canceling statement due to statement timeout
2026-12-06 23:13:14.190 UTC [12492] app@shop STATEMENT:  select pg_sleep(10)
";
        let items = read(log);
        let errors: Vec<&Event> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .filter(|e| e.kind == EventKind::Error)
            .collect();
        assert_eq!(errors.len(), 2, "{items:?}");
        assert_eq!(
            errors[0].sql,
            "INSERT INTO organizations (name)\nVALUES ($1)"
        );
        assert_eq!(errors[0].measures.query_time_s, 0.0);
        assert!(
            errors[0]
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("duplicate key"))
        );
        assert_eq!(errors[0].line, 1);
        assert_eq!(
            errors[1].error.as_deref(),
            Some("canceling statement due to statement timeout")
        );
        let skipped: Vec<&Skipped> = items.iter().filter_map(|i| i.as_ref().err()).collect();
        assert_eq!(
            skipped,
            [&Skipped {
                line: 6,
                reason: "error without its statement"
            }]
        );
        assert_eq!(
            items
                .iter()
                .filter(|i| matches!(i, Ok(e) if e.kind == EventKind::Execution))
                .count(),
            1
        );
    }

    #[test]
    fn log_statement_lines_pair_with_their_bare_duration() {
        let log = "\
2024-05-01 10:00:00.000 UTC [7] LOG:  statement: SELECT 1
2024-05-01 10:00:00.000 UTC [8] LOG:  execute S_1: SELECT 2
2024-05-01 10:00:00.001 UTC [7] LOG:  duration: 5.000 ms
2024-05-01 10:00:00.002 UTC [8] LOG:  duration: 7.000 ms
2024-05-01 10:00:00.003 UTC [7] LOG:  statement: SELECT 3
2024-05-01 10:00:00.004 UTC [7] LOG:  statement: SELECT 4
2024-05-01 10:00:00.005 UTC [9] LOG:  duration: 1.000 ms
2024-05-01 10:00:00.006 UTC [9] LOG:  duration: x ms  statement: SELECT 5
";
        let items = read(log);
        let ok: Vec<(String, f64)> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .map(|e| (e.sql.clone(), e.measures.query_time_s))
            .collect();
        assert_eq!(
            ok,
            [
                ("SELECT 1".to_string(), 0.005),
                ("SELECT 2".to_string(), 0.007)
            ]
        );
        let reasons: Vec<&str> = items
            .iter()
            .filter_map(|i| i.as_ref().err())
            .map(|s| s.reason)
            .collect();
        assert_eq!(
            reasons,
            [
                "statement logged without a duration",
                "duration without its statement",
                "malformed duration",
                "statement logged without a duration"
            ]
        );
    }

    #[test]
    fn hostile_lines_never_panic_and_waiting_is_bounded() {
        let mut log = String::new();
        for pid in 0..5000 {
            log.push_str(&format!("x [{pid}] LOG:  statement: SELECT {pid}\n"));
        }
        log.push_str("\t\u{0}orphan continuation\n:  :  X:  é:  \nLOG:  duration: 1e400 ms  statement: x\n[99999999999] ERROR:  e\nSTATEMENT:  s\n");
        let items = read(&log);
        let skipped = items.iter().filter(|i| i.is_err()).count();
        assert!(skipped >= 5000, "{skipped}");
        let mut ev = PgEvents::new();
        for i in 0..10_000u32 {
            ev.push(PgRecord {
                pid: Some(i),
                severity: "ERROR".into(),
                message: "x".repeat(4096),
                ..PgRecord::default()
            });
            assert!(ev.waiting.len() <= MAX_WAITING && ev.bytes <= MAX_WAITING_BYTES);
            while ev.pop().is_some() {}
        }
    }

    #[test]
    fn csv_and_json_errors_carry_their_statement() {
        let mut ev = PgEvents::new();
        ev.push(PgRecord {
            line: 3,
            pid: Some(5),
            severity: "ERROR".into(),
            message: "division by zero".into(),
            statement: Some("select 1/0".into()),
            ..PgRecord::default()
        });
        let e = ev.pop().and_then(Result::ok).expect("error event");
        assert_eq!(
            (e.kind, e.sql.as_str(), e.error.as_deref(), e.line),
            (EventKind::Error, "select 1/0", Some("division by zero"), 3)
        );
    }
}
