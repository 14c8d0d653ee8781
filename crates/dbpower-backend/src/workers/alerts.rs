//! The alert workers: the evaluator (every `alerts.evaluate_every_secs`, each organization's rules over
//! the window and baseline, decided by `dbpower_analysis::detect`, written with their deliveries in one
//! transaction) and the deliverer (leases due deliveries from the outbox, sends each with a time limit,
//! retries with exponential backoff, marks it failed after `alerts.max_attempts`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use dbpower_analysis::detect::{self, Limits, Series, Side};
use dbpower_sql::Histogram;
use dbpower_store::{
    ClaimedDelivery, DeliveryOutcome, EvalData, EvalWindow, Firing, SeriesRow, SideSums, Store,
};
use dbpower_types::{AlertEvidence, AlertKind, RuleView, SideNumbers};

use super::channels::{self, Senders};
use crate::config::AlertSettings;

/// What the API and the workers share about alerting.
pub(crate) struct Alerting {
    pub settings: AlertSettings,
    pub senders: Senders,
    /// Wakes the deliverer (a test message queued, alerts opened).
    pub wake: tokio::sync::Notify,
}

impl Alerting {
    pub(crate) fn new(
        settings: &AlertSettings,
        cipher: crate::secrets::SecretCipher,
        production: bool,
    ) -> Arc<Alerting> {
        // reqwest is built without a default TLS provider: the process's is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(Alerting {
            senders: Senders {
                cipher,
                timeout: Duration::from_secs(settings.delivery_timeout_secs.clamp(1, 120)),
                allow_private: settings.allow_private_targets.unwrap_or(!production),
                smtp_url: settings
                    .smtp_url
                    .as_ref()
                    .map(|u| secrecy::ExposeSecret::expose_secret(u).to_string()),
                smtp_from: settings.smtp_from.clone(),
                public_url: settings.public_url.clone(),
            },
            settings: settings.clone(),
            wake: tokio::sync::Notify::new(),
        })
    }
}

/// The window and baseline of an evaluation at `now`.
pub(crate) fn window_at(now: DateTime<Utc>, s: &AlertSettings) -> EvalWindow {
    let back = now - chrono::Duration::seconds(i64::try_from(s.window_secs).unwrap_or(3600));
    let window_start = back
        .with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap_or(back);
    EvalWindow {
        now,
        window_start,
        baseline_start: window_start - chrono::Duration::days(i64::from(s.baseline_days)),
    }
}

/// A side of the detector from the store's sums.
pub(crate) fn side(s: &SideSums, hours: u32) -> Side {
    let mut histogram = Histogram::new();
    for (b, n) in &s.buckets {
        histogram.record_bucket(*b, *n);
    }
    Side {
        calls: s.calls,
        total_ms: s.total_ms,
        hours,
        busiest_hour: s.busiest_hour,
        histogram,
    }
}

fn numbers(s: &Side, from: DateTime<Utc>, to: DateTime<Utc>) -> SideNumbers {
    SideNumbers {
        from,
        to,
        calls: s.calls,
        total_time_ms: s.total_ms,
        mean_ms: s.mean_ms(),
        p95_ms: s.p95_ms(),
        calls_per_hour: s.calls_per_hour(),
        busiest_hour_calls: s.busiest_hour,
    }
}

fn applies(rule: &RuleView, row: &SeriesRow) -> bool {
    rule.team_id.is_none_or(|t| t == row.team_id)
        && rule.identity_id.is_none_or(|i| i == row.identity_id)
        && rule
            .database_name
            .as_ref()
            .is_none_or(|d| row.databases.contains(d))
        && rule.engine.as_ref().is_none_or(|e| *e == row.database_type)
}

/// The conditions that hold in `data` at `w`: one firing per rule, class and sending scope.
pub(crate) fn firings(data: &EvalData, w: &EvalWindow) -> Vec<Firing> {
    let window_hours =
        u32::try_from(((w.now - w.window_start).num_seconds() + 3599) / 3600).unwrap_or(1);
    let baseline_hours =
        u32::try_from((w.window_start - w.baseline_start).num_hours()).unwrap_or(168);
    let mut out = Vec::new();
    // How many sending scopes each class has: only a class wholly one scope's own shows that scope
    // its analysis (as the class views do).
    let mut scopes: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for row in &data.series {
        *scopes.entry(row.class_id).or_default() += 1;
    }
    for row in &data.series {
        let scoped = row.team_id != 0 || row.identity_id != 0;
        let own_class = !scoped || scopes.get(&row.class_id) == Some(&1);
        // The baseline rate is over the hours that hold data when fewer than the baseline's do (a
        // retention shorter than the baseline, or alerts switched on recently): never diluted.
        let base_hours = match row.baseline.hours {
            0 => baseline_hours,
            h => h.min(baseline_hours),
        };
        let series = Series {
            window: side(&row.window, window_hours.max(1)),
            baseline: side(&row.baseline, base_hours.max(1)),
            first_seen_in_window: row.first_seen >= w.window_start,
            seen_before_baseline: row.first_seen < w.baseline_start,
            org_window_ms: data.org_window_ms,
        };
        for rule in data.rules.iter().filter(|r| applies(r, row)) {
            let limits = Limits::of(rule.kind, &rule.thresholds);
            let verdict = verdict(rule.kind, &limits, (row, &series), data, w, own_class);
            let Some(mut v) = verdict else { continue };
            if scoped && v.share.is_some() {
                // A team or an identity does not learn the organization's total time.
                v.share = None;
                v.summary = format!(
                    "first seen in this window: {} executions, {:.0} ms in all",
                    series.window.calls, series.window.total_ms
                );
            }
            let severity = match rule.kind {
                AlertKind::SeverityRaised => "CRITICAL",
                AlertKind::Regression | AlertKind::PlanChanged
                    if v.mean_ratio.is_some_and(|r| r >= 3.0) =>
                {
                    "HIGH"
                }
                AlertKind::NewClass if v.share.is_some_and(|s| s >= 0.1) => "HIGH",
                _ => "MEDIUM",
            };
            out.push(Firing {
                rule_id: rule.id,
                kind: rule.kind,
                class_id: row.class_id,
                team_id: row.team_id,
                identity_id: row.identity_id,
                severity: severity.into(),
                evidence: AlertEvidence {
                    summary: v.summary,
                    window: numbers(&series.window, w.window_start, w.now),
                    baseline: numbers(&series.baseline, w.baseline_start, w.window_start),
                    mean_ratio: v.mean_ratio,
                    p95_ratio: v.p95_ratio,
                    z: v.z,
                    share: v.share,
                    severity: row.severity.clone().filter(|_| own_class),
                    class_url: format!("/api/v1/query-classes/{}", row.query_id),
                    change_marker: data.marker.clone(),
                },
                may_open: !data.muted.contains(&row.class_id),
            });
        }
    }
    out
}

/// Whether a rule's kind holds for one class and scope. Severity raised and plan changed come from the
/// class's analysis and plans, which a scope sees only on a class wholly its own (as the class views).
fn verdict(
    kind: AlertKind,
    limits: &Limits,
    (row, series): (&SeriesRow, &Series),
    data: &EvalData,
    w: &EvalWindow,
    own_class: bool,
) -> Option<detect::Verdict> {
    match kind {
        AlertKind::SeverityRaised if own_class => severity_raised(row, w),
        AlertKind::PlanChanged if own_class => {
            let p = data.plan_switches.get(&row.class_id)?;
            detect::plan_changed(&plan_use(&p.from), &plan_use(&p.to), limits)
        }
        AlertKind::SeverityRaised | AlertKind::PlanChanged => None,
        kind => detect::detect(kind, series, limits),
    }
}

/// A plan shape as the detector reads it.
fn plan_use(s: &dbpower_store::PlanSide) -> detect::PlanUse<'_> {
    detect::PlanUse {
        summary: &s.summary,
        executions: u64::try_from(s.executions).unwrap_or(0),
        total_ms: s.total_time_ms,
    }
}

/// Severity raised: the class's analysis is CRITICAL and became so after the baseline began (an old
/// CRITICAL class does not page anyone the day alerts are switched on).
fn severity_raised(row: &SeriesRow, w: &EvalWindow) -> Option<detect::Verdict> {
    let since = row.critical_since.filter(|t| *t >= w.baseline_start)?;
    Some(detect::Verdict {
        mean_ratio: None,
        p95_ratio: None,
        z: None,
        share: None,
        summary: format!(
            "its analysis has been CRITICAL since {}",
            since.to_rfc3339()
        ),
    })
}

/// One evaluation of every organization with rules.
pub(crate) async fn evaluate_all(store: &dyn Store, a: &Alerting) -> anyhow::Result<usize> {
    let now = Utc::now();
    let w = window_at(now, &a.settings);
    let mut opened = 0;
    for org in store.alert_org_ids().await? {
        // One organization's failure is logged and skips only it.
        let out = match store.alert_data(org, &w).await {
            Ok(data) => {
                let mut fired = firings(&data, &w);
                fired.sort_by_key(|f| (f.rule_id, f.class_id, f.team_id, f.identity_id));
                store.record_firings(org, now, &fired).await
            }
            Err(e) => Err(e),
        };
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                tracing::warn!(organization = org.get(), error = %e, "alert evaluation of an organization failed");
                continue;
            }
        };
        for alert in &out.opened {
            tracing::info!(alert = alert.id, organization = org.get(), kind = alert.kind.as_str(),
                query_id = %alert.query_id, "alert opened");
        }
        opened += out.opened.len() + out.resolved.len();
    }
    if opened > 0 {
        a.wake.notify_one();
    }
    Ok(opened)
}

/// The evaluator's loop.
pub(crate) async fn run_evaluator(store: Arc<dyn Store>, a: Arc<Alerting>) {
    let every = Duration::from_secs(a.settings.evaluate_every_secs.max(1));
    loop {
        if let Err(e) = evaluate_all(store.as_ref(), &a).await {
            tracing::warn!(error = %e, "alert evaluation failed; trying again next round");
        }
        match crate::workers::reports::queue_due(store.as_ref(), Utc::now()).await {
            Ok(0) => {}
            Ok(_) => a.wake.notify_one(),
            Err(e) => tracing::warn!(error = %e, "weekly reports failed; trying again next round"),
        }
        tokio::time::sleep(every).await;
    }
}

/// When a failed attempt is tried again: `retry_base_ms` doubled per attempt, at most an hour.
fn backoff(base_ms: u64, attempts: i32) -> Duration {
    let shift = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    Duration::from_millis(base_ms.saturating_mul(1 << shift).min(3_600_000))
}

/// The longest one attempt may take (name resolution and the request, or every SMTP command): the
/// lease is longer.
fn attempt_limit(a: &Alerting) -> Duration {
    a.senders.timeout * 2 + Duration::from_secs(2)
}

async fn deliver_one(store: Arc<dyn Store>, a: Arc<Alerting>, d: ClaimedDelivery) {
    let sent = tokio::time::timeout(attempt_limit(&a), channels::send(&d, &a.senders))
        .await
        .unwrap_or_else(|_| Err("the attempt timed out".into()));
    let outcome = match sent {
        Ok(()) => DeliveryOutcome::Sent,
        Err(error) if d.attempts >= i32::try_from(a.settings.max_attempts).unwrap_or(8) => {
            tracing::warn!(delivery = %d.delivery_id, channel = d.channel.view.id, %error,
                "alert delivery failed for good");
            DeliveryOutcome::Failed { error }
        }
        Err(error) => {
            let wait = backoff(a.settings.retry_base_ms, d.attempts);
            DeliveryOutcome::Retry {
                error,
                retry_at: Utc::now()
                    + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60)),
            }
        }
    };
    match store.finish_delivery(&d, &outcome).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(delivery = %d.delivery_id, "delivery lease lost before its result was recorded")
        }
        Err(e) => {
            tracing::warn!(delivery = %d.delivery_id, error = %e, "recording a delivery failed")
        }
    }
}

/// Concurrent attempts per process.
const SENDERS: usize = 16;

/// The deliverer's loop: claims due deliveries (leased, so several processes share the outbox) into
/// free sending slots as soon as one frees, so a slow receiver holds one slot, not the outbox; polls
/// every second or when woken.
pub(crate) async fn run_deliverer(store: Arc<dyn Store>, a: Arc<Alerting>) {
    let lease = Duration::from_secs(a.settings.lease_secs.max(1))
        .max(attempt_limit(&a) + Duration::from_secs(5));
    let mut sends = tokio::task::JoinSet::new();
    loop {
        let free = SENDERS.saturating_sub(sends.len());
        let mut claimed = 0;
        if free > 0 {
            match store
                .claim_deliveries(i64::try_from(free).unwrap_or(1), lease)
                .await
            {
                Ok(batch) => {
                    claimed = batch.len();
                    for d in batch {
                        sends.spawn(deliver_one(store.clone(), a.clone(), d));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming alert deliveries failed"),
            }
        }
        if claimed > 0 && sends.len() < SENDERS {
            continue;
        }
        tokio::select! {
            Some(_) = sends.join_next(), if !sends.is_empty() => {}
            _ = a.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_hours() {
        let now = DateTime::parse_from_rfc3339("2026-12-07T14:10:30Z")
            .expect("time")
            .with_timezone(&Utc);
        let w = window_at(now, &AlertSettings::default());
        assert_eq!(w.window_start.to_rfc3339(), "2026-12-07T13:00:00+00:00");
        assert_eq!(w.baseline_start.to_rfc3339(), "2026-11-30T13:00:00+00:00");
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(1000, 1), Duration::from_secs(1));
        assert_eq!(backoff(1000, 3), Duration::from_secs(4));
        assert_eq!(backoff(1000, 60), Duration::from_secs(3600));
    }
}
