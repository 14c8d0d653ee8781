//! `POST /analyzer/analyze`: the analyzer's own API. With `{slow_query_id}` it queues the analysis of
//! the query's class (the analysis workers store the result); with `{sql, database_type, explain?,
//! schema?}` it analyzes the statement at once and returns the report without storing anything.
//! Served by `dbpower serve` and by `dbpower analyzer`.

use crate::http::{ApiError, ApiJson, ApiResult};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use dbpower_analysis::{Input, analyze};
use dbpower_types::{AnalysisReport, DatabaseType, ErrorBody, SchemaSnapshot};
use serde::Deserialize;
use utoipa::ToSchema;

use super::queries::{AnalyzeQueued, queue_analysis};
use crate::context::Analysis;
use crate::routes::auth::Auth;

/// The longest statement `POST /analyzer/analyze` accepts.
pub(crate) const MAX_SQL_BYTES: usize = 1024 * 1024;

/// Either a stored slow query (`slow_query_id`) or a statement (`sql` and `database_type`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnalyzeRequest {
    /// Queue the analysis of this stored slow query's class (202).
    #[serde(default)]
    pub slow_query_id: Option<i64>,
    /// Analyze this statement now (200 with the report); at most 1 MiB.
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub database_type: Option<DatabaseType>,
    /// `EXPLAIN FORMAT=JSON` (MySQL) or `EXPLAIN (FORMAT JSON)` (PostgreSQL) output.
    #[serde(default)]
    pub explain: Option<serde_json::Value>,
    #[serde(default)]
    pub schema: Option<SchemaSnapshot>,
}

#[utoipa::path(post, path = "/analyzer/analyze", tag = "analyzer", request_body = AnalyzeRequest,
    responses((status = 200, body = AnalysisReport, description = "the report for `sql`"),
        (status = 202, body = AnalyzeQueued, description = "the stored query's analysis is queued"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn analyze_request(
    State(s): State<Analysis>,
    Auth(p): Auth,
    ctx: crate::context::Ctx,
    ApiJson(req): ApiJson<AnalyzeRequest>,
) -> ApiResult<Response> {
    match (req.slow_query_id, req.sql) {
        (Some(id), None) => {
            if req.database_type.is_some() || req.explain.is_some() || req.schema.is_some() {
                return Err(ApiError::validation(
                    "slow_query_id",
                    "takes no database_type, explain or schema: the stored ones are used",
                ));
            }
            let queued = queue_analysis(&s, &p, &ctx, id).await?;
            Ok((StatusCode::ACCEPTED, ApiJson(queued)).into_response())
        }
        (None, Some(sql)) => {
            let Some(db) = req.database_type else {
                return Err(ApiError::validation(
                    "database_type",
                    "is required with sql (mysql or postgresql)",
                ));
            };
            if sql.trim().is_empty() {
                return Err(ApiError::validation("sql", "must not be empty"));
            }
            if sql.len() > MAX_SQL_BYTES {
                return Err(ApiError::validation("sql", "must be at most 1 MiB"));
            }
            if req
                .explain
                .as_ref()
                .is_some_and(|e| !(e.is_object() || e.is_array()))
            {
                return Err(ApiError::validation(
                    "explain",
                    "must be a JSON object or array (EXPLAIN FORMAT=JSON output)",
                ));
            }
            let dialect = dbpower_analysis::dialect_of(db);
            // Parsing is CPU work: keep it off the async workers.
            let report = tokio::task::spawn_blocking(move || {
                analyze(&Input {
                    explain: req.explain.as_ref(),
                    schema: req.schema.as_ref(),
                    ..Input::new(&sql, dialect)
                })
            })
            .await
            .map_err(|_| ApiError::internal())?;
            Ok(ApiJson(report).into_response())
        }
        (Some(_), Some(_)) => Err(ApiError::validation(
            "slow_query_id",
            "give either slow_query_id or sql, not both",
        )),
        (None, None) => Err(ApiError::validation(
            "sql",
            "give either slow_query_id or sql",
        )),
    }
}
