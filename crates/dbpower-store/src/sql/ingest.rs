//! Ingestion and retention ([`IngestStore`]). A group of batches is one transaction whose number of
//! statements grows per 500 rows (`CHUNK`), not per row; [`DbStore::ingest_group`] runs its steps in order, each a function
//! below: idempotency rows, class upsert, raw rows, histograms, plan history, databases, rollups, jobs,
//! percentiles, responses.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::OrgId;
use dbpower_sql::Histogram;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::{Conn, DIALECT, Db, DbStore};
use crate::ingest::{
    CHUNK, ClassAgg, ClassKey, KeyWithSettings, add_rows, aggregate, hour_of, saturating_sum,
};
use crate::tenants::API_KEY_COLS;
use crate::{
    DroppedPartition, IngestCredential, IngestOutcome, IngestStore, NewBatch, NewSlowQuery, Result,
    StoreError, now, one,
};

/// Each batch's outcome, in order: `None` until it is decided.
type Outcomes = Vec<Option<Result<IngestOutcome>>>;

/// The aggregate of each class in the group, in a stable order.
type Groups<'a> = BTreeMap<ClassKey<'a>, ClassAgg<'a>>;

/// One slow query to store, with its organization and the batch it came in.
pub(super) type RawRow<'a> = (i64, &'a NewBatch, &'a NewSlowQuery);

/// The classes the group touched: their ids, the jobs to enqueue and the new classes per organization.
#[derive(Default)]
struct Classes {
    ids: HashMap<(i64, String, String), i64>,
    /// (organization, class, reason).
    to_analyze: Vec<(i64, i64, &'static str)>,
    new_per_org: HashMap<i64, usize>,
}

/// A group's execution is markedly worse than the class's before it when its slowest execution took
/// more than this many times the class's previous maximum.
const WORSE_FACTOR: f64 = 2.0;

/// Why a class the group touched is queued for analysis, if it is: the first evidence that applies of
/// a new class, a plan, a schema snapshot, a markedly worse execution. `prev_max` is the class's
/// maximum time before this group.
fn reason_to_analyze(is_new: bool, a: &ClassAgg<'_>, prev_max: f64) -> Option<&'static str> {
    if is_new {
        Some("new_class")
    } else if a.has_explain {
        Some("new_explain")
    } else if a.has_schema {
        Some("new_schema")
    } else if a.max > WORSE_FACTOR * prev_max {
        Some("worse_execution")
    } else {
        None
    }
}

impl Classes {
    /// The id of a class the group upserted; a class missing here is a broken invariant of this
    /// module, reported as an error rather than written as class 0.
    fn id(&self, org: i64, database_type: &str, query_id: &str) -> Result<i64> {
        let key = (org, database_type.to_string(), query_id.to_string());
        self.ids.get(&key).copied().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "internal: class {database_type}/{query_id} of organization {org} was not upserted"
            ))
        })
    }

    fn of(&self, org: i64, q: &NewSlowQuery) -> Result<i64> {
        self.id(org, q.database_type.as_str(), &q.query_id)
    }
}

/// One hourly rollup row's key: class, team, identity, hour (Unix seconds), organization.
type RollupKey = (i64, i64, i64, i64, i64);

/// What one group adds to an hourly rollup row.
#[derive(Default)]
struct RollupSums {
    row_count: i64,
    count: i64,
    total_time_ms: f64,
    max_time_ms: f64,
    rows_examined: i64,
    rows_known: i64,
    rows_sent: i64,
    /// The hour's latencies (rollup_buckets), for comparing a window's distribution with a baseline's.
    histogram: dbpower_sql::Histogram,
}

const UPSERT_CLASSES: &str = "INSERT INTO query_classes (organization_id, database_type, query_id, \
     fingerprint, fingerprint_version, sample_sql, count, total_time_ms, min_time_ms, max_time_ms, \
     prev_max_time_ms, lock_time_ms, rows_examined, rows_known, rows_sent, first_seen, last_seen) ";

const INSERT_SLOW_QUERIES: &str = "INSERT INTO slow_queries (organization_id, team_id, \
     identity_id, api_key_id, class_id, query_id, sql_text, database_type, database_name, db_user, \
     client_host, execution_time_ms, lock_time_ms, rows_examined, rows_sent, rows_affected, calls, \
     observed_at, created_at, explain, schema_snapshot, hints, source) ";

const UPSERT_ROLLUPS: &str = "INSERT INTO query_rollups (organization_id, class_id, team_id, \
     identity_id, hour, row_count, count, total_time_ms, max_time_ms, rows_examined, rows_known, \
     rows_sent) ";

const ENQUEUE_JOBS: &str = "INSERT INTO analysis_jobs (organization_id, class_id, status, reason, \
     attempts, not_before, created_at, updated_at) ";

/// The additive merge of a class upsert with the stored class.
fn class_merge() -> String {
    let (least, greatest) = (DIALECT.least, DIALECT.greatest);
    format!(
        " ON CONFLICT (organization_id, database_type, query_id) DO UPDATE SET \
         fingerprint = CASE WHEN query_classes.fingerprint_version < excluded.fingerprint_version \
         THEN excluded.fingerprint ELSE query_classes.fingerprint END, \
         fingerprint_version = {greatest}(query_classes.fingerprint_version, \
         excluded.fingerprint_version), \
         count = {count}, \
         total_time_ms = query_classes.total_time_ms + excluded.total_time_ms, \
         min_time_ms = {least}(query_classes.min_time_ms, excluded.min_time_ms), \
         max_time_ms = {greatest}(query_classes.max_time_ms, excluded.max_time_ms), \
         lock_time_ms = query_classes.lock_time_ms + excluded.lock_time_ms, \
         rows_examined = {rows_examined}, \
         rows_known = {rows_known}, \
         rows_sent = {rows_sent}, \
         first_seen = {least}(query_classes.first_seen, excluded.first_seen), \
         last_seen = {greatest}(query_classes.last_seen, excluded.last_seen), \
         prev_max_time_ms = query_classes.max_time_ms \
         RETURNING id, organization_id, database_type, query_id, count, prev_max_time_ms",
        count = saturating_sum("query_classes.count", "excluded.count"),
        rows_examined = saturating_sum("query_classes.rows_examined", "excluded.rows_examined"),
        rows_known = saturating_sum("query_classes.rows_known", "excluded.rows_known"),
        rows_sent = saturating_sum("query_classes.rows_sent", "excluded.rows_sent"),
    )
}

/// The additive merge of a rollup upsert with the stored hour.
fn rollup_merge() -> String {
    format!(
        " ON CONFLICT (class_id, team_id, identity_id, hour) DO UPDATE SET row_count = {}, \
         count = {}, \
         total_time_ms = query_rollups.total_time_ms + excluded.total_time_ms, \
         max_time_ms = {}(query_rollups.max_time_ms, excluded.max_time_ms), rows_examined = {}, \
         rows_known = {}, rows_sent = {}",
        saturating_sum("query_rollups.row_count", "excluded.row_count"),
        saturating_sum("query_rollups.count", "excluded.count"),
        DIALECT.greatest,
        saturating_sum("query_rollups.rows_examined", "excluded.rows_examined"),
        saturating_sum("query_rollups.rows_known", "excluded.rows_known"),
        saturating_sum("query_rollups.rows_sent", "excluded.rows_sent"),
    )
}

impl DbStore {
    /// Stores a group of batches in one transaction (all or nothing).
    async fn ingest_group(
        &self,
        batches: &[(OrgId, NewBatch)],
    ) -> Result<Vec<Result<IngestOutcome>>> {
        let now = now();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let mut outcomes = record_request_ids(&mut tx, batches, now).await?;
        let fresh: Vec<usize> = (0..batches.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        // Raw rows, in the order sent; each batch's ids are a slice of the sorted result.
        let rows: Vec<RawRow<'_>> = fresh
            .iter()
            .flat_map(|&i| {
                let (org, batch) = &batches[i];
                batch.items.iter().map(move |q| (org.get(), batch, q))
            })
            .collect();
        let items: Vec<(i64, &NewSlowQuery)> = rows.iter().map(|(org, _, q)| (*org, *q)).collect();
        let groups = aggregate(&items);
        let mut classes = upsert_classes(&mut tx, &groups).await?;
        let ids = insert_slow_queries(&mut tx, &rows, &classes, now).await?;
        upsert_histograms(&mut tx, &groups, &classes).await?;
        upsert_plans(&mut tx, &rows, &classes).await?;
        // A class whose advice a new description shows applied is analysed again.
        let applied = super::advice::upsert_table_snapshots(&mut tx, &rows, now).await?;
        classes.to_analyze.extend(
            applied
                .into_iter()
                .map(|(org, class)| (org, class, "index_applied")),
        );
        insert_databases(&mut tx, &groups, &classes).await?;
        upsert_rollups(&mut tx, &rows, &classes, now).await?;
        let due = now + self.debounce.window();
        enqueue_jobs(&mut tx, &classes.to_analyze, now, due).await?;
        refresh_percentiles(&mut tx, &classes).await?;
        store_responses(&mut tx, batches, &fresh, &ids, &mut classes, &mut outcomes).await?;
        touch_api_keys(&mut tx, batches, &fresh, now).await?;
        answer_duplicates(batches, &mut outcomes);
        tx.commit().await?;
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(StoreError::Corrupt("batch without outcome".into()))))
            .collect())
    }
}

/// Idempotency rows: records each batch's request id. A batch whose id was stored before is answered
/// with the ids stored then (a replay); the others stay undecided.
async fn record_request_ids(
    conn: &mut Conn,
    batches: &[(OrgId, NewBatch)],
    now: DateTime<Utc>,
) -> Result<Outcomes> {
    let mut outcomes: Outcomes = (0..batches.len()).map(|_| None).collect();
    for (i, (_, batch)) in batches.iter().enumerate() {
        let inserted = sqlx::query(
            "INSERT INTO ingest_requests (api_key_id, request_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(batch.api_key_id)
        .bind(&batch.request_id)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            continue;
        }
        let stored: Option<Option<Json<Vec<i64>>>> = sqlx::query_scalar(
            "SELECT response FROM ingest_requests WHERE api_key_id = $1 AND request_id = $2",
        )
        .bind(batch.api_key_id)
        .bind(&batch.request_id)
        .fetch_optional(&mut *conn)
        .await?;
        outcomes[i] = Some(match stored.flatten() {
            Some(ids) => Ok(IngestOutcome {
                ids: ids.0,
                replayed: true,
                new_classes: 0,
                analysis_queued: false,
            }),
            // A duplicate within this group is answered once the first copy is stored (below).
            None => Err(StoreError::RequestInProgress),
        });
    }
    Ok(outcomes)
}

/// Class upsert: adds each class's aggregate; a class is new when its count equals this group's
/// contribution. New classes, and classes that gained a plan, a schema snapshot or a markedly worse
/// execution ([`reason_to_analyze`]), are queued for analysis.
async fn upsert_classes(conn: &mut Conn, groups: &Groups<'_>) -> Result<Classes> {
    let mut classes = Classes::default();
    let group_list: Vec<_> = groups.iter().collect();
    for chunk in group_list.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(UPSERT_CLASSES);
        qb.push_values(chunk.iter(), |mut b, ((org, db, qid), a)| {
            b.push_bind(*org)
                .push_bind(*db)
                .push_bind(*qid)
                .push_bind(&a.first.fingerprint)
                .push_bind(a.first.fingerprint_version)
                .push_bind(&a.first.sql_text)
                .push_bind(a.count)
                .push_bind(a.total)
                .push_bind(a.min)
                .push_bind(a.max)
                // A new class's previous maximum is its own: only an update can find it worse.
                .push_bind(a.max)
                .push_bind(a.lock)
                .push_bind(a.rows_examined)
                .push_bind(a.rows_known)
                .push_bind(a.rows_sent)
                .push_bind(a.first_seen)
                .push_bind(a.last_seen);
        });
        qb.push(class_merge());
        let rows: Vec<(i64, i64, String, String, i64, f64)> =
            qb.build_query_as().fetch_all(&mut *conn).await?;
        for (id, org, db, qid, count, prev_max) in rows {
            let key_db = dbpower_types::DatabaseType::parse(&db).map_or("", |d| d.as_str());
            if let Some(a) = groups.get(&(org, key_db, qid.as_str())) {
                // A class is new when this group made its count; samples alone make no new class
                // (nothing ran that the class counts yet); they bring a plan to analyse.
                let is_new = count == a.count && a.count > 0;
                if is_new {
                    *classes.new_per_org.entry(org).or_insert(0) += 1;
                }
                if let Some(reason) = reason_to_analyze(is_new, a, prev_max) {
                    classes.to_analyze.push((org, id, reason));
                }
            }
            classes.ids.insert((org, db, qid), id);
        }
    }
    Ok(classes)
}

/// Raw rows: inserts the slow queries and returns their ids in the order given.
async fn insert_slow_queries(
    conn: &mut Conn,
    rows: &[RawRow<'_>],
    classes: &Classes,
    now: DateTime<Utc>,
) -> Result<Vec<i64>> {
    let class_ids = rows
        .iter()
        .map(|(org, _, q)| classes.of(*org, q))
        .collect::<Result<Vec<i64>>>()?;
    let mut all_ids: Vec<i64> = Vec::with_capacity(rows.len());
    for (chunk, class_chunk) in rows.chunks(CHUNK).zip(class_ids.chunks(CHUNK)) {
        let mut qb = QueryBuilder::<Db>::new(INSERT_SLOW_QUERIES);
        qb.push_values(
            chunk.iter().zip(class_chunk),
            |mut b, ((org, batch, q), class)| {
                b.push_bind(*org)
                    .push_bind(batch.team_id)
                    .push_bind(batch.identity_id)
                    .push_bind(batch.api_key_id)
                    .push_bind(*class)
                    .push_bind(&q.query_id)
                    .push_bind(&q.sql_text)
                    .push_bind(q.database_type.as_str())
                    .push_bind(q.database_name.as_deref())
                    .push_bind(q.db_user.as_deref())
                    .push_bind(q.client_host.as_deref())
                    .push_bind(q.execution_time_ms)
                    .push_bind(q.lock_time_ms)
                    .push_bind(q.rows_examined)
                    .push_bind(q.rows_sent)
                    .push_bind(q.rows_affected)
                    .push_bind(q.calls.max(0))
                    .push_bind(q.observed_at)
                    .push_bind(now)
                    .push_bind(q.explain.as_ref().map(Json))
                    .push_bind(q.schema.as_ref().map(Json))
                    .push_bind(q.hints.as_ref().map(Json))
                    .push_bind(q.source.as_deref());
            },
        );
        qb.push(" RETURNING id");
        let mut ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
        // Ids come from one sequence in VALUES order; sorting restores the order sent.
        ids.sort_unstable();
        all_ids.extend(ids);
    }
    Ok(all_ids)
}

/// Histograms: adds each class's latency buckets.
async fn upsert_histograms(conn: &mut Conn, groups: &Groups<'_>, classes: &Classes) -> Result<()> {
    let mut buckets: Vec<(i64, i32, i64)> = Vec::new();
    for ((org, db, qid), a) in groups {
        let id = classes.id(*org, db, qid)?;
        buckets.extend(
            a.histogram
                .buckets()
                .map(|(b, n)| (id, i32::from(b), i64::try_from(n).unwrap_or(i64::MAX))),
        );
    }
    for chunk in buckets.chunks(CHUNK) {
        let mut qb =
            QueryBuilder::<Db>::new("INSERT INTO class_histogram (class_id, bucket, count) ");
        qb.push_values(chunk.iter(), |mut b, (c, k, n)| {
            b.push_bind(*c).push_bind(*k).push_bind(*n);
        });
        qb.push(format!(
            " ON CONFLICT (class_id, bucket) DO UPDATE SET count = {}",
            saturating_sum("class_histogram.count", "excluded.count")
        ));
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The most plan shapes kept per class: beyond it the least recently seen go, so a source sending ever
/// new shapes cannot grow the table without end and the current shape is always kept.
const MAX_PLANS_PER_CLASS: i64 = 50;
/// The most bytes of a plan kept in the history: a bigger one keeps its shape and summary only.
const MAX_STORED_PLAN: usize = 256 * 1024;

/// What the rows of one plan shape of one class add to its history.
struct PlanSums<'a> {
    org: i64,
    summary: &'a str,
    plan: &'a serde_json::Value,
    executions: i64,
    total_time_ms: f64,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
}

/// The rows' plans by class and shape: the newest plan of each, and the executions that carried it (a
/// sample adds its plan, not executions: another method counts those).
fn plan_sums<'a>(
    rows: &[RawRow<'a>],
    classes: &Classes,
) -> Result<BTreeMap<(i64, &'a str), PlanSums<'a>>> {
    let mut plans: BTreeMap<(i64, &str), PlanSums<'_>> = BTreeMap::new();
    for (org, _, q) in rows {
        let (Some((shape, summary)), Some(plan)) = (&q.plan_shape, &q.explain) else {
            continue;
        };
        let calls = q.calls.max(0);
        let at = q.observed_at;
        let e = plans
            .entry((classes.of(*org, q)?, shape.as_str()))
            .or_insert(PlanSums {
                org: *org,
                summary,
                plan,
                executions: 0,
                total_time_ms: 0.0,
                first_seen: at,
                last_seen: at,
            });
        e.executions = e.executions.saturating_add(calls);
        e.total_time_ms += q.execution_time_ms * calls as f64;
        e.first_seen = e.first_seen.min(at);
        if at >= e.last_seen {
            (e.last_seen, e.plan, e.summary) = (at, plan, summary);
        }
    }
    Ok(plans)
}

/// Plan history: each plan's shape, per class, with the newest plan of the shape and the executions
/// that carried it; then each touched class is trimmed to its [`MAX_PLANS_PER_CLASS`] most recently seen
/// shapes. Statements grow per 500 shapes, like the other steps.
async fn upsert_plans(conn: &mut Conn, rows: &[RawRow<'_>], classes: &Classes) -> Result<()> {
    let plans: Vec<_> = plan_sums(rows, classes)?.into_iter().collect();
    let omitted = serde_json::json!({"omitted": "plan larger than 256 KiB"});
    for chunk in plans.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO class_plans (class_id, organization_id, shape, summary, plan, executions, \
             total_time_ms, first_seen, last_seen) ",
        );
        qb.push_values(chunk.iter(), |mut b, ((class, shape), p)| {
            let size = serde_json::to_vec(p.plan).map_or(usize::MAX, |v| v.len());
            let plan = if size <= MAX_STORED_PLAN {
                p.plan
            } else {
                &omitted
            };
            b.push_bind(*class)
                .push_bind(p.org)
                .push_bind(*shape)
                .push_bind(p.summary)
                .push_bind(Json(plan))
                .push_bind(p.executions)
                .push_bind(p.total_time_ms)
                .push_bind(p.first_seen)
                .push_bind(p.last_seen);
        });
        qb.push(format!(
            " ON CONFLICT (class_id, shape) DO UPDATE SET executions = {}, \
             total_time_ms = class_plans.total_time_ms + excluded.total_time_ms, \
             first_seen = {least}(class_plans.first_seen, excluded.first_seen), \
             plan = CASE WHEN excluded.last_seen >= class_plans.last_seen THEN excluded.plan \
             ELSE class_plans.plan END, \
             summary = CASE WHEN excluded.last_seen >= class_plans.last_seen THEN excluded.summary \
             ELSE class_plans.summary END, \
             last_seen = {greatest}(class_plans.last_seen, excluded.last_seen)",
            saturating_sum("class_plans.executions", "excluded.executions"),
            least = DIALECT.least,
            greatest = DIALECT.greatest,
        ));
        qb.build().execute(&mut *conn).await?;
    }
    let touched: std::collections::BTreeSet<i64> = plans.iter().map(|((c, _), _)| *c).collect();
    let touched: Vec<i64> = touched.into_iter().collect();
    for chunk in touched.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "DELETE FROM class_plans WHERE EXISTS (SELECT 1 FROM (SELECT class_id, shape, \
             ROW_NUMBER() OVER (PARTITION BY class_id ORDER BY last_seen DESC, shape) AS rn \
             FROM class_plans WHERE class_id IN (",
        );
        let mut ids = qb.separated(", ");
        for c in chunk {
            ids.push_bind(*c);
        }
        qb.push(format!(
            ")) ranked WHERE ranked.class_id = class_plans.class_id AND ranked.shape = \
             class_plans.shape AND ranked.rn > {MAX_PLANS_PER_CLASS})"
        ));
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Databases: records the database names each class was seen in.
async fn insert_databases(conn: &mut Conn, groups: &Groups<'_>, classes: &Classes) -> Result<()> {
    let mut dbs: Vec<(i64, &str)> = Vec::new();
    for ((org, db, qid), a) in groups {
        let id = classes.id(*org, db, qid)?;
        dbs.extend(a.databases.iter().map(|d| (id, *d)));
    }
    for chunk in dbs.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new("INSERT INTO class_databases (class_id, name) ");
        qb.push_values(chunk.iter(), |mut b, (c, n)| {
            b.push_bind(*c).push_bind(*n);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rollups: adds the rows to the hourly rollups keyed by class, owner and hour.
async fn upsert_rollups(
    conn: &mut Conn,
    rows: &[RawRow<'_>],
    classes: &Classes,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut rollups: BTreeMap<RollupKey, RollupSums> = BTreeMap::new();
    for (org, batch, q) in rows {
        let hour = hour_of(q.observed_at).timestamp();
        let (team, identity) = (batch.team_id.unwrap_or(0), batch.identity_id.unwrap_or(0));
        let e = rollups
            .entry((classes.of(*org, q)?, team, identity, hour, *org))
            .or_default();
        // Every stored row counts in `row_count` (list totals); a sample adds no executions.
        e.row_count += 1;
        if q.is_sample() {
            continue;
        }
        let calls = q.calls.max(1);
        e.count = e.count.saturating_add(calls);
        e.total_time_ms += q.execution_time_ms * calls as f64;
        e.max_time_ms = e.max_time_ms.max(q.execution_time_ms);
        add_rows(
            [&mut e.rows_examined, &mut e.rows_known, &mut e.rows_sent],
            q,
            calls,
        );
        e.histogram
            .record_n(q.execution_time_ms, u64::try_from(calls).unwrap_or(0));
    }
    let rollups: Vec<_> = rollups.into_iter().collect();
    upsert_rollup_buckets(conn, &rollups, now).await?;
    for chunk in rollups.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(UPSERT_ROLLUPS);
        qb.push_values(
            chunk.iter(),
            |mut b, ((class, team, identity, hour, org), s)| {
                b.push_bind(*org)
                    .push_bind(*class)
                    .push_bind(*team)
                    .push_bind(*identity)
                    .push_bind(DateTime::from_timestamp(*hour, 0).unwrap_or(now))
                    .push_bind(s.row_count)
                    .push_bind(s.count)
                    .push_bind(s.total_time_ms)
                    .push_bind(s.max_time_ms)
                    .push_bind(s.rows_examined)
                    .push_bind(s.rows_known)
                    .push_bind(s.rows_sent);
            },
        );
        qb.push(rollup_merge());
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rollup buckets: adds each rollup row's latency buckets (additive, like the rollups).
async fn upsert_rollup_buckets(
    conn: &mut Conn,
    rollups: &[(RollupKey, RollupSums)],
    now: DateTime<Utc>,
) -> Result<()> {
    let rows: Vec<(&RollupKey, i32, i64)> = rollups
        .iter()
        .flat_map(|(k, s)| {
            s.histogram
                .buckets()
                .map(move |(b, n)| (k, i32::from(b), i64::try_from(n).unwrap_or(i64::MAX)))
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO rollup_buckets (organization_id, class_id, team_id, identity_id, hour, \
             bucket, count) ",
        );
        qb.push_values(
            chunk.iter(),
            |mut b, ((class, team, identity, hour, org), bucket, n)| {
                b.push_bind(*org)
                    .push_bind(*class)
                    .push_bind(*team)
                    .push_bind(*identity)
                    .push_bind(DateTime::from_timestamp(*hour, 0).unwrap_or(now))
                    .push_bind(*bucket)
                    .push_bind(*n);
            },
        );
        qb.push(format!(
            " ON CONFLICT (class_id, team_id, identity_id, hour, bucket) DO UPDATE SET count = {}",
            saturating_sum("rollup_buckets.count", "excluded.count")
        ));
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Jobs: queues the classes to analyze, due at `due` (the debounce window from now). A class with a
/// queued job is not queued twice: the evidence joins that job, whose due time stays, so a stream of
/// evidence cannot postpone an analysis forever. A running job does not count: what arrived after its
/// claim gets a job of its own.
async fn enqueue_jobs(
    conn: &mut Conn,
    to_analyze: &[(i64, i64, &'static str)],
    now: DateTime<Utc>,
    due: DateTime<Utc>,
) -> Result<()> {
    for chunk in to_analyze.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(ENQUEUE_JOBS);
        qb.push_values(chunk.iter(), |mut b, (org, class, reason)| {
            b.push_bind(*org)
                .push_bind(*class)
                .push_bind("queued")
                .push_bind(*reason)
                .push_bind(0_i32)
                .push_bind(due)
                .push_bind(now)
                .push_bind(now);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Percentiles: refreshes p95/p99 of the touched classes from their merged histograms.
async fn refresh_percentiles(conn: &mut Conn, classes: &Classes) -> Result<()> {
    let touched: Vec<i64> = classes.ids.values().copied().collect();
    for chunk in touched.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT class_id, bucket, count FROM class_histogram WHERE class_id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        qb.push(")");
        let rows: Vec<(i64, i32, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        let mut hists: BTreeMap<i64, Histogram> = BTreeMap::new();
        for (c, b, n) in rows {
            let (Ok(bucket), Ok(count)) = (u16::try_from(b), u64::try_from(n)) else {
                return Err(StoreError::Corrupt(format!(
                    "class {c}: histogram bucket {b} with count {n}"
                )));
            };
            hists.entry(c).or_default().record_bucket(bucket, count);
        }
        if hists.is_empty() {
            continue;
        }
        let mut qb = QueryBuilder::<Db>::new("WITH v(id, p95, p99) AS (");
        qb.push_values(hists.iter(), |mut b, (c, h)| {
            b.push_bind(*c)
                .push_bind(h.percentile(95.0).unwrap_or(0.0))
                .push_bind(h.percentile(99.0).unwrap_or(0.0));
        });
        qb.push(
            ") UPDATE query_classes SET p95_time_ms = (SELECT p95 FROM v \
             WHERE v.id = query_classes.id), \
             p99_time_ms = (SELECT p99 FROM v WHERE v.id = query_classes.id) WHERE id IN \
             (SELECT id FROM v)",
        );
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Responses: stores each fresh batch's ids for replays and decides its outcome. New classes are
/// reported once, on the first batch of their organization.
async fn store_responses(
    conn: &mut Conn,
    batches: &[(OrgId, NewBatch)],
    fresh: &[usize],
    all_ids: &[i64],
    classes: &mut Classes,
    outcomes: &mut Outcomes,
) -> Result<()> {
    let mut offset = 0;
    for &i in fresh {
        let (org, batch) = &batches[i];
        let ids = all_ids[offset..(offset + batch.items.len()).min(all_ids.len())].to_vec();
        offset += batch.items.len();
        sqlx::query(
            "UPDATE ingest_requests SET response = $3 WHERE api_key_id = $1 AND request_id = $2",
        )
        .bind(batch.api_key_id)
        .bind(&batch.request_id)
        .bind(Json(&ids))
        .execute(&mut *conn)
        .await?;
        let new_classes = classes.new_per_org.remove(&org.get()).unwrap_or(0);
        let analysis_queued = classes.to_analyze.iter().any(|(o, _, _)| *o == org.get());
        outcomes[i] = Some(Ok(IngestOutcome {
            ids,
            replayed: false,
            new_classes,
            analysis_queued,
        }));
    }
    Ok(())
}

/// Marks the api keys of the fresh batches used now.
async fn touch_api_keys(
    conn: &mut Conn,
    batches: &[(OrgId, NewBatch)],
    fresh: &[usize],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut keys_used: Vec<i64> = Vec::new();
    for &i in fresh {
        let key = batches[i].1.api_key_id;
        if !keys_used.contains(&key) {
            keys_used.push(key);
        }
    }
    for key in keys_used {
        sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
            .bind(key)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Duplicates inside the group: answers them with what their first copy stored.
fn answer_duplicates(batches: &[(OrgId, NewBatch)], outcomes: &mut Outcomes) {
    for i in 0..batches.len() {
        if !matches!(outcomes[i], Some(Err(_))) {
            continue;
        }
        let b = &batches[i].1;
        let first = (0..i).find(|&j| {
            batches[j].1.api_key_id == b.api_key_id && batches[j].1.request_id == b.request_id
        });
        let ids = first.and_then(|j| match &outcomes[j] {
            Some(Ok(o)) => Some(o.ids.clone()),
            _ => None,
        });
        if let Some(ids) = ids {
            outcomes[i] = Some(Ok(IngestOutcome {
                ids,
                replayed: true,
                new_classes: 0,
                analysis_queued: false,
            }));
        }
    }
}

#[async_trait]
impl IngestStore for DbStore {
    async fn ingest_many(
        &self,
        batches: &[(OrgId, NewBatch)],
    ) -> Result<Vec<Result<IngestOutcome>>> {
        // The group is one transaction. If it fails, nothing of it was stored, and each batch is
        // written again alone: one bad batch fails only itself, never the other tenants' batches
        // that happened to share its transaction.
        match self.ingest_group(batches).await {
            Ok(outcomes) => Ok(outcomes),
            Err(e) if batches.len() > 1 => {
                tracing::warn!(
                    error = %e,
                    batches = batches.len(),
                    "group ingestion failed; storing each batch alone"
                );
                let mut outcomes = Vec::with_capacity(batches.len());
                for one in batches {
                    let r = match self.ingest_group(std::slice::from_ref(one)).await {
                        Ok(mut v) => v.pop().unwrap_or_else(|| {
                            Err(StoreError::Corrupt("batch without outcome".into()))
                        }),
                        Err(e) => Err(e),
                    };
                    outcomes.push(r);
                }
                Ok(outcomes)
            }
            Err(e) => Err(e),
        }
    }

    async fn ingest_credential(&self, key_id: &str) -> Result<IngestCredential> {
        let cols = API_KEY_COLS
            .split(", ")
            .map(|c| format!("k.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols}, o.settings, o.retention_days FROM api_keys k JOIN organizations o \
             ON o.id = k.organization_id WHERE k.key_id = $1"
        );
        let row: Option<KeyWithSettings> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        let row = one(row)?;
        let settings = serde_json::from_value(row.settings.0).unwrap_or_default();
        Ok(IngestCredential {
            key: row.key.into(),
            settings,
            retention_days: row.retention_days,
        })
    }

    async fn delete_slow_queries_before(&self, org: OrgId, cutoff: DateTime<Utc>) -> Result<u64> {
        let _guard = self.write_guard().await;
        let n =
            sqlx::query("DELETE FROM slow_queries WHERE organization_id = $1 AND observed_at < $2")
                .bind(org.get())
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected();
        for table in ["query_rollups", "rollup_buckets"] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE organization_id = $1 AND hour < $2"
            )))
            .bind(org.get())
            .bind(hour_of(cutoff))
            .execute(&self.pool)
            .await?;
        }
        delete_alert_history(&self.pool, org, cutoff).await?;
        for (table, column) in [("class_plans", "last_seen"), ("table_snapshots", "seen_at")] {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE organization_id = $1 AND {column} < $2"
            )))
            .bind(org.get())
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        }
        // What no longer has rows behind it goes too: classes (with their sample, histogram, analysis
        // and jobs) last seen before the cutoff with no slow query and no rollup left (`last_seen` is
        // re-checked against a concurrent ingestion, which moves it forward), finished jobs, and LLM-call
        // records older than the cutoff.
        sqlx::query(
            "DELETE FROM query_classes WHERE organization_id = $1 AND last_seen < $2 \
             AND NOT EXISTS (SELECT 1 FROM slow_queries s \
             WHERE s.class_id = query_classes.id) \
             AND NOT EXISTS (SELECT 1 FROM query_rollups r \
             WHERE r.class_id = query_classes.id)",
        )
        .bind(org.get())
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "DELETE FROM analysis_jobs WHERE organization_id = $1 AND status IN ('done', \
             'failed') \
             AND updated_at < $2",
        )
        .bind(org.get())
        .bind(cutoff)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM llm_calls WHERE organization_id = $1 AND created_at < $2")
            .bind(org.get())
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(n)
    }

    async fn prune_ingest_requests(&self, before: DateTime<Utc>) -> Result<u64> {
        let _guard = self.write_guard().await;
        // Refresh tokens past their expiry are of no use to anyone: they go with the idempotency records.
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query("DELETE FROM ingest_requests WHERE created_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn maintain_partitions(&self, now: DateTime<Utc>) -> Result<u64> {
        super::partitions::maintain(&self.pool, now).await
    }

    async fn drop_slow_query_partitions(
        &self,
        before: DateTime<Utc>,
    ) -> Result<Vec<DroppedPartition>> {
        super::partitions::drop_before(&self.pool, before).await
    }
}

/// Resolved alerts, finished deliveries and change markers of `org` older than the cutoff.
async fn delete_alert_history(
    pool: &sqlx::Pool<Db>,
    org: OrgId,
    cutoff: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("DELETE FROM change_events WHERE organization_id = $1 AND at < $2")
        .bind(org.get())
        .bind(cutoff)
        .execute(pool)
        .await?;
    sqlx::query(
        "DELETE FROM alerts WHERE organization_id = $1 AND status = 'resolved' AND \
             updated_at < $2",
    )
    .bind(org.get())
    .bind(cutoff)
    .execute(pool)
    .await?;
    sqlx::query(
        "DELETE FROM alert_deliveries WHERE organization_id = $1 AND status IN ('sent', \
             'failed') AND updated_at < $2",
    )
    .bind(org.get())
    .bind(cutoff)
    .execute(pool)
    .await?;
    Ok(())
}
