//! The layers under the settings: a TOML table built from the file, the `DBPOWER_*` environment and the
//! flags, in that order, with the keys of earlier releases moved to where they live now.

use std::path::Path;

use anyhow::Context;

use super::{Overrides, Warnings};

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    Int,
    Bool,
}

/// Every key, its type, and whether it is secret (never echoed). Order follows docs/CONFIG.md.
pub(super) const KEYS: &[(&str, Kind)] = &[
    ("env", Kind::Str),
    ("serve.listen", Kind::Str),
    ("gateway.listen", Kind::Str),
    ("backend.listen", Kind::Str),
    ("analyzer.listen", Kind::Str),
    ("cors_origins", Kind::Str),
    ("trusted_proxies", Kind::Str),
    ("metrics_token", Kind::Str),
    ("gateway.backend_url", Kind::Str),
    ("gateway.analyzer_url", Kind::Str),
    ("gateway.timeout_secs", Kind::Int),
    ("data_dir", Kind::Str),
    ("database_url", Kind::Str),
    ("database_read_url", Kind::Str),
    ("database_read_max_lag_ms", Kind::Int),
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
    ("analysis_debounce_ms", Kind::Int),
    ("retention_interval_secs", Kind::Int),
    ("login.max_failures_per_account", Kind::Int),
    ("login.max_failures_per_ip", Kind::Int),
    ("login.window_secs", Kind::Int),
    ("rate_limit.enabled", Kind::Bool),
    ("rate_limit.org_per_minute", Kind::Int),
    ("rate_limit.org_per_hour", Kind::Int),
    ("rate_limit.ip_per_minute", Kind::Int),
    ("rate_limit.agent_per_minute", Kind::Int),
    ("rate_limit.agent_per_hour", Kind::Int),
    ("rate_limit.agent_queries_per_minute", Kind::Int),
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
    ("alerts.enabled", Kind::Bool),
    ("alerts.evaluate_every_secs", Kind::Int),
    ("alerts.window_secs", Kind::Int),
    ("alerts.baseline_days", Kind::Int),
    ("alerts.delivery_timeout_secs", Kind::Int),
    ("alerts.max_attempts", Kind::Int),
    ("alerts.retry_base_ms", Kind::Int),
    ("alerts.lease_secs", Kind::Int),
    ("alerts.smtp_url", Kind::Str),
    ("alerts.smtp_from", Kind::Str),
    ("alerts.allow_private_targets", Kind::Bool),
    ("alerts.public_url", Kind::Str),
];

/// The names of every setting as environment variables, for docs checks.
pub fn env_names() -> Vec<String> {
    KEYS.iter().map(|(k, _)| env_name(k)).collect()
}

/// Keys of earlier releases and where each lives now. A legacy key is still read, with a warning, and
/// applies where the new key is set in no layer (so a new key in the file beats a legacy one in the
/// environment).
pub(super) const LEGACY: &[(&str, &[&str])] = &[
    ("listen", &["serve.listen", "gateway.listen"]),
    ("backend_listen", &["backend.listen"]),
    ("analyzer_listen", &["analyzer.listen"]),
];

/// The environment name of a dotted key.
pub(super) fn env_name(key: &str) -> String {
    format!("DBPOWER_{}", key.replace('.', "__").to_uppercase())
}

/// The merged layers.
pub(super) struct Merged {
    /// Every layer in one table, legacy keys moved.
    pub(super) table: toml::Table,
    /// What was met on the way (unknown or legacy keys).
    pub(super) warnings: Warnings,
    /// Which new keys came from a legacy one (new key, legacy environment name), so that an error can
    /// name what the user actually set.
    pub(super) moved: Vec<(String, String)>,
}

/// The layers merged into one table.
pub(super) fn merged(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> anyhow::Result<Merged> {
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
        let kind = match KEYS.iter().find(|(k, _)| *k == key) {
            Some((_, kind)) => *kind,
            None if LEGACY.iter().any(|(k, _)| *k == key) => Kind::Str,
            None => {
                warnings.push(format!("ignoring unknown setting {name}"));
                continue;
            }
        };
        set_path(&mut table, &key, typed(&name, kind, value)?);
    }
    if let Some(v) = &overrides.listen {
        set_path(&mut table, "serve.listen", toml::Value::String(v.clone()));
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
    let moved = move_legacy(&mut table, &mut warnings);
    Ok(Merged {
        table,
        warnings,
        moved,
    })
}

/// An environment value as the TOML value its key expects.
fn typed(name: &str, kind: Kind, value: String) -> anyhow::Result<toml::Value> {
    Ok(match kind {
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
    })
}

/// Moves each legacy key to where it lives now (where that is not set), with a warning.
fn move_legacy(table: &mut toml::Table, warnings: &mut Warnings) -> Vec<(String, String)> {
    let mut moved = Vec::new();
    for (old, news) in LEGACY {
        let Some(value) = table.remove(*old) else {
            continue;
        };
        let now = news
            .iter()
            .map(|n| format!("{n} ({})", env_name(n)))
            .collect::<Vec<_>>()
            .join(" or ");
        warnings.push(format!(
            "setting {old} ({}) is deprecated: use {now}",
            env_name(old)
        ));
        for new in *news {
            let (section, key) = new.split_once('.').unwrap_or(("", new));
            let unset = table
                .get(section)
                .and_then(toml::Value::as_table)
                .is_none_or(|t| !t.contains_key(key));
            if unset {
                set_path(table, new, value.clone());
                moved.push((new.to_string(), env_name(old)));
            }
        }
    }
    moved
}

pub(super) fn parse_bool(s: &str) -> Option<bool> {
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
