//! Reading slow queries back, role-scoped (ORG_ADMIN its organization, TEAM_LEAD its team, USER its
//! identity): the list with filters, one query with its class and analysis, re-analysis, the query-class
//! (pt-query-digest) view with hourly history, and the dashboard. A TEAM_LEAD or USER sees only its own
//! part of a class other owners share (the store decides what that is, from the scope).

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use dbpower_core::Scope;
use dbpower_store::ClassLookup;
use dbpower_types::{
    ClassCandidate, DashboardView, DatabaseType, DayPoint, ErrorBody, ErrorCode, Page, PageQuery,
    PlanView, QueryClassDetail, QueryClassFilter, QueryClassSelector, QueryClassView,
    SlowQueryDetail, SlowQueryFilter, SlowQueryView,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::write_org;
use crate::context::{Analysis, Ctx, page_of, page_request};
use crate::routes::auth::Auth;
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/slow-queries", tag = "slow-queries", params(SlowQueryFilter),
    responses((status = 200, body = Page<SlowQueryView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_slow_queries(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(f): ApiQuery<SlowQueryFilter>,
) -> ApiResult<ApiJson<Page<SlowQueryView>>> {
    let req = page_request(&PageQuery {
        page: f.page,
        per_page: f.per_page,
    })?;
    if f.min_time_ms.is_some_and(|m| !m.is_finite() || m < 0.0) {
        return Err(ApiError::validation("min_time_ms", "must be a number >= 0"));
    }
    let (items, total) = s.store.list_slow_queries(&Scope::of(&p), &f, req).await?;
    let mut page = page_of(items, total.count, req, |q| q);
    page.total_capped = total.capped;
    Ok(ApiJson(page))
}

#[utoipa::path(get, path = "/api/v1/slow-queries/{id}", tag = "slow-queries", params(("id" = i64, Path)),
    responses((status = 200, body = SlowQueryDetail), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_slow_query(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<SlowQueryDetail>> {
    let scope = Scope::of(&p);
    let rec = s
        .store
        .slow_query_by_id(&scope, id)
        .await
        .named("slow query")?;
    // A team or an identity sees its own part of the class, and its analysis only if the class is wholly
    // its own.
    let class = s.store.query_class_by_id(&scope, rec.class_id).await?;
    let analysis = s.store.analysis_for_class(&scope, rec.class_id).await?;
    Ok(ApiJson(SlowQueryDetail {
        query: rec.view,
        explain: rec.explain,
        class,
        analysis,
    }))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AnalyzeQueued {
    /// Always `queued`.
    pub status: &'static str,
    pub query_id: String,
    /// The class's engine: with `query_id`, what names the class (`GET /api/v1/query-classes/{query_id}?database_type=`).
    pub database_type: DatabaseType,
}

/// Queue a fresh analysis of the query's class; poll the query until `analysis.analyzed_at` changes.
#[utoipa::path(post, path = "/api/v1/slow-queries/{id}/analyze", tag = "slow-queries", params(("id" = i64, Path)),
    responses((status = 202, body = AnalyzeQueued), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn analyze_slow_query(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, ApiJson<AnalyzeQueued>)> {
    let queued = queue_analysis(&s.analysis, &p, &ctx, id).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(queued)))
}

/// Queues a fresh analysis of a visible slow query's class and wakes the workers (another
/// organization's query is 404). Shared with `POST /analyzer/analyze`.
pub(crate) async fn queue_analysis(
    s: &Analysis,
    p: &dbpower_core::Principal,
    ctx: &Ctx,
    id: i64,
) -> ApiResult<AnalyzeQueued> {
    let scope = Scope::of(p);
    let rec = s
        .store
        .slow_query_by_id(&scope, id)
        .await
        .named("slow query")?;
    let org = write_org(&scope, Some(rec.organization_id))?;
    s.store
        .enqueue_analysis(org, rec.class_id, "requested")
        .await?;
    s.wakeup.notify_one();
    s.audit(
        ctx.event(p, "slow_query.reanalyze", "slow_query")
            .on(Some(rec.organization_id), id)
            .details(serde_json::json!({
                "query_id": rec.view.query_id,
                "database_type": rec.view.database_type,
            })),
    )
    .await;
    Ok(AnalyzeQueued {
        status: "queued",
        query_id: rec.view.query_id,
        database_type: rec.view.database_type,
    })
}

#[utoipa::path(get, path = "/api/v1/query-classes", tag = "slow-queries", params(QueryClassFilter),
    responses((status = 200, body = Page<QueryClassView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_query_classes(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(f): ApiQuery<QueryClassFilter>,
) -> ApiResult<ApiJson<Page<QueryClassView>>> {
    let req = page_request(&PageQuery {
        page: f.page,
        per_page: f.per_page,
    })?;
    let (items, total) = s.store.list_query_classes(&Scope::of(&p), &f, req).await?;
    Ok(ApiJson(page_of(items, total, req, |c| c)))
}

/// `s` as one URL path segment: unreserved characters as they are, anything else percent-encoded.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The one class a query id names in the caller's scope, narrowed by `sel`: 404 when none, 409
/// `ambiguous_query_id` listing the candidates when several (a MySQL and a PostgreSQL class share ids;
/// a super admin sees every organization's), so an answer is never one of them picked silently.
async fn class_named(
    s: &AppState,
    scope: &Scope,
    query_id: &str,
    sel: QueryClassSelector,
) -> ApiResult<i64> {
    let lookup = ClassLookup {
        query_id,
        database_type: sel.database_type,
        organization_id: sel.organization_id,
    };
    let found = s.store.query_classes_named(scope, lookup).await?;
    match found.as_slice() {
        [] => Err(ApiError::not_found("query class")),
        [one] => Ok(one.id),
        many => {
            let orgs_differ = many
                .iter()
                .any(|c| c.organization_id != many[0].organization_id);
            let candidates = many
                .iter()
                .map(|c| ClassCandidate {
                    query_id: query_id.to_string(),
                    database_type: c.database_type,
                    organization_id: c.organization_id,
                    href: format!(
                        "/api/v1/query-classes/{}?database_type={}{}",
                        path_segment(query_id),
                        c.database_type.as_str(),
                        if orgs_differ {
                            format!("&organization_id={}", c.organization_id)
                        } else {
                            String::new()
                        }
                    ),
                })
                .collect::<Vec<_>>();
            let engines: Vec<&str> = candidates
                .iter()
                .map(|c| c.database_type.as_str())
                .collect();
            let mut e = ApiError::new(
                ErrorCode::AmbiguousQueryId,
                format!(
                    "query id {query_id} names {} classes ({}): name one with database_type{}",
                    many.len(),
                    engines.join(", "),
                    if orgs_differ {
                        " and organization_id"
                    } else {
                        ""
                    }
                ),
            );
            e.candidates = Some(candidates);
            Err(e)
        }
    }
}

/// One query class with its analysis and hourly history of the last 7 days. A query id may name a
/// MySQL and a PostgreSQL class: `database_type` chooses; without it such an id answers 409
/// `ambiguous_query_id` with the candidates.
#[utoipa::path(get, path = "/api/v1/query-classes/{query_id}", tag = "slow-queries",
    params(("query_id" = String, Path), QueryClassSelector),
    responses((status = 200, body = QueryClassDetail), (status = 404, body = ErrorBody),
        (status = 409, description = "the query id names several classes: `error.candidates` lists them", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_query_class(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(query_id): Path<String>,
    ApiQuery(sel): ApiQuery<QueryClassSelector>,
) -> ApiResult<ApiJson<QueryClassDetail>> {
    let scope = Scope::of(&p);
    let class_id = class_named(&s, &scope, &query_id, sel).await?;
    let mut class = s.store.query_class_by_id(&scope, class_id).await?;
    let analysis = s.store.analysis_for_class(&scope, class_id).await?;
    // The two reads are separate: an analysis that committed between them carries the severity the
    // class row did not have yet (both are written in one transaction), so the answer agrees with itself.
    if let (None, Some(a)) = (class.severity, &analysis) {
        class.severity = Some(a.report.severity);
    }
    let series = s
        .store
        .class_series(&scope, class_id, Utc::now() - Duration::days(7))
        .await?;
    Ok(ApiJson(QueryClassDetail {
        class,
        analysis,
        series,
    }))
}

/// The plan shapes a class ran with, newest first (docs/ANALYSIS.md, "Plan history"): each with its
/// newest plan, the executions that carried it and their time. Like the analysis, a team or an identity
/// sees them only on a class wholly its own.
#[utoipa::path(get, path = "/api/v1/query-classes/{query_id}/plans", tag = "slow-queries",
    params(("query_id" = String, Path), QueryClassSelector),
    responses((status = 200, body = [PlanView]), (status = 404, body = ErrorBody),
        (status = 409, description = "the query id names several classes: `error.candidates` lists them", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_class_plans(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(query_id): Path<String>,
    ApiQuery(sel): ApiQuery<QueryClassSelector>,
) -> ApiResult<ApiJson<Vec<PlanView>>> {
    let scope = Scope::of(&p);
    let class_id = class_named(&s, &scope, &query_id, sel).await?;
    Ok(ApiJson(s.store.class_plans(&scope, class_id).await?))
}

/// Totals for the caller's scope and a 7-day chart (one entry per UTC day, oldest first).
#[utoipa::path(get, path = "/api/v1/stats/dashboard", tag = "slow-queries",
    responses((status = 200, body = DashboardView), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn dashboard(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<ApiJson<DashboardView>> {
    let today = Utc::now().date_naive();
    let first = today - Duration::days(6);
    let since = first
        .and_hms_opt(0, 0, 0)
        .map_or_else(Utc::now, |t| t.and_utc());
    let d = s.store.dashboard(&Scope::of(&p), since).await?;
    let chart_data = (0..7)
        .map(|i| {
            let date = first + Duration::days(i);
            let day = date.format("%Y-%m-%d").to_string();
            let (queries, total, critical) = d
                .days
                .iter()
                .find(|x| x.0 == day)
                .map_or((0, 0.0, 0), |x| (x.1, x.2, x.3));
            DayPoint {
                date,
                queries,
                avg_time_ms: if queries > 0 {
                    total / queries as f64
                } else {
                    0.0
                },
                critical,
            }
        })
        .collect::<Vec<_>>();
    Ok(ApiJson(DashboardView {
        total_queries: d.total_queries,
        total_issues: d.issues,
        critical_issues: d.critical,
        avg_time_ms: if d.total_queries > 0 {
            d.total_time_ms / d.total_queries as f64
        } else {
            0.0
        },
        chart_data,
    }))
}
