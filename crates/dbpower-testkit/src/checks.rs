//! Invariants every test's database must hold when the test is over: no analysis job left claimed
//! (running under a lease), and every audit chain, the platform's and each organization's, verifies.
//! Each can be switched off for one database or app, with the reason why it cannot hold there.

use std::time::{Duration, Instant};

use sqlx::Connection;

/// Which invariants are checked when the database (or the app that owns it) is dropped.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// Why a claimed job may be left behind; `None`: none may.
    claimed_jobs_allowed: Option<&'static str>,
    /// Why the audit chain may not verify; `None`: it must.
    broken_audit_allowed: Option<&'static str>,
}

const CLAIMED: &str =
    "SELECT COUNT(*) FROM analysis_jobs WHERE status = 'running' AND lease_token IS NOT NULL";

impl Checks {
    /// Nothing to check: the database holds no platform.
    pub(crate) fn not_a_platform_database() -> Checks {
        Checks {
            claimed_jobs_allowed: Some("not a platform database"),
            broken_audit_allowed: Some("not a platform database"),
        }
    }

    /// Nothing left to check (the checks already ran).
    pub(crate) fn done() -> Checks {
        Checks {
            claimed_jobs_allowed: Some("already checked"),
            broken_audit_allowed: Some("already checked"),
        }
    }

    /// Jobs may stay claimed when the test is over, because of `reason`.
    pub fn allow_claimed_jobs(&mut self, reason: &'static str) {
        self.claimed_jobs_allowed = Some(reason);
    }

    /// The audit chain need not verify when the test is over, because of `reason`.
    pub fn allow_broken_audit_chain(&mut self, reason: &'static str) {
        self.broken_audit_allowed = Some(reason);
    }

    /// Checks the database at `url`, giving workers that are still running up to `drain` to finish
    /// the jobs they hold. Panics with what does not hold.
    pub(crate) async fn run(&self, url: &str, drain: Duration) {
        if self.claimed_jobs_allowed.is_none() {
            let until = Instant::now() + drain;
            let mut claimed = claimed_jobs(url).await;
            while claimed > 0 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
                claimed = claimed_jobs(url).await;
            }
            assert_eq!(
                claimed, 0,
                "invariant: {claimed} analysis job(s) left running under a lease \
                 (allow_claimed_jobs(reason) if the test means to)"
            );
        }
        if self.broken_audit_allowed.is_none() {
            let store = dbpower_store::connect(url)
                .await
                .expect("invariant checks: open the store");
            let orgs = store.organization_ids().await.expect("organization ids");
            for chain in std::iter::once(None).chain(orgs.into_iter().map(Some)) {
                let v = store.verify_audit_chain(chain).await.expect("verify");
                assert!(
                    v.valid,
                    "invariant: the audit chain of {} breaks at entry {:?} \
                     (allow_broken_audit_chain(reason) if the test means to)",
                    chain.map_or_else(|| "the platform".into(), |id| format!("organization {id}")),
                    v.first_invalid_id
                );
            }
        }
    }
}

async fn claimed_jobs(url: &str) -> i64 {
    let count = if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(CLAIMED).fetch_one(&mut c).await
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(CLAIMED).fetch_one(&mut c).await
    };
    count.expect("invariant checks: count claimed jobs")
}

/// Runs `f` to completion on a runtime of its own, in a thread of its own: usable from `Drop`, inside
/// or outside a test's runtime. A panic in `f` is raised again here.
pub(crate) fn block_on_own_runtime<F>(f: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let joined = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f);
    })
    .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use crate::TestDb;

    async fn tampered_db() -> TestDb {
        let db = TestDb::sqlite().await;
        for action in ["a", "b"] {
            db.store()
                .append_audit(&dbpower_store::NewAuditEntry {
                    organization_id: None,
                    actor_user_id: None,
                    actor_email: None,
                    action: action.into(),
                    resource_type: "team".into(),
                    resource_id: None,
                    outcome: "success".into(),
                    request_id: None,
                    ip: None,
                    details: serde_json::json!({}),
                })
                .await
                .expect("append");
        }
        let mut c = sqlx::SqliteConnection::connect(db.url())
            .await
            .expect("connect");
        sqlx::raw_sql(
            "DROP TRIGGER audit_logs_no_update; UPDATE audit_logs SET action = 'x' WHERE action = 'b'",
        )
        .execute(&mut c)
        .await
        .expect("tamper");
        db
    }

    #[tokio::test]
    #[should_panic(expected = "invariant: the audit chain of the platform breaks")]
    async fn a_broken_audit_chain_fails_the_test_that_left_it() {
        drop(tampered_db().await);
    }

    #[tokio::test]
    async fn a_test_that_means_to_break_the_chain_says_so() {
        let mut db = tampered_db().await;
        db.checks()
            .allow_broken_audit_chain("this test tampers on purpose");
        drop(db);
    }
}
