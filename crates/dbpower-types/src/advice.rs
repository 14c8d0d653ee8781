//! Index advice proven before it is shown: the what-if validations the platform asks agents for (the
//! signed `/api/v1/agents/validations` round trip), and what a recommendation says of its validation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::DatabaseType;

/// What an index recommendation's validation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValidationStatus {
    /// Waiting for an agent that monitors the class's database.
    Pending,
    /// The planner uses the index and its cost drops: the advice shows the numbers.
    Validated,
    /// The planner does not use the index, or it barely helps: not shown as advice.
    Rejected,
    /// No agent could validate it (no `whatif` source, no HypoPG, no sandbox, a sample without values).
    Unavailable,
}

impl ValidationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationStatus::Pending => "pending",
            ValidationStatus::Validated => "validated",
            ValidationStatus::Rejected => "rejected",
            ValidationStatus::Unavailable => "unavailable",
        }
    }

    pub fn parse(s: &str) -> Option<ValidationStatus> {
        [
            ValidationStatus::Pending,
            ValidationStatus::Validated,
            ValidationStatus::Rejected,
            ValidationStatus::Unavailable,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// How an index was validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMethod {
    /// A hypothetical index (PostgreSQL HypoPG) in the agent's own session: nothing is written.
    Hypopg,
    /// The index built on a sandbox copy the customer named, measured, then dropped.
    Sandbox,
}

impl ValidationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationMethod::Hypopg => "hypopg",
            ValidationMethod::Sandbox => "sandbox",
        }
    }

    pub fn parse(s: &str) -> Option<ValidationMethod> {
        [ValidationMethod::Hypopg, ValidationMethod::Sandbox]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Index advice that was applied: a later schema snapshot showed an index serving the recommendation.
/// The class's latency before and after comes from its hourly histograms: the week of hours before the
/// hour the index was first seen, and the hours after it (the hour itself mixes both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppliedAdvice {
    /// The recommended DDL.
    pub ddl: String,
    /// The index the snapshot showed.
    pub index: String,
    /// When a snapshot first showed it (the shipped statement's time).
    pub since: DateTime<Utc>,
    /// Executions measured in the week before, and since the hour after.
    pub calls_before: i64,
    pub calls_after: i64,
    pub p95_before_ms: Option<f64>,
    pub p95_after_ms: Option<f64>,
    /// `p95 1.8 s -> 12 ms since 2026-12-08 (orders_customer_id_idx)`.
    pub summary: String,
}

impl AppliedAdvice {
    /// The summary of the numbers.
    pub fn summarize(&mut self) {
        let day = self.since.format("%Y-%m-%d");
        self.summary = match (self.p95_before_ms, self.p95_after_ms) {
            (Some(b), Some(a)) => format!(
                "p95 {} -> {} since {day} ({})",
                duration(b),
                duration(a),
                self.index
            ),
            (_, None) => format!(
                "{} exists since {day}; no execution measured after it yet",
                self.index
            ),
            (None, Some(a)) => format!(
                "p95 {} since {day} ({}); nothing measured before it",
                duration(a),
                self.index
            ),
        };
    }
}

/// `12 ms`, `1.8 s`, `0.40 ms`.
fn duration(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// An index recommendation's validation, as the recommendation carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IndexValidation {
    pub status: ValidationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ValidationMethod>,
    /// The planner's total cost of the class's statement without the index, and with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_after: Option<f64>,
    /// Measured on a sandbox: the median run before and after the index was built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_ms: Option<f64>,
    /// Whether the plan with the index reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_index: Option<bool>,
    /// Why it was rejected or could not be validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
}

/// The index an index recommendation builds, for validation and consolidation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IndexTarget {
    /// The table as the statement names it (`orders` or `shop.orders`).
    pub table: String,
    /// Key columns in index order.
    pub columns: Vec<String>,
    /// How many leading columns the statement compares for equality (their order is free).
    #[serde(default)]
    pub equality: usize,
    /// An expression key instead of columns (`lower(email)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

impl IndexTarget {
    /// Whether an index keyed `key` serves this target: its first `equality` columns are the target's
    /// equality columns in any order, and the rest of the target's columns follow in order (names
    /// compared without case); an expression target, by the index's leading expression.
    pub fn served_by(&self, key: &[String]) -> bool {
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if let Some(e) = &self.expression {
            let lead = e.replace(' ', "");
            return key.first().is_some_and(|k| {
                same(k.trim_matches(['(', ')']).replace(' ', "").as_str(), &lead)
            });
        }
        let n = self.columns.len();
        if n == 0 || n > key.len() {
            return false;
        }
        let e = self.equality.min(n);
        let eq_ok = self.columns[..e]
            .iter()
            .all(|c| key[..e].iter().any(|k| same(k, c)));
        eq_ok
            && self.columns[e..]
                .iter()
                .zip(&key[e..n])
                .all(|(w, k)| same(w, k))
    }
}

/// The most validations one claim returns.
pub const MAX_VALIDATION_CLAIM: usize = 20;

/// `POST /api/v1/agents/validations/claim`: the agent asks for validations of the classes it ships.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationClaimRequest {
    /// At most [`MAX_VALIDATION_CLAIM`] (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One validation an agent is asked for: the index and the statement to plan with and without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationTask {
    pub id: i64,
    pub database_type: DatabaseType,
    /// The database the statement ran in, as the agent shipped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    /// The agent's source that shipped the statement (its configured name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The statement as the agent shipped it (scrubbed): `$n` texts are planned generically.
    pub sql: String,
    pub index: IndexTarget,
    /// The recommendation's DDL, for the log; the agent builds its own statement from `index`.
    pub ddl: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationClaim {
    pub tasks: Vec<ValidationTask>,
}

/// One validation's result, as the agent posts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationResult {
    pub id: i64,
    /// `validated`, `rejected` or `unavailable` (`pending` is refused).
    pub status: ValidationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<ValidationMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_after: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_index: Option<bool>,
    /// At most 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/agents/validations`: results of claimed validations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationResults {
    /// At most [`MAX_VALIDATION_CLAIM`].
    pub results: Vec<ValidationResult>,
}

/// What the platform did with posted results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidationReceipt {
    /// Results recorded.
    pub recorded: u32,
    /// Results for validations this agent does not hold (never claimed, lease lost, already done).
    pub ignored: u32,
}

/// A class an index serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServedClass {
    pub query_id: String,
    pub executions: i64,
    pub total_time_ms: f64,
}

/// One index proposed for a table, serving one or more classes' recommendations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProposedIndex {
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    pub ddl: String,
    /// The classes it serves, most time first.
    pub serves: Vec<ServedClass>,
    /// How many single-query recommendations it stands for.
    pub replaces: usize,
    /// The read/write trade: executions it speeds up against the writes that must maintain it.
    pub trade: String,
    /// The validation of the recommendation whose DDL this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<IndexValidation>,
}

/// Why an index is proposed for dropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Never scanned for at least the period asked for.
    Unused,
    /// The same key as another index.
    Duplicate,
    /// Its key is a left prefix of another index's: that index serves everything it does.
    RedundantPrefix,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DropProposal {
    pub index: String,
    pub columns: Vec<String>,
    pub reason: DropReason,
    pub detail: String,
    /// The index that serves what it served (duplicates and prefixes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scans: Option<i64>,
    pub ddl: String,
}

/// A recommendation a validation rejected: not advice, shown only on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RejectedAdvice {
    pub query_id: String,
    pub ddl: String,
    pub validation: IndexValidation,
}

/// The index advice for one table of one database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TableAdvice {
    pub database_type: DatabaseType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// Executions of the classes that write the table (INSERT, UPDATE, DELETE, REPLACE).
    pub writes: i64,
    /// Indexes the newest description of the table lists (0 when it was never described).
    pub existing_indexes: usize,
    pub create: Vec<ProposedIndex>,
    pub drop: Vec<DropProposal>,
    /// Recommendations an existing index already serves: `(query_id, index name)`.
    pub served_by_existing: Vec<ServedByExisting>,
    pub rejected: Vec<RejectedAdvice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServedByExisting {
    pub query_id: String,
    pub index: String,
}

/// `GET /api/v1/index-advice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IndexAdviceReport {
    /// An index never scanned for at least this many days is proposed for dropping.
    pub unused_days: u32,
    /// Single-query recommendations considered, and the indexes proposed for them.
    pub recommendations: usize,
    pub proposed: usize,
    pub tables: Vec<TableAdvice>,
}

/// Query of `GET /api/v1/index-advice`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IndexAdviceQuery {
    /// Days without a scan before an index is proposed for dropping: 1 to 3650, default 30.
    pub unused_days: Option<u32>,
    /// Only this database.
    pub database: Option<String>,
    /// Only this table (as named in advice, `orders` or `shop.orders`).
    pub table: Option<String>,
}

/// One class's index recommendation, as the workload's advice reads it (not a wire type).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassIndexAdvice {
    pub organization_id: i64,
    pub class_id: i64,
    pub query_id: String,
    pub database_type: DatabaseType,
    pub database_name: Option<String>,
    pub ddl: String,
    pub target: IndexTarget,
    pub executions: i64,
    pub total_time_ms: f64,
    pub validation: Option<IndexValidation>,
}

/// A class that writes (INSERT, UPDATE, DELETE, REPLACE), for the write rate of its table.
#[derive(Debug, Clone, PartialEq)]
pub struct WritingClass {
    pub organization_id: i64,
    pub database_type: DatabaseType,
    pub database_name: Option<String>,
    pub fingerprint: String,
    pub executions: i64,
}

/// The newest description of a table an agent shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSnapshot {
    pub organization_id: i64,
    pub database_type: DatabaseType,
    pub database_name: String,
    pub table: crate::TableSchema,
    pub seen_at: DateTime<Utc>,
}
