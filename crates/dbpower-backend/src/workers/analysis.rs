//! The analysis workers that drain the queue. Several processes may run them against one PostgreSQL
//! database: claims are leased (`FOR UPDATE SKIP LOCKED`), so no job is lost when a worker dies and none
//! is done twice concurrently.

use std::time::Duration;

use dbpower_analysis::{ClassStats, Input, analyze};
use dbpower_core::{OrgId, Scope};
use dbpower_store::{ClaimedJob, NewLlmCall};
use dbpower_types::{AiPolicy, AnalysisReport, SchemaSnapshot, StatementHints};

use crate::context::Analysis;

/// The rule analysis of one claimed job (the LLM step, when allowed, is added by [`analyze_claimed`]).
pub(crate) fn analyze_job(job: &ClaimedJob) -> AnalysisReport {
    let dialect = dbpower_analysis::dialect_of(job.database_type);
    let stats = ClassStats {
        count: job.count,
        avg_time_ms: if job.count > 0 {
            job.total_time_ms / job.count as f64
        } else {
            0.0
        },
        max_time_ms: job.max_time_ms,
        rows_examined: job.rows_examined,
        rows_sent: Some(job.rows_sent),
        lock_time_ms: Some(if job.count > 0 {
            job.lock_time_ms / job.count as f64
        } else {
            0.0
        }),
        total_time_share: (job.org_total_time_ms > 0.0)
            .then(|| (job.total_time_ms / job.org_total_time_ms).clamp(0.0, 1.0)),
    };
    // A stored schema that no longer matches the current shape is ignored rather than failing the job.
    let schema: Option<SchemaSnapshot> = job
        .schema
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let hints: Option<StatementHints> = job
        .hints
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    analyze(&Input {
        stats: Some(stats),
        explain: job.explain.as_ref(),
        schema: schema.as_ref(),
        hints: hints.as_ref(),
        ..Input::new(&job.sample_sql, dialect)
    })
}

/// The longest one statement's rule analysis may take before its job is failed.
pub(crate) const ANALYSIS_TIMEOUT: Duration = Duration::from_secs(10);

/// The rule analysis on the blocking pool (parsing and rules are CPU work that must not stall the async
/// runtime), bounded in time; a panic in it fails the job, never the worker.
async fn analyze_blocking(job: &ClaimedJob) -> anyhow::Result<AnalysisReport> {
    let owned = job.clone();
    let task = tokio::task::spawn_blocking(move || analyze_job(&owned));
    match tokio::time::timeout(ANALYSIS_TIMEOUT, task).await {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) if e.is_panic() => anyhow::bail!("the analysis panicked"),
        Ok(Err(e)) => anyhow::bail!("the analysis was cancelled: {e}"),
        Err(_) => anyhow::bail!(
            "the analysis took longer than {} s",
            ANALYSIS_TIMEOUT.as_secs()
        ),
    }
}

/// The rule analysis, plus the LLM provider's when one is configured and the organization allows it.
/// Every prompt sent is recorded; a provider failure leaves the rule report standing.
pub(crate) async fn analyze_claimed(
    state: &Analysis,
    job: &ClaimedJob,
) -> anyhow::Result<AnalysisReport> {
    let mut report = analyze_blocking(job).await?;
    let Some(llm) = &state.llm else {
        return Ok(report);
    };
    let org = OrgId::from_credential(job.organization_id);
    let settings = state
        .store
        .organization_by_id(&Scope::org(org), job.organization_id)
        .await?;
    if settings.settings.ai_policy != AiPolicy::AllowLlm {
        return Ok(report);
    }
    let dialect = dbpower_analysis::dialect_of(job.database_type);
    let schema: Option<SchemaSnapshot> = job
        .schema
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let calls = llm
        .enrich(
            &mut report,
            &job.sample_sql,
            dialect,
            job.explain.as_ref(),
            schema.as_ref(),
        )
        .await;
    for c in &calls {
        state.shared.metrics.inc(
            crate::metrics::Metric::LlmCalls,
            &[("provider", c.provider), ("outcome", c.outcome.as_str())],
            1.0,
        );
    }
    let records: Vec<NewLlmCall> = calls
        .into_iter()
        .map(|c| NewLlmCall {
            provider: c.provider.to_string(),
            model: c.model,
            prompt_sha256: c.prompt_sha256,
            prompt_tokens: c.prompt_tokens,
            completion_tokens: c.completion_tokens,
            latency_ms: c.latency_ms,
            outcome: c.outcome.as_str().to_string(),
            detail: c.detail,
        })
        .collect();
    state
        .store
        .record_llm_calls(org, Some(job.class_id), &records)
        .await?;
    Ok(report)
}

/// Claims and analyses jobs until the queue is empty; returns how many were completed.
pub(crate) async fn drain_once(state: &Analysis) -> anyhow::Result<usize> {
    let mut done = 0;
    loop {
        let jobs = state.store.claim_jobs(8, state.lease).await?;
        if jobs.is_empty() {
            return Ok(done);
        }
        for job in jobs {
            let started = std::time::Instant::now();
            // A job that fails is recorded as failed (retried until its attempts run out); the other
            // jobs this worker claimed go on, instead of waiting for their lease to expire.
            let stored = match analyze_claimed(state, &job).await {
                Ok(report) => state.store.complete_job(&job, &report).await,
                Err(e) => Err(dbpower_store::StoreError::Unavailable(format!("{e:#}"))),
            };
            let stored = match stored {
                Ok(stored) => stored,
                Err(e) => {
                    let why = e.to_string();
                    tracing::error!(job.id = job.id, error = %why, "analysis job failed");
                    state.store.fail_job(&job, &why).await?;
                    state.shared.metrics.inc(
                        crate::metrics::Metric::AnalysisJobs,
                        &[("outcome", "failed")],
                        1.0,
                    );
                    continue;
                }
            };
            let outcome = if stored { "stored" } else { "lease_lost" };
            state.shared.metrics.inc(
                crate::metrics::Metric::AnalysisJobs,
                &[("outcome", outcome)],
                1.0,
            );
            state.shared.metrics.observe(
                crate::metrics::Metric::AnalysisJobDuration,
                &[],
                started.elapsed().as_secs_f64(),
            );
            if stored {
                done += 1;
            } else {
                tracing::warn!(job.id = job.id, "analysis lease lost; result discarded");
            }
        }
    }
}

async fn drain_pass(state: Analysis) -> anyhow::Result<usize> {
    drain_once(&state).await
}

/// The longest an idle worker waits before looking at the queue again (which also picks up jobs whose
/// lease expired, and jobs queued by other processes).
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How long an idle worker waits: until the next queued job is due (debounced jobs wait out their
/// window), at most [`POLL_INTERVAL`].
async fn idle_wait(state: &Analysis) -> Duration {
    match state.store.next_due().await {
        Ok(Some(due)) => (due - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_millis(10), POLL_INTERVAL),
        Ok(None) => POLL_INTERVAL,
        Err(e) => {
            tracing::warn!(error = %e, "reading when the next analysis job is due");
            POLL_INTERVAL
        }
    }
}

/// Runs an analysis worker forever: drains the queue, then waits for new work, for the next queued job
/// to be due, or a poll interval.
pub(crate) async fn run_analysis_worker(state: Analysis) {
    loop {
        // Each pass runs as its own task: a panic ends that pass, not the worker.
        match tokio::spawn(drain_pass(state.clone())).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "analysis worker error");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "analysis worker pass panicked; restarting it");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        let wait = idle_wait(&state).await;
        let _ = tokio::time::timeout(wait, state.wakeup.notified()).await;
    }
}
