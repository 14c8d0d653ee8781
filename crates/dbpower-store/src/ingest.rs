//! Ingestion and retention: the [`IngestStore`] trait, the batches it takes, and the per-class
//! aggregation of a batch. One ingestion group is one transaction whose number of statements grows
//! per 500 rows (`CHUNK`), not per row (the steps are in `sql/ingest.rs`): idempotency records, class upsert, slow-query
//! insert, histogram/database/rollup upserts, job enqueue, percentile refresh, stored responses.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use dbpower_core::OrgId;
use dbpower_sql::Histogram;

use crate::{ApiKeyRecord, Result, StoreError};

/// Ingestion and retention (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Stores a scrubbed, fingerprinted batch in one transaction; a request id seen before for the same
    /// key stores nothing and returns the first outcome.
    async fn ingest(&self, org: OrgId, batch: &NewBatch) -> Result<IngestOutcome> {
        let mut out = self
            .ingest_many(std::slice::from_ref(&(org, batch.clone())))
            .await?;
        out.pop()
            .unwrap_or_else(|| Err(StoreError::Corrupt("no outcome".into())))
    }
    /// The api key with this public id and its organization's settings and retention, in one round trip
    /// (ingestion's per-request lookup).
    async fn ingest_credential(&self, key_id: &str) -> Result<IngestCredential>;
    /// Stores several batches in one transaction (group commit); one result per batch, in order.
    async fn ingest_many(
        &self,
        batches: &[(OrgId, NewBatch)],
    ) -> Result<Vec<Result<IngestOutcome>>>;
    // Retention.
    async fn delete_slow_queries_before(&self, org: OrgId, cutoff: DateTime<Utc>) -> Result<u64>;
    async fn prune_ingest_requests(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Makes the day partitions of `slow_queries` from the day before `now` to a week after it
    /// (PostgreSQL; nothing to do on SQLite): how many it made.
    async fn maintain_partitions(&self, now: DateTime<Utc>) -> Result<u64>;
    /// Drops each partition of `slow_queries` that ends at or before `before`, with what every
    /// organization had in it (PostgreSQL; none on SQLite, whose retention deletes rows).
    async fn drop_slow_query_partitions(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<DroppedPartition>>;
}

/// One slow query ready to store: already scrubbed and fingerprinted.
/// A partition of `slow_queries` retention dropped: its name and, per organization, the rows it held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedPartition {
    pub name: String,
    pub rows: Vec<(i64, u64)>,
}

#[derive(Debug, Clone)]
pub struct NewSlowQuery {
    pub database_type: dbpower_types::DatabaseType,
    pub query_id: String,
    pub fingerprint: String,
    pub fingerprint_version: i32,
    pub sql_text: String,
    pub database_name: Option<String>,
    pub db_user: Option<String>,
    pub client_host: Option<String>,
    pub execution_time_ms: f64,
    pub lock_time_ms: Option<f64>,
    pub rows_examined: Option<i64>,
    pub rows_sent: Option<i64>,
    pub rows_affected: Option<i64>,
    /// The executions this entry stands for: 1 for one logged execution, a delta's count for a
    /// digest-table method, 0 for a sample whose executions another method counts.
    pub calls: i64,
    pub observed_at: DateTime<Utc>,
    pub explain: Option<serde_json::Value>,
    pub schema: Option<serde_json::Value>,
    /// Facts about the statement's literals taken before scrubbing (`dbpower_sql::hints`).
    pub hints: Option<serde_json::Value>,
    pub source: Option<String>,
    /// The shape of `explain` (`dbpower_analysis::plans`): its fingerprint and summary.
    pub plan_shape: Option<(String, String)>,
}

impl NewSlowQuery {
    /// A sample only: its executions are counted by another method of the same source.
    pub fn is_sample(&self) -> bool {
        self.calls == 0
    }
}

/// A signed ingestion request: who sent it (from the api key, never the body) and what.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub api_key_id: i64,
    pub request_id: String,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub items: Vec<NewSlowQuery>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Stored ids in the order sent (on a replay: the ids stored the first time).
    pub ids: Vec<i64>,
    /// True when this request id was seen before and nothing new was stored.
    pub replayed: bool,
    /// Query classes seen for the first time (queued for analysis).
    pub new_classes: usize,
    /// Whether the batch's organization got an analysis queued by this write (a new class, or new
    /// evidence on a known one): the workers are worth waking.
    pub analysis_queued: bool,
}

/// What ingestion needs to know about a signed request's api key.
#[derive(Debug, Clone)]
pub struct IngestCredential {
    pub key: ApiKeyRecord,
    pub settings: dbpower_types::OrgSettings,
    /// The organization's retention: older executions are refused (they would be deleted at once).
    pub retention_days: i32,
}

/// Per-class aggregate of one batch.
pub(crate) struct ClassAgg<'a> {
    pub first: &'a NewSlowQuery,
    pub count: i64,
    pub total: f64,
    pub min: f64,
    pub max: f64,
    pub lock: f64,
    pub rows_examined: i64,
    /// Executions that reported rows examined.
    pub rows_known: i64,
    pub rows_sent: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub histogram: Histogram,
    pub databases: Vec<&'a str>,
    /// Whether an item brought an EXPLAIN plan, a schema snapshot.
    pub has_explain: bool,
    pub has_schema: bool,
}

/// The key of a class: organization, database type, query id.
pub(crate) type ClassKey<'a> = (i64, &'static str, &'a str);

/// Groups items by class, in a stable order (so row locks are taken in the same order by concurrent
/// writers).
pub(crate) fn aggregate<'a>(
    items: &[(i64, &'a NewSlowQuery)],
) -> BTreeMap<ClassKey<'a>, ClassAgg<'a>> {
    let mut out: BTreeMap<ClassKey<'a>, ClassAgg<'a>> = BTreeMap::new();
    for (org, q) in items.iter().copied() {
        let a = out
            .entry((org, q.database_type.as_str(), q.query_id.as_str()))
            .or_insert_with(|| ClassAgg {
                first: q,
                count: 0,
                total: 0.0,
                min: f64::MAX,
                max: 0.0,
                lock: 0.0,
                rows_examined: 0,
                rows_known: 0,
                rows_sent: 0,
                first_seen: q.observed_at,
                last_seen: q.observed_at,
                histogram: Histogram::new(),
                databases: Vec::new(),
                has_explain: false,
                has_schema: false,
            });
        // A sample's execution ran (so it bounds the class's times and when it was seen), but another
        // method counts it: it adds nothing to the additive statistics.
        a.min = a.min.min(q.execution_time_ms);
        a.max = a.max.max(q.execution_time_ms);
        a.first_seen = a.first_seen.min(q.observed_at);
        a.last_seen = a.last_seen.max(q.observed_at);
        if !q.is_sample() {
            add_executions(a, q);
        }
        if let Some(db) = q.database_name.as_deref()
            && !a.databases.contains(&db)
        {
            a.databases.push(db);
        }
        a.has_explain |= q.explain.is_some();
        a.has_schema |= q.schema.is_some();
    }
    out
}

/// Adds the executions an entry stands for (`calls`, at least one) to its class's additive statistics.
fn add_executions(a: &mut ClassAgg<'_>, q: &NewSlowQuery) {
    let calls = q.calls.max(1);
    a.count = a.count.saturating_add(calls);
    // For aggregated entries (calls > 1) execution_time_ms is the mean of those calls.
    a.total += q.execution_time_ms * calls as f64;
    a.lock += q.lock_time_ms.unwrap_or(0.0) * calls as f64;
    add_rows(
        [&mut a.rows_examined, &mut a.rows_known, &mut a.rows_sent],
        q,
        calls,
    );
    a.histogram
        .record_n(q.execution_time_ms, u64::try_from(calls).unwrap_or(0));
}

/// Adds an entry's rows to `[rows examined, executions that reported them, rows sent]` (a class's or a
/// rollup hour's): rows of an aggregated entry are its calls' sum; negative counts count 0.
pub(crate) fn add_rows([examined, known, sent]: [&mut i64; 3], q: &NewSlowQuery, calls: i64) {
    *examined = examined.saturating_add(q.rows_examined.unwrap_or(0).max(0));
    if q.rows_examined.is_some() {
        *known = known.saturating_add(calls);
    }
    *sent = sent.saturating_add(q.rows_sent.unwrap_or(0).max(0));
}

/// Aggregate counters saturate here instead of overflowing: a hostile or corrupt value can pin one
/// class at the ceiling, never make its next upsert (and every batch written with it) fail.
pub(crate) const COUNTER_CEILING: i64 = i64::MAX;

/// `a + b` for non-negative integer columns, saturating at [`COUNTER_CEILING`], in SQL both databases
/// evaluate without overflow (the comparison is made before the addition).
pub(crate) fn saturating_sum(a: &str, b: &str) -> String {
    format!("CASE WHEN {a} > {COUNTER_CEILING} - {b} THEN {COUNTER_CEILING} ELSE {a} + {b} END")
}

/// Rows per multi-row statement (keeps every statement under both databases' parameter limits).
pub(crate) const CHUNK: usize = 500;

/// The start of the UTC hour of `t`.
pub(crate) fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

/// An api key joined with its organization's settings and retention.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyWithSettings {
    #[sqlx(flatten)]
    pub key: crate::tenants::ApiKeyRow,
    pub settings: sqlx::types::Json<serde_json::Value>,
    pub retention_days: i32,
}
