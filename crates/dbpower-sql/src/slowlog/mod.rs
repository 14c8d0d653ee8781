//! Streaming parsers for slow-query logs: MySQL/MariaDB/Percona slow logs (a decade of header formats)
//! and PostgreSQL server logs ([`postgres`]). Memory is bounded by one event (PostgreSQL: plus what waits
//! per backend for its next line, itself bounded); every event is either returned or reported as skipped
//! with a reason.

use std::io::BufRead;

mod explain;
mod postgres;

pub use postgres::{PgEvents, PgRecord, PgStderrRecords, PostgresLog, PrefixReads, prefix_reads};

/// What an event counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventKind {
    /// One execution of the statement, with its time.
    #[default]
    Execution,
    /// More rows fetched from a portal whose execution was already counted (PostgreSQL's `execute fetch
    /// from`): execution time, but not another execution.
    Fetch,
    /// Parsing or binding an extended-protocol statement (PostgreSQL's `parse` and `bind` lines):
    /// preparation and planning time, never an execution.
    Prepare,
    /// A statement that failed (PostgreSQL's `ERROR:` followed by `STATEMENT:`): it has no duration.
    Error,
}

/// What one execution measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measures {
    pub query_time_s: f64,
    pub lock_time_s: f64,
    pub rows_sent: u64,
    pub rows_examined: u64,
}

impl Measures {
    /// Adds another execution's measures (row counts saturate instead of overflowing).
    pub fn add(&mut self, other: &Measures) {
        self.query_time_s += other.query_time_s;
        self.lock_time_s += other.lock_time_s;
        self.rows_sent = self.rows_sent.saturating_add(other.rows_sent);
        self.rows_examined = self.rows_examined.saturating_add(other.rows_examined);
    }
}

/// Who ran a statement, and where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// `db` from `use db;`, `Schema:` or the PostgreSQL log prefix.
    pub db: Option<String>,
    pub user: Option<String>,
    /// The client's host or address.
    pub host: Option<String>,
}

/// One logged statement with its measurements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    /// Statement text as logged (not yet scrubbed).
    pub sql: String,
    pub measures: Measures,
    pub origin: Origin,
    /// When it ran: `SET timestamp=` (unix seconds) or the `# Time:` header, as `YYYY-MM-DD HH:MM:SS`.
    pub time: Option<String>,
    /// 1-based line number where the event starts.
    pub line: u64,
    pub kind: EventKind,
    /// The server process (PostgreSQL's `[1234]` log prefix, `pid` in csvlog and jsonlog).
    pub pid: Option<u32>,
    /// The error message of a failed statement ([`EventKind::Error`]), as logged (not yet scrubbed).
    pub error: Option<String>,
    /// MariaDB's `# explain:` lines (`log_slow_verbosity = explain`) in `EXPLAIN FORMAT=JSON`'s shape
    /// (see [`explain`]); not yet scrubbed.
    pub plan: Option<serde_json::Value>,
}

/// An event the parser could not use, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub line: u64,
    pub reason: &'static str,
}

pub type Item = Result<Event, Skipped>;

/// `071015 21:43:52` (MySQL 5.0-5.6, MariaDB) or `2016-07-20T18:13:25.698433Z` (MySQL 5.7+).
pub fn parse_time_header(v: &str) -> Option<String> {
    let v = v.trim();
    if v.len() >= 19 && v.as_bytes().get(4) == Some(&b'-') {
        let date = v.get(..10)?;
        let time = v.get(11..19)?;
        return Some(format!("{date} {time}"));
    }
    let mut parts = v.split_whitespace();
    let d = parts.next()?;
    let t = parts.next()?;
    if d.len() != 6 || !d.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, rest) = t.split_once(':')?;
    Some(format!(
        "20{}-{}-{} {:0>2}:{}",
        &d[..2],
        &d[2..4],
        &d[4..6],
        h,
        rest
    ))
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), without a date library (and without `format!`: this
/// runs once per event).
pub fn format_unix(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let mut out = String::with_capacity(19);
    let two = |v: i64, out: &mut String| {
        out.push(char::from(b'0' + (v / 10 % 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
    };
    two(y.clamp(0, 9999) / 100, &mut out);
    two(y.clamp(0, 9999) % 100, &mut out);
    out.push('-');
    two(m, &mut out);
    out.push('-');
    two(d, &mut out);
    out.push(' ');
    two(secs / 3600, &mut out);
    out.push(':');
    two(secs % 3600 / 60, &mut out);
    out.push(':');
    two(secs % 60, &mut out);
    out
}

/// Reads `key: value` pairs from a `# Query_time: 1.2  Lock_time: 0.1 ...` header line.
fn pairs(line: &str) -> impl Iterator<Item = (&str, &str)> {
    let body = line.trim_start_matches('#').trim();
    let mut out = Vec::new();
    let mut words = body.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if let Some(key) = w.strip_suffix(':') {
            if let Some(v) = words.peek()
                && !v.ends_with(':')
            {
                out.push((key, *v));
                words.next();
            }
        } else if let Some((k, v)) = w.split_once(':')
            && !v.is_empty()
        {
            out.push((k, v));
        }
    }
    out.into_iter()
}

/// The MySQL/MariaDB/Percona slow-log parser.
/// Reads one line into `raw` without its line end; false at EOF.
fn read_line_raw<R: BufRead>(reader: &mut R, raw: &mut Vec<u8>) -> bool {
    raw.clear();
    match reader.read_until(b'\n', raw) {
        Ok(0) | Err(_) => false,
        Ok(_) => {
            while matches!(raw.last(), Some(b'\n' | b'\r')) {
                raw.pop();
            }
            true
        }
    }
}

pub struct MysqlSlowLog<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: u64,
    cur: Event,
    /// The current event has header lines (its statement may still be empty).
    started: bool,
    has_query_time: bool,
    /// A `use db;` line was read for the current event.
    use_seen: bool,
    /// The current event has at least one `#` header line.
    has_header: bool,
    /// Its `# Query_time` could not be read.
    bad_query_time: bool,
    pending_time: Option<String>,
    /// The current event's `# explain:` lines (at most `explain::MAX_ROWS`).
    explain: Vec<String>,
    done: bool,
}

impl<R: BufRead> MysqlSlowLog<R> {
    pub fn new(reader: R) -> Self {
        MysqlSlowLog {
            reader,
            buf: Vec::new(),
            line_no: 0,
            cur: Event::default(),
            started: false,
            has_query_time: false,
            use_seen: false,
            has_header: false,
            bad_query_time: false,
            pending_time: None,
            explain: Vec::new(),
            done: false,
        }
    }

    /// Ends the current event: an item if it had a statement, nothing if it was empty.
    fn finish(&mut self) -> Option<Item> {
        let mut ev = std::mem::take(&mut self.cur);
        let had_qt = std::mem::replace(&mut self.has_query_time, false);
        let started = std::mem::replace(&mut self.started, false);
        let bad_query_time = std::mem::replace(&mut self.bad_query_time, false);
        let has_header = std::mem::replace(&mut self.has_header, false);
        let explain = std::mem::take(&mut self.explain);
        self.use_seen = false;
        ev.plan = explain::plan(&explain);
        let sql = ev.sql.trim();
        if sql.is_empty() {
            return started.then_some(Err(Skipped {
                line: ev.line,
                reason: "header without a statement",
            }));
        }
        // The terminator is not part of the statement (pt-query-digest drops it too).
        ev.sql = sql.trim_end_matches(';').trim_end().to_string();
        if bad_query_time {
            return Some(Err(Skipped {
                line: ev.line,
                reason: "malformed # Query_time value",
            }));
        }
        // Like pt-query-digest, a statement with headers but no `# Query_time` still counts (with 0 s);
        // text with no header line at all is not a slow-log event.
        if !had_qt && !has_header {
            return Some(Err(Skipped {
                line: ev.line,
                reason: "statement without any # header line",
            }));
        }
        Some(Ok(ev))
    }

    fn begin(&mut self) {
        if !self.started {
            self.started = true;
            self.cur.line = self.line_no;
            if let Some(t) = self.pending_time.take() {
                self.cur.time = Some(t);
            }
        }
    }
}

impl<R: BufRead> Iterator for MysqlSlowLog<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        if self.done {
            return None;
        }
        loop {
            let mut raw = std::mem::take(&mut self.buf);
            if !read_line_raw(&mut self.reader, &mut raw) {
                self.buf = raw;
                self.done = true;
                return self.finish();
            }
            self.line_no += 1;
            let step = match std::str::from_utf8(&raw) {
                Ok(text) => self.step(text),
                Err(_) => self.step(&String::from_utf8_lossy(&raw)),
            };
            self.buf = raw;
            match step {
                Step::Continue => continue,
                Step::Return(item) => return *item,
            }
        }
    }
}

/// What one line does to the parser.
enum Step {
    Continue,
    /// Boxed: an event is large, and most lines return nothing.
    Return(Box<Option<Item>>),
}

impl<R: BufRead> MysqlSlowLog<R> {
    fn step(&mut self, line: &str) -> Step {
        if line.starts_with('#') && !self.cur.sql.trim().is_empty() {
            // handled below: a header after a statement starts the next event
        } else if line.starts_with('#') {
            self.has_header = true;
        }
        if let Some(rest) = line.strip_prefix("# Time:") {
            let out = if !self.cur.sql.trim().is_empty() {
                self.finish()
            } else {
                None
            };
            self.pending_time = parse_time_header(rest);
            if self.started && self.cur.sql.trim().is_empty() {
                self.cur.time = self.pending_time.take();
            }
            if out.is_some() {
                return Step::Return(Box::new(out));
            }
            return Step::Continue;
        }
        if line.starts_with("# User@Host:") {
            let out = if !self.cur.sql.trim().is_empty() || self.started {
                self.finish()
            } else {
                None
            };
            self.begin();
            self.has_header = true;
            // `# User@Host: user[user] @ host [ip]  Id: 1`
            let rest = line.trim_start_matches("# User@Host:").trim();
            if let Some((u, h)) = rest.split_once('@') {
                self.cur.origin.user = u
                    .split('[')
                    .next()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from);
                let host = h.split_whitespace().next().unwrap_or("");
                let ip = h
                    .split('[')
                    .nth(1)
                    .and_then(|x| x.split(']').next())
                    .unwrap_or("");
                let host = if host.starts_with('[') { ip } else { host };
                self.cur.origin.host = (!host.is_empty()).then(|| host.to_string());
            }
            return match out {
                None => Step::Continue,
                other => Step::Return(Box::new(other)),
            };
        }
        // pt-query-digest reports these header-looking lines as the event's statement.
        if let Some(cmd) = line.strip_prefix("# administrator command: ") {
            if !self.cur.sql.trim().is_empty() {
                let out = self.finish();
                self.begin();
                self.has_header = true;
                self.cur.sql = format!("administrator command: {}", cmd.trim_end_matches(';'));
                return Step::Return(Box::new(out));
            }
            self.begin();
            self.has_header = true;
            self.cur.sql = format!("administrator command: {}", cmd.trim_end_matches(';'));
            return Step::Continue;
        }
        if line.starts_with('#') {
            if !self.cur.sql.trim().is_empty() {
                // A header after a statement starts the next event (logs without # User@Host).
                let out = self.finish();
                self.begin();
                self.has_header = true;
                self.header(line);
                return Step::Return(Box::new(out));
            }
            self.begin();
            self.header(line);
            return Step::Continue;
        }
        if is_server_banner(line) {
            return Step::Continue;
        }
        if self.cur.sql.is_empty() {
            let lower = line.trim().to_ascii_lowercase();
            // The first `use db;` names the database; a second one is the statement itself (pt's reading).
            if lower.starts_with("use ") && lower.ends_with(';') && !self.use_seen {
                self.use_seen = true;
                let db = line.trim()[4..]
                    .trim_end_matches(';')
                    .trim()
                    .trim_matches('`');
                self.begin();
                self.cur.origin.db = Some(db.to_string());
                return Step::Continue;
            }
            // `SET insert_id=1,timestamp=2;` is replication metadata, not the statement.
            if lower.starts_with("set ")
                && lower[4..].trim_end_matches(';').split(',').all(|a| {
                    let k = a.split('=').next().unwrap_or("").trim();
                    matches!(k, "timestamp" | "insert_id" | "last_insert_id")
                })
                && !lower.starts_with("set timestamp=")
            {
                if let Some(t) = lower.split("timestamp=").nth(1).and_then(|v| {
                    v.trim_end_matches(';')
                        .split(',')
                        .next()?
                        .trim()
                        .parse::<i64>()
                        .ok()
                }) {
                    self.begin();
                    self.cur.time = Some(format_unix(t));
                }
                return Step::Continue;
            }
            if let Some(ts) = lower.strip_prefix("set timestamp=") {
                if let Ok(t) = ts.trim_end_matches(';').trim().parse::<i64>() {
                    self.begin();
                    self.cur.time = Some(format_unix(t));
                }
                return Step::Continue;
            }
            if line.trim().is_empty() {
                return Step::Continue;
            }
            self.begin();
        }
        self.cur.sql.push_str(line);
        self.cur.sql.push('\n');
        Step::Continue
    }
}

impl<R: BufRead> MysqlSlowLog<R> {
    fn header(&mut self, line: &str) {
        if let Some(row) = line.strip_prefix("# explain: ") {
            // A row past the limits is dropped; the rows kept still name the columns first.
            if self.explain.len() < explain::MAX_ROWS && row.len() <= explain::MAX_ROW_BYTES {
                self.explain.push(row.to_string());
            }
            return;
        }
        for (k, v) in pairs(line) {
            match k {
                "Query_time" => match v.parse() {
                    Ok(x) => {
                        self.cur.measures.query_time_s = x;
                        self.has_query_time = true;
                    }
                    Err(_) => self.bad_query_time = true,
                },
                "Lock_time" => self.cur.measures.lock_time_s = v.parse().unwrap_or(0.0),
                "Rows_sent" => self.cur.measures.rows_sent = v.parse().unwrap_or(0),
                "Rows_examined" => self.cur.measures.rows_examined = v.parse().unwrap_or(0),
                "Schema" if !v.is_empty() => self.cur.origin.db = Some(v.to_string()),
                _ => {}
            }
        }
    }
}

/// The lines mysqld writes when it opens a log file.
fn is_server_banner(line: &str) -> bool {
    line.contains(", Version: ") && line.contains("started with:")
        || line.to_ascii_lowercase().starts_with("tcp port:")
        || line.starts_with("Time ") && line.contains("Id Command") && line.contains("Argument")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql_and_mariadb_headers() {
        let log = "/usr/sbin/mysqld, Version: 5.7.1 (x). started with:\nTcp port: 3306  Unix socket: /tmp/s\nTime                 Id Command    Argument\n\
# Time: 071015 21:43:52\n# User@Host: root[root] @ localhost []\n# Query_time: 2  Lock_time: 0  Rows_sent: 1  Rows_examined: 0\n\
use test;\nselect sleep(2) from n;\n\
# Time: 2016-07-20T18:13:25.698433Z\n# User@Host: app[app] @  [10.0.0.1]  Id: 7\n# Schema: shop  Last_errno: 0\n\
# Query_time: 0.5  Lock_time: 0.1 Rows_sent: 5  Rows_examined: 500\nSET timestamp=1469038405;\nSELECT a\n  FROM t\n WHERE b = 1;\n\
# User@Host: x[x] @ h []\n# Query_time: 1.0\n";
        let items: Vec<Item> = MysqlSlowLog::new(log.as_bytes()).collect();
        assert_eq!(items.len(), 3, "{items:?}");
        let a = items[0].clone().expect("first");
        assert_eq!(
            (
                a.sql.as_str(),
                a.measures.query_time_s,
                a.origin.db.as_deref(),
                a.time.as_deref()
            ),
            (
                "select sleep(2) from n",
                2.0,
                Some("test"),
                Some("2007-10-15 21:43:52")
            )
        );
        let b = items[1].clone().expect("second");
        assert_eq!(b.sql, "SELECT a\n  FROM t\n WHERE b = 1");
        assert_eq!(
            (
                b.measures.rows_examined,
                b.measures.rows_sent,
                b.origin.db.as_deref(),
                b.origin.host.as_deref(),
                b.origin.user.as_deref()
            ),
            (500, 5, Some("shop"), Some("10.0.0.1"), Some("app"))
        );
        assert_eq!(b.time.as_deref(), Some("2016-07-20 18:13:25"));
        assert_eq!(
            items[2],
            Err(Skipped {
                line: 17,
                reason: "header without a statement"
            })
        );
    }

    #[test]
    fn mariadb_explain_lines_are_the_entry_plan() {
        // As MariaDB 10.11 writes it with log_slow_verbosity = 'query_plan,explain'.
        let log = "# Time: 261208  0:12:33\n# User@Host: root[root] @  [127.0.0.1]\n\
# Thread_id: 12  Schema: xpl  QC_hit: No\n\
# Query_time: 0.000432  Lock_time: 0.000074  Rows_sent: 1  Rows_examined: 1000\n\
# Full_scan: Yes  Full_join: No  Tmp_table: No  Tmp_table_on_disk: No\n#\n\
# explain: id\tselect_type\ttable\ttype\tpossible_keys\tkey\tkey_len\tref\trows\tr_rows\tfiltered\tr_filtered\tExtra\n\
# explain: 1\tSIMPLE\tt\tALL\tNULL\tNULL\tNULL\tNULL\t1000\t1000.00\t100.00\t0.10\tUsing where\n#\n\
use `xpl`;\nSET timestamp=1796688753;\nSELECT * FROM t WHERE b='x5';\n\
# User@Host: root[root] @  [127.0.0.1]\n# Query_time: 0.1\nSELECT 1;\n";
        let items: Vec<Event> = MysqlSlowLog::new(log.as_bytes())
            .map(|i| i.expect("event"))
            .collect();
        assert_eq!(items.len(), 2);
        let plan = items[0].plan.as_ref().expect("plan");
        assert_eq!(plan["query_block"]["table"]["access_type"], "ALL");
        assert_eq!(items[0].sql, "SELECT * FROM t WHERE b='x5'");
        assert_eq!(items[1].plan, None, "a plan belongs to its own entry");
    }

    #[test]
    fn unix_times() {
        assert_eq!(format_unix(1469038405), "2016-07-20 18:13:25");
    }
}
