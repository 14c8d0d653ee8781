//! Detection quality on a generated workload, the benchmark the alerting issue asks for: 500 query
//! classes over 8 simulated days with labelled regressions (1.2x to 5x), new classes, volume spikes,
//! load swings and noise, stored as the platform stores executions (hourly rollups with a histogram)
//! and evaluated as the evaluator does (every 10 minutes, the window against the 7 days before it).
//! Reports precision and recall per kind and the median minutes from a change's first execution to its
//! alert (`cargo test -p dbpower-analysis --test it detection -- --nocapture`), and holds the default
//! thresholds to the goals: precision >= 0.95 overall, recall >= 0.95 for regressions of 2x and more
//! and for new classes, >= 0.9 for volume spikes, and no alert at all on a class whose load only swings.
//!
//! The workload (deterministic, from [`SEED`]):
//! - every class has a median latency (log-uniform 0.5 ms .. 2 s) and a rate (log-uniform 2 .. 3000
//!   executions per hour), both following a daily curve: the rate from 0.3x at 02:00 to 1.7x at 14:00
//!   (each class shifted by up to 2 hours), the latency 10% slower at the peak (0.7x of load above the
//!   average) and 10% faster at night. Every execution's latency is lognormal around the median
//!   (sigma 0.2), and 0.5% are outliers 5 to 20 times slower. Executions per 10-minute slice are
//!   Poisson, so volume is noisy too;
//! - class 0..60: a regression from a random minute of the last day's first 20 hours on, 10 classes per
//!   factor 1.2, 1.3, 1.5, 2, 3 and 5. Below the default ratio (1.5) a detection is a true positive but
//!   a miss is no false negative;
//! - 60..80: new classes, first executing at such a minute, costing 3% to 8% of the organization's
//!   execution time (the NewClass kind is about classes that matter);
//! - 80..95: volume spikes, 8x the executions from such a minute on, the latency unchanged;
//! - 95..105: load swings, 1.8x the executions for the whole last day and slower with that load the
//!   way the daily peak is (+29% at its peak): no alert is right;
//! - 105..115: new but negligible classes (fast, at most 200 executions per hour): no alert is right;
//! - 115..500: normal.
//!
//! The labels start at most 20 hours into the last day, so each has 4 hours or more to be seen. A
//! label whose class never has the kind's `min_calls` executions after the change inside one window (a
//! regression on a class running a few times an hour) cannot be detected on the window at all; recall
//! is reported over every counted label and over these visible ones, and asserted on the visible.
//!
//! Cost in a debug build: a slice of more than [`SAMPLES`] executions draws that many latencies and
//! records each with its share of the count (`record_n`), outliers one by one; the baseline's histogram
//! is kept as running bucket counts moved an hour at a time (checked against merging the 168 hourly
//! histograms at the end).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use dbpower_analysis::detect::{Limits, Series, Side, detect};
use dbpower_sql::Histogram;
use dbpower_types::AlertKind;

const SEED: u64 = 0xdb90_5eed;
const CLASSES: usize = 500;
/// Minutes.
const DAY: u32 = 24 * 60;
const END: u32 = 8 * DAY;
/// Generation and evaluation step, in minutes (divides an hour, so rollup hours are exact).
const SLICE: u32 = 10;
/// The last day, when the labels start.
const LAST_DAY: u32 = 7 * DAY;
/// Labels start in the last day's first 20 hours.
const LABEL_SPAN: u32 = 20 * 60;
/// Evaluations run from 18:00 on day 7 (six hours of false positives before any label) to the end.
const EVAL_FROM: u32 = LAST_DAY - 6 * 60;
const BASELINE_HOURS: u32 = 7 * 24;
/// Executions of a slice recorded one by one; above it, this many draws carry the count.
const SAMPLES: u64 = 20;
const NOISE_SIGMA: f64 = 0.2;
const OUTLIER_SHARE: f64 = 0.005;
/// Extra latency per 0.7x of load above the class's average (the daily peak's).
const LOAD_SLOWDOWN: f64 = 0.1;
const FACTORS: [f64; 6] = [1.2, 1.3, 1.5, 2.0, 3.0, 5.0];
const SPIKE: f64 = 8.0;
const SWING: f64 = 1.8;
const KINDS: [AlertKind; 3] = [
    AlertKind::Regression,
    AlertKind::NewClass,
    AlertKind::VolumeSpike,
];

/// splitmix64: small and good enough for a workload, and the same numbers on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        self.uniform(lo.ln(), hi.ln()).exp()
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Poisson: Knuth's product of uniforms below a mean of 30, the normal approximation above.
    fn poisson(&mut self, mean: f64) -> u64 {
        if mean <= 0.0 {
            return 0;
        }
        if mean < 30.0 {
            let limit = (-mean).exp();
            let (mut k, mut p) = (0u64, self.unit());
            while p > limit {
                k += 1;
                p *= self.unit();
            }
            k
        } else {
            (mean + mean.sqrt() * self.normal()).round().max(0.0) as u64
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Label {
    /// The daily swing and noise only.
    Normal,
    /// Executions from the start on are this many times slower.
    Regression(f64),
    /// First executes at the start and costs a share of the organization's time.
    New,
    /// First executes at the start but costs next to nothing: must not alert.
    NewMinor,
    /// [`SPIKE`] times the executions from the start on, latency unchanged.
    Spike,
    /// [`SWING`] times the executions for the last day, slower with the load: must not alert.
    Swing,
}

impl Label {
    /// The alert the label is.
    fn kind(self) -> Option<AlertKind> {
        match self {
            Label::Regression(_) => Some(AlertKind::Regression),
            Label::New => Some(AlertKind::NewClass),
            Label::Spike => Some(AlertKind::VolumeSpike),
            Label::Normal | Label::NewMinor | Label::Swing => None,
        }
    }

    /// Whether recall counts it: a regression below the default ratio is no miss when not caught.
    fn counted(self) -> bool {
        match self {
            Label::Regression(f) => f >= 1.5,
            l => l.kind().is_some(),
        }
    }
}

struct Class {
    label: Label,
    /// Minute the label's change begins (0 for a normal class).
    start: u32,
    base_ms: f64,
    per_hour: f64,
    /// Minutes the class's daily curve is shifted by.
    phase: f64,
}

impl Class {
    fn changed(&self, t: f64) -> bool {
        self.label != Label::Normal && t >= f64::from(self.start)
    }

    /// The daily curve: 0.3 at 02:00, 1.7 at 14:00 (shifted by the phase), 1 on average.
    fn daily(&self, t: f64) -> f64 {
        let at = (t - 14.0 * 60.0 - self.phase) / f64::from(DAY);
        1.0 + 0.7 * (std::f64::consts::TAU * at).cos()
    }

    /// Load relative to the class's average: the daily curve, times the swing.
    fn load(&self, t: f64) -> f64 {
        let swing = if self.label == Label::Swing && self.changed(t) {
            SWING
        } else {
            1.0
        };
        self.daily(t) * swing
    }

    /// Executions per minute at `t`.
    fn rate(&self, t: f64) -> f64 {
        let exists = !matches!(self.label, Label::New | Label::NewMinor) || self.changed(t);
        let spike = if self.label == Label::Spike && self.changed(t) {
            SPIKE
        } else {
            1.0
        };
        if exists {
            self.per_hour / 60.0 * self.load(t) * spike
        } else {
            0.0
        }
    }

    /// The median latency at `t`, in ms.
    fn latency(&self, t: f64) -> f64 {
        let regression = match self.label {
            Label::Regression(f) if self.changed(t) => f,
            _ => 1.0,
        };
        self.base_ms * (1.0 + LOAD_SLOWDOWN * (self.load(t) - 1.0) / 0.7) * regression
    }
}

fn workload(rng: &mut Rng) -> Vec<Class> {
    let mut classes: Vec<Class> = (0..CLASSES)
        .map(|i| {
            let label = match i {
                0..60 => Label::Regression(FACTORS[i % FACTORS.len()]),
                60..80 => Label::New,
                80..95 => Label::Spike,
                95..105 => Label::Swing,
                105..115 => Label::NewMinor,
                _ => Label::Normal,
            };
            let start = match label {
                Label::Normal => 0,
                Label::Swing => LAST_DAY,
                _ => LAST_DAY + (rng.unit() * f64::from(LABEL_SPAN)) as u32,
            };
            let (base_ms, per_hour) = match label {
                // The rate follows from the share, below.
                Label::New => (rng.log_uniform(50.0, 2000.0), 0.0),
                Label::NewMinor => (rng.log_uniform(0.5, 20.0), rng.log_uniform(5.0, 200.0)),
                _ => (rng.log_uniform(0.5, 2000.0), rng.log_uniform(2.0, 3000.0)),
            };
            Class {
                label,
                start,
                base_ms,
                per_hour,
                phase: rng.uniform(-120.0, 120.0),
            }
        })
        .collect();
    // A new class costs 3% to 8% of the organization's expected execution time at its start, the new
    // classes before it included.
    let mut new: Vec<usize> = (0..CLASSES)
        .filter(|&i| classes[i].label == Label::New)
        .collect();
    new.sort_by_key(|&i| classes[i].start);
    for i in new {
        let t = f64::from(classes[i].start);
        let org: f64 = classes.iter().map(|o| o.rate(t) * o.latency(t)).sum();
        let share = rng.uniform(0.03, 0.08);
        let c = &mut classes[i];
        c.per_hour = share * org * 60.0 / (c.daily(t) * c.latency(t));
    }
    classes
}

/// One rollup: a class's executions in one clock hour (or the current hour so far).
#[derive(Default)]
struct Hour {
    calls: u64,
    total_ms: f64,
    /// Executions at or after the label's start.
    changed: u64,
    histogram: Histogram,
}

impl Hour {
    fn record(&mut self, ms: f64, n: u64) {
        self.histogram.record_n(ms, n);
        self.total_ms += ms * n as f64;
    }
}

/// The baseline's bucket counts over the hours `from..to`, moved an hour at a time.
#[derive(Default)]
struct Baseline {
    from: usize,
    to: usize,
    buckets: Vec<u64>,
}

impl Baseline {
    fn advance(&mut self, hours: &[Hour], to: usize) {
        while self.to < to {
            for (b, n) in hours[self.to].histogram.buckets() {
                let b = usize::from(b);
                if b >= self.buckets.len() {
                    self.buckets.resize(b + 1, 0);
                }
                self.buckets[b] += n;
            }
            self.to += 1;
        }
        let from = to.saturating_sub(BASELINE_HOURS as usize);
        while self.from < from {
            for (b, n) in hours[self.from].histogram.buckets() {
                self.buckets[usize::from(b)] -= n;
            }
            self.from += 1;
        }
    }

    fn side(&self, hours: &[Hour]) -> Side {
        let span = &hours[self.from..self.to];
        let mut histogram = Histogram::new();
        for (b, &n) in self.buckets.iter().enumerate() {
            histogram.record_bucket(u16::try_from(b).expect("a histogram bucket"), n);
        }
        Side {
            calls: span.iter().map(|h| h.calls).sum(),
            total_ms: span.iter().map(|h| h.total_ms).sum(),
            hours: BASELINE_HOURS,
            busiest_hour: span.iter().map(|h| h.calls).max().unwrap_or(0),
            histogram,
        }
    }
}

/// A class's stored executions and what the evaluator last built from them.
#[derive(Default)]
struct Track {
    /// Completed clock hours, from the run's first.
    hours: Vec<Hour>,
    current: Hour,
    first_minute: Option<u32>,
    baseline: Baseline,
    series: Series,
    /// Some window held the label kind's `min_calls` executions after the change.
    visible: bool,
}

impl Track {
    /// The class's executions in `from..to` (minutes), all in one regime.
    fn execute(&mut self, c: &Class, from: u32, to: u32, rng: &mut Rng) {
        let mid = f64::from(from + to) / 2.0;
        let n = rng.poisson(c.rate(mid) * f64::from(to - from));
        if n == 0 {
            return;
        }
        let median = c.latency(mid);
        let h = &mut self.current;
        let outliers = rng.poisson(n as f64 * OUTLIER_SHARE).min(n);
        for _ in 0..outliers {
            let ms = median * (NOISE_SIGMA * rng.normal()).exp() * rng.uniform(5.0, 20.0);
            h.record(ms, 1);
        }
        let rest = n - outliers;
        for i in 0..rest.min(SAMPLES) {
            let weight = if rest <= SAMPLES {
                1
            } else {
                rest / SAMPLES + u64::from(i < rest % SAMPLES)
            };
            h.record(median * (NOISE_SIGMA * rng.normal()).exp(), weight);
        }
        h.calls += n;
        if c.changed(mid) {
            h.changed += n;
        }
        self.first_minute.get_or_insert(from);
    }

    /// The series at `now`, whose window starts at hour `window_start`: the window spans its started
    /// hours (1 on the hour, 2 after it), as the evaluator counts them, the baseline 168.
    fn refresh(&mut self, window_start: usize, now: u32) {
        if self.baseline.to != window_start {
            self.baseline.advance(&self.hours, window_start);
            self.series.baseline = self.baseline.side(&self.hours);
        }
        let (last, current) = (&self.hours[window_start], &self.current);
        let mut histogram = last.histogram.clone();
        histogram.merge(&current.histogram);
        self.series.window = Side {
            calls: last.calls + current.calls,
            total_ms: last.total_ms + current.total_ms,
            hours: (now - window_start as u32 * 60).div_ceil(60),
            busiest_hour: last.calls.max(current.calls),
            histogram,
        };
        self.series.first_seen_in_window = self
            .first_minute
            .is_some_and(|m| m as usize >= window_start * 60);
        // As the evaluator: the class existed before the baseline began.
        self.series.seen_before_baseline = self
            .first_minute
            .is_some_and(|m| (m as usize) < window_start.saturating_sub(168) * 60);
    }
}

/// (kind index in [`KINDS`], class) -> the minute of its first alert.
type Alerts = BTreeMap<(usize, usize), u32>;

/// One evaluation at `now` (a multiple of [`SLICE`]): the window is the last full hour and the current
/// hour so far, the baseline the 168 hours before it.
fn evaluate(now: u32, classes: &[Class], tracks: &mut [Track], alerts: &mut Alerts) {
    let window_start = (now / 60 - 1) as usize;
    let mut org_window_ms = 0.0;
    for (c, t) in classes.iter().zip(tracks.iter_mut()) {
        t.refresh(window_start, now);
        org_window_ms += t.series.window.total_ms;
        if let Some(kind) = c.label.kind() {
            let changed = t.hours[window_start].changed + t.current.changed;
            t.visible |= changed >= Limits::default_for(kind).min_calls;
        }
    }
    for (i, t) in tracks.iter_mut().enumerate() {
        t.series.org_window_ms = org_window_ms;
        for (k, &kind) in KINDS.iter().enumerate() {
            if !alerts.contains_key(&(k, i))
                && detect(kind, &t.series, &Limits::default_for(kind)).is_some()
            {
                alerts.insert((k, i), now);
            }
        }
    }
}

#[derive(Default)]
struct Score {
    labels: usize,
    /// Labels recall counts.
    counted: usize,
    /// Labels some window could show (the kind's `min_calls` executions after the change).
    visible: usize,
    /// Labels recall counts that some window could show.
    visible_counted: usize,
    tp: usize,
    fp: usize,
    tp_counted: usize,
    tp_visible: usize,
    /// Minutes from the label's start to the alert, per true positive.
    delays: Vec<u32>,
}

impl Score {
    fn precision(&self) -> Option<f64> {
        fraction(self.tp, self.tp + self.fp)
    }

    fn recall(&self) -> Option<f64> {
        fraction(self.tp_counted, self.counted)
    }

    fn recall_visible(&self) -> Option<f64> {
        fraction(self.tp_visible, self.visible_counted)
    }
}

/// Labels of one kind (and, for regressions, one factor) and their alerts of that kind.
fn score(
    classes: &[Class],
    tracks: &[Track],
    alerts: &Alerts,
    k: usize,
    only: impl Fn(Label) -> bool,
) -> Score {
    let kind = KINDS[k];
    let mut s = Score::default();
    for (i, (c, t)) in classes.iter().zip(tracks).enumerate() {
        let labelled = c.label.kind() == Some(kind) && only(c.label);
        let alert = alerts.get(&(k, i)).copied();
        if labelled {
            s.labels += 1;
            s.counted += usize::from(c.label.counted());
            s.visible += usize::from(t.visible);
            s.visible_counted += usize::from(c.label.counted() && t.visible);
        }
        match alert {
            Some(at) if labelled && at >= c.start => {
                s.tp += 1;
                s.delays.push(at - c.start);
                s.tp_counted += usize::from(c.label.counted());
                s.tp_visible += usize::from(c.label.counted() && t.visible);
            }
            // A false positive counts in the kind's own score only.
            Some(_) if c.label.kind() != Some(kind) || only(c.label) => s.fp += 1,
            _ => {}
        }
    }
    s
}

fn fraction(n: usize, of: usize) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

fn median(v: &[u32]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_unstable();
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(f64::from(v[n / 2])),
        _ => Some(f64::from(v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn show(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "-".to_string(), |x| format!("{x:.decimals$}"))
}

#[test]
fn detection_quality_on_a_generated_eight_day_workload() {
    let mut rng = Rng(SEED);
    let classes = workload(&mut rng);
    let mut tracks: Vec<Track> = classes.iter().map(|_| Track::default()).collect();
    let mut alerts = Alerts::new();
    let mut evaluations = 0;
    for slice in 0..END / SLICE {
        let (from, to) = (slice * SLICE, (slice + 1) * SLICE);
        for (c, t) in classes.iter().zip(tracks.iter_mut()) {
            if from < c.start && c.start < to {
                t.execute(c, from, c.start, &mut rng);
                t.execute(c, c.start, to, &mut rng);
            } else {
                t.execute(c, from, to, &mut rng);
            }
        }
        if to % 60 == 0 {
            for t in &mut tracks {
                let hour = std::mem::take(&mut t.current);
                t.hours.push(hour);
            }
        }
        if to >= EVAL_FROM {
            evaluate(to, &classes, &mut tracks, &mut alerts);
            evaluations += 1;
        }
    }

    // The running baseline is what merging its hours' histograms gives.
    for t in tracks.iter().step_by(25) {
        let mut merged = Histogram::new();
        for h in &t.hours[t.baseline.from..t.baseline.to] {
            merged.merge(&h.histogram);
        }
        assert_eq!(merged, t.series.baseline.histogram, "running baseline");
    }

    let all = |_: Label| true;
    let scores: Vec<Score> = (0..KINDS.len())
        .map(|k| score(&classes, &tracks, &alerts, k, all))
        .collect();
    let (tp, fp) = scores
        .iter()
        .fold((0, 0), |(tp, fp), s| (tp + s.tp, fp + s.fp));
    let precision = fraction(tp, tp + fp).unwrap_or(1.0);
    let factor = |f: f64| {
        score(&classes, &tracks, &alerts, 0, move |l| {
            l == Label::Regression(f)
        })
    };
    let at_least_2x = score(
        &classes,
        &tracks,
        &alerts,
        0,
        |l| matches!(l, Label::Regression(f) if f >= 2.0),
    );
    let at_1_5x = factor(1.5);
    let alerted = |label: Label| {
        alerts
            .keys()
            .filter(|&&(_, i)| classes[i].label == label)
            .count()
    };

    let mut report = String::new();
    let r = &mut report;
    let _ = writeln!(
        r,
        "\nDetection on a generated workload: {CLASSES} classes over 8 days, {evaluations} \
         evaluations every {SLICE} min from day 7 18:00 to the end, default thresholds"
    );
    let _ = writeln!(
        r,
        "{:<13} {:>6} {:>7} {:>7} {:>4} {:>4} {:>4} {:>9} {:>6} {:>14} {:>18}",
        "kind",
        "labels",
        "counted",
        "visible",
        "TP",
        "FP",
        "FN",
        "precision",
        "recall",
        "recall visible",
        "median min to alert"
    );
    for (kind, s) in KINDS.iter().zip(&scores) {
        let _ = writeln!(
            r,
            "{:<13} {:>6} {:>7} {:>7} {:>4} {:>4} {:>4} {:>9} {:>6} {:>14} {:>18}",
            kind.as_str(),
            s.labels,
            s.counted,
            s.visible_counted,
            s.tp,
            s.fp,
            s.counted - s.tp_counted,
            show(s.precision(), 3),
            show(s.recall(), 3),
            show(s.recall_visible(), 3),
            show(median(&s.delays), 0),
        );
    }
    let _ = writeln!(r, "overall: {tp} TP, {fp} FP, precision {precision:.3}");
    let _ = writeln!(
        r,
        "regressions by factor (TP over labels; visible: a window held >= 20 slow executions):"
    );
    for f in FACTORS {
        let s = factor(f);
        let _ = writeln!(
            r,
            "  {f:>3}x: {:>2}/{:<2} detected, {:>2} visible, {:>2} of them detected, median {} min \
             to alert",
            s.tp,
            s.labels,
            s.visible,
            s.tp_visible,
            show(median(&s.delays), 0),
        );
    }
    let _ = writeln!(
        r,
        "regression recall >= 2x: {} ({}/{}), visible {} ({}/{}); 1.5x: {} ({}/{}), visible {} \
         ({}/{})",
        show(at_least_2x.recall(), 3),
        at_least_2x.tp_counted,
        at_least_2x.counted,
        show(at_least_2x.recall_visible(), 3),
        at_least_2x.tp_visible,
        at_least_2x.visible_counted,
        show(at_1_5x.recall(), 3),
        at_1_5x.tp_counted,
        at_1_5x.counted,
        show(at_1_5x.recall_visible(), 3),
        at_1_5x.tp_visible,
        at_1_5x.visible_counted,
    );
    let _ = writeln!(
        r,
        "alerts on load-swing classes: {}, on negligible new classes: {}, on normal classes: {}",
        alerted(Label::Swing),
        alerted(Label::NewMinor),
        alerted(Label::Normal),
    );
    let mut false_positives: Vec<String> = Vec::new();
    for (&(k, i), &at) in &alerts {
        let c = &classes[i];
        if c.label.kind() != Some(KINDS[k]) || at < c.start {
            false_positives.push(format!(
                "{} on class {i} ({:?}, {:.0}/h, {:.1} ms) at day {} {:02}:{:02}",
                KINDS[k].as_str(),
                c.label,
                c.per_hour,
                c.base_ms,
                at / DAY + 1,
                at % DAY / 60,
                at % 60,
            ));
        }
    }
    if !false_positives.is_empty() {
        let _ = writeln!(r, "false positives:\n  {}", false_positives.join("\n  "));
    }
    println!("{report}");

    let [regression, new_class, volume_spike] = &scores[..] else {
        unreachable!("three kinds")
    };
    assert!(precision >= 0.95, "overall precision below 0.95{report}");
    assert!(
        at_least_2x.recall_visible().unwrap_or(0.0) >= 0.95,
        "recall of regressions >= 2x below 0.95{report}"
    );
    assert!(
        new_class.recall().unwrap_or(0.0) >= 0.95,
        "new-class recall below 0.95{report}"
    );
    assert!(
        volume_spike.recall_visible().unwrap_or(0.0) >= 0.9,
        "volume-spike recall below 0.9{report}"
    );
    assert_eq!(alerted(Label::Swing), 0, "a load swing alerted{report}");
    assert_eq!(
        (regression.labels, new_class.labels, volume_spike.labels),
        (60, 20, 15),
        "labels"
    );
    // The visible share must not hollow the benchmark out: most labels are within reach.
    assert!(
        at_least_2x.visible_counted >= 20 && volume_spike.visible_counted >= 10,
        "too few visible labels{report}"
    );
}
