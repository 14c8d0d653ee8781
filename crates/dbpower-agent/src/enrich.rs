//! Optional EXPLAIN capture and schema snapshots (`explain = true`, `schema = true` on a source). Only
//! single SELECT statements are explained, in a read-only transaction with a statement timeout, never with
//! ANALYZE; the plan's strings are scrubbed like the statement. The schema snapshot (columns, indexes, row
//! estimates) covers the tables the statement names, read from the catalog. At most a few statements per
//! round, one per scrubbed shape; a failure leaves the query as it was.

use std::collections::{BTreeMap, HashMap};

use dbpower_sql::lexer::{Kind, Lexer};
use dbpower_sql::{Dialect, ScrubLevel, pii};
use dbpower_types::{ColumnSchema, IndexSchema, SchemaSnapshot, SlowQueryIn, TableSchema};
use serde_json::Value;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::{Executor, Row};

use crate::collect::{Ctx, MARKER, RawKey};
use crate::config::Scrub;
use crate::postgres::Sessions;

/// Longest collected statement the agent will EXPLAIN.
const MAX_EXPLAIN_BYTES: usize = 256 * 1024;

/// Words that disqualify a statement from EXPLAIN: writes (`INTO`, `OUTFILE`), locking clauses (`FOR
/// UPDATE`, `LOCK IN SHARE MODE`), `PROCEDURE ANALYSE`, and functions with effects outside the statement
/// that a planner could be tempted to evaluate while folding constants. EXPLAIN without ANALYZE runs
/// nothing, so this list is defence in depth, not the boundary.
const REFUSED_WORDS: &[&str] = &[
    "INTO",
    "FOR",
    "LOCK",
    "PROCEDURE",
    "OUTFILE",
    "DUMPFILE",
    "SLEEP",
    "BENCHMARK",
    "GET_LOCK",
    "RELEASE_LOCK",
    "LOAD_FILE",
    "PG_SLEEP",
    "PG_SLEEP_FOR",
    "PG_SLEEP_UNTIL",
    "DBLINK",
    "DBLINK_EXEC",
    "LO_IMPORT",
    "LO_EXPORT",
    "PG_READ_FILE",
    "PG_READ_BINARY_FILE",
    "PG_TERMINATE_BACKEND",
    "PG_CANCEL_BACKEND",
    "SET_CONFIG",
    "NEXTVAL",
    "SETVAL",
];

/// The statement to EXPLAIN, when the collected text is exactly one `SELECT` in the source's own
/// dialect: read with that dialect's lexer, every quote and comment terminated, no `;` except trailing
/// ones (which are cut off with trailing comments), no MySQL executable comment (`/*! */`, `/*M! */`),
/// and none of [`REFUSED_WORDS`]. Whatever this returns still goes to the server only as one prepared
/// statement inside a read-only, time-limited transaction: the server refuses a second statement even if
/// this check were fooled.
pub(crate) fn explainable(sql: &str, dialect: Dialect) -> Option<String> {
    if sql.len() > MAX_EXPLAIN_BYTES || sql.contains('\0') {
        return None;
    }
    // A sentinel after a newline: if any quote or comment is left open it swallows the sentinel.
    let probe = format!("{sql}\n;");
    let toks: Vec<_> = Lexer::new(&probe, dialect).collect();
    let significant =
        |t: &&dbpower_sql::lexer::Token<'_>| !matches!(t.kind, Kind::Whitespace | Kind::Comment);
    let last = toks.iter().rfind(significant)?;
    if !(last.kind == Kind::Punct && last.text == ";") {
        return None;
    }
    // The statement ends with its last token that is not a `;`, whitespace or a comment.
    let mut end = 0usize;
    let mut offset = 0usize;
    let mut words: Vec<String> = Vec::new();
    let mut after_end_semicolon = false;
    for t in &toks {
        let at = offset;
        offset += t.text.len();
        if at >= sql.len() {
            break;
        }
        match t.kind {
            Kind::Whitespace => {}
            Kind::Comment => {
                if dialect == Dialect::Mysql
                    && (t.text.starts_with("/*!") || t.text.starts_with("/*M!"))
                {
                    return None;
                }
            }
            Kind::Punct if t.text == ";" => after_end_semicolon = true,
            _ => {
                if after_end_semicolon {
                    return None;
                }
                end = offset;
                if t.kind == Kind::Word {
                    words.push(t.text.to_ascii_uppercase());
                }
            }
        }
    }
    let first_is_select = toks
        .iter()
        .find(significant)
        .is_some_and(|t| t.kind == Kind::Word && t.text.eq_ignore_ascii_case("SELECT"));
    if !first_is_select || words.iter().any(|w| REFUSED_WORDS.contains(&w.as_str())) {
        return None;
    }
    Some(sql[..end.min(sql.len())].to_string())
}

/// How long one EXPLAIN exchange (database switch, settings, transaction, statement, rollback) may take
/// in all before its connection is given up.
const EXPLAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether a MySQL text holds a `?` placeholder (outside strings and comments).
pub(crate) fn has_placeholders(sql: &str) -> bool {
    Lexer::new(sql, Dialect::Mysql).any(|t| t.kind == Kind::Param)
}

/// The highest `$n` parameter of a PostgreSQL text (0 when it has none).
pub(crate) fn max_param(sql: &str) -> usize {
    Lexer::new(sql, Dialect::Postgresql)
        .filter(|t| t.kind == Kind::Param)
        .filter_map(|t| t.text[1..].parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// `(schema, table)` names after FROM / JOIN (and comma-separated FROM lists), lower-cased, unquoted.
pub(crate) fn tables(sql: &str, dialect: Dialect) -> Vec<(Option<String>, String)> {
    let toks: Vec<(Kind, String)> = Lexer::new(sql, dialect)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .map(|t| (t.kind, t.text.to_string()))
        .collect();
    let unquote = |s: &str| s.trim_matches(|c| c == '`' || c == '"').to_lowercase();
    let is_name = |k: Kind, s: &str| {
        matches!(k, Kind::Word | Kind::QuotedIdent)
            && !["select", "lateral", "only", "unnest"].contains(&s.to_ascii_lowercase().as_str())
    };
    let mut out: Vec<(Option<String>, String)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let w = toks[i].1.to_ascii_uppercase();
        if w == "FROM" || w == "JOIN" {
            let mut j = i + 1;
            while let Some((k, first)) = toks.get(j) {
                if !is_name(*k, first) {
                    break;
                }
                let (schema, name, next) =
                    if toks.get(j + 1).is_some_and(|t| t.1 == ".") && toks.get(j + 2).is_some() {
                        (Some(unquote(first)), unquote(&toks[j + 2].1), j + 3)
                    } else {
                        (None, unquote(first), j + 1)
                    };
                if !out.iter().any(|(s, n)| *s == schema && *n == name) {
                    out.push((schema, name));
                }
                // Skip an alias, then continue a comma-separated FROM list.
                let mut k2 = next;
                if toks.get(k2).is_some_and(|t| t.1.eq_ignore_ascii_case("AS")) {
                    k2 += 1;
                }
                if toks.get(k2).is_some_and(|t| {
                    matches!(t.0, Kind::Word | Kind::QuotedIdent) && !is_keyword(&t.1)
                }) {
                    k2 += 1;
                }
                if w == "FROM" && toks.get(k2).is_some_and(|t| t.1 == ",") {
                    j = k2 + 1;
                } else {
                    break;
                }
            }
        }
        i += 1;
    }
    out
}

fn is_keyword(s: &str) -> bool {
    [
        "WHERE",
        "JOIN",
        "LEFT",
        "RIGHT",
        "INNER",
        "OUTER",
        "CROSS",
        "FULL",
        "ON",
        "USING",
        "GROUP",
        "ORDER",
        "LIMIT",
        "HAVING",
        "UNION",
        "NATURAL",
        "STRAIGHT_JOIN",
        "WINDOW",
        "OFFSET",
        "FOR",
        "LOCK",
    ]
    .contains(&s.to_ascii_uppercase().as_str())
}

/// Scrubs a plan as the statement texts are scrubbed (its filters and conditions carry the statement's
/// literals), keys included, and drops one over [`MAX_SHIPPED_PLAN`] (the platform would not keep it).
pub(crate) fn scrub_plan(v: Value, d: Dialect, l: ScrubLevel) -> Option<Value> {
    let mut v = v;
    dbpower_sql::scrub::scrub_json(&mut v, d, l);
    let size = serde_json::to_vec(&v).map_or(usize::MAX, |b| b.len());
    (size <= MAX_SHIPPED_PLAN).then_some(v)
}

/// The largest plan the agent ships: the platform keeps plans of at most 256 KiB.
pub(crate) const MAX_SHIPPED_PLAN: usize = 256 * 1024;

pub(crate) fn level(s: Scrub) -> ScrubLevel {
    match s {
        Scrub::Strict => ScrubLevel::Strict,
        Scrub::PiiOnly => ScrubLevel::PiiOnly,
    }
}

/// What an EXPLAIN attempt left behind on the connection.
enum Attempt {
    /// The plan, or why there is none; the connection is back outside any transaction.
    Done(anyhow::Result<Value>),
    /// The connection could not be brought back to a known state: it is not used again this round.
    Poisoned(anyhow::Error),
}

/// Ends the attempt's transaction: `ROLLBACK` must succeed, or the connection is given up.
fn finish(result: anyhow::Result<Value>, rollback: Result<(), sqlx::Error>) -> Attempt {
    match rollback {
        Ok(()) => Attempt::Done(result),
        Err(e) => Attempt::Poisoned(anyhow::anyhow!(
            "ROLLBACK after EXPLAIN failed ({e}); the connection is closed"
        )),
    }
}

/// A MySQL/MariaDB plan: `USE` the statement's database (a prepared statement), a statement timeout that
/// must take effect, `START TRANSACTION READ ONLY`, then the collected text inside one prepared `EXPLAIN`
/// (the connection has multi-statements off as well), then `ROLLBACK`.
/// With `analyze` on a MariaDB server, the plan is `ANALYZE FORMAT=JSON`'s: the SELECT runs, bounded by the
/// same statement timeout, in the same read-only transaction (MySQL has no JSON ANALYZE: it is explained).
async fn mysql_explain(
    conn: &mut MySqlConnection,
    sql: &str,
    db: Option<&str>,
    analyze: bool,
) -> Attempt {
    if let Some(db) = db {
        if db.is_empty() || db.len() > 64 || db.contains('\0') {
            return Attempt::Done(Err(anyhow::anyhow!("not a database name")));
        }
        let quoted = format!("{MARKER} USE `{}`", db.replace('`', "``"));
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(quoted))
            .persistent(false)
            .execute(&mut *conn)
            .await
        {
            return Attempt::Done(Err(e.into()));
        }
    }
    // MariaDB spells the statement timeout in seconds, MySQL in milliseconds; one of them must apply.
    let mariadb = conn
        .execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET SESSION max_statement_time = 2",
        ))
        .await;
    if mariadb.is_err()
        && let Err(e) = conn
            .execute(sqlx::raw_sql(
                "/* dbpower-agent */ SET SESSION max_execution_time = 2000",
            ))
            .await
    {
        return Attempt::Done(Err(anyhow::anyhow!(
            "no statement timeout could be set ({e}); not explaining"
        )));
    }
    // A fixed sql_mode, so that the server reads quotes and backslashes the way `explainable` did
    // (NO_BACKSLASH_ESCAPES, ANSI_QUOTES and the modes that imply them are off).
    if let Err(e) = conn
        .execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'",
        ))
        .await
    {
        return Attempt::Done(Err(e.into()));
    }
    if let Err(e) = conn
        .execute(sqlx::raw_sql(
            "/* dbpower-agent */ START TRANSACTION READ ONLY",
        ))
        .await
    {
        return Attempt::Done(Err(e.into()));
    }
    let verb = if analyze && mariadb.is_ok() {
        "ANALYZE"
    } else {
        "EXPLAIN"
    };
    let text = format!("{MARKER} {verb} FORMAT=JSON {sql}");
    let result: anyhow::Result<Value> = async {
        let row = sqlx::query(sqlx::AssertSqlSafe(text))
            .persistent(false)
            .fetch_one(&mut *conn)
            .await?;
        let plan: String = row.try_get(0)?;
        Ok(serde_json::from_str(&plan)?)
    }
    .await;
    let rollback = conn
        .execute(sqlx::raw_sql("/* dbpower-agent */ ROLLBACK"))
        .await
        .map(|_| ());
    finish(result, rollback)
}

/// A PostgreSQL plan: `BEGIN READ ONLY` with `statement_timeout` and `lock_timeout` that must take effect,
/// the collected text inside one prepared `EXPLAIN` (the extended protocol refuses a second statement),
/// then `ROLLBACK`. A text with `$n` parameters (from pg_stat_statements) gets its generic plan (see
/// [`PgPlan`]).
async fn pg_explain(conn: &mut PgConnection, sql: &str) -> Attempt {
    let params = max_param(sql);
    if params > 100 {
        return Attempt::Done(Err(anyhow::anyhow!(
            "more than 100 parameters; not explaining"
        )));
    }
    let how = PgPlan::new(sql, params, "dbpower_agent_explain");
    if let Err(e) = conn
        .execute(sqlx::raw_sql("/* dbpower-agent */ BEGIN READ ONLY"))
        .await
    {
        return Attempt::Done(Err(e.into()));
    }
    let result: anyhow::Result<Value> = async {
        conn.execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET LOCAL statement_timeout = '2s'",
        ))
        .await?;
        conn.execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET LOCAL lock_timeout = '500ms'",
        ))
        .await?;
        how.run(conn).await
    }
    .await;
    let rollback = conn
        .execute(sqlx::raw_sql("/* dbpower-agent */ ROLLBACK"))
        .await
        .map(|_| ());
    if how.prepare.is_some() && rollback.is_ok() {
        // A prepared statement outlives the transaction; it is removed whether or not it was made.
        let _ = conn
            .execute(sqlx::raw_sql(
                "/* dbpower-agent */ DEALLOCATE dbpower_agent_explain",
            ))
            .await;
    }
    finish(result, rollback)
}

/// How one PostgreSQL statement is planned: as it is, or, for a text with `$n` parameters, its generic
/// plan: `PREPARE` under `plan_cache_mode = force_generic_plan` and `EXPLAIN EXECUTE` with a NULL per
/// parameter (the generic plan does not depend on the values). On every version: PostgreSQL 16's
/// `EXPLAIN (GENERIC_PLAN)` accepts `$n` only when the statement has no parameters of its own, and a
/// statement sent through the extended protocol (the one that refuses a second statement) always has
/// them, so its `$n` would be parameters the agent has no values for. The collected text is always sent
/// alone in one prepared statement.
#[derive(Debug, PartialEq)]
pub(crate) struct PgPlan {
    /// `PREPARE name AS <text>` for a text with parameters.
    pub(crate) prepare: Option<String>,
    pub(crate) explain: String,
}

impl PgPlan {
    pub(crate) fn new(sql: &str, params: usize, name: &str) -> PgPlan {
        if params == 0 {
            return PgPlan {
                prepare: None,
                explain: format!("{MARKER} EXPLAIN (FORMAT JSON) {sql}"),
            };
        }
        let nulls = vec!["NULL"; params].join(", ");
        PgPlan {
            prepare: Some(format!("{MARKER} PREPARE {name} AS {sql}")),
            explain: format!("{MARKER} EXPLAIN (FORMAT JSON) EXECUTE {name}({nulls})"),
        }
    }

    /// Plans on the open transaction; a statement prepared for it stays prepared (the caller
    /// deallocates it once the transaction is over).
    pub(crate) async fn run(&self, conn: &mut PgConnection) -> anyhow::Result<Value> {
        if let Some(prepare) = &self.prepare {
            conn.execute(sqlx::raw_sql(
                "/* dbpower-agent */ SET LOCAL plan_cache_mode = force_generic_plan",
            ))
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(prepare.clone()))
                .persistent(false)
                .execute(&mut *conn)
                .await?;
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(self.explain.clone()))
            .persistent(false)
            .fetch_one(&mut *conn)
            .await?;
        let plan: sqlx::types::Json<Value> = row.try_get(0)?;
        Ok(plan.0)
    }
}

/// The PostgreSQL settings that advice depends on: memory for sorts and hashes, caching, and the
/// commit path.
const PG_SETTINGS: &[&str] = &[
    "work_mem",
    "hash_mem_multiplier",
    "maintenance_work_mem",
    "shared_buffers",
    "effective_cache_size",
    "random_page_cost",
    "synchronous_commit",
    "commit_delay",
    "commit_siblings",
    "wal_sync_method",
    "server_version",
];

/// The MySQL/MariaDB settings that advice depends on (the ones a server does not have are absent).
const MYSQL_SETTINGS: &[&str] = &[
    "innodb_buffer_pool_size",
    "innodb_flush_log_at_trx_commit",
    "sync_binlog",
    "binlog_commit_wait_count",
    "binlog_group_commit_sync_delay",
    "tmp_table_size",
    "max_heap_table_size",
    "sort_buffer_size",
    "join_buffer_size",
    "version",
];

/// Settings as shipped: values redacted like every other text, and bounded.
fn settings_of(rows: Vec<(String, String)>) -> BTreeMap<String, String> {
    rows.into_iter()
        .map(|(k, v)| {
            let v = pii::redact(&v).replace(char::is_control, "\u{fffd}");
            (k, crate::collect::cut(&v, 256).to_string())
        })
        .collect()
}

pub(crate) async fn pg_settings(
    conn: &mut PgConnection,
) -> anyhow::Result<BTreeMap<String, String>> {
    let names: Vec<String> = PG_SETTINGS.iter().map(|s| s.to_string()).collect();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT /* dbpower-agent */ name::text, current_setting(name) FROM pg_settings WHERE name = ANY($1)",
    )
    .bind(&names)
    .fetch_all(&mut *conn)
    .await?;
    Ok(settings_of(rows))
}

pub(crate) async fn mysql_settings(
    conn: &mut MySqlConnection,
) -> anyhow::Result<BTreeMap<String, String>> {
    let list = MYSQL_SETTINGS
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // SHOW works on MariaDB and on MySQL 5.7 and 8.0, where information_schema.GLOBAL_VARIABLES is
    // disabled or gone.
    let rows: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "/* dbpower-agent */ SHOW GLOBAL VARIABLES WHERE Variable_name IN ({list})"
    )))
    .fetch_all(&mut *conn)
    .await?;
    Ok(settings_of(
        rows.into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
    ))
}

pub(crate) async fn mysql_table(
    conn: &mut MySqlConnection,
    schema: &str,
    name: &str,
) -> anyhow::Result<Option<TableSchema>> {
    let cols = sqlx::query(
        "SELECT /* dbpower-agent */ CAST(COLUMN_NAME AS CHAR), CAST(COLUMN_TYPE AS CHAR), CAST(IS_NULLABLE AS CHAR) \
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    if cols.is_empty() {
        return Ok(None);
    }
    let idx = sqlx::query(
        "SELECT /* dbpower-agent */ CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED), CAST(COLUMN_NAME AS CHAR), \
         CONCAT(INDEX_TYPE, IF(SUB_PART IS NULL, '', ' (prefix)')) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *conn)
    .await?;
    let rows: Option<i64> = sqlx::query_scalar(
        "SELECT /* dbpower-agent */ CAST(TABLE_ROWS AS SIGNED) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
    )
    .bind(schema)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    let mut indexes: Vec<IndexSchema> = Vec::new();
    for r in idx {
        let (iname, non_unique, col, kind): (String, i64, Option<String>, Option<String>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let col = col.unwrap_or_else(|| "(expression)".into());
        match indexes.iter_mut().find(|i| i.name == iname) {
            Some(i) => {
                i.columns.push(col);
                // A prefix on any column makes the index not comparable with a plain one.
                if let Some(k) = kind.filter(|k| k.ends_with("(prefix)")) {
                    i.method = Some(k);
                }
            }
            None => indexes.push(IndexSchema {
                primary: iname == "PRIMARY",
                name: iname,
                columns: vec![col],
                unique: non_unique == 0,
                foreign_key: false,
                scans: None,
                method: kind.filter(|k| !k.eq_ignore_ascii_case("BTREE")),
                partial: false,
            }),
        }
    }
    mysql_index_usage(conn, schema, name, &mut indexes).await;
    Ok(Some(TableSchema {
        name: name.to_string(),
        schema: Some(schema.to_string()),
        rows,
        columns: cols
            .iter()
            .map(|r| {
                Ok(ColumnSchema {
                    name: r.try_get(0)?,
                    data_type: r.try_get(1)?,
                    nullable: Some(r.try_get::<String, _>(2)? == "YES"),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        indexes,
        usage_since: mysql_started(conn).await,
    }))
}

/// Marks the indexes whose leading columns are a foreign key's, and adds each index's reads from
/// performance_schema (left unknown when it is off or not readable).
async fn mysql_index_usage(
    conn: &mut MySqlConnection,
    schema: &str,
    name: &str,
    indexes: &mut [IndexSchema],
) {
    let fks: Vec<(String, String)> = sqlx::query_as(
        "SELECT /* dbpower-agent */ CAST(CONSTRAINT_NAME AS CHAR), CAST(COLUMN_NAME AS CHAR) \
         FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
         AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY CONSTRAINT_NAME, ORDINAL_POSITION",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let mut by_fk: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (fk, col) in fks {
        by_fk.entry(fk).or_default().push(col.to_lowercase());
    }
    for ix in indexes.iter_mut() {
        ix.foreign_key = by_fk.values().any(|cols| {
            cols.len() <= ix.columns.len()
                && cols.iter().all(|c| {
                    ix.columns[..cols.len()]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(c))
                })
        });
    }
    let usage: Vec<(String, i64)> = sqlx::query_as(
        "SELECT /* dbpower-agent */ CAST(INDEX_NAME AS CHAR), CAST(COUNT_STAR AS SIGNED) \
         FROM performance_schema.table_io_waits_summary_by_index_usage \
         WHERE OBJECT_SCHEMA = ? AND OBJECT_NAME = ? AND INDEX_NAME IS NOT NULL",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    for (iname, n) in usage {
        if let Some(ix) = indexes.iter_mut().find(|i| i.name == iname) {
            ix.scans = Some(n);
        }
    }
}

/// When the MySQL/MariaDB server started: its performance_schema counters count from then.
async fn mysql_started(conn: &mut MySqlConnection) -> Option<chrono::DateTime<chrono::Utc>> {
    let row: Option<(String, String)> =
        sqlx::query_as("/* dbpower-agent */ SHOW GLOBAL STATUS LIKE 'Uptime'")
            .fetch_optional(&mut *conn)
            .await
            .ok()
            .flatten();
    let secs: i64 = row?.1.parse().ok()?;
    Some(chrono::Utc::now() - chrono::Duration::seconds(secs))
}

pub(crate) async fn pg_table(
    conn: &mut PgConnection,
    schema: Option<&str>,
    name: &str,
) -> anyhow::Result<Option<TableSchema>> {
    let qualified = match schema {
        Some(s) => format!(
            "\"{}\".\"{}\"",
            s.replace('"', "\"\""),
            name.replace('"', "\"\"")
        ),
        None => format!("\"{}\"", name.replace('"', "\"\"")),
    };
    let cols = sqlx::query(
        "SELECT /* dbpower-agent */ a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, n.nspname::text, \
         GREATEST(c.reltuples, 0)::bigint FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(&qualified)
    .fetch_all(&mut *conn)
    .await?;
    let Some(first) = cols.first() else {
        return Ok(None);
    };
    let (nsp, rows): (String, i64) = (first.try_get(3)?, first.try_get(4)?);
    // Per index: its key, whether it is the primary key, whether its leading columns are a foreign
    // key's, and its scans since the database's statistics were reset (or the server started).
    let idx = sqlx::query(
        "SELECT /* dbpower-agent */ i.relname::text, ix.indisunique, \
         array_agg(pg_get_indexdef(ix.indexrelid, k.ord::int, true) ORDER BY k.ord), ix.indisprimary, \
         EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conrelid = ix.indrelid AND con.contype = 'f' \
         AND (SELECT count(*) FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS f(att, o) \
         WHERE o <= cardinality(con.conkey) AND f.att = ANY (con.conkey)) = cardinality(con.conkey)), \
         (SELECT s.idx_scan FROM pg_stat_user_indexes s WHERE s.indexrelid = ix.indexrelid), \
         (SELECT am.amname::text FROM pg_am am WHERE am.oid = i.relam) || CASE WHEN \
         ix.indnatts > ix.indnkeyatts OR EXISTS (SELECT 1 FROM unnest(ix.indoption::int2[]) o(v) WHERE o.v <> 0) \
         OR EXISTS (SELECT 1 FROM unnest(ix.indclass::oid[]) oc(c) JOIN pg_opclass x ON x.oid = oc.c WHERE NOT x.opcdefault) \
         THEN ' (INCLUDE, order or operator class)' ELSE '' END, ix.indpred IS NOT NULL \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         WHERE ix.indrelid = to_regclass($1) AND k.ord <= ix.indnkeyatts \
         GROUP BY i.relname, ix.indisunique, ix.indisprimary, ix.indrelid, ix.indkey, ix.indexrelid, \
         i.relam, ix.indpred IS NOT NULL ORDER BY 1",
    )
    .bind(&qualified)
    .fetch_all(&mut *conn)
    .await?;
    let usage_since: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT /* dbpower-agent */ COALESCE((SELECT stats_reset FROM pg_stat_database \
         WHERE datname = current_database()), pg_postmaster_start_time())",
    )
    .fetch_one(&mut *conn)
    .await
    .ok()
    .flatten();
    Ok(Some(TableSchema {
        name: name.to_string(),
        schema: Some(nsp),
        rows: Some(rows),
        columns: cols
            .iter()
            .map(|r| {
                Ok(ColumnSchema {
                    name: r.try_get(0)?,
                    data_type: r.try_get(1)?,
                    nullable: Some(r.try_get(2)?),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        indexes: idx
            .iter()
            .map(|r| {
                Ok(IndexSchema {
                    name: r.try_get(0)?,
                    unique: r.try_get(1)?,
                    columns: r.try_get(2)?,
                    primary: r.try_get(3)?,
                    foreign_key: r.try_get(4)?,
                    scans: r.try_get(5)?,
                    method: r.try_get::<Option<String>, _>(6)?.filter(|m| m != "btree"),
                    partial: r.try_get(7)?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        usage_since,
    }))
}

/// The database connection a source's enrichment runs on (PostgreSQL: a session per database).
pub(crate) enum Conn<'c> {
    Mysql(&'c mut MySqlConnection),
    Postgres(&'c mut Sessions),
}

/// What enrichment reports back to the round.
#[derive(Default)]
pub(crate) struct Enriched {
    /// Statements that could not be explained or described (logged, never fatal).
    pub problems: Vec<String>,
    /// The connection was left in an unknown state: the caller must not use it again.
    pub poisoned: bool,
    /// The statements (scrubbed text, database) that got a plan or a schema snapshot.
    pub described: Vec<RawKey>,
    /// The tables described, with the statement's database: watched for changes.
    pub tables: Vec<(Option<String>, TableSchema)>,
}

/// Adds plans and schema snapshots to the queries whose raw text the round kept.
pub(crate) async fn enrich(conn: Conn<'_>, ctx: &Ctx<'_>, queries: &mut [SlowQueryIn]) -> Enriched {
    let raws = std::mem::take(&mut *ctx.raws.borrow_mut());
    if raws.is_empty() {
        return Enriched::default();
    }
    let d = ctx.dialect();
    let mut problems = Vec::new();
    let mut described = Vec::new();
    let mut poisoned = false;
    let mut done: HashMap<RawKey, (Option<Value>, Option<SchemaSnapshot>)> = HashMap::new();
    type TableKey = (Option<String>, Option<String>, String);
    let mut cache: HashMap<TableKey, Option<TableSchema>> = HashMap::new();
    let mut settings: Option<BTreeMap<String, String>> = None;
    let mut conn = conn;
    for (shipped, (raw, db)) in &raws {
        // One problem per statement: its first (a failed EXPLAIN and its failed schema are one).
        let mark = problems.len();
        let mut plan = None;
        let commit = dbpower_sql::lexer::is_commit(raw, d);
        // A MySQL text with `?` placeholders is a performance_schema digest: there is nothing to bind
        // them to, so only a logged execution of it is explained (docs/AGENT.md).
        if ctx.source.explain && !commit && !(d == Dialect::Mysql && has_placeholders(raw)) {
            let explained = async {
                match explainable(raw, d) {
                    None => Attempt::Done(Err(anyhow::anyhow!("not a single SELECT"))),
                    Some(sql) => match &mut conn {
                        Conn::Mysql(c) => {
                            let analyze = ctx.source.explain_analyze;
                            mysql_explain(c, &sql, db.as_deref(), analyze).await
                        }
                        Conn::Postgres(p) => match p.on(db.as_deref()).await {
                            // EXPLAIN runs in the statement's own database.
                            Ok(s) => pg_explain(&mut s.conn, &sql).await,
                            Err(e) => Attempt::Done(Err(e)),
                        },
                    },
                }
            };
            // The server bounds the statement; this bounds the whole exchange, whatever the client
            // library or the network does.
            let attempt = tokio::time::timeout(EXPLAIN_DEADLINE, explained)
                .await
                .unwrap_or_else(|_| {
                    Attempt::Poisoned(anyhow::anyhow!(
                        "no answer within {} s",
                        EXPLAIN_DEADLINE.as_secs()
                    ))
                });
            match attempt {
                Attempt::Done(Ok(p)) => match scrub_plan(p, d, level(ctx.scrub)) {
                    Some(p) => plan = Some(p),
                    None => problems.push("EXPLAIN: the plan is over 256 KiB".to_string()),
                },
                Attempt::Done(Err(e)) => problems.push(format!("EXPLAIN: {e:#}")),
                Attempt::Poisoned(e) => {
                    problems.push(format!("EXPLAIN: {e:#}"));
                    if let Conn::Postgres(p) = &mut conn {
                        // Only that database's session is closed; the others go on.
                        p.discard(db.as_deref());
                        continue;
                    }
                    poisoned = true;
                    break;
                }
            }
        }
        let mut snapshot = None;
        if ctx.source.schema {
            let mut tables_out = Vec::new();
            for (schema, name) in tables(raw, d) {
                let key = (db.clone(), schema.clone(), name.clone());
                if !cache.contains_key(&key) {
                    let t = match &mut conn {
                        Conn::Mysql(c) => match schema.as_deref().or(db.as_deref()) {
                            Some(s) => mysql_table(c, s, &name).await,
                            None => Ok(None),
                        },
                        // The schema as the statement's own database has it.
                        Conn::Postgres(p) => match p.on(db.as_deref()).await {
                            Ok(s) => pg_table(&mut s.conn, schema.as_deref(), &name).await,
                            Err(e) => Err(e),
                        },
                    };
                    let t = t.unwrap_or_else(|e| {
                        problems.push(format!("schema of {name}: {e:#}"));
                        None
                    });
                    cache.insert(key.clone(), t);
                }
                if let Some(Some(t)) = cache.get(&key) {
                    tables_out.push(t.clone());
                }
            }
            if !tables_out.is_empty() || commit {
                // The server's settings the advice depends on, read once per round.
                if settings.is_none() {
                    let read = match &mut conn {
                        Conn::Mysql(c) => mysql_settings(c).await,
                        Conn::Postgres(p) => match p.on(db.as_deref()).await {
                            Ok(s) => pg_settings(&mut s.conn).await,
                            Err(e) => Err(e),
                        },
                    };
                    settings = Some(read.unwrap_or_else(|e| {
                        problems.push(format!("server settings: {e:#}"));
                        BTreeMap::new()
                    }));
                }
                let settings = settings.clone().unwrap_or_default();
                if !tables_out.is_empty() || !settings.is_empty() {
                    snapshot = Some(SchemaSnapshot {
                        tables: tables_out,
                        settings,
                        described_at: Some(chrono::Utc::now()),
                    });
                }
            }
        }
        problems.truncate(problems.len().min(mark + 1));
        if plan.is_some() || snapshot.is_some() {
            described.push(shipped.clone());
        }
        done.insert(shipped.clone(), (plan, snapshot));
    }
    for q in queries.iter_mut() {
        let key = (std::mem::take(&mut q.sql_text), q.database_name.clone());
        let found = done.remove(&key);
        q.sql_text = key.0;
        if let Some((plan, snapshot)) = found {
            if q.explain.is_none() {
                q.explain = plan;
            }
            q.schema = snapshot;
        }
    }
    Enriched {
        problems,
        poisoned,
        described,
        tables: cache
            .into_iter()
            .filter_map(|((db, _, _), t)| Some((db, t?)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_selects_are_explained() {
        use Dialect::{Mysql, Postgresql};
        assert_eq!(
            explainable("SELECT * FROM t WHERE a = 1; -- done", Mysql).as_deref(),
            Some("SELECT * FROM t WHERE a = 1")
        );
        assert_eq!(
            explainable("  select a from t ;;", Postgresql).as_deref(),
            Some("  select a from t")
        );
        assert!(explainable("SELECT a # b FROM t", Postgresql).is_some());
        for (bad, d) in [
            ("UPDATE t SET a = 1", Mysql),
            ("SELECT 1; DROP TABLE t", Mysql),
            ("SELECT a INTO @x FROM t", Mysql),
            ("SELECT * FROM t FOR UPDATE", Postgresql),
            (
                "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
                Postgresql,
            ),
            // `#` is an operator in PostgreSQL, not a comment: the COMMIT is a second statement.
            (
                "SELECT 1 #0; COMMIT; DO $x$ BEGIN CREATE TABLE p(); END $x$",
                Postgresql,
            ),
            // No backslash escapes in a standard PostgreSQL string.
            ("SELECT '\\'; COMMIT; SELECT '", Postgresql),
            ("SELECT 1 /*!; CREATE TABLE p (a int) */", Mysql),
            ("SELECT 1 /*M!100000 ; CREATE TABLE p (a int) */", Mysql),
            ("SELECT 'open", Postgresql),
            ("SELECT 1 /* open", Mysql),
            ("SELECT $a$ open", Postgresql),
            ("SELECT pg_sleep(10)", Postgresql),
            ("SELECT * FROM t LOCK IN SHARE MODE", Mysql),
            ("SELECT 1\0", Mysql),
        ] {
            assert_eq!(explainable(bad, d), None, "{bad}");
        }
    }

    #[test]
    fn a_text_with_parameters_is_prepared_and_its_generic_plan_explained() {
        let sql = "SELECT * FROM t WHERE a = $1 AND b = $2";
        let p = PgPlan::new(sql, 2, "p");
        assert_eq!(
            p.prepare.as_deref(),
            Some(format!("{MARKER} PREPARE p AS {sql}").as_str())
        );
        assert!(
            p.explain
                .ends_with("EXPLAIN (FORMAT JSON) EXECUTE p(NULL, NULL)")
        );
        let plain = PgPlan::new("SELECT 1", 0, "p");
        assert_eq!(
            (plain.prepare, plain.explain),
            (None, format!("{MARKER} EXPLAIN (FORMAT JSON) SELECT 1"))
        );
    }

    #[test]
    fn highest_parameter() {
        assert_eq!(max_param("SELECT $1, $12, '$40', $3"), 12);
        assert_eq!(max_param("SELECT 1"), 0);
    }

    #[test]
    fn tables_named_by_a_statement() {
        let t = tables(
            "SELECT * FROM shop.orders o, items i JOIN `users` AS u ON u.id = o.user_id WHERE o.id IN (SELECT id FROM refunds)",
            Dialect::Mysql,
        );
        assert_eq!(
            t,
            vec![
                (Some("shop".into()), "orders".into()),
                (None, "items".into()),
                (None, "users".into()),
                (None, "refunds".into())
            ]
        );
        assert_eq!(tables("SELECT 1", Dialect::Postgresql), vec![]);
        assert_eq!(
            tables("SELECT * FROM (SELECT 1) x", Dialect::Postgresql),
            vec![]
        );
        assert_eq!(
            tables("SELECT * FROM \"Orders\" WHERE x = 1", Dialect::Postgresql),
            vec![(None, "orders".into())]
        );
    }
}
