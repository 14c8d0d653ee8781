//! Collector agents: `POST /api/v1/agents/heartbeat` (signed with the agent's api key, like ingestion)
//! stores the newest heartbeat; `GET /api/v1/agents` lists the caller's agents, online when their last
//! heartbeat is no older than three of their rounds (at least 90 seconds).

use crate::http::{ApiError, ApiJson, ApiResult};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::Utc;
use dbpower_core::Scope;
use dbpower_types::{AgentHeartbeat, AgentView, ErrorBody};

use crate::routes::auth::Auth;
use crate::routes::ingest::{from_json, precheck, read_body, verify};

/// A heartbeat is small: anything larger is refused before it is read whole.
const MAX_HEARTBEAT_BODY: usize = 256 * 1024;
use crate::state::AppState;

const MAX_TEXT: usize = 1024;
const MAX_SOURCES: usize = 100;

fn validate(hb: &AgentHeartbeat) -> ApiResult<()> {
    if hb.name.trim().is_empty() || hb.name.len() > 128 {
        return Err(ApiError::validation("name", "must be 1 to 128 characters"));
    }
    if hb.version.len() > 64 {
        return Err(ApiError::validation(
            "version",
            "must be at most 64 characters",
        ));
    }
    if hb.interval_secs == 0 || hb.interval_secs > 86_400 {
        return Err(ApiError::validation(
            "interval_secs",
            "must be between 1 and 86400",
        ));
    }
    if hb.sources.len() > MAX_SOURCES {
        return Err(ApiError::validation(
            "sources",
            format!("at most {MAX_SOURCES} sources"),
        ));
    }
    let long = hb
        .last_error
        .iter()
        .chain(hb.sources.iter().flat_map(|s| s.last_error.iter()))
        .any(|e| e.len() > MAX_TEXT)
        || hb
            .sources
            .iter()
            .any(|s| s.name.len() > 128 || s.methods.len() > 10);
    if long {
        return Err(ApiError::validation(
            "sources",
            "names are at most 128 characters, errors at most 1024, methods at most 10",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/agents/heartbeat", tag = "ingestion", request_body = AgentHeartbeat,
    params(("X-API-Key" = String, Header), ("X-Request-ID" = String, Header), ("X-Timestamp" = i64, Header), ("X-Signature" = String, Header)),
    responses((status = 204, description = "stored"), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn heartbeat(
    State(state): State<AppState>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<StatusCode> {
    let signed = precheck(&state, &headers).await?;
    let body = read_body(body, MAX_HEARTBEAT_BODY).await?;
    let (cred, _) = verify(&state, signed, &method, &uri, &body).await?;
    let key = cred.key;
    let hb: AgentHeartbeat = from_json(&body)?;
    validate(&hb)?;
    let mut value = serde_json::to_value(&hb).map_err(|_| ApiError::internal())?;
    redact(&mut value);
    state.store.record_heartbeat(&key.view, &value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Error texts may quote a host or an address: they are stored PII-redacted like everything else.
fn redact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = dbpower_sql::pii::redact(s).into_owned(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact),
        serde_json::Value::Object(o) => o.values_mut().for_each(redact),
        _ => {}
    }
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "ingestion",
    responses((status = 200, body = Vec<AgentView>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_agents(
    State(s): State<AppState>,
    Auth(p): Auth,
) -> ApiResult<ApiJson<Vec<AgentView>>> {
    let now = Utc::now();
    let rows = s.store.list_agents(&Scope::of(&p)).await?;
    Ok(ApiJson(
        rows.into_iter()
            .filter_map(|r| {
                let heartbeat: AgentHeartbeat = serde_json::from_value(r.heartbeat).ok()?;
                let window = (heartbeat.interval_secs.saturating_mul(3)).max(90) as i64;
                Some(AgentView {
                    api_key_id: r.api_key_id,
                    organization_id: r.organization_id,
                    team_id: r.team_id,
                    online: (now - r.last_seen).num_seconds() <= window,
                    last_seen: r.last_seen,
                    heartbeat,
                })
            })
            .collect(),
    ))
}
