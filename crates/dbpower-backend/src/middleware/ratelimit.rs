//! The rate-limit middleware for `/api/v1` and `/analyzer`: who is asking (a member of an
//! organization: its windows and a half-size window of its own; an ORG_ADMIN: its own windows at the
//! organization's limits; a user without organization: its own) and from where (the client IP, see `trusted_proxies`),
//! checked against exact sliding windows (`dbpower-ratelimit`, Redis-backed when `redis_url` is set).
//! Every answer carries `X-RateLimit-Limit`, `-Remaining` and `-Reset` for its most restrictive window;
//! a refusal is 429 with `Retry-After` and the JSON error body. Organizations may have their own
//! per-minute and per-hour limits (settings), read through a 30-second cache.
//!
//! Signed agent requests are counted against their api key only once the signature has verified
//! ([`check_key`], called by the ingestion handlers): whoever merely names a key's public id cannot use up
//! its windows; unsigned junk counts against the sender's address. An api key has request windows and a
//! budget of slow queries per minute, sized for ingestion (`rate_limit.agent_*`) and scaled by its
//! organization's own limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::http::ApiError;
use crate::http::jwt::TokenType;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dbpower_core::{OrgId, Scope};
use dbpower_ratelimit::{Decision, Limit, Limiter, MemoryLimiter, RedisLimiter, Refusal};
use dbpower_types::ErrorCode;

use crate::config::RateLimitSettings;
use dbpower_store::Store;

use crate::context::Shared;

const OVERRIDE_TTL: Duration = Duration::from_secs(30);

/// An organization's own limits (per minute, per hour) and when they were read.
type Override = (Instant, Option<u32>, Option<u32>);

/// The request windows of one role, and what deciding them needs: the limiter, the token keys (who is
/// asking), the store (organizations' own limits, read only) and the metrics. The middleware's state.
pub(crate) struct RateLimits {
    pub limiter: Arc<dyn Limiter>,
    settings: RateLimitSettings,
    overrides: Mutex<HashMap<i64, Override>>,
    orgs: Arc<dyn Store>,
    shared: Shared,
}

/// The limiter for these settings: Redis when `redis_url` is set and answers, else in process. Shared by
/// the request limits and the login throttle.
pub(crate) async fn connect_limiter(
    settings: &RateLimitSettings,
    redis_url: Option<&str>,
) -> Arc<dyn Limiter> {
    let policy = settings.on_redis_failure;
    match redis_url {
        Some(url) => {
            match RedisLimiter::connect(
                url,
                &settings.redis_prefix,
                Duration::from_millis(settings.redis_timeout_ms.clamp(10, 60_000)),
                policy,
            )
            .await
            {
                Ok(r) => Arc::new(r),
                Err(e) => {
                    tracing::error!(error = %e, "Redis is unavailable at start: rate limits and login throttling are per process");
                    Arc::new(MemoryLimiter::new())
                }
            }
        }
        None => Arc::new(MemoryLimiter::new()),
    }
}

impl RateLimits {
    /// The limits for these settings, on `limiter` (see [`connect_limiter`]).
    pub(crate) fn new(
        settings: &RateLimitSettings,
        limiter: Arc<dyn Limiter>,
        orgs: Arc<dyn Store>,
        shared: Shared,
    ) -> RateLimits {
        RateLimits {
            limiter,
            settings: settings.clone(),
            overrides: Mutex::new(HashMap::new()),
            orgs,
            shared,
        }
    }

    pub(crate) fn backend(&self) -> &'static str {
        self.limiter.backend()
    }

    /// The deployment's per-organization limits (per minute, per hour).
    pub(crate) fn org_defaults(&self) -> (u32, u32) {
        (self.settings.org_per_minute, self.settings.org_per_hour)
    }
}

/// The requester's identity for the organization windows.
enum Who {
    /// A member of an organization (USER, TEAM_LEAD): the organization's windows, and a window of its
    /// own holding at most half of them, so one member cannot use up what the others share.
    Member {
        org: i64,
        uid: i64,
    },
    /// An ORG_ADMIN: windows of its own, at the organization's limits, that no member's traffic touches.
    Admin {
        org: i64,
        uid: i64,
    },
    /// A user of no organization (SUPER_ADMIN).
    User(i64),
    Anonymous,
}

fn who(rl: &RateLimits, headers: &HeaderMap) -> Who {
    if let Some(token) = crate::http::jwt::bearer_of(headers)
        && let Ok(c) = rl.shared.tokens.verify(token, TokenType::Access)
    {
        return match (c.org, c.role) {
            (Some(org), dbpower_types::Role::OrgAdmin) => Who::Admin { org, uid: c.uid },
            (Some(org), _) => Who::Member { org, uid: c.uid },
            (None, _) => Who::User(c.uid),
        };
    }
    Who::Anonymous
}

async fn org_limits(rl: &RateLimits, org: i64) -> (u32, u32) {
    let (dm, dh) = (rl.settings.org_per_minute, rl.settings.org_per_hour);
    if let Some((at, m, h)) = rl
        .overrides
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&org)
        .copied()
        && at.elapsed() < OVERRIDE_TTL
    {
        return (m.unwrap_or(dm), h.unwrap_or(dh));
    }
    let (m, h) = match rl
        .orgs
        .organization_by_id(&Scope::org(OrgId::from_credential(org)), org)
        .await
    {
        Ok(o) => (
            o.settings.rate_limit_per_minute,
            o.settings.rate_limit_per_hour,
        ),
        Err(_) => (None, None),
    };
    rl.overrides
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(org, (Instant::now(), m, h));
    (m.unwrap_or(dm), h.unwrap_or(dh))
}

/// An agent's windows, from the deployment's agent limits scaled by its organization's own limits
/// relative to the organization defaults: an organization allowed twice the default requests per minute
/// gives its agents twice the requests and twice the queries per minute (at least one of each).
fn agent_limits(rl: &RateLimits, org: &dbpower_types::OrgSettings) -> (u32, u32, u32) {
    let s = &rl.settings;
    let scale = |agent: u32, own: Option<u32>, default: u32| -> u32 {
        match own {
            None => agent,
            Some(own) => {
                let v = (u64::from(agent) * u64::from(own)).div_ceil(u64::from(default.max(1)));
                u32::try_from(v).unwrap_or(u32::MAX).max(1)
            }
        }
    };
    (
        scale(
            s.agent_per_minute,
            org.rate_limit_per_minute,
            s.org_per_minute,
        ),
        scale(s.agent_per_hour, org.rate_limit_per_hour, s.org_per_hour),
        scale(
            s.agent_queries_per_minute,
            org.rate_limit_per_minute,
            s.org_per_minute,
        ),
    )
}

/// The windows of an api key whose signature has just verified: its requests per minute and per hour
/// and, for `queries` slow queries (0 for a heartbeat), its queries per minute ([`agent_limits`], from
/// the organization settings read with the key). `Err` is the 429 (or 503 when the limiter is down and
/// the policy is `deny`) to answer with.
pub(crate) async fn check_key(
    rl: &RateLimits,
    key_id: &str,
    org: &dbpower_types::OrgSettings,
    queries: u32,
) -> Result<(), ApiError> {
    let (per_minute, per_hour, queries_per_minute) = agent_limits(rl, org);
    let minute = Duration::from_secs(60);
    let d = rl
        .limiter
        .check(&[
            Limit::requests(format!("key:{key_id}:m"), per_minute, minute),
            Limit::requests(
                format!("key:{key_id}:h"),
                per_hour,
                Duration::from_secs(3600),
            ),
            Limit::budget(
                format!("key:{key_id}:q"),
                queries_per_minute,
                minute,
                queries,
            ),
        ])
        .await;
    let decision = if d.allowed { "allowed" } else { "refused" };
    rl.shared.metrics.inc(
        crate::metrics::Metric::RateLimitDecisions,
        &[("decision", decision)],
        1.0,
    );
    if d.allowed {
        return Ok(());
    }
    let wait = d.retry_after_secs.unwrap_or(1).max(1);
    let which = match &d.refused_by {
        Some(Refusal::Window(k)) if k.ends_with(":q") => {
            format!("slow queries per minute ({queries_per_minute})")
        }
        Some(Refusal::Window(k)) if k.ends_with(":h") => format!("requests per hour ({per_hour})"),
        _ => format!("requests per minute ({per_minute})"),
    };
    Err(if d.refused_by == Some(Refusal::Unavailable) {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the rate limiter is unavailable; try again shortly",
        )
    } else {
        ApiError::new(
            ErrorCode::RateLimited,
            format!("too many {which} for this api key; retry after {wait} s"),
        )
    }
    .with_retry_after(wait))
}

/// The client address's window (requests per minute).
fn address_window(rl: &RateLimits, ip: std::net::IpAddr) -> Limit {
    Limit::requests(
        format!("ip:{ip}:m"),
        rl.settings.ip_per_minute,
        Duration::from_secs(60),
    )
}

/// Whether a request is a signed agent request (`POST` of a batch, a heartbeat, or a validation claim
/// or result, with `X-API-Key` and no bearer token): its address's window is only peeked by [`layer`]; [`count_address`] records it
/// there when it fails before its signature verifies, and [`check_key`] against its key when it does.
/// So a busy agent is limited by its key's windows, not by its address's, and junk still counts.
pub(crate) fn is_signed(method: &axum::http::Method, path: &str, headers: &HeaderMap) -> bool {
    method == axum::http::Method::POST
        && matches!(
            path,
            "/api/v1/slow-queries"
                | "/api/v1/agents/heartbeat"
                | "/api/v1/agents/validations/claim"
                | "/api/v1/agents/validations"
        )
        && headers.contains_key("x-api-key")
        && crate::http::jwt::bearer_of(headers).is_none()
}

/// Records a signed request that failed before its signature verified against its client address.
pub(crate) async fn count_address(rl: &RateLimits, ip: Option<std::net::IpAddr>) {
    if let Some(ip) = ip {
        rl.limiter.check(&[address_window(rl, ip)]).await;
    }
}

fn set_headers(headers: &mut HeaderMap, d: &Decision) {
    for (name, v) in [
        ("x-ratelimit-limit", d.limit as u64),
        ("x-ratelimit-remaining", d.remaining as u64),
        ("x-ratelimit-reset", d.reset_secs),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v.to_string()) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
}

/// The windows one request counts against: its organization's and its own (by who is asking), and its
/// client address's.
async fn request_windows(rl: &RateLimits, who: Who, ip: Option<std::net::IpAddr>) -> Vec<Limit> {
    let mut limits = Vec::with_capacity(5);
    let windows = |limits: &mut Vec<Limit>, subject: String, per_minute: u32, per_hour: u32| {
        limits.push(Limit::requests(
            format!("{subject}:m"),
            per_minute,
            Duration::from_secs(60),
        ));
        limits.push(Limit::requests(
            format!("{subject}:h"),
            per_hour,
            Duration::from_secs(3600),
        ));
    };
    match who {
        Who::Member { org, uid } => {
            let (m, h) = org_limits(rl, org).await;
            windows(&mut limits, format!("org:{org}"), m, h);
            windows(
                &mut limits,
                format!("user:{uid}"),
                m.div_ceil(2),
                h.div_ceil(2),
            );
        }
        Who::Admin { org, uid } => {
            let (m, h) = org_limits(rl, org).await;
            windows(&mut limits, format!("user:{uid}"), m, h);
        }
        Who::User(uid) => windows(
            &mut limits,
            format!("user:{uid}"),
            rl.settings.org_per_minute,
            rl.settings.org_per_hour,
        ),
        Who::Anonymous => {}
    }
    if let Some(ip) = ip {
        limits.push(address_window(rl, ip));
    }
    limits
}

/// The answer to a refused request: 503 when the limiter could not decide, else 429 naming the window.
fn refusal(d: &Decision) -> Response {
    let refused = match &d.refused_by {
        Some(Refusal::Unavailable) => {
            return ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the rate limiter is unavailable; try again shortly",
            )
            .into_response();
        }
        Some(Refusal::Window(key)) => key.as_str(),
        None => "",
    };
    let who = if refused.contains("user:") {
        "you"
    } else {
        "this organization"
    };
    let which = if refused.starts_with("ip:") {
        "this client address".to_string()
    } else if refused.ends_with(":h") {
        format!("{who} (per hour)")
    } else {
        format!("{who} (per minute)")
    };
    ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "too many requests for {which}; retry after {} s",
            d.retry_after_secs.unwrap_or(1)
        ),
    )
    .into_response()
}

pub(crate) async fn layer(State(rl): State<Arc<RateLimits>>, req: Request, next: Next) -> Response {
    let rl = rl.as_ref();
    let path = req.uri().path();
    if !(path.starts_with("/api/v1/") || path.starts_with("/analyzer/")) {
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<crate::http::ClientIp>()
        .and_then(|c| c.0)
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        });
    let limits = request_windows(rl, who(rl, req.headers()), ip).await;
    let d = if is_signed(req.method(), path, req.headers()) {
        rl.limiter.peek(&limits).await
    } else {
        rl.limiter.check(&limits).await
    };
    let decision = if d.allowed { "allowed" } else { "refused" };
    rl.shared.metrics.inc(
        crate::metrics::Metric::RateLimitDecisions,
        &[("decision", decision)],
        1.0,
    );
    if !d.allowed {
        let mut resp = refusal(&d);
        set_headers(resp.headers_mut(), &d);
        if let Ok(v) = HeaderValue::from_str(&d.retry_after_secs.unwrap_or(1).to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let mut resp = next.run(req).await;
    set_headers(resp.headers_mut(), &d);
    resp
}
