//! `POST /api/v1/slow-queries`: the signed agent API. Authentication is the api key's HMAC signature
//! (never a JWT); attribution (organization, team, identity) comes from the key, never from the body.
//! Every statement is scrubbed again here at the organization's level (defence in depth), fingerprinted,
//! and the batch is stored in one transaction; a repeated request id stores nothing and answers as the
//! first time did.

use crate::http::{ApiError, ApiJson, ApiResult, ClientIp, StoreResultExt};
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};
use dbpower_core::{OrgId, signing};
use dbpower_sql::{ScrubLevel, fingerprint_and_id, pii, scrub};
use dbpower_store::{ApiKeyRecord, IngestCredential, NewBatch, NewSlowQuery, StoreError};
use dbpower_types::{
    ErrorBody, ErrorCode, IngestRequest, IngestResponse, MAX_BATCH, MAX_CALLS, MAX_ROWS,
    MAX_SQL_BYTES, MAX_TIME_MS, SlowQueryIn,
};

use crate::state::AppState;

/// The largest ingestion body (1000 queries of ordinary size; single huge statements are capped at 1 MiB each).
pub(crate) const MAX_INGEST_BODY: usize = 16 * 1024 * 1024;

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn level(l: dbpower_types::ScrubLevel) -> ScrubLevel {
    match l {
        dbpower_types::ScrubLevel::Strict => ScrubLevel::Strict,
        dbpower_types::ScrubLevel::PiiOnly => ScrubLevel::PiiOnly,
    }
}

/// A signed request's headers, checked before its body is read: the key exists and is not revoked, and
/// the timestamp is inside the window. Nobody without a valid key id makes the server read 16 MiB.
pub(crate) struct Signed {
    pub cred: IngestCredential,
    pub request_id: String,
    timestamp: i64,
    signature: String,
}

pub(crate) async fn precheck(state: &AppState, headers: &HeaderMap) -> ApiResult<Signed> {
    let unauthorized = |code, msg: &str| ApiError::unauthorized(code, msg.to_string());
    let key_id = header(headers, "x-api-key")
        .ok_or_else(|| unauthorized(ErrorCode::Unauthorized, "missing X-API-Key"))?;
    let request_id = header(headers, "x-request-id").ok_or_else(|| {
        ApiError::new(
            ErrorCode::BadRequest,
            "X-Request-ID is required: it makes retries idempotent",
        )
    })?;
    if request_id.len() > 128 {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "X-Request-ID must be at most 128 characters",
        ));
    }
    let timestamp: i64 = header(headers, "x-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            unauthorized(
                ErrorCode::TimestampOutOfWindow,
                "missing or malformed X-Timestamp (unix seconds)",
            )
        })?;
    let signature = header(headers, "x-signature")
        .ok_or_else(|| unauthorized(ErrorCode::InvalidSignature, "missing X-Signature"))?;
    if key_id.len() > 128 || signature.len() > 256 {
        return Err(unauthorized(ErrorCode::UnknownApiKey, "unknown api key"));
    }
    // Checked arithmetic: a timestamp near i64::MIN must not wrap into the window.
    let skew = Utc::now()
        .timestamp()
        .checked_sub(timestamp)
        .map(i64::unsigned_abs);
    if skew.is_none_or(|s| s > signing::MAX_SKEW_SECS.unsigned_abs()) {
        return Err(unauthorized(
            ErrorCode::TimestampOutOfWindow,
            "X-Timestamp is more than 300 seconds from the server's clock",
        ));
    }
    let cred = match state.store.ingest_credential(key_id).await {
        Ok(k) => k,
        Err(StoreError::NotFound) => {
            return Err(unauthorized(ErrorCode::UnknownApiKey, "unknown api key"));
        }
        Err(e) => return Err(e.into()),
    };
    if cred.key.view.revoked_at.is_some() {
        return Err(unauthorized(
            ErrorCode::ApiKeyRevoked,
            "this api key has been revoked",
        ));
    }
    Ok(Signed {
        cred,
        request_id: request_id.to_string(),
        timestamp,
        signature: signature.to_string(),
    })
}

/// Reads a signed request's body, at most `limit` bytes (413 beyond).
pub(crate) async fn read_body(body: axum::body::Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
    })
}

/// Verifies the signature over the body; only a request that passes counts against the key's windows
/// ([`limit_key`], called next).
pub(crate) async fn verify(
    state: &AppState,
    signed: Signed,
    method: &Method,
    uri: &OriginalUri,
    body: &[u8],
) -> ApiResult<(IngestCredential, String)> {
    let key = &signed.cred.key;
    let secret = state.cipher.decrypt(&key.secret_ciphertext).map_err(|e| {
        tracing::error!(error = %e, key.id = key.view.id, "api key secret does not decrypt (wrong DBPOWER_MASTER_KEY?)");
        ApiError::internal()
    })?;
    let path = uri
        .0
        .path_and_query()
        .map_or_else(|| uri.0.path().to_string(), ToString::to_string);
    let parts = signing::Signed {
        timestamp: signed.timestamp,
        request_id: &signed.request_id,
        method: method.as_str(),
        path_and_query: &path,
        body,
    };
    if !parts.verify(&secret, &signed.signature) {
        return Err(ApiError::unauthorized(
            ErrorCode::InvalidSignature,
            "signature does not match the request",
        ));
    }
    Ok((signed.cred, signed.request_id))
}

/// Counts a verified request against its api key's windows: one request, and `queries` slow queries of
/// its per-minute budget (0 for a heartbeat), at its organization's limits (read with the key).
pub(crate) async fn limit_key(
    state: &AppState,
    cred: &IngestCredential,
    queries: usize,
) -> ApiResult<()> {
    if let Some(rl) = &state.key_limits {
        let n = u32::try_from(queries).unwrap_or(u32::MAX);
        crate::middleware::ratelimit::check_key(rl, &cred.key.view.key_id, &cred.settings, n)
            .await?;
    }
    Ok(())
}

/// What a signed request's signature covers besides its body (method, path and query, the signing
/// headers), and the address it came from.
pub(crate) struct SignedRequest {
    ip: Option<std::net::IpAddr>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedRequest {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let uri = OriginalUri::from_request_parts(parts, state).await?;
        Ok(SignedRequest {
            ip,
            method: parts.method.clone(),
            uri,
            headers: parts.headers.clone(),
        })
    }
}

/// A signed request's credential and request id, and its body (at most `limit` bytes), once the
/// signature verifies. A request refused before that counts against its client address (the rate-limit
/// layer only peeked at that window for it); behind a gateway, the gateway counts it.
pub(crate) async fn authenticate(
    state: &AppState,
    request: SignedRequest,
    body: axum::body::Body,
    limit: usize,
) -> ApiResult<(IngestCredential, String, Bytes)> {
    let SignedRequest {
        ip,
        method,
        uri,
        headers,
    } = request;
    let (method, uri, headers) = (&method, &uri, &headers);
    let verified = async {
        let signed = precheck(state, headers).await?;
        let body = read_body(body, limit).await?;
        let (cred, request_id) = verify(state, signed, method, uri, &body).await?;
        Ok((cred, request_id, body))
    }
    .await;
    if verified.is_err()
        && let Some(rl) = &state.rate_limits
    {
        crate::middleware::ratelimit::count_address(rl, ip).await;
    }
    verified
}

/// Deserializes a signed JSON body: malformed JSON is `invalid_json`, a value of the wrong type is a
/// validation error naming its exact path.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::new(ErrorCode::InvalidJson, format!("malformed JSON: {inner}"))
        } else {
            ApiError::validation(&path, inner.to_string())
        }
    })
}

/// Parses the body, naming the exact field of the exact item that is wrong.
fn parse(body: &[u8]) -> ApiResult<IngestRequest> {
    let req: IngestRequest = from_json(body)?;
    if req.queries.is_empty() || req.queries.len() > MAX_BATCH {
        return Err(ApiError::validation(
            "queries",
            format!(
                "must hold 1 to {MAX_BATCH} items, got {}",
                req.queries.len()
            ),
        ));
    }
    for (i, q) in req.queries.iter().enumerate() {
        validate_item(q)
            .map_err(|(field, msg)| ApiError::validation(&format!("queries[{i}].{field}"), msg))?;
    }
    Ok(req)
}

fn validate_item(q: &SlowQueryIn) -> Result<(), (&'static str, String)> {
    if q.sql_text.trim().is_empty() {
        return Err(("sql_text", "must not be empty".into()));
    }
    if q.sql_text.len() > MAX_SQL_BYTES {
        return Err(("sql_text", format!("must be at most {MAX_SQL_BYTES} bytes")));
    }
    if !(0.0..=MAX_TIME_MS).contains(&q.execution_time_ms) {
        return Err((
            "execution_time_ms",
            format!("must be a number from 0 to {MAX_TIME_MS}"),
        ));
    }
    if q.lock_time_ms
        .is_some_and(|l| !(0.0..=MAX_TIME_MS).contains(&l))
    {
        return Err((
            "lock_time_ms",
            format!("must be a number from 0 to {MAX_TIME_MS}"),
        ));
    }
    for (name, v) in [
        ("rows_examined", q.rows_examined),
        ("rows_sent", q.rows_sent),
        ("rows_affected", q.rows_affected),
    ] {
        if v.is_some_and(|v| !(0..=MAX_ROWS).contains(&v)) {
            return Err((name, format!("must be from 0 to {MAX_ROWS}")));
        }
    }
    if q.calls.is_some_and(|c| !(1..=MAX_CALLS).contains(&c)) {
        return Err(("calls", format!("must be from 1 to {MAX_CALLS}")));
    }
    if q.sample_only && q.calls.is_some() {
        return Err((
            "calls",
            "must be absent on a sample (sample_only: its executions are counted elsewhere)".into(),
        ));
    }
    for (name, v) in [
        ("database_name", &q.database_name),
        ("user", &q.user),
        ("client_host", &q.client_host),
        ("source", &q.source),
    ] {
        if v.as_ref().is_some_and(|s| s.len() > 256) {
            return Err((name, "must be at most 256 bytes".into()));
        }
    }
    if q.explain
        .as_ref()
        .is_some_and(|e| !(e.is_object() || e.is_array()))
    {
        return Err((
            "explain",
            "must be a JSON object or array (EXPLAIN FORMAT=JSON output)".into(),
        ));
    }
    if let Some(s) = &q.schema {
        validate_schema(s)?;
    }
    if let Some(why) = q.hints.as_ref().and_then(|h| h.invalid()) {
        return Err(("hints", why));
    }
    Ok(())
}

/// A schema snapshot's bounds: tables, their columns and indexes, server settings.
fn validate_schema(s: &dbpower_types::SchemaSnapshot) -> Result<(), (&'static str, String)> {
    if s.tables.len() > MAX_SCHEMA_TABLES {
        return Err((
            "schema.tables",
            format!("at most {MAX_SCHEMA_TABLES} tables"),
        ));
    }
    if s.tables
        .iter()
        .any(|t| t.columns.len() > MAX_SCHEMA_COLUMNS || t.indexes.len() > MAX_SCHEMA_COLUMNS)
    {
        return Err((
            "schema.tables",
            format!("at most {MAX_SCHEMA_COLUMNS} columns and indexes per table"),
        ));
    }
    // Names are at most 64 bytes on both engines; a key part may be an expression's text.
    let name_ok = |n: &str| !n.is_empty() && n.len() <= 256;
    let bad_name = s.tables.iter().any(|t| {
        !name_ok(&t.name)
            || t.schema.as_deref().is_some_and(|x| !name_ok(x))
            || t.columns
                .iter()
                .any(|c| !name_ok(&c.name) || c.data_type.len() > 4096)
            || t.indexes.iter().any(|i| {
                !name_ok(&i.name)
                    || i.columns.len() > 64
                    || i.columns.iter().any(|c| c.len() > 4096)
                    || i.method.as_ref().is_some_and(|m| m.len() > 64)
            })
    });
    if bad_name {
        return Err((
            "schema.tables",
            "names of 1 to 256 bytes, column types of at most 4096, at most 64 key parts of at most 4096 bytes per index".to_string(),
        ));
    }
    if s.settings.len() > dbpower_types::MAX_SETTINGS
        || s.settings
            .iter()
            .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > 256)
    {
        return Err((
            "schema.settings",
            format!(
                "at most {} settings, names of 1 to 64 bytes, values of at most 256",
                dbpower_types::MAX_SETTINGS
            ),
        ));
    }
    Ok(())
}

/// How far ahead of the server's clock an execution may be dated (agents' clocks drift).
const MAX_FUTURE: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// `observed_at` must fall inside the organization's retention and at most a day ahead: older rows would
/// be deleted by the next sweep, and far-future ones would never expire.
fn check_times(items: &[SlowQueryIn], retention_days: i32, now: DateTime<Utc>) -> ApiResult<()> {
    let oldest = now - chrono::TimeDelta::days(i64::from(retention_days.max(1)));
    for (i, q) in items.iter().enumerate() {
        if let Some(t) = q.observed_at
            && (t < oldest || t > now + MAX_FUTURE)
        {
            return Err(ApiError::validation(
                &format!("queries[{i}].observed_at"),
                format!(
                    "must be within the organization's retention ({retention_days} days) and at most one day ahead of the server's clock"
                ),
            ));
        }
    }
    Ok(())
}

/// Limits on a schema snapshot sent with a slow query.
pub(crate) const MAX_SCHEMA_TABLES: usize = 64;
pub(crate) const MAX_SCHEMA_COLUMNS: usize = 1_000;

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = pii::redact(s).into_owned(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact_json),
        serde_json::Value::Object(o) => {
            let entries = std::mem::take(o);
            for (k, mut x) in entries {
                redact_json(&mut x);
                o.insert(pii::redact(&k).into_owned(), x);
            }
        }
        _ => {}
    }
}

/// Collected text may hold NUL (logs carry binary literals), which PostgreSQL text and JSON cannot store
/// and no reader wants: it keeps its place as U+FFFD, so the item is stored rather than refused.
fn without_nul(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s
    }
}

/// [`without_nul`] on every string and key of a JSON document.
fn json_without_nul(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = without_nul(std::mem::take(s)),
        serde_json::Value::Array(a) => a.iter_mut().for_each(json_without_nul),
        serde_json::Value::Object(o) if o.keys().any(|k| k.contains('\0')) => {
            let entries = std::mem::take(o);
            for (k, mut x) in entries {
                json_without_nul(&mut x);
                o.insert(without_nul(k), x);
            }
        }
        serde_json::Value::Object(o) => o.values_mut().for_each(json_without_nul),
        _ => {}
    }
}

/// Turns validated items into store rows: scrubbed, fingerprinted, attributed by nobody but the key.
pub(crate) fn prepare(
    items: Vec<SlowQueryIn>,
    scrub_level: dbpower_types::ScrubLevel,
) -> Vec<NewSlowQuery> {
    let now = Utc::now();
    let l = level(scrub_level);
    let redact = |s: Option<String>| s.map(|v| without_nul(pii::redact(&v).into_owned()));
    items
        .into_iter()
        .map(|mut q| {
            q.sql_text = without_nul(std::mem::take(&mut q.sql_text));
            let d = dbpower_analysis::dialect_of(q.database_type);
            let (fp, id) = fingerprint_and_id(&q.sql_text, d);
            let mut explain = q.explain;
            if let Some(e) = explain.as_mut() {
                dbpower_sql::scrub::scrub_json(e, d, l);
                json_without_nul(e);
            }
            // Names only, but redacted like every other string that is stored.
            let schema = q
                .schema
                .and_then(|s| serde_json::to_value(s).ok())
                .map(|mut v| {
                    redact_json(&mut v);
                    json_without_nul(&mut v);
                    v
                });
            // Column names and JSON keys only, redacted like the schema.
            let hints = q
                .hints
                .filter(|h| !h.is_empty())
                .and_then(|h| serde_json::to_value(h).ok())
                .map(|mut v| {
                    redact_json(&mut v);
                    json_without_nul(&mut v);
                    v
                });
            NewSlowQuery {
                database_type: q.database_type,
                query_id: id,
                fingerprint: pii::redact(&fp).into_owned(),
                fingerprint_version: dbpower_sql::FINGERPRINT_VERSION,
                sql_text: scrub(&q.sql_text, d, l),
                database_name: redact(q.database_name),
                db_user: redact(q.user),
                client_host: redact(q.client_host),
                execution_time_ms: q.execution_time_ms,
                lock_time_ms: q.lock_time_ms,
                rows_examined: q.rows_examined,
                rows_sent: q.rows_sent,
                rows_affected: q.rows_affected,
                // A sample is stored with 0 executions: another method counts them.
                calls: if q.sample_only {
                    0
                } else {
                    q.calls.unwrap_or(1)
                },
                observed_at: dbpower_store::audit::stamp(q.observed_at.unwrap_or(now)),
                plan_shape: explain
                    .as_ref()
                    .and_then(dbpower_analysis::plans::shape)
                    .map(|p| (p.fingerprint, p.summary)),
                explain,
                schema,
                hints,
                source: redact(q.source),
            }
        })
        .collect()
}

/// Stores a batch for an authenticated key (shared by the handler and the demo seeding).
pub(crate) async fn accept(
    state: &AppState,
    key: &ApiKeyRecord,
    settings: &dbpower_types::OrgSettings,
    request_id: &str,
    items: Vec<SlowQueryIn>,
) -> ApiResult<IngestResponse> {
    let org = OrgId::from_credential(key.view.organization_id);
    let accepted = items.len();
    let batch = NewBatch {
        api_key_id: key.view.id,
        request_id: request_id.to_string(),
        team_id: key.view.team_id,
        identity_id: key.view.identity_id,
        items: prepare(items, settings.scrub_level),
    };
    let outcome = state
        .writer
        .submit(org, batch)
        .await
        .named("organization")?;
    if outcome.analysis_queued {
        state.analysis.wakeup.notify_one();
    }
    Ok(IngestResponse {
        accepted: if outcome.replayed {
            outcome.ids.len()
        } else {
            accepted
        },
        ids: outcome.ids,
        request_id: request_id.to_string(),
    })
}

/// Ingest a batch of slow queries from an agent (HMAC-signed; see docs/API-DESIGN.md).
#[utoipa::path(post, path = "/api/v1/slow-queries", tag = "ingestion", request_body = IngestRequest,
    params(
        ("X-API-Key" = String, Header, description = "Public key id of the agent's api key"),
        ("X-Request-ID" = String, Header, description = "Unique per batch; a retry with the same id stores nothing new"),
        ("X-Timestamp" = i64, Header, description = "Unix seconds, within 300 s of the server clock"),
        ("X-Signature" = String, Header, description = "Lowercase hex HMAC-SHA256 of the canonical request"),
    ),
    responses((status = 202, body = IngestResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn ingest_slow_queries(
    State(state): State<AppState>,
    request: SignedRequest,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, ApiJson<IngestResponse>)> {
    let (cred, request_id, body) = authenticate(&state, request, body, MAX_INGEST_BODY).await?;
    // A body that does not parse still counts as one request of the key's.
    let parsed = parse(&body);
    limit_key(
        &state,
        &cred,
        parsed.as_ref().map_or(1, |r| r.queries.len()),
    )
    .await?;
    let req = parsed?;
    check_times(&req.queries, cred.retention_days, Utc::now())?;
    let resp = accept(&state, &cred.key, &cred.settings, &request_id, req.queries).await?;
    state.shared.metrics.inc(
        crate::metrics::Metric::IngestedQueries,
        &[],
        resp.accepted as f64,
    );
    Ok((StatusCode::ACCEPTED, ApiJson(resp)))
}
