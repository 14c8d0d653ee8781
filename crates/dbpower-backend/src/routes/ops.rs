//! What every role answers besides its API: liveness (`/health`), readiness (`/ready`), `/metrics`,
//! and the JSON 404 (or the admin panel's pages) for everything else.

use std::sync::Arc;

use crate::http::{ApiError, ApiJson};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use dbpower_store::Store;
use dbpower_types::ErrorCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::context::Shared;
use crate::middleware::ratelimit::RateLimits;

/// What `/metrics` and `/ready` read: the role's store and limiter.
#[derive(Clone)]
pub(crate) struct MetricsState {
    pub shared: Shared,
    pub store: Arc<dyn Store>,
    /// Whether this role reports the analysis queue's depth (not the gateway).
    pub queue: bool,
    pub rate_limits: Option<Arc<RateLimits>>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
}

/// Liveness: the process answers.
pub(crate) async fn health() -> ApiJson<Health> {
    ApiJson(Health {
        status: "ok",
        service: "dbpower",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
    database: &'static str,
    /// `redis`, `memory`, `memory (redis unavailable)` or `off`.
    rate_limiter: &'static str,
    /// The read replica, when one is configured: its lag and whether reads use it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    replica: Option<dbpower_store::ReplicaStatus>,
}

/// Readiness: the database answers.
pub(crate) async fn ready(State(state): State<MetricsState>) -> Response {
    match state.store.ping().await {
        Ok(()) => ApiJson(Ready {
            status: "ready",
            database: state.store.backend(),
            rate_limiter: state.rate_limits.as_ref().map_or("off", |r| r.backend()),
            replica: state.store.replica(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the database is not reachable",
            )
            .into_response()
        }
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// The admin panel for its paths (GET and HEAD outside the service prefixes), a JSON 404 otherwise.
pub(crate) async fn panel_or_not_found(
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    dbpower_web::respond(&method, uri.path(), &headers)
        .unwrap_or_else(|| ApiError::new(ErrorCode::NotFound, "no such route").into_response())
}

/// `GET /metrics`.
pub(crate) async fn metrics(
    State(state): State<MetricsState>,
    headers: axum::http::HeaderMap,
) -> Response {
    match state.shared.metrics_access.check(&headers) {
        crate::metrics::Access::Granted => {}
        crate::metrics::Access::Unauthorized => {
            return crate::http::ApiError::unauthorized(
                dbpower_types::ErrorCode::Unauthorized,
                "/metrics needs Authorization: Bearer <metrics_token>",
            )
            .into_response();
        }
        crate::metrics::Access::Disabled => {
            return crate::http::ApiError::new(
                dbpower_types::ErrorCode::NotFound,
                "/metrics is off in production until metrics_token is set",
            )
            .into_response();
        }
    }
    let depth = if state.queue {
        state.store.queue_depth().await.ok()
    } else {
        None
    };
    let mut gauges: Vec<(crate::metrics::Metric, f64)> = depth
        .map(|d| (crate::metrics::Metric::AnalysisQueueDepth, d as f64))
        .into_iter()
        .collect();
    let (open, idle) = state.store.pool_stats();
    gauges.push((crate::metrics::Metric::DbPoolOpen, f64::from(open)));
    gauges.push((crate::metrics::Metric::DbPoolIdle, idle as f64));
    if let Some(r) = state.store.replica() {
        let lag = r.lag_ms.map_or(-1.0, |ms| ms as f64 / 1000.0);
        gauges.push((crate::metrics::Metric::DbReplicaLag, lag));
        gauges.push((
            crate::metrics::Metric::DbReplicaInUse,
            if r.in_use { 1.0 } else { 0.0 },
        ));
    }
    if let Some(rl) = &state.rate_limits {
        gauges.push((
            crate::metrics::Metric::RateLimiterDegraded,
            if rl.limiter.degraded() { 1.0 } else { 0.0 },
        ));
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.shared.metrics.render(&gauges),
    )
        .into_response()
}
