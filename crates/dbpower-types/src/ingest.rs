//! Slow-query ingestion bodies and the read-side views: slow queries, query classes, the dashboard.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{AnalysisView, Severity};
pub use dbpower_sql::hints::{LiteralHint, LiteralKind, StatementHints};

/// The largest number of queries in one ingestion request.
pub const MAX_BATCH: usize = 1000;
/// The largest `sql_text`, in bytes.
pub const MAX_SQL_BYTES: usize = 1024 * 1024;
/// Largest `execution_time_ms` / `lock_time_ms` accepted: 30 days in milliseconds.
pub const MAX_TIME_MS: f64 = 2_592_000_000.0;
/// Largest `calls` one item may stand for (a pg_stat_statements delta of one round).
pub const MAX_CALLS: i64 = 10_000_000_000;
/// Largest `rows_examined`, `rows_sent` or `rows_affected` of one item.
pub const MAX_ROWS: i64 = 1_000_000_000_000_000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseType {
    Mysql,
    Postgresql,
}

impl DatabaseType {
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseType::Mysql => "mysql",
            DatabaseType::Postgresql => "postgresql",
        }
    }
    pub fn parse(s: &str) -> Option<DatabaseType> {
        match s {
            "mysql" => Some(DatabaseType::Mysql),
            "postgresql" => Some(DatabaseType::Postgresql),
            _ => None,
        }
    }
}

/// One collected slow query, as an agent sends it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowQueryIn {
    /// The statement (at most 1 MiB). Scrubbed again on arrival.
    pub sql_text: String,
    /// Milliseconds, 0 to 2,592,000,000 (30 days).
    #[schema(minimum = 0, maximum = 2592000000_f64)]
    pub execution_time_ms: f64,
    pub database_type: DatabaseType,
    #[serde(default)]
    pub database_name: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub client_host: Option<String>,
    #[serde(default)]
    pub rows_examined: Option<i64>,
    #[serde(default)]
    pub rows_sent: Option<i64>,
    #[serde(default)]
    pub rows_affected: Option<i64>,
    #[serde(default)]
    pub lock_time_ms: Option<f64>,
    /// How many executions this entry stands for (pg_stat_statements deltas); 1 to 10^10, default 1.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10000000000_i64)]
    pub calls: Option<i64>,
    /// When it ran (RFC 3339); default: arrival time.
    #[serde(default)]
    pub observed_at: Option<DateTime<Utc>>,
    /// An EXPLAIN plan in JSON (MySQL `FORMAT=JSON` or PostgreSQL `FORMAT JSON`).
    #[serde(default)]
    pub explain: Option<serde_json::Value>,
    /// The agent source that collected it.
    #[serde(default)]
    pub source: Option<String>,
    /// The tables the statement touches, with columns, indexes and row estimates (for index advice).
    #[serde(default)]
    pub schema: Option<crate::SchemaSnapshot>,
    /// A sample only (default false): another collection method of the same source counts this
    /// statement's executions (`pg_stat_statements` or `performance_schema` next to a log), so this entry
    /// adds its text, plan and schema to the class and nothing to its counts, times, rows or histogram.
    /// Stored with `calls` 0; `calls` must then be absent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sample_only: bool,
    /// Facts about the statement's literals that strict scrubbing erases, taken on the host before
    /// scrubbing: the kind of a literal compared with a column, a JSON key that reads as a field name
    /// (at most 64; docs/AGENT.md). The analysis reads them; they are never shown as the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hints: Option<StatementHints>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    pub queries: Vec<SlowQueryIn>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IngestResponse {
    pub accepted: usize,
    /// Stored slow-query ids, in the order sent.
    pub ids: Vec<i64>,
    /// The `X-Request-ID` this batch was stored under.
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlowQueryView {
    pub id: i64,
    pub query_id: String,
    /// Scrubbed text.
    pub sql_text: String,
    pub database_type: DatabaseType,
    pub database_name: Option<String>,
    pub user: Option<String>,
    pub client_host: Option<String>,
    pub execution_time_ms: f64,
    pub lock_time_ms: Option<f64>,
    pub rows_examined: Option<i64>,
    pub rows_sent: Option<i64>,
    pub rows_affected: Option<i64>,
    /// The executions this row stands for: 1 for a logged execution, a delta's count for
    /// `pg_stat_statements`/`performance_schema`, 0 for a sample whose executions another method of the
    /// same source counts.
    pub calls: i64,
    pub observed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub source: Option<String>,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
    /// The class's analysis severity; null until analyzed.
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SlowQueryDetail {
    #[serde(flatten)]
    pub query: SlowQueryView,
    pub explain: Option<serde_json::Value>,
    pub class: QueryClassView,
    pub analysis: Option<AnalysisView>,
}

/// A query class: every slow query of one fingerprint in one organization (pt-query-digest's view).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueryClassView {
    pub query_id: String,
    pub database_type: DatabaseType,
    pub fingerprint: String,
    pub fingerprint_version: i32,
    /// A scrubbed example.
    pub sample_sql: String,
    pub count: i64,
    pub total_time_ms: f64,
    pub avg_time_ms: f64,
    pub min_time_ms: Option<f64>,
    pub max_time_ms: f64,
    pub p95_time_ms: Option<f64>,
    pub p99_time_ms: Option<f64>,
    pub lock_time_ms: Option<f64>,
    /// Null when unknown: no execution reported it (PostgreSQL's sources do not).
    pub rows_examined: Option<i64>,
    pub rows_sent: Option<i64>,
    /// rows_examined / rows_sent; null when either is unknown or no rows were sent.
    pub rows_ratio: Option<f64>,
    pub databases: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SeriesPoint {
    pub hour: DateTime<Utc>,
    pub count: i64,
    pub total_time_ms: f64,
    pub avg_time_ms: f64,
    pub max_time_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueryClassDetail {
    #[serde(flatten)]
    pub class: QueryClassView,
    pub analysis: Option<AnalysisView>,
    /// Hourly points, oldest first.
    pub series: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DayPoint {
    pub date: NaiveDate,
    pub queries: i64,
    pub avg_time_ms: f64,
    /// Slow queries of that day whose class is CRITICAL.
    pub critical: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DashboardView {
    pub total_queries: i64,
    /// Analyzed query classes with at least one issue.
    pub total_issues: i64,
    /// Query classes whose analysis is CRITICAL.
    pub critical_issues: i64,
    pub avg_time_ms: f64,
    /// The last 7 days, one entry per day (UTC), oldest first, including empty days.
    pub chart_data: Vec<DayPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnalysisStatus {
    #[default]
    All,
    Analyzed,
    Unanalyzed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlowQuerySort {
    /// Newest first (default).
    #[default]
    ObservedAt,
    /// Slowest first.
    ExecutionTimeMs,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlowQueryFilter {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub status: Option<AnalysisStatus>,
    pub severity: Option<Severity>,
    pub database_type: Option<DatabaseType>,
    pub database_name: Option<String>,
    pub query_id: Option<String>,
    /// Case-insensitive substring of the (scrubbed) statement.
    pub q: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub min_time_ms: Option<f64>,
    pub sort: Option<SlowQuerySort>,
}

/// Which class `GET /api/v1/query-classes/{query_id}` reads when its query id names several: a MySQL
/// and a PostgreSQL class share ids, and a super admin sees every organization's.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueryClassSelector {
    /// The class's engine; needed when the query id names classes of both.
    pub database_type: Option<DatabaseType>,
    /// The class's organization; for a super admin when the query id names classes of several.
    pub organization_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClassSort {
    /// Largest total time first (default, pt-query-digest's ranking).
    #[default]
    TotalTime,
    Count,
    /// Largest average time first.
    AvgTime,
    P95,
    MaxTime,
    /// Largest rows examined per row sent first (classes whose ratio is unknown last: no rows sent, or
    /// no rows examined reported, as with PostgreSQL's sources).
    RowsRatio,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueryClassFilter {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub status: Option<AnalysisStatus>,
    pub severity: Option<Severity>,
    pub database_type: Option<DatabaseType>,
    pub query_id: Option<String>,
    pub q: Option<String>,
    pub sort: Option<ClassSort>,
}
