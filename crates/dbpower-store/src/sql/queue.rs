//! The analysis job queue ([`QueueStore`]): leased claims, completion fenced by the lease token,
//! bounded retries.

use async_trait::async_trait;
use dbpower_core::OrgId;
use dbpower_types::AnalysisReport;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::{DIALECT, DbStore};
use crate::queue::{ClaimedJobRow, rand_u64};
use crate::{ClaimedJob, MAX_JOB_ATTEMPTS, QueueStore, Result, now};

/// A claimed job (`$1`) with its class and what the analyzer reads beside it: the newest EXPLAIN plan
/// and schema snapshot of the class, and the organization's total query time.
const CLAIMED_JOB: &str = "SELECT j.organization_id, j.class_id, j.attempts, c.database_type, \
     c.sample_sql, c.count, c.total_time_ms, c.max_time_ms, CASE WHEN c.rows_known > 0 THEN c.rows_examined END AS rows_examined, c.rows_sent, \
     c.lock_time_ms, (SELECT s.explain FROM slow_queries s WHERE s.class_id = c.id AND s.explain \
     IS NOT NULL ORDER BY s.id DESC LIMIT 1) AS newest_explain, (SELECT s.schema_snapshot FROM \
     slow_queries s WHERE s.class_id = c.id AND s.schema_snapshot IS NOT NULL ORDER BY s.id DESC \
     LIMIT 1) AS newest_schema, (SELECT COALESCE(SUM(o.total_time_ms), 0.0) FROM query_classes o \
     WHERE o.organization_id = c.organization_id) AS org_total_time_ms FROM analysis_jobs j JOIN \
     query_classes c ON c.id = j.class_id WHERE j.id = $1";

#[async_trait]
impl QueueStore for DbStore {
    async fn enqueue_analysis(&self, org: OrgId, class_id: i64, reason: &str) -> Result<()> {
        let now = now();
        sqlx::query(
            "INSERT INTO analysis_jobs (organization_id, class_id, status, reason, attempts, \
             created_at, updated_at) \
             SELECT organization_id, id, 'queued', $3, 0, $4, $4 FROM query_classes \
             WHERE id = $2 \
             AND organization_id = $1 \
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

    async fn claim_jobs(&self, limit: i64, lease: std::time::Duration) -> Result<Vec<ClaimedJob>> {
        let now = now();
        let until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        let token = format!("{:x}{:x}", now.timestamp_micros(), rand_u64());
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE analysis_jobs SET status = 'failed', last_error = \
             'lease expired too many times', lease_token = NULL, \
             updated_at = $1 WHERE status = 'running' AND lease_until < $1 AND attempts >= $2",
        )
        .bind(now)
        .bind(MAX_JOB_ATTEMPTS)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "UPDATE analysis_jobs SET status = 'running', attempts = attempts + 1, \
             lease_token = $1, \
             lease_until = $2, \
             updated_at = $3 WHERE id IN (SELECT id FROM analysis_jobs WHERE status = 'queued' OR \
             (status = 'running' AND lease_until < $3) ORDER BY id LIMIT $4{}) RETURNING id",
            DIALECT.skip_locked
        );
        let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(&token)
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            let row: ClaimedJobRow = sqlx::query_as(CLAIMED_JOB)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            jobs.push(row.into_job(id, token.clone())?);
        }
        tx.commit().await?;
        Ok(jobs)
    }

    async fn complete_job(&self, job: &ClaimedJob, report: &AnalysisReport) -> Result<bool> {
        let now = now();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        // Fenced by the lease token: a worker whose lease expired (and was re-claimed) writes nothing.
        let done = sqlx::query(
            "UPDATE analysis_jobs SET status = 'done', lease_token = NULL, lease_until = NULL, \
             updated_at = $3 \
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
            "INSERT INTO analysis_results (class_id, organization_id, severity, issue_count, \
             report, analyzed_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (class_id) DO UPDATE \
             SET severity = excluded.severity, \
             issue_count = excluded.issue_count, report = excluded.report, \
             analyzed_at = excluded.analyzed_at",
        )
        .bind(job.class_id)
        .bind(job.organization_id)
        .bind(report.severity.as_str())
        .bind(i32::try_from(report.issues.len()).unwrap_or(i32::MAX))
        .bind(Json(report))
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

    async fn fail_job(&self, job: &ClaimedJob, error: &str) -> Result<()> {
        let _guard = self.write_guard().await;
        sqlx::query(
            "UPDATE analysis_jobs SET status = CASE WHEN attempts >= $3 THEN 'failed' \
             ELSE 'queued' END, \
             last_error = $4, lease_token = NULL, lease_until = NULL, updated_at = $5 \
             WHERE id = $1 AND lease_token = $2",
        )
        .bind(job.id)
        .bind(&job.lease_token)
        .bind(MAX_JOB_ATTEMPTS)
        .bind(error)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn queue_depth(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM analysis_jobs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}
