//! Severity from the findings and the measured impact of the class.
//!
//! The report's severity starts at the worst finding. The measured impact (average time, frequency,
//! share of the organization's total query time) then raises it: a class that costs a lot is urgent even
//! when the fix is simple. A class whose measured cost is negligible (under 10 ms on average and fewer
//! than 1,000 executions) is lowered one step, except for CRITICAL findings,
//! which are about correctness or runaway cost (UPDATE without WHERE, cartesian joins). With no finding
//! the severity is LOW unless the impact alone is CRITICAL.

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
        });
    }
    out
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
