//! The settings' sections: one per role for what only that role uses (`[serve]`, `[gateway]`,
//! `[backend]`, `[analyzer]`), and the shared ones (`[login]`, `[rate_limit]`, `[llm]`).

use std::net::SocketAddr;

use anyhow::bail;
use secrecy::SecretString;
use serde::Deserialize;

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

/// The section of a role that has nothing of its own but its address: `[serve]`, `[backend]` and
/// `[analyzer]`. Unset, the role listens on its default ([`super::Role::default_listen`]).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenSettings {
    /// Where the role listens (`--listen` of its subcommand).
    pub listen: Option<SocketAddr>,
}

/// `dbpower gateway`: where it listens and where it forwards to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Where it listens (`--listen` of `dbpower gateway`).
    pub listen: Option<SocketAddr>,
    pub backend_url: String,
    pub analyzer_url: String,
    /// An upstream that has not answered after this long gets a 504.
    pub timeout_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: None,
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
    /// Requests per api key (signed agent requests) per minute, scaled by an organization's own
    /// `rate_limit_per_minute` relative to `org_per_minute`.
    pub agent_per_minute: u32,
    /// Requests per api key per hour, scaled like `agent_per_minute` (by `rate_limit_per_hour`).
    pub agent_per_hour: u32,
    /// Slow queries per api key per minute (the items of its ingestion batches), scaled like
    /// `agent_per_minute`.
    pub agent_queries_per_minute: u32,
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
            agent_per_minute: 600,
            agent_per_hour: 36_000,
            agent_queries_per_minute: 300_000,
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

/// Alerts (docs/ALERTS.md): how often every organization is evaluated, over which window against which
/// baseline, and how deliveries are sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Off: no evaluation and no delivery in this process (another backend may do both).
    pub enabled: bool,
    pub evaluate_every_secs: u64,
    /// The recent window, rounded down to whole rollup hours (3600: the last hour and the current one).
    pub window_secs: u64,
    /// The baseline: this many days before the window.
    pub baseline_days: u32,
    /// One delivery attempt's time limit.
    pub delivery_timeout_secs: u64,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// The wait before the second attempt; each later wait doubles, at most an hour.
    pub retry_base_ms: u64,
    /// How long a claimed delivery stays leased before another deliverer may send it again.
    pub lease_secs: u64,
    /// The SMTP relay of e-mail channels: `smtp://host:587?tls=required` (STARTTLS), `smtps://host`
    /// (implicit TLS), `smtp://user:password@host:25` (no TLS: development only).
    pub smtp_url: Option<SecretString>,
    /// The sender of alert e-mail.
    pub smtp_from: String,
    /// Whether webhook, Slack and PagerDuty targets may resolve to loopback, private or link-local
    /// addresses. Unset: yes in development, no in production (a tenant must not reach the platform's
    /// own network).
    pub allow_private_targets: Option<bool>,
    /// The panel's address, for links in messages (e.g. `https://dbpower.example.com`).
    pub public_url: Option<String>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            enabled: true,
            evaluate_every_secs: 60,
            window_secs: 3600,
            baseline_days: 7,
            delivery_timeout_secs: 10,
            max_attempts: 8,
            retry_base_ms: 2000,
            lease_secs: 60,
            smtp_url: None,
            smtp_from: "DBPower <alerts@localhost>".into(),
            allow_private_targets: None,
            public_url: None,
        }
    }
}
