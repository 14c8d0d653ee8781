//! Weekly team reports (docs/ALERTS.md). Each evaluator round queues, for every team that opted in and
//! has not had it yet, the report of the last whole week (Monday to Monday, UTC): its classes with the
//! most time, those that ran this week and not the week before, those that regressed, and the alerts
//! resolved. The report is built from the team's own rollups, and its week is claimed in the
//! transaction that queues its delivery, so each team gets each week's report once however many
//! backends run.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, Utc};
use dbpower_analysis::compare::{DEFAULT_RATIO, compare, side_numbers};
use dbpower_core::{OrgId, Scope};
use dbpower_store::{AlertFilter, DueReport, PageRequest, Store, StoreError, WindowClass};
use dbpower_types::{AlertStatus, ClassChange, CompareRow, ReportAlert, ReportClass, WeeklyReport};

use crate::workers::alerts::side;

/// Classes listed per section, and reports queued per round.
const LISTED: usize = 10;
const DUE_PER_ROUND: i64 = 100;

/// The last whole week before `now`: `[Monday 00:00, next Monday 00:00)` UTC, and its key (the
/// Monday, `YYYY-MM-DD`).
pub(crate) fn last_week(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>, String) {
    let today = now.date_naive();
    let monday = today
        .checked_sub_days(Days::new(u64::from(today.weekday().num_days_from_monday())))
        .unwrap_or(today);
    let to = monday.and_time(chrono::NaiveTime::MIN).and_utc();
    let from = to - chrono::Duration::days(7);
    (from, to, from.date_naive().to_string())
}

/// Every class of two comparison windows, compared (`ratio`: what counts as regressed or improved).
pub(crate) fn compare_rows(
    a: Vec<WindowClass>,
    b: Vec<WindowClass>,
    ratio: f64,
) -> Vec<CompareRow> {
    let mut both: BTreeMap<i64, (Option<WindowClass>, Option<WindowClass>)> = BTreeMap::new();
    for c in a {
        let id = c.class_id;
        both.entry(id).or_default().0 = Some(c);
    }
    for c in b {
        let id = c.class_id;
        both.entry(id).or_default().1 = Some(c);
    }
    both.into_values()
        .filter_map(|(a, b)| {
            let any = a.as_ref().or(b.as_ref())?.clone();
            let sa = a.as_ref().map(|c| side(&c.sums, 1)).unwrap_or_default();
            let sb = b.as_ref().map(|c| side(&c.sums, 1)).unwrap_or_default();
            let ratio_of = |c: &Option<WindowClass>| c.as_ref().and_then(|c| c.rows.ratio());
            let c = compare(&sa, &sb, ratio);
            Some(CompareRow {
                query_id: any.query_id,
                database_type: any.database_type,
                fingerprint: any.fingerprint,
                change: c.change,
                a: side_numbers(&sa, ratio_of(&a)),
                b: side_numbers(&sb, ratio_of(&b)),
                mean_ratio: c.mean_ratio,
                p95_ratio: c.p95_ratio,
                total_time_delta_ms: sb.total_ms - sa.total_ms,
                calls_delta: i64::try_from(sb.calls)
                    .unwrap_or(i64::MAX)
                    .saturating_sub(i64::try_from(sa.calls).unwrap_or(i64::MAX)),
            })
        })
        .collect()
}

fn listed(rows: &[&CompareRow]) -> Vec<ReportClass> {
    rows.iter()
        .take(LISTED)
        .map(|r| {
            let mut fingerprint = r.fingerprint.clone();
            fingerprint.truncate(fingerprint.floor_char_boundary(300));
            ReportClass {
                query_id: r.query_id.clone(),
                database_type: r.database_type.clone(),
                fingerprint,
                calls: r.b.calls,
                total_time_ms: r.b.total_time_ms,
                mean_ms: r.b.mean_ms,
                p95_ms: r.b.p95_ms,
                mean_ratio: r.mean_ratio,
            }
        })
        .collect()
}

/// The team's report of `[from, to)`, compared with the week before.
pub(crate) async fn build(
    store: &dyn Store,
    org: OrgId,
    team_id: i64,
    team_name: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<WeeklyReport, StoreError> {
    let scope = Scope::team(org, team_id);
    let week = to - from;
    let before = store
        .compare_window(&scope, from - week, from, None)
        .await?;
    let this = store.compare_window(&scope, from, to, None).await?;
    let mut rows = compare_rows(before, this, DEFAULT_RATIO);
    rows.retain(|r| r.b.calls > 0);
    rows.sort_by(|x, y| {
        y.b.total_time_ms
            .total_cmp(&x.b.total_time_ms)
            .then_with(|| x.query_id.cmp(&y.query_id))
    });
    let of = |change: ClassChange| -> Vec<&CompareRow> {
        rows.iter().filter(|r| r.change == change).collect()
    };
    let (new, regressed) = (of(ClassChange::New), of(ClassChange::Regressed));
    let filter = AlertFilter {
        status: Some(AlertStatus::Resolved),
        resolved_between: Some((from, to)),
        ..AlertFilter::default()
    };
    let first = PageRequest {
        page: 1,
        per_page: LISTED as u32,
    };
    let (resolved, resolved_count) = store.list_alerts(&scope, &filter, first).await?;
    let all: Vec<&CompareRow> = rows.iter().collect();
    Ok(WeeklyReport {
        organization_id: org.get(),
        team_id,
        team_name: team_name.to_string(),
        from,
        to,
        calls: rows.iter().map(|r| r.b.calls).sum(),
        total_time_ms: rows.iter().map(|r| r.b.total_time_ms).sum(),
        top: listed(&all),
        new: listed(&new),
        new_count: new.len() as u64,
        regressed: listed(&regressed),
        regressed_count: regressed.len() as u64,
        resolved: resolved
            .into_iter()
            .map(|a| ReportAlert {
                id: a.id,
                kind: a.kind,
                query_id: a.query_id,
                resolved_at: a.resolved_at,
            })
            .collect(),
        resolved_count: u64::try_from(resolved_count).unwrap_or(0),
    })
}

/// Queues the last week's report of every team that opted in and has not had it; returns how many.
/// One team's failure is logged and skips only it.
pub(crate) async fn queue_due(store: &dyn Store, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let (from, to, week) = last_week(now);
    let mut queued = 0;
    for due in store.due_weekly_reports(&week, DUE_PER_ROUND).await? {
        let DueReport {
            organization_id,
            team_id,
            ref team_name,
            ..
        } = due;
        let org = OrgId::from_credential(organization_id);
        let sent = match build(store, org, team_id, team_name, (from, to)).await {
            Ok(report) => {
                let message = serde_json::json!({"event": "report", "report": report});
                store.queue_weekly_report(&due, &week, &message, now).await
            }
            Err(e) => Err(e),
        };
        match sent {
            Ok(true) => {
                tracing::info!(organization = organization_id, team = team_id, %week, "weekly report queued");
                queued += 1;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(organization = organization_id, team = team_id, error = %e, "weekly report failed; trying again next round");
            }
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_week_runs_monday_to_monday_utc() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).expect("time").to_utc();
        // 2026-12-07 is a Monday.
        for now in [
            "2026-12-07T00:00:00Z",
            "2026-12-09T15:30:00Z",
            "2026-12-13T23:59:59Z",
        ] {
            let (from, to, key) = last_week(at(now));
            assert_eq!(from, at("2026-11-30T00:00:00Z"), "{now}");
            assert_eq!(to, at("2026-12-07T00:00:00Z"), "{now}");
            assert_eq!(key, "2026-11-30");
        }
        let (_, _, key) = last_week(at("2026-12-06T23:59:59Z"));
        assert_eq!(key, "2026-11-23");
    }
}
