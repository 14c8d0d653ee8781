//! LLM providers for the analyzer. `openai` speaks the OpenAI chat-completions protocol (OpenAI, vLLM,
//! llama.cpp server, Ollama's `/v1`) with a strict JSON-schema response format; `ollama` speaks Ollama's
//! native `/api/chat` with `format`. Every call has a timeout, transport failures (timeouts, connection
//! errors, 429, 5xx) are retried a bounded number of times with exponential backoff and jitter, and a
//! circuit breaker stops calling a provider that keeps failing. An invalid answer is retried once with
//! the validation error, then dropped. Whatever happens the rule report stands; every call is returned
//! as a [`CallRecord`] (model, prompt hash, tokens, latency, outcome) for the audit table.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use dbpower_analysis::llm::{self, Prompt};
use dbpower_sql::Dialect;
use dbpower_types::{AnalysisReport, SchemaSnapshot};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Ollama,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Ollama => "ollama",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub kind: ProviderKind,
    /// `http://host:port/v1` for `openai`; `http://host:11434` for `ollama`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<SecretString>,
    pub timeout: Duration,
    /// Transport retries after the first attempt.
    pub max_retries: u32,
    /// Consecutive failed calls that open the circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls before one is tried again.
    pub breaker_cooldown: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    InvalidOutput,
    Error,
    CircuitOpen,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::InvalidOutput => "invalid_output",
            Outcome::Error => "error",
            Outcome::CircuitOpen => "circuit_open",
        }
    }
}

/// One prompt sent (or refused by the open circuit), for the audit record.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub provider: &'static str,
    pub model: String,
    pub prompt_sha256: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: f64,
    pub outcome: Outcome,
    /// The failure, or what was dropped from a valid answer.
    pub detail: Option<String>,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
}

pub struct LlmClient {
    cfg: LlmConfig,
    http: reqwest::Client,
    breaker: Mutex<Breaker>,
}

struct Reply {
    content: String,
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(4);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a provider's client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the LLM base URL must start with http:// or https:// (got {0:?})")]
    BaseUrl(String),
    #[error("the LLM model is not set")]
    NoModel,
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

impl LlmClient {
    pub fn new(cfg: LlmConfig) -> Result<LlmClient, SetupError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(SetupError::BaseUrl(cfg.base_url));
        }
        if cfg.model.trim().is_empty() {
            return Err(SetupError::NoModel);
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(LlmClient {
            cfg,
            http,
            breaker: Mutex::new(Breaker::default()),
        })
    }

    /// The name this provider contributes to a report's `engine` list, e.g. `openai:gpt-4o-mini`.
    pub fn engine(&self) -> String {
        format!("{}:{}", self.cfg.kind.as_str(), self.cfg.model)
    }

    fn circuit_open(&self) -> bool {
        let b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.open_until.is_some_and(|t| Instant::now() < t)
    }

    fn record_result(&self, ok: bool) {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            *b = Breaker::default();
        } else {
            b.failures += 1;
            if b.failures >= self.cfg.breaker_failures.max(1) {
                b.open_until = Some(Instant::now() + self.cfg.breaker_cooldown);
                tracing::warn!(
                    provider = self.cfg.kind.as_str(),
                    "LLM circuit opened after repeated failures"
                );
            }
        }
    }

    fn request_body(&self, messages: &[Value]) -> (String, Value) {
        match self.cfg.kind {
            ProviderKind::Openai => (
                format!(
                    "{}/chat/completions",
                    self.cfg.base_url.trim_end_matches('/')
                ),
                json!({"model": self.cfg.model, "messages": messages, "temperature": 0,
                    "response_format": {"type": "json_schema", "json_schema": {"name": "dbpower_analysis", "strict": true, "schema": llm::response_schema()}}}),
            ),
            ProviderKind::Ollama => (
                format!("{}/api/chat", self.cfg.base_url.trim_end_matches('/')),
                json!({"model": self.cfg.model, "messages": messages, "stream": false, "format": llm::response_schema(),
                    "options": {"temperature": 0}}),
            ),
        }
    }

    fn parse_reply(&self, v: &Value) -> Option<Reply> {
        match self.cfg.kind {
            ProviderKind::Openai => Some(Reply {
                content: v["choices"][0]["message"]["content"].as_str()?.to_string(),
                prompt_tokens: v["usage"]["prompt_tokens"].as_i64(),
                completion_tokens: v["usage"]["completion_tokens"].as_i64(),
            }),
            ProviderKind::Ollama => Some(Reply {
                content: v["message"]["content"].as_str()?.to_string(),
                prompt_tokens: v["prompt_eval_count"].as_i64(),
                completion_tokens: v["eval_count"].as_i64(),
            }),
        }
    }

    /// One chat call with bounded transport retries.
    async fn chat(&self, messages: &[Value]) -> Result<Reply, String> {
        let (url, body) = self.request_body(messages);
        let mut attempt = 0;
        loop {
            let mut req = self.http.post(&url).json(&body);
            if let Some(k) = &self.cfg.api_key {
                req = req.bearer_auth(k.expose_secret());
            }
            let (retryable, error, retry_after) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|s| s.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                    if status.is_success() {
                        let v: Value = resp
                            .json()
                            .await
                            .map_err(|e| format!("the provider's reply is not JSON: {e}"))?;
                        return self.parse_reply(&v).ok_or_else(|| {
                            "the provider's reply has no message content".to_string()
                        });
                    }
                    let retryable = status.as_u16() == 429 || status.is_server_error();
                    (retryable, format!("HTTP {status}"), retry_after)
                }
                Err(e) if e.is_timeout() => (
                    true,
                    format!("timed out after {:?}", self.cfg.timeout),
                    None,
                ),
                Err(e) if e.is_connect() => (true, "connection failed".to_string(), None),
                Err(e) => (false, format!("request failed: {}", e.without_url()), None),
            };
            if !retryable || attempt >= self.cfg.max_retries {
                let tries = attempt + 1;
                return Err(format!(
                    "{error} ({tries} attempt{})",
                    if tries == 1 { "" } else { "s" }
                ));
            }
            let backoff =
                Duration::from_millis(250u64.saturating_mul(1 << attempt.min(8))).min(MAX_BACKOFF);
            let jitter = Duration::from_millis(rand::random_range(0..100));
            tokio::time::sleep(retry_after.unwrap_or(backoff) + jitter).await;
            attempt += 1;
        }
    }

    /// Adds the provider's findings to `report` (or says it was unavailable); returns what to record.
    pub async fn enrich(
        &self,
        report: &mut AnalysisReport,
        sql: &str,
        dialect: Dialect,
        explain: Option<&Value>,
        schema: Option<&SchemaSnapshot>,
    ) -> Vec<CallRecord> {
        let Prompt { system, user } = llm::prompt(sql, dialect, report, explain, schema);
        let hash = hex::encode(Sha256::digest(format!("{system}\n{user}").as_bytes()));
        let engine = self.engine();
        let record =
            |outcome, latency_ms, reply: Option<&Reply>, detail: Option<String>| CallRecord {
                provider: self.cfg.kind.as_str(),
                model: self.cfg.model.clone(),
                prompt_sha256: hash.clone(),
                prompt_tokens: reply.and_then(|r| r.prompt_tokens),
                completion_tokens: reply.and_then(|r| r.completion_tokens),
                latency_ms,
                outcome,
                detail,
            };
        if self.circuit_open() {
            llm::mark_unavailable(report, &engine, "circuit open after repeated failures");
            return vec![record(Outcome::CircuitOpen, 0.0, None, None)];
        }
        let mut messages = vec![
            json!({"role": "system", "content": system}),
            json!({"role": "user", "content": user}),
        ];
        let mut calls = Vec::new();
        for attempt in 0..2 {
            let started = Instant::now();
            let result = self.chat(&messages).await;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            let reply = match result {
                Ok(r) => r,
                Err(e) => {
                    self.record_result(false);
                    llm::mark_unavailable(report, &engine, &e);
                    calls.push(record(Outcome::Error, ms, None, Some(e)));
                    return calls;
                }
            };
            self.record_result(true);
            match llm::parse_output(&reply.content) {
                Ok(out) => {
                    let dropped = llm::merge(report, out, &engine, dialect, schema);
                    let detail = (!dropped.is_empty()).then(|| {
                        format!("dropped: {}", dropped.join("; "))
                            .chars()
                            .take(1000)
                            .collect()
                    });
                    calls.push(record(Outcome::Ok, ms, Some(&reply), detail));
                    return calls;
                }
                Err(reason) => {
                    calls.push(record(
                        Outcome::InvalidOutput,
                        ms,
                        Some(&reply),
                        Some(reason.to_string()),
                    ));
                    if attempt == 0 {
                        messages.push(json!({"role": "assistant", "content": reply.content}));
                        messages.push(json!({"role": "user", "content": format!(
                            "That answer was invalid ({reason}). Answer again with only a JSON object matching the schema.")}));
                    } else {
                        report.summary.push_str(&format!(
                            " The answer of {engine} was invalid twice and was dropped ({reason}); the rule findings stand."
                        ));
                    }
                }
            }
        }
        calls
    }
}
