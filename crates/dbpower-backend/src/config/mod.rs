//! Settings: compiled defaults < optional TOML file (`--config`) < `DBPOWER_*` environment < flags.
//! Nested keys use `__` in the environment (`DBPOWER_LOGIN__WINDOW_SECS` is `[login] window_secs`).
//! Each role has a section for what only it uses (`[serve]`, `[gateway]`, `[backend]`, `[analyzer]`);
//! the shared sections (`[login]`, `[rate_limit]`, `[llm]`) and top-level keys serve every role.
//! docs/CONFIG.md lists every key; a test keeps the two in step.

mod layers;
mod sections;
#[cfg(test)]
mod tests;

pub use layers::env_names;
pub(crate) use sections::{
    AlertSettings, GatewaySettings, ListenSettings, LlmSettings, LoginSettings, RateLimitSettings,
};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// `development` (the default: generated secrets, demo organization) or `production` (refuses defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Development,
    Production,
}

/// Which role a process plays: the whole platform (`dbpower serve`) or one part of a split deployment.
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

impl Role {
    /// The name in logs and metrics.
    pub fn service(self) -> &'static str {
        match self {
            Role::Platform => "platform",
            Role::Backend => "backend",
            Role::Analyzer => "analyzer",
            Role::Gateway => "gateway",
        }
    }

    /// Where the role listens unless its `<role>.listen` says otherwise: the gateway takes the place of
    /// the whole platform (8080) in front of the backend (8000) and the analyzer (8001).
    pub fn default_listen(self) -> SocketAddr {
        let port = match self {
            Role::Platform | Role::Gateway => 8080,
            Role::Backend => 8000,
            Role::Analyzer => 8001,
        };
        SocketAddr::from(([127, 0, 0, 1], port))
    }
}

/// `cors_origins`: a comma-separated string (as in the environment) or a TOML array of origins, each
/// `scheme://host[:port]`.
fn origins<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }
    let list: Vec<String> = match Raw::deserialize(d)? {
        Raw::One(s) => s.split(',').map(|o| o.trim().to_string()).collect(),
        Raw::Many(v) => v.into_iter().map(|o| o.trim().to_string()).collect(),
    };
    let list: Vec<String> = list.into_iter().filter(|o| !o.is_empty()).collect();
    for o in &list {
        let ok = o.split_once("://").is_some_and(|(scheme, host)| {
            matches!(scheme, "http" | "https")
                && !host.is_empty()
                && !host.contains(['/', ' ', '?', '#'])
        }) && axum::http::HeaderValue::from_str(o).is_ok();
        if !ok {
            return Err(serde::de::Error::custom(format!(
                "{o:?} is not an origin (scheme://host[:port], e.g. https://admin.example.com)"
            )));
        }
    }
    Ok(list)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when standard error is not a terminal, text otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub env: Environment,
    /// Comma-separated origins allowed to call the API from a browser (CORS); empty: same origin only.
    #[serde(deserialize_with = "origins")]
    pub cors_origins: Vec<String>,
    /// Comma-separated proxy addresses or CIDR networks (`loopback` for 127.0.0.0/8 and ::1) whose
    /// `X-Forwarded-For` is believed. Unset: `loopback` for `dbpower backend` and `dbpower analyzer`
    /// (their gateway), nobody for `dbpower serve` and `dbpower gateway`.
    pub trusted_proxies: Option<String>,
    /// Bearer token that `GET /metrics` and the upstream details of the gateway's `/health` require.
    /// Unset: public in development, `/metrics` off in production.
    pub metrics_token: Option<SecretString>,
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://...`; default `sqlite:<data_dir>/dbpower.db`.
    pub database_url: Option<String>,
    /// A PostgreSQL streaming replica (`postgres://...`) for the heavy reads: lists, classes, series,
    /// the dashboard and comparisons. Unset: every read uses `database_url`.
    pub database_read_url: Option<SecretString>,
    /// Above this replay lag (ms), or while the replica does not answer, those reads use the primary.
    pub database_read_max_lag_ms: u64,
    pub redis_url: Option<SecretString>,
    pub jwt_secret: Option<SecretString>,
    pub master_key: Option<SecretString>,
    pub bootstrap_email: Option<String>,
    pub bootstrap_password: Option<SecretString>,
    /// Demo organization on a new database; default on in development, refused in production.
    pub demo: Option<bool>,
    pub password_hash_cost: u32,
    pub password_hash_concurrency: usize,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    pub log_level: String,
    /// Analysis workers in this process (0: none; another process drains the queue).
    pub analysis_workers: usize,
    /// How long a claimed analysis job stays leased before another worker may take it over.
    pub analysis_lease_secs: u64,
    /// How long after new evidence (a new class, a plan, a schema snapshot, a markedly worse
    /// execution) its class's analysis waits, so that evidence arriving meanwhile is analysed with it.
    pub analysis_debounce_ms: u64,
    /// Seconds between retention sweeps.
    pub retention_interval_secs: u64,
    pub login: LoginSettings,
    pub llm: LlmSettings,
    pub alerts: AlertSettings,
    pub rate_limit: RateLimitSettings,
    pub serve: ListenSettings,
    pub gateway: GatewaySettings,
    pub backend: ListenSettings,
    pub analyzer: ListenSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: Environment::Development,
            cors_origins: Vec::new(),
            trusted_proxies: None,
            metrics_token: None,
            data_dir: PathBuf::from("./dbpower-data"),
            database_url: None,
            database_read_url: None,
            database_read_max_lag_ms: 5_000,
            redis_url: None,
            jwt_secret: None,
            master_key: None,
            bootstrap_email: None,
            bootstrap_password: None,
            demo: None,
            password_hash_cost: 12,
            password_hash_concurrency: 1,
            max_body_bytes: 2 * 1024 * 1024,
            log_format: LogFormat::Auto,
            log_level: "info".into(),
            analysis_workers: 1,
            analysis_lease_secs: 60,
            analysis_debounce_ms: 2000,
            retention_interval_secs: 3600,
            login: LoginSettings::default(),
            llm: LlmSettings::default(),
            alerts: AlertSettings::default(),
            rate_limit: RateLimitSettings::default(),
            serve: ListenSettings::default(),
            gateway: GatewaySettings::default(),
            backend: ListenSettings::default(),
            analyzer: ListenSettings::default(),
        }
    }
}

/// Command-line overrides (the highest layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen` of `dbpower serve` (`serve.listen`).
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

/// Warnings found while loading (unknown environment keys), to log once logging is up.
pub(crate) type Warnings = Vec<String>;

impl Settings {
    /// Loads the layers from the real environment.
    pub fn load(
        file: Option<&Path>,
        overrides: &Overrides,
    ) -> anyhow::Result<(Settings, Warnings)> {
        Settings::load_from(file, std::env::vars(), overrides)
    }

    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> anyhow::Result<(Settings, Warnings)> {
        let layers::Merged {
            table,
            warnings,
            moved,
        } = layers::merged(file, env, overrides)?;
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                let name = match moved.iter().find(|(new, _)| *new == key) {
                    Some((_, legacy)) => format!("{legacy}, read as {}", layers::env_name(&key)),
                    None => layers::env_name(&key),
                };
                anyhow::anyhow!("invalid setting {key} ({name}): {}", e.inner())
            })?;
        Ok((settings, warnings))
    }

    /// Where `role` listens.
    pub fn listen_of(&self, role: Role) -> SocketAddr {
        let set = match role {
            Role::Platform => self.serve.listen,
            Role::Gateway => self.gateway.listen,
            Role::Backend => self.backend.listen,
            Role::Analyzer => self.analyzer.listen,
        };
        set.unwrap_or_else(|| role.default_listen())
    }

    /// Sets where `role` listens (`--listen` of its subcommand).
    pub fn set_listen(&mut self, role: Role, addr: SocketAddr) {
        let slot = match role {
            Role::Platform => &mut self.serve.listen,
            Role::Gateway => &mut self.gateway.listen,
            Role::Backend => &mut self.backend.listen,
            Role::Analyzer => &mut self.analyzer.listen,
        };
        *slot = Some(addr);
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("dbpower.db").display()))
    }

    /// The read replica's connection and bound, when `database_read_url` is set.
    pub fn read_replica(&self) -> Option<dbpower_store::ReplicaConfig> {
        self.database_read_url
            .as_ref()
            .map(|url| dbpower_store::ReplicaConfig {
                url: url.expose_secret().to_string(),
                max_lag: std::time::Duration::from_millis(
                    self.database_read_max_lag_ms.clamp(10, 3_600_000),
                ),
            })
    }

    pub fn demo_enabled(&self) -> bool {
        self.demo.unwrap_or(self.env == Environment::Development)
    }

    /// Refuses what production must not run with, saying what to set.
    pub fn check(&self) -> anyhow::Result<()> {
        if !(4..=31).contains(&self.password_hash_cost) {
            bail!("DBPOWER_PASSWORD_HASH_COST must be between 4 and 31 (bcrypt)");
        }
        if self.password_hash_concurrency == 0 {
            bail!("DBPOWER_PASSWORD_HASH_CONCURRENCY must be at least 1");
        }
        let max_debounce = dbpower_store::MAX_ANALYSIS_DEBOUNCE.as_millis();
        if u128::from(self.analysis_debounce_ms) > max_debounce {
            bail!("DBPOWER_ANALYSIS_DEBOUNCE_MS must be at most {max_debounce} (an hour)");
        }
        self.llm.client_config()?;
        if !(1..=86_400).contains(&self.alerts.evaluate_every_secs) {
            bail!("DBPOWER_ALERTS__EVALUATE_EVERY_SECS must be between 1 and 86400");
        }
        if !(60..=7 * 86_400).contains(&self.alerts.window_secs) {
            bail!("DBPOWER_ALERTS__WINDOW_SECS must be between 60 and 604800 (a week)");
        }
        if !(1..=60).contains(&self.alerts.baseline_days) {
            bail!("DBPOWER_ALERTS__BASELINE_DAYS must be between 1 and 60");
        }
        if !(1..=100).contains(&self.alerts.max_attempts) {
            bail!("DBPOWER_ALERTS__MAX_ATTEMPTS must be between 1 and 100");
        }
        if self.env != Environment::Production {
            return Ok(());
        }
        let mut problems = Vec::new();
        match &self.jwt_secret {
            None => problems.push("DBPOWER_JWT_SECRET is not set: set it to at least 32 random bytes (e.g. `openssl rand -hex 32`)"),
            Some(s) if weak_secret(s.expose_secret()) => {
                problems.push("DBPOWER_JWT_SECRET is too short or a known default: use at least 32 random bytes (e.g. `openssl rand -hex 32`)")
            }
            Some(_) => {}
        }
        if self.database_url().starts_with("sqlite:") {
            problems.push("production needs PostgreSQL: set DBPOWER_DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DB");
        }
        if self.master_key.is_none() {
            problems.push("DBPOWER_MASTER_KEY is not set: set it to 64 hex characters (e.g. `openssl rand -hex 32`)");
        }
        if self.demo == Some(true) {
            problems.push("DBPOWER_DEMO=true is refused in production: remove it");
        }
        if self.password_hash_cost < 12 {
            problems.push("DBPOWER_PASSWORD_HASH_COST below 12 is refused in production");
        }
        if !problems.is_empty() {
            bail!(
                "refusing to start in production mode:\n  - {}",
                problems.join("\n  - ")
            );
        }
        Ok(())
    }
}

/// Secrets that are short or that appear in examples and docs.
pub(crate) fn weak_secret(s: &str) -> bool {
    const KNOWN: &[&str] = &[
        "changeme",
        "secret",
        "your-secret-key",
        "dev-secret",
        "change-me-in-production",
    ];
    s.len() < 32 || KNOWN.iter().any(|k| s.to_ascii_lowercase().contains(k))
}
