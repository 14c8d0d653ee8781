//! Constant-memory latency histograms: logarithmic buckets of base 1.05 starting at 1 microsecond (the
//! scheme pt-query-digest uses), stored sparsely, mergeable across classes and time buckets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

const BASE: f64 = 1.05;
/// Smallest bucket boundary, in milliseconds (1 us).
const MIN_MS: f64 = 0.001;
/// 1000 buckets reach ~1.5e18 us, far beyond any query.
const BUCKETS: u16 = 1000;

/// Bucket index -> count. Serialized as a JSON object `{"bucket": count}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    buckets: BTreeMap<u16, u64>,
}

fn bucket_of(ms: f64) -> u16 {
    if !ms.is_finite() || ms <= MIN_MS {
        return 0;
    }
    let b = ((ms / MIN_MS).ln() / BASE.ln()).floor();
    (b as u16).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in milliseconds.
fn upper_ms(b: u16) -> f64 {
    MIN_MS * BASE.powi(i32::from(b) + 1)
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    pub fn record(&mut self, ms: f64) {
        self.record_n(ms, 1);
    }

    pub fn record_n(&mut self, ms: f64, n: u64) {
        if n > 0 {
            let c = self.buckets.entry(bucket_of(ms)).or_insert(0);
            *c = c.saturating_add(n);
        }
    }

    /// Adds `n` to bucket `b` directly (for rebuilding a stored histogram).
    pub fn record_bucket(&mut self, b: u16, n: u64) {
        if n > 0 {
            let c = self.buckets.entry(b.min(BUCKETS - 1)).or_insert(0);
            *c = c.saturating_add(n);
        }
    }

    /// The non-empty buckets, as (bucket, count).
    pub fn buckets(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.buckets.iter().map(|(b, n)| (*b, *n))
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (b, n) in &other.buckets {
            let c = self.buckets.entry(*b).or_insert(0);
            *c = c.saturating_add(*n);
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets
            .values()
            .fold(0u64, |acc, n| acc.saturating_add(*n))
    }

    /// The value at percentile `p` (0..=100), as its bucket's upper bound (at most 5% high).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * total as f64)
            .ceil()
            .max(1.0) as u64;
        let mut seen = 0u64;
        for (b, n) in &self.buckets {
            seen = seen.saturating_add(*n);
            if seen >= rank {
                return Some(upper_ms(*b));
            }
        }
        self.buckets.keys().next_back().map(|b| upper_ms(*b))
    }

    /// How many buckets are in use (memory is bounded by [`BUCKETS`]).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_five_percent() {
        let mut h = Histogram::new();
        for i in 1..=1000 {
            h.record(f64::from(i));
        }
        for (p, exact) in [(50.0, 500.0), (95.0, 950.0), (99.0, 990.0)] {
            let got = h.percentile(p).expect("value");
            assert!(
                got >= exact && got <= exact * 1.051,
                "p{p}: {got} vs {exact}"
            );
        }
        assert!(h.len() < 200, "constant memory: {} buckets", h.len());
    }

    #[test]
    fn merging_equals_recording_together() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for i in 0..100 {
            let v = f64::from(i) * 3.7;
            if i % 2 == 0 {
                a.record(v)
            } else {
                b.record(v)
            }
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(Histogram::new().percentile(50.0), None);
        let mut odd = Histogram::new();
        odd.record(f64::NAN);
        odd.record(-1.0);
        odd.record(1e30);
        assert_eq!(odd.count(), 3);
        let json = serde_json::to_string(&all).expect("json");
        assert_eq!(
            serde_json::from_str::<Histogram>(&json).expect("parse"),
            all
        );
    }
}
