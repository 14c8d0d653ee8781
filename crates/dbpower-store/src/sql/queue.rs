//! The analysis job queue ([`QueueStore`]): debounced jobs (one queued per class), leased claims,
//! completion fenced by the lease token, bounded retries, superseded jobs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::OrgId;
use dbpower_types::AnalysisReport;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::{Conn, DIALECT, DbStore};
use crate::queue::{ClaimedJobRow, SUPERSEDED, rand_u64};
use crate::{ClaimedJob, MAX_JOB_ATTEMPTS, QueueStore, Result, now};

/// A claimed job (`$1`) with its class and what the analyzer reads beside it: the newest EXPLAIN plan,
/// schema snapshot and statement hints of the class, and the organization's total query time.
const CLAIMED_JOB: &str = "SELECT j.organization_id, j.class_id, j.attempts, c.database_type, \
     c.sample_sql, c.count, c.total_time_ms, c.max_time_ms, CASE WHEN c.rows_known > 0 THEN c.rows_examined END AS rows_examined, c.rows_sent, \
     c.lock_time_ms, (SELECT s.explain FROM slow_queries s WHERE s.class_id = c.id AND s.explain \
     IS NOT NULL ORDER BY s.id DESC LIMIT 1) AS newest_explain, (SELECT s.schema_snapshot FROM \
     slow_queries s WHERE s.class_id = c.id AND s.schema_snapshot IS NOT NULL ORDER BY s.id DESC \
     LIMIT 1) AS newest_schema, (SELECT s.hints FROM slow_queries s WHERE s.class_id = c.id AND \
     s.hints IS NOT NULL ORDER BY s.id DESC LIMIT 1) AS newest_hints, (SELECT COALESCE(SUM(o.total_time_ms), 0.0) FROM query_classes o \
     WHERE o.organization_id = c.organization_id) AS org_total_time_ms FROM analysis_jobs j JOIN \
     query_classes c ON c.id = j.class_id WHERE j.id = $1";

#[async_trait]
impl QueueStore for DbStore {
    fn set_analysis_debounce(&self, window: std::time::Duration) {
        self.debounce.set(window);
    }

    async fn enqueue_analysis(&self, org: OrgId, class_id: i64, reason: &str) -> Result<()> {
        let now = now();
        let _guard = self.write_guard().await;
        // The class row is locked (PostgreSQL) as ingestion's upsert locks it: whoever moves a job of
        // the class to `queued` holds it, so `fail_job` sees this job before it re-queues its own.
        let sql = format!(
            "INSERT INTO analysis_jobs (organization_id, class_id, status, reason, attempts, \
             not_before, created_at, updated_at) \
             SELECT organization_id, id, 'queued', $3, 0, $4, $4, $4 FROM query_classes \
             WHERE id = $2 AND organization_id = $1{for_update} \
             ON CONFLICT (class_id) WHERE status = 'queued' DO UPDATE \
             SET not_before = {least}(analysis_jobs.not_before, excluded.not_before), \
             updated_at = excluded.updated_at",
            for_update = DIALECT.for_update,
            least = DIALECT.least,
        );
        sqlx::query(AssertSqlSafe(sql))
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
        release_expired(&mut tx, now).await?;
        let sql = format!(
            "UPDATE analysis_jobs SET status = 'running', attempts = attempts + 1, \
             lease_token = $1, \
             lease_until = $2, \
             updated_at = $3 WHERE id IN (SELECT id FROM analysis_jobs WHERE \
             (status = 'queued' AND not_before <= $3) OR \
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
        // Completions of one class take turns (PostgreSQL), so the newer job's check below sees an
        // older one's result and the other way round.
        lock_class(&mut tx, job.id).await?;
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
        // A newer job of the class finished first: it read newer evidence, so its result stands.
        let newer_done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM analysis_jobs WHERE class_id = $1 AND id > $2 AND status = 'done'",
        )
        .bind(job.class_id)
        .bind(job.id)
        .fetch_one(&mut *tx)
        .await?;
        if newer_done > 0 {
            sqlx::query("UPDATE analysis_jobs SET last_error = $2 WHERE id = $1")
                .bind(job.id)
                .bind(format!("result not stored: {SUPERSEDED}"))
                .execute(&mut *tx)
                .await?;
        } else {
            store_result(&mut tx, job, report, now).await?;
            super::advice::request_validations(
                &mut tx,
                job.organization_id,
                job.class_id,
                report,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn fail_job(&self, job: &ClaimedJob, error: &str) -> Result<()> {
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        // Holding the class row, as everyone who queues a job of the class does, the check for a
        // queued sibling cannot miss one: re-queuing never clashes with the one-queued-job index.
        lock_class(&mut tx, job.id).await?;
        let sibling = "EXISTS (SELECT 1 FROM analysis_jobs q WHERE q.class_id = \
             analysis_jobs.class_id AND q.status = 'queued')";
        let sql = format!(
            "UPDATE analysis_jobs SET status = CASE WHEN attempts >= $3 OR {sibling} THEN 'failed' \
             ELSE 'queued' END, \
             last_error = CASE WHEN attempts < $3 AND {sibling} THEN $5 ELSE $4 END, \
             lease_token = NULL, lease_until = NULL, updated_at = $6 \
             WHERE id = $1 AND lease_token = $2"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(job.id)
            .bind(&job.lease_token)
            .bind(MAX_JOB_ATTEMPTS)
            .bind(error)
            .bind(format!("{error}; {SUPERSEDED}"))
            .bind(now())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn queue_depth(&self) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM analysis_jobs WHERE status IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT MIN(not_before) FROM analysis_jobs WHERE status = 'queued'")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// Expired leases: a job claimed too often fails; one whose class has a newer job (queued, running
/// or done: it reads at least the evidence this one would) is superseded. The rest are claimed again.
async fn release_expired(conn: &mut Conn, now: DateTime<Utc>) -> Result<()> {
    sqlx::query(
        "UPDATE analysis_jobs SET status = 'failed', last_error = \
         'lease expired too many times', lease_token = NULL, \
         updated_at = $1 WHERE status = 'running' AND lease_until < $1 AND attempts >= $2",
    )
    .bind(now)
    .bind(MAX_JOB_ATTEMPTS)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE analysis_jobs SET status = 'failed', last_error = $2, lease_token = NULL, \
         lease_until = NULL, updated_at = $1 WHERE status = 'running' AND lease_until < $1 \
         AND EXISTS (SELECT 1 FROM analysis_jobs n WHERE n.class_id = analysis_jobs.class_id \
         AND n.id > analysis_jobs.id AND n.status IN ('queued', 'running', 'done'))",
    )
    .bind(now)
    .bind(format!("lease expired; {SUPERSEDED}"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Locks the class of job `job_id` until the transaction ends (PostgreSQL; SQLite has one writer).
async fn lock_class(conn: &mut Conn, job_id: i64) -> Result<()> {
    if DIALECT.for_update.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT id FROM query_classes WHERE id = (SELECT class_id FROM analysis_jobs \
         WHERE id = $1){}",
        DIALECT.for_update
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(job_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(())
}

/// The job's report as its class's analysis, and the class's severity.
async fn store_result(
    conn: &mut Conn,
    job: &ClaimedJob,
    report: &AnalysisReport,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO analysis_results (class_id, organization_id, severity, issue_count, \
         report, analyzed_at, critical_since) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $3 = 'CRITICAL' THEN $6 END) \
         ON CONFLICT (class_id) DO UPDATE \
         SET severity = excluded.severity, \
         critical_since = CASE WHEN excluded.severity <> 'CRITICAL' THEN NULL \
         WHEN analysis_results.severity = 'CRITICAL' THEN analysis_results.critical_since \
         ELSE excluded.analyzed_at END, \
         issue_count = excluded.issue_count, report = excluded.report, \
         analyzed_at = excluded.analyzed_at",
    )
    .bind(job.class_id)
    .bind(job.organization_id)
    .bind(report.severity.as_str())
    .bind(i32::try_from(report.issues.len()).unwrap_or(i32::MAX))
    .bind(Json(report))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE query_classes SET severity = $2 WHERE id = $1")
        .bind(job.class_id)
        .bind(report.severity.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
