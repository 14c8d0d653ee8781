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
//! its windows; unsigned junk counts against the sender's address.

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

/// The windows of an api key whose signature has just verified (per minute and per hour; the
/// organization's own limits when it has them). `Err` is the 429 (or 503 when the limiter is down and
/// the policy is `deny`) to answer with.
pub(crate) async fn check_key(rl: &RateLimits, key_id: &str, org: i64) -> Result<(), ApiError> {
    let (per_minute, per_hour) = org_limits(rl, org).await;
    let d = rl
        .limiter
        .check(&[
            Limit {
                key: format!("key:{key_id}:m"),
                max: per_minute,
                window: Duration::from_secs(60),
            },
            Limit {
                key: format!("key:{key_id}:h"),
                max: per_hour,
                window: Duration::from_secs(3600),
            },
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
    Err(if d.refused_by == Some(Refusal::Unavailable) {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the rate limiter is unavailable; try again shortly",
        )
    } else {
        ApiError::new(
            ErrorCode::RateLimited,
            format!("too many requests for this api key; retry after {wait} s"),
        )
    }
    .with_retry_after(wait))
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
        limits.push(Limit {
            key: format!("{subject}:m"),
            max: per_minute,
            window: Duration::from_secs(60),
        });
        limits.push(Limit {
            key: format!("{subject}:h"),
            max: per_hour,
            window: Duration::from_secs(3600),
        });
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
        limits.push(Limit {
            key: format!("ip:{ip}:m"),
            max: rl.settings.ip_per_minute,
            window: Duration::from_secs(60),
        });
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
    let d = rl.limiter.check(&limits).await;
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
