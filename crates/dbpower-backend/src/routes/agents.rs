//! Collector agents: `POST /api/v1/agents/heartbeat` (signed with the agent's api key, like ingestion)
//! stores the newest heartbeat; `GET /api/v1/agents` lists the caller's agents a page at a time, online
//! when their last heartbeat is no older than three of their rounds (at least 90 seconds), with their
//! sources' methods named as the agent's configuration names them (`slow_log_file`).

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult};
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use dbpower_core::Scope;
use dbpower_types::{AgentHeartbeat, AgentView, ErrorBody, Page, PageQuery};

use crate::context::{page_of, page_request};

use crate::routes::auth::Auth;
use crate::routes::ingest::{SignedRequest, authenticate, from_json, limit_key};

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
    request: SignedRequest,
    body: axum::body::Body,
) -> ApiResult<StatusCode> {
    let (cred, _, body) = authenticate(&state, request, body, MAX_HEARTBEAT_BODY).await?;
    limit_key(&state, &cred, 0).await?;
    let key = cred.key;
    let mut hb: AgentHeartbeat = from_json(&body)?;
    validate(&hb)?;
    name_methods(&mut hb);
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

/// A collection method as the agent's configuration spells it (`slow_log_file`, `pg_stat_statements`):
/// agents that report their methods' Rust names (`SlowLogFile`) are read in snake case.
fn method_name(m: &str) -> String {
    let mut out = String::with_capacity(m.len() + 4);
    for (i, c) in m.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Every source's methods in snake case ([`method_name`]).
fn name_methods(hb: &mut AgentHeartbeat) {
    for source in &mut hb.sources {
        for m in &mut source.methods {
            *m = method_name(m);
        }
    }
}

/// A stored heartbeat as the list shows it (method names in snake case, whenever it was stored).
fn view_of(r: dbpower_store::AgentRecord, now: chrono::DateTime<Utc>) -> Option<AgentView> {
    let mut heartbeat: AgentHeartbeat = serde_json::from_value(r.heartbeat).ok()?;
    name_methods(&mut heartbeat);
    let window = (heartbeat.interval_secs.saturating_mul(3)).max(90) as i64;
    Some(AgentView {
        api_key_id: r.api_key_id,
        organization_id: r.organization_id,
        team_id: r.team_id,
        online: (now - r.last_seen).num_seconds() <= window,
        last_seen: r.last_seen,
        heartbeat,
    })
}

/// The caller's agents, one per api key, by key id, a page at a time.
#[utoipa::path(get, path = "/api/v1/agents", tag = "ingestion", params(PageQuery),
    responses((status = 200, body = Page<AgentView>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_agents(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<ApiJson<Page<AgentView>>> {
    let req = page_request(&q)?;
    let now = Utc::now();
    let (rows, total) = s.store.list_agents(&Scope::of(&p), req).await?;
    let items = rows.into_iter().filter_map(|r| view_of(r, now)).collect();
    Ok(ApiJson(page_of(items, total, req, |a| a)))
}

#[cfg(test)]
mod tests {
    use super::method_name;

    #[test]
    fn methods_read_as_the_configuration_spells_them() {
        for (sent, shown) in [
            ("SlowLogFile", "slow_log_file"),
            ("PerformanceSchema", "performance_schema"),
            ("SlowLogTable", "slow_log_table"),
            ("PgStatStatements", "pg_stat_statements"),
            ("PostgresLog", "postgres_log"),
            ("slow_log_file", "slow_log_file"),
        ] {
            assert_eq!(method_name(sent), shown);
        }
    }
}
