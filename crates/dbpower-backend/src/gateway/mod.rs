//! `dbpower gateway`: the entry point of a split deployment. It runs the same middleware stack as
//! `dbpower serve` (request ids, security headers, request log, JSON errors, body limits) plus the rate
//! limits, checks credentials before forwarding (a bearer token must verify as an access token; a
//! signed agent request must carry all four signature headers; the backend verifies the signature
//! itself), and forwards `/analyzer/*` to the analyzer and everything else to the backend with the
//! request id and `X-Forwarded-For`. Hop-by-hop headers are dropped both ways. An upstream that does not
//! answer in time is a 504, one that cannot be reached a 502, both as JSON errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::http::jwt::TokenType;
use crate::http::{ApiError, ApiJson, request_id};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use dbpower_types::ErrorCode;
use futures_util::StreamExt;
use serde::Serialize;

use crate::context::Shared;

/// `dbpower gateway`: token checks, request limits and forwarding. It holds no ingest writer, password
/// hasher, cipher or analysis engine, and never migrates; its store handle only reads organizations'
/// own rate limits and the pool's gauges.
#[derive(Clone)]
pub(crate) struct GatewayState {
    pub shared: Shared,
    pub upstreams: Arc<Upstreams>,
    pub rate_limits: Option<Arc<crate::middleware::ratelimit::RateLimits>>,
}

impl axum::extract::FromRef<GatewayState> for Shared {
    fn from_ref(s: &GatewayState) -> Shared {
        s.shared.clone()
    }
}

#[derive(Clone)]
pub(crate) struct Upstreams {
    pub backend: String,
    pub analyzer: String,
    pub http: reqwest::Client,
    pub max_body: usize,
}

impl Upstreams {
    pub(crate) fn new(
        backend: &str,
        analyzer: &str,
        timeout: Duration,
        max_body: usize,
    ) -> anyhow::Result<Upstreams> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Upstreams {
            backend: backend.trim_end_matches('/').to_string(),
            analyzer: analyzer.trim_end_matches('/').to_string(),
            http,
            max_body,
        })
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

fn forwardable(name: &HeaderName) -> bool {
    !HOP_BY_HOP.contains(&name.as_str())
}

/// Refuses what the backend would refuse anyway, before it costs an upstream round trip.
fn check_credentials(state: &GatewayState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(token) = crate::http::jwt::bearer_of(headers) {
        state.shared.tokens.verify(token, TokenType::Access)?;
    }
    if headers.contains_key("x-api-key") {
        for h in ["x-request-id", "x-timestamp", "x-signature"] {
            if !headers.contains_key(h) {
                return Err(ApiError::unauthorized(
                    ErrorCode::InvalidSignature,
                    format!("signed requests need {h}"),
                ));
            }
        }
    }
    Ok(())
}

/// Forwards a request ([`forward`]). The rate-limit layer only peeked at a signed request's address
/// window: one refused before its signature verified (400, 401, 413, here or by the backend) counts in
/// it here, so junk is limited by address in a split deployment with or without Redis.
pub(crate) async fn proxy(State(state): State<GatewayState>, req: Request) -> Response {
    let signed =
        crate::middleware::ratelimit::is_signed(req.method(), req.uri().path(), req.headers());
    let ip = req
        .extensions()
        .get::<crate::http::ClientIp>()
        .and_then(|c| c.0);
    let resp = forward(&state, req).await;
    let unverified = matches!(resp.status().as_u16(), 400 | 401 | 413);
    if signed
        && unverified
        && let Some(rl) = &state.rate_limits
    {
        crate::middleware::ratelimit::count_address(rl, ip).await;
    }
    resp
}

/// Checks a request's credentials and forwards it upstream (or answers it: the panel, 401, 413, 502,
/// 504).
async fn forward(state: &GatewayState, req: Request) -> Response {
    // The admin panel is served by the gateway itself (split deployments need no other web server).
    if let Some(panel) = dbpower_web::respond(req.method(), req.uri().path(), req.headers()) {
        return panel;
    }
    let up = state.upstreams.as_ref();
    if let Err(e) = check_credentials(state, req.headers()) {
        return e.into_response();
    }
    let path_q = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), ToString::to_string);
    let base = if req.uri().path().starts_with("/analyzer/") {
        &up.analyzer
    } else {
        &up.backend
    };
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = req.into_parts();
    let limit = if parts.uri.path() == "/api/v1/slow-queries" {
        crate::routes::ingest::MAX_INGEST_BODY
    } else {
        up.max_body
    };
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        )
        .into_response()
    };
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    // The body is streamed, never buffered: the backend checks a signed request's key and timestamp
    // before it reads a byte of the body, so an unauthenticated 16 MiB upload costs neither service
    // more than a socket buffer.
    let (body, overflow) = limited_body(body, limit);
    let mut out = upstream_request(up, base, &path_q, &parts, peer);
    if parts.uri.path() == "/api/v1/stream" {
        // The live stream is long by design (the backend ends it after 15 minutes): the upstream time
        // limit, which covers the whole body, must not cut it.
        out = out.timeout(Duration::from_secs(17 * 60));
    }
    if let Some(len) = declared {
        out = out.header(axum::http::header::CONTENT_LENGTH, len);
    }
    match out.body(body).send().await {
        Ok(resp) => upstream_response(resp),
        Err(_) if overflow.load(Ordering::Relaxed) => too_large(),
        Err(e) if e.is_timeout() => ApiError::new(
            ErrorCode::GatewayTimeout,
            "the upstream service did not answer in time",
        )
        .into_response(),
        Err(e) => {
            tracing::warn!(upstream = %base, error = %e.without_url(), "upstream unreachable");
            ApiError::new(ErrorCode::BadGateway, "the upstream service is unreachable")
                .into_response()
        }
    }
}

/// The upstream request for `parts`: its method and path, the forwardable headers, the client's address
/// appended to `X-Forwarded-For`, and the request id (a signed request keeps its own: it is signed;
/// others get the gateway's).
fn upstream_request(
    up: &Upstreams,
    base: &str,
    path_q: &str,
    parts: &axum::http::request::Parts,
    peer: Option<std::net::IpAddr>,
) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .unwrap_or(reqwest::Method::GET);
    let mut out = up.http.request(method, format!("{base}{path_q}"));
    for (name, value) in &parts.headers {
        if forwardable(name)
            && name.as_str() != "x-forwarded-for"
            && name.as_str() != "x-request-id"
        {
            out = out.header(name.as_str(), value.as_bytes());
        }
    }
    let previous = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let forwarded = match (previous, peer) {
        (Some(prev), Some(ip)) => format!("{prev}, {ip}"),
        (None, Some(ip)) => ip.to_string(),
        (Some(prev), None) => prev.to_string(),
        (None, None) => String::new(),
    };
    if !forwarded.is_empty() {
        out = out.header("x-forwarded-for", forwarded);
    }
    let rid = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(request_id::current);
    out.header("x-request-id", rid)
}

/// The upstream's answer as the gateway's: status, forwardable headers, the body streamed.
fn upstream_response(resp: reqwest::Response) -> Response {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            axum::http::HeaderValue::from_bytes(value.as_bytes()),
        ) && forwardable(&n)
        {
            headers.append(n, v);
        }
    }
    (status, headers, Body::from_stream(resp.bytes_stream())).into_response()
}

/// A request body forwarded as it arrives, cut off (and the flag raised) past `limit` bytes.
fn limited_body(body: Body, limit: usize) -> (reqwest::Body, Arc<AtomicBool>) {
    let overflow = Arc::new(AtomicBool::new(false));
    let flag = overflow.clone();
    let mut seen = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("request body over the limit"));
        }
        Ok(chunk)
    });
    (reqwest::Body::wrap_stream(stream), overflow)
}

#[derive(Serialize)]
struct UpstreamHealth {
    /// Only for holders of `metrics_token` (or anyone in development without one): addresses of the
    /// internal network are not for the public.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    healthy: bool,
}

#[derive(Serialize)]
struct GatewayHealth {
    status: &'static str,
    service: &'static str,
    upstreams: Vec<(String, UpstreamHealth)>,
}

/// The gateway answers, and says whether each upstream's `/health` does.
pub(crate) async fn health(State(state): State<GatewayState>, headers: HeaderMap) -> Response {
    let up = state.upstreams.as_ref();
    let details = state.shared.metrics_access.check(&headers) == crate::metrics::Access::Granted;
    let mut upstreams = Vec::new();
    for (name, url) in [("backend", &up.backend), ("analyzer", &up.analyzer)] {
        let ok = up
            .http
            .get(format!("{url}/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        upstreams.push((
            name.to_string(),
            UpstreamHealth {
                url: details.then(|| url.clone()),
                healthy: ok,
            },
        ));
    }
    let status = if upstreams.iter().all(|(_, u)| u.healthy) {
        "ok"
    } else {
        "degraded"
    };
    ApiJson(GatewayHealth {
        status,
        service: "gateway",
        upstreams,
    })
    .into_response()
}
