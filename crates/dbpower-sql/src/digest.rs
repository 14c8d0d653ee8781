//! The offline digest behind `dbpower digest`: events from a slow log grouped by fingerprint, with
//! pt-query-digest's per-class numbers. Memory grows with the number of classes, not the file size.

use std::collections::{BTreeMap, HashMap};

use crate::fingerprint::exact_fingerprint;
use crate::slowlog::{Event, Skipped};
use crate::{Dialect, Histogram, ScrubLevel, fingerprint, query_id, scrub};

/// How many distinct databases a class remembers.
const MAX_DATABASES: usize = 8;

#[derive(Debug, Clone)]
pub struct DigestClass {
    pub query_id: String,
    pub fingerprint: String,
    pub count: u64,
    pub total_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub lock_s: f64,
    pub rows_sent: u64,
    pub rows_examined: u64,
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
            total_s: 0.0,
            min_s: f64::MAX,
            max_s: 0.0,
            lock_s: 0.0,
            rows_sent: 0,
            rows_examined: 0,
            histogram: Histogram::new(),
            first_seen: None,
            last_seen: None,
            sample: String::new(),
            sample_time: -1.0,
            databases: Vec::new(),
        }
    }

    pub fn avg_s(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.total_s / self.count as f64
        }
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
    pub events: u64,
    pub skipped: BTreeMap<&'static str, u64>,
}

impl Digest {
    pub fn new() -> Digest {
        Digest::default()
    }

    pub fn add_skipped(&mut self, s: &Skipped) {
        *self.skipped.entry(s.reason).or_insert(0) += 1;
    }

    pub fn add(&mut self, ev: &Event, dialect: Dialect) {
        self.events += 1;
        // Classes are keyed by the exact fingerprint: the query id (an MD5) and the shown fingerprint
        // (free of comment and literal text) are computed once per class, not once per event.
        let exact = exact_fingerprint(&ev.sql, dialect);
        if !self.classes.contains_key(&exact) {
            let class = DigestClass::new(query_id(&exact), &fingerprint(&ev.sql, dialect));
            self.classes.insert(exact.clone(), class);
        }
        let Some(class) = self.classes.get_mut(&exact) else {
            return;
        };
        class.count += 1;
        class.total_s += ev.query_time_s;
        class.min_s = class.min_s.min(ev.query_time_s);
        class.max_s = class.max_s.max(ev.query_time_s);
        class.lock_s += ev.lock_time_s;
        class.rows_sent += ev.rows_sent;
        class.rows_examined += ev.rows_examined;
        class.histogram.record(ev.query_time_s * 1000.0);
        if let Some(t) = &ev.time {
            if class.first_seen.as_ref().is_none_or(|f| t < f) {
                class.first_seen = Some(t.clone());
            }
            match &mut class.last_seen {
                Some(l) if t > l => l.clone_from(t),
                Some(_) => {}
                None => class.last_seen = Some(t.clone()),
            }
        }
        if ev.query_time_s > class.sample_time {
            class.sample_time = ev.query_time_s;
            class.sample = scrub(&ev.sql, dialect, ScrubLevel::Strict);
        }
        if let Some(db) = &ev.db
            && class.databases.len() < MAX_DATABASES
            && !class.databases.contains(db)
        {
            class.databases.push(db.clone());
        }
    }

    /// Classes by total time, largest first (pt-query-digest's ranking).
    pub fn ranked(&self) -> Vec<&DigestClass> {
        let mut v: Vec<&DigestClass> = self.classes.values().collect();
        v.sort_by(|a, b| {
            b.total_s
                .total_cmp(&a.total_s)
                .then_with(|| a.query_id.cmp(&b.query_id))
        });
        v
    }

    pub fn total_s(&self) -> f64 {
        self.classes.values().map(|c| c.total_s).sum()
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
        for item in MysqlSlowLog::new(log.as_bytes()) {
            match item {
                Ok(ev) => d.add(&ev, Dialect::Mysql),
                Err(s) => d.add_skipped(&s),
            }
        }
        let r = d.ranked();
        assert_eq!((d.events, r.len()), (3, 2));
        assert_eq!((r[0].count, r[0].total_s, r[0].max_s), (2, 2.0, 1.5));
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
}
