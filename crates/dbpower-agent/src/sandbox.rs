//! Validation of MySQL/MariaDB index advice on a sandbox (`role = "sandbox"`): a replica or staging copy
//! the customer names, where the agent's user may alter tables. MySQL and MariaDB have no hypothetical
//! indexes, so the index is built there (online: `ALGORITHM=INPLACE, LOCK=NONE`), the class's statement
//! is planned and timed before and after (a bounded number of runs, each inside a read-only, time-limited
//! transaction, rows counted and discarded), and the index is dropped again whatever happened. Nothing
//! runs on the monitored servers. The index text is built from quoted names, never from the platform's
//! DDL; the statement must be one plain `SELECT` with its values (`scrub = "pii_only"`).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::mysql::MySqlConnection;
use sqlx::{Executor, Row};

use dbpower_sql::Dialect;
use dbpower_types::{ValidationMethod, ValidationResult, ValidationStatus, ValidationTask};

use crate::check::Report;
use crate::collect::MARKER;
use crate::config::SourceConfig;
use crate::enrich::{explainable, has_placeholders};
use crate::whatif::{MIN_GAIN, unavailable};

/// Rows one timed run reads before it is cut short (the time so far is what is compared).
const MAX_ROWS_PER_RUN: u64 = 1_000_000;
/// A timed run's statement timeout, in seconds.
const RUN_TIMEOUT_SECS: u32 = 10;
/// Building or dropping the index, in seconds.
const DDL_TIMEOUT_SECS: u32 = 600;

/// `` `name` `` with backticks doubled; `None` for what cannot be a MySQL identifier.
fn ident(s: &str) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= 64 && !s.chars().any(char::is_control);
    ok.then(|| format!("`{}`", s.replace('`', "``")))
}

/// What the sandbox works on: its database, the table, the index's name and key.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    pub database: String,
    pub table: String,
    pub index: String,
    pub key: String,
}

/// The sandbox's names for a task, or why it cannot be validated there.
pub(crate) fn plan_for(task: &ValidationTask, source: &SourceConfig) -> Result<Plan, String> {
    if task.index.expression.is_some() {
        return Err("expression keys are not validated on a sandbox".into());
    }
    let database = source
        .sandbox_database
        .clone()
        .or_else(|| task.database_name.clone())
        .ok_or("the statement's database is unknown, and the sandbox names none")?;
    // A qualified name is the monitored server's database: the copy lives in the sandbox's.
    let bare = task.index.table.rsplit('.').next().unwrap_or_default();
    let cols = &task.index.columns;
    if cols.is_empty() || cols.len() > 16 {
        return Err("an index has 1 to 16 columns".into());
    }
    let key = cols
        .iter()
        .map(|c| ident(c))
        .collect::<Option<Vec<_>>>()
        .ok_or("a column name is not an identifier")?
        .join(", ");
    Ok(Plan {
        database: ident(&database).ok_or("the database name is not an identifier")?,
        table: ident(bare).ok_or("the table name is not an identifier")?,
        index: format!("`dbpower_whatif_{}`", task.id.unsigned_abs()),
        key,
    })
}

async fn exec(conn: &mut MySqlConnection, sql: String) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// MariaDB's statement timeout is in seconds, MySQL's (SELECT only) in milliseconds.
async fn timeout(conn: &mut MySqlConnection, secs: u32) -> anyhow::Result<()> {
    let maria = exec(
        conn,
        format!("{MARKER} SET SESSION max_statement_time = {secs}"),
    )
    .await;
    if maria.is_err() {
        exec(
            conn,
            format!("{MARKER} SET SESSION max_execution_time = {}", secs * 1000),
        )
        .await
        .context("no statement timeout could be set")?;
    }
    Ok(())
}

/// The plan, in a read-only transaction.
async fn explain(conn: &mut MySqlConnection, sql: &str) -> anyhow::Result<Value> {
    conn.execute(sqlx::raw_sql(
        "/* dbpower-agent */ START TRANSACTION READ ONLY",
    ))
    .await?;
    let result: anyhow::Result<Value> = async {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MARKER} EXPLAIN FORMAT=JSON {sql}"
        )))
        .persistent(false)
        .fetch_one(&mut *conn)
        .await?;
        let text: String = row.try_get(0)?;
        Ok(serde_json::from_str(&text)?)
    }
    .await;
    conn.execute(sqlx::raw_sql("/* dbpower-agent */ ROLLBACK"))
        .await?;
    result
}

/// The median of `runs` timed executions, each in its own read-only transaction.
async fn time(conn: &mut MySqlConnection, sql: &str, runs: u32) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(runs as usize);
    for _ in 0..runs {
        conn.execute(sqlx::raw_sql(
            "/* dbpower-agent */ START TRANSACTION READ ONLY",
        ))
        .await?;
        let started = Instant::now();
        let read: anyhow::Result<()> = async {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(format!("{MARKER} {sql}")))
                .persistent(false)
                .fetch(&mut *conn);
            let mut n = 0u64;
            while rows.try_next().await?.is_some() {
                n += 1;
                if n >= MAX_ROWS_PER_RUN {
                    break;
                }
            }
            Ok(())
        }
        .await;
        let took = started.elapsed();
        conn.execute(sqlx::raw_sql("/* dbpower-agent */ ROLLBACK"))
            .await?;
        read?;
        times.push(took.as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times.get(times.len() / 2).copied().unwrap_or(0.0))
}

/// Whether the plan reads the index `name` (MySQL/MariaDB JSON: `"key": "name"`).
fn reads(plan: &Value, name: &str) -> bool {
    match plan {
        Value::Object(o) => {
            o.get("key").and_then(Value::as_str) == Some(name) || o.values().any(|v| reads(v, name))
        }
        Value::Array(a) => a.iter().any(|v| reads(v, name)),
        _ => false,
    }
}

/// MySQL's estimated cost (`query_block.cost_info.query_cost`); MariaDB's plans carry none.
fn cost(plan: &Value) -> Option<f64> {
    let c = &plan["query_block"]["cost_info"]["query_cost"];
    c.as_f64()
        .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
}

/// Before and after, on the sandbox.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Timed {
    pub time_before_ms: f64,
    pub time_after_ms: f64,
    pub cost_before: Option<f64>,
    pub cost_after: Option<f64>,
    pub uses_index: bool,
}

async fn measure(
    conn: &mut MySqlConnection,
    p: &Plan,
    sql: &str,
    runs: u32,
) -> anyhow::Result<Timed> {
    exec(conn, format!("{MARKER} USE {}", p.database)).await?;
    exec(
        conn,
        format!("{MARKER} SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'"),
    )
    .await?;
    // One left by an agent that died mid-way goes first.
    let _ = drop_index(conn, p).await;
    timeout(conn, RUN_TIMEOUT_SECS).await?;
    let before = explain(conn, sql).await?;
    let time_before_ms = time(conn, sql, runs).await?;
    timeout(conn, DDL_TIMEOUT_SECS).await?;
    exec(
        conn,
        format!(
            "{MARKER} ALTER TABLE {} ADD INDEX {} ({}), ALGORITHM=INPLACE, LOCK=NONE",
            p.table, p.index, p.key
        ),
    )
    .await
    .context("building the index on the sandbox")?;
    let measured: anyhow::Result<Timed> = async {
        timeout(conn, RUN_TIMEOUT_SECS).await?;
        let after = explain(conn, sql).await?;
        let time_after_ms = time(conn, sql, runs).await?;
        Ok(Timed {
            time_before_ms,
            time_after_ms,
            cost_before: cost(&before),
            cost_after: cost(&after),
            uses_index: reads(&after, p.index.trim_matches('`')),
        })
    }
    .await;
    timeout(conn, DDL_TIMEOUT_SECS).await?;
    drop_index(conn, p)
        .await
        .context("dropping the index from the sandbox: drop it by hand")?;
    measured
}

async fn drop_index(conn: &mut MySqlConnection, p: &Plan) -> anyhow::Result<()> {
    exec(
        conn,
        format!(
            "{MARKER} ALTER TABLE {} DROP INDEX {}, ALGORITHM=INPLACE, LOCK=NONE",
            p.table, p.index
        ),
    )
    .await
}

/// The verdict on a sandbox measurement.
pub(crate) fn verdict(t: &Timed) -> (ValidationStatus, Option<String>) {
    if !t.uses_index {
        return (
            ValidationStatus::Rejected,
            Some(format!(
                "the optimizer does not use the index ({:.1} ms before, {:.1} ms after)",
                t.time_before_ms, t.time_after_ms
            )),
        );
    }
    if t.time_after_ms > t.time_before_ms * (1.0 - MIN_GAIN) {
        return (
            ValidationStatus::Rejected,
            Some(format!(
                "the optimizer uses the index, but the statement only goes from {:.1} ms to {:.1} ms",
                t.time_before_ms, t.time_after_ms
            )),
        );
    }
    (ValidationStatus::Validated, None)
}

/// Validates one MySQL/MariaDB task on the sandbox `source`.
pub(crate) async fn validate(task: &ValidationTask, source: &SourceConfig) -> ValidationResult {
    let Some(sql) = explainable(&task.sql, Dialect::Mysql) else {
        return unavailable(task.id, "the class's statement is not one plain SELECT");
    };
    if has_placeholders(&sql) {
        return unavailable(
            task.id,
            "the statement has no values (scrub = \"strict\"): a sandbox times it with its values, which scrub = \"pii_only\" keeps",
        );
    }
    let p = match plan_for(task, source) {
        Ok(p) => p,
        Err(why) => return unavailable(task.id, why),
    };
    let measured: anyhow::Result<Timed> = async {
        let mut conn = crate::mysql::connect(&source.url).await?;
        let deadline = Duration::from_secs(u64::from(DDL_TIMEOUT_SECS) * 2 + 60);
        tokio::time::timeout(deadline, measure(&mut conn, &p, &sql, source.sandbox_runs))
            .await
            .map_err(|_| anyhow::anyhow!("the sandbox took longer than {} s", deadline.as_secs()))?
    }
    .await;
    match measured {
        Err(e) => unavailable(
            task.id,
            format!(
                "sandbox {}: {}",
                source.name,
                crate::whatif::safe_reason(&e)
            ),
        ),
        Ok(t) => {
            let (status, reason) = verdict(&t);
            ValidationResult {
                id: task.id,
                status,
                method: Some(ValidationMethod::Sandbox),
                cost_before: t
                    .cost_before
                    .filter(|c| c.is_finite() && (0.0..=1e15).contains(c)),
                cost_after: t
                    .cost_after
                    .filter(|c| c.is_finite() && (0.0..=1e15).contains(c)),
                time_before_ms: Some(t.time_before_ms),
                time_after_ms: Some(t.time_after_ms),
                uses_index: Some(t.uses_index),
                reason,
            }
        }
    }
}

/// `--check` of a sandbox: it connects, and the user may alter tables in the sandbox's database.
pub(crate) async fn check(s: &SourceConfig, r: &mut Report) -> anyhow::Result<()> {
    let mut conn = crate::mysql::connect(&s.url).await?;
    let version: String = sqlx::query_scalar("SELECT /* dbpower-agent */ VERSION()")
        .fetch_one(&mut conn)
        .await?;
    r.good(&format!("sandbox connected to {version}"));
    let grants: Vec<String> = conn
        .fetch_all(sqlx::raw_sql("SHOW /* dbpower-agent */ GRANTS"))
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .collect();
    let alters = grants.iter().any(|g| {
        let g = g.to_ascii_uppercase();
        g.contains("ALL PRIVILEGES") || (g.contains("ALTER") && g.contains("INDEX"))
    });
    if alters {
        r.good("sandbox: the agent's user may build and drop indexes (validation builds each index here, times the statement, then drops it)");
    } else {
        r.fix(
            "sandbox: the agent's user cannot build indexes here: index advice is reported as not validated",
            "GRANT SELECT, ALTER, INDEX ON <sandbox database>.* TO '<agent user>'@'<host>';  on the sandbox only, never on a monitored server",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbpower_types::{DatabaseType, IndexTarget};

    fn task(table: &str, cols: &[&str]) -> ValidationTask {
        ValidationTask {
            id: 42,
            database_type: DatabaseType::Mysql,
            database_name: Some("shop".into()),
            source: Some("prod".into()),
            sql: "SELECT 1".into(),
            index: IndexTarget {
                table: table.into(),
                columns: cols.iter().map(|c| c.to_string()).collect(),
                equality: cols.len(),
                expression: None,
            },
            ddl: String::new(),
        }
    }

    fn sandbox(db: Option<&str>) -> SourceConfig {
        let mut text = String::from(
            "name = \"sandbox\"\nkind = \"mysql\"\nurl = \"mysql://x\"\nrole = \"sandbox\"\n",
        );
        if let Some(d) = db {
            text.push_str(&format!("sandbox_database = \"{d}\"\n"));
        }
        toml::from_str(&text).expect("source")
    }

    #[test]
    fn the_sandbox_works_on_its_own_database_with_quoted_names() {
        let p = plan_for(
            &task("shop.orders", &["customer_ref", "a`b"]),
            &sandbox(Some("shop_copy")),
        )
        .expect("plan");
        assert_eq!(
            p,
            Plan {
                database: "`shop_copy`".into(),
                table: "`orders`".into(),
                index: "`dbpower_whatif_42`".into(),
                key: "`customer_ref`, `a``b`".into(),
            }
        );
        let p = plan_for(&task("orders", &["x"]), &sandbox(None)).expect("plan");
        assert_eq!(p.database, "`shop`");
        assert!(plan_for(&task("orders", &[]), &sandbox(None)).is_err());
        assert!(plan_for(&task("orders", &["a\u{1b}"]), &sandbox(None)).is_err());
    }

    #[test]
    fn only_an_index_that_is_read_and_saves_time_is_validated() {
        let t = |b, a, u| Timed {
            time_before_ms: b,
            time_after_ms: a,
            cost_before: None,
            cost_after: None,
            uses_index: u,
        };
        assert_eq!(verdict(&t(80.0, 1.0, true)).0, ValidationStatus::Validated);
        assert_eq!(verdict(&t(80.0, 79.0, true)).0, ValidationStatus::Rejected);
        assert_eq!(verdict(&t(80.0, 1.0, false)).0, ValidationStatus::Rejected);
        let plan = serde_json::json!({"query_block": {"table": {"table_name": "orders", "key": "dbpower_whatif_42"}}});
        assert!(reads(&plan, "dbpower_whatif_42"));
        assert!(!reads(&plan, "other"));
        let mysql = serde_json::json!({"query_block": {"cost_info": {"query_cost": "20.35"}}});
        assert_eq!(cost(&mysql), Some(20.35));
    }
}
