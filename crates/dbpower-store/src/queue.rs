//! The analysis job queue: the [`QueueStore`] trait, the claimed job it hands to workers and the row
//! that job is read from. Claims are leased (`FOR UPDATE SKIP LOCKED` on PostgreSQL), completion is
//! fenced by the lease token, retries are bounded by [`MAX_JOB_ATTEMPTS`]. A queued job is due after the
//! debounce window ([`QueueStore::set_analysis_debounce`]); at most one job per class is queued, and a
//! job that a newer one of its class makes pointless is superseded (`last_error` says so).

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::OrgId;
use dbpower_types::AnalysisReport;
use sqlx::types::Json;

use crate::{Result, reads::parse_db_type};

/// A job claimed this many times (failed runs and expired leases alike) is marked failed.
pub const MAX_JOB_ATTEMPTS: i32 = 5;

/// The longest debounce window a store accepts (longer ones are cut to it).
pub const MAX_ANALYSIS_DEBOUNCE: std::time::Duration = std::time::Duration::from_secs(3600);

/// What `last_error` says of a job superseded by a newer job of its class.
pub(crate) const SUPERSEDED: &str = "superseded by a newer job of the class";

/// The debounce window of a store: how long after the evidence that queues it a job becomes due.
#[derive(Debug, Default)]
pub(crate) struct Debounce(AtomicU64);

impl Debounce {
    pub(crate) fn set(&self, window: std::time::Duration) {
        let ms = window.min(MAX_ANALYSIS_DEBOUNCE).as_millis();
        self.0
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub(crate) fn window(&self) -> chrono::Duration {
        let ms = self.0.load(Ordering::Relaxed);
        chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(0))
    }
}

/// The analysis queue (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// How long after the evidence that queues it (a new class, a plan, a schema snapshot, a markedly
    /// worse execution) a job becomes due; evidence arriving meanwhile joins it. 0 (the default) makes
    /// jobs due at once; at most [`MAX_ANALYSIS_DEBOUNCE`].
    fn set_analysis_debounce(&self, window: std::time::Duration);
    /// Queues an analysis due at once (a request): a queued job of the class is made due now instead.
    async fn enqueue_analysis(&self, org: OrgId, class_id: i64, reason: &str) -> Result<()>;
    /// Claims up to `limit` jobs (queued and due, or running with an expired lease) for `lease`. An
    /// expired job that a newer job of its class makes pointless is superseded, not claimed.
    async fn claim_jobs(&self, limit: i64, lease: std::time::Duration) -> Result<Vec<ClaimedJob>>;
    /// Stores the result if the job's lease is still this worker's; false when it was lost. A result
    /// older than one a newer job of the class stored is not written over it (the job is done).
    async fn complete_job(&self, job: &ClaimedJob, report: &AnalysisReport) -> Result<bool>;
    /// Queues the job again (until its attempts run out); when another job of its class is queued,
    /// that one stands and this one is superseded.
    async fn fail_job(&self, job: &ClaimedJob, error: &str) -> Result<()>;
    async fn queue_depth(&self) -> Result<i64>;
    /// When the next queued job becomes due (`None`: nothing is queued).
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>>;
}

/// An analysis job claimed by a worker, with what the analyzer needs.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub organization_id: i64,
    pub class_id: i64,
    pub lease_token: String,
    pub attempts: i32,
    pub database_type: dbpower_types::DatabaseType,
    pub sample_sql: String,
    pub count: i64,
    pub total_time_ms: f64,
    pub max_time_ms: f64,
    /// `None` when no execution of the class reported it (PostgreSQL's sources do not).
    pub rows_examined: Option<i64>,
    pub rows_sent: i64,
    pub lock_time_ms: f64,
    /// The newest EXPLAIN plan and schema snapshot stored for the class, if any.
    pub explain: Option<serde_json::Value>,
    pub schema: Option<serde_json::Value>,
    /// The newest statement hints stored for the class (`dbpower_sql::hints`), if any.
    pub hints: Option<serde_json::Value>,
    /// The organization's total query time, for the class's share of it.
    pub org_total_time_ms: f64,
}

/// A claimed job's row with its class and what the analyzer reads beside it.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedJobRow {
    organization_id: i64,
    class_id: i64,
    attempts: i32,
    database_type: String,
    sample_sql: String,
    count: i64,
    total_time_ms: f64,
    max_time_ms: f64,
    rows_examined: Option<i64>,
    rows_sent: i64,
    lock_time_ms: f64,
    newest_explain: Option<Json<serde_json::Value>>,
    newest_schema: Option<Json<serde_json::Value>>,
    newest_hints: Option<Json<serde_json::Value>>,
    org_total_time_ms: f64,
}

impl ClaimedJobRow {
    pub(crate) fn into_job(self, id: i64, lease_token: String) -> Result<ClaimedJob> {
        Ok(ClaimedJob {
            id,
            organization_id: self.organization_id,
            class_id: self.class_id,
            lease_token,
            attempts: self.attempts,
            database_type: parse_db_type(&self.database_type)?,
            sample_sql: self.sample_sql,
            count: self.count,
            total_time_ms: self.total_time_ms,
            max_time_ms: self.max_time_ms,
            rows_examined: self.rows_examined,
            rows_sent: self.rows_sent,
            lock_time_ms: self.lock_time_ms,
            explain: self.newest_explain.map(|j| j.0),
            schema: self.newest_schema.map(|j| j.0),
            hints: self.newest_hints.map(|j| j.0),
            org_total_time_ms: self.org_total_time_ms,
        })
    }
}

/// A random number for lease tokens (no extra dependency: hashed time and address entropy).
pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128);
    h.finish()
}
