//! What-if validation of the platform's index advice (`whatif = true` on a PostgreSQL source, HypoPG
//! installed in the statement's database). Each round the agent claims the validations of the classes it
//! ships (a signed request), and for each: builds the `CREATE INDEX` text itself from the index's table
//! and columns (quoted identifiers, never the platform's DDL), plans the class's statement (one
//! `SELECT`, checked like EXPLAIN's, a generic plan for `$n` texts) without the index and with it as a
//! hypothetical index in its own session, inside a read-only transaction with a statement timeout, then
//! removes every hypothetical index (`hypopg_reset()`): nothing is written to the database. The
//! planner's costs and whether the plan reads the index go back signed. MySQL/MariaDB advice goes to a
//! sandbox source ([`crate::sandbox`]).

use serde_json::Value;
use sqlx::Executor;
use sqlx::postgres::PgConnection;

use dbpower_sql::Dialect;
use dbpower_types::{
    DatabaseType, IndexTarget, MAX_VALIDATION_CLAIM, ValidationClaim, ValidationClaimRequest,
    ValidationMethod, ValidationReceipt, ValidationResult, ValidationResults, ValidationStatus,
    ValidationTask,
};

use crate::collect::MARKER;
use crate::config::{SourceConfig, SourceKind, SourceRole};
use crate::enrich::{PgPlan, explainable, max_param};
use crate::postgres::Sessions;
use crate::ship::{Sent, Shipper};

/// An index is validated when the planner reads it and its cost drops by at least this share.
pub(crate) const MIN_GAIN: f64 = 0.10;
const MAX_KEY_COLUMNS: usize = 32;

/// `"name"`, with quotes doubled; `None` for what cannot be a PostgreSQL identifier.
fn ident(s: &str) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= 63 && !s.chars().any(char::is_control);
    ok.then(|| format!("\"{}\"", s.replace('"', "\"\"")))
}

/// A key expression the agent accepts: one lower/upper call on one column (`lower(email)`).
fn expression_key(e: &str) -> Option<String> {
    let e = e.trim();
    let (func, rest) = e.split_once('(')?;
    let col = rest.strip_suffix(')')?.trim();
    if !col.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let func = func.trim().to_ascii_lowercase();
    if !matches!(func.as_str(), "lower" | "upper") {
        return None;
    }
    Some(format!("({func}({}))", ident(col)?))
}

/// The `CREATE INDEX` text HypoPG is given, built from the index's table and columns.
pub(crate) fn create_index(target: &IndexTarget) -> Result<String, String> {
    let parts: Vec<&str> = target.table.split('.').collect();
    if parts.is_empty() || parts.len() > 2 {
        return Err("the table is not `name` or `schema.name`".into());
    }
    let table = parts
        .iter()
        .map(|p| ident(p))
        .collect::<Option<Vec<_>>>()
        .ok_or("the table name is not an identifier")?
        .join(".");
    let key = match &target.expression {
        Some(e) => {
            expression_key(e).ok_or("only lower(column) and upper(column) keys are validated")?
        }
        None => {
            if target.columns.is_empty() || target.columns.len() > MAX_KEY_COLUMNS {
                return Err(format!("an index has 1 to {MAX_KEY_COLUMNS} columns"));
            }
            target
                .columns
                .iter()
                .map(|c| ident(c))
                .collect::<Option<Vec<_>>>()
                .ok_or("a column name is not an identifier")?
                .join(", ")
        }
    };
    Ok(format!("CREATE INDEX ON {table} ({key})"))
}

/// The plan's total cost and whether any node reads the index named `index`.
fn cost_and_use(plan: &Value, index: Option<&str>) -> (Option<f64>, bool) {
    let top = plan.get(0).and_then(|p| p.get("Plan")).unwrap_or(plan);
    let cost = top.get("Total Cost").and_then(Value::as_f64);
    fn reads(v: &Value, name: &str) -> bool {
        match v {
            Value::Object(o) => {
                o.get("Index Name").and_then(Value::as_str) == Some(name)
                    || o.values().any(|x| reads(x, name))
            }
            Value::Array(a) => a.iter().any(|x| reads(x, name)),
            _ => false,
        }
    }
    (cost, index.is_some_and(|n| reads(plan, n)))
}

/// What the planner says with and without the hypothetical index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Measured {
    pub cost_before: f64,
    pub cost_after: f64,
    pub uses_index: bool,
}

/// The verdict on a measurement.
pub(crate) fn verdict(m: &Measured) -> (ValidationStatus, Option<String>) {
    if !m.uses_index {
        return (
            ValidationStatus::Rejected,
            Some(format!(
                "the planner does not use the index (cost {:.1} with and without it)",
                m.cost_before
            )),
        );
    }
    if m.cost_after > m.cost_before * (1.0 - MIN_GAIN) {
        return (
            ValidationStatus::Rejected,
            Some(format!(
                "the planner would use the index, but the cost only goes from {:.1} to {:.1}",
                m.cost_before, m.cost_after
            )),
        );
    }
    (ValidationStatus::Validated, None)
}

/// Plans `sql` (a `$n` text by its generic plan, see [`PgPlan`]) on the open read-only transaction.
async fn plan(
    conn: &mut PgConnection,
    sql: &str,
    params: usize,
    name: &str,
) -> anyhow::Result<Value> {
    let how = PgPlan::new(sql, params, name);
    let plan = how.run(conn).await?;
    if how.prepare.is_some() {
        conn.execute(sqlx::AssertSqlSafe(format!("{MARKER} DEALLOCATE {name}")))
            .await?;
    }
    Ok(plan)
}

/// The two plans in one read-only, time-limited transaction; the hypothetical index is created between
/// them (a prepared statement per plan, so the second is planned knowing the index).
async fn measure(conn: &mut PgConnection, sql: &str, create: &str) -> anyhow::Result<Measured> {
    let params = max_param(sql);
    if params > 100 {
        anyhow::bail!("more than 100 parameters");
    }
    conn.execute(sqlx::raw_sql(
        "/* dbpower-agent */ SET LOCAL statement_timeout = '2s'",
    ))
    .await?;
    conn.execute(sqlx::raw_sql(
        "/* dbpower-agent */ SET LOCAL lock_timeout = '500ms'",
    ))
    .await?;
    if params > 0 {
        conn.execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET LOCAL plan_cache_mode = force_generic_plan",
        ))
        .await?;
    }
    let before = plan(conn, sql, params, "dbpower_agent_whatif_a").await?;
    let name: String = sqlx::query_scalar(
        "/* dbpower-agent */ SELECT indexname::text FROM hypopg_create_index($1)",
    )
    .bind(create)
    .fetch_one(&mut *conn)
    .await?;
    let after = plan(conn, sql, params, "dbpower_agent_whatif_b").await?;
    let (Some(cost_before), _) = cost_and_use(&before, None) else {
        anyhow::bail!("the plan has no total cost");
    };
    let (Some(cost_after), uses_index) = cost_and_use(&after, Some(&name)) else {
        anyhow::bail!("the plan has no total cost");
    };
    Ok(Measured {
        cost_before,
        cost_after,
        uses_index,
    })
}

/// One validation on one session: the result, and whether the session must be given up.
async fn validate_on(
    conn: &mut PgConnection,
    sql: &str,
    create: &str,
) -> (anyhow::Result<Measured>, bool) {
    let installed: Result<bool, _> = sqlx::query_scalar(
        "/* dbpower-agent */ SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'hypopg')",
    )
    .fetch_one(&mut *conn)
    .await;
    match installed {
        Ok(true) => {}
        Ok(false) => {
            return (
                Err(anyhow::anyhow!(
                    "HypoPG is not installed in this database (CREATE EXTENSION hypopg)"
                )),
                false,
            );
        }
        Err(e) => return (Err(e.into()), true),
    }
    if let Err(e) = conn
        .execute(sqlx::raw_sql("/* dbpower-agent */ BEGIN READ ONLY"))
        .await
    {
        return (Err(e.into()), true);
    }
    let result = measure(conn, sql, create).await;
    let rollback = conn
        .execute(sqlx::raw_sql("/* dbpower-agent */ ROLLBACK"))
        .await;
    // Hypothetical indexes and prepared statements outlive the transaction: both are removed.
    let mut poisoned = rollback.is_err();
    if !poisoned {
        for name in ["dbpower_agent_whatif_a", "dbpower_agent_whatif_b"] {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!("{MARKER} DEALLOCATE {name}")))
                .await;
        }
        poisoned = conn
            .execute(sqlx::raw_sql("/* dbpower-agent */ SELECT hypopg_reset()"))
            .await
            .is_err();
    }
    (result, poisoned)
}

pub(crate) fn unavailable(id: i64, why: impl Into<String>) -> ValidationResult {
    ValidationResult {
        id,
        status: ValidationStatus::Unavailable,
        method: None,
        cost_before: None,
        cost_after: None,
        time_before_ms: None,
        time_after_ms: None,
        uses_index: None,
        reason: Some(why.into().chars().take(500).collect()),
    }
}

/// Costs and timings beyond this are not reported (the platform refuses them).
const MAX_MEASURE: f64 = 1e15;
/// One PostgreSQL validation, connection included.
const TASK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// The source of this agent that shipped the task's statement: the one the task names, which must have
/// shipped a statement of the same query id (a constant may differ, nothing else). The platform's text
/// is hostile: only what the agent itself collected is ever planned (docs/SECURITY.md).
fn shipping_source<'a>(
    task: &ValidationTask,
    sources: &'a [SourceConfig],
    dir: &std::path::Path,
) -> Result<&'a SourceConfig, String> {
    let kind = match task.database_type {
        DatabaseType::Postgresql => SourceKind::Postgresql,
        DatabaseType::Mysql => SourceKind::Mysql,
    };
    let not_ours = "not a statement a source of this agent shipped";
    let source = sources
        .iter()
        .find(|s| {
            s.role == SourceRole::Collect
                && s.kind == kind
                && task.source.as_deref() == Some(s.name.as_str())
        })
        .ok_or(not_ours)?;
    let dialect = match kind {
        SourceKind::Postgresql => Dialect::Postgresql,
        SourceKind::Mysql => Dialect::Mysql,
    };
    let (_, id) = dbpower_sql::fingerprint_and_id(&task.sql, dialect);
    if !crate::state::load(dir, &source.name)
        .shipped
        .contains_key(&id)
    {
        return Err(not_ours.into());
    }
    Ok(source)
}

/// What is reported of a failure: the agent's own words, or a category and the server's SQLSTATE,
/// never the server's message (which could quote data).
pub(crate) fn safe_reason(e: &anyhow::Error) -> String {
    match e.downcast_ref::<sqlx::Error>() {
        Some(sqlx::Error::Database(d)) => match d.code().as_deref() {
            Some("57014") | Some("70100") => "the statement timed out".into(),
            Some(code) => format!("the server refused it (SQLSTATE {code})"),
            None => "the server refused it".into(),
        },
        Some(_) => "the database could not be reached or did not answer".into(),
        None => format!("{e}").chars().take(200).collect(),
    }
}

/// `text` for the agent's log: at most 300 characters, control characters replaced.
fn loggable(text: &str) -> String {
    text.chars()
        .take(300)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Validates one task on its source's sessions (MySQL/MariaDB: on the sandbox).
pub(crate) async fn validate(
    task: &ValidationTask,
    sources: &[SourceConfig],
    sessions: &mut Vec<(String, Sessions)>,
    dir: &std::path::Path,
) -> ValidationResult {
    let source = match shipping_source(task, sources, dir) {
        Ok(s) => s,
        Err(why) => return unavailable(task.id, why),
    };
    if task.database_type != DatabaseType::Postgresql {
        // MySQL/MariaDB have no hypothetical indexes: a sandbox copy is the only way.
        return match sources
            .iter()
            .find(|s| s.role == SourceRole::Sandbox && s.kind == SourceKind::Mysql)
        {
            Some(sandbox) => crate::sandbox::validate(task, sandbox).await,
            None => unavailable(
                task.id,
                "MySQL/MariaDB have no hypothetical indexes, and no source of this agent has role = \"sandbox\"",
            ),
        };
    }
    if !source.whatif {
        return unavailable(
            task.id,
            "the source that shipped it does not have whatif = true",
        );
    }
    let Some(sql) = explainable(&task.sql, Dialect::Postgresql) else {
        return unavailable(task.id, "the class's statement is not one plain SELECT");
    };
    let create = match create_index(&task.index) {
        Ok(c) => c,
        Err(why) => return unavailable(task.id, why),
    };
    let at = match sessions.iter().position(|(n, _)| *n == source.name) {
        Some(i) => i,
        None => {
            sessions.push((source.name.clone(), Sessions::new(&source.url)));
            sessions.len() - 1
        }
    };
    let db = task.database_name.as_deref();
    let s = &mut sessions[at].1;
    let attempt = tokio::time::timeout(TASK_DEADLINE, async {
        let session = s
            .on(db)
            .await
            .map_err(|_| anyhow::anyhow!("cannot open a session on the statement's database"))?;
        let (result, poisoned) = validate_on(&mut session.conn, &sql, &create).await;
        Ok::<_, anyhow::Error>((result, poisoned))
    })
    .await;
    let result = match attempt {
        Err(_) => {
            s.discard(db);
            Err(anyhow::anyhow!("the validation took longer than 30 s"))
        }
        Ok(Err(e)) => Err(e),
        Ok(Ok((result, poisoned))) => {
            if poisoned {
                s.discard(db);
            }
            result
        }
    };
    match result {
        Err(e) => unavailable(task.id, safe_reason(&e)),
        Ok(m)
            if !(m.cost_before.is_finite() && m.cost_after.is_finite())
                || m.cost_before.max(m.cost_after) > MAX_MEASURE
                || m.cost_before.min(m.cost_after) < 0.0 =>
        {
            unavailable(task.id, "the planner's costs are beyond what is reported")
        }
        Ok(m) => {
            let (status, reason) = verdict(&m);
            ValidationResult {
                id: task.id,
                status,
                method: Some(ValidationMethod::Hypopg),
                cost_before: Some(m.cost_before),
                cost_after: Some(m.cost_after),
                time_before_ms: None,
                time_after_ms: None,
                uses_index: Some(m.uses_index),
                reason,
            }
        }
    }
}

/// One round: claims this agent's validations and answers them. Returns what went wrong (logged by the
/// round; never fatal), or nothing when no source has `whatif`.
pub(crate) async fn round(
    shipper: &Shipper,
    sources: &[SourceConfig],
    dir: &std::path::Path,
) -> Vec<String> {
    if !sources
        .iter()
        .any(|s| s.whatif || s.role == SourceRole::Sandbox)
    {
        return Vec::new();
    }
    let claim: ValidationClaim = match shipper
        .post_json(
            "/api/v1/agents/validations/claim",
            &ValidationClaimRequest::default(),
        )
        .await
    {
        Ok(c) => c,
        Err(e) => return vec![format!("index validations not claimed: {e:?}")],
    };
    if claim.tasks.is_empty() {
        return Vec::new();
    }
    let mut sessions = Vec::new();
    let mut results = Vec::with_capacity(claim.tasks.len());
    for task in claim.tasks.iter().take(MAX_VALIDATION_CLAIM) {
        let r = validate(task, sources, &mut sessions, dir).await;
        tracing::info!(id = task.id, ddl = %loggable(&task.ddl), status = r.status.as_str(), "index validation");
        results.push(r);
    }
    let posted: Result<ValidationReceipt, Sent> = shipper
        .post_json("/api/v1/agents/validations", &ValidationResults { results })
        .await;
    match posted {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!("index validation results not sent: {e:?}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(table: &str, cols: &[&str], expression: Option<&str>) -> IndexTarget {
        IndexTarget {
            table: table.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            equality: cols.len(),
            expression: expression.map(String::from),
        }
    }

    #[test]
    fn the_index_text_is_built_from_quoted_names_only() {
        assert_eq!(
            create_index(&target("public.orders", &["customer_id", "status"], None)).expect("key"),
            "CREATE INDEX ON \"public\".\"orders\" (\"customer_id\", \"status\")"
        );
        // A hostile name stays one quoted identifier.
        assert_eq!(
            create_index(&target("t", &["a\"); DROP TABLE t; --"], None)).expect("key"),
            "CREATE INDEX ON \"t\" (\"a\"\"); DROP TABLE t; --\")"
        );
        assert_eq!(
            create_index(&target("users", &["email"], Some("lower(email)"))).expect("key"),
            "CREATE INDEX ON \"users\" ((lower(\"email\")))"
        );
        for bad in [
            target("a.b.c", &["x"], None),
            target("t", &[], None),
            target("t", &[&"x".repeat(64)], None),
            target("t", &["a\u{0}"], None),
            target("t", &["x"], Some("pg_sleep(10)")),
            target("t", &["x"], Some("lower(x) || (select 1)")),
        ] {
            assert!(create_index(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_plan_reads_the_index_when_a_node_names_it() {
        let plan = serde_json::json!([{"Plan": {"Node Type": "Nested Loop", "Total Cost": 12.5,
            "Plans": [{"Node Type": "Index Scan", "Index Name": "<13556>btree_t_a"}]}}]);
        assert_eq!(
            cost_and_use(&plan, Some("<13556>btree_t_a")),
            (Some(12.5), true)
        );
        assert_eq!(
            cost_and_use(&plan, Some("<1>btree_t_b")),
            (Some(12.5), false)
        );
    }

    #[test]
    fn only_an_index_the_planner_reads_and_that_cuts_the_cost_is_validated() {
        let m = |b, a, u| Measured {
            cost_before: b,
            cost_after: a,
            uses_index: u,
        };
        assert_eq!(
            verdict(&m(1000.0, 8.0, true)).0,
            ValidationStatus::Validated
        );
        assert_eq!(
            verdict(&m(1000.0, 950.0, true)).0,
            ValidationStatus::Rejected
        );
        let (status, why) = verdict(&m(1000.0, 1000.0, false));
        assert_eq!(status, ValidationStatus::Rejected);
        assert!(why.expect("reason").contains("does not use"));
    }
}
