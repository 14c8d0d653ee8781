//! Ingestion, read models and the analysis queue: SQL shared by both databases, expanded into the
//! `Store` impl by `ingest_methods!` (see `common.rs` for the mechanism). One ingestion batch is one
//! transaction of a fixed number of statements whatever its size: idempotency record, class upsert,
//! slow-query insert, histogram/database/rollup upserts, job enqueue, percentile refresh.

use std::collections::BTreeMap;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use dbpower_sql::Histogram;

use crate::NewSlowQuery;

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
        a.count = a.count.saturating_add(calls);
        // For aggregated entries (calls > 1) execution_time_ms is the mean of those calls.
        a.total += q.execution_time_ms * calls as f64;
        a.min = a.min.min(q.execution_time_ms);
        a.max = a.max.max(q.execution_time_ms);
        a.lock += q.lock_time_ms.unwrap_or(0.0) * calls as f64;
        a.rows_examined = a
            .rows_examined
            .saturating_add(q.rows_examined.unwrap_or(0).max(0));
        a.rows_sent = a.rows_sent.saturating_add(q.rows_sent.unwrap_or(0).max(0));
        a.first_seen = a.first_seen.min(q.observed_at);
        a.last_seen = a.last_seen.max(q.observed_at);
        a.histogram
            .record_n(q.execution_time_ms, u64::try_from(calls).unwrap_or(0));
        if let Some(db) = q.database_name.as_deref()
            && !a.databases.contains(&db)
        {
            a.databases.push(db);
        }
        a.has_explain |= q.explain.is_some() || q.schema.is_some();
    }
    out
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

/// Expands `impl IngestStore for $ty` over the database `$db`.
macro_rules! ingest_impl {
    ($ty:ty, $db:ty) => {
        impl $ty {
        /// Stores a group of batches in one transaction (all or nothing).
        async fn ingest_group(
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
                     fingerprint = CASE WHEN query_classes.fingerprint_version < excluded.fingerprint_version \
                       THEN excluded.fingerprint ELSE query_classes.fingerprint END, \
                     fingerprint_version = {greatest}(query_classes.fingerprint_version, excluded.fingerprint_version), \
                     count = {count}, \
                     total_time_ms = query_classes.total_time_ms + excluded.total_time_ms, \
                     min_time_ms = {least}(query_classes.min_time_ms, excluded.min_time_ms), \
                     max_time_ms = {greatest}(query_classes.max_time_ms, excluded.max_time_ms), \
                     lock_time_ms = query_classes.lock_time_ms + excluded.lock_time_ms, \
                     rows_examined = {rows_examined}, \
                     rows_sent = {rows_sent}, \
                     first_seen = {least}(query_classes.first_seen, excluded.first_seen), \
                     last_seen = {greatest}(query_classes.last_seen, excluded.last_seen) \
                     RETURNING id, organization_id, database_type, query_id, count",
                    least = Self::LEAST,
                    greatest = Self::GREATEST,
                    count = $crate::ingest::saturating_sum("query_classes.count", "excluded.count"),
                    rows_examined = $crate::ingest::saturating_sum("query_classes.rows_examined", "excluded.rows_examined"),
                    rows_sent = $crate::ingest::saturating_sum("query_classes.rows_sent", "excluded.rows_sent"),
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
                     rows_sent, rows_affected, calls, observed_at, created_at, explain, schema_snapshot, source) ",
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
                        .push_bind(q.schema.as_ref().map(sqlx::types::Json))
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
                buckets.extend(a.histogram.buckets().map(|(b, n)| (id, i32::from(b), i64::try_from(n).unwrap_or(i64::MAX))));
                dbs.extend(a.databases.iter().map(|d| (id, *d)));
            }
            for chunk in buckets.chunks(CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO class_histogram (class_id, bucket, count) ");
                qb.push_values(chunk.iter(), |mut b, (c, k, n)| {
                    b.push_bind(*c).push_bind(*k).push_bind(*n);
                });
                qb.push(format!(
                    " ON CONFLICT (class_id, bucket) DO UPDATE SET count = {}",
                    $crate::ingest::saturating_sum("class_histogram.count", "excluded.count")
                ));
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
                e.1 = i64::saturating_add(e.1, calls);
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
                    " ON CONFLICT (class_id, team_id, identity_id, hour) DO UPDATE SET row_count = {}, \
                     count = {}, \
                     total_time_ms = query_rollups.total_time_ms + excluded.total_time_ms, \
                     max_time_ms = {}(query_rollups.max_time_ms, excluded.max_time_ms)",
                    $crate::ingest::saturating_sum("query_rollups.row_count", "excluded.row_count"),
                    $crate::ingest::saturating_sum("query_rollups.count", "excluded.count"),
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
        }

        #[async_trait::async_trait]
        impl $crate::IngestStore for $ty {
        async fn ingest_many(
            &self,
            batches: &[(dbpower_core::OrgId, $crate::NewBatch)],
        ) -> $crate::Result<Vec<$crate::Result<$crate::IngestOutcome>>> {
            // The group is one transaction. If it fails, nothing of it was stored, and each batch is
            // written again alone: one bad batch fails only itself, never the other tenants' batches
            // that happened to share its transaction.
            match self.ingest_group(batches).await {
                Ok(outcomes) => Ok(outcomes),
                Err(e) if batches.len() > 1 => {
                    tracing::warn!(error = %e, batches = batches.len(), "group ingestion failed; storing each batch alone");
                    let mut outcomes = Vec::with_capacity(batches.len());
                    for one in batches {
                        let r = match self.ingest_group(std::slice::from_ref(one)).await {
                            Ok(mut v) => v.pop().unwrap_or_else(|| Err($crate::StoreError::Corrupt("batch without outcome".into()))),
                            Err(e) => Err(e),
                        };
                        outcomes.push(r);
                    }
                    Ok(outcomes)
                }
                Err(e) => Err(e),
            }
        }

        async fn ingest_credential(&self, key_id: &str) -> $crate::Result<$crate::IngestCredential> {
            let cols = $crate::common::API_KEY_COLS.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT {cols}, o.settings, o.retention_days FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.key_id = $1");
            let row: Option<$crate::ingest::KeyWithSettings> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(key_id).fetch_optional(&self.pool).await?;
            let row = $crate::common::one(row)?;
            let settings = serde_json::from_value(row.settings.0).unwrap_or_default();
            Ok($crate::IngestCredential { key: row.key.into(), settings, retention_days: row.retention_days })
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
            // What no longer has rows behind it goes too: classes (with their sample, histogram, analysis
            // and jobs) last seen before the cutoff with no slow query and no rollup left (`last_seen` is
            // re-checked against a concurrent ingestion, which moves it forward), finished jobs, and LLM-call
            // records older than the cutoff.
            sqlx::query(
                "DELETE FROM query_classes WHERE organization_id = $1 AND last_seen < $2 \
                 AND NOT EXISTS (SELECT 1 FROM slow_queries s WHERE s.class_id = query_classes.id) \
                 AND NOT EXISTS (SELECT 1 FROM query_rollups r WHERE r.class_id = query_classes.id)",
            )
            .bind(org.get())
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
            sqlx::query("DELETE FROM analysis_jobs WHERE organization_id = $1 AND status IN ('done', 'failed') AND updated_at < $2")
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

        async fn prune_ingest_requests(&self, before: chrono::DateTime<chrono::Utc>) -> $crate::Result<u64> {
            let _guard = self.write_guard().await;
            // Refresh tokens past their expiry are of no use to anyone: they go with the idempotency records.
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
                .bind($crate::common::now())
                .execute(&self.pool)
                .await?;
            Ok(sqlx::query("DELETE FROM ingest_requests WHERE created_at < $1").bind(before).execute(&self.pool).await?.rows_affected())
        }
        }
    };
}
pub(crate) use ingest_impl;

#[derive(sqlx::FromRow)]
pub(crate) struct KeyWithSettings {
    #[sqlx(flatten)]
    pub key: crate::rows::ApiKeyRow,
    pub settings: sqlx::types::Json<serde_json::Value>,
    pub retention_days: i32,
}
