//! [`AdviceStore`] in SQL: validations claimed with a lease by the agent that ships the class's
//! statements and answered only by the lease holder (both checked in the writing statement), pending
//! validations written with the analysis that recommends them, and the inputs of workload advice.

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

use chrono::DurationRound;
use chrono::{DateTime, Utc};
use dbpower_core::{Scope, ScopeFilter};
use dbpower_types::{
    AnalysisReport, ApiKeyView, AppliedAdvice, ClassIndexAdvice, DatabaseType, IndexTarget,
    IndexValidation, RecommendationKind, TableSchema, TableSnapshot, ValidationMethod,
    ValidationReceipt, ValidationResult, ValidationStatus, ValidationTask, WritingClass,
};
use sqlx::AssertSqlSafe;
use sqlx::types::Json;

use super::{Conn, DIALECT, DbStore};
use crate::advice::{
    AdviceInputs, AdviceStore, MAX_VALIDATION_ATTEMPTS, MAX_VALIDATIONS_PER_CLASS,
    VALIDATION_LEASE_SECS,
};
use crate::scope_sql;
use crate::{Result, now};

/// Classes and tables one workload read considers (the most expensive classes first).
const MAX_ADVICE_CLASSES: i64 = 2000;
const MAX_ADVICE_TABLES: i64 = 5000;

const VALIDATION_COLS: &str = "v.status, v.method, v.cost_before, v.cost_after, \
     v.time_before_ms, v.time_after_ms, v.uses_index, v.reason, v.checked_at";

type ValidationRow = (
    String,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<bool>,
    Option<String>,
    Option<DateTime<Utc>>,
);

fn validation_of(r: ValidationRow) -> IndexValidation {
    IndexValidation {
        status: ValidationStatus::parse(&r.0).unwrap_or(ValidationStatus::Pending),
        method: r.1.as_deref().and_then(ValidationMethod::parse),
        cost_before: r.2,
        cost_after: r.3,
        time_before_ms: r.4,
        time_after_ms: r.5,
        uses_index: r.6,
        reason: r.7,
        checked_at: r.8,
    }
}

/// Writes a pending validation for each index recommendation of `report` that names its index (in the
/// transaction that stores the analysis); one found unavailable before is asked again.
pub(super) async fn request_validations(
    conn: &mut Conn,
    organization_id: i64,
    class_id: i64,
    report: &AnalysisReport,
    now: DateTime<Utc>,
) -> Result<()> {
    let wanted: Vec<(&String, &IndexTarget)> = report
        .recommendations
        .iter()
        .filter(|r| r.kind == RecommendationKind::Index)
        .filter_map(|r| Some((r.sql.as_ref()?, r.index.as_ref()?)))
        .take(MAX_VALIDATIONS_PER_CLASS)
        .collect();
    // What the new analysis no longer recommends goes; so does what no agent claimed in 30 days.
    let mut qb =
        sqlx::QueryBuilder::<super::Db>::new("DELETE FROM index_validations WHERE class_id = ");
    qb.push_bind(class_id);
    // Applied advice is kept: the analysis no longer recommends an index that exists.
    qb.push(" AND realized_at IS NULL");
    if !wanted.is_empty() {
        qb.push(" AND ddl NOT IN (");
        let mut list = qb.separated(", ");
        for (ddl, _) in &wanted {
            list.push_bind(ddl.as_str());
        }
        qb.push(")");
    }
    qb.build().execute(&mut *conn).await?;
    sqlx::query(
        "UPDATE index_validations SET status = 'unavailable', checked_at = $2, leased_by = NULL, \
         lease_until = NULL, reason = 'no agent with whatif = true or a sandbox claimed it within 30 days' \
         WHERE organization_id = $1 AND status = 'pending' AND requested_at < $3 \
         AND realized_at IS NULL",
    )
    .bind(organization_id)
    .bind(now)
    .bind(now - chrono::Duration::days(30))
    .execute(&mut *conn)
    .await?;
    for (ddl, target) in wanted {
        sqlx::query(
            "INSERT INTO index_validations (organization_id, class_id, ddl, target, status, \
             requested_at) VALUES ($1, $2, $3, $4, 'pending', $5) \
             ON CONFLICT (class_id, ddl) DO UPDATE SET status = 'pending', attempts = 0, \
             reason = NULL, checked_at = NULL, requested_at = excluded.requested_at \
             WHERE index_validations.status = 'unavailable' \
             AND index_validations.realized_at IS NULL",
        )
        .bind(organization_id)
        .bind(class_id)
        .bind(ddl)
        .bind(Json(target))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

type TaskRow = (
    i64,
    String,
    Json<IndexTarget>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The claimed validation `id` with the newest statement of its class that `key` shipped.
const TASK: &str = "SELECT v.id, c.database_type, v.target, v.ddl, \
     (SELECT s.sql_text FROM slow_queries s WHERE s.class_id = v.class_id AND s.api_key_id = $2 \
     ORDER BY s.id DESC LIMIT 1), \
     (SELECT s.database_name FROM slow_queries s WHERE s.class_id = v.class_id AND s.api_key_id = $2 \
     ORDER BY s.id DESC LIMIT 1), \
     (SELECT s.source FROM slow_queries s WHERE s.class_id = v.class_id AND s.api_key_id = $2 \
     ORDER BY s.id DESC LIMIT 1) \
     FROM index_validations v JOIN query_classes c ON c.id = v.class_id WHERE v.id = $1";

fn task_of(r: TaskRow) -> Option<ValidationTask> {
    Some(ValidationTask {
        id: r.0,
        database_type: DatabaseType::parse(&r.1)?,
        index: r.2.0,
        ddl: r.3,
        sql: r.4?,
        database_name: r.5,
        // Shipped as `source:method`; the source's configured name is before the method.
        source: r
            .6
            .map(|s| s.rsplit_once(':').map_or(s.clone(), |(n, _)| n.to_string())),
    })
}

#[async_trait]
impl AdviceStore for DbStore {
    async fn claim_validations(&self, key: &ApiKeyView, limit: i64) -> Result<Vec<ValidationTask>> {
        let now = now();
        let until = now + chrono::Duration::seconds(VALIDATION_LEASE_SECS);
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE index_validations SET status = 'unavailable', leased_by = NULL, \
             lease_until = NULL, checked_at = $2, \
             reason = 'no agent answered: claimed by an agent that did not report back' \
             WHERE organization_id = $1 AND status = 'pending' AND attempts >= $3 \
             AND lease_until < $2",
        )
        .bind(key.organization_id)
        .bind(now)
        .bind(MAX_VALIDATION_ATTEMPTS)
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "UPDATE index_validations SET leased_by = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT v.id FROM index_validations v WHERE v.organization_id = $3 \
             AND v.status = 'pending' AND v.realized_at IS NULL \
             AND (v.lease_until IS NULL OR v.lease_until < $4) \
             AND EXISTS (SELECT 1 FROM slow_queries s WHERE s.class_id = v.class_id \
             AND s.api_key_id = $1) ORDER BY v.id LIMIT $5{}) RETURNING id",
            DIALECT.skip_locked
        );
        let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(key.id)
            .bind(until)
            .bind(key.organization_id)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut tasks = Vec::with_capacity(ids.len());
        for id in ids {
            let row: Option<TaskRow> = sqlx::query_as(TASK)
                .bind(id)
                .bind(key.id)
                .fetch_optional(&mut *tx)
                .await?;
            tasks.extend(row.and_then(task_of));
        }
        tx.commit().await?;
        tasks.sort_by_key(|t| t.id);
        Ok(tasks)
    }

    async fn record_validations(
        &self,
        key: &ApiKeyView,
        results: &[ValidationResult],
    ) -> Result<ValidationReceipt> {
        let now = now();
        let _guard = self.write_guard().await;
        let mut tx = self.pool.begin().await?;
        let mut receipt = ValidationReceipt::default();
        for r in results {
            let done = sqlx::query(
                "UPDATE index_validations SET status = $3, method = $4, cost_before = $5, \
                 cost_after = $6, time_before_ms = $7, time_after_ms = $8, uses_index = $9, \
                 reason = $10, checked_at = $11, leased_by = NULL, lease_until = NULL \
                 WHERE id = $1 AND leased_by = $2 AND organization_id = $12 AND status = 'pending'",
            )
            .bind(r.id)
            .bind(key.id)
            .bind(r.status.as_str())
            .bind(r.method.map(ValidationMethod::as_str))
            .bind(r.cost_before)
            .bind(r.cost_after)
            .bind(r.time_before_ms)
            .bind(r.time_after_ms)
            .bind(r.uses_index)
            .bind(&r.reason)
            .bind(now)
            .bind(key.organization_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done > 0 {
                receipt.recorded += 1;
            } else {
                receipt.ignored += 1;
            }
        }
        tx.commit().await?;
        Ok(receipt)
    }

    async fn class_validations(
        &self,
        scope: &Scope,
        class_id: i64,
    ) -> Result<Vec<(String, IndexValidation)>> {
        let visible = validations_visible(scope);
        let rows: Vec<ClassValidationRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT v.class_id, v.ddl, {VALIDATION_COLS} FROM index_validations v \
             WHERE v.class_id = $1 AND {visible} ORDER BY v.id LIMIT 100"
        )))
        .bind(class_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let v = validation_of((r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10));
                (r.1, v)
            })
            .collect())
    }

    async fn advice_inputs(&self, scope: &Scope) -> Result<AdviceInputs> {
        Ok(AdviceInputs {
            advice: self.class_advice(scope).await?,
            writers: self.writing_classes(scope).await?,
            tables: self.table_snapshots(scope).await?,
        })
    }
}

/// Which rows of a table with `organization_id` (and `team_id` for tables) the scope sees.
fn org_visible(scope: &Scope, a: &str) -> String {
    match scope.filter() {
        ScopeFilter::All => "1=1".to_string(),
        ScopeFilter::Nothing => "1=0".to_string(),
        ScopeFilter::Org { org } => format!("{a}organization_id = {org}"),
        ScopeFilter::Team { org, team } => {
            format!("{a}organization_id = {org} AND {a}team_id = {team}")
        }
        ScopeFilter::Identity { .. } => "1=0".to_string(),
    }
}

/// Which classes (aliased `c`) the scope sees whole.
fn classes_visible(scope: &Scope) -> String {
    match scope.filter() {
        ScopeFilter::All => "1=1".to_string(),
        ScopeFilter::Org { org } => format!("c.organization_id = {org}"),
        _ => format!(
            "{} AND {}",
            scope_sql::predicate_on(scope, scope_sql::Table::Classes, "c."),
            scope_sql::class_is_own(scope, "c.id")
        ),
    }
}

type ClassValidationRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<bool>,
    Option<String>,
    Option<DateTime<Utc>>,
);

type SnapshotRow = (i64, String, String, Json<TableSchema>, DateTime<Utc>);

type AdviceRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    i64,
    f64,
    Json<AnalysisReport>,
);

impl DbStore {
    async fn class_advice(&self, scope: &Scope) -> Result<Vec<ClassIndexAdvice>> {
        let visible = classes_visible(scope);
        let rows: Vec<AdviceRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT c.organization_id, c.id, c.query_id, c.database_type, (SELECT MIN(d.name) FROM class_databases d \
             WHERE d.class_id = c.id), c.count, c.total_time_ms, a.report FROM analysis_results a \
             JOIN query_classes c ON c.id = a.class_id WHERE {visible} \
             ORDER BY c.total_time_ms DESC, c.id LIMIT {MAX_ADVICE_CLASSES}"
        )))
        .fetch_all(&self.pool)
        .await?;
        let mut validations = self.visible_validations(scope).await?;
        let mut out = Vec::new();
        for (organization_id, class_id, query_id, dbtype, db, count, total, report) in rows {
            let Some(database_type) = DatabaseType::parse(&dbtype) else {
                continue;
            };
            for r in report.0.recommendations {
                let (Some(ddl), Some(target)) = (r.sql, r.index) else {
                    continue;
                };
                let validation = validations.remove(&(class_id, ddl.clone()));
                out.push(ClassIndexAdvice {
                    organization_id,
                    class_id,
                    query_id: query_id.clone(),
                    database_type,
                    database_name: db.clone(),
                    ddl,
                    target,
                    executions: count,
                    total_time_ms: total,
                    validation,
                });
            }
        }
        Ok(out)
    }

    /// The validations of the classes the scope sees whole, by class and DDL.
    async fn visible_validations(
        &self,
        scope: &Scope,
    ) -> Result<std::collections::HashMap<(i64, String), IndexValidation>> {
        let visible = classes_visible(scope);
        // The validations of the classes `class_advice` reads, no others.
        let rows: Vec<ClassValidationRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT v.class_id, v.ddl, {VALIDATION_COLS} FROM index_validations v WHERE v.class_id IN \
             (SELECT c.id FROM analysis_results a JOIN query_classes c ON c.id = a.class_id \
             WHERE {visible} ORDER BY c.total_time_ms DESC, c.id LIMIT {MAX_ADVICE_CLASSES}) \
             ORDER BY v.id LIMIT {}",
            MAX_ADVICE_CLASSES * MAX_VALIDATIONS_PER_CLASS as i64
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let v = validation_of((r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10));
                ((r.0, r.1), v)
            })
            .collect())
    }

    async fn writing_classes(&self, scope: &Scope) -> Result<Vec<WritingClass>> {
        let visible = classes_visible(scope);
        let rows: Vec<(i64, String, Option<String>, String, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT c.organization_id, c.database_type, (SELECT MIN(d.name) FROM class_databases d WHERE d.class_id = \
             c.id), c.fingerprint, c.count FROM query_classes c WHERE {visible} AND \
             (LOWER(SUBSTR(c.fingerprint, 1, 7)) IN ('insert ', 'update ', 'delete ', 'replace')) \
             ORDER BY c.count DESC, c.id LIMIT {MAX_ADVICE_CLASSES}"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(organization_id, t, db, fingerprint, executions)| {
                Some(WritingClass {
                    organization_id,
                    database_type: DatabaseType::parse(&t)?,
                    database_name: db,
                    fingerprint,
                    executions,
                })
            })
            .collect())
    }

    async fn table_snapshots(&self, scope: &Scope) -> Result<Vec<TableSnapshot>> {
        let visible = org_visible(scope, "t.");
        let rows: Vec<SnapshotRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT t.organization_id, t.database_type, t.database_name, t.snapshot, t.seen_at \
                 FROM table_snapshots t \
                 WHERE {visible} ORDER BY t.database_name, t.table_key LIMIT {MAX_ADVICE_TABLES}"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(organization_id, t, db, snap, seen_at)| {
                Some(TableSnapshot {
                    organization_id,
                    database_type: DatabaseType::parse(&t)?,
                    database_name: db,
                    table: snap.0,
                    seen_at,
                })
            })
            .collect())
    }
}

/// Tables described in one ingestion transaction, at most (the rest wait for a later batch).
const MAX_TABLES_PER_INGEST: usize = 500;
/// Descriptions one ingestion transaction looks at for applied advice.
const MAX_DESCRIPTIONS_PER_INGEST: usize = 5000;

/// Keeps the newest description of every table the batches' schema snapshots describe (the last one
/// sent wins within the batches), with the shipping key's team. Returns the classes whose index advice
/// the descriptions show applied (see [`realize_advice`]).
pub(super) async fn upsert_table_snapshots(
    conn: &mut Conn,
    rows: &[super::ingest::RawRow<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, i64)>> {
    type Key = (i64, &'static str, String, String, i64);
    let mut newest: std::collections::BTreeMap<Key, (Option<i64>, TableSchema)> =
        std::collections::BTreeMap::new();
    // Every description with its statement's time: advice is applied from the first that shows it.
    let mut all: Vec<(Key, TableSchema, DateTime<Utc>)> = Vec::new();
    for (org, batch, q) in rows {
        let Some(snapshot) = q
            .schema
            .as_ref()
            .and_then(|v| serde_json::from_value::<dbpower_types::SchemaSnapshot>(v.clone()).ok())
        else {
            continue;
        };
        let db = q.database_name.clone().unwrap_or_default();
        // Dated by when the agent read the catalog, never later than now.
        let described_at = snapshot.described_at.unwrap_or(q.observed_at).min(now);
        for t in snapshot.tables {
            let key = match &t.schema {
                Some(s) => format!("{}.{}", s.to_lowercase(), t.name.to_lowercase()),
                None => t.name.to_lowercase(),
            };
            if key.len() > 600 {
                continue;
            }
            let k = (
                *org,
                q.database_type.as_str(),
                db.clone(),
                key,
                batch.api_key_id,
            );
            if newest.len() >= MAX_TABLES_PER_INGEST && !newest.contains_key(&k) {
                continue;
            }
            if all.len() < MAX_DESCRIPTIONS_PER_INGEST {
                all.push((k.clone(), t.clone(), described_at));
            }
            newest.insert(k, (batch.team_id, t));
        }
    }
    let described: Vec<Described<'_>> = all
        .iter()
        .map(|((org, dbtype, db, key, api_key), table, at)| Described {
            org: *org,
            database_type: dbtype,
            database: db,
            api_key: *api_key,
            key,
            table,
            at: *at,
        })
        .collect();
    let realized = realize_advice(conn, &described).await?;
    for ((org, dbtype, db, key, api_key), (team, table)) in &newest {
        sqlx::query(
            "INSERT INTO table_snapshots (organization_id, database_type, database_name, table_key, \
             api_key_id, team_id, snapshot, first_seen, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (organization_id, database_type, database_name, table_key, api_key_id) \
             DO UPDATE SET team_id = excluded.team_id, snapshot = excluded.snapshot, \
             seen_at = excluded.seen_at",
        )
        .bind(org)
        .bind(dbtype)
        .bind(db)
        .bind(key)
        .bind(api_key)
        .bind(team)
        .bind(Json(table))
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(realized)
}

/// A table as one ingestion described it.
struct Described<'a> {
    org: i64,
    database_type: &'a str,
    database: &'a str,
    /// The key that shipped it: the server its agent watches.
    api_key: i64,
    /// `schema.name` or `name`, lower-cased.
    key: &'a str,
    table: &'a TableSchema,
    /// When the agent read the catalog (or the statement's time), at most the ingestion's.
    at: DateTime<Utc>,
}

/// Whether a recommendation's table (`orders`, `shop.orders`) is the described table `key` in
/// database `db`: the same name, and the same qualifier when the recommendation has one (a PostgreSQL
/// schema, or a MySQL database).
fn same_table(target: &str, key: &str, db: &str) -> bool {
    let target = target.to_lowercase();
    let target = target.trim_matches(['`', '"']);
    let (t_qual, t_name) = match target.rsplit_once('.') {
        Some((q, n)) => (Some(q.trim_matches(['`', '"'])), n.trim_matches(['`', '"'])),
        None => (None, target),
    };
    let (k_qual, k_name) = match key.rsplit_once('.') {
        Some((q, n)) => (Some(q), n),
        None => (None, key),
    };
    t_name == k_name && t_qual.is_none_or(|q| Some(q) == k_qual || q.eq_ignore_ascii_case(db))
}

/// Recommendations of one organization, server and database one ingestion looks at for applied advice.
const MAX_OPEN_ADVICE: i64 = 1000;
/// (organization, engine, database, key) groups of descriptions one ingestion looks at; the others are
/// looked at when their tables are described again.
const MAX_ADVICE_GROUPS: usize = 16;

/// A recommendation as applied advice reads it: id, class, target and when it was applied.
type OpenRow = (i64, i64, Json<IndexTarget>, Option<DateTime<Utc>>);

/// A group's descriptions by table name (the last part of the key).
type ByTable<'a, 'b> = HashMap<&'a str, Vec<&'b Described<'a>>>;

/// Index advice that the described tables show applied, or no longer applied. For each (organization,
/// engine, database, key) of the descriptions, the recommendations of classes of that organization and
/// engine that ran in that database and were shipped by that key (the same server): one whose table now
/// has a plain index serving the recommended key is marked applied, with the index's name and the time
/// of the first description that showed it; an applied one whose table's newest description has no such
/// index any more (it was dropped) is open again. The organization is checked in each `UPDATE`. Returns
/// the classes, to be analysed again.
async fn realize_advice(conn: &mut Conn, described: &[Described<'_>]) -> Result<Vec<(i64, i64)>> {
    let mut groups: BTreeMap<(i64, &str, &str, i64), ByTable<'_, '_>> = BTreeMap::new();
    for d in described {
        let name = d.key.rsplit('.').next().unwrap_or(d.key);
        let group = (d.org, d.database_type, d.database, d.api_key);
        if groups.len() >= MAX_ADVICE_GROUPS && !groups.contains_key(&group) {
            continue;
        }
        groups
            .entry(group)
            .or_default()
            .entry(name)
            .or_default()
            .push(d);
    }
    let mut changed = Vec::new();
    for ((org, dbtype, db, api_key), tables) in &groups {
        let rows: Vec<OpenRow> = sqlx::query_as(
            "SELECT v.id, v.class_id, v.target, v.realized_at FROM index_validations v \
             JOIN query_classes c ON c.id = v.class_id WHERE v.organization_id = $1 \
             AND c.database_type = $2 AND (($3 <> '' AND EXISTS (SELECT 1 FROM class_databases d \
             WHERE d.class_id = v.class_id AND d.name = $3)) OR ($3 = '' AND NOT EXISTS \
             (SELECT 1 FROM class_databases d WHERE d.class_id = v.class_id))) \
             AND EXISTS (SELECT 1 FROM slow_queries s WHERE s.class_id = v.class_id \
             AND s.api_key_id = $4) ORDER BY v.id LIMIT $5",
        )
        .bind(org)
        .bind(dbtype)
        .bind(db)
        .bind(api_key)
        .bind(MAX_OPEN_ADVICE)
        .fetch_all(&mut *conn)
        .await?;
        for (id, class, target, realized) in rows {
            let target = target.0;
            let name = target.table.rsplit('.').next().unwrap_or(&target.table);
            let name = name.trim_matches(['`', '"']).to_lowercase();
            let Some(seen) = tables.get(name.as_str()) else {
                continue;
            };
            let update = applied_change(&target, seen, realized.is_some());
            let Some((at, index)) = update else {
                continue;
            };
            let done = sqlx::query(
                "UPDATE index_validations SET realized_at = $1, realized_index = $2 \
                 WHERE id = $3 AND organization_id = $4",
            )
            .bind(at)
            .bind(index)
            .bind(id)
            .bind(org)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 1 {
                changed.push((*org, class));
            }
        }
    }
    changed.sort_unstable();
    changed.dedup();
    Ok(changed)
}

/// When a recommendation was applied and by which index; `(None, None)`: open again.
type Change = (Option<DateTime<Utc>>, Option<String>);

/// What the descriptions `seen` of a recommendation's table change: an open recommendation is applied
/// once one of them has a plain index serving it, the first such description dating it; an applied one
/// is open again when the newest has none.
fn applied_change(target: &IndexTarget, seen: &[&Described<'_>], applied: bool) -> Option<Change> {
    let seen: Vec<&&Described<'_>> = seen
        .iter()
        .filter(|d| same_table(&target.table, d.key, d.database))
        .collect();
    let serving = |d: &Described<'_>| {
        d.table
            .indexes
            .iter()
            .find(|ix| ix.plain() && target.served_by(&ix.columns))
            .map(|ix| ix.name.clone())
    };
    if applied {
        seen.iter()
            .max_by_key(|d| d.at)
            .filter(|d| serving(d).is_none())
            .map(|_| (None, None))
    } else {
        seen.iter()
            .filter_map(|d| Some((d.at, serving(d)?)))
            .min()
            .map(|(at, index)| (Some(at), Some(index)))
    }
}

/// Which rows of `index_validations v` a scope reads: derived from the class's shared sample, so a team or
/// an identity reads them only on a class that is wholly its own.
fn validations_visible(scope: &Scope) -> String {
    match scope.filter() {
        ScopeFilter::All => "1=1".to_string(),
        ScopeFilter::Org { org } => format!("v.organization_id = {org}"),
        _ => scope_sql::class_is_own(scope, "v.class_id"),
    }
}

/// Bounds of the hourly histograms an applied recommendation compares: the week of hours before the
/// hour the index was first seen, and the week of hours from the hour after.
const EFFECT_HOURS: i64 = 7 * 24;

impl DbStore {
    /// The class's histogram over `[from, to)`: executions and p95.
    async fn p95_between(
        &self,
        class_id: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(i64, Option<f64>)> {
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT bucket, CAST(SUM(count) AS BIGINT) FROM rollup_buckets WHERE class_id = $1 \
             AND hour >= $2 AND hour < $3 GROUP BY bucket",
        )
        .bind(class_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut h = dbpower_sql::histogram::Histogram::new();
        for (bucket, count) in rows {
            if let (Ok(b), Ok(n)) = (u16::try_from(bucket), u64::try_from(count)) {
                h.record_bucket(b, n);
            }
        }
        let calls = i64::try_from(h.count()).unwrap_or(i64::MAX);
        Ok((calls, h.percentile(95.0)))
    }

    pub(super) async fn applied_advice(
        &self,
        scope: &Scope,
        class_id: i64,
    ) -> Result<Vec<AppliedAdvice>> {
        let visible = validations_visible(scope);
        let rows: Vec<(String, Option<String>, DateTime<Utc>)> =
            sqlx::query_as(AssertSqlSafe(format!(
                "SELECT v.ddl, v.realized_index, v.realized_at FROM index_validations v \
                 WHERE v.class_id = $1 AND v.realized_at IS NOT NULL AND {visible} \
                 ORDER BY v.realized_at DESC, v.id LIMIT 10"
            )))
            .bind(class_id)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (ddl, index, since) in rows {
            let hour = since
                .duration_trunc(chrono::TimeDelta::hours(1))
                .unwrap_or(since);
            let week = chrono::TimeDelta::hours(EFFECT_HOURS);
            let next = hour + chrono::TimeDelta::hours(1);
            let (calls_before, p95_before_ms) =
                self.p95_between(class_id, hour - week, hour).await?;
            let (calls_after, p95_after_ms) = self.p95_between(class_id, next, next + week).await?;
            let mut a = AppliedAdvice {
                ddl,
                index: index.unwrap_or_default(),
                since,
                calls_before,
                calls_after,
                p95_before_ms,
                p95_after_ms,
                summary: String::new(),
            };
            a.summarize();
            out.push(a);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::same_table;

    #[test]
    fn a_recommendation_names_a_described_table() {
        assert!(same_table("orders", "public.orders", "shop"));
        assert!(same_table("Public.\"Orders\"", "public.orders", "shop"));
        assert!(
            same_table("shop.orders", "orders", "shop"),
            "a MySQL database"
        );
        assert!(!same_table("other.orders", "public.orders", "shop"));
        assert!(!same_table("order", "public.orders", "shop"));
    }
}
