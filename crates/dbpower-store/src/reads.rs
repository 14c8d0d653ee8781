//! Read models over ingested data: the [`ReadStore`] trait (the slow-query list and detail, query
//! classes and their hourly series, analyses, the dashboard), its records and rows, and the SQL
//! fragments its statements share.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::Scope;
use dbpower_types::{
    AnalysisView, ClassSort, DatabaseType, PlanView, QueryClassFilter, QueryClassView, SeriesPoint,
    Severity, SlowQueryFilter, SlowQueryView,
};

use crate::{PageRequest, Result, StoreError};

/// Filtered slow-query lists that the rollups cannot count are counted up to this many rows.
pub const COUNT_CAP: i64 = 10_000;

/// A list's total: exact, or, when `capped`, [`COUNT_CAP`], which at least that many items reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    pub capped: bool,
}

/// A class that a query id names: which engine's, in which organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassRef {
    pub id: i64,
    pub database_type: DatabaseType,
    pub organization_id: i64,
}

/// Which classes a query id may name: narrowed by engine and (for a super admin) organization.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassLookup<'a> {
    pub query_id: &'a str,
    pub database_type: Option<DatabaseType>,
    pub organization_id: Option<i64>,
}

/// Read models over ingested data (a supertrait of [`crate::Store`]).
#[async_trait]
pub trait ReadStore: Send + Sync {
    /// A page of slow queries and their total (exact from the rollups when the filters allow, else
    /// counted on the rows up to [`COUNT_CAP`]).
    async fn list_slow_queries(
        &self,
        scope: &Scope,
        filter: &SlowQueryFilter,
        page: PageRequest,
    ) -> Result<(Vec<SlowQueryView>, Total)>;
    async fn slow_query_by_id(&self, scope: &Scope, id: i64) -> Result<SlowQueryRecord>;
    /// A class by id as `scope` sees it (call with an id obtained through a scoped read). ORG_ADMIN and
    /// SUPER_ADMIN see the organization's class; a team or an identity sees only its own part: the
    /// newest of its statements as the sample, its databases, its count and times from its rollups, null
    /// for the statistics kept only per class, and the severity only when no other owner has rows in it.
    async fn query_class_by_id(&self, scope: &Scope, class_id: i64) -> Result<QueryClassView>;
    /// The classes the scope can see that `lookup` names (the same query id may be a MySQL and a
    /// PostgreSQL class, and, for a super admin, a class of several organizations), by organization and
    /// engine; at most 20.
    async fn query_classes_named(
        &self,
        scope: &Scope,
        lookup: ClassLookup<'_>,
    ) -> Result<Vec<ClassRef>>;
    /// The classes `scope` can see, each as [`ReadStore::query_class_by_id`] shows it; filters and sorts
    /// apply to what is shown (per-scope totals for a team or an identity).
    async fn list_query_classes(
        &self,
        scope: &Scope,
        filter: &QueryClassFilter,
        page: PageRequest,
    ) -> Result<(Vec<QueryClassView>, i64)>;
    async fn class_series(
        &self,
        scope: &Scope,
        class_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<SeriesPoint>>;
    /// The class's analysis, derived from its shared sample: a team or an identity sees it only when the
    /// class has no rows of another owner (`None` otherwise).
    async fn analysis_for_class(
        &self,
        scope: &Scope,
        class_id: i64,
    ) -> Result<Option<AnalysisView>>;
    /// The plan shapes the class ran with, newest first (at most 50): derived from samples like the
    /// analysis, so a team or an identity sees them only on a class wholly its own.
    async fn class_plans(&self, scope: &Scope, class_id: i64) -> Result<Vec<PlanView>>;
    async fn dashboard(&self, scope: &Scope, since: DateTime<Utc>) -> Result<DashboardData>;
}

/// A slow query row with the id of its class (for detail views).
#[derive(Debug, Clone)]
pub struct SlowQueryRecord {
    pub view: dbpower_types::SlowQueryView,
    pub class_id: i64,
    pub organization_id: i64,
    pub explain: Option<serde_json::Value>,
}

/// Raw dashboard numbers; the service turns them into the 7-day view.
#[derive(Debug, Clone)]
pub struct DashboardData {
    pub total_queries: i64,
    pub total_time_ms: f64,
    /// Analyzed classes in scope with at least one issue.
    pub issues: i64,
    /// Classes in scope whose analysis is CRITICAL.
    pub critical: i64,
    /// (UTC day as YYYY-MM-DD, queries, total time, queries of CRITICAL classes).
    pub days: Vec<(String, i64, f64, i64)>,
}

/// The columns of a slow query (alias `s`) joined with its class (alias `c`), the class's severity as
/// `scope` may see it (see [`crate::scope_sql::class_severity`]).
pub(crate) fn slow_cols(scope: &dbpower_core::Scope) -> String {
    format!(
        "s.id, s.query_id, s.sql_text, s.database_type, s.database_name, s.db_user, \
         s.client_host, s.execution_time_ms, s.lock_time_ms, s.rows_examined, s.rows_sent, \
         s.rows_affected, s.calls, \
         s.observed_at, s.created_at, s.source, s.team_id, s.identity_id, {} AS severity, \
         s.class_id, \
         s.organization_id",
        crate::scope_sql::class_severity(scope, "c")
    )
}

pub(crate) const CLASS_COLS: &str = "c.id, c.database_type, c.query_id, c.fingerprint, \
     c.fingerprint_version, c.sample_sql, c.count, c.total_time_ms, c.min_time_ms, c.max_time_ms, \
     c.lock_time_ms, c.rows_examined, c.rows_known, c.rows_sent, c.first_seen, c.last_seen, c.p95_time_ms, \
     c.p99_time_ms, c.severity";

pub(crate) fn parse_db_type(s: &str) -> Result<DatabaseType, StoreError> {
    DatabaseType::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown database type {s:?}")))
}

pub(crate) fn parse_severity(s: Option<String>) -> Option<Severity> {
    s.as_deref().and_then(Severity::parse)
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
pub(crate) fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[derive(sqlx::FromRow)]
pub(crate) struct SlowRow {
    id: i64,
    query_id: String,
    sql_text: String,
    database_type: String,
    database_name: Option<String>,
    db_user: Option<String>,
    client_host: Option<String>,
    execution_time_ms: f64,
    lock_time_ms: Option<f64>,
    rows_examined: Option<i64>,
    rows_sent: Option<i64>,
    rows_affected: Option<i64>,
    calls: i64,
    observed_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    source: Option<String>,
    team_id: Option<i64>,
    identity_id: Option<i64>,
    severity: Option<String>,
    pub class_id: i64,
    pub organization_id: i64,
}

impl SlowRow {
    pub(crate) fn into_view(self) -> Result<(SlowQueryView, i64), StoreError> {
        Ok((
            SlowQueryView {
                id: self.id,
                query_id: self.query_id,
                sql_text: self.sql_text,
                database_type: parse_db_type(&self.database_type)?,
                database_name: self.database_name,
                user: self.db_user,
                client_host: self.client_host,
                execution_time_ms: self.execution_time_ms,
                lock_time_ms: self.lock_time_ms,
                rows_examined: self.rows_examined,
                rows_sent: self.rows_sent,
                rows_affected: self.rows_affected,
                calls: self.calls,
                observed_at: self.observed_at,
                created_at: self.created_at,
                source: self.source,
                team_id: self.team_id,
                identity_id: self.identity_id,
                severity: parse_severity(self.severity),
            },
            self.class_id,
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClassRow {
    pub id: i64,
    database_type: String,
    query_id: String,
    fingerprint: String,
    fingerprint_version: i32,
    sample_sql: String,
    count: i64,
    total_time_ms: f64,
    min_time_ms: Option<f64>,
    max_time_ms: f64,
    lock_time_ms: Option<f64>,
    rows_examined: Option<i64>,
    rows_known: i64,
    rows_sent: Option<i64>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    p95_time_ms: Option<f64>,
    p99_time_ms: Option<f64>,
    severity: Option<String>,
}

/// The mean of `count` executions taking `total_ms` in all (0 for none).
fn mean(total_ms: f64, count: i64) -> f64 {
    if count > 0 {
        total_ms / count as f64
    } else {
        0.0
    }
}

impl ClassRow {
    pub(crate) fn into_view(self, databases: Vec<String>) -> Result<QueryClassView, StoreError> {
        // Unknown (no execution reported rows examined, as with PostgreSQL's sources) is null, not 0.
        let rows_examined = self.rows_examined.filter(|_| self.rows_known > 0);
        let ratio = match (rows_examined, self.rows_sent) {
            (Some(e), Some(s)) if s > 0 => Some(e as f64 / s as f64),
            _ => None,
        };
        Ok(QueryClassView {
            query_id: self.query_id,
            database_type: parse_db_type(&self.database_type)?,
            fingerprint: self.fingerprint,
            fingerprint_version: self.fingerprint_version,
            sample_sql: self.sample_sql,
            count: self.count,
            total_time_ms: self.total_time_ms,
            avg_time_ms: mean(self.total_time_ms, self.count),
            min_time_ms: self.min_time_ms,
            max_time_ms: self.max_time_ms,
            // A bucket's upper bound can exceed the slowest execution seen; never report more than it.
            p95_time_ms: self.p95_time_ms.map(|p| p.min(self.max_time_ms)),
            p99_time_ms: self.p99_time_ms.map(|p| p.min(self.max_time_ms)),
            lock_time_ms: self.lock_time_ms,
            rows_examined,
            rows_sent: self.rows_sent,
            rows_ratio: ratio,
            databases,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            severity: parse_severity(self.severity),
        })
    }
}

/// A class as a team or an identity sees it: the numbers its own rollups add up to. The sample,
/// databases and times come from its own slow queries ([`ScopedExtras`]).
#[derive(sqlx::FromRow)]
pub(crate) struct ScopedClassRow {
    pub id: i64,
    database_type: String,
    query_id: String,
    fingerprint: String,
    fingerprint_version: i32,
    count: i64,
    total_time_ms: f64,
    max_time_ms: f64,
    first_hour: DateTime<Utc>,
    last_hour: DateTime<Utc>,
    severity: Option<String>,
}

/// What a scope's own slow queries of one class show: the newest statement, the databases, the first
/// and last execution still stored.
#[derive(Default)]
pub(crate) struct ScopedExtras {
    pub sample_sql: Option<String>,
    pub databases: Vec<String>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

impl ScopedClassRow {
    /// Statistics the platform keeps only per class (minimum, percentiles, lock time, rows) are null:
    /// they include other owners' executions.
    pub(crate) fn into_view(self, extras: ScopedExtras) -> Result<QueryClassView, StoreError> {
        Ok(QueryClassView {
            query_id: self.query_id,
            database_type: parse_db_type(&self.database_type)?,
            // With none of the scope's statements left (retention), the fingerprint stands in: it holds
            // no literal text of anyone's.
            sample_sql: extras
                .sample_sql
                .unwrap_or_else(|| self.fingerprint.clone()),
            fingerprint: self.fingerprint,
            fingerprint_version: self.fingerprint_version,
            count: self.count,
            total_time_ms: self.total_time_ms,
            avg_time_ms: mean(self.total_time_ms, self.count),
            min_time_ms: None,
            max_time_ms: self.max_time_ms,
            p95_time_ms: None,
            p99_time_ms: None,
            lock_time_ms: None,
            rows_examined: None,
            rows_sent: None,
            rows_ratio: None,
            databases: extras.databases,
            first_seen: extras.first_seen.unwrap_or(self.first_hour),
            last_seen: extras.last_seen.unwrap_or(self.last_hour),
            severity: parse_severity(self.severity),
        })
    }
}

/// The analysis-status and severity filters on the class aliased `c`, on the severity the caller may
/// see (see `scope_sql::class_severity`). Shared by the class and slow-query lists and their totals.
pub(crate) fn push_severity_filters<DB>(
    qb: &mut sqlx::QueryBuilder<DB>,
    scope: &dbpower_core::Scope,
    status: Option<dbpower_types::AnalysisStatus>,
    severity: Option<dbpower_types::Severity>,
) where
    DB: sqlx::Database,
    for<'t> &'static str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let sev = crate::scope_sql::class_severity(scope, "c");
    match status.unwrap_or_default() {
        dbpower_types::AnalysisStatus::All => {}
        dbpower_types::AnalysisStatus::Analyzed => {
            qb.push(format!(" AND ({sev}) IS NOT NULL"));
        }
        dbpower_types::AnalysisStatus::Unanalyzed => {
            qb.push(format!(" AND ({sev}) IS NULL"));
        }
    }
    if let Some(v) = severity {
        qb.push(format!(" AND ({sev}) = ")).push_bind(v.as_str());
    }
}

/// The newest statement of the class aliased `c` among the slow queries in `scope` (null when none is
/// left): the sample a team or an identity is shown.
pub(crate) fn scoped_sample(scope: &dbpower_core::Scope) -> String {
    format!(
        "(SELECT s.sql_text FROM slow_queries s WHERE s.class_id = c.id AND {} \
         ORDER BY s.observed_at DESC, s.id DESC LIMIT 1)",
        crate::scope_sql::predicate_on(scope, crate::scope_sql::Table::Owned, "s.")
    )
}

#[derive(sqlx::FromRow)]
pub(crate) struct SlowRowWithExplain {
    #[sqlx(flatten)]
    pub row: SlowRow,
    pub explain: Option<sqlx::types::Json<serde_json::Value>>,
}

/// Where a class listing reads its count, total and max time from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Totals {
    /// The class row itself (alias `c`): the whole organization's classes.
    Class,
    /// The caller's own rollups (alias `o`): a team's or an identity's classes. The percentile and rows
    /// sorts still order by the class's statistics, without showing them.
    Scoped,
}

/// The `ORDER BY` of a class listing.
pub(crate) fn class_order(sort: ClassSort, totals: Totals) -> String {
    let t = match totals {
        Totals::Class => "c",
        Totals::Scoped => "o",
    };
    match sort {
        ClassSort::TotalTime => format!("{t}.total_time_ms DESC, c.id"),
        ClassSort::Count => format!("{t}.count DESC, c.id"),
        // NULLs last on both engines (PostgreSQL puts them first in DESC).
        ClassSort::P95 => "COALESCE(c.p95_time_ms, -1) DESC, c.id".into(),
        ClassSort::AvgTime => {
            format!(
                "{t}.total_time_ms / CASE WHEN {t}.count > 0 THEN {t}.count ELSE 1 END DESC, c.id"
            )
        }
        ClassSort::MaxTime => format!("{t}.max_time_ms DESC, c.id"),
        // Unknown ratios (no rows examined reported, or none sent) last.
        ClassSort::RowsRatio => "CASE WHEN c.rows_known > 0 AND c.rows_sent > 0 \
             THEN CAST(c.rows_examined AS DOUBLE PRECISION) / c.rows_sent ELSE -1 END DESC, c.id"
            .into(),
    }
}
