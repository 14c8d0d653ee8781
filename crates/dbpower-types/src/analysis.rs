//! Analysis reports: what is wrong with a query class, why, and what to do about it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Ordered: `Low < Medium < High < Critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Issue {
    /// Stable rule id, e.g. `select_star`.
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    /// Why it is slow.
    pub description: String,
    /// What in the statement or plan triggered it.
    pub evidence: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecommendationKind {
    Index,
    Rewrite,
    Schema,
    Config,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Recommendation {
    pub kind: RecommendationKind,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    pub rationale: String,
    pub estimated_impact: String,
    /// The index an `index` recommendation builds (absent on advice without DDL and on reports
    /// stored before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<crate::IndexTarget>,
    /// Its what-if validation (docs/ANALYSIS.md), added when the analysis is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<crate::IndexValidation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnalysisReport {
    pub severity: Severity,
    pub summary: String,
    pub issues: Vec<Issue>,
    pub recommendations: Vec<Recommendation>,
    /// Which providers contributed (`rules`, `openai`, ...).
    pub engine: Vec<String>,
    /// Whether the statement parsed (or is a utility statement with nothing for the rules, which the
    /// summary says); when not, only token-level checks ran.
    pub parse_ok: bool,
}

/// One prompt sent to an LLM provider (or refused by its open circuit), as recorded for audit.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LlmCallView {
    pub id: i64,
    pub organization_id: i64,
    pub class_id: Option<i64>,
    /// `openai` or `ollama`.
    pub provider: String,
    pub model: String,
    /// SHA-256 of the prompt (system and user messages); the prompt itself is not stored.
    pub prompt_sha256: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub latency_ms: f64,
    /// `ok`, `invalid_output`, `error` or `circuit_open`.
    pub outcome: String,
    /// The failure, or what was dropped from a valid answer.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One plan shape a class ran with (`GET /api/v1/query-classes/{query_id}/plans`), newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlanView {
    /// The shape's fingerprint: 16 hex digits (node types, relations, indexes, join order and methods).
    pub shape: String,
    /// How each table is read: `orders: Index Scan using orders_email_idx`.
    pub summary: String,
    /// Executions that carried a plan of this shape, and their time.
    pub executions: i64,
    pub total_time_ms: f64,
    pub mean_ms: Option<f64>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The newest plan of this shape, as EXPLAIN gave it (scrubbed).
    #[schema(value_type = Object)]
    pub plan: serde_json::Value,
}

/// A stored analysis of a query class.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AnalysisView {
    #[serde(flatten)]
    pub report: AnalysisReport,
    pub analyzed_at: DateTime<Utc>,
    /// Index advice for this class that was applied, with its measured effect.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<crate::AppliedAdvice>,
}
