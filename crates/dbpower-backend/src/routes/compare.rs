//! `GET /api/v1/compare`: what changed between two windows, per class (new, gone, regressed, improved,
//! unchanged) from the hourly rollups and histograms, in the caller's scope; JSON pages or CSV.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Timelike, Utc};
use dbpower_analysis::compare::DEFAULT_RATIO;
use dbpower_core::Scope;
use dbpower_types::{
    ClassChange, CompareQuery, CompareResponse, CompareRow, CompareSummary, ErrorBody, PageQuery,
};

use crate::context::page_request;
use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use crate::routes::auth::Auth;
use crate::state::AppState;
use crate::workers::reports::compare_rows;

/// The longest window.
const MAX_SPAN_DAYS: i64 = 92;

fn check_window(from: DateTime<Utc>, to: DateTime<Utc>, field: &str) -> ApiResult<()> {
    if from >= to {
        return Err(ApiError::validation(field, "must start before it ends"));
    }
    if to - from > chrono::Duration::days(MAX_SPAN_DAYS) {
        return Err(ApiError::validation(
            field,
            format!("at most {MAX_SPAN_DAYS} days"),
        ));
    }
    Ok(())
}

/// Sort keys, each of which a row yields as a number (missing ratios sort last).
fn sort_key(sort: &str, r: &CompareRow) -> f64 {
    match sort {
        "b_total_time" => r.b.total_time_ms,
        "a_total_time" => r.a.total_time_ms,
        "mean_ratio" => r.mean_ratio.unwrap_or(f64::NEG_INFINITY),
        "calls_delta" => r.calls_delta as f64,
        _ => r.total_time_delta_ms,
    }
}

/// A CSV field: quoted, quotes doubled, and a leading `=`, `+`, `-` or `@` defused so a spreadsheet
/// does not run it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv(rows: &[CompareRow]) -> String {
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    let mut out = String::from(
        "query_id,database_type,change,a_calls,a_total_time_ms,a_mean_ms,a_p95_ms,a_rows_ratio,\
         b_calls,b_total_time_ms,b_mean_ms,b_p95_ms,b_rows_ratio,mean_ratio,p95_ratio,\
         total_time_delta_ms,calls_delta,fingerprint\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{:.4},{},{},{},{},{:.4},{},{},{},{},{},{:.4},{},{}\n",
            csv_field(&r.query_id),
            r.database_type,
            r.change.as_str(),
            r.a.calls,
            r.a.total_time_ms,
            opt(r.a.mean_ms),
            opt(r.a.p95_ms),
            opt(r.a.rows_ratio),
            r.b.calls,
            r.b.total_time_ms,
            opt(r.b.mean_ms),
            opt(r.b.p95_ms),
            opt(r.b.rows_ratio),
            opt(r.mean_ratio),
            opt(r.p95_ratio),
            r.total_time_delta_ms,
            r.calls_delta,
            csv_field(&r.fingerprint)
        ));
    }
    out
}

fn summary(rows: &[CompareRow]) -> CompareSummary {
    let mut s = CompareSummary::default();
    for r in rows {
        *match r.change {
            ClassChange::New => &mut s.new,
            ClassChange::Gone => &mut s.gone,
            ClassChange::Regressed => &mut s.regressed,
            ClassChange::Improved => &mut s.improved,
            ClassChange::Unchanged => &mut s.unchanged,
        } += 1;
    }
    s
}

/// The two windows, `[from, to)` each.
type Windows = [(DateTime<Utc>, DateTime<Utc>); 2];

/// The windows a request names: its four bounds, or the `span_secs` before and after a change marker
/// the caller sees (another organization's marker is not found).
async fn windows(s: &AppState, scope: &Scope, q: &CompareQuery) -> ApiResult<Windows> {
    let bounds = [q.a_from, q.a_to, q.b_from, q.b_to];
    let Some(event) = q.around_event else {
        let [Some(a_from), Some(a_to), Some(b_from), Some(b_to)] = bounds else {
            return Err(ApiError::validation(
                "a_from",
                "a_from, a_to, b_from and b_to are required unless around_event is given",
            ));
        };
        check_window(a_from, a_to, "a_from")?;
        check_window(b_from, b_to, "b_from")?;
        return Ok([(a_from, a_to), (b_from, b_to)]);
    };
    if bounds.iter().any(Option::is_some) {
        return Err(ApiError::validation(
            "around_event",
            "cannot be combined with a_from, a_to, b_from or b_to",
        ));
    }
    let span = q.span_secs.unwrap_or(3600);
    if !(3600..=MAX_SPAN_DAYS as u64 * 86_400).contains(&span) || !span.is_multiple_of(3600) {
        return Err(ApiError::validation(
            "span_secs",
            format!(
                "must be whole hours between 3600 and {} (92 days): rollups are hourly",
                MAX_SPAN_DAYS * 86_400
            ),
        ));
    }
    let at = s.store.event_by_id(scope, event).await.named("event")?.at;
    let span = chrono::Duration::seconds(i64::try_from(span).unwrap_or(i64::MAX));
    // Rollups are hourly: the hour the marker falls in holds executions from before and after it, so
    // it belongs to neither window (a marker on the hour splits cleanly).
    let floor = at
        .with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .unwrap_or(at);
    let ceil = if floor == at {
        at
    } else {
        floor + chrono::Duration::hours(1)
    };
    Ok([(floor - span, floor), (ceil, ceil + span)])
}

/// What a compare request asks for, checked.
struct Params {
    ratio: f64,
    change: Option<ClassChange>,
    sort: &'static str,
    asc: bool,
    csv: bool,
}

const SORTS: [&str; 5] = [
    "total_time_delta",
    "b_total_time",
    "a_total_time",
    "mean_ratio",
    "calls_delta",
];

fn params(q: &CompareQuery) -> ApiResult<Params> {
    let ratio = q.ratio.unwrap_or(DEFAULT_RATIO);
    if !(1.05..=100.0).contains(&ratio) {
        return Err(ApiError::validation(
            "ratio",
            "must be between 1.05 and 100",
        ));
    }
    let change = q
        .change
        .as_deref()
        .map(|c| {
            ClassChange::parse(c).ok_or_else(|| {
                ApiError::validation(
                    "change",
                    "must be new, gone, regressed, improved or unchanged",
                )
            })
        })
        .transpose()?;
    if let Some(d) = &q.database_type
        && !matches!(d.as_str(), "mysql" | "postgresql")
    {
        return Err(ApiError::validation(
            "database_type",
            "must be mysql or postgresql",
        ));
    }
    let wanted = q.sort.as_deref().unwrap_or("total_time_delta");
    let Some(sort) = SORTS.into_iter().find(|s| *s == wanted) else {
        return Err(ApiError::validation(
            "sort",
            "must be total_time_delta, b_total_time, a_total_time, mean_ratio or calls_delta",
        ));
    };
    let asc = match q.order.as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(ApiError::validation("order", "must be asc or desc")),
    };
    let csv_out = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::validation("format", "must be json or csv")),
    };
    Ok(Params {
        ratio,
        change,
        sort,
        asc,
        csv: csv_out,
    })
}

/// Compare two windows: every class that ran in either, with both windows' calls, total time, mean and
/// p95, the ratios and deltas. Role-scoped like the class list (a team compares its own executions).
#[utoipa::path(get, path = "/api/v1/compare", tag = "slow-queries", params(CompareQuery),
    responses((status = 200, body = CompareResponse, description = "JSON, or text/csv with format=csv"), (status = 404, body = ErrorBody, description = "around_event names no marker the caller sees"), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn compare_windows(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<CompareQuery>,
) -> ApiResult<Response> {
    let Params {
        ratio,
        change,
        sort,
        asc,
        csv: csv_out,
    } = params(&q)?;
    let req = page_request(&PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let scope = Scope::of(&p);
    let [(a_from, a_to), (b_from, b_to)] = windows(&s, &scope, &q).await?;
    let db = q.database_type.as_deref();
    let a = s.store.compare_window(&scope, a_from, a_to, db).await?;
    let b = s.store.compare_window(&scope, b_from, b_to, db).await?;
    let mut all = compare_rows(a, b, ratio);
    let summary = summary(&all);
    all.retain(|r| change.is_none_or(|c| r.change == c));
    all.sort_by(|x, y| {
        let o = sort_key(sort, x).total_cmp(&sort_key(sort, y));
        (if asc { o } else { o.reverse() }).then_with(|| x.query_id.cmp(&y.query_id))
    });
    if csv_out {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"compare.csv\"",
                ),
            ],
            csv(&all),
        )
            .into_response());
    }
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let items: Vec<CompareRow> = all
        .into_iter()
        .skip(usize::try_from(req.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(req.limit()).unwrap_or(0))
        .collect();
    Ok(ApiJson(CompareResponse {
        a_from,
        a_to,
        b_from,
        b_to,
        ratio,
        summary,
        items,
        total,
        page: req.page,
        per_page: req.per_page,
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_field("=cmd()"), "\"'=cmd()\"");
        assert_eq!(csv_field("SELECT 1"), "\"SELECT 1\"");
    }
}
