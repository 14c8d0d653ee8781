//! Settings: compiled defaults < optional TOML file (`--config`) < `DBPOWER_*` environment < flags.
//! Nested keys use `__` in the environment (`DBPOWER_LOGIN__WINDOW_SECS` is `[login] window_secs`).
//! docs/CONFIG.md lists every key; a test keeps the two in step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
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

/// Failed-login throttling, applied before any password hashing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    pub window_secs: u64,
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            max_failures_per_account: 5,
            max_failures_per_ip: 30,
            window_secs: 900,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub env: Environment,
    /// Where `dbpower serve` and `dbpower gateway` listen.
    pub listen: SocketAddr,
    /// Where `dbpower analyzer` listens.
    pub analyzer_listen: SocketAddr,
    /// Where `dbpower backend` listens (behind `dbpower gateway`).
    pub backend_listen: SocketAddr,
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
    /// Seconds between retention sweeps.
    pub retention_interval_secs: u64,
    pub login: LoginSettings,
    pub llm: LlmSettings,
    pub rate_limit: RateLimitSettings,
    pub gateway: GatewaySettings,
}

/// Where `dbpower gateway` forwards to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    pub backend_url: String,
    pub analyzer_url: String,
    /// An upstream that has not answered after this long gets a 504.
    pub timeout_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            backend_url: "http://127.0.0.1:8000".into(),
            analyzer_url: "http://127.0.0.1:8001".into(),
            timeout_secs: 30,
        }
    }
}

/// Request limits for `/api/v1` and `/analyzer` (docs/CONFIG.md): per organization (from the bearer
/// token; per api key for signed agent requests) per minute and per hour, and per client IP per minute.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub org_per_minute: u32,
    pub org_per_hour: u32,
    pub ip_per_minute: u32,
    /// With `redis_url` set and Redis failing: `fallback` (in-process limits), `allow` or `deny` (503).
    pub on_redis_failure: dbpower_ratelimit::OnRedisFailure,
    /// Prefix of the Redis keys (deployments sharing one Redis use different prefixes).
    pub redis_prefix: String,
    /// How long one check may wait for Redis before `on_redis_failure` applies (milliseconds).
    pub redis_timeout_ms: u64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            org_per_minute: 100,
            org_per_hour: 1000,
            ip_per_minute: 200,
            on_redis_failure: dbpower_ratelimit::OnRedisFailure::Fallback,
            redis_prefix: "dbpower:rl:".into(),
            redis_timeout_ms: 250,
        }
    }
}

/// Which LLM provider, if any (`llm.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProvider {
    #[default]
    #[serde(alias = "")]
    None,
    /// Any OpenAI-compatible chat-completions endpoint.
    Openai,
    /// Ollama's native `/api/chat`.
    Ollama,
}

/// An optional LLM provider for analyses of organizations whose AI policy allows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    pub provider: LlmProvider,
    /// `https://api.openai.com/v1`, `http://vllm:8000/v1`, `http://ollama:11434` ...
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub api_key: Option<SecretString>,
    pub timeout_secs: u64,
    pub max_retries: u32,
    pub breaker_failures: u32,
    pub breaker_cooldown_secs: u64,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings {
            provider: LlmProvider::None,
            base_url: None,
            model: None,
            api_key: None,
            timeout_secs: 30,
            max_retries: 2,
            breaker_failures: 5,
            breaker_cooldown_secs: 60,
        }
    }
}

impl LlmSettings {
    /// The provider's client configuration; `None` when no provider is configured.
    pub fn client_config(&self) -> anyhow::Result<Option<dbpower_llm::LlmConfig>> {
        let kind = match self.provider {
            LlmProvider::None => return Ok(None),
            LlmProvider::Openai => dbpower_llm::ProviderKind::Openai,
            LlmProvider::Ollama => dbpower_llm::ProviderKind::Ollama,
        };
        let Some(base_url) = self.base_url.clone() else {
            bail!(
                "DBPOWER_LLM__BASE_URL is required with DBPOWER_LLM__PROVIDER={:?}",
                self.provider
            );
        };
        let Some(model) = self.model.clone() else {
            bail!(
                "DBPOWER_LLM__MODEL is required with DBPOWER_LLM__PROVIDER={:?}",
                self.provider
            );
        };
        Ok(Some(dbpower_llm::LlmConfig {
            kind,
            base_url,
            model,
            api_key: self.api_key.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_secs.max(1)),
            max_retries: self.max_retries.min(10),
            breaker_failures: self.breaker_failures.max(1),
            breaker_cooldown: std::time::Duration::from_secs(self.breaker_cooldown_secs),
        }))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: Environment::Development,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            analyzer_listen: SocketAddr::from(([127, 0, 0, 1], 8001)),
            backend_listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            cors_origins: Vec::new(),
            trusted_proxies: None,
            metrics_token: None,
            data_dir: PathBuf::from("./dbpower-data"),
            database_url: None,
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
            retention_interval_secs: 3600,
            login: LoginSettings::default(),
            llm: LlmSettings::default(),
            rate_limit: RateLimitSettings::default(),
            gateway: GatewaySettings::default(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
}

/// Every key, its type, and whether it is secret (never echoed). Order follows docs/CONFIG.md.
const KEYS: &[(&str, Kind)] = &[
    ("env", Kind::Str),
    ("listen", Kind::Str),
    ("analyzer_listen", Kind::Str),
    ("backend_listen", Kind::Str),
    ("cors_origins", Kind::Str),
    ("trusted_proxies", Kind::Str),
    ("metrics_token", Kind::Str),
    ("gateway.backend_url", Kind::Str),
    ("gateway.analyzer_url", Kind::Str),
    ("gateway.timeout_secs", Kind::Int),
    ("data_dir", Kind::Str),
    ("database_url", Kind::Str),
    ("redis_url", Kind::Str),
    ("jwt_secret", Kind::Str),
    ("master_key", Kind::Str),
    ("bootstrap_email", Kind::Str),
    ("bootstrap_password", Kind::Str),
    ("demo", Kind::Bool),
    ("password_hash_cost", Kind::Int),
    ("password_hash_concurrency", Kind::Int),
    ("max_body_bytes", Kind::Int),
    ("log_format", Kind::Str),
    ("log_level", Kind::Str),
    ("analysis_workers", Kind::Int),
    ("analysis_lease_secs", Kind::Int),
    ("retention_interval_secs", Kind::Int),
    ("login.max_failures_per_account", Kind::Int),
    ("login.max_failures_per_ip", Kind::Int),
    ("login.window_secs", Kind::Int),
    ("rate_limit.enabled", Kind::Bool),
    ("rate_limit.org_per_minute", Kind::Int),
    ("rate_limit.org_per_hour", Kind::Int),
    ("rate_limit.ip_per_minute", Kind::Int),
    ("rate_limit.on_redis_failure", Kind::Str),
    ("rate_limit.redis_prefix", Kind::Str),
    ("rate_limit.redis_timeout_ms", Kind::Int),
    ("llm.provider", Kind::Str),
    ("llm.base_url", Kind::Str),
    ("llm.model", Kind::Str),
    ("llm.api_key", Kind::Str),
    ("llm.timeout_secs", Kind::Int),
    ("llm.max_retries", Kind::Int),
    ("llm.breaker_failures", Kind::Int),
    ("llm.breaker_cooldown_secs", Kind::Int),
];

/// The names of every setting as environment variables, for docs checks.
pub fn env_names() -> Vec<String> {
    KEYS.iter()
        .map(|(k, _)| format!("DBPOWER_{}", k.replace('.', "__").to_uppercase()))
        .collect()
}

/// Command-line overrides (the highest layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
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
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                text.parse::<toml::Table>()
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        let mut warnings = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("DBPOWER_") else {
                continue;
            };
            if rest.starts_with("TEST_") {
                continue;
            }
            let key = rest.to_ascii_lowercase().replace("__", ".");
            let Some((_, kind)) = KEYS.iter().find(|(k, _)| *k == key) else {
                warnings.push(format!("ignoring unknown setting {name}"));
                continue;
            };
            let v = match kind {
                Kind::Str => toml::Value::String(value),
                Kind::Int => toml::Value::Integer(
                    value
                        .trim()
                        .parse()
                        .with_context(|| format!("{name} must be a whole number"))?,
                ),
                Kind::Bool => toml::Value::Boolean(
                    parse_bool(&value).with_context(|| format!("{name} must be true or false"))?,
                ),
            };
            set_path(&mut table, &key, v);
        }
        if let Some(v) = &overrides.listen {
            set_path(&mut table, "listen", toml::Value::String(v.clone()));
        }
        if let Some(v) = &overrides.data_dir {
            set_path(
                &mut table,
                "data_dir",
                toml::Value::String(v.display().to_string()),
            );
        }
        if let Some(v) = &overrides.database_url {
            set_path(&mut table, "database_url", toml::Value::String(v.clone()));
        }
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| {
                let key = e.path().to_string();
                anyhow::anyhow!(
                    "invalid setting {key} (DBPOWER_{}): {}",
                    key.replace('.', "__").to_uppercase(),
                    e.inner()
                )
            })?;
        Ok((settings, warnings))
    }

    /// Where `role` listens.
    pub fn listen_of(&self, role: Role) -> SocketAddr {
        match role {
            Role::Platform | Role::Gateway => self.listen,
            Role::Backend => self.backend_listen,
            Role::Analyzer => self.analyzer_listen,
        }
    }

    /// Sets where `role` listens (`--listen` of its subcommand).
    pub fn set_listen(&mut self, role: Role, addr: SocketAddr) {
        match role {
            Role::Platform | Role::Gateway => self.listen = addr,
            Role::Backend => self.backend_listen = addr,
            Role::Analyzer => self.analyzer_listen = addr,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("dbpower.db").display()))
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
        self.llm.client_config()?;
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

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn set_path(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    match dotted.split_once('.') {
        None => {
            table.insert(dotted.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = table
                .entry(head.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field names serde asks for when it deserializes `T` (a probe that records them and stops).
    fn fields_of<T: serde::de::DeserializeOwned>() -> Vec<&'static str> {
        struct Probe<'a>(&'a mut Vec<&'static str>);
        impl<'de> serde::Deserializer<'de> for Probe<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: serde::de::Visitor<'de>>(
                self,
                _: V,
            ) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("probe"))
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.extend_from_slice(fields);
                Err(serde::de::Error::custom("probe"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
                option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
                ignored_any
            }
        }
        let mut fields = Vec::new();
        let _ = T::deserialize(Probe(&mut fields));
        fields
    }

    #[test]
    fn the_keys_table_is_the_settings_struct() {
        let sections = [
            ("login", fields_of::<LoginSettings>()),
            ("llm", fields_of::<LlmSettings>()),
            ("rate_limit", fields_of::<RateLimitSettings>()),
            ("gateway", fields_of::<GatewaySettings>()),
        ];
        let mut want = std::collections::BTreeSet::new();
        for f in fields_of::<Settings>() {
            if !sections.iter().any(|(s, _)| s == &f) {
                want.insert(f.to_string());
            }
        }
        for (section, fields) in &sections {
            assert!(!fields.is_empty(), "{section}");
            want.extend(fields.iter().map(|f| format!("{section}.{f}")));
        }
        let have: std::collections::BTreeSet<String> =
            KEYS.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(
            have, want,
            "KEYS (environment names) and the settings struct differ"
        );
    }

    #[test]
    fn bad_values_name_their_setting() {
        for (key, value, says) in [
            (
                "DBPOWER_RATE_LIMIT__ON_REDIS_FAILURE",
                "sometimes",
                "rate_limit.on_redis_failure",
            ),
            ("DBPOWER_LLM__PROVIDER", "gpt", "llm.provider"),
            ("DBPOWER_LISTEN", "localhost", "listen"),
            (
                "DBPOWER_BACKEND_LISTEN",
                "127.0.0.1:99999",
                "backend_listen",
            ),
            (
                "DBPOWER_CORS_ORIGINS",
                "https://a.example, admin.example.com",
                "cors_origins",
            ),
        ] {
            let err = Settings::load_from(None, env(&[(key, value)]), &Overrides::default())
                .expect_err(key)
                .to_string();
            assert!(err.contains(says) && err.contains(key), "{key}: {err}");
        }
        let (s, _) = Settings::load_from(
            None,
            env(&[
                (
                    "DBPOWER_CORS_ORIGINS",
                    " https://a.example , http://b.example:8080 ,",
                ),
                ("DBPOWER_LLM__PROVIDER", ""),
            ]),
            &Overrides::default(),
        )
        .expect("valid");
        assert_eq!(
            s.cors_origins,
            ["https://a.example", "http://b.example:8080"]
        );
        assert_eq!(s.llm.provider, LlmProvider::None);
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:1\"\ndemo = false\n[login]\nwindow_secs = 60\n",
        )
        .expect("write");
        let (s, w) = Settings::load_from(
            Some(&file),
            env(&[
                ("DBPOWER_LISTEN", "0.0.0.0:2"),
                ("DBPOWER_LOGIN__MAX_FAILURES_PER_IP", "9"),
                ("DBPOWER_TEST_X", "y"),
                ("DBPOWER_NOPE", "1"),
            ]),
            &Overrides::default(),
        )
        .expect("load");
        assert_eq!(s.listen.to_string(), "0.0.0.0:2", "env beats file");
        assert_eq!(s.login.window_secs, 60);
        assert_eq!(s.login.max_failures_per_ip, 9);
        assert_eq!(s.demo, Some(false));
        assert_eq!(w, vec!["ignoring unknown setting DBPOWER_NOPE".to_string()]);
        let (s, _) = Settings::load_from(
            Some(&file),
            env(&[("DBPOWER_LISTEN", "0.0.0.0:2")]),
            &Overrides {
                listen: Some("0.0.0.0:3".into()),
                ..Default::default()
            },
        )
        .expect("load");
        assert_eq!(s.listen.to_string(), "0.0.0.0:3", "flags beat env");
    }

    #[test]
    fn typos_in_files_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        assert!(Settings::load_from(Some(&file), env(&[]), &Overrides::default()).is_err());
        assert!(
            Settings::load_from(
                None,
                env(&[("DBPOWER_DEMO", "maybe")]),
                &Overrides::default()
            )
            .is_err()
        );
        assert!(
            Settings::load_from(
                None,
                env(&[("DBPOWER_ENV", "staging")]),
                &Overrides::default()
            )
            .is_err()
        );
    }

    #[test]
    fn production_refuses_defaults() {
        let (s, _) = Settings::load_from(
            None,
            env(&[("DBPOWER_ENV", "production")]),
            &Overrides::default(),
        )
        .expect("load");
        let err = s.check().expect_err("must refuse").to_string();
        assert!(
            err.contains("DBPOWER_JWT_SECRET")
                && err.contains("PostgreSQL")
                && err.contains("DBPOWER_MASTER_KEY"),
            "{err}"
        );
        let (s, _) = Settings::load_from(
            None,
            env(&[
                ("DBPOWER_ENV", "production"),
                ("DBPOWER_JWT_SECRET", "changeme-changeme-changeme-changeme"),
                ("DBPOWER_DATABASE_URL", "postgres://x@y/z"),
                ("DBPOWER_MASTER_KEY", &"ab".repeat(32)),
            ]),
            &Overrides::default(),
        )
        .expect("load");
        assert!(
            s.check()
                .expect_err("default secret")
                .to_string()
                .contains("known default")
        );
        let (s, _) = Settings::load_from(
            None,
            env(&[
                ("DBPOWER_ENV", "production"),
                ("DBPOWER_JWT_SECRET", &"k7".repeat(20)),
                ("DBPOWER_DATABASE_URL", "postgres://x@y/z"),
                ("DBPOWER_MASTER_KEY", &"ab".repeat(32)),
            ]),
            &Overrides::default(),
        )
        .expect("load");
        s.check()
            .expect("a complete production configuration starts");
        assert!(!s.demo_enabled());
    }
}
