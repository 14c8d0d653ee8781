//! Agent heartbeats (`POST /api/v1/agents/heartbeat`, signed like ingestion) and the agents list the
//! admin panel shows (online or offline, last error, spool health).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSourceStatus {
    pub name: String,
    /// `mysql` or `postgresql`.
    pub kind: String,
    pub methods: Vec<String>,
    /// Queries collected by this source since the agent started.
    #[serde(default)]
    pub collected: u64,
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentHeartbeat {
    /// At most 128 characters.
    pub name: String,
    pub version: String,
    /// Seconds between collection rounds; the agent counts as offline after three missed rounds.
    pub interval_secs: u64,
    #[serde(default)]
    pub sources: Vec<AgentSourceStatus>,
    #[serde(default)]
    pub spool_bytes: u64,
    #[serde(default)]
    pub spool_batches: u64,
    /// Queries evicted from a full spool since the agent was installed.
    #[serde(default)]
    pub evicted_queries: u64,
    #[serde(default)]
    pub rejected_batches: u64,
    #[serde(default)]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    /// The api key the agent signs with (one agent per key).
    pub api_key_id: i64,
    pub organization_id: i64,
    pub team_id: Option<i64>,
    pub online: bool,
    pub last_seen: DateTime<Utc>,
    #[serde(flatten)]
    pub heartbeat: AgentHeartbeat,
}
