//! What every collection method shares: turning a raw statement into what may leave the host (own
//! queries and excluded statements dropped, the minimum duration applied, text scrubbed with the same
//! scrubber the server uses, user/host/database redacted), and slow-log events into queries.

use chrono::{DateTime, NaiveDateTime, Utc};
use dbpower_sql::slowlog::{Event, MysqlSlowLog};
use dbpower_sql::{Dialect, ScrubLevel, fingerprint_and_id, pii, scrub};
use dbpower_types::{DatabaseType, SlowQueryIn};

use crate::config::{Exclusions, Scrub, SourceConfig, SourceKind};
use crate::tail::{Chunk, line_starts};

/// Every statement the agent runs carries this comment. MySQL/MariaDB: statements containing it are
/// never collected. PostgreSQL: see `postgres::is_own` (the agent's sessions are kept out of
/// `pg_stat_statements` and the log; the marker counts only on statements of the agent's own role).
pub(crate) const MARKER: &str = "/* dbpower-agent */";

pub(crate) struct Ctx<'a> {
    pub source: &'a SourceConfig,
    pub exclusions: &'a Exclusions,
    pub scrub: Scrub,
    /// With `explain` or `schema` on: the raw text (and database) of the first SELECT of each scrubbed
    /// shape and shipped database name this round, kept on the host to EXPLAIN and to find the tables;
    /// never shipped.
    pub raws: std::cell::RefCell<std::collections::HashMap<RawKey, (String, Option<String>)>>,
    /// MySQL/MariaDB with `performance_schema` on: the digest text of every statement the digest table
    /// holds, by schema and [`dbpower_sql::fingerprint::digest_key`]. A logged execution found here is a
    /// sample of that digest's class; one not found (MariaDB does not digest binary-protocol
    /// executions; a full table stops taking new statements) is counted from the log.
    pub digests: std::cell::RefCell<std::collections::HashMap<(String, String), String>>,
    /// The shapes (a hash of scrubbed text and database) whose hints this round already carries: a
    /// shape's hints ride on its first execution of the round only.
    pub hinted: std::cell::RefCell<std::collections::HashSet<u64>>,
}

/// A shipped query's scrubbed text and (redacted) database name: which query a kept raw text belongs to.
pub(crate) type RawKey = (String, Option<String>);

/// At most this many shapes per round carry hints.
const MAX_HINTED: usize = 10_000;

/// At most this many statements per round get an EXPLAIN or a schema snapshot.
pub(crate) const MAX_ENRICHED: usize = 20;

impl<'a> Ctx<'a> {
    pub(crate) fn new(
        source: &'a SourceConfig,
        exclusions: &'a Exclusions,
        scrub: Scrub,
    ) -> Ctx<'a> {
        Ctx {
            source,
            exclusions,
            scrub,
            raws: Default::default(),
            digests: Default::default(),
            hinted: Default::default(),
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub excluded: u64,
    pub too_fast: u64,
    pub own: u64,
    /// PostgreSQL server log: failed statements, parse/bind messages (preparation, not executions) and
    /// messages skipped by the reader; none of them is shipped.
    pub failed: u64,
    pub prepares: u64,
    pub skipped: u64,
}

/// One statement as collected, before it leaves the host.
pub(crate) struct Raw<'a> {
    pub sql: &'a str,
    pub ms: f64,
    pub lock_ms: Option<f64>,
    pub rows_sent: Option<i64>,
    pub rows_examined: Option<i64>,
    pub calls: Option<i64>,
    pub db: Option<&'a str>,
    pub user: Option<&'a str>,
    pub host: Option<&'a str>,
    pub at: Option<DateTime<Utc>>,
    pub method: &'static str,
}

impl<'a> Raw<'a> {
    /// One execution of `sql` taking `ms`, read by `method`, with nothing else known yet.
    pub(crate) fn new(sql: &'a str, ms: f64, method: &'static str) -> Self {
        Raw {
            sql,
            ms,
            lock_ms: None,
            rows_sent: None,
            rows_examined: None,
            calls: None,
            db: None,
            user: None,
            host: None,
            at: None,
            method,
        }
    }
}

impl Ctx<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        match self.source.kind {
            SourceKind::Mysql => Dialect::Mysql,
            SourceKind::Postgresql => Dialect::Postgresql,
        }
    }

    /// The digest text `performance_schema` holds for a logged statement run in `db`, if any.
    fn digest_of(&self, sql: &str, db: Option<&str>) -> Option<String> {
        let digests = self.digests.borrow();
        if digests.is_empty() {
            return None;
        }
        let key = (
            db.unwrap_or_default().to_string(),
            dbpower_sql::fingerprint::digest_key(sql),
        );
        digests.get(&key).cloned()
    }

    /// The query to ship, or `None` when it is the agent's own, excluded, or under the minimum duration.
    pub(crate) fn accept(&self, r: Raw<'_>, tally: &mut Tally) -> Option<SlowQueryIn> {
        if self.source.kind == SourceKind::Mysql && r.sql.contains("dbpower-agent") {
            tally.own += 1;
            return None;
        }
        if r.ms < self.source.min_duration_ms {
            tally.too_fast += 1;
            return None;
        }
        let d = self.dialect();
        let (fp, id) = fingerprint_and_id(r.sql, d);
        if self.exclusions.excludes(r.sql, &id, &fp, r.user, r.db) {
            tally.excluded += 1;
            return None;
        }
        let level = match self.scrub {
            Scrub::Strict => ScrubLevel::Strict,
            Scrub::PiiOnly => ScrubLevel::PiiOnly,
        };
        // Names come from logs as written: a control character (NUL, an escape sequence) is replaced.
        let redact = |s: Option<&str>| {
            s.filter(|v| !v.is_empty()).map(|v| {
                let v = pii::redact(v).replace(char::is_control, "\u{fffd}");
                cut(&v, MAX_NAME_BYTES).to_string()
            })
        };
        let counters_on = self
            .source
            .methods
            .iter()
            .any(|m| m.counts_every_execution());
        // One source, one count: with a counters method on, a logged execution is a sample (of the
        // digest it belongs to, on MySQL/MariaDB, shipped under that digest's text).
        let digest = (r.calls.is_none() && counters_on && self.source.kind == SourceKind::Mysql)
            .then(|| self.digest_of(r.sql, r.db))
            .flatten();
        let sample_only = r.calls.is_none()
            && counters_on
            && (self.source.kind == SourceKind::Postgresql || digest.is_some());
        let shipped = digest.as_deref().unwrap_or(r.sql);
        let sql_text = truncate_statement(scrub(shipped, d, level), d);
        let database_name = redact(r.db);
        // What strict scrubbing erases and the analysis needs, taken from the raw text (docs/AGENT.md).
        let hints = (level == ScrubLevel::Strict)
            .then(|| dbpower_sql::hints::collect(r.sql, d))
            .filter(|h| !h.is_empty())
            .filter(|_| {
                let mut hinted = self.hinted.borrow_mut();
                let shape = {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (&sql_text, &database_name).hash(&mut h);
                    h.finish()
                };
                hinted.len() < MAX_HINTED && hinted.insert(shape)
            });
        // A SELECT is explained and described; a COMMIT gets the server's commit settings.
        if (self.source.explain || self.source.schema)
            && (crate::enrich::explainable(r.sql, d).is_some()
                || (self.source.schema && dbpower_sql::lexer::is_commit(r.sql, d)))
        {
            let mut raws = self.raws.borrow_mut();
            let key = (sql_text.clone(), database_name.clone());
            // A logged statement with its values explains better than the digest text it belongs to.
            let better = digest.is_some() && raws.get(&key).is_some_and(|(raw, _)| *raw == shipped);
            if raws.len() < MAX_ENRICHED && !raws.contains_key(&key) || better {
                raws.insert(key, (r.sql.to_string(), r.db.map(String::from)));
            }
        }
        Some(SlowQueryIn {
            sql_text,
            execution_time_ms: r.ms.max(0.0),
            database_type: match self.source.kind {
                SourceKind::Mysql => DatabaseType::Mysql,
                SourceKind::Postgresql => DatabaseType::Postgresql,
            },
            database_name,
            user: redact(r.user),
            client_host: redact(r.host),
            rows_examined: r.rows_examined,
            rows_sent: r.rows_sent,
            rows_affected: None,
            lock_time_ms: r.lock_ms,
            calls: r.calls,
            sample_only,
            observed_at: r.at,
            explain: None,
            source: Some(format!("{}:{}", self.source.name, r.method)),
            schema: None,
            hints,
        })
    }
}

/// The platform's limit on names (database, user, host, source): bytes, not characters.
const MAX_NAME_BYTES: usize = 256;

/// What an oversized statement ends with once cut (survives the platform's scrubbing at any level).
pub(crate) const TRUNCATED: &str = " [TRUNCATED]";

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A scrubbed statement over the platform's 1 MiB limit is cut at the last token boundary that fits,
/// marked `[TRUNCATED]`, and shipped: the batch's other statements are never held back for it.
pub(crate) fn truncate_statement(sql: String, d: Dialect) -> String {
    let max = dbpower_types::MAX_SQL_BYTES - TRUNCATED.len();
    if sql.len() <= dbpower_types::MAX_SQL_BYTES {
        return sql;
    }
    let mut end = 0;
    let mut at = 0;
    for t in dbpower_sql::lexer::Lexer::new(&sql, d) {
        let next = at + t.text.len();
        if next > max {
            break;
        }
        at = next;
        end = at;
    }
    let mut out = String::with_capacity(end + TRUNCATED.len());
    out.push_str(sql[..end].trim_end());
    out.push_str(TRUNCATED);
    out
}

/// `YYYY-MM-DD HH:MM:SS` (as the slow-log parser normalizes it) in UTC.
pub(crate) fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(t.get(..19)?, "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|n| n.and_utc())
}

/// Parses the complete events of a slow-log chunk. Returns the events and how many bytes were
/// consumed: an event at the very end whose statement may still be being written, or that the chunk's
/// size limit may have cut, is left for the next round (a MySQL slow-log statement always ends with `;`).
pub(crate) fn mysql_events(chunk: &Chunk) -> (Vec<Event>, usize) {
    let bytes = &chunk.bytes;
    if bytes.is_empty() {
        return (Vec::new(), 0);
    }
    let mut items: Vec<(u64, Option<Event>)> =
        MysqlSlowLog::new(std::io::Cursor::new(bytes.as_slice()))
            .map(|i| match i {
                Ok(e) => (e.line, Some(e)),
                Err(s) => (s.line, None),
            })
            .collect();
    let last_line = bytes
        .split(|&b| b == b'\n')
        .rev()
        .find(|l| !l.iter().all(u8::is_ascii_whitespace));
    // An entry is complete when its statement ended with `;` and the chunk reached the end of the file;
    // a chunk cut by the per-round limit may have cut its last entry anywhere (even right after the
    // `SET timestamp=...;` line), so that entry waits for the next round.
    let complete = chunk.eof && last_line.is_some_and(|l| l.trim_ascii_end().ends_with(b";"));
    let mut consumed = bytes.len();
    if !complete && let Some((line, _)) = items.pop() {
        let starts = line_starts(bytes);
        consumed = starts
            .get(line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(0);
    }
    (items.into_iter().filter_map(|(_, e)| e).collect(), consumed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Exclude, Method, StartAt};

    #[test]
    fn oversized_statements_are_cut_on_a_token_boundary() {
        let long = format!(
            "SELECT * FROM t WHERE id IN ({})",
            "12345, ".repeat(200_000)
        );
        let cut_sql = truncate_statement(long.clone(), Dialect::Mysql);
        assert!(
            cut_sql.len() <= dbpower_types::MAX_SQL_BYTES,
            "{}",
            cut_sql.len()
        );
        assert!(cut_sql.ends_with("[TRUNCATED]"));
        assert!(long.starts_with(cut_sql.trim_end_matches(TRUNCATED).trim_end()));
        let short = "SELECT 1".to_string();
        assert_eq!(truncate_statement(short.clone(), Dialect::Mysql), short);
        assert_eq!(cut("ééé", 3), "é");
    }

    fn source() -> SourceConfig {
        SourceConfig {
            name: "db1".into(),
            kind: SourceKind::Mysql,
            url: "mysql://x".into(),
            methods: vec![Method::SlowLogFile],
            min_duration_ms: 5.0,
            log_path: None,
            start_at: StartAt::End,
            exclude: Exclude::default(),
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

    fn raw(sql: &str, ms: f64) -> Raw<'_> {
        Raw {
            db: Some("shop"),
            user: Some("app"),
            host: Some("10.0.0.7"),
            ..Raw::new(sql, ms, "slow_log_file")
        }
    }

    #[test]
    fn edge_scrubbing_exclusions_and_own_queries() {
        let src = source();
        let ex = Exclusions::compile(&Exclude {
            patterns: vec!["(?i)^select sleep".into()],
            users: vec!["backup".into()],
            ..Exclude::default()
        })
        .expect("compile");
        let ctx = Ctx::new(&src, &ex, Scrub::Strict);
        let mut t = Tally::default();
        let q = ctx
            .accept(
                raw(
                    "SELECT * FROM users WHERE email = 'ann@example.com' AND id = 42",
                    12.0,
                ),
                &mut t,
            )
            .expect("kept");
        assert_eq!(q.sql_text, "SELECT * FROM users WHERE email = ? AND id = ?");
        assert_eq!(q.client_host.as_deref(), Some("[IP_REDACTED]"));
        assert_eq!(q.source.as_deref(), Some("db1:slow_log_file"));
        assert!(
            ctx.accept(raw("SELECT 1 /* dbpower-agent */", 50.0), &mut t)
                .is_none()
        );
        assert!(ctx.accept(raw("select sleep(2)", 2000.0), &mut t).is_none());
        assert!(ctx.accept(raw("SELECT 2", 1.0), &mut t).is_none());
        assert!(
            ctx.accept(
                Raw {
                    user: Some("backup"),
                    ..raw("SELECT 3", 10.0)
                },
                &mut t
            )
            .is_none()
        );
        assert_eq!((t.own, t.excluded, t.too_fast), (1, 2, 1));
        let lenient = Ctx::new(&src, &ex, Scrub::PiiOnly);
        let q = lenient
            .accept(
                raw(
                    "SELECT * FROM u WHERE email = 'ann@example.com' AND id = 42",
                    9.0,
                ),
                &mut t,
            )
            .expect("kept");
        assert_eq!(
            q.sql_text,
            "SELECT * FROM u WHERE email = '[EMAIL_REDACTED]' AND id = 42"
        );
    }

    #[test]
    fn one_shape_in_two_databases_is_enriched_in_each_and_postgres_text_is_never_own() {
        let src = SourceConfig {
            kind: SourceKind::Postgresql,
            explain: true,
            ..source()
        };
        let ex = Exclusions::compile(&Exclude::default()).expect("compile");
        let ctx = Ctx::new(&src, &ex, Scrub::Strict);
        let mut t = Tally::default();
        let mut shipped = Vec::new();
        for db in ["shop_a", "shop_b", "shop_a"] {
            let r = Raw {
                db: Some(db),
                ..raw("SELECT a FROM t WHERE id = 1", 9.0)
            };
            shipped.push(ctx.accept(r, &mut t).expect("kept"));
        }
        let raws = ctx.raws.borrow();
        assert_eq!(raws.len(), 2, "one per database: {:?}", raws.keys());
        let key = (
            shipped[1].sql_text.clone(),
            shipped[1].database_name.clone(),
        );
        assert_eq!(key.1.as_deref(), Some("shop_b"));
        assert_eq!(raws[&key].1.as_deref(), Some("shop_b"));
        drop(raws);
        // On PostgreSQL the marker alone makes nothing the agent's (see postgres::is_own).
        let q = ctx.accept(raw("SELECT 1 /* dbpower-agent */", 50.0), &mut t);
        assert!(q.is_some() && t.own == 0);
    }

    #[test]
    fn with_a_counters_method_on_a_logged_execution_is_a_sample() {
        let ex = Exclusions::compile(&Exclude::default()).expect("compile");
        let mut t = Tally::default();
        let delta = |ctx: &Ctx<'_>, t: &mut Tally| {
            let r = Raw {
                calls: Some(7),
                method: "performance_schema",
                ..raw("SELECT a FROM t WHERE id = ?", 10.0)
            };
            ctx.accept(r, t).expect("kept")
        };
        let log_only = source();
        let ctx = Ctx::new(&log_only, &ex, Scrub::Strict);
        let q = ctx.accept(raw("SELECT a FROM t WHERE id = 1", 9.0), &mut t);
        assert!(!q.expect("kept").sample_only, "the log is the only count");
        let both = SourceConfig {
            methods: vec![Method::SlowLogFile, Method::PerformanceSchema],
            ..source()
        };
        let ctx = Ctx::new(&both, &ex, Scrub::Strict);
        let digest = "SELECT `a` FROM `t` WHERE ID = ? ";
        ctx.digests.borrow_mut().insert(
            ("shop".into(), dbpower_sql::fingerprint::digest_key(digest)),
            digest.to_string(),
        );
        let q = ctx.accept(raw("SELECT a FROM t WHERE id = 1", 9.0), &mut t);
        let q = q.expect("kept");
        assert!(q.sample_only && q.calls.is_none(), "{q:?}");
        assert_eq!(
            q.sql_text.trim_end(),
            digest.trim_end(),
            "under its digest's text"
        );
        // Not in the digest table (a binary-protocol execution on MariaDB): the log counts it.
        let q = ctx.accept(raw("SELECT b FROM t WHERE id = 1", 9.0), &mut t);
        let q = q.expect("kept");
        assert!(!q.sample_only, "{q:?}");
        assert_eq!(q.sql_text, "SELECT b FROM t WHERE id = ?");
        let d = delta(&ctx, &mut t);
        assert!(!d.sample_only && d.calls == Some(7), "the counters count");
        let wire = serde_json::to_value(&d).expect("json");
        assert!(wire.get("sample_only").is_none(), "sent only when true");
    }

    #[test]
    fn an_event_still_being_written_waits_for_the_next_round() {
        let text = "# Time: 2026-12-03T10:00:00.000000Z\n# User@Host: app[app] @ localhost []\n# Query_time: 1.5  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 10\nSET timestamp=1764756000;\nSELECT 1;\n# Time: 2026-12-03T10:00:01.000000Z\n# User@Host: app[app] @ localhost []\n# Query_time: 2.0  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 10\nSET timestamp=1764756001;\nSELECT a,\n";
        let chunk = Chunk {
            bytes: text.as_bytes().to_vec(),
            start: 0,
            inode: 1,
            head: None,
            eof: true,
            raw_len: text.len() as u64,
            note: None,
        };
        let (events, consumed) = mysql_events(&chunk);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].sql, "SELECT 1");
        assert!(
            text[consumed..].starts_with("# Time: 2026-12-03T10:00:01")
                || text[consumed..].starts_with("# User@Host"),
            "{}",
            &text[consumed..]
        );
        let done = format!("{text}  b FROM t;\n");
        let mut chunk = Chunk {
            raw_len: done.len() as u64,
            bytes: done.into_bytes(),
            start: 0,
            inode: 1,
            head: None,
            eof: true,
            note: None,
        };
        let (events, consumed) = mysql_events(&chunk);
        assert_eq!(events.len(), 2);
        assert_eq!(consumed, chunk.bytes.len());
        // The same bytes cut by the per-round limit: the last entry waits for the next round.
        chunk.eof = false;
        let (events, consumed) = mysql_events(&chunk);
        assert_eq!(events.len(), 1);
        assert!(consumed < chunk.bytes.len());
        assert_eq!(
            parse_time("2026-12-03 10:00:01").map(|t| t.timestamp()),
            Some(1796292001)
        );
    }
}
