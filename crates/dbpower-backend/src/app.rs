//! Building and running one role: `Application::build_role(settings, role)` builds that role's state
//! (see [`crate::state`]), its router and its listener; `run_until_stopped` serves, with the role's
//! background work, until the shutdown future resolves. Each role is built by its own function and gets
//! only what it uses: the gateway opens no writer, hasher or analysis engine and never migrates.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::http::jwt::TokenKeys;
use anyhow::Context;
use axum::Router;
use axum::middleware;
use dbpower_ratelimit::Limiter;
use dbpower_store::Store;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::bootstrap::{self, LoginHint};
use crate::config::{Environment, Settings};
use crate::context::{Accounts, Analysis, AnalysisInner, Shared, SharedInner};
use crate::gateway::GatewayState;
use crate::middleware::ratelimit::{self, RateLimits};
use crate::middleware::with_middleware;
use crate::password::PasswordHasher;
use crate::routes::ops::{self, MetricsState};
use crate::secrets::{self, SecretCipher};
use crate::state::{AnalyzerState, AppState, Inner};
use crate::throttle::LoginThrottle;

pub(crate) use crate::config::Role;

/// The state of the role this process plays.
enum RoleState {
    Api(AppState),
    Analyzer(AnalyzerState),
    Gateway,
}

pub struct Application {
    state: RoleState,
    listener: TcpListener,
    settings: Settings,
    router: Router,
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

    /// Builds `role`: `Platform` and `Backend` serve the API, `Analyzer` only `/analyzer/analyze`,
    /// `/health`, `/ready` and `/metrics` (and neither bootstraps accounts nor seeds the demo),
    /// `Gateway` forwards.
    pub async fn build_role(settings: Settings, role: Role) -> anyhow::Result<Application> {
        settings.check()?;
        let jwt_secret = dev_secret(
            &settings,
            settings.jwt_secret.as_ref(),
            "jwt-secret",
            "DBPOWER_JWT_SECRET",
        )?;
        let shared = shared(&settings, role, &jwt_secret)?;
        let listen = settings.listen_of(role);
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let mut app = Application {
            state: RoleState::Gateway,
            listener,
            router: Router::new(),
            login_hint: LoginHint::Existing {
                credentials_file: None,
            },
            demo_org: None,
            demo_queries: None,
            settings,
        };
        match role {
            Role::Platform | Role::Backend => app.build_api(role, shared).await?,
            Role::Analyzer => app.build_analyzer(shared).await?,
            Role::Gateway => app.build_gateway(shared).await?,
        }
        Ok(app)
    }

    /// `dbpower serve` and `dbpower backend`: accounts (bootstrapped), ingestion, the analysis engine,
    /// the demo organization when asked for. Behind a gateway the backend counts only api keys' windows
    /// (the gateway owns the request limits).
    async fn build_api(&mut self, role: Role, shared: Shared) -> anyhow::Result<()> {
        let settings = &self.settings;
        let store = open_store(settings).await?;
        let master_key = dev_secret(
            settings,
            settings.master_key.as_ref(),
            "master.key",
            "DBPOWER_MASTER_KEY",
        )?;
        let cipher = SecretCipher::from_hex(&master_key).context("DBPOWER_MASTER_KEY")?;
        let hasher = PasswordHasher::new(
            settings.password_hash_cost,
            settings.password_hash_concurrency,
        );
        self.login_hint = bootstrap::ensure_super_admin(store.as_ref(), settings, &hasher).await?;
        self.demo_org = bootstrap::ensure_demo(store.as_ref(), settings).await?;
        let limiter = limiter(settings).await;
        let key_limits = rate_limits(settings, limiter.clone(), &store, &shared);
        // Behind a gateway (which owns them) the backend counts only api keys' windows.
        let rate_limits = key_limits.clone().filter(|_| role == Role::Platform);
        let state = AppState(Arc::new(Inner {
            analysis: analysis(settings, &shared, store.clone())?,
            writer: crate::workers::writer::IngestWriter::start(
                store.clone(),
                if store.backend() == "postgres" { 2 } else { 1 },
            ),
            throttle: LoginThrottle::new(settings.login.clone(), limiter),
            alerts: crate::workers::alerts::Alerting::new(
                &settings.alerts,
                cipher.clone(),
                settings.env == Environment::Production,
            ),
            shared,
            store,
            hasher,
            cipher,
            rate_limits,
            key_limits,
        }));
        if let Some(org) = self.demo_org {
            self.demo_queries = Some(crate::demo::seed(&state, org).await?);
        }
        self.router = api_router(state.clone(), settings.max_body_bytes);
        self.state = RoleState::Api(state);
        Ok(())
    }

    /// `dbpower analyzer`: the analysis engine and its queue, the request limits, nothing else.
    async fn build_analyzer(&mut self, shared: Shared) -> anyhow::Result<()> {
        let settings = &self.settings;
        let store = open_store(settings).await?;
        let rate_limits = rate_limits(settings, limiter(settings).await, &store, &shared);
        let state = AnalyzerState {
            analysis: analysis(settings, &shared, store)?,
            rate_limits,
        };
        self.router = analyzer_router(state.clone(), settings.max_body_bytes);
        self.state = RoleState::Analyzer(state);
        Ok(())
    }

    /// `dbpower gateway`: its store handle (never migrated) only reads organizations' own limits and the
    /// pool's gauges.
    async fn build_gateway(&mut self, shared: Shared) -> anyhow::Result<()> {
        let settings = &self.settings;
        let store = dbpower_store::connect(&settings.database_url()).await?;
        let rate_limits = rate_limits(settings, limiter(settings).await, &store, &shared);
        let state = GatewayState {
            upstreams: Arc::new(crate::gateway::Upstreams::new(
                &settings.gateway.backend_url,
                &settings.gateway.analyzer_url,
                std::time::Duration::from_secs(settings.gateway.timeout_secs.max(1)),
                settings.max_body_bytes,
            )?),
            shared,
            rate_limits,
        };
        self.router = gateway_router(state, store, settings.max_body_bytes);
        Ok(())
    }

    /// The store of the API roles (`dbpower serve`, `dbpower backend`); `None` in the other roles.
    pub fn store(&self) -> Option<Arc<dyn Store>> {
        match &self.state {
            RoleState::Api(s) => Some(s.store.clone()),
            _ => None,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let mut background = Vec::new();
        let analysis = match &self.state {
            RoleState::Api(s) => Some(s.analysis.clone()),
            RoleState::Analyzer(s) => Some(s.analysis.clone()),
            RoleState::Gateway => None,
        };
        if let Some(analysis) = analysis {
            for _ in 0..self.settings.analysis_workers {
                background.push(tokio::spawn(crate::workers::analysis::run_analysis_worker(
                    analysis.clone(),
                )));
            }
        }
        if let RoleState::Api(s) = &self.state {
            let every =
                std::time::Duration::from_secs(self.settings.retention_interval_secs.max(1));
            background.push(tokio::spawn(crate::workers::retention::run(
                s.store.clone(),
                every,
            )));
            if self.settings.alerts.enabled {
                background.push(tokio::spawn(crate::workers::alerts::run_evaluator(
                    s.store.clone(),
                    s.alerts.clone(),
                )));
                background.push(tokio::spawn(crate::workers::alerts::run_deliverer(
                    s.store.clone(),
                    s.alerts.clone(),
                )));
            }
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

/// What every role shares: token keys, metrics, CORS, trusted proxies, who may read `/metrics`.
fn shared(settings: &Settings, role: Role, jwt_secret: &str) -> anyhow::Result<Shared> {
    let trusted_proxies = match (&settings.trusted_proxies, role) {
        (Some(list), _) => crate::http::TrustedProxies::parse(list)
            .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?,
        (None, Role::Backend | Role::Analyzer) => crate::http::TrustedProxies::loopback(),
        (None, Role::Platform | Role::Gateway) => crate::http::TrustedProxies::none(),
    };
    Ok(Shared(Arc::new(SharedInner {
        service: role.service(),
        metrics: crate::metrics::Metrics::default(),
        tokens: TokenKeys::new(jwt_secret.as_bytes()),
        cors_origins: settings.cors_origins.clone(),
        trusted_proxies: Arc::new(trusted_proxies),
        metrics_access: crate::metrics::MetricsAccess::new(
            settings
                .metrics_token
                .as_ref()
                .map(|t| t.expose_secret().to_string()),
            settings.env == Environment::Production,
        ),
    })))
}

/// The analysis engine: the store's queue, the LLM provider when configured, the lease.
fn analysis(
    settings: &Settings,
    shared: &Shared,
    store: Arc<dyn Store>,
) -> anyhow::Result<Analysis> {
    let llm = match settings.llm.client_config()? {
        Some(cfg) => Some(Arc::new(
            dbpower_llm::LlmClient::new(cfg).context("LLM provider")?,
        )),
        None => None,
    };
    Ok(Analysis(Arc::new(AnalysisInner {
        shared: shared.clone(),
        store,
        wakeup: tokio::sync::Notify::new(),
        llm,
        lease: std::time::Duration::from_secs(settings.analysis_lease_secs.max(1)),
    })))
}

/// One limiter (Redis when configured) for the request limits and the login throttle.
async fn limiter(settings: &Settings) -> Arc<dyn Limiter> {
    let redis = settings
        .redis_url
        .as_ref()
        .map(|u| u.expose_secret().to_string());
    ratelimit::connect_limiter(&settings.rate_limit, redis.as_deref()).await
}

/// Request windows on `limiter` (`None` when `rate_limit.enabled = false`).
fn rate_limits(
    settings: &Settings,
    limiter: Arc<dyn Limiter>,
    store: &Arc<dyn Store>,
    shared: &Shared,
) -> Option<Arc<RateLimits>> {
    settings.rate_limit.enabled.then(|| {
        Arc::new(RateLimits::new(
            &settings.rate_limit,
            limiter,
            store.clone(),
            shared.clone(),
        ))
    })
}

/// The complete HTTP surface of the API roles with its middleware stack.
pub(crate) fn api_router(state: AppState, max_body_bytes: usize) -> Router {
    let (api, openapi) = crate::openapi::api_router()
        .with_state(state.clone())
        .split_for_parts();
    let metrics = MetricsState {
        shared: state.shared.clone(),
        store: state.store.clone(),
        queue: true,
        rate_limits: state.rate_limits.clone(),
    };
    let mut routes = Router::new()
        .merge(api)
        .route("/health", axum::routing::get(ops::health))
        .route(
            "/ready",
            axum::routing::get(ops::ready).with_state(metrics.clone()),
        )
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/api/openapi.json", openapi));
    if let Some(rl) = state.rate_limits.clone() {
        routes = routes.layer(middleware::from_fn_with_state(rl, ratelimit::layer));
    }
    let routes = routes.fallback(ops::panel_or_not_found);
    let accounts = Accounts::from_api(&state);
    with_middleware(
        with_metrics(routes, metrics),
        &state.shared,
        Some(accounts),
        max_body_bytes,
    )
}

/// The analyzer service's HTTP surface (`dbpower analyzer`), with the same middleware stack.
pub(crate) fn analyzer_router(state: AnalyzerState, max_body_bytes: usize) -> Router {
    let metrics = MetricsState {
        shared: state.analysis.shared.clone(),
        store: state.analysis.store.clone(),
        queue: true,
        rate_limits: state.rate_limits.clone(),
    };
    let mut routes = Router::new()
        .route(
            "/analyzer/analyze",
            axum::routing::post(crate::routes::analyzer::analyze_request),
        )
        .route("/health", axum::routing::get(ops::health))
        .route(
            "/ready",
            axum::routing::get(ops::ready).with_state(metrics.clone()),
        );
    if let Some(rl) = state.rate_limits.clone() {
        routes = routes.layer(middleware::from_fn_with_state(rl, ratelimit::layer));
    }
    let accounts = Accounts {
        shared: state.analysis.shared.clone(),
        store: state.analysis.store.clone(),
    };
    let shared = state.analysis.shared.clone();
    let routes = routes.fallback(ops::not_found).with_state(state);
    with_middleware(
        with_metrics(routes, metrics),
        &shared,
        Some(accounts),
        max_body_bytes,
    )
}

/// The gateway's HTTP surface: its own health (with the upstreams'), everything else forwarded.
pub(crate) fn gateway_router(
    state: GatewayState,
    store: Arc<dyn Store>,
    max_body_bytes: usize,
) -> Router {
    let metrics = MetricsState {
        shared: state.shared.clone(),
        store,
        queue: false,
        rate_limits: state.rate_limits.clone(),
    };
    let mut routes = Router::new()
        .route("/health", axum::routing::get(crate::gateway::health))
        .fallback(crate::gateway::proxy);
    if let Some(rl) = state.rate_limits.clone() {
        routes = routes.layer(middleware::from_fn_with_state(rl, ratelimit::layer));
    }
    let shared = state.shared.clone();
    with_middleware(
        with_metrics(routes.with_state(state), metrics),
        &shared,
        None,
        max_body_bytes,
    )
}

/// `routes` and `GET /metrics` (outside the rate limits, inside the rest of the middleware).
fn with_metrics(routes: Router, metrics: MetricsState) -> Router {
    routes.route(
        "/metrics",
        axum::routing::get(ops::metrics).with_state(metrics),
    )
}

/// The store for the API and analyzer roles and for `dbpower migrate` / `audit verify`, migrated
/// (SQLite's data directory created first).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let database_url = settings.database_url();
    if database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    }
    let store =
        dbpower_store::connect_with(&database_url, settings.read_replica().as_ref()).await?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    store
        .maintain_partitions(chrono::Utc::now())
        .await
        .context("making the coming days' partitions")?;
    store.set_analysis_debounce(std::time::Duration::from_millis(
        settings.analysis_debounce_ms,
    ));
    Ok(store)
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
