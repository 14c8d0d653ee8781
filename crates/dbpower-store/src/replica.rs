//! A PostgreSQL streaming replica for the heavy reads (slow-query and class lists, a class's series, the
//! dashboard, the workload's classes): measured once a second on a connection of its own (has it
//! replayed the primary's current WAL position? if not, how old is the last transaction it replayed),
//! and used only while it answers and lags less than its bound; otherwise those reads go to the
//! primary, and the log says so once per change. A read sent to a replica that has just stopped fails
//! (its pool's 2 s wait) until the next probe notices. Writes, authentication, and every read of what a caller may just
//! have written (its settings, members, keys, rules) always use the primary.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{Result, StoreError};

/// How the replica is reached and how far behind it may be.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    pub url: String,
    /// Above this lag (or when the replica does not answer) reads go to the primary.
    pub max_lag: Duration,
}

/// What `/ready` and `/metrics` show of the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaStatus {
    /// Its replay lag at the last measurement; `None` while it does not answer.
    pub lag_ms: Option<u64>,
    /// Whether the reads it serves go to it now.
    pub in_use: bool,
    /// The bound, in ms.
    pub max_lag_ms: u64,
}

/// How often the lag is measured.
const PROBE_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Replica {
    pub(crate) pool: PgPool,
    /// One connection of its own for the probe, so that busy reads cannot starve it.
    probe: PgPool,
    /// The primary, whose WAL position says what the replica should have replayed.
    primary: PgPool,
    max_lag: Duration,
    /// The last lag in ms, `-1` when the last probe failed.
    lag_ms: AtomicI64,
    in_use: AtomicBool,
}

impl Replica {
    /// Connects lazily (a replica down at start is measured as down, not an error) and starts the probe.
    pub(crate) fn start(config: &ReplicaConfig, primary: &PgPool) -> Result<Arc<Replica>> {
        let lazy = |connections: u32| {
            PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(2))
                .connect_lazy(&config.url)
                .map_err(|e| {
                    StoreError::Unavailable(format!(
                        "bad replica URL {}: {e}",
                        crate::redact_url(&config.url)
                    ))
                })
        };
        let replica = Arc::new(Replica {
            pool: lazy(16)?,
            probe: lazy(1)?,
            primary: primary.clone(),
            max_lag: config.max_lag,
            lag_ms: AtomicI64::new(-1),
            in_use: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&replica);
        tokio::spawn(probe_forever(weak));
        Ok(replica)
    }

    pub(crate) fn in_use(&self) -> bool {
        self.in_use.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> ReplicaStatus {
        ReplicaStatus {
            lag_ms: u64::try_from(self.lag_ms.load(Ordering::Relaxed)).ok(),
            in_use: self.in_use(),
            max_lag_ms: u64::try_from(self.max_lag.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// One measurement: the replay lag in ms. 0 when the replica has replayed everything the primary
    /// had written just before (whatever its WAL receiver says: a receiver that stopped looks caught
    /// up on the replica alone); otherwise the age of the last transaction it replayed.
    async fn lag(&self) -> std::result::Result<i64, String> {
        let within = Duration::from_secs(2);
        let written: String = tokio::time::timeout(
            within,
            sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&self.primary),
        )
        .await
        .map_err(|_| "the primary did not answer within 2 s".to_string())?
        .map_err(|e| format!("the primary: {e}"))?;
        let row: (bool, bool, Option<f64>) = tokio::time::timeout(
            within,
            sqlx::query_as(
                "SELECT pg_is_in_recovery(), \
                 COALESCE(pg_last_wal_replay_lsn() >= $1::pg_lsn, false), \
                 (EXTRACT(EPOCH FROM (clock_timestamp() - pg_last_xact_replay_timestamp())) \
                 * 1000)::float8",
            )
            .bind(written)
            .fetch_one(&self.probe),
        )
        .await
        .map_err(|_| "no answer within 2 s".to_string())?
        .map_err(|e| e.to_string())?;
        match row {
            (false, _, _) => Err("the server is not a replica (not in recovery)".into()),
            (true, true, _) => Ok(0),
            (true, false, None) => Err("behind the primary, with nothing replayed yet".into()),
            (true, false, Some(ms)) => Ok(ms.max(0.0).min(i64::MAX as f64) as i64),
        }
    }

    /// Measures once and switches reads, logging a change once.
    async fn probe(&self) {
        let measured = self.lag().await;
        let ok = matches!(&measured, Ok(ms) if u128::try_from(*ms).unwrap_or(0) <= self.max_lag.as_millis());
        self.lag_ms
            .store(*measured.as_ref().unwrap_or(&-1), Ordering::Relaxed);
        if self.in_use.swap(ok, Ordering::Relaxed) == ok {
            return;
        }
        match measured {
            _ if ok => tracing::info!("read replica in use for list and dashboard reads"),
            Ok(ms) => tracing::warn!(
                lag_ms = ms,
                max_lag_ms = self.max_lag.as_millis() as u64,
                "read replica lags past its bound: reads go to the primary"
            ),
            Err(e) => tracing::warn!(error = %e, "read replica unusable: reads go to the primary"),
        }
    }
}

async fn probe_forever(replica: Weak<Replica>) {
    loop {
        let Some(r) = replica.upgrade() else { return };
        r.probe().await;
        drop(r);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}
