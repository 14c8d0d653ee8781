//! Organizations, teams, identities and API keys: views and create/update bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How much of a statement's text is redacted before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScrubLevel {
    /// Every string and numeric literal is replaced; the stored text is the normalized statement.
    #[default]
    Strict,
    /// Only recognised personal data (emails, IPs, card numbers, phones, SSNs) is replaced.
    PiiOnly,
}

/// Whether statements of this organization may be sent to an LLM provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AiPolicy {
    /// Only the built-in rule engine analyses statements.
    #[default]
    RulesOnly,
    /// Configured LLM providers may also be used (scrubbed, normalized SQL only).
    AllowLlm,
}

/// Organization settings, stored as JSON. Unknown keys are rejected so typos are caught.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OrgSettings {
    pub scrub_level: ScrubLevel,
    pub ai_policy: AiPolicy,
    /// Requests per minute for this organization; `null` uses the deployment default.
    pub rate_limit_per_minute: Option<u32>,
    /// Requests per hour for this organization; `null` uses the deployment default.
    pub rate_limit_per_hour: Option<u32>,
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            scrub_level: ScrubLevel::Strict,
            ai_policy: AiPolicy::RulesOnly,
            rate_limit_per_minute: None,
            rate_limit_per_hour: None,
        }
    }
}

/// A change to an organization's settings: keys that are absent keep their value. The tenant's own
/// settings (`scrub_level`) are the ORG_ADMIN's; the platform's (`ai_policy`, rate limits) are the
/// SUPER_ADMIN's, except that an ORG_ADMIN may lower its limits or turn LLM use off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgSettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrub_level: Option<ScrubLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_policy: Option<AiPolicy>,
    /// Requests per minute; `null` returns to the deployment default; absent: unchanged.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, nullable, minimum = 1)]
    pub rate_limit_per_minute: Option<Option<u32>>,
    /// Requests per hour; `null` returns to the deployment default; absent: unchanged.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<u32>, nullable, minimum = 1)]
    pub rate_limit_per_hour: Option<Option<u32>>,
}

/// A key that is present is `Some`, even when its value is `null`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl OrgSettingsPatch {
    /// `current` with this patch's keys applied.
    pub fn apply(&self, current: &OrgSettings) -> OrgSettings {
        OrgSettings {
            scrub_level: self.scrub_level.unwrap_or(current.scrub_level),
            ai_policy: self.ai_policy.unwrap_or(current.ai_policy),
            rate_limit_per_minute: self
                .rate_limit_per_minute
                .unwrap_or(current.rate_limit_per_minute),
            rate_limit_per_hour: self
                .rate_limit_per_hour
                .unwrap_or(current.rate_limit_per_hour),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganizationView {
    pub id: i64,
    pub name: String,
    pub settings: OrgSettings,
    /// Slow queries older than this many days are deleted (default 90).
    pub retention_days: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    pub name: String,
    #[serde(default)]
    pub settings: Option<OrgSettings>,
    #[serde(default)]
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[serde(default)]
    pub name: Option<String>,
    /// Only the settings named here change; the others keep their values.
    #[serde(default)]
    pub settings: Option<OrgSettingsPatch>,
    #[serde(default)]
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TeamView {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// SUPER_ADMIN only; others create in their own organization.
    #[serde(default)]
    pub organization_id: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeamRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// An identity: a database, application or service account whose queries a team owns.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdentityView {
    pub id: i64,
    pub organization_id: i64,
    pub team_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIdentityRequest {
    pub team_id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIdentityRequest {
    #[serde(default)]
    pub name: Option<String>,
}

/// An agent credential. The signing secret is only ever returned by the create call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    pub id: i64,
    /// Public key id, sent by agents as `X-API-Key`.
    pub key_id: String,
    pub name: String,
    pub organization_id: i64,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    #[serde(default)]
    pub team_id: Option<i64>,
    #[serde(default)]
    pub identity_id: Option<i64>,
    /// SUPER_ADMIN only; others create in their own organization.
    #[serde(default)]
    pub organization_id: Option<i64>,
}

/// The create response: the key and, this once, its signing secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The HMAC signing secret. Shown only in this response; store it in the agent's configuration.
    pub secret: String,
}
