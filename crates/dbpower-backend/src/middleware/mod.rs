//! The middleware every role's router runs, outermost first: CORS, the client address
//! (`trusted_proxies`), the request id, security headers, the request log, JSON errors, panics as 500s,
//! body limits, metrics, and (in the roles that hold accounts) the audit of refused writes. Each layer
//! takes the smallest state it needs; rate limits ([`ratelimit`]) are added by the routers that have them.

pub(crate) mod ratelimit;
pub(crate) mod refusals;

use std::time::Instant;

use crate::http::{ApiError, request_id};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::context::{Accounts, Shared};

/// `routes` with the common middleware stack. `accounts` (the API and analyzer roles) turns on the
/// audit of refused writes.
pub(crate) fn with_middleware(
    routes: Router,
    shared: &Shared,
    accounts: Option<Accounts>,
    max_body_bytes: usize,
) -> Router {
    let refusals = accounts.map(|a| middleware::from_fn_with_state(a, refusals::layer));
    routes
        .layer(tower::util::option_layer(refusals))
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(middleware::from_fn(crate::http::json::json_errors))
        .layer(middleware::from_fn_with_state(shared.clone(), log_requests))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(middleware::from_fn(request_id::layer))
        .layer(middleware::from_fn_with_state(
            shared.trusted_proxies.clone(),
            crate::http::client_ip::layer,
        ))
        .layer(tower::util::option_layer(cors(&shared.cors_origins)))
}

/// CORS for the configured origins; none (same origin only) when the list is empty.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::PATCH,
                axum::http::Method::PUT,
                axum::http::Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                axum::http::HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                axum::http::HeaderName::from_static("x-request-id"),
                axum::http::HeaderName::from_static("x-ratelimit-limit"),
                axum::http::HeaderName::from_static("x-ratelimit-remaining"),
                axum::http::HeaderName::from_static("x-ratelimit-reset"),
                header::RETRY_AFTER,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// One log line per request: service, request id, user and organization (from a valid bearer token),
/// method, path (never the query string or body), status, duration.
async fn log_requests(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let who = crate::http::jwt::bearer_of(req.headers()).and_then(|t| {
        shared
            .tokens
            .verify(t, crate::http::jwt::TokenType::Access)
            .ok()
    });
    let (user_id, org_id) = (
        who.as_ref().map(|c| c.uid),
        who.as_ref().and_then(|c| c.org),
    );
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let request_id = request_id::current();
    let service = shared.service;
    if status >= 500 {
        tracing::error!(service, %request_id, user_id, org_id, %method, %path, status, duration_ms, "request");
    } else {
        tracing::info!(service, %request_id, user_id, org_id, %method, %path, status, duration_ms, "request");
    }
    resp
}

/// Middleware: counts and times every request.
pub(crate) async fn count_requests(
    State(state): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let matched = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let route = crate::metrics::route_label(matched.as_deref(), &path, status);
    let service = state.service;
    let code = status.to_string();
    state.metrics.inc(
        crate::metrics::Metric::HttpRequests,
        &[
            ("service", service),
            ("method", &method),
            ("route", &route),
            ("status", &code),
        ],
        1.0,
    );
    state.metrics.observe(
        crate::metrics::Metric::HttpRequestDuration,
        &[("service", service), ("route", &route)],
        started.elapsed().as_secs_f64(),
    );
    resp
}
