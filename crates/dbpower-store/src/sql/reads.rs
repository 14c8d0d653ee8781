//! Read models over ingested data ([`ReadStore`]): the slow-query list and detail, query classes
//! (whole, or as a team or an identity sees its own part) and their hourly series, analyses, the
//! dashboard.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dbpower_core::{Scope, ScopeFilter};
use dbpower_types::{
    AnalysisReport, AnalysisStatus, AnalysisView, PlanView, QueryClassFilter, QueryClassView,
    SeriesPoint, SlowQueryFilter, SlowQuerySort, SlowQueryView,
};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::{DIALECT, Db, DbStore};
use crate::reads::{
    CLASS_COLS, ClassLookup, ClassRef, ClassRow, ScopedClassRow, ScopedExtras, SlowRow,
    SlowRowWithExplain, Totals, class_order, like_pattern, parse_db_type, push_severity_filters,
    scoped_sample, slow_cols,
};
use crate::scope_sql::{self, Table};
use crate::{
    COUNT_CAP, DashboardData, PageRequest, ReadStore, Result, SlowQueryRecord, Total, one,
};

impl DbStore {
    /// `FROM ... WHERE ...` of the classes a team or an identity sees (those with rollups in its scope),
    /// each joined with its own totals (`o`), filtered by `f` (and to the class `only`). The severity and
    /// text filters apply to what the scope is shown, never to the shared sample or analysis.
    fn push_scoped_classes(
        qb: &mut QueryBuilder<Db>,
        scope: &Scope,
        f: &QueryClassFilter,
        only: Option<i64>,
        q: &Option<String>,
    ) {
        let own = scope_sql::predicate_on(scope, Table::Owned, "r.");
        qb.push(format!(
            " FROM query_classes c JOIN (SELECT r.class_id, \
             CAST({least}(SUM(CAST(r.count AS DOUBLE PRECISION)), 9.0e18) AS BIGINT) AS count, \
             CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION) AS total_time_ms, \
             MAX(r.max_time_ms) AS max_time_ms, \
             MIN(r.hour) AS first_hour, MAX(r.hour) AS last_hour \
             FROM query_rollups r WHERE {own} GROUP BY r.class_id) o \
             ON o.class_id = c.id WHERE 1=1",
            least = DIALECT.least
        ));
        if let Some(id) = only {
            qb.push(" AND c.id = ").push_bind(id);
        }
        push_severity_filters(qb, scope, f.status, f.severity);
        if let Some(v) = f.database_type {
            qb.push(" AND c.database_type = ").push_bind(v.as_str());
        }
        if let Some(v) = &f.query_id {
            qb.push(" AND c.query_id = ").push_bind(v.as_str());
        }
        if let Some(v) = q {
            qb.push(format!(
                " AND COALESCE({}, c.fingerprint) {} ",
                scoped_sample(scope),
                DIALECT.ilike
            ))
            .push_bind(v.as_str())
            .push(" ESCAPE '\\'");
        }
    }

    /// The classes a team or an identity sees, with its own numbers, sample and databases only.
    async fn scoped_classes(
        &self,
        scope: &Scope,
        f: &QueryClassFilter,
        only: Option<i64>,
        page: PageRequest,
    ) -> Result<Vec<QueryClassView>> {
        let q = f.q.as_deref().map(like_pattern);
        let order = class_order(f.sort.unwrap_or_default(), Totals::Scoped);
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT c.id, c.database_type, c.query_id, c.fingerprint, c.fingerprint_version, \
             o.count, \
             o.total_time_ms, \
             o.max_time_ms, o.first_hour, o.last_hour, {} AS severity",
            scope_sql::class_severity(scope, "c")
        ));
        Self::push_scoped_classes(&mut qb, scope, f, only, &q);
        qb.push(format!(" ORDER BY {order} LIMIT "))
            .push_bind(page.limit())
            .push(" OFFSET ")
            .push_bind(page.offset());
        let rows: Vec<ScopedClassRow> = qb.build_query_as().fetch_all(self.read_pool()).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut extras = self.scoped_extras(scope, &ids).await?;
        rows.into_iter()
            .map(|r| {
                let e = extras.remove(&r.id).unwrap_or_default();
                r.into_view(e)
            })
            .collect()
    }

    /// What the scope's own slow queries of the classes `ids` show: the newest statement, the
    /// databases, the first and last execution.
    async fn scoped_extras(
        &self,
        scope: &Scope,
        ids: &[i64],
    ) -> Result<HashMap<i64, ScopedExtras>> {
        let mut extras: HashMap<i64, ScopedExtras> = HashMap::new();
        // The newest of the scope's own statements of each class on the page.
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT c.id, {} FROM query_classes c WHERE c.id IN (",
            scoped_sample(scope)
        ));
        let mut sep = qb.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        qb.push(")");
        let samples: Vec<(i64, Option<String>)> =
            qb.build_query_as().fetch_all(self.read_pool()).await?;
        for (c, sample) in samples {
            extras.entry(c).or_default().sample_sql = sample;
        }
        // Their databases and first and last executions.
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT s.class_id, s.database_name, MIN(s.observed_at), MAX(s.observed_at) \
             FROM slow_queries s WHERE s.class_id IN (",
        );
        let mut sep = qb.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        qb.push(format!(
            ") AND {} GROUP BY s.class_id, s.database_name ORDER BY s.database_name",
            scope_sql::predicate_on(scope, Table::Owned, "s.")
        ));
        type DbRow = (i64, Option<String>, DateTime<Utc>, DateTime<Utc>);
        let dbs: Vec<DbRow> = qb.build_query_as().fetch_all(self.read_pool()).await?;
        for (c, name, first, last) in dbs {
            let e = extras.entry(c).or_default();
            if let Some(name) = name {
                e.databases.push(name);
            }
            e.first_seen = Some(e.first_seen.map_or(first, |f| f.min(first)));
            e.last_seen = Some(e.last_seen.map_or(last, |l| l.max(last)));
        }
        Ok(extras)
    }

    /// The total of a slow-query list: exact from the hourly rollups when every filter is one they
    /// carry (the common case, and cheap at any size); otherwise counted on the rows, up to
    /// [`COUNT_CAP`].
    async fn slow_query_total(
        &self,
        scope: &Scope,
        f: &SlowQueryFilter,
        q: &Option<String>,
    ) -> Result<Total> {
        let rollup_ok = f.database_name.is_none()
            && q.is_none()
            && f.from.is_none()
            && f.to.is_none()
            && f.min_time_ms.is_none();
        let total = if rollup_ok {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT CAST(COALESCE(SUM(r.row_count), 0) AS BIGINT) FROM query_rollups r \
                 JOIN query_classes c ON c.id = r.class_id WHERE ",
            );
            qb.push(scope_sql::predicate_on(scope, Table::Owned, "r."));
            push_severity_filters(&mut qb, scope, f.status, f.severity);
            if let Some(v) = f.database_type {
                qb.push(" AND c.database_type = ").push_bind(v.as_str());
            }
            if let Some(v) = &f.query_id {
                qb.push(" AND c.query_id = ").push_bind(v.as_str());
            }
            let count: i64 = qb.build_query_scalar().fetch_one(self.read_pool()).await?;
            Total {
                count,
                capped: false,
            }
        } else {
            // One row past the cap tells "more than the cap" from "exactly the cap".
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT COUNT(*) FROM (SELECT 1 FROM slow_queries s JOIN query_classes c \
                 ON c.id = s.class_id",
            );
            push_slow_filters(&mut qb, scope, f, q);
            qb.push(" LIMIT ")
                .push_bind(COUNT_CAP + 1)
                .push(") AS capped");
            let count: i64 = qb.build_query_scalar().fetch_one(self.read_pool()).await?;
            Total {
                count: count.min(COUNT_CAP),
                capped: count > COUNT_CAP,
            }
        };
        Ok(total)
    }

    /// The databases of the classes `ids` (a page), in one query.
    async fn databases_of(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
        let mut dbs: HashMap<i64, Vec<String>> = HashMap::new();
        if !ids.is_empty() {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT class_id, name FROM class_databases WHERE class_id IN (",
            );
            let mut sep = qb.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            qb.push(") ORDER BY name");
            let pairs: Vec<(i64, String)> = qb.build_query_as().fetch_all(self.read_pool()).await?;
            for (c, n) in pairs {
                dbs.entry(c).or_default().push(n);
            }
        }
        Ok(dbs)
    }
}

#[async_trait]
impl ReadStore for DbStore {
    async fn list_slow_queries(
        &self,
        scope: &Scope,
        f: &SlowQueryFilter,
        page: PageRequest,
    ) -> Result<(Vec<SlowQueryView>, Total)> {
        let q = f.q.as_deref().map(like_pattern);
        let order = match f.sort.unwrap_or_default() {
            SlowQuerySort::ObservedAt => "s.observed_at DESC, s.id DESC",
            SlowQuerySort::ExecutionTimeMs => "s.execution_time_ms DESC, s.id DESC",
        };
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {} FROM slow_queries s JOIN query_classes c ON c.id = s.class_id",
            slow_cols(scope)
        ));
        push_slow_filters(&mut qb, scope, f, &q);
        qb.push(format!(" ORDER BY {order} LIMIT "))
            .push_bind(page.limit())
            .push(" OFFSET ")
            .push_bind(page.offset());
        let rows: Vec<SlowRow> = qb.build_query_as().fetch_all(self.read_pool()).await?;
        let items = rows
            .into_iter()
            .map(|r| r.into_view().map(|v| v.0))
            .collect::<Result<Vec<_>>>()?;
        let total = self.slow_query_total(scope, f, &q).await?;
        Ok((items, total))
    }

    async fn slow_query_by_id(&self, scope: &Scope, id: i64) -> Result<SlowQueryRecord> {
        let sql = format!(
            "SELECT {}, s.explain FROM slow_queries s JOIN query_classes c ON c.id = s.class_id \
             WHERE s.id = $1 AND {}",
            slow_cols(scope),
            scope_sql::predicate_on(scope, Table::Owned, "s.")
        );
        let row: Option<SlowRowWithExplain> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let row = one(row)?;
        let explain = row.explain.map(|j| j.0);
        let organization_id = row.row.organization_id;
        let (view, class_id) = row.row.into_view()?;
        Ok(SlowQueryRecord {
            view,
            class_id,
            organization_id,
            explain,
        })
    }

    async fn query_class_by_id(&self, scope: &Scope, class_id: i64) -> Result<QueryClassView> {
        if !scope_sql::sees_whole_classes(scope) {
            let first = PageRequest {
                page: 1,
                per_page: 1,
            };
            let mut rows = self
                .scoped_classes(scope, &QueryClassFilter::default(), Some(class_id), first)
                .await?;
            return one(rows.pop());
        }
        let owner = match scope.filter() {
            ScopeFilter::Org { org } => format!("c.organization_id = {org}"),
            _ => "1=1".to_string(),
        };
        let sql = format!(
            "SELECT {} FROM query_classes c WHERE c.id = $1 AND {owner}",
            CLASS_COLS
        );
        let row: Option<ClassRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(class_id)
            .fetch_optional(&self.pool)
            .await?;
        let row = one(row)?;
        let dbs: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM class_databases WHERE class_id = $1 ORDER BY name",
        )
        .bind(class_id)
        .fetch_all(&self.pool)
        .await?;
        row.into_view(dbs)
    }

    async fn query_classes_named(
        &self,
        scope: &Scope,
        lookup: ClassLookup<'_>,
    ) -> Result<Vec<ClassRef>> {
        // Visible when the caller can see at least one of its slow queries' owners.
        let sql = format!(
            "SELECT c.id, c.database_type, c.organization_id FROM query_classes c \
             WHERE c.query_id = $1 AND ($2 IS NULL OR c.database_type = $2) \
             AND ($3 IS NULL OR c.organization_id = $3) AND EXISTS (SELECT 1 \
             FROM query_rollups r \
             WHERE r.class_id = c.id AND {}) \
             ORDER BY c.organization_id, c.database_type LIMIT 20",
            scope_sql::predicate_on(scope, Table::Owned, "r.")
        );
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(lookup.query_id)
            .bind(lookup.database_type.map(|d| d.as_str()))
            .bind(lookup.organization_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(id, db, organization_id)| {
                Ok(ClassRef {
                    id,
                    database_type: parse_db_type(&db)?,
                    organization_id,
                })
            })
            .collect()
    }

    async fn list_query_classes(
        &self,
        scope: &Scope,
        f: &QueryClassFilter,
        page: PageRequest,
    ) -> Result<(Vec<QueryClassView>, i64)> {
        // A team or an identity sees its own part of each class it has rows in.
        if !scope_sql::sees_whole_classes(scope) {
            let q = f.q.as_deref().map(like_pattern);
            let mut qb = QueryBuilder::<Db>::new("SELECT COUNT(*)");
            Self::push_scoped_classes(&mut qb, scope, f, None, &q);
            let total: i64 = qb.build_query_scalar().fetch_one(self.read_pool()).await?;
            let items = self.scoped_classes(scope, f, None, page).await?;
            return Ok((items, total));
        }
        let owner = match scope.filter() {
            ScopeFilter::Org { org } => format!("c.organization_id = {org}"),
            _ => "1=1".to_string(),
        };
        let status = match f.status.unwrap_or_default() {
            AnalysisStatus::All => "",
            AnalysisStatus::Analyzed => " AND c.severity IS NOT NULL",
            AnalysisStatus::Unanalyzed => " AND c.severity IS NULL",
        };
        let pred = format!(
            "{owner} AND ($1 IS NULL OR c.severity = $1) AND ($2 IS NULL OR c.database_type = $2) \
             AND \
             ($3 IS NULL OR c.query_id = $3) AND ($4 IS NULL OR c.sample_sql {like} $4 \
             ESCAPE '\\'){status}",
            like = DIALECT.ilike
        );
        let q = f.q.as_deref().map(like_pattern);
        let order = class_order(f.sort.unwrap_or_default(), Totals::Class);
        let total: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM query_classes c WHERE {pred}"
        )))
        .bind(f.severity.map(|s| s.as_str()))
        .bind(f.database_type.map(|d| d.as_str()))
        .bind(f.query_id.as_deref())
        .bind(q.as_deref())
        .fetch_one(self.read_pool())
        .await?;
        let sql = format!(
            "SELECT {} FROM query_classes c WHERE {pred} ORDER BY {order} LIMIT $5 OFFSET $6",
            CLASS_COLS
        );
        let rows: Vec<ClassRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(f.severity.map(|s| s.as_str()))
            .bind(f.database_type.map(|d| d.as_str()))
            .bind(f.query_id.as_deref())
            .bind(q.as_deref())
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(self.read_pool())
            .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut dbs = self.databases_of(&ids).await?;
        let items = rows
            .into_iter()
            .map(|r| {
                let d = dbs.remove(&r.id).unwrap_or_default();
                r.into_view(d)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((items, total))
    }

    async fn class_series(
        &self,
        scope: &Scope,
        class_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Vec<SeriesPoint>> {
        let sql = format!(
            "SELECT r.hour, CAST(SUM(r.count) AS BIGINT), CAST(SUM(r.total_time_ms) AS DOUBLE \
             PRECISION), MAX(r.max_time_ms) FROM query_rollups r \
             WHERE r.class_id = $1 AND r.hour >= $2 AND {} GROUP BY r.hour ORDER BY r.hour",
            scope_sql::predicate_on(scope, Table::Owned, "r.")
        );
        let rows: Vec<(DateTime<Utc>, i64, f64, f64)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(class_id)
            .bind(since)
            .fetch_all(self.read_pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(hour, count, total, max)| SeriesPoint {
                hour,
                count,
                total_time_ms: total,
                avg_time_ms: if count > 0 { total / count as f64 } else { 0.0 },
                max_time_ms: max,
            })
            .collect())
    }

    async fn analysis_for_class(
        &self,
        scope: &Scope,
        class_id: i64,
    ) -> Result<Option<AnalysisView>> {
        // Derived from the class's shared sample: a team or an identity sees it only on a class that is
        // wholly its own.
        let visible = match scope.filter() {
            ScopeFilter::All => "1=1".to_string(),
            ScopeFilter::Org { org } => format!("a.organization_id = {org}"),
            _ => scope_sql::class_is_own(scope, "a.class_id"),
        };
        let sql = format!(
            "SELECT a.report, a.analyzed_at FROM analysis_results a \
             WHERE a.class_id = $1 AND {visible}"
        );
        let row: Option<(Json<AnalysisReport>, DateTime<Utc>)> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(class_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some((report, analyzed_at)) = row else {
            return Ok(None);
        };
        let mut report = report.0;
        if report.recommendations.iter().any(|r| r.index.is_some()) {
            let validations = crate::AdviceStore::class_validations(self, scope, class_id).await?;
            for r in &mut report.recommendations {
                r.validation = validations
                    .iter()
                    .find(|(ddl, _)| Some(ddl) == r.sql.as_ref())
                    .map(|(_, v)| v.clone());
            }
        }
        let applied = self.applied_advice(scope, class_id).await?;
        // Applied advice is not advice any more, even before a snapshot of the class's own shows it.
        report
            .recommendations
            .retain(|r| !applied.iter().any(|a| Some(&a.ddl) == r.sql.as_ref()));
        Ok(Some(AnalysisView {
            report,
            analyzed_at,
            applied,
        }))
    }

    async fn class_plans(&self, scope: &Scope, class_id: i64) -> Result<Vec<PlanView>> {
        let visible = match scope.filter() {
            ScopeFilter::All => "1=1".to_string(),
            ScopeFilter::Org { org } => format!("p.organization_id = {org}"),
            _ => scope_sql::class_is_own(scope, "p.class_id"),
        };
        type Row = (
            String,
            String,
            i64,
            f64,
            DateTime<Utc>,
            DateTime<Utc>,
            Json<serde_json::Value>,
        );
        let rows: Vec<Row> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT p.shape, p.summary, p.executions, p.total_time_ms, p.first_seen, p.last_seen, \
             p.plan FROM class_plans p WHERE p.class_id = $1 AND {visible} \
             ORDER BY p.last_seen DESC, p.shape LIMIT 50"
        )))
        .bind(class_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(shape, summary, executions, total, first_seen, last_seen, plan)| PlanView {
                    shape,
                    summary,
                    executions,
                    total_time_ms: total,
                    mean_ms: (executions > 0).then(|| total / executions as f64),
                    first_seen,
                    last_seen,
                    plan: plan.0,
                },
            )
            .collect())
    }

    async fn dashboard(&self, scope: &Scope, since: DateTime<Utc>) -> Result<DashboardData> {
        let pred = scope_sql::predicate_on(scope, Table::Owned, "r.");
        let (total_queries, total_time): (i64, f64) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(r.count), 0) AS BIGINT), \
             CAST(COALESCE(SUM(r.total_time_ms), \
             0) AS DOUBLE PRECISION) FROM query_rollups r WHERE {pred}"
        )))
        .fetch_one(self.read_pool())
        .await?;
        let classes = format!("SELECT DISTINCT r.class_id FROM query_rollups r WHERE {pred}");
        let (issues, critical): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN a.issue_count > 0 THEN 1 ELSE 0 END), \
             0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN a.severity = 'CRITICAL' THEN 1 ELSE 0 END), \
             0) AS BIGINT) \
             FROM analysis_results a WHERE a.class_id IN ({classes}) AND {own}",
            own = scope_sql::class_is_own(scope, "a.class_id")
        )))
        .fetch_one(self.read_pool())
        .await?;
        let days: Vec<(String, i64, f64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {day} AS d, CAST(SUM(r.count) AS BIGINT), \
             CAST(SUM(r.total_time_ms) AS DOUBLE PRECISION), \
             CAST(SUM(CASE WHEN ({sev}) = 'CRITICAL' THEN r.count ELSE 0 END) AS BIGINT) \
             FROM query_rollups r JOIN query_classes c ON c.id = r.class_id WHERE {pred} \
             AND r.hour >= $1 GROUP BY {day}",
            day = DIALECT.day_of_hour,
            sev = scope_sql::class_severity(scope, "c")
        )))
        .bind(since)
        .fetch_all(self.read_pool())
        .await?;
        Ok(DashboardData {
            total_queries,
            total_time_ms: total_time,
            issues,
            critical,
            days,
        })
    }
}

/// `WHERE ...` of a slow-query list (`s`, joined with its class `c`). Only the filters present become
/// SQL, so the planner can use the (organization, time) and (organization, execution time) indexes.
fn push_slow_filters(
    qb: &mut QueryBuilder<Db>,
    scope: &Scope,
    f: &SlowQueryFilter,
    q: &Option<String>,
) {
    qb.push(" WHERE ");
    qb.push(scope_sql::predicate_on(scope, Table::Owned, "s."));
    push_severity_filters(qb, scope, f.status, f.severity);
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
        qb.push(format!(" AND s.sql_text {} ", DIALECT.ilike))
            .push_bind(v.as_str())
            .push(" ESCAPE '\\'");
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
