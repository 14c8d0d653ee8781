//! Building and running the backend: `Application::build(settings)` prepares keys, store, bootstrap
//! and the listener; `run_until_stopped` serves until the shutdown future resolves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use dbpower_http::jwt::TokenKeys;
use dbpower_http::{ApiError, ApiJson, request_id};
use dbpower_store::Store;
use dbpower_types::ErrorCode;
use secrecy::ExposeSecret;
use serde::Serialize;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::ToSchema;

use crate::bootstrap::{self, LoginHint};
use crate::config::{Environment, Settings};
use crate::password::PasswordHasher;
use crate::secrets::{self, SecretCipher};
use crate::state::{AppState, Inner};
use crate::throttle::LoginThrottle;

/// Which role a process plays: the whole platform (`dbpower serve`) or only the analyzer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `dbpower serve`: everything in one process.
    Platform,
    /// `dbpower backend`: the API and analysis workers behind a gateway (which owns the rate limits).
    Backend,
    /// `dbpower analyzer`: analysis workers and `/analyzer/analyze`.
    Analyzer,
    /// `dbpower gateway`: credentials checked, rate limits, forwarding to backend and analyzer.
    Gateway,
}

pub struct Application {
    role: Role,
    listener: TcpListener,
    settings: Settings,
    router: Router,
    pub state: AppState,
    pub login_hint: LoginHint,
    pub demo_org: Option<i64>,
    /// Slow queries seeded into the demo organization at this start.
    pub demo_queries: Option<usize>,
}

/// Loads a secret from settings or, in development, from (or into) a file in the data directory.
fn dev_secret(
    settings: &Settings,
    configured: Option<&secrecy::SecretString>,
    file: &str,
    what: &str,
) -> anyhow::Result<String> {
    if let Some(s) = configured {
        return Ok(s.expose_secret().to_string());
    }
    if settings.env == Environment::Production {
        anyhow::bail!("{what} is required in production");
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    secrets::load_or_create(&settings.data_dir.join(file), || secrets::random_hex(32))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Self::build_role(settings, Role::Platform).await
    }

    /// `Role::Analyzer` listens on `analyzer_listen`, serves only `/analyzer/analyze`, `/health` and
    /// `/ready`, runs only analysis workers, and neither bootstraps accounts nor seeds the demo.
    pub async fn build_role(settings: Settings, role: Role) -> anyhow::Result<Application> {
        settings.check()?;
        let database_url = settings.database_url();
        if database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&settings.data_dir).with_context(|| {
                format!("creating data directory {}", settings.data_dir.display())
            })?;
        }
        let jwt_secret = dev_secret(
            &settings,
            settings.jwt_secret.as_ref(),
            "jwt-secret",
            "DBPOWER_JWT_SECRET",
        )?;
        let master_key = dev_secret(
            &settings,
            settings.master_key.as_ref(),
            "master.key",
            "DBPOWER_MASTER_KEY",
        )?;
        let cipher = SecretCipher::from_hex(&master_key).context("DBPOWER_MASTER_KEY")?;
        let store = dbpower_store::connect(&database_url).await?;
        store
            .migrate()
            .await
            .context("applying database migrations")?;
        let hasher = PasswordHasher::new(
            settings.password_hash_cost,
            settings.password_hash_concurrency,
        );
        let (login_hint, demo_org) = match role {
            Role::Platform | Role::Backend => (
                bootstrap::ensure_super_admin(store.as_ref(), &settings, &hasher).await?,
                bootstrap::ensure_demo(store.as_ref(), &settings).await?,
            ),
            Role::Analyzer | Role::Gateway => (
                LoginHint::Existing {
                    credentials_file: None,
                },
                None,
            ),
        };
        let writer = crate::writer::IngestWriter::start(
            store.clone(),
            if store.backend() == "postgres" { 2 } else { 1 },
        );
        let llm = match settings.llm.client_config()? {
            Some(cfg) => Some(Arc::new(
                dbpower_llm::LlmClient::new(cfg)
                    .map_err(|e| anyhow::anyhow!("LLM provider: {e}"))?,
            )),
            None => None,
        };
        let redis = settings
            .redis_url
            .as_ref()
            .map(|u| u.expose_secret().to_string());
        // One limiter (Redis when configured) for the request limits and the login throttle.
        let limiter =
            crate::ratelimit::connect_limiter(&settings.rate_limit, redis.as_deref()).await;
        let rate_limits = (settings.rate_limit.enabled && role != Role::Backend)
            .then(|| crate::ratelimit::RateLimits::new(&settings.rate_limit, limiter.clone()));
        // Signatures are verified where ingestion runs: there the key's windows are counted.
        let key_limits = (settings.rate_limit.enabled
            && matches!(role, Role::Platform | Role::Backend))
        .then(|| crate::ratelimit::RateLimits::new(&settings.rate_limit, limiter.clone()));
        let trusted_proxies = match (&settings.trusted_proxies, role) {
            (Some(list), _) => dbpower_http::TrustedProxies::parse(list)
                .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?,
            (None, Role::Backend | Role::Analyzer) => dbpower_http::TrustedProxies::loopback(),
            (None, Role::Platform | Role::Gateway) => dbpower_http::TrustedProxies::none(),
        };
        let state = AppState(Arc::new(Inner {
            store,
            tokens: TokenKeys::new(jwt_secret.as_bytes()),
            hasher,
            throttle: LoginThrottle::new(settings.login.clone(), limiter),
            cipher,
            analysis_wakeup: tokio::sync::Notify::new(),
            writer,
            llm,
            rate_limits,
            key_limits,
            upstreams: match role {
                Role::Gateway => Some(crate::gateway::Upstreams::new(
                    &settings.gateway.backend_url,
                    &settings.gateway.analyzer_url,
                    std::time::Duration::from_secs(settings.gateway.timeout_secs.max(1)),
                    settings.max_body_bytes,
                )?),
                _ => None,
            },
            service: match role {
                Role::Platform => "platform",
                Role::Backend => "backend",
                Role::Analyzer => "analyzer",
                Role::Gateway => "gateway",
            },
            metrics: crate::metrics::Metrics::default(),
            lease: std::time::Duration::from_secs(settings.analysis_lease_secs.max(1)),
            cors_origins: settings
                .cors_origins
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect(),
            trusted_proxies: Arc::new(trusted_proxies),
            metrics_access: crate::metrics::MetricsAccess::new(
                settings
                    .metrics_token
                    .as_ref()
                    .map(|t| t.expose_secret().to_string()),
                settings.env == crate::config::Environment::Production,
            ),
        }));
        let demo_queries = match demo_org {
            Some(org) => Some(crate::demo::seed(&state, org).await?),
            None => None,
        };
        let listen = match role {
            Role::Platform | Role::Gateway => &settings.listen,
            Role::Backend => &settings.backend_listen,
            Role::Analyzer => &settings.analyzer_listen,
        };
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let router = match role {
            Role::Platform | Role::Backend => router(state.clone(), settings.max_body_bytes),
            Role::Analyzer => analyzer_router(state.clone(), settings.max_body_bytes),
            Role::Gateway => gateway_router(state.clone(), settings.max_body_bytes),
        };
        Ok(Application {
            role,
            listener,
            settings,
            router,
            state,
            login_hint,
            demo_org,
            demo_queries,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut background = Vec::new();
        let workers = match self.role {
            Role::Gateway => 0,
            _ => self.settings.analysis_workers,
        };
        for _ in 0..workers {
            background.push(tokio::spawn(crate::worker::run_analysis_worker(
                self.state.clone(),
            )));
        }
        if matches!(self.role, Role::Platform | Role::Backend) {
            let every =
                std::time::Duration::from_secs(self.settings.retention_interval_secs.max(1));
            background.push(tokio::spawn(crate::worker::run_retention(
                self.state.clone(),
                every,
            )));
        }
        let _stop_background = AbortOnDrop(background);
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        Ok(())
    }
}

/// The complete HTTP surface with its middleware stack.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let state_for_mw = state.clone();
    let (api, openapi) = crate::openapi::api_router()
        .with_state(state.clone())
        .split_for_parts();
    let routes = Router::new()
        .merge(api)
        .route("/health", axum::routing::get(health))
        .route(
            "/ready",
            axum::routing::get(ready).with_state(state.clone()),
        )
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/api/openapi.json", openapi))
        .layer(middleware::from_fn_with_state(
            state,
            crate::ratelimit::layer,
        ))
        .fallback(panel_or_not_found);
    with_middleware(routes, &state_for_mw, max_body_bytes)
}

/// The analyzer service's HTTP surface (`dbpower analyzer`), with the same middleware stack.
pub fn analyzer_router(state: AppState, max_body_bytes: usize) -> Router {
    let state_for_mw = state.clone();
    let routes = Router::new()
        .route(
            "/analyzer/analyze",
            axum::routing::post(crate::routes::analyzer::analyze_request),
        )
        .route("/health", axum::routing::get(health))
        .route("/ready", axum::routing::get(ready))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::layer,
        ))
        .fallback(not_found)
        .with_state(state);
    with_middleware(routes, &state_for_mw, max_body_bytes)
}

/// The gateway's HTTP surface: its own health (with the upstreams'), everything else forwarded.
pub fn gateway_router(state: AppState, max_body_bytes: usize) -> Router {
    let state_for_mw = state.clone();
    let routes = Router::new()
        .route("/health", axum::routing::get(crate::gateway::health))
        .fallback(crate::gateway::proxy)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::layer,
        ))
        .with_state(state);
    with_middleware(routes, &state_for_mw, max_body_bytes)
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// The admin panel for its paths (GET and HEAD outside the service prefixes), a JSON 404 otherwise.
async fn panel_or_not_found(
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    dbpower_web::respond(&method, uri.path(), &headers).unwrap_or_else(not_found_response)
}

fn not_found_response() -> Response {
    ApiError::new(ErrorCode::NotFound, "no such route").into_response()
}

fn with_middleware(routes: Router, state: &AppState, max_body_bytes: usize) -> Router {
    let cors = (!state.cors_origins.is_empty()).then(|| {
        let origins: Vec<HeaderValue> = state
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
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
            .max_age(std::time::Duration::from_secs(600))
    });
    routes
        .route(
            "/metrics",
            axum::routing::get(crate::metrics::endpoint).with_state(state.clone()),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::refusals::layer,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::layer,
        ))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(middleware::from_fn(dbpower_http::json::json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), log_requests))
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
            state.trusted_proxies.clone(),
            dbpower_http::client_ip::layer,
        ))
        .layer(tower::util::option_layer(cors))
}

/// Aborts background tasks when the server stops.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// One log line per request: service, request id, user and organization (from a valid bearer token),
/// method, path (never the query string or body), status, duration.
async fn log_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let who = dbpower_http::jwt::bearer_of(req.headers()).and_then(|t| {
        state
            .tokens
            .verify(t, dbpower_http::jwt::TokenType::Access)
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
    let service = state.service;
    if status >= 500 {
        tracing::error!(service, %request_id, user_id, org_id, %method, %path, status, duration_ms, "request");
    } else {
        tracing::info!(service, %request_id, user_id, org_id, %method, %path, status, duration_ms, "request");
    }
    resp
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub service: &'static str,
    pub version: &'static str,
}

/// Liveness: the process answers.
async fn health() -> ApiJson<Health> {
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
}

/// Readiness: the database answers.
async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => ApiJson(Ready {
            status: "ready",
            database: state.store.backend(),
            rate_limiter: state.rate_limits.as_ref().map_or("off", |r| r.backend()),
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

/// The store, for callers that need it outside HTTP (`dbpower audit verify`).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let store = dbpower_store::connect(&settings.database_url()).await?;
    store.migrate().await?;
    Ok(store)
}
