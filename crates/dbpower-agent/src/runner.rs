//! The agent's rounds: collect every source, cut batches, spool them durably, then save what was read;
//! ship the spool in order; send a heartbeat; log one status line. `--once` runs one round, `--dry-run`
//! prints what would be sent and changes nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dbpower_types::{AgentHeartbeat, AgentSourceStatus, SlowQueryIn};

use crate::collect::Ctx;
use crate::config::{AgentConfig, Exclusions};
use crate::metrics::Metrics;
use crate::ship::{Shipper, VERSION};
use crate::source::{self, request_id};
use crate::spool::{Batch, Spool};
use crate::state;

pub(crate) struct Agent {
    cfg: AgentConfig,
    exclusions: Vec<Exclusions>,
    spool: Spool,
    shipper: Shipper,
    pub metrics: Arc<Metrics>,
    collected: Vec<u64>,
    source_errors: Vec<Option<String>>,
    /// What the sources noted in the last round (a baseline taken, a rotation, a skipped entry).
    notes: Vec<String>,
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct RoundSummary {
    pub collected: u64,
    pub excluded: u64,
    pub spooled_batches: u64,
    pub shipped_batches: u64,
    pub shipped_queries: u64,
    pub pending_batches: u64,
    pub errors: Vec<String>,
}

impl Agent {
    pub(crate) fn new(cfg: AgentConfig) -> anyhow::Result<Agent> {
        let exclusions = cfg
            .sources
            .iter()
            .map(|s| Exclusions::compile(&s.exclude))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let spool = Spool::open(&cfg.spool.dir, cfg.spool.max_bytes)?;
        let shipper = Shipper::of(&cfg)?;
        let n = cfg.sources.len();
        Ok(Agent {
            cfg,
            exclusions,
            spool,
            shipper,
            metrics: Arc::new(Metrics::default()),
            collected: vec![0; n],
            source_errors: vec![None; n],
            notes: Vec::new(),
        })
    }

    /// Collects every source. With `persist` the batches are spooled and the positions saved; without
    /// (dry run) the batches are returned and nothing changes.
    async fn collect(&mut self, persist: bool, summary: &mut RoundSummary) -> Vec<Batch> {
        let mut dry = Vec::new();
        let mut notes = Vec::new();
        let dir = self.cfg.spool.dir.clone();
        for (i, src) in self.cfg.sources.iter().enumerate() {
            if src.role == crate::config::SourceRole::Sandbox {
                continue;
            }
            let ctx = Ctx::new(src, &self.exclusions[i], self.cfg.agent.scrub);
            let mut st = state::load(&dir, &src.name);
            let mut batches = Vec::new();
            let mut errors = Vec::new();
            for (method, result) in source::collect(&ctx, &mut st).await {
                match result {
                    Ok(out) => {
                        if let Some(n) = &out.note {
                            tracing::info!(source = %src.name, "{n}");
                            notes.push(format!("{}/{method:?}: {n}", src.name));
                        }
                        summary.collected += out.queries.len() as u64;
                        let dialect = match src.kind {
                            crate::config::SourceKind::Mysql => dbpower_sql::Dialect::Mysql,
                            crate::config::SourceKind::Postgresql => {
                                dbpower_sql::Dialect::Postgresql
                            }
                        };
                        st.remember_shipped(
                            out.queries
                                .iter()
                                .map(|q| dbpower_sql::fingerprint_and_id(&q.sql_text, dialect).1),
                            Utc::now().timestamp(),
                        );
                        summary.excluded += out.tally.excluded + out.tally.own + out.tally.too_fast;
                        self.collected[i] += out.queries.len() as u64;
                        for (n, chunk) in cut_batches(&out.queries, self.cfg.agent.batch_size)
                            .into_iter()
                            .enumerate()
                        {
                            batches.push(Batch {
                                request_id: request_id(
                                    &self.cfg.platform.key_id,
                                    &src.name,
                                    method,
                                    &out.position,
                                    n,
                                ),
                                source: src.name.clone(),
                                created_at: Utc::now(),
                                queries: chunk.to_vec(),
                            });
                        }
                    }
                    Err(e) => errors.push(format!("{}/{method:?}: {e:#}", src.name)),
                }
            }
            self.source_errors[i] = errors.first().cloned();
            summary.errors.extend(errors);
            if !persist {
                dry.extend(batches);
                continue;
            }
            // Spool first, then remember the position: a crash in between re-collects the same range
            // under the same request ids, which the platform stores once.
            let mut spooled = true;
            for b in &batches {
                if let Err(e) = self.spool.push(b) {
                    summary
                        .errors
                        .push(format!("{}: cannot spool: {e:#}", src.name));
                    spooled = false;
                    break;
                }
                summary.spooled_batches += 1;
            }
            if spooled && let Err(e) = state::save(&dir, &src.name, &st) {
                summary
                    .errors
                    .push(format!("{}: cannot save its position: {e:#}", src.name));
            }
        }
        self.notes = notes;
        dry
    }

    pub(crate) async fn round(
        &mut self,
        dry_run: bool,
    ) -> anyhow::Result<(RoundSummary, Vec<Batch>)> {
        let mut summary = RoundSummary::default();
        let dry = self.collect(!dry_run, &mut summary).await;
        if dry_run {
            return Ok((summary, dry));
        }
        let shipped = self.shipper.ship(&self.spool).await;
        // Change markers go even when the spool could not be read this round.
        let names: Vec<String> = self.cfg.sources.iter().map(|s| s.name.clone()).collect();
        summary
            .errors
            .extend(self.shipper.ship_events(&self.cfg.spool.dir, &names).await);
        // Index advice validated on the sources with `whatif` (a claim per round; nothing without).
        summary.errors.extend(
            crate::whatif::round(&self.shipper, &self.cfg.sources, &self.cfg.spool.dir).await,
        );
        let shipped = shipped?;
        summary.shipped_batches = shipped.batches;
        summary.shipped_queries = shipped.queries;
        if let Some(e) = shipped.error {
            summary.errors.push(format!("shipping: {e}"));
        }
        if shipped.refused > 0 {
            summary.errors.push(format!(
                "{} batch(es) refused by the platform this round, kept with the reason in {}",
                shipped.refused,
                self.cfg.spool.dir.join("rejected").display()
            ));
        }
        let stats = self.spool.stats();
        summary.pending_batches = stats.batches;
        self.metrics.record(&summary, &stats);
        if self.cfg.agent.heartbeat {
            let hb = AgentHeartbeat {
                name: self.cfg.agent_name(),
                version: VERSION.into(),
                interval_secs: self.cfg.agent.interval_secs,
                sources: source_statuses(&self.cfg, &self.collected, &self.source_errors),
                spool_bytes: stats.bytes,
                spool_batches: stats.batches,
                evicted_queries: stats.counters.evicted_queries,
                rejected_batches: stats.counters.rejected_batches,
                last_error: summary.errors.first().cloned(),
            };
            if let Err(e) = self.shipper.heartbeat(&hb).await {
                tracing::debug!(error = %e, "heartbeat not delivered");
            }
        }
        tracing::info!(
            collected = summary.collected,
            excluded = summary.excluded,
            spooled = summary.spooled_batches,
            shipped_batches = summary.shipped_batches,
            shipped_queries = summary.shipped_queries,
            pending = summary.pending_batches,
            evicted_total = stats.counters.evicted_queries,
            errors = summary.errors.len(),
            "round"
        );
        for e in &summary.errors {
            tracing::warn!("{e}");
        }
        Ok((summary, Vec::new()))
    }

    pub(crate) fn interval(&self) -> Duration {
        Duration::from_secs(self.cfg.agent.interval_secs)
    }

    pub(crate) fn metrics_listen(&self) -> Option<String> {
        self.cfg.agent.metrics_listen.clone()
    }
}

/// Each configured source as a heartbeat reports it: kind, methods, what it collected and its last
/// error (`--check`, before any round, passes no counts and no errors).
pub(crate) fn source_statuses(
    cfg: &AgentConfig,
    collected: &[u64],
    errors: &[Option<String>],
) -> Vec<AgentSourceStatus> {
    cfg.sources
        .iter()
        .enumerate()
        .map(|(i, s)| AgentSourceStatus {
            name: s.name.clone(),
            kind: format!("{:?}", s.kind).to_lowercase(),
            methods: s.methods.iter().map(|m| format!("{m:?}")).collect(),
            collected: collected.get(i).copied().unwrap_or(0),
            last_error: errors.get(i).cloned().flatten(),
        })
        .collect()
}

/// A batch's body stays well under the platform's 16 MiB ingestion limit.
pub(crate) const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Cuts a method's queries into batches of at most `count` queries and [`MAX_BATCH_BYTES`] of JSON, in
/// order (deterministic, so a re-collected range gets the same batches and request ids). A query is
/// never larger than the platform's 1 MiB statement limit plus its plan (statements are truncated on
/// collection), so every batch holds at least one query.
pub(crate) fn cut_batches(queries: &[SlowQueryIn], count: usize) -> Vec<&[SlowQueryIn]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, q) in queries.iter().enumerate() {
        let size = serde_json::to_vec(q).map_or(0, |v| v.len()) + 1;
        if i > start && (i - start >= count.max(1) || bytes + size > MAX_BATCH_BYTES) {
            out.push(&queries[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < queries.len() {
        out.push(&queries[start..]);
    }
    out
}

/// `dbpower agent`: returns whether the run ended clean (for `--once`: everything collected was shipped).
pub async fn run(
    config: &Path,
    once: bool,
    dry_run: bool,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<bool> {
    let cfg = AgentConfig::load(config)?;
    let mut agent = Agent::new(cfg)?;
    if dry_run {
        let (summary, batches) = agent.round(true).await?;
        for b in &batches {
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"request_id": b.request_id, "source": b.source, "queries": b.queries})
                )?
            );
        }
        eprintln!(
            "dry run: {} queries in {} batches would be sent; nothing was sent or saved",
            summary.collected,
            batches.len()
        );
        for n in &agent.notes {
            eprintln!("note: {n}");
        }
        for e in &summary.errors {
            eprintln!("error: {e}");
        }
        return Ok(summary.errors.is_empty());
    }
    if let Some(listen) = agent.metrics_listen() {
        crate::metrics::serve(&listen, agent.metrics.clone()).await?;
    }
    if once {
        let (summary, _) = agent.round(false).await?;
        if summary.pending_batches > 0 {
            eprintln!(
                "{} batches remain in the spool ({}); they are sent on the next run",
                summary.pending_batches,
                summary
                    .errors
                    .iter()
                    .find(|e| e.starts_with("shipping"))
                    .map_or("not shipped", String::as_str)
            );
        }
        return Ok(summary.errors.is_empty() && summary.pending_batches == 0);
    }
    tokio::pin!(shutdown);
    loop {
        if let Err(e) = agent.round(false).await {
            tracing::error!("round failed: {e:#}");
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(true),
            _ = tokio::time::sleep(agent.interval()) => {}
        }
    }
}
