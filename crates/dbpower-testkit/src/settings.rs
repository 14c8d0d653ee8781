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

/// Fast hashing, and per-minute request limits no suite reaches from one address (the limits are
/// tested with their own settings; the hourly one is the default, which an ORG_ADMIN may only lower).
fn fast(s: &mut Settings) {
    s.password_hash_cost = 4;
    s.rate_limit.org_per_minute = 1_000_000;
    s.rate_limit.ip_per_minute = 1_000_000;
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

/// The settings that differ from [`Settings::default`], as `DBPOWER_*` variables. Listen addresses are
/// not among them: a spawned role gets its address as `--listen`.
pub fn env_of(s: &Settings) -> Vec<(String, String)> {
    let d = Settings::default();
    let mut out = Vec::new();
    let mut put = |key: &str, get: &dyn Fn(&Settings) -> Option<String>| {
        if let Some(v) = get(s).filter(|v| Some(v) != get(&d).as_ref()) {
            out.push((format!("DBPOWER_{key}"), v));
        }
    };
    let open = |v: &Option<SecretString>| v.as_ref().map(|v| v.expose_secret().to_string());
    put("ENV", &|s| Some(lower(s.env)));
    put("CORS_ORIGINS", &|s| Some(s.cors_origins.join(",")));
    put("TRUSTED_PROXIES", &|s| s.trusted_proxies.clone());
    put("METRICS_TOKEN", &|s| open(&s.metrics_token));
    put("GATEWAY__BACKEND_URL", &|s| {
        Some(s.gateway.backend_url.clone())
    });
    put("GATEWAY__ANALYZER_URL", &|s| {
        Some(s.gateway.analyzer_url.clone())
    });
    put("GATEWAY__TIMEOUT_SECS", &|s| {
        Some(s.gateway.timeout_secs.to_string())
    });
    put("DATA_DIR", &|s| Some(s.data_dir.display().to_string()));
    put("DATABASE_URL", &|s| s.database_url.clone());
    put("REDIS_URL", &|s| open(&s.redis_url));
    put("JWT_SECRET", &|s| open(&s.jwt_secret));
    put("MASTER_KEY", &|s| open(&s.master_key));
    put("BOOTSTRAP_EMAIL", &|s| s.bootstrap_email.clone());
    put("BOOTSTRAP_PASSWORD", &|s| open(&s.bootstrap_password));
    put("DEMO", &|s| s.demo.map(|v| v.to_string()));
    put("PASSWORD_HASH_COST", &|s| {
        Some(s.password_hash_cost.to_string())
    });
    put("PASSWORD_HASH_CONCURRENCY", &|s| {
        Some(s.password_hash_concurrency.to_string())
    });
    put("MAX_BODY_BYTES", &|s| Some(s.max_body_bytes.to_string()));
    put("LOG_FORMAT", &|s| Some(lower(s.log_format)));
    put("LOG_LEVEL", &|s| Some(s.log_level.clone()));
    put("ANALYSIS_WORKERS", &|s| {
        Some(s.analysis_workers.to_string())
    });
    put("ANALYSIS_LEASE_SECS", &|s| {
        Some(s.analysis_lease_secs.to_string())
    });
    put("RETENTION_INTERVAL_SECS", &|s| {
        Some(s.retention_interval_secs.to_string())
    });
    put("LOGIN__MAX_FAILURES_PER_ACCOUNT", &|s| {
        Some(s.login.max_failures_per_account.to_string())
    });
    put("LOGIN__MAX_FAILURES_PER_IP", &|s| {
        Some(s.login.max_failures_per_ip.to_string())
    });
    put("LOGIN__WINDOW_SECS", &|s| {
        Some(s.login.window_secs.to_string())
    });
    put("RATE_LIMIT__ENABLED", &|s| {
        Some(s.rate_limit.enabled.to_string())
    });
    put("RATE_LIMIT__ORG_PER_MINUTE", &|s| {
        Some(s.rate_limit.org_per_minute.to_string())
    });
    put("RATE_LIMIT__ORG_PER_HOUR", &|s| {
        Some(s.rate_limit.org_per_hour.to_string())
    });
    put("RATE_LIMIT__IP_PER_MINUTE", &|s| {
        Some(s.rate_limit.ip_per_minute.to_string())
    });
    put("RATE_LIMIT__ON_REDIS_FAILURE", &|s| {
        Some(lower(s.rate_limit.on_redis_failure))
    });
    put("RATE_LIMIT__REDIS_PREFIX", &|s| {
        Some(s.rate_limit.redis_prefix.clone())
    });
    put("RATE_LIMIT__REDIS_TIMEOUT_MS", &|s| {
        Some(s.rate_limit.redis_timeout_ms.to_string())
    });
    put("LLM__PROVIDER", &|s| Some(lower(s.llm.provider)));
    put("LLM__BASE_URL", &|s| s.llm.base_url.clone());
    put("LLM__MODEL", &|s| s.llm.model.clone());
    put("LLM__API_KEY", &|s| open(&s.llm.api_key));
    put("LLM__TIMEOUT_SECS", &|s| {
        Some(s.llm.timeout_secs.to_string())
    });
    put("LLM__MAX_RETRIES", &|s| Some(s.llm.max_retries.to_string()));
    put("LLM__BREAKER_FAILURES", &|s| {
        Some(s.llm.breaker_failures.to_string())
    });
    put("LLM__BREAKER_COOLDOWN_SECS", &|s| {
        Some(s.llm.breaker_cooldown_secs.to_string())
    });
    out
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
        s.bootstrap_email = Some("a@b.example".into());
        s.demo = Some(false);
        s.password_hash_cost = 5;
        s.password_hash_concurrency = 3;
        s.max_body_bytes = 7;
        s.log_level = "warn".into();
        s.analysis_workers = 0;
        s.analysis_lease_secs = 2;
        s.retention_interval_secs = 9;
        s.login.max_failures_per_account = 1;
        s.login.max_failures_per_ip = 2;
        s.login.window_secs = 3;
        s.rate_limit.enabled = false;
        s.rate_limit.org_per_minute = 4;
        s.rate_limit.org_per_hour = 5;
        s.rate_limit.ip_per_minute = 6;
        s.rate_limit.redis_prefix = "p:".into();
        s.rate_limit.redis_timeout_ms = 7;
        s.llm.base_url = Some("http://llm.example/v1".into());
        s.llm.model = Some("m".into());
        s.llm.timeout_secs = 8;
        s.llm.max_retries = 1;
        s.llm.breaker_failures = 2;
        s.llm.breaker_cooldown_secs = 3;
        let env = env_of(&s);
        let (back, warnings) =
            Settings::load_from(None, env.clone(), &Default::default()).expect("loads");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(format!("{back:?}"), format!("{s:?}"), "{env:?}");
        assert!(env_of(&Settings::default()).is_empty());
    }
}
