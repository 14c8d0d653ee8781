//! `/api/v1/teams/{id}/weekly-report`: a team's opt-in to the weekly e-mail report (docs/ALERTS.md),
//! set by an organization admin or the team's own lead, and a preview of the last week's report.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use dbpower_core::perm::Action;
use dbpower_core::{Principal, Scope, ScopeFilter};
use dbpower_types::{
    ErrorBody, ReportChannel, TeamView, WeeklyReport, WeeklyReportRequest, WeeklyReportView,
};

use super::{require, write_org};
use crate::context::Ctx;
use crate::http::{ApiError, ApiJson, ApiResult, StoreResultExt};
use crate::routes::auth::Auth;
use crate::state::AppState;
use crate::workers::reports::{build, last_week};
use dbpower_store::StoreError;

/// The team, when the caller may handle its alerts and the whole team is in its scope: an
/// administrator of its organization, or the team's own lead (another organization's or team's is not
/// found; so is every team for a lead without one, whose scope is an identity's, not a team's).
async fn team_of(s: &AppState, p: &Principal, id: i64) -> ApiResult<TeamView> {
    require(p, Action::HandleAlerts)?;
    let scope = Scope::of(p);
    let whole_team = match scope.filter() {
        ScopeFilter::All | ScopeFilter::Org { .. } => true,
        ScopeFilter::Team { team, .. } => team == id,
        ScopeFilter::Identity { .. } | ScopeFilter::Nothing => false,
    };
    if !whole_team {
        return Err(ApiError::not_found("team"));
    }
    s.store.team_by_id(&scope, id).await.named("team")
}

#[utoipa::path(get, path = "/api/v1/teams/{id}/weekly-report", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = WeeklyReportView, description = "on, or off (`enabled: false`; no channel when it never opted in)"), (status = 404, body = ErrorBody, description = "no such team for the caller")), security(("bearer" = [])))]
pub(crate) async fn get_weekly_report(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<WeeklyReportView>> {
    let team = team_of(&s, &p, id).await?;
    // A team that never opted in is off, not missing (the team exists and is the caller's to see).
    let view = match s.store.weekly_report(&Scope::of(&p), id).await {
        Err(StoreError::NotFound) => WeeklyReportView {
            team_id: id,
            organization_id: team.organization_id,
            enabled: false,
            channel_id: None,
            last_week: None,
            updated_at: None,
        },
        other => other.named("weekly report")?,
    };
    Ok(ApiJson(view))
}

/// Opt the team in to the weekly report on an e-mail channel (or move it to another one). The first
/// report, of the last whole week, goes out at the next evaluation; then one every Monday (UTC).
#[utoipa::path(put, path = "/api/v1/teams/{id}/weekly-report", tag = "alerts", params(("id" = i64, Path)),
    request_body = WeeklyReportRequest,
    responses((status = 200, body = WeeklyReportView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn set_weekly_report(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<WeeklyReportRequest>,
) -> ApiResult<ApiJson<WeeklyReportView>> {
    let team = team_of(&s, &p, id).await?;
    let org = write_org(&Scope::of(&p), Some(team.organization_id))?;
    let view = s
        .store
        .set_weekly_report(org, id, req.channel_id, p.user_id)
        .await
        .named("weekly report")?;
    s.audit(
        ctx.event(&p, "weekly_report.set", "team")
            .on(Some(team.organization_id), id)
            .details(serde_json::json!({"channel_id": req.channel_id})),
    )
    .await;
    Ok(ApiJson(view))
}

#[utoipa::path(delete, path = "/api/v1/teams/{id}/weekly-report", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_weekly_report(
    State(s): State<AppState>,
    Auth(p): Auth,
    ctx: Ctx,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let team = team_of(&s, &p, id).await?;
    s.store
        .delete_weekly_report(&Scope::of(&p), id)
        .await
        .named("weekly report")?;
    s.audit(
        ctx.event(&p, "weekly_report.delete", "team")
            .on(Some(team.organization_id), id),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The e-mail channels the team's report may go to (a team lead cannot list the organization's
/// channels, but may pick among these).
#[utoipa::path(get, path = "/api/v1/teams/{id}/weekly-report/channels", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = [ReportChannel]), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn weekly_report_channels(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<Vec<ReportChannel>>> {
    let team = team_of(&s, &p, id).await?;
    let org = write_org(&Scope::of(&p), Some(team.organization_id))?;
    Ok(ApiJson(s.store.report_channels(org, id).await?))
}

/// The last whole week's report as it would be sent (nothing is sent).
#[utoipa::path(get, path = "/api/v1/teams/{id}/weekly-report/preview", tag = "alerts", params(("id" = i64, Path)),
    responses((status = 200, body = WeeklyReport), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn preview_weekly_report(
    State(s): State<AppState>,
    Auth(p): Auth,
    Path(id): Path<i64>,
) -> ApiResult<ApiJson<WeeklyReport>> {
    let team = team_of(&s, &p, id).await?;
    let org = write_org(&Scope::of(&p), Some(team.organization_id))?;
    let (from, to, _) = last_week(chrono::Utc::now());
    let report = build(s.store.as_ref(), org, id, &team.name, (from, to)).await?;
    Ok(ApiJson(report))
}
