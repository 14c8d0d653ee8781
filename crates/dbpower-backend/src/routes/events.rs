//! `/api/v1/events`: change markers (deploys, schema and configuration changes, notes). A user posts
//! with a bearer token; a deploy pipeline or an agent signs the request with an api key as ingestion
//! does. Alerts cite the newest marker before them; lists are role-scoped like slow queries.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::Utc;
use dbpower_core::perm::Action;
use dbpower_core::{OrgId, Principal, Scope};
use dbpower_store::{EventFilter, NewEvent};
use dbpower_types::{
    ChangeKind, CreateEventRequest, ErrorBody, EventListQuery, EventView, Page, PageQuery,
};

use super::{require, write_org};
use crate::context::{Ctx, page_of, page_request};
use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, StoreResultExt};
use crate::routes::auth::Auth;
use crate::routes::ingest::{SignedRequest, authenticate, from_json, limit_key, read_body};
use crate::state::AppState;

/// A marker's body is small.
const MAX_EVENT_BODY: usize = 64 * 1024;
const MAX_LABELS: usize = 20;

/// Who posts a marker: a signed request (an api key) or a logged-in user.
pub(crate) enum EventCaller {
    Signed(SignedRequest),
    User(Principal),
}

impl FromRequestParts<AppState> for EventCaller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key("x-api-key") {
            let Ok(signed) = SignedRequest::from_request_parts(parts, state).await;
            return Ok(EventCaller::Signed(signed));
        }
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        Ok(EventCaller::User(p))
    }
}

fn check(req: &CreateEventRequest) -> ApiResult<()> {
    let title = req.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::validation("title", "must be 1 to 200 characters"));
    }
    let now = Utc::now();
    if let Some(at) = req.at
        && (at < now - chrono::Duration::days(90) || at > now + chrono::Duration::days(1))
    {
        return Err(ApiError::validation(
            "at",
            "must be at most 90 days ago and a day ahead",
        ));
    }
    let labels = req.labels.as_ref().map_or(0, |l| l.len());
    if labels > MAX_LABELS {
        return Err(ApiError::validation(
            "labels",
            format!("at most {MAX_LABELS} labels"),
        ));
    }
    for (k, v) in req.labels.iter().flatten() {
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !key_ok || v.chars().count() > 256 {
            return Err(ApiError::validation(
                "labels",
                "keys are 1 to 64 of [A-Za-z0-9_.-], values at most 256 characters",
            ));
        }
    }
    Ok(())
}

/// Text a marker stores: personal data redacted, as everything else a tenant sends.
fn clean(s: &str) -> String {
    dbpower_sql::pii::redact(s.trim()).replace('\0', "")
}

fn new_event(req: &CreateEventRequest, team: i64, identity: i64, source: &'static str) -> NewEvent {
    NewEvent {
        team_id: team,
        identity_id: identity,
        kind: req.kind,
        title: clean(&req.title),
        at: req.at.unwrap_or_else(Utc::now),
        labels: req
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, clean(&v)))
            .collect(),
        source,
        created_by: None,
        api_key_id: None,
        request_id: None,
    }
}

/// Record a change marker: with a bearer token (TEAM_LEAD or above; a team lead's markers are its
/// team's), or signed by an api key like ingestion (the key's team and identity).
#[utoipa::path(post, path = "/api/v1/events", tag = "alerts", request_body = CreateEventRequest,
    responses((status = 201, body = EventView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_event(
    State(s): State<AppState>,
    ctx: Ctx,
    caller: EventCaller,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, ApiJson<EventView>)> {
    match caller {
        EventCaller::Signed(request) => {
            let (cred, request_id, body) = authenticate(&s, request, body, MAX_EVENT_BODY).await?;
            limit_key(&s, &cred, 0).await?;
            let req: CreateEventRequest = from_json(&body)?;
            check(&req)?;
            let key = &cred.key.view;
            let mut new = new_event(
                &req,
                key.team_id.unwrap_or(0),
                key.identity_id.unwrap_or(0),
                "api_key",
            );
            new.api_key_id = Some(key.id);
            new.request_id = Some(request_id);
            let org = OrgId::from_credential(key.organization_id);
            let event = s
                .store
                .insert_event(org, &new)
                .await
                .named("organization")?;
            Ok((StatusCode::CREATED, ApiJson(event)))
        }
        EventCaller::User(p) => {
            require(&p, Action::HandleAlerts)?;
            let body = read_body(body, MAX_EVENT_BODY).await?;
            let req: CreateEventRequest = from_json(&body)?;
            check(&req)?;
            let org = write_org(&Scope::of(&p), req.organization_id)?;
            let team = if p.role == dbpower_types::Role::TeamLead {
                p.team_id.unwrap_or(0)
            } else {
                0
            };
            let mut new = new_event(&req, team, 0, "user");
            new.created_by = Some(p.user_id);
            let event = s
                .store
                .insert_event(org, &new)
                .await
                .named("organization")?;
            s.audit(
                ctx.event(&p, "change_event.create", "change_event")
                    .on(Some(event.organization_id), event.id)
                    .details(serde_json::json!({"kind": event.kind.as_str()})),
            )
            .await;
            Ok((StatusCode::CREATED, ApiJson(event)))
        }
    }
}

/// The change markers the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "alerts", params(EventListQuery),
    responses((status = 200, body = Page<EventView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_events(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<EventListQuery>,
) -> ApiResult<ApiJson<Page<EventView>>> {
    let req = page_request(&PageQuery {
        page: q.page,
        per_page: q.per_page,
    })?;
    let filter = EventFilter {
        from: q.from,
        to: q.to,
        kind: q
            .kind
            .as_deref()
            .map(|k| {
                ChangeKind::parse(k).ok_or_else(|| {
                    ApiError::validation("kind", "must be deploy, schema, config or note")
                })
            })
            .transpose()?,
    };
    let (items, total) = s.store.list_events(&Scope::of(&p), &filter, req).await?;
    Ok(ApiJson(page_of(items, total, req, |e| e)))
}
