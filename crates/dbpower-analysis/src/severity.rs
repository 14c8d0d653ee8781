//! Severity from the findings and the measured impact of the class.
//!
//! The report's severity starts at the worst finding. The measured impact (average time, frequency,
//! share of the organization's total query time) then raises it: a class that costs a lot is urgent even
//! when the fix is simple. A class whose measured cost is negligible (under 10 ms on average and fewer
//! than 1,000 executions) is lowered one step, except for CRITICAL findings,
//! which are about correctness or runaway cost (UPDATE without WHERE, cartesian joins). With no finding
//! the severity is LOW unless the impact alone is CRITICAL.
//!
//! An UPDATE or DELETE without WHERE is CRITICAL for what it could do; once the class has measured
//! numbers it is rated by what it did ([`whole_table_dml`]): a test suite's `DELETE FROM t` that
//! removed a handful of rows in a few milliseconds is LOW.

use dbpower_types::{Issue, Severity};

use crate::statement::Finding;

/// Measured numbers of a query class.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClassStats {
    pub count: i64,
    pub avg_time_ms: f64,
    pub max_time_ms: f64,
    pub rows_examined: Option<i64>,
    pub rows_sent: Option<i64>,
    /// Average lock time per execution.
    pub lock_time_ms: Option<f64>,
    /// This class's share of the organization's total query time, 0..=1.
    pub total_time_share: Option<f64>,
}

pub const RATIO_MIN_EXAMINED: i64 = 10_000;
pub const RATIO_MEDIUM: f64 = 100.0;
pub const RATIO_HIGH: f64 = 10_000.0;
pub const LOCK_MEDIUM_MS: f64 = 1_000.0;
pub const LOCK_HIGH_MS: f64 = 10_000.0;

/// The impact level of measured numbers alone.
///
/// A share of total time counts only once the class has cost real time (a minute for HIGH, ten seconds
/// for MEDIUM): in a quiet organization a trivial query can hold most of a tiny total.
pub fn impact(s: &ClassStats) -> Severity {
    let share = s.total_time_share.unwrap_or(0.0);
    let total_ms = s.avg_time_ms * s.count.max(0) as f64;
    if s.avg_time_ms >= 10_000.0 || (share >= 0.5 && s.avg_time_ms >= 1_000.0) {
        Severity::Critical
    } else if s.avg_time_ms >= 1_000.0
        || (share >= 0.25 && total_ms >= 60_000.0)
        || (s.avg_time_ms >= 100.0 && s.count >= 1_000)
    {
        Severity::High
    } else if s.avg_time_ms >= 100.0 || s.count >= 10_000 || (share >= 0.05 && total_ms >= 10_000.0)
    {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn negligible(s: &ClassStats) -> bool {
    s.avg_time_ms < 10.0 && s.count < 1_000
}

fn lower(s: Severity) -> Severity {
    match s {
        Severity::Critical => Severity::High,
        Severity::High => Severity::Medium,
        _ => Severity::Low,
    }
}

pub fn overall(issues: &[Issue], stats: Option<&ClassStats>) -> Severity {
    let worst = issues.iter().map(|i| i.severity).max();
    match (worst, stats) {
        (None, Some(s)) if impact(s) == Severity::Critical => Severity::Critical,
        (None, _) => Severity::Low,
        (Some(w), None) => w,
        (Some(w), Some(s)) if negligible(s) && w < Severity::Critical => lower(w),
        (Some(w), Some(s)) => w.max(impact(s)),
    }
}

/// The findings measured numbers support on their own: rows examined per row sent, lock waits.
pub fn stats_findings(s: &ClassStats) -> Vec<Finding> {
    let mut out = Vec::new();
    if let (Some(ex), Some(sent)) = (s.rows_examined, s.rows_sent)
        && ex >= RATIO_MIN_EXAMINED
    {
        let ratio = ex as f64 / sent.max(1) as f64;
        if ratio >= RATIO_MEDIUM {
            out.push(Finding {
                rule: "high_rows_ratio",
                evidence: format!("rows_examined {ex} / rows_sent {sent} = {ratio:.0}"),
                severity: Some(if ratio >= RATIO_HIGH {
                    Severity::High
                } else {
                    Severity::Medium
                }),
                table: None,
            });
        }
    }
    if let Some(lock) = s.lock_time_ms
        && lock >= LOCK_MEDIUM_MS
    {
        out.push(Finding {
            rule: "long_lock_time",
            evidence: format!("average lock time {lock:.0} ms"),
            severity: Some(if lock >= LOCK_HIGH_MS {
                Severity::High
            } else {
                Severity::Medium
            }),
            table: None,
        });
    }
    out
}

/// Rows per execution at most, for each level of a whole-table UPDATE or DELETE (above the last: CRITICAL).
pub const DML_ROWS: [i64; 3] = [1_000, 100_000, 1_000_000];
/// Milliseconds per execution (the slowest seen) below which each level holds.
pub const DML_MS: [f64; 3] = [100.0, 1_000.0, 10_000.0];

/// The severity of an UPDATE or DELETE without WHERE from what the class measured: the rows it touched
/// and the time it took per execution (the slowest one), whichever is worse. Rows are the larger of rows
/// examined and rows sent (PostgreSQL reports the rows a DML statement changed as its rows; MySQL counts
/// the rows it read, which without WHERE is the whole table). Without a row count the time alone rates
/// it, but never below MEDIUM. `None` without executions: the default CRITICAL stands.
pub fn whole_table_dml(s: &ClassStats) -> Option<(Severity, String)> {
    if s.count <= 0 || !s.avg_time_ms.is_finite() || !s.max_time_ms.is_finite() {
        return None;
    }
    let ms = s.avg_time_ms.max(s.max_time_ms).max(0.0);
    let rows = match (s.rows_examined, s.rows_sent) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0)).max(0) / s.count),
    };
    const LEVELS: [Severity; 3] = [Severity::Low, Severity::Medium, Severity::High];
    let by_time = DML_MS
        .iter()
        .position(|limit| ms < *limit)
        .map_or(Severity::Critical, |i| LEVELS[i]);
    let severity = match rows {
        Some(r) => {
            let by_rows = DML_ROWS
                .iter()
                .position(|limit| r <= *limit)
                .map_or(Severity::Critical, |i| LEVELS[i]);
            by_rows.max(by_time)
        }
        None => by_time.max(Severity::Medium),
    };
    let measured = match rows {
        Some(r) => format!("measured: {r} rows and at most {ms:.0} ms per execution"),
        None => format!("measured: at most {ms:.0} ms per execution, rows unknown"),
    };
    Some((severity, measured))
}

/// Re-rates the findings whose severity depends on what the class measured.
pub fn rate_by_impact(findings: &mut [Finding], s: &ClassStats) {
    for f in findings
        .iter_mut()
        .filter(|f| f.rule == "dml_without_where")
    {
        if let Some((severity, measured)) = whole_table_dml(s) {
            f.severity = Some(severity);
            f.evidence = format!("{} ({measured})", f.evidence);
        }
    }
}

/// A COMMIT is costly from this mean time on (a flush to durable storage that waits for the disk)...
pub const COMMIT_SLOW_MS: f64 = 2.0;
/// ... or from this share of the organization's query time; HIGH from [`COMMIT_HIGH_SHARE`].
pub const COMMIT_SHARE: f64 = 0.05;
pub const COMMIT_HIGH_SHARE: f64 = 0.2;

pub use dbpower_sql::lexer::is_commit;

/// The settings that trade commit latency for durability or batching, per engine.
const COMMIT_SETTINGS_PG: &[&str] = &[
    "synchronous_commit",
    "commit_delay",
    "commit_siblings",
    "wal_sync_method",
];
const COMMIT_SETTINGS_MYSQL: &[&str] = &[
    "innodb_flush_log_at_trx_commit",
    "sync_binlog",
    "binlog_commit_wait_count",
    "binlog_group_commit_sync_delay",
];

/// `commit_latency`: a commit class whose time is the log flush every transaction waits for, when
/// that time is large per commit or a real share of the organization's query time.
pub fn commit_latency(
    sql: &str,
    dialect: dbpower_sql::Dialect,
    s: &ClassStats,
    schema: Option<&dbpower_types::SchemaSnapshot>,
) -> Option<Finding> {
    if s.count <= 0 || !s.avg_time_ms.is_finite() || !is_commit(sql, dialect) {
        return None;
    }
    let share = s.total_time_share.filter(|v| v.is_finite()).unwrap_or(0.0);
    if s.avg_time_ms < COMMIT_SLOW_MS && share < COMMIT_SHARE {
        return None;
    }
    let of_all = if share > 0.0 {
        format!(", {:.0}% of all query time", share * 100.0)
    } else {
        String::new()
    };
    let settings = crate::settings_text(
        schema,
        match dialect {
            dbpower_sql::Dialect::Postgresql => COMMIT_SETTINGS_PG,
            dbpower_sql::Dialect::Mysql => COMMIT_SETTINGS_MYSQL,
        },
    );
    Some(Finding {
        rule: "commit_latency",
        evidence: format!(
            "{} commits at {:.1} ms on average{of_all}: the time is the flush of the transaction log, not the statement (settings: {settings})",
            s.count, s.avg_time_ms
        ),
        severity: Some(if share >= COMMIT_HIGH_SHARE {
            Severity::High
        } else {
            Severity::Medium
        }),
        table: None,
    })
}

pub fn impact_text(s: Severity) -> String {
    match s {
        Severity::Critical => "removes a critical risk or the largest cost",
        Severity::High => "large: typically an order of magnitude less work",
        Severity::Medium => "moderate",
        Severity::Low => "small, but cheap to fix",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_that_waits_for_the_disk_is_a_finding() {
        use dbpower_sql::Dialect::{Mysql, Postgresql};
        let slow = ClassStats {
            count: 50_000,
            avg_time_ms: 6.0,
            max_time_ms: 40.0,
            total_time_share: Some(0.35),
            ..ClassStats::default()
        };
        for (sql, d) in [
            ("COMMIT", Mysql),
            ("END", Postgresql),
            ("commit work;", Postgresql),
        ] {
            let f = commit_latency(sql, d, &slow, None).expect(sql);
            assert_eq!(f.severity, Some(Severity::High), "{sql}");
        }
        assert!(
            commit_latency("COMMIT", Postgresql, &slow, None)
                .expect("pg")
                .evidence
                .contains("synchronous_commit")
        );
        assert!(
            commit_latency("COMMIT", Mysql, &slow, None)
                .expect("mysql")
                .evidence
                .contains("innodb_flush_log_at_trx_commit")
        );
        // With the server's settings shipped beside the schema, their values are quoted.
        let schema = dbpower_types::SchemaSnapshot {
            settings: [
                ("innodb_flush_log_at_trx_commit", "1"),
                ("sync_binlog", "1"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        };
        let f = commit_latency("COMMIT", Mysql, &slow, Some(&schema)).expect("mysql");
        assert!(
            f.evidence
                .contains("innodb_flush_log_at_trx_commit = 1, sync_binlog = 1"),
            "{}",
            f.evidence
        );
        // Fast and a small share: no finding. Not a plain commit: no finding.
        let fast = ClassStats {
            avg_time_ms: 0.3,
            total_time_share: Some(0.01),
            ..slow
        };
        assert!(commit_latency("COMMIT", Mysql, &fast, None).is_none());
        let moderate = ClassStats {
            total_time_share: Some(0.08),
            ..fast
        };
        assert_eq!(
            commit_latency("COMMIT", Mysql, &moderate, None).map(|f| f.severity),
            Some(Some(Severity::Medium))
        );
        for other in ["COMMIT PREPARED 'tx1'", "SELECT 1", "END LOOP", "ROLLBACK"] {
            assert!(
                commit_latency(other, Postgresql, &slow, None).is_none(),
                "{other}"
            );
        }
    }

    fn issue(sev: Severity) -> Issue {
        Issue {
            rule_id: "x".into(),
            severity: sev,
            title: String::new(),
            description: String::new(),
            evidence: String::new(),
        }
    }

    #[test]
    fn impact_raises_and_negligible_cost_lowers() {
        let slow = ClassStats {
            count: 50,
            avg_time_ms: 2_500.0,
            ..ClassStats::default()
        };
        assert_eq!(
            overall(&[issue(Severity::Low)], Some(&slow)),
            Severity::High
        );
        let busy = ClassStats {
            count: 5_000,
            avg_time_ms: 150.0,
            ..ClassStats::default()
        };
        assert_eq!(
            overall(&[issue(Severity::Low)], Some(&busy)),
            Severity::High
        );
        let share = ClassStats {
            count: 2_000,
            avg_time_ms: 50.0,
            total_time_share: Some(0.3),
            ..ClassStats::default()
        };
        assert_eq!(
            overall(&[issue(Severity::Medium)], Some(&share)),
            Severity::High
        );
        // A trivial query holding most of a quiet organization's tiny total is not urgent.
        let quiet = ClassStats {
            count: 5,
            avg_time_ms: 0.1,
            total_time_share: Some(0.9),
            ..ClassStats::default()
        };
        assert_eq!(
            overall(&[issue(Severity::Low)], Some(&quiet)),
            Severity::Low
        );
        let dominant = ClassStats {
            count: 10,
            avg_time_ms: 1_500.0,
            total_time_share: Some(0.6),
            ..ClassStats::default()
        };
        assert_eq!(
            overall(&[issue(Severity::Low)], Some(&dominant)),
            Severity::Critical
        );
        let tiny = ClassStats {
            count: 3,
            avg_time_ms: 2.0,
            ..ClassStats::default()
        };
        assert_eq!(
            overall(&[issue(Severity::High)], Some(&tiny)),
            Severity::Medium
        );
        assert_eq!(
            overall(&[issue(Severity::Critical)], Some(&tiny)),
            Severity::Critical
        );
        assert_eq!(overall(&[], Some(&tiny)), Severity::Low);
        let extreme = ClassStats {
            count: 1,
            avg_time_ms: 20_000.0,
            ..ClassStats::default()
        };
        assert_eq!(overall(&[], Some(&extreme)), Severity::Critical);
        assert_eq!(overall(&[issue(Severity::Medium)], None), Severity::Medium);
    }

    fn dml(count: i64, avg: f64, max: f64, examined: Option<i64>, sent: Option<i64>) -> ClassStats {
        ClassStats {
            count,
            avg_time_ms: avg,
            max_time_ms: max,
            rows_examined: examined,
            rows_sent: sent,
            ..ClassStats::default()
        }
    }

    #[test]
    fn a_whole_table_dml_is_rated_by_the_rows_and_time_it_measured() {
        let level = |s: &ClassStats| whole_table_dml(s).map(|(sev, _)| sev);
        // A test suite's flush: thousands of runs, a few rows and milliseconds each.
        let flush = dml(40_000, 1.2, 6.0, Some(40_000 * 12), Some(0));
        assert_eq!(level(&flush), Some(Severity::Low));
        // PostgreSQL reports the changed rows as rows (sent), and no rows examined.
        assert_eq!(
            level(&dml(300, 2.0, 9.0, None, Some(300 * 40))),
            Some(Severity::Low)
        );
        // Each bound, rows or time, lifts the level by itself.
        assert_eq!(
            level(&dml(10, 5.0, 20.0, Some(10 * 50_000), None)),
            Some(Severity::Medium)
        );
        assert_eq!(
            level(&dml(10, 5.0, 400.0, Some(10 * 10), None)),
            Some(Severity::Medium)
        );
        assert_eq!(
            level(&dml(4, 3_000.0, 3_500.0, Some(4 * 800_000), Some(0))),
            Some(Severity::High)
        );
        assert_eq!(
            level(&dml(2, 40.0, 90.0, Some(2 * 5_000_000), None)),
            Some(Severity::Critical)
        );
        assert_eq!(
            level(&dml(1, 25_000.0, 25_000.0, Some(1), None)),
            Some(Severity::Critical)
        );
        // The slowest execution counts, not only the average.
        assert_eq!(
            level(&dml(1_000, 2.0, 1_500.0, Some(1_000), None)),
            Some(Severity::High)
        );
        // Without a row count the time alone rates it, never below MEDIUM.
        assert_eq!(
            level(&dml(50, 1.0, 3.0, None, None)),
            Some(Severity::Medium)
        );
        assert_eq!(
            level(&dml(50, 2_000.0, 2_000.0, None, None)),
            Some(Severity::High)
        );
        // Without executions (or with nonsense times) there is nothing measured: the default stands.
        assert_eq!(level(&dml(0, 0.0, 0.0, Some(5), None)), None);
        assert_eq!(level(&dml(3, f64::NAN, 1.0, Some(5), None)), None);
        // Totals at the top of the range do not overflow.
        assert_eq!(
            level(&dml(1, 1.0, 1.0, Some(i64::MAX), Some(i64::MAX))),
            Some(Severity::Critical)
        );
        assert_eq!(
            level(&dml(2, 1.0, 1.0, Some(-5), None)),
            Some(Severity::Low)
        );
    }

    #[test]
    fn rating_by_impact_touches_only_whole_table_dml_and_says_what_it_measured() {
        let mut findings = vec![
            Finding {
                rule: "dml_without_where",
                evidence: "DELETE FROM sessions (no WHERE)".into(),
                severity: None,
                table: None,
            },
            Finding {
                rule: "select_star",
                evidence: "SELECT *".into(),
                severity: None,
                table: None,
            },
        ];
        rate_by_impact(&mut findings, &dml(200, 1.5, 4.0, Some(200 * 3), Some(0)));
        assert_eq!(findings[0].severity, Some(Severity::Low));
        assert_eq!(
            findings[0].evidence,
            "DELETE FROM sessions (no WHERE) (measured: 3 rows and at most 4 ms per execution)"
        );
        assert_eq!(findings[1].severity, None);
        assert_eq!(findings[1].evidence, "SELECT *");
        let mut untouched = findings[..1].to_vec();
        untouched[0].severity = None;
        rate_by_impact(&mut untouched, &ClassStats::default());
        assert_eq!(untouched[0].severity, None);
    }

    #[test]
    fn stats_findings_have_thresholds() {
        let s = ClassStats {
            count: 10,
            rows_examined: Some(2_000_000),
            rows_sent: Some(10),
            lock_time_ms: Some(1_500.0),
            ..ClassStats::default()
        };
        let f = stats_findings(&s);
        assert_eq!(
            f.iter().map(|f| f.rule).collect::<Vec<_>>(),
            vec!["high_rows_ratio", "long_lock_time"]
        );
        assert_eq!(f[0].severity, Some(Severity::High));
        assert_eq!(f[1].severity, Some(Severity::Medium));
        let fine = ClassStats {
            rows_examined: Some(5_000),
            rows_sent: Some(1),
            lock_time_ms: Some(5.0),
            ..s
        };
        assert!(stats_findings(&fine).is_empty());
    }
}
