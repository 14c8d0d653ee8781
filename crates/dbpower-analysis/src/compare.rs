//! Window comparison ("what changed between two periods"): each class's calls, time, mean and p95 in
//! window A and window B, and whether it is new, gone, regressed, improved or unchanged. Pure; shared by
//! `GET /api/v1/compare` (sides from the hourly rollups and histograms) and `dbpower digest --compare`
//! (sides from two slow logs).

use dbpower_types::{ClassChange, CompareSide};

use crate::detect::Side;

/// The default ratio of both mean and p95 that makes a class regressed (and its inverse improved).
pub const DEFAULT_RATIO: f64 = 1.5;

/// One side's numbers as the API shows them.
pub fn side_numbers(s: &Side, rows_ratio: Option<f64>) -> CompareSide {
    CompareSide {
        calls: s.calls,
        total_time_ms: s.total_ms,
        mean_ms: s.mean_ms(),
        p95_ms: s.p95_ms(),
        rows_ratio,
    }
}

/// The comparison of one class: its change, and B's mean and p95 over A's when both sides ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub change: ClassChange,
    pub mean_ratio: Option<f64>,
    pub p95_ratio: Option<f64>,
}

/// Classifies a class seen in A and/or B: new (only in B), gone (only in A), regressed (B's mean and p95
/// both at least `ratio` times A's), improved (both at most A's divided by `ratio`), unchanged otherwise.
pub fn compare(a: &Side, b: &Side, ratio: f64) -> Compared {
    let r = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if x > 0.0 && (y / x).is_finite() => Some(y / x),
        _ => None,
    };
    let mean_ratio = r(a.mean_ms(), b.mean_ms());
    let p95_ratio = r(a.p95_ms(), b.p95_ms());
    let change = match (a.calls, b.calls) {
        (0, 0) => ClassChange::Unchanged,
        (0, _) => ClassChange::New,
        (_, 0) => ClassChange::Gone,
        _ => match (mean_ratio, p95_ratio) {
            (Some(m), Some(p)) if m >= ratio && p >= ratio => ClassChange::Regressed,
            (Some(m), Some(p)) if m <= 1.0 / ratio && p <= 1.0 / ratio => ClassChange::Improved,
            _ => ClassChange::Unchanged,
        },
    };
    Compared {
        change,
        mean_ratio,
        p95_ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(ms: f64, n: u64) -> Side {
        let mut s = Side {
            calls: n,
            total_ms: ms * n as f64,
            hours: 1,
            ..Side::default()
        };
        s.histogram.record_n(ms, n);
        s
    }

    #[test]
    fn classes_are_classified() {
        let none = Side::default();
        assert_eq!(compare(&none, &side(5.0, 3), 1.5).change, ClassChange::New);
        assert_eq!(compare(&side(5.0, 3), &none, 1.5).change, ClassChange::Gone);
        let c = compare(&side(10.0, 3), &side(20.0, 3), 1.5);
        assert_eq!(c.change, ClassChange::Regressed);
        assert_eq!(c.mean_ratio, Some(2.0));
        assert_eq!(
            compare(&side(20.0, 3), &side(10.0, 3), 1.5).change,
            ClassChange::Improved
        );
        assert_eq!(
            compare(&side(10.0, 3), &side(12.0, 9), 1.5).change,
            ClassChange::Unchanged
        );
    }
}
