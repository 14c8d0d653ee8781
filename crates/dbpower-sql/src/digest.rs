//! The offline digest behind `dbpower digest`: events from a slow log grouped by fingerprint, with
//! pt-query-digest's per-class numbers. Memory grows with the number of classes, not the file size.
//! Only executions count as calls: PostgreSQL's parse and bind times are kept apart as preparation time,
//! more rows fetched from a portal add time to executions already counted, and failed statements are
//! counted as errors of their class.

use std::collections::{BTreeMap, HashMap};

use crate::fingerprint::exact_fingerprint;
use crate::slowlog::{Event, EventKind, Item, Measures, Skipped};
use crate::{Dialect, Histogram, ScrubLevel, fingerprint, query_id, scrub};

/// How many distinct databases a class remembers.
const MAX_DATABASES: usize = 8;

#[derive(Debug, Clone)]
pub struct DigestClass {
    pub query_id: String,
    pub fingerprint: String,
    /// Executions.
    pub count: u64,
    /// Summed over executions: time (fetches from a portal included, never preparation time), lock
    /// time and rows. `sum.query_time_s` is the class's total time.
    pub sum: Measures,
    /// Parse and bind time of extended-protocol statements (PostgreSQL), and how many such messages.
    pub prepare_s: f64,
    pub prepares: u64,
    /// Failed executions (PostgreSQL `ERROR:` with a `STATEMENT:`); not counted in `count`.
    pub errors: u64,
    min_s: f64,
    pub max_s: f64,
    pub histogram: Histogram,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// The slowest execution's statement, scrubbed (strict).
    pub sample: String,
    sample_time: f64,
    pub databases: Vec<String>,
}

impl DigestClass {
    fn new(query_id: String, fingerprint: &str) -> DigestClass {
        DigestClass {
            query_id,
            fingerprint: crate::pii::redact(fingerprint).into_owned(),
            count: 0,
            sum: Measures::default(),
            prepare_s: 0.0,
            prepares: 0,
            errors: 0,
            min_s: f64::MAX,
            max_s: 0.0,
            histogram: Histogram::new(),
            first_seen: None,
            last_seen: None,
            sample: String::new(),
            sample_time: -1.0,
            databases: Vec::new(),
        }
    }

    /// First and last seen, and the databases.
    fn seen(&mut self, ev: &Event) {
        if let Some(t) = &ev.time {
            if self.first_seen.as_ref().is_none_or(|f| t < f) {
                self.first_seen = Some(t.clone());
            }
            match &mut self.last_seen {
                Some(l) if t > l => l.clone_from(t),
                Some(_) => {}
                None => self.last_seen = Some(t.clone()),
            }
        }
        if let Some(db) = &ev.origin.db
            && self.databases.len() < MAX_DATABASES
            && !self.databases.contains(db)
        {
            self.databases.push(db.clone());
        }
    }

    pub fn avg_s(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum.query_time_s / self.count as f64
        }
    }
    /// The fastest execution (0 when there was none).
    pub fn min_s(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.min_s }
    }

    /// p95 in seconds, from the log-bucket histogram (at most 5% high, never above the maximum).
    pub fn p95_s(&self) -> f64 {
        self.histogram
            .percentile(95.0)
            .map_or(0.0, |ms| (ms / 1000.0).min(self.max_s))
    }
}

#[derive(Debug, Default)]
pub struct Digest {
    classes: HashMap<String, DigestClass>,
    /// Executions counted.
    pub events: u64,
    /// Failed statements counted (in their classes' `errors`).
    pub errors: u64,
    /// Parse and bind messages (in their classes' `prepare_s`).
    pub prepares: u64,
    pub skipped: BTreeMap<&'static str, u64>,
}

impl Digest {
    pub fn new() -> Digest {
        Digest::default()
    }

    /// Adds every event a log reader yields and counts what it skipped.
    pub fn read(&mut self, items: impl IntoIterator<Item = Item>, dialect: Dialect) {
        for item in items {
            match item {
                Ok(ev) => self.add(&ev, dialect),
                Err(s) => self.add_skipped(&s),
            }
        }
    }

    pub fn add_skipped(&mut self, s: &Skipped) {
        *self.skipped.entry(s.reason).or_insert(0) += 1;
    }

    pub fn add(&mut self, ev: &Event, dialect: Dialect) {
        let class = self.class(&ev.sql, dialect);
        let t = ev.measures.query_time_s;
        match ev.kind {
            EventKind::Execution => {}
            EventKind::Fetch => {
                class.sum.query_time_s += t;
                class.max_s = class.max_s.max(t);
                return;
            }
            EventKind::Prepare => {
                class.prepare_s += t;
                class.prepares += 1;
                self.prepares += 1;
                return;
            }
            EventKind::Error => {
                class.errors += 1;
                class.seen(ev);
                self.errors += 1;
                return;
            }
        }
        class.count += 1;
        class.sum.add(&ev.measures);
        class.min_s = class.min_s.min(t);
        class.max_s = class.max_s.max(t);
        class.histogram.record(t * 1000.0);
        class.seen(ev);
        if t > class.sample_time {
            class.sample_time = t;
            class.sample = scrub(&ev.sql, dialect, ScrubLevel::Strict);
        }
        self.events += 1;
    }

    /// The class of a statement, made on first sight. Classes are keyed by the exact fingerprint: the
    /// query id (an MD5) and the shown fingerprint (free of comment and literal text) are computed once
    /// per class, not once per event.
    fn class(&mut self, sql: &str, dialect: Dialect) -> &mut DigestClass {
        let exact = exact_fingerprint(sql, dialect);
        self.classes.entry(exact).or_insert_with_key(|exact| {
            let mut class = DigestClass::new(query_id(exact), &fingerprint(sql, dialect));
            class.sample = scrub(sql, dialect, ScrubLevel::Strict);
            class
        })
    }

    /// Classes by total time, largest first (pt-query-digest's ranking).
    pub fn ranked(&self) -> Vec<&DigestClass> {
        let mut v: Vec<&DigestClass> = self.classes.values().collect();
        v.sort_by(|a, b| {
            b.sum
                .query_time_s
                .total_cmp(&a.sum.query_time_s)
                .then_with(|| a.query_id.cmp(&b.query_id))
        });
        v
    }

    pub fn total_s(&self) -> f64 {
        self.classes.values().map(|c| c.sum.query_time_s).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slowlog::MysqlSlowLog;

    #[test]
    fn groups_by_fingerprint_and_ranks_by_total_time() {
        let log = "# Time: 071015 21:43:52\n# User@Host: a[a] @ h []\n# Query_time: 1.5  Lock_time: 0.1  Rows_sent: 1  Rows_examined: 10\n\
SET timestamp=1192470232;\nSELECT * FROM t WHERE email = 'ann@example.com';\n\
# User@Host: a[a] @ h []\n# Query_time: 0.5  Lock_time: 0  Rows_sent: 1  Rows_examined: 5\nSET timestamp=1192470240;\nselect * from t where email = 'bob@x.org';\n\
# User@Host: a[a] @ h []\n# Query_time: 0.1  Lock_time: 0  Rows_sent: 0  Rows_examined: 0\nBEGIN;\n";
        let mut d = Digest::new();
        d.read(MysqlSlowLog::new(log.as_bytes()), Dialect::Mysql);
        let r = d.ranked();
        assert_eq!((d.events, r.len()), (3, 2));
        assert_eq!(
            (r[0].count, r[0].sum.query_time_s, r[0].max_s),
            (2, 2.0, 1.5)
        );
        assert_eq!(r[0].fingerprint, "select * from t where email = ?");
        assert_eq!(
            r[0].sample, "SELECT * FROM t WHERE email = ?",
            "the sample is scrubbed"
        );
        assert_eq!(
            (r[0].first_seen.as_deref(), r[0].last_seen.as_deref()),
            (Some("2007-10-15 17:43:52"), Some("2007-10-15 17:44:00"))
        );
        assert_eq!(r[1].fingerprint, "begin");
    }

    #[test]
    fn postgres_executions_preparation_fetches_and_errors_count_apart() {
        use crate::slowlog::PostgresLog;
        let log = "\
2026-12-06 23:13:14.009 UTC [7] app@shop LOG:  duration: 0.500 ms  parse P_1: UPDATE a SET b = b + $1 WHERE id = $2;
2026-12-06 23:13:14.010 UTC [7] app@shop LOG:  duration: 0.250 ms  bind P_1: UPDATE a SET b = b + $1 WHERE id = $2;
2026-12-06 23:13:14.010 UTC [7] app@shop LOG:  duration: 2.000 ms  execute P_1: UPDATE a SET b = b + $1 WHERE id = $2;
2026-12-06 23:13:14.011 UTC [7] app@shop LOG:  duration: 0.250 ms  bind P_1: UPDATE a SET b = b + $1 WHERE id = $2;
2026-12-06 23:13:14.012 UTC [7] app@shop LOG:  duration: 4.000 ms  execute P_1: UPDATE a SET b = b + $1 WHERE id = $2;
2026-12-06 23:13:14.013 UTC [8] app@shop LOG:  duration: 3.000 ms  statement: UPDATE a SET b = b + -1234 WHERE id = 7
2026-12-06 23:13:14.020 UTC [8] app@shop ERROR:  could not serialize access due to concurrent update
2026-12-06 23:13:14.020 UTC [8] app@shop STATEMENT:  UPDATE a SET b = b + 5 WHERE id = 8
2026-12-06 23:13:14.030 UTC [9] app@shop LOG:  duration: 1.000 ms
";
        let mut d = Digest::new();
        d.read(PostgresLog::new(log.as_bytes()), Dialect::Postgresql);
        let r = d.ranked();
        assert_eq!(r.len(), 1, "one statement, one class: {r:?}");
        let c = r[0];
        assert_eq!((c.count, c.errors, c.prepares), (3, 1, 3));
        assert!(
            (c.sum.query_time_s - 0.009).abs() < 1e-12,
            "{}",
            c.sum.query_time_s
        );
        assert!((c.prepare_s - 0.001).abs() < 1e-12, "{}", c.prepare_s);
        assert_eq!((c.min_s(), c.max_s), (0.002, 0.004));
        assert_eq!((d.events, d.errors, d.prepares), (3, 1, 3));
        assert_eq!(d.skipped.get("duration without its statement"), Some(&1));
        assert!(!c.sample.contains("1234"), "{}", c.sample);
    }
}
