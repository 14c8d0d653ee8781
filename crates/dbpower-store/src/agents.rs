//! Agents: the [`AgentStore`] trait (each api key's newest heartbeat), its record and row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::Scope;
use dbpower_types::ApiKeyView;
use sqlx::types::Json;

use crate::{PageRequest, Result};

/// Agents and their heartbeats (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Stores an agent's newest heartbeat (one agent per api key; attribution from the key).
    async fn record_heartbeat(&self, key: &ApiKeyView, heartbeat: &serde_json::Value)
    -> Result<()>;
    /// A page of the agents visible in `scope` (by api key), with their newest heartbeat and when it
    /// arrived, and how many there are.
    async fn list_agents(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<(Vec<AgentRecord>, i64)>;
}

/// An agent's newest heartbeat, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub api_key_id: i64,
    pub organization_id: i64,
    pub team_id: Option<i64>,
    pub heartbeat: serde_json::Value,
    pub last_seen: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AgentRow {
    api_key_id: i64,
    organization_id: i64,
    team_id: Option<i64>,
    heartbeat: Json<serde_json::Value>,
    last_seen: DateTime<Utc>,
}

impl From<AgentRow> for AgentRecord {
    fn from(r: AgentRow) -> Self {
        AgentRecord {
            api_key_id: r.api_key_id,
            organization_id: r.organization_id,
            team_id: r.team_id,
            heartbeat: r.heartbeat.0,
            last_seen: r.last_seen,
        }
    }
}
