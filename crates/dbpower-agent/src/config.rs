//! The agent's configuration (`agent.toml`): where to ship, what to collect from which databases, what
//! to leave out, and the spool. Unknown keys are errors so typos are caught. The signing secret comes
//! from the file, a file it names, or `DBPOWER_AGENT_SECRET`; it is never printed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use regex::Regex;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub platform: Platform,
    #[serde(default)]
    pub agent: AgentSettings,
    #[serde(default)]
    pub spool: SpoolSettings,
    #[serde(rename = "source", default)]
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// `https://dbpower.example.com` (the gateway or `dbpower serve`).
    pub url: String,
    /// The api key's public id (`dbpk_...`).
    pub key_id: String,
    #[serde(default)]
    pub secret: Option<SecretString>,
    /// A file holding the secret (first line).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

fn default_schema() -> bool {
    true
}

fn default_describe_every() -> u64 {
    3600
}

fn default_watch_every() -> u64 {
    300
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scrub {
    /// Every literal replaced: nothing from a customer row leaves the host.
    #[default]
    Strict,
    /// Literals kept, personal data redacted: only when the operator lowers it explicitly.
    PiiOnly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    /// Shown in the admin panel (default: the host name).
    pub name: Option<String>,
    pub interval_secs: u64,
    pub scrub: Scrub,
    /// Queries per shipped batch (at most the platform's 1,000).
    pub batch_size: usize,
    /// Serve Prometheus metrics here (e.g. `127.0.0.1:9187`); off when absent.
    pub metrics_listen: Option<String>,
    /// Send a heartbeat to the platform after each round.
    pub heartbeat: bool,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            name: None,
            interval_secs: 60,
            scrub: Scrub::Strict,
            batch_size: 500,
            metrics_listen: None,
            heartbeat: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolSettings {
    pub dir: PathBuf,
    /// Oldest batches are evicted (and counted) beyond this many bytes.
    pub max_bytes: u64,
}

impl Default for SpoolSettings {
    fn default() -> Self {
        SpoolSettings {
            dir: PathBuf::from("./dbpower-agent-spool"),
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// What a source is for.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceRole {
    #[default]
    Collect,
    Sandbox,
}

fn default_sandbox_runs() -> u32 {
    5
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Mysql,
    Postgresql,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// MySQL/MariaDB: tail the slow-log file.
    SlowLogFile,
    /// MySQL/MariaDB: `performance_schema.events_statements_summary_by_digest` deltas.
    PerformanceSchema,
    /// MySQL/MariaDB: the `mysql.slow_log` table (`log_output = TABLE`).
    SlowLogTable,
    /// PostgreSQL: `pg_stat_statements` deltas.
    PgStatStatements,
    /// PostgreSQL: the server log with `log_min_duration_statement` (stderr, csvlog or jsonlog).
    PostgresLog,
}

impl Method {
    /// Whether the method reads the server's own per-statement counters, which count every execution
    /// (a log holds only the executions slower than its threshold).
    pub(crate) fn counts_every_execution(self) -> bool {
        matches!(self, Method::PerformanceSchema | Method::PgStatStatements)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// Begin with what is written after the agent first starts (the default).
    #[default]
    End,
    /// Read existing log content too.
    Beginning,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Exclude {
    /// Query ids (16 hex digits) or fingerprints to leave out.
    pub fingerprints: Vec<String>,
    /// Regular expressions matched against the statement text.
    pub patterns: Vec<String>,
    pub users: Vec<String>,
    pub databases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    /// `mysql://user:password@host:3306/` or `postgres://user@host:5432/db`.
    pub url: String,
    /// What is collected (none on a sandbox).
    #[serde(default)]
    pub methods: Vec<Method>,
    /// `collect` (the default): a monitored server. `sandbox`: a MySQL/MariaDB replica or staging copy
    /// where index advice is validated by building the index, timing the statement and dropping the
    /// index again (docs/AGENT.md); nothing is collected from it.
    #[serde(default)]
    pub role: SourceRole,
    /// Sandbox: the database that holds the copy of a statement's database (default: the same name).
    #[serde(default)]
    pub sandbox_database: Option<String>,
    /// Sandbox: timed runs of the statement before and after the index is built (1 to 20).
    #[serde(default = "default_sandbox_runs")]
    pub sandbox_runs: u32,
    /// Statements faster than this are not shipped (log methods; digest methods use the mean).
    #[serde(default)]
    pub min_duration_ms: f64,
    /// The log file for `slow_log_file` / `postgres_log`; default: asked from the server.
    #[serde(default)]
    pub log_path: Option<PathBuf>,
    #[serde(default)]
    pub start_at: StartAt,
    #[serde(default)]
    pub exclude: Exclude,
    /// EXPLAIN collected SELECTs (read-only transaction, statement timeout, never ANALYZE).
    #[serde(default)]
    pub explain: bool,
    /// Ship a schema snapshot (columns, indexes, row estimates) of the tables a query touches. On by
    /// default: it reads only the catalog, and index advice without it cannot be checked against the
    /// indexes that exist.
    #[serde(default = "default_schema")]
    pub schema: bool,
    /// A statement shape that got a plan or a schema snapshot is described again only after this many
    /// seconds (the EXPLAIN budget on the customer's host); 0: every round.
    #[serde(default = "default_describe_every")]
    pub describe_every_secs: u64,
    /// Report changes as markers (docs/AGENT.md): a described table's columns or indexes, or a server
    /// setting the advice reads. Needs `schema`; on by default (it reads only the catalog).
    #[serde(default = "default_schema")]
    pub watch_changes: bool,
    /// How often the described tables and the settings are read again for changes; 0: every round.
    #[serde(default = "default_watch_every")]
    pub watch_every_secs: u64,
    /// Validate the platform's index advice on this PostgreSQL source with hypothetical indexes
    /// (HypoPG, in the agent's own session: nothing is written). Off by default (docs/AGENT.md).
    #[serde(default)]
    pub whatif: bool,
    /// MariaDB: capture plans with `ANALYZE FORMAT=JSON` (measured rows and time per table) instead of
    /// `EXPLAIN FORMAT=JSON`. The SELECT then runs, in the same read-only transaction, for at most the
    /// statement timeout (2 s). Needs `explain = true`; off by default (docs/AGENT.md).
    #[serde(default)]
    pub explain_analyze: bool,
}

/// Exclusion rules, compiled.
#[derive(Debug, Default)]
pub(crate) struct Exclusions {
    pub ids: Vec<String>,
    pub patterns: Vec<Regex>,
    pub users: Vec<String>,
    pub databases: Vec<String>,
}

impl Exclusions {
    pub(crate) fn compile(e: &Exclude) -> anyhow::Result<Exclusions> {
        let patterns = e
            .patterns
            .iter()
            .map(|p| {
                Regex::new(p).with_context(|| {
                    format!("exclude pattern {p:?} is not a valid regular expression")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Exclusions {
            ids: e
                .fingerprints
                .iter()
                .map(|f| f.trim().to_lowercase())
                .collect(),
            patterns,
            users: e.users.clone(),
            databases: e.databases.clone(),
        })
    }

    /// Whether a statement is left out (the raw text is matched before scrubbing, on the host).
    pub(crate) fn excludes(
        &self,
        sql: &str,
        query_id: &str,
        fingerprint: &str,
        user: Option<&str>,
        db: Option<&str>,
    ) -> bool {
        self.ids
            .iter()
            .any(|i| i == query_id || i == &fingerprint.to_lowercase())
            || self.patterns.iter().any(|p| p.is_match(sql))
            || user.is_some_and(|u| self.users.iter().any(|x| x == u))
            || db.is_some_and(|d| self.databases.iter().any(|x| x == d))
    }
}

impl AgentConfig {
    pub fn load(path: &Path) -> anyhow::Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut cfg: AgentConfig = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid agent configuration", path.display()))?;
        cfg.resolve_secret()?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_secret(&mut self) -> anyhow::Result<()> {
        if let Ok(s) = std::env::var("DBPOWER_AGENT_SECRET")
            && !s.trim().is_empty()
        {
            self.platform.secret = Some(SecretString::from(s.trim().to_string()));
        } else if let Some(f) = &self.platform.secret_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the secret file {}", f.display()))?;
            let line = text.lines().next().unwrap_or("").trim().to_string();
            self.platform.secret = Some(SecretString::from(line));
        }
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let p = &self.platform;
        if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
            bail!(
                "platform.url must start with http:// or https:// (got {:?})",
                p.url
            );
        }
        if p.key_id.trim().is_empty() {
            bail!("platform.key_id is empty: use the key id shown when the api key was created");
        }
        if p.secret
            .as_ref()
            .is_none_or(|s| s.expose_secret().is_empty())
        {
            bail!(
                "no signing secret: set platform.secret, platform.secret_file or DBPOWER_AGENT_SECRET"
            );
        }
        if self.sources.is_empty() {
            bail!("no [[source]] configured");
        }
        if !(1..=1000).contains(&self.agent.batch_size) {
            bail!("agent.batch_size must be between 1 and 1000");
        }
        if self.agent.interval_secs == 0 {
            bail!("agent.interval_secs must be at least 1");
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.sources {
            if s.name.is_empty()
                || !s
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!(
                    "source name {:?} must be letters, digits, '-' or '_'",
                    s.name
                );
            }
            if !names.insert(&s.name) {
                bail!("source name {:?} is used twice", s.name);
            }
            if s.explain_analyze && (s.kind != SourceKind::Mysql || !s.explain) {
                bail!(
                    "source {}: explain_analyze is for a MySQL/MariaDB source with explain = true",
                    s.name
                );
            }
            if s.role == SourceRole::Sandbox {
                if s.kind != SourceKind::Mysql {
                    bail!(
                        "source {}: role = \"sandbox\" is for MySQL/MariaDB (PostgreSQL validates with whatif = true)",
                        s.name
                    );
                }
                if !s.methods.is_empty() || s.whatif {
                    bail!(
                        "source {}: a sandbox collects nothing: leave methods and whatif out",
                        s.name
                    );
                }
                if !(1..=20).contains(&s.sandbox_runs) {
                    bail!("source {}: sandbox_runs must be 1 to 20", s.name);
                }
                if s.sandbox_database
                    .as_ref()
                    .is_some_and(|d| d.is_empty() || d.len() > 64 || d.contains(['`', '\0']))
                {
                    bail!("source {}: sandbox_database is not a database name", s.name);
                }
                continue;
            }
            if s.methods.is_empty() {
                bail!("source {}: no methods", s.name);
            }
            for m in &s.methods {
                let ok = match s.kind {
                    SourceKind::Mysql => matches!(
                        m,
                        Method::SlowLogFile | Method::PerformanceSchema | Method::SlowLogTable
                    ),
                    SourceKind::Postgresql => {
                        matches!(m, Method::PgStatStatements | Method::PostgresLog)
                    }
                };
                if !ok {
                    bail!(
                        "source {}: method {m:?} does not apply to a {:?} source",
                        s.name,
                        s.kind
                    );
                }
            }
            if s.whatif && s.kind != SourceKind::Postgresql {
                bail!(
                    "source {}: whatif validates with HypoPG, which only PostgreSQL has",
                    s.name
                );
            }
            Exclusions::compile(&s.exclude).with_context(|| format!("source {}", s.name))?;
        }
        Ok(())
    }

    pub fn secret(&self) -> &str {
        self.platform
            .secret
            .as_ref()
            .map(|s| s.expose_secret())
            .unwrap_or("")
    }

    pub fn agent_name(&self) -> String {
        self.agent.name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "dbpower-agent".into())
        })
    }
}
