//! Failed-login throttling per account and per client IP, checked before any password hashing.
//!
//! Failures are counted in sliding windows of the rate limiter (`dbpower-ratelimit`): in Redis when
//! `redis_url` is set, so every backend process shares the counts, else in process. A check only
//! peeks; a failure is recorded; a success clears the account's failures (not the IP's). Keys hold a
//! SHA-256 of the email and address, never the email itself.

use std::sync::Arc;
use std::time::Duration;

use dbpower_ratelimit::{Limit, Limiter};

use crate::config::LoginSettings;

pub(crate) struct LoginThrottle {
    limits: LoginSettings,
    limiter: Arc<dyn Limiter>,
    hashing: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

/// Password checks one client address may have running at once. Every login costs a bcrypt hash, even a
/// successful one (which the failure throttle does not count), so one address cannot keep the hashing
/// threads busy for everyone.
pub(crate) const HASHES_PER_ADDRESS: u32 = 2;

/// A password check in flight for one address; dropping it frees the slot.
pub(crate) struct HashSlot {
    ip: String,
    hashing: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl Drop for HashSlot {
    fn drop(&mut self) {
        let mut m = self.hashing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

impl LoginThrottle {
    pub(crate) fn new(limits: LoginSettings, limiter: Arc<dyn Limiter>) -> LoginThrottle {
        LoginThrottle {
            limits,
            limiter,
            hashing: Default::default(),
        }
    }

    /// A slot for one password check from `ip`, or `None` while [`HASHES_PER_ADDRESS`] are running.
    pub(crate) fn hash_slot(&self, ip: &str) -> Option<HashSlot> {
        let mut m = self.hashing.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip.to_string()).or_insert(0);
        if *n >= HASHES_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(HashSlot {
            ip: ip.to_string(),
            hashing: self.hashing.clone(),
        })
    }

    fn account_key(account: &str) -> String {
        format!(
            "login:a:{}",
            dbpower_core::signing::body_hash(account.as_bytes())
        )
    }

    fn windows(&self, account: &str, ip: &str) -> [Limit; 2] {
        let window = Duration::from_secs(self.limits.window_secs.max(1));
        [
            Limit::requests(
                Self::account_key(account),
                self.limits.max_failures_per_account,
                window,
            ),
            Limit::requests(
                format!(
                    "login:i:{}",
                    dbpower_core::signing::body_hash(ip.as_bytes())
                ),
                self.limits.max_failures_per_ip,
                window,
            ),
        ]
    }

    /// `Err(seconds to wait)` when the account or the IP has too many recent failures.
    pub(crate) async fn check(&self, account: &str, ip: &str) -> Result<(), u64> {
        let d = self.limiter.peek(&self.windows(account, ip)).await;
        if d.allowed {
            Ok(())
        } else {
            Err(d.retry_after_secs.unwrap_or(1).max(1))
        }
    }

    pub(crate) async fn record_failure(&self, account: &str, ip: &str) {
        self.limiter.check(&self.windows(account, ip)).await;
    }

    /// A successful login clears the account's failures (not the IP's).
    pub(crate) async fn record_success(&self, account: &str) {
        self.limiter.forget(&[Self::account_key(account)]).await;
    }

    /// Whether a throttled attempt from `ip` gets its own audit row: the first one per address and
    /// window does; the rest of that window is summed up by that row's note, so a flood of refused logins cannot grow the append-only audit log.
    pub(crate) async fn audit_throttled(&self, ip: &str) -> bool {
        let window = Duration::from_secs(self.limits.window_secs.max(1));
        self.limiter
            .check(&[Limit::requests(
                format!(
                    "login:t:{}",
                    dbpower_core::signing::body_hash(ip.as_bytes())
                ),
                1,
                window,
            )])
            .await
            .allowed
    }

    /// The window in seconds over which failures are counted.
    pub(crate) fn window_secs(&self) -> u64 {
        self.limits.window_secs.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbpower_ratelimit::{ManualClock, MemoryLimiter};

    #[tokio::test]
    async fn locks_after_the_limit_and_unlocks_as_the_window_slides() {
        let clock = ManualClock::default();
        clock.set(10_000_000);
        let t = LoginThrottle::new(
            LoginSettings {
                max_failures_per_account: 3,
                max_failures_per_ip: 5,
                window_secs: 60,
            },
            Arc::new(MemoryLimiter::with_clock(clock.clone())),
        );
        for _ in 0..3 {
            assert!(t.check("a@x", "1.1.1.1").await.is_ok());
            t.record_failure("a@x", "1.1.1.1").await;
        }
        let wait = t.check("a@x", "1.1.1.1").await.expect_err("locked");
        assert_eq!(wait, 60);
        assert!(
            t.check("b@x", "2.2.2.2").await.is_ok(),
            "other accounts unaffected"
        );
        clock.advance(61_000);
        assert!(t.check("a@x", "1.1.1.1").await.is_ok(), "window passed");
        // The IP limit spans accounts.
        for who in ["c@x", "d@x", "e@x", "f@x", "g@x"] {
            t.record_failure(who, "1.1.1.1").await;
        }
        assert!(t.check("h@x", "1.1.1.1").await.is_err());
        // Success clears the account, not the address.
        for _ in 0..3 {
            t.record_failure("a@x", "9.9.9.9").await;
        }
        assert!(t.check("a@x", "9.9.9.9").await.is_err());
        t.record_success("a@x").await;
        assert!(t.check("a@x", "9.9.9.9").await.is_ok());
        assert!(
            t.check("a@x", "1.1.1.1").await.is_err(),
            "the address stays locked"
        );
    }
}
