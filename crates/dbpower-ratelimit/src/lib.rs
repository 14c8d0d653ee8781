//! Exact rate limiting. A request is checked against several sliding windows at once (per organization
//! per minute and per hour, per client IP per minute) and recorded in all of them only if every one
//! allows it: check-then-add, so refused requests never count, and there is no fixed-window burst at a
//! window edge. In Redis the whole decision is one Lua script using Redis's own clock, so any number of
//! gateway processes share exact limits; in process the same algorithm runs under one mutex. When Redis
//! fails, the configured policy applies (default: fall back to the in-process limiter, logged once and
//! reported by `degraded()`), and a Redis call never waits longer than its timeout.
//!
//! Why not the spec's pipeline (INCR then EXPIRE, or GET then SET from the application): two round trips
//! race between gateways, a crash between them leaves a key without expiry, refused requests still
//! increment the counter, and fixed windows allow twice the limit across a window boundary.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

/// One window to check: at most `max` requests per `window` for `key`, or, for a budget window
/// (`units: Some(n)`), at most `max` units, of which this request uses `n` (an ingestion batch's
/// queries). A request using more units than the whole budget uses the whole budget, so it passes once
/// the window is empty instead of never; one using none passes the budget and records nothing in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub max: u32,
    pub window: Duration,
    /// `None`: a request window (each request counts one). `Some(n)`: a budget window.
    pub units: Option<u32>,
}

impl Limit {
    /// A request window: at most `max` requests per `window`.
    pub fn requests(key: impl Into<String>, max: u32, window: Duration) -> Limit {
        Limit {
            key: key.into(),
            max,
            window,
            units: None,
        }
    }

    /// A budget window: at most `max` units per `window`, `units` of them used by this request.
    pub fn budget(key: impl Into<String>, max: u32, window: Duration, units: u32) -> Limit {
        Limit {
            key: key.into(),
            max,
            window,
            units: Some(units),
        }
    }

    /// What this request uses of the window (never more than the whole window).
    fn cost(&self) -> u64 {
        u64::from(self.units.unwrap_or(1).min(self.max))
    }

    /// Whether a window holding `used` refuses this request: it does not fit, or it uses something and
    /// the window is full (a window of 0 refuses everything that uses it).
    fn refuses(&self, used: u64) -> bool {
        let max = u64::from(self.max);
        used + self.cost() > max || (self.units != Some(0) && used >= max)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The most restrictive window's limit, what is left of it, and seconds until it frees a slot.
    pub limit: u32,
    pub remaining: u32,
    pub reset_secs: u64,
    /// When refused: seconds to wait, and why.
    pub retry_after_secs: Option<u64>,
    pub refused_by: Option<Refusal>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This window (its key, e.g. `org:1:m`) is full.
    Window(String),
    /// The limiter could not decide: Redis is down and the policy is [`OnRedisFailure::Deny`].
    Unavailable,
}

/// Why the Redis limiter could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RedisLimiterError {
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(redis::RedisError),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// `redis_url` names one node of a Redis Cluster.
    #[error("redis_url names one node of a Redis Cluster: list its nodes, comma-separated")]
    OneClusterNode,
    /// A key prefix with `{` or `}` would move the keys' hash tags (Redis Cluster slots).
    #[error("the Redis key prefix {0:?} may not contain braces")]
    InvalidPrefix(String),
}

impl Decision {
    fn unlimited() -> Decision {
        Decision {
            allowed: true,
            limit: 0,
            remaining: 0,
            reset_secs: 0,
            retry_after_secs: None,
            refused_by: None,
        }
    }

    /// Builds the decision from each window's [`Usage`] before this request.
    /// `recorded`: whether this request was added to the windows (false for a peek).
    fn from_counts(
        limits: &[Limit],
        counts: &[Usage],
        refused: Option<usize>,
        recorded: bool,
    ) -> Decision {
        let allowed = refused.is_none();
        let mut best: Option<(u32, u32, u64)> = None;
        for (l, u) in limits.iter().zip(counts) {
            let (count, reset_ms) = (&u.used, &u.reset_ms);
            let used = if allowed && recorded {
                count + l.cost()
            } else {
                *count
            };
            let remaining = u64::from(l.max).saturating_sub(used) as u32;
            let reset = reset_ms.div_ceil(1000).max(if used > 0 { 1 } else { 0 });
            if best.is_none_or(|(_, r, _)| remaining < r) {
                best = Some((l.max, remaining, reset));
            }
        }
        let (limit, remaining, reset_secs) = best.unwrap_or((0, 0, 0));
        let refused_limit = refused.and_then(|i| limits.get(i).zip(counts.get(i)));
        Decision {
            allowed,
            limit,
            remaining,
            reset_secs,
            retry_after_secs: refused_limit.map(|(_, u)| u.retry_ms.div_ceil(1000).max(1)),
            refused_by: refused_limit.map(|(l, _)| Refusal::Window(l.key.clone())),
        }
    }
}

/// One window's state before a request: units used, milliseconds until its oldest entry expires, and
/// milliseconds until enough has expired for this request to fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    used: u64,
    reset_ms: u64,
    retry_ms: u64,
}

/// One window's log in process: (time, units) per recorded request, and their sum.
#[derive(Debug, Default)]
struct Window {
    entries: VecDeque<(u64, u64)>,
    used: u64,
}

impl Window {
    /// Drops what is older than `w` ms at `now`.
    fn expire(&mut self, now: u64, w: u64) {
        while let Some(&(t, n)) = self.entries.front() {
            if now.saturating_sub(t) < w {
                break;
            }
            self.entries.pop_front();
            self.used = self.used.saturating_sub(n);
        }
    }

    /// What the window holds for a request of `cost` units out of `max`.
    fn usage(&self, now: u64, w: u64, cost: u64, max: u64) -> Usage {
        let reset_ms = self
            .entries
            .front()
            .map_or(0, |(t, _)| (t + w).saturating_sub(now));
        // The request fits once this much has expired, oldest first.
        let excess = (self.used + cost).saturating_sub(max);
        let mut freed = 0;
        let mut retry_ms = reset_ms;
        for (t, n) in &self.entries {
            if freed >= excess {
                break;
            }
            freed += n;
            retry_ms = (t + w).saturating_sub(now);
        }
        Usage {
            used: self.used,
            reset_ms,
            retry_ms,
        }
    }
}

#[async_trait]
pub trait Limiter: Send + Sync {
    /// Decides, and records the request in every window when all allow it (check-then-add).
    async fn check(&self, limits: &[Limit]) -> Decision;
    /// Decides without recording anything (for counters of events recorded later, like failed logins).
    async fn peek(&self, limits: &[Limit]) -> Decision;
    /// Empties these windows (a successful login clears the account's failures).
    async fn forget(&self, keys: &[String]);
    /// `"redis"`, `"memory"`, or `"memory (redis unavailable)"`.
    fn backend(&self) -> &'static str;
    /// True while Redis is configured but failing.
    fn degraded(&self) -> bool {
        false
    }
}

/// Milliseconds since some fixed point; tests substitute a controlled clock.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> u64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that moves only when told to, for tests of windows and expiry. Clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(std::sync::Arc<AtomicU64>);

impl ManualClock {
    /// Sets the time to `ms`.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Sliding-window log per key in this process; memory is bounded by `max` entries per active key, and
/// keys whose windows emptied are dropped.
pub struct MemoryLimiter<C: Clock = SystemClock> {
    clock: C,
    windows: Mutex<HashMap<String, Window>>,
}

impl MemoryLimiter<SystemClock> {
    pub fn new() -> Self {
        MemoryLimiter {
            clock: SystemClock,
            windows: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for MemoryLimiter<SystemClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> MemoryLimiter<C> {
    pub fn with_clock(clock: C) -> Self {
        MemoryLimiter {
            clock,
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub fn decide(&self, limits: &[Limit]) -> Decision {
        self.decide_with(limits, true)
    }

    /// `record: false` decides without adding the request to any window.
    pub fn decide_with(&self, limits: &[Limit], record: bool) -> Decision {
        if limits.is_empty() {
            return Decision::unlimited();
        }
        let now = self.clock.now_ms();
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            let longest = limits
                .iter()
                .map(|l| l.window.as_millis() as u64)
                .max()
                .unwrap_or(0);
            map.retain(|_, q| {
                q.entries
                    .back()
                    .is_some_and(|(t, _)| now.saturating_sub(*t) < longest.max(3_600_000))
            });
        }
        let mut counts = Vec::with_capacity(limits.len());
        let mut refused = None;
        for (i, l) in limits.iter().enumerate() {
            let w = l.window.as_millis() as u64;
            let q = map.entry(l.key.clone()).or_default();
            q.expire(now, w);
            let usage = q.usage(now, w, l.cost(), u64::from(l.max));
            if l.refuses(usage.used) && refused.is_none() {
                refused = Some(i);
            }
            counts.push(usage);
        }
        if refused.is_none() && record {
            for (i, l) in limits.iter().enumerate() {
                if l.cost() == 0 {
                    continue;
                }
                let q = map.entry(l.key.clone()).or_default();
                q.entries.push_back((now, l.cost()));
                q.used += l.cost();
                if counts[i].used == 0 {
                    counts[i].reset_ms = l.window.as_millis() as u64;
                }
            }
        }
        for l in limits {
            if map.get(&l.key).is_some_and(|q| q.entries.is_empty()) {
                map.remove(&l.key);
            }
        }
        Decision::from_counts(limits, &counts, refused, record)
    }

    pub fn clear(&self, keys: &[String]) {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            map.remove(k);
        }
    }
}

#[async_trait]
impl<C: Clock> Limiter for MemoryLimiter<C> {
    async fn check(&self, limits: &[Limit]) -> Decision {
        self.decide(limits)
    }
    async fn peek(&self, limits: &[Limit]) -> Decision {
        self.decide_with(limits, false)
    }
    async fn forget(&self, keys: &[String]) {
        self.clear(keys);
    }
    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// What to do when Redis is configured but does not answer (setting `rate_limit.on_redis_failure`:
/// `fallback`, `allow` or `deny`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRedisFailure {
    /// Use the in-process limiter (limits then hold per process).
    #[default]
    Fallback,
    /// Let the request through.
    Allow,
    /// Refuse the request (503 from the caller).
    Deny,
}

mod redis_limiter;
pub use redis_limiter::RedisLimiter;

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(key: &str, max: u32, secs: u64) -> Limit {
        Limit::requests(key, max, Duration::from_secs(secs))
    }

    #[test]
    fn exact_count_and_refusals_do_not_count() {
        let clock = ManualClock::default();
        clock.set(1_000_000);
        let l = MemoryLimiter::with_clock(clock.clone());
        let limits = [lim("org:1:m", 5, 60)];
        let allowed = (0..20).filter(|_| l.decide(&limits).allowed).count();
        assert_eq!(allowed, 5);
        let d = l.decide(&limits);
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining, d.retry_after_secs), (5, 0, Some(60)));
        // 59.9 s later still refused; at 60 s the first five slots free up, not before.
        clock.set(1_059_900);
        assert!(!l.decide(&limits).allowed);
        clock.set(1_060_000);
        let d = l.decide(&limits);
        assert!(
            d.allowed,
            "a refused client is not kept locked out once the window passes"
        );
        assert_eq!(d.remaining, 4);
    }

    #[test]
    fn the_window_slides_instead_of_resetting() {
        let clock = ManualClock::default();
        let l = MemoryLimiter::with_clock(clock.clone());
        let limits = [lim("k", 4, 10)];
        for t in [0, 2_000, 4_000, 6_000] {
            clock.set(t);
            assert!(l.decide(&limits).allowed);
        }
        // A fixed window would allow 4 more at t=10 s; the sliding window frees one slot per expiry.
        clock.set(10_000);
        assert!(l.decide(&limits).allowed);
        assert!(!l.decide(&limits).allowed);
        clock.set(12_000);
        assert!(l.decide(&limits).allowed);
        assert!(!l.decide(&limits).allowed);
    }

    #[test]
    fn every_window_must_allow_and_only_then_all_record() {
        let clock = ManualClock::default();
        let l = MemoryLimiter::with_clock(clock);
        let a = lim("org:1:m", 3, 60);
        let ip = lim("ip:x:m", 100, 60);
        for _ in 0..3 {
            assert!(l.decide(&[a.clone(), ip.clone()]).allowed);
        }
        let d = l.decide(&[a.clone(), ip.clone()]);
        assert!(!d.allowed);
        assert_eq!(d.refused_by, Some(Refusal::Window("org:1:m".into())));
        // The refused request was not recorded in the IP window either: 97 left there.
        let other = l.decide(&[lim("org:2:m", 3, 60), ip.clone()]);
        assert!(other.allowed);
        assert_eq!(
            other.remaining, 2,
            "the org window (2 left) is the most restrictive"
        );
        let only_ip = l.decide(&[ip]);
        assert_eq!(only_ip.remaining, 95);
        assert!(l.decide(&[]).allowed);
    }

    #[test]
    fn peek_counts_without_recording_and_forget_empties() {
        let clock = ManualClock::default();
        clock.set(5_000_000);
        let m = MemoryLimiter::with_clock(clock.clone());
        let limits = [lim("a:x@y", 3, 60)];
        for _ in 0..10 {
            assert!(
                m.decide_with(&limits, false).allowed,
                "peeking records nothing"
            );
        }
        for _ in 0..3 {
            assert!(m.decide(&limits).allowed);
        }
        let d = m.decide_with(&limits, false);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, Some(60));
        m.clear(&["a:x@y".to_string()]);
        assert!(m.decide_with(&limits, false).allowed);
        assert_eq!(m.decide_with(&limits, false).remaining, 3);
    }

    #[test]
    fn a_budget_counts_units_and_says_when_a_batch_fits() {
        let clock = ManualClock::default();
        clock.set(1_000_000);
        let l = MemoryLimiter::with_clock(clock.clone());
        let budget = |n| Limit::budget("key:k:q", 10, Duration::from_secs(60), n);
        let d = l.decide(&[budget(4)]);
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (10, 6));
        clock.set(1_010_000);
        assert!(l.decide(&[budget(4)]).allowed);
        // 8 used: 3 more do not fit; the first batch's 4 units free up 60 s after it, 50 s from now.
        clock.set(1_010_000);
        let d = l.decide(&[budget(3)]);
        assert!(!d.allowed);
        assert_eq!(d.refused_by, Some(Refusal::Window("key:k:q".into())));
        assert_eq!((d.remaining, d.retry_after_secs), (2, Some(50)));
        assert!(l.decide(&[budget(2)]).allowed, "what fits still passes");
        // Nothing used passes a full budget and records nothing; a batch larger than the whole budget
        // waits for an empty window instead of never passing.
        assert!(l.decide(&[budget(0)]).allowed);
        clock.set(1_060_000);
        assert!(!l.decide(&[budget(50)]).allowed);
        clock.set(1_070_000);
        let d = l.decide(&[budget(50)]);
        assert!(d.allowed, "{d:?}");
        assert_eq!(d.remaining, 0);
        // A window of 0 refuses whatever uses it.
        let none = Limit::budget("key:z:q", 0, Duration::from_secs(60), 1);
        assert!(!l.decide(&[none]).allowed);
        assert!(!l.decide(&[lim("zero", 0, 60)]).allowed);
    }
}
