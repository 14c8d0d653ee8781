//! Workload detection: regressions, new slow classes and volume spikes, decided per class and sending
//! scope on the hourly rollups and log-bucket histograms (never raw rows). Pure; docs/ALERTS.md gives
//! every statistic and default, and `tests/it/detection.rs` measures precision and recall on a generated
//! workload.

use dbpower_sql::Histogram;
use dbpower_types::{AlertKind, AlertThresholds};

/// One side of the comparison (the window or the baseline) of one class in one scope.
#[derive(Debug, Clone, Default)]
pub struct Side {
    /// Executions.
    pub calls: u64,
    pub total_ms: f64,
    /// Hours the side spans (the baseline's days times 24 even when some hours saw nothing).
    pub hours: u32,
    /// The most executions in one hour of the side.
    pub busiest_hour: u64,
    /// The side's latency distribution.
    pub histogram: Histogram,
}

impl Side {
    pub fn mean_ms(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.total_ms / self.calls as f64)
    }

    pub fn p95_ms(&self) -> Option<f64> {
        self.histogram.percentile(95.0)
    }

    pub fn calls_per_hour(&self) -> f64 {
        self.calls as f64 / f64::from(self.hours.max(1))
    }
}

/// What the detector sees of one class in one scope.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub window: Side,
    pub baseline: Side,
    /// The class was first observed (earliest `observed_at`) inside the window.
    pub first_seen_in_window: bool,
    /// The class was observed before the baseline began: its baseline is a whole one. A younger class's
    /// baseline rate is diluted over hours it did not exist, so it is never a volume spike (its arrival
    /// is the new-class rule's business).
    pub seen_before_baseline: bool,
    /// The organization's execution time in the window, every class and scope together.
    pub org_window_ms: f64,
}

/// The thresholds a rule applies: its own where it sets them, its kind's defaults otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub ratio: f64,
    pub min_calls: u64,
    pub min_baseline_calls: u64,
    pub min_z: f64,
    pub min_share: f64,
}

impl Limits {
    pub fn of(kind: AlertKind, t: &AlertThresholds) -> Limits {
        let d = Limits::default_for(kind);
        Limits {
            ratio: t.ratio.unwrap_or(d.ratio),
            min_calls: t.min_calls.unwrap_or(d.min_calls),
            min_baseline_calls: t.min_baseline_calls.unwrap_or(d.min_baseline_calls),
            min_z: t.min_z.unwrap_or(d.min_z),
            min_share: t.min_share.unwrap_or(d.min_share),
        }
    }

    /// The defaults (docs/ALERTS.md, "Thresholds").
    pub fn default_for(kind: AlertKind) -> Limits {
        let base = Limits {
            ratio: 1.5,
            min_calls: 20,
            min_baseline_calls: 50,
            min_z: 4.0,
            min_share: 0.01,
        };
        match kind {
            AlertKind::NewClass => Limits {
                min_calls: 3,
                min_baseline_calls: 0,
                ..base
            },
            AlertKind::VolumeSpike => Limits {
                ratio: 4.0,
                min_calls: 100,
                min_baseline_calls: 24,
                ..base
            },
            AlertKind::PlanChanged => Limits {
                min_calls: 5,
                min_baseline_calls: 5,
                ..base
            },
            _ => base,
        }
    }
}

/// Why a condition holds: the numbers that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub mean_ratio: Option<f64>,
    pub p95_ratio: Option<f64>,
    pub z: Option<f64>,
    pub share: Option<f64>,
    pub summary: String,
}

/// Evaluates one kind on one series; `None` when the condition does not hold. Severity raised and plan
/// changed are not decided on rollups (the evaluator reads the analysis and the plan history).
pub fn detect(kind: AlertKind, s: &Series, l: &Limits) -> Option<Verdict> {
    match kind {
        AlertKind::Regression => regression(s, l),
        AlertKind::NewClass => new_class(s, l),
        AlertKind::VolumeSpike => volume_spike(s, l),
        AlertKind::SeverityRaised | AlertKind::PlanChanged => None,
    }
}

/// Regression: enough executions on both sides, the window's mean, median and p95 all at least `ratio`
/// times the baseline's, and the Mann-Whitney z of the window over the baseline at least `min_z` (the shift
/// is the distribution's, not a few outliers').
pub fn regression(s: &Series, l: &Limits) -> Option<Verdict> {
    let (w, b) = (&s.window, &s.baseline);
    if w.calls < l.min_calls.max(1) || b.calls < l.min_baseline_calls.max(1) {
        return None;
    }
    let mean_ratio = ratio(w.mean_ms()?, b.mean_ms()?)?;
    let p95_ratio = ratio(w.p95_ms()?, b.p95_ms()?)?;
    // The median too: with a few dozen executions one outlier moves the mean and the p95, not the p50.
    let p50_ratio = ratio(w.histogram.percentile(50.0)?, b.histogram.percentile(50.0)?)?;
    if mean_ratio < l.ratio || p95_ratio < l.ratio || p50_ratio < l.ratio {
        return None;
    }
    let z = mann_whitney_z(&b.histogram, &w.histogram)?;
    if z < l.min_z {
        return None;
    }
    Some(Verdict {
        mean_ratio: Some(mean_ratio),
        p95_ratio: Some(p95_ratio),
        z: Some(z),
        share: None,
        summary: format!(
            "mean {:.1} ms is {mean_ratio:.2}x and p95 {:.1} ms {p95_ratio:.2}x the baseline's \
             ({} executions in the window, {} in the baseline; Mann-Whitney z = {z:.1})",
            w.mean_ms().unwrap_or(0.0),
            w.p95_ms().unwrap_or(0.0),
            w.calls,
            b.calls
        ),
    })
}

/// One plan shape of a class as the plan history counts it: the executions that carried it and their
/// time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanUse<'a> {
    pub summary: &'a str,
    pub executions: u64,
    pub total_ms: f64,
}

impl PlanUse<'_> {
    fn mean_ms(&self) -> Option<f64> {
        (self.executions > 0).then(|| self.total_ms / self.executions as f64)
    }
}

/// Plan changed: the class's current plan shape (`to`, first seen in the window) replaced another
/// (`from`) and made it slower: executions on the new plan are on average at least `ratio` times as slow
/// as on the old one, with at least `min_calls` executions carrying the new plan and
/// `min_baseline_calls` the old. A new plan that is as fast or faster, or seen too few times to tell,
/// is not an alert: the class slowing down for another reason is the regression rule's business.
pub fn plan_changed(from: &PlanUse<'_>, to: &PlanUse<'_>, l: &Limits) -> Option<Verdict> {
    if to.executions < l.min_calls.max(1) || from.executions < l.min_baseline_calls.max(1) {
        return None;
    }
    let (before, after) = (from.mean_ms()?, to.mean_ms()?);
    let mean_ratio = ratio(after, before)?;
    if mean_ratio < l.ratio {
        return None;
    }
    Some(Verdict {
        mean_ratio: Some(mean_ratio),
        p95_ratio: None,
        z: None,
        share: None,
        summary: format!(
            "its plan changed from \"{}\" ({} executions, mean {before:.1} ms) to \"{}\" ({} executions, \
             mean {after:.1} ms): {mean_ratio:.2}x as slow",
            from.summary, from.executions, to.summary, to.executions
        ),
    })
}

/// New class: first observed inside the window, at least `min_calls` executions there, and at least
/// `min_share` of the organization's execution time in the window.
pub fn new_class(s: &Series, l: &Limits) -> Option<Verdict> {
    let w = &s.window;
    if !s.first_seen_in_window || w.calls < l.min_calls.max(1) || s.org_window_ms <= 0.0 {
        return None;
    }
    let share = (w.total_ms / s.org_window_ms).clamp(0.0, 1.0);
    if !share.is_finite() || share < l.min_share {
        return None;
    }
    Some(Verdict {
        mean_ratio: None,
        p95_ratio: None,
        z: None,
        share: Some(share),
        summary: format!(
            "first seen in this window: {} executions, {:.0} ms in all, {:.1}% of the \
             organization's execution time",
            w.calls,
            w.total_ms,
            share * 100.0
        ),
    })
}

/// Volume spike: at least `min_calls` executions in the window, a rate per hour at least `ratio` times
/// the baseline's average hour and above its busiest hour (so a daily peak is not a spike).
pub fn volume_spike(s: &Series, l: &Limits) -> Option<Verdict> {
    let (w, b) = (&s.window, &s.baseline);
    if !s.seen_before_baseline || w.calls < l.min_calls.max(1) || b.calls < l.min_baseline_calls {
        return None;
    }
    let rate = w.calls_per_hour();
    let base_rate = b.calls_per_hour().max(1.0 / f64::from(b.hours.max(1)));
    let r = rate / base_rate;
    if !r.is_finite() || r < l.ratio || rate <= b.busiest_hour as f64 {
        return None;
    }
    Some(Verdict {
        mean_ratio: None,
        p95_ratio: None,
        z: None,
        share: None,
        summary: format!(
            "{rate:.0} executions per hour, {r:.1}x the baseline's {base_rate:.1} and above its \
             busiest hour ({})",
            b.busiest_hour
        ),
    })
}

fn ratio(now: f64, before: f64) -> Option<f64> {
    let r = now / before;
    (before > 0.0 && r.is_finite()).then_some(r)
}

/// The Mann-Whitney U statistic of `later` over `earlier`, as a z score under the null hypothesis that
/// both come from one distribution: positive when `later` is slower. Values sharing a histogram bucket
/// count as ties (half); the variance leaves out the tie correction, which only makes the score smaller
/// (conservative). `None` when a side is empty.
pub fn mann_whitney_z(earlier: &Histogram, later: &Histogram) -> Option<f64> {
    let (na, nb) = (earlier.count() as f64, later.count() as f64);
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    let mut a = earlier.buckets().peekable();
    let mut below = 0.0_f64;
    let mut u = 0.0_f64;
    for (bucket, n) in later.buckets() {
        let mut same = 0.0;
        while let Some(&(ab, an)) = a.peek() {
            if ab < bucket {
                below += an as f64;
                a.next();
            } else {
                if ab == bucket {
                    same = an as f64;
                }
                break;
            }
        }
        u += n as f64 * (below + same / 2.0);
    }
    let mean = na * nb / 2.0;
    let sd = (na * nb * (na + nb + 1.0) / 12.0).sqrt();
    let z = (u - mean) / sd;
    z.is_finite().then_some(z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_change_alerts_only_when_enough_executions_show_the_new_plan_slower() {
        let l = Limits::default_for(AlertKind::PlanChanged);
        let plan = |summary, executions, mean: f64| PlanUse {
            summary,
            executions,
            total_ms: mean * executions as f64,
        };
        let old = plan("t: Index Scan using t_idx", 40, 5.0);
        let v = plan_changed(&old, &plan("t: Seq Scan", 30, 60.0), &l).expect("slower");
        assert_eq!(v.mean_ratio, Some(12.0));
        assert!(
            v.summary.contains("to \"t: Seq Scan\" (30 executions"),
            "{}",
            v.summary
        );
        // Faster, as fast, too few on the new plan, too few on the old, or no execution counted.
        for new in [
            plan("t: Seq Scan", 30, 2.0),
            plan("t: Seq Scan", 30, 6.0),
            plan("t: Seq Scan", 4, 60.0),
            plan("t: Seq Scan", 0, 0.0),
        ] {
            assert_eq!(plan_changed(&old, &new, &l), None, "{new:?}");
        }
        let few_before = plan("t: Index Scan using t_idx", 2, 5.0);
        assert_eq!(
            plan_changed(&few_before, &plan("t: Seq Scan", 30, 60.0), &l),
            None
        );
    }

    fn side(values: &[(f64, u64)], hours: u32) -> Side {
        let mut s = Side {
            hours,
            ..Side::default()
        };
        for &(ms, n) in values {
            s.histogram.record_n(ms, n);
            s.calls += n;
            s.total_ms += ms * n as f64;
            s.busiest_hour = s.busiest_hour.max(n);
        }
        s
    }

    fn spread(center: f64, n: u64) -> Vec<(f64, u64)> {
        (0..n)
            .map(|i| (center * (0.8 + 0.4 * (i as f64 / n.max(1) as f64)), 1))
            .collect()
    }

    #[test]
    fn a_threefold_slowdown_is_a_regression_and_noise_is_not() {
        let baseline = side(&spread(10.0, 500), 168);
        let l = Limits::default_for(AlertKind::Regression);
        let slow = Series {
            window: side(&spread(30.0, 40), 1),
            baseline: baseline.clone(),
            ..Series::default()
        };
        let v = regression(&slow, &l).expect("3x is a regression");
        assert!(v.mean_ratio.expect("ratio") > 2.5, "{v:?}");
        assert!(v.z.expect("z") > 4.0, "{v:?}");
        let same = Series {
            window: side(&spread(11.0, 40), 1),
            baseline: baseline.clone(),
            ..Series::default()
        };
        assert_eq!(regression(&same, &l), None);
        // Too few executions in the window decide nothing.
        let few = Series {
            window: side(&spread(30.0, 5), 1),
            baseline,
            ..Series::default()
        };
        assert_eq!(regression(&few, &l), None);
    }

    #[test]
    fn one_outlier_does_not_move_the_statistic_enough() {
        let mut w = spread(10.0, 39);
        w.push((5000.0, 1));
        let s = Series {
            window: side(&w, 1),
            baseline: side(&spread(10.0, 500), 168),
            ..Series::default()
        };
        // The mean is far above, the p95 is not, and the ranks are not either.
        assert_eq!(
            regression(&s, &Limits::default_for(AlertKind::Regression)),
            None
        );
    }

    #[test]
    fn mann_whitney_is_zero_for_equal_sides_and_signed() {
        let a = side(&spread(10.0, 100), 1).histogram;
        assert!(mann_whitney_z(&a, &a).expect("z").abs() < 1e-9);
        let slower = side(&spread(20.0, 100), 1).histogram;
        assert!(mann_whitney_z(&a, &slower).expect("z") > 5.0);
        assert!(mann_whitney_z(&slower, &a).expect("z") < -5.0);
        assert_eq!(mann_whitney_z(&Histogram::new(), &a), None);
    }

    #[test]
    fn new_classes_need_the_window_and_a_share() {
        let l = Limits::default_for(AlertKind::NewClass);
        let mut s = Series {
            window: side(&[(200.0, 10)], 1),
            first_seen_in_window: true,
            org_window_ms: 20_000.0,
            ..Series::default()
        };
        assert!(new_class(&s, &l).is_some());
        s.org_window_ms = 1e9;
        assert_eq!(new_class(&s, &l), None, "a negligible share");
        s.org_window_ms = 20_000.0;
        s.first_seen_in_window = false;
        assert_eq!(new_class(&s, &l), None, "seen before the window");
    }

    #[test]
    fn a_spike_must_pass_the_busiest_hour() {
        let l = Limits::default_for(AlertKind::VolumeSpike);
        let mut b = side(&[(10.0, 100)], 168);
        b.calls = 168 * 100;
        b.busiest_hour = 300;
        let mut s = Series {
            window: side(&[(10.0, 1000)], 1),
            baseline: b.clone(),
            seen_before_baseline: true,
            ..Series::default()
        };
        assert!(volume_spike(&s, &l).is_some());
        s.seen_before_baseline = false;
        assert_eq!(
            volume_spike(&s, &l),
            None,
            "a young class's baseline is diluted"
        );
        let peak = Series {
            window: side(&[(10.0, 290)], 1),
            baseline: b,
            seen_before_baseline: true,
            ..Series::default()
        };
        assert_eq!(volume_spike(&peak, &l), None);
    }
}
