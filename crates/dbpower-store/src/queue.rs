//! The analysis job queue, shared by both databases (expanded by `queue_impl!`): leased claims
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), completion fenced by the lease token, bounded retries.

use chrono::Utc;

/// A random number for lease tokens (no extra dependency: hashed time and address entropy).
pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128);
    h.finish()
}

/// Expands `impl QueueStore for $ty` over the database `$db`.
macro_rules! queue_impl {
    ($ty:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::QueueStore for $ty {
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
            let token = format!("{:x}{:x}", now.timestamp_micros(), $crate::queue::rand_u64());
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
                type Row = (i64, i64, i32, String, String, i64, f64, f64, i64, i64, f64,
                    Option<sqlx::types::Json<serde_json::Value>>, Option<sqlx::types::Json<serde_json::Value>>, f64);
                let row: Row = sqlx::query_as(
                    "SELECT j.organization_id, j.class_id, j.attempts, c.database_type, c.sample_sql, c.count, c.total_time_ms, \
                     c.max_time_ms, c.rows_examined, c.rows_sent, c.lock_time_ms, \
                     (SELECT s.explain FROM slow_queries s WHERE s.class_id = c.id AND s.explain IS NOT NULL ORDER BY s.id DESC LIMIT 1), \
                     (SELECT s.schema_snapshot FROM slow_queries s WHERE s.class_id = c.id AND s.schema_snapshot IS NOT NULL ORDER BY s.id DESC LIMIT 1), \
                     (SELECT COALESCE(SUM(o.total_time_ms), 0.0) FROM query_classes o WHERE o.organization_id = c.organization_id) \
                     FROM analysis_jobs j JOIN query_classes c ON c.id = j.class_id WHERE j.id = $1",
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
                    database_type: $crate::reads::parse_db_type(&row.3)?,
                    sample_sql: row.4,
                    count: row.5,
                    total_time_ms: row.6,
                    max_time_ms: row.7,
                    rows_examined: row.8,
                    rows_sent: row.9,
                    lock_time_ms: row.10,
                    explain: row.11.map(|j| j.0),
                    schema: row.12.map(|j| j.0),
                    org_total_time_ms: row.13,
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

        async fn record_heartbeat(&self, key: &dbpower_types::ApiKeyView, heartbeat: &serde_json::Value) -> $crate::Result<()> {
            let _guard = self.write_guard().await;
            sqlx::query(
                "INSERT INTO agents (api_key_id, organization_id, team_id, identity_id, heartbeat, last_seen) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (api_key_id) DO UPDATE SET heartbeat = excluded.heartbeat, last_seen = excluded.last_seen, \
                 team_id = excluded.team_id, identity_id = excluded.identity_id",
            )
            .bind(key.id)
            .bind(key.organization_id)
            .bind(key.team_id)
            .bind(key.identity_id)
            .bind(sqlx::types::Json(heartbeat))
            .bind($crate::common::now())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn list_agents(&self, scope: &dbpower_core::Scope) -> $crate::Result<Vec<$crate::AgentRecord>> {
            type Row = (i64, i64, Option<i64>, sqlx::types::Json<serde_json::Value>, chrono::DateTime<chrono::Utc>);
            let sql = format!(
                "SELECT api_key_id, organization_id, team_id, heartbeat, last_seen FROM agents WHERE {} ORDER BY api_key_id",
                $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::Owned)
            );
            let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
            Ok(rows
                .into_iter()
                .map(|r| $crate::AgentRecord { api_key_id: r.0, organization_id: r.1, team_id: r.2, heartbeat: r.3.0, last_seen: r.4 })
                .collect())
        }

        async fn record_llm_calls(&self, org: dbpower_core::OrgId, class_id: Option<i64>, calls: &[$crate::NewLlmCall]) -> $crate::Result<()> {
            let now = $crate::common::now();
            let _guard = self.write_guard().await;
            for c in calls {
                sqlx::query(
                    "INSERT INTO llm_calls (organization_id, class_id, provider, model, prompt_sha256, prompt_tokens, \
                     completion_tokens, latency_ms, outcome, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(org.get())
                .bind(class_id)
                .bind(&c.provider)
                .bind(&c.model)
                .bind(&c.prompt_sha256)
                .bind(c.prompt_tokens)
                .bind(c.completion_tokens)
                .bind(c.latency_ms)
                .bind(&c.outcome)
                .bind(c.detail.as_deref())
                .bind(now)
                .execute(&self.pool)
                .await?;
            }
            Ok(())
        }

        async fn llm_calls(&self, scope: &dbpower_core::Scope, limit: i64) -> $crate::Result<Vec<$crate::LlmCallRecord>> {
            type Row = (i64, i64, Option<i64>, String, String, String, Option<i64>, Option<i64>, f64, String, Option<String>, chrono::DateTime<chrono::Utc>);
            let sql = format!(
                "SELECT id, organization_id, class_id, provider, model, prompt_sha256, prompt_tokens, completion_tokens, \
                 latency_ms, outcome, detail, created_at FROM llm_calls WHERE {} ORDER BY id DESC LIMIT $1",
                $crate::scope_sql::predicate(scope, $crate::scope_sql::Table::AuditLogs)
            );
            let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.pool).await?;
            Ok(rows
                .into_iter()
                .map(|r| $crate::LlmCallRecord {
                    id: r.0,
                    organization_id: r.1,
                    class_id: r.2,
                    call: $crate::NewLlmCall {
                        provider: r.3,
                        model: r.4,
                        prompt_sha256: r.5,
                        prompt_tokens: r.6,
                        completion_tokens: r.7,
                        latency_ms: r.8,
                        outcome: r.9,
                        detail: r.10,
                    },
                    created_at: r.11,
                })
                .collect())
        }

        async fn queue_depth(&self) -> $crate::Result<i64> {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM analysis_jobs WHERE status IN ('queued', 'running')").fetch_one(&self.pool).await?)
        }
        }
    };
}
pub(crate) use queue_impl;
