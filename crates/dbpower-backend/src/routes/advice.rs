//! Index advice: the agents' what-if validation round trip (`POST /api/v1/agents/validations/claim`
//! and `POST /api/v1/agents/validations`, signed with the agent's api key like ingestion) and the
//! workload's index advice (`GET /api/v1/index-advice`, role-scoped).

use axum::extract::State;
use dbpower_analysis::workload::{Workload, workload};
use dbpower_core::Scope;
use dbpower_types::{
    ErrorBody, IndexAdviceQuery, IndexAdviceReport, MAX_VALIDATION_CLAIM, ValidationClaim,
    ValidationClaimRequest, ValidationReceipt, ValidationResults, ValidationStatus,
};

use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::routes::auth::Auth;
use crate::routes::ingest::{SignedRequest, authenticate, from_json, limit_key};
use crate::state::AppState;

/// Claims and results are small.
const MAX_BODY: usize = 64 * 1024;
/// The longest reason an agent may give.
const MAX_REASON: usize = 500;
/// Costs and timings beyond this are not measurements.
const MAX_MEASURE: f64 = 1e15;

#[utoipa::path(post, path = "/api/v1/agents/validations/claim", tag = "ingestion",
    request_body = ValidationClaimRequest,
    params(("X-API-Key" = String, Header), ("X-Request-ID" = String, Header), ("X-Timestamp" = i64, Header), ("X-Signature" = String, Header)),
    responses((status = 200, body = ValidationClaim), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn claim_validations(
    State(state): State<AppState>,
    request: SignedRequest,
    body: axum::body::Body,
) -> ApiResult<ApiJson<ValidationClaim>> {
    let (cred, _, body) = authenticate(&state, request, body, MAX_BODY).await?;
    limit_key(&state, &cred, 0).await?;
    let req: ValidationClaimRequest = from_json(&body)?;
    let limit = match req.limit {
        None => MAX_VALIDATION_CLAIM as i64,
        Some(n) if n >= 1 && n as usize <= MAX_VALIDATION_CLAIM => i64::from(n),
        Some(_) => {
            return Err(ApiError::validation(
                "limit",
                format!("must be 1 to {MAX_VALIDATION_CLAIM}"),
            ));
        }
    };
    let tasks = state.store.claim_validations(&cred.key.view, limit).await?;
    Ok(ApiJson(ValidationClaim { tasks }))
}

fn check_results(r: &ValidationResults) -> ApiResult<()> {
    if r.results.len() > MAX_VALIDATION_CLAIM {
        return Err(ApiError::validation(
            "results",
            format!("at most {MAX_VALIDATION_CLAIM} items"),
        ));
    }
    for (i, v) in r.results.iter().enumerate() {
        let field = |f: &str| format!("results[{i}].{f}");
        if v.status == ValidationStatus::Pending {
            return Err(ApiError::validation(
                &field("status"),
                "must be validated, rejected or unavailable",
            ));
        }
        if v.status != ValidationStatus::Unavailable && v.method.is_none() {
            return Err(ApiError::validation(
                &field("method"),
                "required when validated or rejected",
            ));
        }
        for (name, x) in [
            ("cost_before", v.cost_before),
            ("cost_after", v.cost_after),
            ("time_before_ms", v.time_before_ms),
            ("time_after_ms", v.time_after_ms),
        ] {
            if let Some(x) = x
                && !(x.is_finite() && (0.0..=MAX_MEASURE).contains(&x))
            {
                return Err(ApiError::validation(
                    &field(name),
                    format!("must be a number from 0 to {MAX_MEASURE:e}"),
                ));
            }
        }
        if v.reason
            .as_ref()
            .is_some_and(|s| s.chars().count() > MAX_REASON)
        {
            return Err(ApiError::validation(
                &field("reason"),
                format!("at most {MAX_REASON} characters"),
            ));
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/agents/validations", tag = "ingestion",
    request_body = ValidationResults,
    params(("X-API-Key" = String, Header), ("X-Request-ID" = String, Header), ("X-Timestamp" = i64, Header), ("X-Signature" = String, Header)),
    responses((status = 200, body = ValidationReceipt), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn record_validations(
    State(state): State<AppState>,
    request: SignedRequest,
    body: axum::body::Body,
) -> ApiResult<ApiJson<ValidationReceipt>> {
    let (cred, _, body) = authenticate(&state, request, body, MAX_BODY).await?;
    limit_key(&state, &cred, 0).await?;
    let mut req: ValidationResults = from_json(&body)?;
    check_results(&req)?;
    // A reason may quote the customer's server: stored PII-redacted like everything else.
    for r in &mut req.results {
        if let Some(reason) = &mut r.reason {
            *reason = dbpower_sql::pii::redact(reason).into_owned();
        }
    }
    let receipt = state
        .store
        .record_validations(&cred.key.view, &req.results)
        .await?;
    Ok(ApiJson(receipt))
}

/// The workload's index advice in the caller's scope: per database and table, the classes'
/// recommendations consolidated, and the indexes to drop.
#[utoipa::path(get, path = "/api/v1/index-advice", tag = "slow-queries",
    params(IndexAdviceQuery),
    responses((status = 200, body = IndexAdviceReport), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn index_advice(
    State(s): State<AppState>,
    Auth(p): Auth,
    ApiQuery(q): ApiQuery<IndexAdviceQuery>,
) -> ApiResult<ApiJson<IndexAdviceReport>> {
    let unused_days = q.unused_days.unwrap_or(30);
    if !(1..=3650).contains(&unused_days) {
        return Err(ApiError::validation("unused_days", "must be 1 to 3650"));
    }
    for (name, v) in [("database", &q.database), ("table", &q.table)] {
        if v.as_ref().is_some_and(|v| v.is_empty() || v.len() > 256) {
            return Err(ApiError::validation(name, "must be 1 to 256 characters"));
        }
    }
    let inputs = s.store.advice_inputs(&Scope::of(&p)).await?;
    // CPU work over up to thousands of classes and tables: on the blocking pool, bounded in time.
    let recommendations = inputs.advice.len();
    let task = tokio::task::spawn_blocking(move || {
        workload(&Workload {
            advice: &inputs.advice,
            writers: &inputs.writers,
            tables: &inputs.tables,
            unused_days: i64::from(unused_days),
        })
    });
    let mut out = match tokio::time::timeout(std::time::Duration::from_secs(20), task).await {
        Ok(Ok(out)) => out,
        Ok(Err(_)) => return Err(ApiError::internal()),
        Err(_) => {
            return Err(ApiError::new(
                dbpower_types::ErrorCode::ServiceUnavailable,
                "the index advice took longer than 20 s to compute",
            )
            .with_retry_after(60));
        }
    };
    out.retain(|t| {
        q.database
            .as_ref()
            .is_none_or(|d| t.database_name.as_deref() == Some(d.as_str()))
            && q.table.as_ref().is_none_or(|n| {
                t.table.eq_ignore_ascii_case(n)
                    || t.table
                        .rsplit('.')
                        .next()
                        .is_some_and(|b| b.eq_ignore_ascii_case(n))
            })
    });
    let proposed = out.iter().map(|t| t.create.len()).sum();
    Ok(ApiJson(IndexAdviceReport {
        unused_days,
        recommendations,
        proposed,
        tables: out,
    }))
}
