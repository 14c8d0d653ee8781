//! Ingestion, read models and the analysis queue: SQL shared by both databases, expanded into the
//! `Store` impl by `ingest_methods!` (see `common.rs` for the mechanism). One ingestion batch is one
//! transaction of a fixed number of statements whatever its size: idempotency record, class upsert,
//! slow-query insert, histogram/database/rollup upserts, job enqueue, percentile refresh.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use dbpower_sql::Histogram;
use dbpower_types::{DatabaseType, QueryClassView, Severity, SlowQueryView};

use crate::{NewSlowQuery, StoreError};

pub(crate) const SLOW_COLS: &str = "s.id, s.query_id, s.sql_text, s.database_type, s.database_name, s.db_user, \
     s.client_host, s.execution_time_ms, s.lock_time_ms, s.rows_examined, s.rows_sent, s.rows_affected, s.calls, \
     s.observed_at, s.created_at, s.source, s.team_id, s.identity_id, c.severity, s.class_id, s.organization_id";

pub(crate) const CLASS_COLS: &str = "c.id, c.database_type, c.query_id, c.fingerprint, c.fingerprint_version, \
     c.sample_sql, c.count, c.total_time_ms, c.min_time_ms, c.max_time_ms, c.lock_time_ms, c.rows_examined, \
     c.rows_sent, c.first_seen, c.last_seen, c.p95_time_ms, c.p99_time_ms, c.severity";

/// Per-class aggregate of one batch.
pub(crate) struct ClassAgg<'a> {
    pub first: &'a NewSlowQuery,
    pub count: i64,
    pub total: f64,
    pub min: f64,
    pub max: f64,
    pub lock: f64,
    pub rows_examined: i64,
    pub rows_sent: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub histogram: Histogram,
    pub databases: Vec<&'a str>,
    pub has_explain: bool,
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
        let calls = q.calls.max(1);
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
                rows_sent: 0,
                first_seen: q.observed_at,
                last_seen: q.observed_at,
                histogram: Histogram::new(),
                databases: Vec::new(),
                has_explain: false,
            });
        a.count += calls;
        // For aggregated entries (calls > 1) execution_time_ms is the mean of those calls.
        a.total += q.execution_time_ms * calls as f64;
        a.min = a.min.min(q.execution_time_ms);
        a.max = a.max.max(q.execution_time_ms);
        a.lock += q.lock_time_ms.unwrap_or(0.0) * calls as f64;
        a.rows_examined += q.rows_examined.unwrap_or(0);
        a.rows_sent += q.rows_sent.unwrap_or(0);
        a.first_seen = a.first_seen.min(q.observed_at);
        a.last_seen = a.last_seen.max(q.observed_at);
        a.histogram.record_n(q.execution_time_ms, calls as u64);
        if let Some(db) = q.database_name.as_deref()
            && !a.databases.contains(&db)
        {
            a.databases.push(db);
        }
        a.has_explain |= q.explain.is_some();
    }
    out
}

/// Rows per multi-row statement (keeps every statement under both databases' parameter limits).
pub(crate) const CHUNK: usize = 500;

/// The start of the UTC hour of `t`.
pub(crate) fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

pub(crate) fn parse_db_type(s: &str) -> Result<DatabaseType, StoreError> {
    DatabaseType::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown database type {s:?}")))
}

pub(crate) fn parse_severity(s: Option<String>) -> Option<Severity> {
    s.as_deref().and_then(Severity::parse)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[derive(sqlx::FromRow)]
pub(crate) struct SlowRow {
    id: i64,
    query_id: String,
    sql_text: String,
    database_type: String,
    database_name: Option<String>,
    db_user: Option<String>,
    client_host: Option<String>,
    execution_time_ms: f64,
    lock_time_ms: Option<f64>,
    rows_examined: Option<i64>,
    rows_sent: Option<i64>,
    rows_affected: Option<i64>,
    calls: i64,
    observed_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    source: Option<String>,
    team_id: Option<i64>,
    identity_id: Option<i64>,
    severity: Option<String>,
    pub class_id: i64,
    pub organization_id: i64,
}

impl SlowRow {
    pub(crate) fn into_view(self) -> Result<(SlowQueryView, i64), StoreError> {
        Ok((
            SlowQueryView {
                id: self.id,
                query_id: self.query_id,
                sql_text: self.sql_text,
                database_type: parse_db_type(&self.database_type)?,
                database_name: self.database_name,
                user: self.db_user,
                client_host: self.client_host,
                execution_time_ms: self.execution_time_ms,
                lock_time_ms: self.lock_time_ms,
                rows_examined: self.rows_examined,
                rows_sent: self.rows_sent,
                rows_affected: self.rows_affected,
                calls: self.calls,
                observed_at: self.observed_at,
                created_at: self.created_at,
                source: self.source,
                team_id: self.team_id,
                identity_id: self.identity_id,
                severity: parse_severity(self.severity),
            },
            self.class_id,
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClassRow {
    pub id: i64,
    database_type: String,
    query_id: String,
    fingerprint: String,
    fingerprint_version: i32,
    sample_sql: String,
    count: i64,
    total_time_ms: f64,
    min_time_ms: Option<f64>,
    max_time_ms: f64,
    lock_time_ms: Option<f64>,
    rows_examined: Option<i64>,
    rows_sent: Option<i64>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    p95_time_ms: Option<f64>,
    p99_time_ms: Option<f64>,
    severity: Option<String>,
}

impl ClassRow {
    pub(crate) fn into_view(self, databases: Vec<String>) -> Result<QueryClassView, StoreError> {
        let ratio = match (self.rows_examined, self.rows_sent) {
            (Some(e), Some(s)) if s > 0 => Some(e as f64 / s as f64),
            _ => None,
        };
        Ok(QueryClassView {
            query_id: self.query_id,
            database_type: parse_db_type(&self.database_type)?,
            fingerprint: self.fingerprint,
            fingerprint_version: self.fingerprint_version,
            sample_sql: self.sample_sql,
            count: self.count,
            total_time_ms: self.total_time_ms,
            avg_time_ms: if self.count > 0 {
                self.total_time_ms / self.count as f64
            } else {
                0.0
            },
            min_time_ms: self.min_time_ms,
            max_time_ms: self.max_time_ms,
            // A bucket's upper bound can exceed the slowest execution seen; never report more than it.
            p95_time_ms: self.p95_time_ms.map(|p| p.min(self.max_time_ms)),
            p99_time_ms: self.p99_time_ms.map(|p| p.min(self.max_time_ms)),
            lock_time_ms: self.lock_time_ms,
            rows_examined: self.rows_examined,
            rows_sent: self.rows_sent,
            rows_ratio: ratio,
            databases,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            severity: parse_severity(self.severity),
        })
    }
}

/// Expands `impl IngestStore for $ty` over the database `$db`.
macro_rules! ingest_impl {
    ($ty:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::IngestStore for $ty {
        async fn ingest_many(
            &self,
            batches: &[(dbpower_core::OrgId, $crate::NewBatch)],
        ) -> $crate::Result<Vec<$crate::Result<$crate::IngestOutcome>>> {
            use $crate::ingest::{CHUNK, aggregate, hour_of};
            let now = $crate::common::now();
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            let mut outcomes: Vec<Option<$crate::Result<$crate::IngestOutcome>>> = (0..batches.len()).map(|_| None).collect();
            let mut fresh: Vec<usize> = Vec::new();
            for (i, (_, batch)) in batches.iter().enumerate() {
                let inserted = sqlx::query(
                    "INSERT INTO ingest_requests (api_key_id, request_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(batch.api_key_id)
                .bind(&batch.request_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if inserted {
                    fresh.push(i);
                    continue;
                }
                let stored: Option<Option<sqlx::types::Json<Vec<i64>>>> =
                    sqlx::query_scalar("SELECT response FROM ingest_requests WHERE api_key_id = $1 AND request_id = $2")
                        .bind(batch.api_key_id)
                        .bind(&batch.request_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                outcomes[i] = Some(match stored.flatten() {
                    Some(ids) => Ok($crate::IngestOutcome { ids: ids.0, replayed: true, new_classes: 0 }),
                    // A duplicate within this group is answered once the first copy is stored (below).
                    None => Err($crate::StoreError::Conflict("this request id is being processed; retry shortly".into())),
                });
            }
            let items: Vec<(i64, &$crate::NewSlowQuery)> =
                fresh.iter().flat_map(|&i| batches[i].1.items.iter().map(move |q| (batches[i].0.get(), q))).collect();
            let groups = aggregate(&items);
            // Classes: additive upsert; a class is new when its count equals this group's contribution.
            let mut class_ids: std::collections::HashMap<(i64, String, String), i64> = std::collections::HashMap::new();
            let mut to_analyze: Vec<(i64, i64, &'static str)> = Vec::new();
            let mut new_per_org: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
            let group_list: Vec<_> = groups.iter().collect();
            for chunk in group_list.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO query_classes (organization_id, database_type, query_id, fingerprint, fingerprint_version, \
                     sample_sql, count, total_time_ms, min_time_ms, max_time_ms, lock_time_ms, rows_examined, rows_sent, \
                     first_seen, last_seen) ",
                );
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
                        .push_bind(a.lock)
                        .push_bind(a.rows_examined)
                        .push_bind(a.rows_sent)
                        .push_bind(a.first_seen)
                        .push_bind(a.last_seen);
                });
                qb.push(format!(
                    " ON CONFLICT (organization_id, database_type, query_id) DO UPDATE SET \
                     count = query_classes.count + excluded.count, \
                     total_time_ms = query_classes.total_time_ms + excluded.total_time_ms, \
                     min_time_ms = {least}(query_classes.min_time_ms, excluded.min_time_ms), \
                     max_time_ms = {greatest}(query_classes.max_time_ms, excluded.max_time_ms), \
                     lock_time_ms = query_classes.lock_time_ms + excluded.lock_time_ms, \
                     rows_examined = query_classes.rows_examined + excluded.rows_examined, \
                     rows_sent = query_classes.rows_sent + excluded.rows_sent, \
                     first_seen = {least}(query_classes.first_seen, excluded.first_seen), \
                     last_seen = {greatest}(query_classes.last_seen, excluded.last_seen) \
                     RETURNING id, organization_id, database_type, query_id, count",
                    least = Self::LEAST,
                    greatest = Self::GREATEST
                ));
                let rows: Vec<(i64, i64, String, String, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                for (id, org, db, qid, count) in rows {
                    let key_db = dbpower_types::DatabaseType::parse(&db).map_or("", |d| d.as_str());
                    if let Some(a) = groups.get(&(org, key_db, qid.as_str())) {
                        if count == a.count {
                            *new_per_org.entry(org).or_insert(0) += 1;
                            to_analyze.push((org, id, "new_class"));
                        } else if a.has_explain {
                            to_analyze.push((org, id, "new_explain"));
                        }
                    }
                    class_ids.insert((org, db, qid), id);
                }
            }
            let class_of = |org: i64, q: &$crate::NewSlowQuery| {
                class_ids.get(&(org, q.database_type.as_str().to_string(), q.query_id.clone())).copied().unwrap_or(0)
            };
            // Raw rows, in the order sent; each batch's ids are a slice of the sorted result.
            let mut rows_in: Vec<(i64, &$crate::NewBatch, &$crate::NewSlowQuery)> = Vec::with_capacity(items.len());
            for &i in &fresh {
                let (org, batch) = &batches[i];
                rows_in.extend(batch.items.iter().map(|q| (org.get(), batch, q)));
            }
            let mut all_ids: Vec<i64> = Vec::with_capacity(rows_in.len());
            for chunk in rows_in.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO slow_queries (organization_id, team_id, identity_id, api_key_id, class_id, query_id, sql_text, \
                     database_type, database_name, db_user, client_host, execution_time_ms, lock_time_ms, rows_examined, \
                     rows_sent, rows_affected, calls, observed_at, created_at, explain, source) ",
                );
                qb.push_values(chunk.iter(), |mut b, (org, batch, q)| {
                    b.push_bind(*org)
                        .push_bind(batch.team_id)
                        .push_bind(batch.identity_id)
                        .push_bind(batch.api_key_id)
                        .push_bind(class_of(*org, q))
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
                        .push_bind(q.calls.max(1))
                        .push_bind(q.observed_at)
                        .push_bind(now)
                        .push_bind(q.explain.as_ref().map(sqlx::types::Json))
                        .push_bind(q.source.as_deref());
                });
                qb.push(" RETURNING id");
                let mut ids: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                // Ids come from one sequence in VALUES order; sorting restores the order sent.
                ids.sort_unstable();
                all_ids.extend(ids);
            }

            let mut buckets: Vec<(i64, i32, i64)> = Vec::new();
            let mut dbs: Vec<(i64, &str)> = Vec::new();
            for ((org, db, qid), a) in &groups {
                let id = class_ids.get(&(*org, db.to_string(), qid.to_string())).copied().unwrap_or(0);
                buckets.extend(a.histogram.buckets().map(|(b, n)| (id, i32::from(b), n as i64)));
                dbs.extend(a.databases.iter().map(|d| (id, *d)));
            }
            for chunk in buckets.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO class_histogram (class_id, bucket, count) ");
                qb.push_values(chunk.iter(), |mut b, (c, k, n)| {
                    b.push_bind(*c).push_bind(*k).push_bind(*n);
                });
                qb.push(" ON CONFLICT (class_id, bucket) DO UPDATE SET count = class_histogram.count + excluded.count");
                qb.build().execute(&mut *tx).await?;
            }
            for chunk in dbs.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO class_databases (class_id, name) ");
                qb.push_values(chunk.iter(), |mut b, (c, n)| {
                    b.push_bind(*c).push_bind(*n);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            // Hourly rollups keyed by class, owner and hour.
            let mut rollups: std::collections::BTreeMap<(i64, i64, i64, i64, i64), (i64, i64, f64, f64)> = std::collections::BTreeMap::new();
            for (org, batch, q) in &rows_in {
                let key = (class_of(*org, q), batch.team_id.unwrap_or(0), batch.identity_id.unwrap_or(0), hour_of(q.observed_at).timestamp(), *org);
                let e = rollups.entry(key).or_insert((0, 0, 0.0, 0.0));
                let calls = q.calls.max(1);
                e.0 += 1;
                e.1 += calls;
                e.2 += q.execution_time_ms * calls as f64;
                e.3 = e.3.max(q.execution_time_ms);
            }
            let rollups: Vec<_> = rollups.into_iter().collect();
            for chunk in rollups.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO query_rollups (organization_id, class_id, team_id, identity_id, hour, row_count, count, total_time_ms, max_time_ms) ",
                );
                qb.push_values(chunk.iter(), |mut b, ((class, team, identity, hour, org), (rows, n, total, max))| {
                    b.push_bind(*org)
                        .push_bind(*class)
                        .push_bind(*team)
                        .push_bind(*identity)
                        .push_bind(chrono::DateTime::from_timestamp(*hour, 0).unwrap_or(now))
                        .push_bind(*rows)
                        .push_bind(*n)
                        .push_bind(*total)
                        .push_bind(*max);
                });
                qb.push(format!(
                    " ON CONFLICT (class_id, team_id, identity_id, hour) DO UPDATE SET row_count = query_rollups.row_count + excluded.row_count, \
                     count = query_rollups.count + excluded.count, \
                     total_time_ms = query_rollups.total_time_ms + excluded.total_time_ms, \
                     max_time_ms = {}(query_rollups.max_time_ms, excluded.max_time_ms)",
                    Self::GREATEST
                ));
                qb.build().execute(&mut *tx).await?;
            }
            for chunk in to_analyze.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO analysis_jobs (organization_id, class_id, status, reason, attempts, created_at, updated_at) ",
                );
                qb.push_values(chunk.iter(), |mut b, (org, class, reason)| {
                    b.push_bind(*org).push_bind(*class).push_bind("queued").push_bind(*reason).push_bind(0_i32).push_bind(now).push_bind(now);
                });
                qb.push(" ON CONFLICT DO NOTHING");
                qb.build().execute(&mut *tx).await?;
            }
            // Refresh p95/p99 of the touched classes from their merged histograms.
            let touched: Vec<i64> = class_ids.values().copied().collect();
            for chunk in touched.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT class_id, bucket, count FROM class_histogram WHERE class_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                let rows: Vec<(i64, i32, i64)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                let mut hists: std::collections::BTreeMap<i64, dbpower_sql::Histogram> = std::collections::BTreeMap::new();
                for (c, b, n) in rows {
                    hists.entry(c).or_default().record_bucket(u16::try_from(b).unwrap_or(0), u64::try_from(n).unwrap_or(0));
                }
                if hists.is_empty() {
                    continue;
                }
                let mut qb = sqlx::QueryBuilder::<$db>::new("WITH v(id, p95, p99) AS (");
                qb.push_values(hists.iter(), |mut b, (c, h)| {
                    b.push_bind(*c).push_bind(h.percentile(95.0).unwrap_or(0.0)).push_bind(h.percentile(99.0).unwrap_or(0.0));
                });
                qb.push(
                    ") UPDATE query_classes SET p95_time_ms = (SELECT p95 FROM v WHERE v.id = query_classes.id), \
                     p99_time_ms = (SELECT p99 FROM v WHERE v.id = query_classes.id) WHERE id IN (SELECT id FROM v)",
                );
                qb.build().execute(&mut *tx).await?;
            }
            let mut offset = 0;
            let mut keys_used: Vec<i64> = Vec::new();
            for &i in &fresh {
                let (org, batch) = &batches[i];
                let ids = all_ids[offset..(offset + batch.items.len()).min(all_ids.len())].to_vec();
                offset += batch.items.len();
                sqlx::query("UPDATE ingest_requests SET response = $3 WHERE api_key_id = $1 AND request_id = $2")
                    .bind(batch.api_key_id)
                    .bind(&batch.request_id)
                    .bind(sqlx::types::Json(&ids))
                    .execute(&mut *tx)
                    .await?;
                if !keys_used.contains(&batch.api_key_id) {
                    keys_used.push(batch.api_key_id);
                }
                // New classes are reported once, on the first batch of their organization.
                let new_classes = new_per_org.remove(&org.get()).unwrap_or(0);
                outcomes[i] = Some(Ok($crate::IngestOutcome { ids, replayed: false, new_classes }));
            }
            for key in keys_used {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1").bind(key).bind(now).execute(&mut *tx).await?;
            }
            // Duplicates inside this group: answer them with what their first copy stored.
            for i in 0..batches.len() {
                if matches!(outcomes[i], Some(Err(_))) {
                    let (_, b) = &batches[i];
                    let first = (0..i).find(|&j| batches[j].1.api_key_id == b.api_key_id && batches[j].1.request_id == b.request_id);
                    let ids = first.and_then(|j| match &outcomes[j] {
                        Some(Ok(o)) => Some(o.ids.clone()),
                        _ => None,
                    });
                    if let Some(ids) = ids {
                        outcomes[i] = Some(Ok($crate::IngestOutcome { ids, replayed: true, new_classes: 0 }));
                    }
                }
            }
            tx.commit().await?;
            Ok(outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err($crate::StoreError::Corrupt("batch without outcome".into())))).collect())
        }

        async fn ingest_credential(&self, key_id: &str) -> $crate::Result<($crate::ApiKeyRecord, dbpower_types::OrgSettings)> {
            let cols = $crate::common::API_KEY_COLS.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT {cols}, o.settings FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.key_id = $1");
            let row: Option<$crate::ingest::KeyWithSettings> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(key_id).fetch_optional(&self.pool).await?;
            let row = $crate::common::one(row)?;
            let settings = serde_json::from_value(row.settings.0).unwrap_or_default();
            Ok((row.key.into(), settings))
        }

        async fn list_slow_queries(
            &self,
            scope: &dbpower_core::Scope,
            f: &dbpower_types::SlowQueryFilter,
            page: $crate::PageRequest,
        ) -> $crate::Result<(Vec<dbpower_types::SlowQueryView>, i64)> {
            // Only the filters present become SQL, so the planner can use the (organization, time) and
            // (organization, execution time) indexes.
            fn filters(qb: &mut sqlx::QueryBuilder<$db>, scope: &dbpower_core::Scope, f: &dbpower_types::SlowQueryFilter, q: &Option<String>, like: &str) {
                qb.push(" WHERE ");
                qb.push($crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "s."));
                match f.status.unwrap_or_default() {
                    dbpower_types::AnalysisStatus::All => {}
                    dbpower_types::AnalysisStatus::Analyzed => {
                        qb.push(" AND c.severity IS NOT NULL");
                    }
                    dbpower_types::AnalysisStatus::Unanalyzed => {
                        qb.push(" AND c.severity IS NULL");
                    }
                }
                if let Some(v) = f.severity {
                    qb.push(" AND c.severity = ").push_bind(v.as_str());
                }
                if let Some(v) = f.database_type {
                    qb.push(" AND s.database_type = ").push_bind(v.as_str());
                }
                if let Some(v) = &f.database_name {
                    qb.push(" AND s.database_name = ").push_bind(v.as_str());
                }
                if let Some(v) = &f.query_id {
                    qb.push(" AND s.query_id = ").push_bind(v.as_str());
                }
                if let Some(v) = q {
                    qb.push(format!(" AND s.sql_text {like} ")).push_bind(v.as_str()).push(" ESCAPE '\\'");
                }
                if let Some(v) = f.from {
                    qb.push(" AND s.observed_at >= ").push_bind(v);
                }
                if let Some(v) = f.to {
                    qb.push(" AND s.observed_at < ").push_bind(v);
                }
                if let Some(v) = f.min_time_ms {
                    qb.push(" AND s.execution_time_ms >= ").push_bind(v);
                }
            }
            let q = f.q.as_deref().map($crate::ingest::like_pattern);
            let order = match f.sort.unwrap_or_default() {
                dbpower_types::SlowQuerySort::ObservedAt => "s.observed_at DESC, s.id DESC",
                dbpower_types::SlowQuerySort::ExecutionTimeMs => "s.execution_time_ms DESC, s.id DESC",
            };
            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                "SELECT {} FROM slow_queries s JOIN query_classes c ON c.id = s.class_id",
                $crate::ingest::SLOW_COLS
            ));
            filters(&mut qb, scope, f, &q, Self::ILIKE);
            qb.push(format!(" ORDER BY {order} LIMIT ")).push_bind(page.limit()).push(" OFFSET ").push_bind(page.offset());
            let rows: Vec<$crate::ingest::SlowRow> = qb.build_query_as().fetch_all(&self.pool).await?;
            let items = rows.into_iter().map(|r| r.into_view().map(|v| v.0)).collect::<$crate::Result<Vec<_>>>()?;
            // The total: exact from the hourly rollups when every filter is one they carry (the common
            // case, and cheap at any size); otherwise counted on the rows, up to COUNT_CAP.
            let rollup_ok = f.database_name.is_none() && q.is_none() && f.from.is_none() && f.to.is_none() && f.min_time_ms.is_none();
            let total: i64 = if rollup_ok {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT CAST(COALESCE(SUM(r.row_count), 0) AS BIGINT) FROM query_rollups r JOIN query_classes c ON c.id = r.class_id WHERE ",
                );
                qb.push($crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r."));
                match f.status.unwrap_or_default() {
                    dbpower_types::AnalysisStatus::All => {}
                    dbpower_types::AnalysisStatus::Analyzed => {
                        qb.push(" AND c.severity IS NOT NULL");
                    }
                    dbpower_types::AnalysisStatus::Unanalyzed => {
                        qb.push(" AND c.severity IS NULL");
                    }
                }
                if let Some(v) = f.severity {
                    qb.push(" AND c.severity = ").push_bind(v.as_str());
                }
                if let Some(v) = f.database_type {
                    qb.push(" AND c.database_type = ").push_bind(v.as_str());
                }
                if let Some(v) = &f.query_id {
                    qb.push(" AND c.query_id = ").push_bind(v.as_str());
                }
                qb.build_query_scalar().fetch_one(&self.pool).await?
            } else {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM (SELECT 1 FROM slow_queries s JOIN query_classes c ON c.id = s.class_id");
                filters(&mut qb, scope, f, &q, Self::ILIKE);
                qb.push(" LIMIT ").push_bind($crate::COUNT_CAP).push(") AS capped");
                qb.build_query_scalar().fetch_one(&self.pool).await?
            };
            Ok((items, total))
        }

        async fn slow_query_by_id(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::SlowQueryRecord> {
            let sql = format!(
                "SELECT {}, s.explain FROM slow_queries s JOIN query_classes c ON c.id = s.class_id WHERE s.id = $1 AND {}",
                $crate::ingest::SLOW_COLS,
                $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "s.")
            );
            let row: Option<$crate::ingest::SlowRowWithExplain> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
            let row = $crate::common::one(row)?;
            let explain = row.explain.map(|j| j.0);
            let organization_id = row.row.organization_id;
            let (view, class_id) = row.row.into_view()?;
            Ok($crate::SlowQueryRecord { view, class_id, organization_id, explain })
        }

        async fn query_class_by_id(&self, class_id: i64) -> $crate::Result<dbpower_types::QueryClassView> {
            let sql = format!("SELECT {} FROM query_classes c WHERE c.id = $1", $crate::ingest::CLASS_COLS);
            let row: Option<$crate::ingest::ClassRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(class_id).fetch_optional(&self.pool).await?;
            let row = $crate::common::one(row)?;
            let dbs: Vec<String> = sqlx::query_scalar("SELECT name FROM class_databases WHERE class_id = $1 ORDER BY name")
                .bind(class_id)
                .fetch_all(&self.pool)
                .await?;
            row.into_view(dbs)
        }

        async fn query_class_id(&self, scope: &dbpower_core::Scope, query_id: &str) -> $crate::Result<i64> {
            // Visible when the caller can see at least one of its slow queries' owners.
            let sql = format!(
                "SELECT c.id FROM query_classes c WHERE c.query_id = $1 AND EXISTS (SELECT 1 FROM query_rollups r \
                 WHERE r.class_id = c.id AND {}) ORDER BY c.id LIMIT 1",
                $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.")
            );
            let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(query_id).fetch_optional(&self.pool).await?;
            $crate::common::one(id)
        }

        async fn list_query_classes(
            &self,
            scope: &dbpower_core::Scope,
            f: &dbpower_types::QueryClassFilter,
            page: $crate::PageRequest,
        ) -> $crate::Result<(Vec<dbpower_types::QueryClassView>, i64)> {
            let owner = match scope.filter() {
                dbpower_core::ScopeFilter::All => "1=1".to_string(),
                dbpower_core::ScopeFilter::Org { org } => format!("c.organization_id = {org}"),
                _ => format!(
                    "c.id IN (SELECT r.class_id FROM query_rollups r WHERE {})",
                    $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.")
                ),
            };
            let status = match f.status.unwrap_or_default() {
                dbpower_types::AnalysisStatus::All => "",
                dbpower_types::AnalysisStatus::Analyzed => " AND c.severity IS NOT NULL",
                dbpower_types::AnalysisStatus::Unanalyzed => " AND c.severity IS NULL",
            };
            let pred = format!(
                "{owner} AND ($1 IS NULL OR c.severity = $1) AND ($2 IS NULL OR c.database_type = $2) AND \
                 ($3 IS NULL OR c.query_id = $3) AND ($4 IS NULL OR c.sample_sql {like} $4 ESCAPE '\\'){status}",
                like = Self::ILIKE
            );
            let q = f.q.as_deref().map($crate::ingest::like_pattern);
            let order = match f.sort.unwrap_or_default() {
                dbpower_types::ClassSort::TotalTime => "c.total_time_ms DESC, c.id",
                dbpower_types::ClassSort::Count => "c.count DESC, c.id",
                dbpower_types::ClassSort::P95 => "c.p95_time_ms DESC, c.id",
            };
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM query_classes c WHERE {pred}")))
                .bind(f.severity.map(|s| s.as_str()))
                .bind(f.database_type.map(|d| d.as_str()))
                .bind(f.query_id.as_deref())
                .bind(q.as_deref())
                .fetch_one(&self.pool)
                .await?;
            let sql = format!("SELECT {} FROM query_classes c WHERE {pred} ORDER BY {order} LIMIT $5 OFFSET $6", $crate::ingest::CLASS_COLS);
            let rows: Vec<$crate::ingest::ClassRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(f.severity.map(|s| s.as_str()))
                .bind(f.database_type.map(|d| d.as_str()))
                .bind(f.query_id.as_deref())
                .bind(q.as_deref())
                .bind(page.limit())
                .bind(page.offset())
                .fetch_all(&self.pool)
                .await?;
            // The databases of the whole page in one query.
            let mut dbs: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
            if !rows.is_empty() {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT class_id, name FROM class_databases WHERE class_id IN (");
                let mut sep = qb.separated(", ");
                for r in &rows {
                    sep.push_bind(r.id);
                }
                qb.push(") ORDER BY name");
                let pairs: Vec<(i64, String)> = qb.build_query_as().fetch_all(&self.pool).await?;
                for (c, n) in pairs {
                    dbs.entry(c).or_default().push(n);
                }
            }
            let items = rows
                .into_iter()
                .map(|r| {
                    let d = dbs.remove(&r.id).unwrap_or_default();
                    r.into_view(d)
                })
                .collect::<$crate::Result<Vec<_>>>()?;
            Ok((items, total))
        }

        async fn class_series(
            &self,
            scope: &dbpower_core::Scope,
            class_id: i64,
            since: chrono::DateTime<chrono::Utc>,
        ) -> $crate::Result<Vec<dbpower_types::SeriesPoint>> {
            let sql = format!(
                "SELECT r.hour, CAST(SUM(r.count) AS BIGINT), CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION), MAX(r.max_time_ms) FROM query_rollups r \
                 WHERE r.class_id = $1 AND r.hour >= $2 AND {} GROUP BY r.hour ORDER BY r.hour",
                $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.")
            );
            let rows: Vec<(chrono::DateTime<chrono::Utc>, i64, f64, f64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(class_id).bind(since).fetch_all(&self.pool).await?;
            Ok(rows
                .into_iter()
                .map(|(hour, count, total, max)| dbpower_types::SeriesPoint {
                    hour,
                    count,
                    total_time_ms: total,
                    avg_time_ms: if count > 0 { total / count as f64 } else { 0.0 },
                    max_time_ms: max,
                })
                .collect())
        }

        async fn analysis_for_class(&self, class_id: i64) -> $crate::Result<Option<dbpower_types::AnalysisView>> {
            let row: Option<(sqlx::types::Json<dbpower_types::AnalysisReport>, chrono::DateTime<chrono::Utc>)> =
                sqlx::query_as("SELECT report, analyzed_at FROM analysis_results WHERE class_id = $1")
                    .bind(class_id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(row.map(|(r, at)| dbpower_types::AnalysisView { report: r.0, analyzed_at: at }))
        }

        async fn dashboard(&self, scope: &dbpower_core::Scope, since: chrono::DateTime<chrono::Utc>) -> $crate::Result<$crate::DashboardData> {
            let pred = $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.");
            let (total_queries, total_time): (i64, f64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(COALESCE(SUM(r.count), 0) AS BIGINT), CAST(COALESCE(SUM(r.total_time_ms), 0) AS DOUBLE PRECISION) FROM query_rollups r WHERE {pred}"
            )))
            .fetch_one(&self.pool)
            .await?;
            let classes = format!("SELECT DISTINCT r.class_id FROM query_rollups r WHERE {pred}");
            let (issues, critical): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(COALESCE(SUM(CASE WHEN a.issue_count > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN a.severity = 'CRITICAL' THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM analysis_results a WHERE a.class_id IN ({classes})"
            )))
            .fetch_one(&self.pool)
            .await?;
            let days: Vec<(String, i64, f64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {day} AS d, CAST(SUM(r.count) AS BIGINT), CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION), \
                 CAST(SUM(CASE WHEN c.severity = 'CRITICAL' THEN r.count ELSE 0 END) AS BIGINT) \
                 FROM query_rollups r JOIN query_classes c ON c.id = r.class_id WHERE {pred} AND r.hour >= $1 GROUP BY {day}",
                day = Self::DAY_OF_HOUR
            )))
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
            Ok($crate::DashboardData { total_queries, total_time_ms: total_time, issues, critical, days })
        }

        async fn enqueue_analysis(&self, org: dbpower_core::OrgId, class_id: i64, reason: &str) -> $crate::Result<()> {
            let now = $crate::common::now();
            sqlx::query(
                "INSERT INTO analysis_jobs (organization_id, class_id, status, reason, attempts, created_at, updated_at) \
                 SELECT organization_id, id, 'queued', $3, 0, $4, $4 FROM query_classes WHERE id = $2 AND organization_id = $1 \
                 ON CONFLICT DO NOTHING",
            )
            .bind(org.get())
            .bind(class_id)
            .bind(reason)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn claim_jobs(&self, limit: i64, lease: std::time::Duration) -> $crate::Result<Vec<$crate::ClaimedJob>> {
            let now = $crate::common::now();
            let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
            let token = format!("{:x}{:x}", now.timestamp_micros(), $crate::ingest::rand_u64());
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "UPDATE analysis_jobs SET status = 'failed', last_error = 'lease expired too many times', lease_token = NULL, \
                 updated_at = $1 WHERE status = 'running' AND lease_until < $1 AND attempts >= $2",
            )
            .bind(now)
            .bind($crate::MAX_JOB_ATTEMPTS)
            .execute(&mut *tx)
            .await?;
            let sql = format!(
                "UPDATE analysis_jobs SET status = 'running', attempts = attempts + 1, lease_token = $1, lease_until = $2, \
                 updated_at = $3 WHERE id IN (SELECT id FROM analysis_jobs WHERE status = 'queued' OR \
                 (status = 'running' AND lease_until < $3) ORDER BY id LIMIT $4{}) RETURNING id",
                Self::SKIP_LOCKED
            );
            let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(&token)
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
            let mut jobs = Vec::with_capacity(ids.len());
            for id in ids {
                let row: (i64, i64, i32, String, String, i64, f64, f64, i64, i64, f64) = sqlx::query_as(
                    "SELECT j.organization_id, j.class_id, j.attempts, c.database_type, c.sample_sql, c.count, c.total_time_ms, \
                     c.max_time_ms, c.rows_examined, c.rows_sent, c.lock_time_ms FROM analysis_jobs j \
                     JOIN query_classes c ON c.id = j.class_id WHERE j.id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                jobs.push($crate::ClaimedJob {
                    id,
                    organization_id: row.0,
                    class_id: row.1,
                    lease_token: token.clone(),
                    attempts: row.2,
                    database_type: $crate::ingest::parse_db_type(&row.3)?,
                    sample_sql: row.4,
                    count: row.5,
                    total_time_ms: row.6,
                    max_time_ms: row.7,
                    rows_examined: row.8,
                    rows_sent: row.9,
                    lock_time_ms: row.10,
                });
            }
            tx.commit().await?;
            Ok(jobs)
        }

        async fn complete_job(&self, job: &$crate::ClaimedJob, report: &dbpower_types::AnalysisReport) -> $crate::Result<bool> {
            let now = $crate::common::now();
            let _guard = self.write_guard().await;
            let mut tx = self.pool.begin().await?;
            // Fenced by the lease token: a worker whose lease expired (and was re-claimed) writes nothing.
            let done = sqlx::query(
                "UPDATE analysis_jobs SET status = 'done', lease_token = NULL, lease_until = NULL, updated_at = $3 \
                 WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            )
            .bind(job.id)
            .bind(&job.lease_token)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO analysis_results (class_id, organization_id, severity, issue_count, report, analyzed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (class_id) DO UPDATE SET severity = excluded.severity, \
                 issue_count = excluded.issue_count, report = excluded.report, analyzed_at = excluded.analyzed_at",
            )
            .bind(job.class_id)
            .bind(job.organization_id)
            .bind(report.severity.as_str())
            .bind(i32::try_from(report.issues.len()).unwrap_or(i32::MAX))
            .bind(sqlx::types::Json(report))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE query_classes SET severity = $2 WHERE id = $1")
                .bind(job.class_id)
                .bind(report.severity.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn fail_job(&self, job: &$crate::ClaimedJob, error: &str) -> $crate::Result<()> {
            let _guard = self.write_guard().await;
            sqlx::query(
                "UPDATE analysis_jobs SET status = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'queued' END, \
                 last_error = $4, lease_token = NULL, lease_until = NULL, updated_at = $5 WHERE id = $1 AND lease_token = $2",
            )
            .bind(job.id)
            .bind(&job.lease_token)
            .bind($crate::MAX_JOB_ATTEMPTS)
            .bind(error)
            .bind($crate::common::now())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn queue_depth(&self) -> $crate::Result<i64> {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM analysis_jobs WHERE status IN ('queued', 'running')").fetch_one(&self.pool).await?)
        }

        async fn delete_slow_queries_before(&self, org: dbpower_core::OrgId, cutoff: chrono::DateTime<chrono::Utc>) -> $crate::Result<u64> {
            let _guard = self.write_guard().await;
            let n = sqlx::query("DELETE FROM slow_queries WHERE organization_id = $1 AND observed_at < $2")
                .bind(org.get())
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM query_rollups WHERE organization_id = $1 AND hour < $2")
                .bind(org.get())
                .bind($crate::ingest::hour_of(cutoff))
                .execute(&self.pool)
                .await?;
            Ok(n)
        }

        async fn prune_ingest_requests(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::Result<u64> {
            let _guard = self.write_guard().await;
            Ok(sqlx::query("DELETE FROM ingest_requests WHERE created_at < $1").bind(before).execute(&self.pool).await?.rows_affected())
        }
        }
    };
}
pub(crate) use ingest_impl;

/// A random number for lease tokens (no extra dependency: hashed time and address entropy).
pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128);
    h.finish()
}

#[derive(sqlx::FromRow)]
pub(crate) struct SlowRowWithExplain {
    #[sqlx(flatten)]
    pub row: SlowRow,
    pub explain: Option<sqlx::types::Json<serde_json::Value>>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyWithSettings {
    #[sqlx(flatten)]
    pub key: crate::common::ApiKeyRow,
    pub settings: sqlx::types::Json<serde_json::Value>,
}
