//! Typed settings for tests: the defaults an in-process app and a spawned binary start from, the one
//! place that sets where a role listens, and the settings as the binary's environment.

use std::net::SocketAddr;
use std::path::Path;

use dbpower_backend::{Role, Settings};
use secrecy::{ExposeSecret, SecretString};

/// The platform account an in-process app bootstraps.
pub const ADMIN_EMAIL: &str = "root@dbpower.test";
pub const ADMIN_PASSWORD: &str = "root-password-123";

/// A secret setting's value.
pub fn secret(value: &str) -> SecretString {
    SecretString::from(value.to_string())
}

/// A settings enum's value by the name the environment gives it (`named("openai")` for
/// `llm.provider`), for the enums the backend does not export.
pub fn named<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(serde_json::Value::String(name.into()))
        .unwrap_or_else(|e| panic!("{name:?} is no value of this setting: {e}"))
}

/// Sets where `role` listens: the only place the kit names the listen settings.
pub fn set_listen(s: &mut Settings, role: Role, addr: SocketAddr) {
    s.set_listen(role, addr);
}

/// Any free port on loopback.
pub(crate) fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Fast hashing, analysis as soon as evidence arrives, and per-minute request limits no suite reaches
/// from one address or api key (the limits and the debounce window are tested with their own settings;
/// the organizations' hourly limit is the default, which an ORG_ADMIN may only lower).
fn fast(s: &mut Settings) {
    s.password_hash_cost = 4;
    s.analysis_debounce_ms = 0;
    s.rate_limit.org_per_minute = 1_000_000;
    s.rate_limit.ip_per_minute = 1_000_000;
    s.rate_limit.agent_per_minute = 1_000_000;
    s.rate_limit.agent_per_hour = 1_000_000_000;
    s.rate_limit.agent_queries_per_minute = 1_000_000_000;
}

/// What an in-process app starts from: a bootstrapped [`ADMIN_EMAIL`], no demo, fast hashing, limits
/// (the hourly one too) no suite reaches, data in `data_dir`, listening on any free port.
pub(crate) fn app_defaults(role: Role, data_dir: &Path, database_url: Option<String>) -> Settings {
    let mut s = Settings::default();
    fast(&mut s);
    s.rate_limit.org_per_hour = 1_000_000;
    s.bootstrap_email = Some(ADMIN_EMAIL.into());
    s.bootstrap_password = Some(secret(ADMIN_PASSWORD));
    s.demo = Some(false);
    s.data_dir = data_dir.to_path_buf();
    s.database_url = database_url;
    set_listen(&mut s, role, any_port());
    s
}

/// What a spawned binary starts from: its own defaults (generated credentials, the demo), with fast
/// hashing, high limits and warnings only in the log.
pub(crate) fn bin_defaults() -> Settings {
    let mut s = Settings::default();
    fast(&mut s);
    s.log_level = "warn".into();
    s
}

/// A setting's value as the environment spells it (enums are lower-case names).
fn lower(v: impl std::fmt::Debug) -> String {
    format!("{v:?}").to_lowercase()
}

/// Every setting's value as the environment spells it, keyed by its `DBPOWER_` name without the
/// prefix (`None`: unset). Listen addresses are not among them: a spawned role gets its address as
/// `--listen`. A test keeps the keys equal to the loader's.
fn values(s: &Settings) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("ENV", Some(lower(s.env))),
        ("CORS_ORIGINS", Some(s.cors_origins.join(","))),
        ("TRUSTED_PROXIES", s.trusted_proxies.clone()),
        ("METRICS_TOKEN", open_secret(&s.metrics_token)),
        ("GATEWAY__BACKEND_URL", Some(s.gateway.backend_url.clone())),
        (
            "GATEWAY__ANALYZER_URL",
            Some(s.gateway.analyzer_url.clone()),
        ),
        (
            "GATEWAY__TIMEOUT_SECS",
            Some(s.gateway.timeout_secs.to_string()),
        ),
        ("DATA_DIR", Some(s.data_dir.display().to_string())),
        ("DATABASE_URL", s.database_url.clone()),
        ("DATABASE_READ_URL", open_secret(&s.database_read_url)),
        (
            "DATABASE_READ_MAX_LAG_MS",
            Some(s.database_read_max_lag_ms.to_string()),
        ),
        ("REDIS_URL", open_secret(&s.redis_url)),
        ("JWT_SECRET", open_secret(&s.jwt_secret)),
        ("MASTER_KEY", open_secret(&s.master_key)),
        ("BOOTSTRAP_EMAIL", s.bootstrap_email.clone()),
        ("BOOTSTRAP_PASSWORD", open_secret(&s.bootstrap_password)),
        ("DEMO", s.demo.map(|v| v.to_string())),
        ("PASSWORD_HASH_COST", Some(s.password_hash_cost.to_string())),
        (
            "PASSWORD_HASH_CONCURRENCY",
            Some(s.password_hash_concurrency.to_string()),
        ),
        ("MAX_BODY_BYTES", Some(s.max_body_bytes.to_string())),
        ("LOG_FORMAT", Some(lower(s.log_format))),
        ("LOG_LEVEL", Some(s.log_level.clone())),
        ("ANALYSIS_WORKERS", Some(s.analysis_workers.to_string())),
        (
            "ANALYSIS_LEASE_SECS",
            Some(s.analysis_lease_secs.to_string()),
        ),
        (
            "ANALYSIS_DEBOUNCE_MS",
            Some(s.analysis_debounce_ms.to_string()),
        ),
        (
            "RETENTION_INTERVAL_SECS",
            Some(s.retention_interval_secs.to_string()),
        ),
        (
            "LOGIN__MAX_FAILURES_PER_ACCOUNT",
            Some(s.login.max_failures_per_account.to_string()),
        ),
        (
            "LOGIN__MAX_FAILURES_PER_IP",
            Some(s.login.max_failures_per_ip.to_string()),
        ),
        ("LOGIN__WINDOW_SECS", Some(s.login.window_secs.to_string())),
        (
            "RATE_LIMIT__ENABLED",
            Some(s.rate_limit.enabled.to_string()),
        ),
        (
            "RATE_LIMIT__ORG_PER_MINUTE",
            Some(s.rate_limit.org_per_minute.to_string()),
        ),
        (
            "RATE_LIMIT__ORG_PER_HOUR",
            Some(s.rate_limit.org_per_hour.to_string()),
        ),
        (
            "RATE_LIMIT__IP_PER_MINUTE",
            Some(s.rate_limit.ip_per_minute.to_string()),
        ),
        (
            "RATE_LIMIT__AGENT_PER_MINUTE",
            Some(s.rate_limit.agent_per_minute.to_string()),
        ),
        (
            "RATE_LIMIT__AGENT_PER_HOUR",
            Some(s.rate_limit.agent_per_hour.to_string()),
        ),
        (
            "RATE_LIMIT__AGENT_QUERIES_PER_MINUTE",
            Some(s.rate_limit.agent_queries_per_minute.to_string()),
        ),
        (
            "RATE_LIMIT__ON_REDIS_FAILURE",
            Some(lower(s.rate_limit.on_redis_failure)),
        ),
        (
            "RATE_LIMIT__REDIS_PREFIX",
            Some(s.rate_limit.redis_prefix.clone()),
        ),
        (
            "RATE_LIMIT__REDIS_TIMEOUT_MS",
            Some(s.rate_limit.redis_timeout_ms.to_string()),
        ),
        ("LLM__PROVIDER", Some(lower(s.llm.provider))),
        ("LLM__BASE_URL", s.llm.base_url.clone()),
        ("LLM__MODEL", s.llm.model.clone()),
        ("LLM__API_KEY", open_secret(&s.llm.api_key)),
        ("LLM__TIMEOUT_SECS", Some(s.llm.timeout_secs.to_string())),
        ("LLM__MAX_RETRIES", Some(s.llm.max_retries.to_string())),
        (
            "LLM__BREAKER_FAILURES",
            Some(s.llm.breaker_failures.to_string()),
        ),
        (
            "LLM__BREAKER_COOLDOWN_SECS",
            Some(s.llm.breaker_cooldown_secs.to_string()),
        ),
        ("ALERTS__ENABLED", Some(s.alerts.enabled.to_string())),
        (
            "ALERTS__EVALUATE_EVERY_SECS",
            Some(s.alerts.evaluate_every_secs.to_string()),
        ),
        (
            "ALERTS__WINDOW_SECS",
            Some(s.alerts.window_secs.to_string()),
        ),
        (
            "ALERTS__BASELINE_DAYS",
            Some(s.alerts.baseline_days.to_string()),
        ),
        (
            "ALERTS__DELIVERY_TIMEOUT_SECS",
            Some(s.alerts.delivery_timeout_secs.to_string()),
        ),
        (
            "ALERTS__MAX_ATTEMPTS",
            Some(s.alerts.max_attempts.to_string()),
        ),
        (
            "ALERTS__RETRY_BASE_MS",
            Some(s.alerts.retry_base_ms.to_string()),
        ),
        ("ALERTS__LEASE_SECS", Some(s.alerts.lease_secs.to_string())),
        ("ALERTS__SMTP_URL", open_secret(&s.alerts.smtp_url)),
        ("ALERTS__SMTP_FROM", Some(s.alerts.smtp_from.clone())),
        (
            "ALERTS__ALLOW_PRIVATE_TARGETS",
            s.alerts.allow_private_targets.map(|b| b.to_string()),
        ),
        ("ALERTS__PUBLIC_URL", s.alerts.public_url.clone()),
    ]
}

/// A secret setting's value, exposed for the child's environment.
fn open_secret(v: &Option<SecretString>) -> Option<String> {
    v.as_ref().map(|v| v.expose_secret().to_string())
}

/// The settings that differ from [`Settings::default`], as `DBPOWER_*` variables. Listen addresses are
/// not among them: a spawned role gets its address as `--listen`.
pub fn env_of(s: &Settings) -> Vec<(String, String)> {
    let defaults = values(&Settings::default());
    values(s)
        .into_iter()
        .zip(defaults)
        .filter_map(|((key, v), (_, d))| match v {
            Some(v) if Some(&v) != d.as_ref() => Some((format!("DBPOWER_{key}"), v)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting the kit writes reads back the same: changed from its default, through the
    /// environment, into the loader.
    #[test]
    fn changed_settings_survive_the_environment() {
        let mut s = bin_defaults();
        s.cors_origins = vec!["https://a.example".into(), "https://b.example".into()];
        s.trusted_proxies = Some("loopback".into());
        s.gateway.backend_url = "http://127.0.0.1:1".into();
        s.gateway.analyzer_url = "http://127.0.0.1:2".into();
        s.gateway.timeout_secs = 3;
        s.data_dir = "/tmp/somewhere".into();
        s.database_url = Some("sqlite:/tmp/x.db".into());
        s.database_read_url = Some(secret("postgres://r@replica:5432/x"));
        s.database_read_max_lag_ms = 1234;
        s.bootstrap_email = Some("a@b.example".into());
        s.demo = Some(false);
        s.password_hash_cost = 5;
        s.password_hash_concurrency = 3;
        s.max_body_bytes = 7;
        s.log_level = "warn".into();
        s.analysis_workers = 0;
        s.analysis_lease_secs = 2;
        s.analysis_debounce_ms = 250;
        s.retention_interval_secs = 9;
        s.login.max_failures_per_account = 1;
        s.login.max_failures_per_ip = 2;
        s.login.window_secs = 3;
        s.rate_limit.enabled = false;
        s.rate_limit.org_per_minute = 4;
        s.rate_limit.org_per_hour = 5;
        s.rate_limit.ip_per_minute = 6;
        s.rate_limit.agent_per_minute = 10;
        s.rate_limit.agent_per_hour = 11;
        s.rate_limit.agent_queries_per_minute = 12;
        s.rate_limit.redis_prefix = "p:".into();
        s.rate_limit.redis_timeout_ms = 7;
        s.llm.base_url = Some("http://llm.example/v1".into());
        s.llm.model = Some("m".into());
        s.llm.timeout_secs = 8;
        s.llm.max_retries = 1;
        s.llm.breaker_failures = 2;
        s.llm.breaker_cooldown_secs = 3;
        s.alerts.evaluate_every_secs = 2;
        s.alerts.smtp_url = Some(crate::secret("smtp://127.0.0.1:2525"));
        s.alerts.allow_private_targets = Some(false);
        let env = env_of(&s);
        let (back, warnings) =
            Settings::load_from(None, env.clone(), &Default::default()).expect("loads");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(format!("{back:?}"), format!("{s:?}"), "{env:?}");
        assert!(env_of(&Settings::default()).is_empty());
    }

    /// The kit passes every setting the loader knows but the listen addresses: a setting added to the
    /// backend and not here would silently stay at its default in every spawned binary.
    #[test]
    fn every_setting_is_passed_on() {
        let passed: std::collections::BTreeSet<String> = values(&Settings::default())
            .into_iter()
            .map(|(k, _)| format!("DBPOWER_{k}"))
            .collect();
        let known: std::collections::BTreeSet<String> = dbpower_backend::env_names()
            .into_iter()
            .filter(|n| !n.ends_with("__LISTEN"))
            .collect();
        assert_eq!(passed, known);
    }
}
