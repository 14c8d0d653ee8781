//! Read models over ingested data, shared by both databases (expanded by `reads_impl!`): the slow-query
//! list and detail, query classes and their hourly series, analyses, and the dashboard.

use chrono::{DateTime, Utc};
use dbpower_types::{DatabaseType, QueryClassView, Severity, SlowQueryView};

use crate::StoreError;

/// The columns of a slow query (alias `s`) joined with its class (alias `c`), the class's severity as
/// `scope` may see it (see [`crate::scope_sql::class_severity`]).
pub(crate) fn slow_cols(scope: &dbpower_core::Scope) -> String {
    format!(
        "s.id, s.query_id, s.sql_text, s.database_type, s.database_name, s.db_user, \
         s.client_host, s.execution_time_ms, s.lock_time_ms, s.rows_examined, s.rows_sent, s.rows_affected, s.calls, \
         s.observed_at, s.created_at, s.source, s.team_id, s.identity_id, {} AS severity, s.class_id, s.organization_id",
        crate::scope_sql::class_severity(scope, "c")
    )
}

pub(crate) const CLASS_COLS: &str = "c.id, c.database_type, c.query_id, c.fingerprint, c.fingerprint_version, \
     c.sample_sql, c.count, c.total_time_ms, c.min_time_ms, c.max_time_ms, c.lock_time_ms, c.rows_examined, \
     c.rows_sent, c.first_seen, c.last_seen, c.p95_time_ms, c.p99_time_ms, c.severity";

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
    rows_sent: Option<i64>,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    p95_time_ms: Option<f64>,
    p99_time_ms: Option<f64>,
    severity: Option<String>,
}

impl ClassRow {
    pub(crate) fn into_view(self, databases: Vec<String>) -> Result<QueryClassView, StoreError> {
        let ratio = match (self.rows_examined, self.rows_sent) {
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
            avg_time_ms: if self.count > 0 {
                self.total_time_ms / self.count as f64
            } else {
                0.0
            },
            min_time_ms: self.min_time_ms,
            max_time_ms: self.max_time_ms,
            // A bucket's upper bound can exceed the slowest execution seen; never report more than it.
            p95_time_ms: self.p95_time_ms.map(|p| p.min(self.max_time_ms)),
            p99_time_ms: self.p99_time_ms.map(|p| p.min(self.max_time_ms)),
            lock_time_ms: self.lock_time_ms,
            rows_examined: self.rows_examined,
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
            avg_time_ms: if self.count > 0 {
                self.total_time_ms / self.count as f64
            } else {
                0.0
            },
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

/// Expands `impl ReadStore for $ty` over the database `$db`.
macro_rules! reads_impl {
    ($ty:ty, $db:ty) => {
        impl $ty {
        /// `FROM ... WHERE ...` of the classes a team or an identity sees (those with rollups in its scope),
        /// each joined with its own totals (`o`), filtered by `f` (and to the class `only`). The severity and
        /// text filters apply to what the scope is shown, never to the shared sample or analysis.
        fn push_scoped_classes(
            qb: &mut sqlx::QueryBuilder<$db>,
            scope: &dbpower_core::Scope,
            f: &dbpower_types::QueryClassFilter,
            only: Option<i64>,
            q: &Option<String>,
        ) {
            let own = $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.");
            qb.push(format!(
                " FROM query_classes c JOIN (SELECT r.class_id, \
                 CAST({least}(SUM(CAST(r.count AS DOUBLE PRECISION)), 9.0e18) AS BIGINT) AS count, \
                 CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION) AS total_time_ms, MAX(r.max_time_ms) AS max_time_ms, \
                 MIN(r.hour) AS first_hour, MAX(r.hour) AS last_hour \
                 FROM query_rollups r WHERE {own} GROUP BY r.class_id) o ON o.class_id = c.id WHERE 1=1",
                least = Self::LEAST
            ));
            if let Some(id) = only {
                qb.push(" AND c.id = ").push_bind(id);
            }
            $crate::reads::push_severity_filters(qb, scope, f.status, f.severity);
            if let Some(v) = f.database_type {
                qb.push(" AND c.database_type = ").push_bind(v.as_str());
            }
            if let Some(v) = &f.query_id {
                qb.push(" AND c.query_id = ").push_bind(v.as_str());
            }
            if let Some(v) = q {
                qb.push(format!(
                    " AND COALESCE({}, c.fingerprint) {} ",
                    $crate::reads::scoped_sample(scope),
                    Self::ILIKE
                ))
                .push_bind(v.as_str())
                .push(" ESCAPE '\\'");
            }
        }

        /// The classes a team or an identity sees, with its own numbers, sample and databases only.
        async fn scoped_classes(
            &self,
            scope: &dbpower_core::Scope,
            f: &dbpower_types::QueryClassFilter,
            only: Option<i64>,
            page: $crate::PageRequest,
        ) -> $crate::Result<Vec<dbpower_types::QueryClassView>> {
            let q = f.q.as_deref().map($crate::reads::like_pattern);
            // Per-scope totals rank their own sorts; the percentile and rows sorts order by the class's
            // statistics without showing them.
            let order = match f.sort.unwrap_or_default() {
                dbpower_types::ClassSort::TotalTime => "o.total_time_ms DESC, c.id",
                dbpower_types::ClassSort::Count => "o.count DESC, c.id",
                dbpower_types::ClassSort::P95 => "COALESCE(c.p95_time_ms, -1) DESC, c.id",
                dbpower_types::ClassSort::AvgTime => "o.total_time_ms / CASE WHEN o.count > 0 THEN o.count ELSE 1 END DESC, c.id",
                dbpower_types::ClassSort::MaxTime => "o.max_time_ms DESC, c.id",
                dbpower_types::ClassSort::RowsRatio => {
                    "COALESCE(CAST(c.rows_examined AS DOUBLE PRECISION) / NULLIF(c.rows_sent, 0), -1) DESC, c.id"
                }
            };
            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                "SELECT c.id, c.database_type, c.query_id, c.fingerprint, c.fingerprint_version, o.count, o.total_time_ms, \
                 o.max_time_ms, o.first_hour, o.last_hour, {} AS severity",
                $crate::scope_sql::class_severity(scope, "c")
            ));
            Self::push_scoped_classes(&mut qb, scope, f, only, &q);
            qb.push(format!(" ORDER BY {order} LIMIT ")).push_bind(page.limit()).push(" OFFSET ").push_bind(page.offset());
            let rows: Vec<$crate::reads::ScopedClassRow> = qb.build_query_as().fetch_all(&self.pool).await?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let mut extras: std::collections::HashMap<i64, $crate::reads::ScopedExtras> = std::collections::HashMap::new();
            // The newest of the scope's own statements of each class on the page.
            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                "SELECT c.id, {} FROM query_classes c WHERE c.id IN (",
                $crate::reads::scoped_sample(scope)
            ));
            let mut sep = qb.separated(", ");
            for r in &rows {
                sep.push_bind(r.id);
            }
            qb.push(")");
            let samples: Vec<(i64, Option<String>)> = qb.build_query_as().fetch_all(&self.pool).await?;
            for (c, sample) in samples {
                extras.entry(c).or_default().sample_sql = sample;
            }
            // Their databases and first and last executions.
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT s.class_id, s.database_name, MIN(s.observed_at), MAX(s.observed_at) FROM slow_queries s WHERE s.class_id IN (",
            );
            let mut sep = qb.separated(", ");
            for r in &rows {
                sep.push_bind(r.id);
            }
            qb.push(format!(
                ") AND {} GROUP BY s.class_id, s.database_name ORDER BY s.database_name",
                $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "s.")
            ));
            type DbRow = (i64, Option<String>, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);
            let dbs: Vec<DbRow> = qb.build_query_as().fetch_all(&self.pool).await?;
            for (c, name, first, last) in dbs {
                let e = extras.entry(c).or_default();
                if let Some(name) = name {
                    e.databases.push(name);
                }
                e.first_seen = Some(e.first_seen.map_or(first, |f| f.min(first)));
                e.last_seen = Some(e.last_seen.map_or(last, |l| l.max(last)));
            }
            rows.into_iter()
                .map(|r| {
                    let e = extras.remove(&r.id).unwrap_or_default();
                    r.into_view(e)
                })
                .collect()
        }
        }

        #[async_trait::async_trait]
        impl $crate::ReadStore for $ty {
        async fn list_slow_queries(
            &self,
            scope: &dbpower_core::Scope,
            f: &dbpower_types::SlowQueryFilter,
            page: $crate::PageRequest,
        ) -> $crate::Result<(Vec<dbpower_types::SlowQueryView>, i64)> {
            // Only the filters present become SQL, so the planner can use the (organization, time) and
            // (organization, execution time) indexes.
            fn filters(qb: &mut sqlx::QueryBuilder<$db>, scope: &dbpower_core::Scope, f: &dbpower_types::SlowQueryFilter, q: &Option<String>, like: &str) {
                qb.push(" WHERE ");
                qb.push($crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "s."));
                $crate::reads::push_severity_filters(qb, scope, f.status, f.severity);
                if let Some(v) = f.database_type {
                    qb.push(" AND s.database_type = ").push_bind(v.as_str());
                }
                if let Some(v) = &f.database_name {
                    qb.push(" AND s.database_name = ").push_bind(v.as_str());
                }
                if let Some(v) = &f.query_id {
                    qb.push(" AND s.query_id = ").push_bind(v.as_str());
                }
                if let Some(v) = q {
                    qb.push(format!(" AND s.sql_text {like} ")).push_bind(v.as_str()).push(" ESCAPE '\\'");
                }
                if let Some(v) = f.from {
                    qb.push(" AND s.observed_at >= ").push_bind(v);
                }
                if let Some(v) = f.to {
                    qb.push(" AND s.observed_at < ").push_bind(v);
                }
                if let Some(v) = f.min_time_ms {
                    qb.push(" AND s.execution_time_ms >= ").push_bind(v);
                }
            }
            let q = f.q.as_deref().map($crate::reads::like_pattern);
            let order = match f.sort.unwrap_or_default() {
                dbpower_types::SlowQuerySort::ObservedAt => "s.observed_at DESC, s.id DESC",
                dbpower_types::SlowQuerySort::ExecutionTimeMs => "s.execution_time_ms DESC, s.id DESC",
            };
            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                "SELECT {} FROM slow_queries s JOIN query_classes c ON c.id = s.class_id",
                $crate::reads::slow_cols(scope)
            ));
            filters(&mut qb, scope, f, &q, Self::ILIKE);
            qb.push(format!(" ORDER BY {order} LIMIT ")).push_bind(page.limit()).push(" OFFSET ").push_bind(page.offset());
            let rows: Vec<$crate::reads::SlowRow> = qb.build_query_as().fetch_all(&self.pool).await?;
            let items = rows.into_iter().map(|r| r.into_view().map(|v| v.0)).collect::<$crate::Result<Vec<_>>>()?;
            // The total: exact from the hourly rollups when every filter is one they carry (the common
            // case, and cheap at any size); otherwise counted on the rows, up to COUNT_CAP.
            let rollup_ok = f.database_name.is_none() && q.is_none() && f.from.is_none() && f.to.is_none() && f.min_time_ms.is_none();
            let total: i64 = if rollup_ok {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT CAST(COALESCE(SUM(r.row_count), 0) AS BIGINT) FROM query_rollups r JOIN query_classes c ON c.id = r.class_id WHERE ",
                );
                qb.push($crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r."));
                $crate::reads::push_severity_filters(&mut qb, scope, f.status, f.severity);
                if let Some(v) = f.database_type {
                    qb.push(" AND c.database_type = ").push_bind(v.as_str());
                }
                if let Some(v) = &f.query_id {
                    qb.push(" AND c.query_id = ").push_bind(v.as_str());
                }
                qb.build_query_scalar().fetch_one(&self.pool).await?
            } else {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM (SELECT 1 FROM slow_queries s JOIN query_classes c ON c.id = s.class_id");
                filters(&mut qb, scope, f, &q, Self::ILIKE);
                qb.push(" LIMIT ").push_bind($crate::COUNT_CAP).push(") AS capped");
                qb.build_query_scalar().fetch_one(&self.pool).await?
            };
            Ok((items, total))
        }

        async fn slow_query_by_id(&self, scope: &dbpower_core::Scope, id: i64) -> $crate::Result<$crate::SlowQueryRecord> {
            let sql = format!(
                "SELECT {}, s.explain FROM slow_queries s JOIN query_classes c ON c.id = s.class_id WHERE s.id = $1 AND {}",
                $crate::reads::slow_cols(scope),
                $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "s.")
            );
            let row: Option<$crate::reads::SlowRowWithExplain> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
            let row = $crate::common::one(row)?;
            let explain = row.explain.map(|j| j.0);
            let organization_id = row.row.organization_id;
            let (view, class_id) = row.row.into_view()?;
            Ok($crate::SlowQueryRecord { view, class_id, organization_id, explain })
        }

        async fn query_class_by_id(&self, scope: &dbpower_core::Scope, class_id: i64) -> $crate::Result<dbpower_types::QueryClassView> {
            if !$crate::scope_sql::sees_whole_classes(scope) {
                let one = $crate::PageRequest { page: 1, per_page: 1 };
                let mut rows = self.scoped_classes(scope, &dbpower_types::QueryClassFilter::default(), Some(class_id), one).await?;
                return $crate::common::one(rows.pop());
            }
            let owner = match scope.filter() {
                dbpower_core::ScopeFilter::Org { org } => format!("c.organization_id = {org}"),
                _ => "1=1".to_string(),
            };
            let sql = format!("SELECT {} FROM query_classes c WHERE c.id = $1 AND {owner}", $crate::reads::CLASS_COLS);
            let row: Option<$crate::reads::ClassRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(class_id).fetch_optional(&self.pool).await?;
            let row = $crate::common::one(row)?;
            let dbs: Vec<String> = sqlx::query_scalar("SELECT name FROM class_databases WHERE class_id = $1 ORDER BY name")
                .bind(class_id)
                .fetch_all(&self.pool)
                .await?;
            row.into_view(dbs)
        }

        async fn query_class_id(&self, scope: &dbpower_core::Scope, query_id: &str) -> $crate::Result<i64> {
            // Visible when the caller can see at least one of its slow queries' owners.
            let sql = format!(
                "SELECT c.id FROM query_classes c WHERE c.query_id = $1 AND EXISTS (SELECT 1 FROM query_rollups r \
                 WHERE r.class_id = c.id AND {}) ORDER BY c.id LIMIT 1",
                $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.")
            );
            let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(query_id).fetch_optional(&self.pool).await?;
            $crate::common::one(id)
        }

        async fn list_query_classes(
            &self,
            scope: &dbpower_core::Scope,
            f: &dbpower_types::QueryClassFilter,
            page: $crate::PageRequest,
        ) -> $crate::Result<(Vec<dbpower_types::QueryClassView>, i64)> {
            // A team or an identity sees its own part of each class it has rows in.
            if !$crate::scope_sql::sees_whole_classes(scope) {
                let q = f.q.as_deref().map($crate::reads::like_pattern);
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*)");
                Self::push_scoped_classes(&mut qb, scope, f, None, &q);
                let total: i64 = qb.build_query_scalar().fetch_one(&self.pool).await?;
                let items = self.scoped_classes(scope, f, None, page).await?;
                return Ok((items, total));
            }
            let owner = match scope.filter() {
                dbpower_core::ScopeFilter::Org { org } => format!("c.organization_id = {org}"),
                _ => "1=1".to_string(),
            };
            let status = match f.status.unwrap_or_default() {
                dbpower_types::AnalysisStatus::All => "",
                dbpower_types::AnalysisStatus::Analyzed => " AND c.severity IS NOT NULL",
                dbpower_types::AnalysisStatus::Unanalyzed => " AND c.severity IS NULL",
            };
            let pred = format!(
                "{owner} AND ($1 IS NULL OR c.severity = $1) AND ($2 IS NULL OR c.database_type = $2) AND \
                 ($3 IS NULL OR c.query_id = $3) AND ($4 IS NULL OR c.sample_sql {like} $4 ESCAPE '\\'){status}",
                like = Self::ILIKE
            );
            let q = f.q.as_deref().map($crate::reads::like_pattern);
            let order = match f.sort.unwrap_or_default() {
                dbpower_types::ClassSort::TotalTime => "c.total_time_ms DESC, c.id",
                dbpower_types::ClassSort::Count => "c.count DESC, c.id",
                // NULLs last on both engines (PostgreSQL puts them first in DESC).
                dbpower_types::ClassSort::P95 => "COALESCE(c.p95_time_ms, -1) DESC, c.id",
                dbpower_types::ClassSort::AvgTime => "c.total_time_ms / CASE WHEN c.count > 0 THEN c.count ELSE 1 END DESC, c.id",
                dbpower_types::ClassSort::MaxTime => "c.max_time_ms DESC, c.id",
                dbpower_types::ClassSort::RowsRatio => {
                    "COALESCE(CAST(c.rows_examined AS DOUBLE PRECISION) / NULLIF(c.rows_sent, 0), -1) DESC, c.id"
                }
            };
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM query_classes c WHERE {pred}")))
                .bind(f.severity.map(|s| s.as_str()))
                .bind(f.database_type.map(|d| d.as_str()))
                .bind(f.query_id.as_deref())
                .bind(q.as_deref())
                .fetch_one(&self.pool)
                .await?;
            let sql = format!("SELECT {} FROM query_classes c WHERE {pred} ORDER BY {order} LIMIT $5 OFFSET $6", $crate::reads::CLASS_COLS);
            let rows: Vec<$crate::reads::ClassRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(f.severity.map(|s| s.as_str()))
                .bind(f.database_type.map(|d| d.as_str()))
                .bind(f.query_id.as_deref())
                .bind(q.as_deref())
                .bind(page.limit())
                .bind(page.offset())
                .fetch_all(&self.pool)
                .await?;
            // The databases of the whole page in one query.
            let mut dbs: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
            if !rows.is_empty() {
                let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT class_id, name FROM class_databases WHERE class_id IN (");
                let mut sep = qb.separated(", ");
                for r in &rows {
                    sep.push_bind(r.id);
                }
                qb.push(") ORDER BY name");
                let pairs: Vec<(i64, String)> = qb.build_query_as().fetch_all(&self.pool).await?;
                for (c, n) in pairs {
                    dbs.entry(c).or_default().push(n);
                }
            }
            let items = rows
                .into_iter()
                .map(|r| {
                    let d = dbs.remove(&r.id).unwrap_or_default();
                    r.into_view(d)
                })
                .collect::<$crate::Result<Vec<_>>>()?;
            Ok((items, total))
        }

        async fn class_series(
            &self,
            scope: &dbpower_core::Scope,
            class_id: i64,
            since: chrono::DateTime<chrono::Utc>,
        ) -> $crate::Result<Vec<dbpower_types::SeriesPoint>> {
            let sql = format!(
                "SELECT r.hour, CAST(SUM(r.count) AS BIGINT), CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION), MAX(r.max_time_ms) FROM query_rollups r \
                 WHERE r.class_id = $1 AND r.hour >= $2 AND {} GROUP BY r.hour ORDER BY r.hour",
                $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.")
            );
            let rows: Vec<(chrono::DateTime<chrono::Utc>, i64, f64, f64)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(class_id).bind(since).fetch_all(&self.pool).await?;
            Ok(rows
                .into_iter()
                .map(|(hour, count, total, max)| dbpower_types::SeriesPoint {
                    hour,
                    count,
                    total_time_ms: total,
                    avg_time_ms: if count > 0 { total / count as f64 } else { 0.0 },
                    max_time_ms: max,
                })
                .collect())
        }

        async fn analysis_for_class(&self, scope: &dbpower_core::Scope, class_id: i64) -> $crate::Result<Option<dbpower_types::AnalysisView>> {
            // Derived from the class's shared sample: a team or an identity sees it only on a class that is
            // wholly its own.
            let visible = match scope.filter() {
                dbpower_core::ScopeFilter::All => "1=1".to_string(),
                dbpower_core::ScopeFilter::Org { org } => format!("a.organization_id = {org}"),
                _ => $crate::scope_sql::class_is_own(scope, "a.class_id"),
            };
            let sql = format!("SELECT a.report, a.analyzed_at FROM analysis_results a WHERE a.class_id = $1 AND {visible}");
            let row: Option<(sqlx::types::Json<dbpower_types::AnalysisReport>, chrono::DateTime<chrono::Utc>)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(class_id)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(row.map(|(r, at)| dbpower_types::AnalysisView { report: r.0, analyzed_at: at }))
        }

        async fn dashboard(&self, scope: &dbpower_core::Scope, since: chrono::DateTime<chrono::Utc>) -> $crate::Result<$crate::DashboardData> {
            let pred = $crate::scope_sql::predicate_on(scope, $crate::scope_sql::Table::Owned, "r.");
            let (total_queries, total_time): (i64, f64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(COALESCE(SUM(r.count), 0) AS BIGINT), CAST(COALESCE(SUM(r.total_time_ms), 0) AS DOUBLE PRECISION) FROM query_rollups r WHERE {pred}"
            )))
            .fetch_one(&self.pool)
            .await?;
            let classes = format!("SELECT DISTINCT r.class_id FROM query_rollups r WHERE {pred}");
            let (issues, critical): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(COALESCE(SUM(CASE WHEN a.issue_count > 0 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN a.severity = 'CRITICAL' THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM analysis_results a WHERE a.class_id IN ({classes}) AND {own}",
                own = $crate::scope_sql::class_is_own(scope, "a.class_id")
            )))
            .fetch_one(&self.pool)
            .await?;
            let days: Vec<(String, i64, f64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {day} AS d, CAST(SUM(r.count) AS BIGINT), CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION), \
                 CAST(SUM(CASE WHEN ({sev}) = 'CRITICAL' THEN r.count ELSE 0 END) AS BIGINT) \
                 FROM query_rollups r JOIN query_classes c ON c.id = r.class_id WHERE {pred} AND r.hour >= $1 GROUP BY {day}",
                day = Self::DAY_OF_HOUR,
                sev = $crate::scope_sql::class_severity(scope, "c")
            )))
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
            Ok($crate::DashboardData { total_queries, total_time_ms: total_time, issues, critical, days })
        }
        }
    };
}
pub(crate) use reads_impl;
