//! `GET /api/v1/compare`: what changed between two windows, per class (new, gone, regressed, improved,
//! unchanged) from the hourly rollups and histograms, in the caller's scope; JSON pages or CSV.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use dbpower_analysis::compare::{DEFAULT_RATIO, compare, side_numbers};
use dbpower_core::Scope;
use dbpower_store::WindowClass;
use dbpower_types::{
    ClassChange, CompareQuery, CompareResponse, CompareRow, CompareSummary, ErrorBody, PageQuery,
};

use crate::context::page_request;
use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::routes::auth::Auth;
use crate::state::AppState;
use crate::workers::alerts::side;

/// The longest window.
const MAX_SPAN_DAYS: i64 = 92;

fn check_window(
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    field: &str,
) -> ApiResult<()> {
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

fn rows(a: Vec<WindowClass>, b: Vec<WindowClass>, ratio: f64) -> Vec<CompareRow> {
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
            let c = compare(&sa, &sb, ratio);
            Some(CompareRow {
                query_id: any.query_id,
                database_type: any.database_type,
                fingerprint: any.fingerprint,
                change: c.change,
                a: side_numbers(&sa),
                b: side_numbers(&sb),
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
        "query_id,database_type,change,a_calls,a_total_time_ms,a_mean_ms,a_p95_ms,b_calls,\
         b_total_time_ms,b_mean_ms,b_p95_ms,mean_ratio,p95_ratio,total_time_delta_ms,calls_delta,\
         fingerprint\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{:.4},{},{},{},{:.4},{},{},{},{},{:.4},{},{}\n",
            csv_field(&r.query_id),
            r.database_type,
            r.change.as_str(),
            r.a.calls,
            r.a.total_time_ms,
            opt(r.a.mean_ms),
            opt(r.a.p95_ms),
            r.b.calls,
            r.b.total_time_ms,
            opt(r.b.mean_ms),
            opt(r.b.p95_ms),
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
    check_window(q.a_from, q.a_to, "a_from")?;
    check_window(q.b_from, q.b_to, "b_from")?;
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
    responses((status = 200, body = CompareResponse, description = "JSON, or text/csv with format=csv"), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
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
    let db = q.database_type.as_deref();
    let a = s.store.compare_window(&scope, q.a_from, q.a_to, db).await?;
    let b = s.store.compare_window(&scope, q.b_from, q.b_to, db).await?;
    let mut all = rows(a, b, ratio);
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
        a_from: q.a_from,
        a_to: q.a_to,
        b_from: q.b_from,
        b_to: q.b_to,
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
