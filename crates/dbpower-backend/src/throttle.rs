//! Failed-login throttling per account and per client IP, checked before any password hashing.
//! In-process; with several backend processes each keeps its own counts (the gateway's rate limiter
//! bounds the total).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::LoginSettings;

pub struct LoginThrottle {
    limits: LoginSettings,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

impl LoginThrottle {
    pub fn new(limits: LoginSettings) -> LoginThrottle {
        LoginThrottle {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.limits.window_secs.max(1))
    }

    /// `Err(seconds to wait)` when the account or the IP has too many recent failures.
    pub fn check(&self, account: &str, ip: &str, now: Instant) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait = 0u64;
        for (key, max) in [
            (format!("a:{account}"), self.limits.max_failures_per_account),
            (format!("i:{ip}"), self.limits.max_failures_per_ip),
        ] {
            if let Some((count, since)) = map.get(&key) {
                let age = now.saturating_duration_since(*since);
                if *count >= max && age < self.window() {
                    wait = wait.max((self.window() - age).as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    pub fn record_failure(&self, account: &str, ip: &str, now: Instant) {
        let window = self.window();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= SWEEP_AT {
            map.retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
        }
        for key in [format!("a:{account}"), format!("i:{ip}")] {
            let e = map.entry(key).or_insert((0, now));
            if now.saturating_duration_since(e.1) >= window {
                *e = (0, now);
            }
            e.0 += 1;
        }
    }

    /// A successful login clears the account's failures (not the IP's).
    pub fn record_success(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&format!("a:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_limit_and_unlocks_after_the_window() {
        let t = LoginThrottle::new(LoginSettings {
            max_failures_per_account: 3,
            max_failures_per_ip: 5,
            window_secs: 60,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.check("a@x", "1.1.1.1", t0).is_ok());
            t.record_failure("a@x", "1.1.1.1", t0);
        }
        let wait = t.check("a@x", "1.1.1.1", t0).expect_err("locked");
        assert!((59..=60).contains(&wait), "{wait}");
        assert!(
            t.check("b@x", "2.2.2.2", t0).is_ok(),
            "other accounts unaffected"
        );
        assert!(
            t.check("a@x", "1.1.1.1", t0 + Duration::from_secs(61))
                .is_ok(),
            "window passed"
        );
        // The IP limit spans accounts.
        t.record_failure("c@x", "1.1.1.1", t0);
        t.record_failure("d@x", "1.1.1.1", t0);
        assert!(t.check("e@x", "1.1.1.1", t0).is_err());
        t.record_success("a@x");
        assert!(t.check("a@x", "9.9.9.9", t0).is_ok());
    }
}
