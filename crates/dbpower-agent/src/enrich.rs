//! Optional EXPLAIN capture and schema snapshots (`explain = true`, `schema = true` on a source). Only
//! single SELECT statements are explained, in a read-only transaction with a statement timeout, never with
//! ANALYZE; the plan's strings are scrubbed like the statement. The schema snapshot (columns, indexes, row
//! estimates) covers the tables the statement names, read from the catalog. At most a few statements per
//! round, one per scrubbed shape; a failure leaves the query as it was.

use std::collections::HashMap;

use dbpower_sql::lexer::{Kind, Lexer};
use dbpower_sql::{Dialect, ScrubLevel, scrub};
use dbpower_types::{ColumnSchema, IndexSchema, SchemaSnapshot, SlowQueryIn, TableSchema};
use serde_json::Value;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::{Executor, Row};

use crate::collect::{Ctx, MARKER};
use crate::config::Scrub;

/// A single SELECT: nothing after a `;`, no `INTO` (which would write), no locking clause.
pub fn explainable(sql: &str) -> bool {
    let words: Vec<String> = Lexer::new(sql.trim().trim_end_matches(';'), Dialect::Mysql)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .map(|t| t.text.to_ascii_uppercase())
        .collect();
    words.first().is_some_and(|w| w == "SELECT")
        && !words.iter().any(|w| w == ";" || w == "INTO" || w == "FOR")
}

/// `(schema, table)` names after FROM / JOIN (and comma-separated FROM lists), lower-cased, unquoted.
pub fn tables(sql: &str, dialect: Dialect) -> Vec<(Option<String>, String)> {
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

fn scrub_plan(v: &mut Value, d: Dialect, l: ScrubLevel) {
    match v {
        Value::String(s) => *s = scrub(s, d, l),
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_plan(x, d, l)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub_plan(x, d, l)),
        _ => {}
    }
}

fn level(s: Scrub) -> ScrubLevel {
    match s {
        Scrub::Strict => ScrubLevel::Strict,
        Scrub::PiiOnly => ScrubLevel::PiiOnly,
    }
}

async fn mysql_explain(
    conn: &mut MySqlConnection,
    sql: &str,
    db: Option<&str>,
) -> anyhow::Result<Value> {
    if let Some(db) = db {
        conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "{MARKER} USE `{}`",
            db.replace('`', "``")
        ))))
        .await?;
    }
    // MySQL and MariaDB spell the statement timeout differently; whichever applies is set.
    let _ = conn
        .execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET SESSION max_execution_time = 2000",
        ))
        .await;
    let _ = conn
        .execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET SESSION max_statement_time = 2",
        ))
        .await;
    conn.execute(sqlx::raw_sql(
        "/* dbpower-agent */ START TRANSACTION READ ONLY",
    ))
    .await?;
    let text = format!(
        "{MARKER} EXPLAIN FORMAT=JSON {}",
        sql.trim().trim_end_matches(';')
    );
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(text))
        .fetch_all(&mut *conn)
        .await;
    let _ = conn
        .execute(sqlx::raw_sql("/* dbpower-agent */ ROLLBACK"))
        .await;
    let rows = result?;
    let plan: String = rows
        .first()
        .ok_or_else(|| anyhow::anyhow!("EXPLAIN returned nothing"))?
        .try_get(0)?;
    Ok(serde_json::from_str(&plan)?)
}

async fn pg_explain(conn: &mut PgConnection, sql: &str) -> anyhow::Result<Value> {
    let generic = sql.contains("$1");
    if generic {
        let v: i32 = sqlx::query_scalar(
            "SELECT /* dbpower-agent */ current_setting('server_version_num')::int",
        )
        .fetch_one(&mut *conn)
        .await?;
        if v < 160_000 {
            anyhow::bail!(
                "a statement with $n parameters needs EXPLAIN (GENERIC_PLAN), PostgreSQL 16 or later"
            );
        }
    }
    conn.execute(sqlx::raw_sql("/* dbpower-agent */ BEGIN READ ONLY"))
        .await?;
    let _ = conn
        .execute(sqlx::raw_sql(
            "/* dbpower-agent */ SET LOCAL statement_timeout = '2s'",
        ))
        .await;
    let opts = if generic {
        "FORMAT JSON, GENERIC_PLAN"
    } else {
        "FORMAT JSON"
    };
    let text = format!(
        "{MARKER} EXPLAIN ({opts}) {}",
        sql.trim().trim_end_matches(';')
    );
    let result = sqlx::raw_sql(sqlx::AssertSqlSafe(text))
        .fetch_all(&mut *conn)
        .await;
    let _ = conn
        .execute(sqlx::raw_sql("/* dbpower-agent */ ROLLBACK"))
        .await;
    let rows = result?;
    let plan: sqlx::types::Json<Value> = rows
        .first()
        .ok_or_else(|| anyhow::anyhow!("EXPLAIN returned nothing"))?
        .try_get(0)?;
    Ok(plan.0)
}

async fn mysql_table(
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
        "SELECT /* dbpower-agent */ CAST(INDEX_NAME AS CHAR), CAST(NON_UNIQUE AS SIGNED), CAST(COLUMN_NAME AS CHAR) \
         FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX",
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
        let (iname, non_unique, col): (String, i64, Option<String>) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
        let col = col.unwrap_or_else(|| "(expression)".into());
        match indexes.iter_mut().find(|i| i.name == iname) {
            Some(i) => i.columns.push(col),
            None => indexes.push(IndexSchema {
                name: iname,
                columns: vec![col],
                unique: non_unique == 0,
            }),
        }
    }
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
    }))
}

async fn pg_table(
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
    let idx = sqlx::query(
        "SELECT /* dbpower-agent */ i.relname::text, ix.indisunique, \
         array_agg(pg_get_indexdef(ix.indexrelid, k.ord::int, true) ORDER BY k.ord) \
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid \
         CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
         WHERE ix.indrelid = to_regclass($1) AND k.ord <= ix.indnkeyatts GROUP BY i.relname, ix.indisunique ORDER BY 1",
    )
    .bind(&qualified)
    .fetch_all(&mut *conn)
    .await?;
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
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    }))
}

/// The database connection a source's enrichment runs on.
pub enum Conn<'c> {
    Mysql(&'c mut MySqlConnection),
    Postgres(&'c mut PgConnection),
}

/// Adds plans and schema snapshots to the queries whose raw text the round kept. Returns how many
/// statements could not be explained or described (logged, never fatal).
pub async fn enrich(conn: Conn<'_>, ctx: &Ctx<'_>, queries: &mut [SlowQueryIn]) -> Vec<String> {
    let raws = std::mem::take(&mut *ctx.raws.borrow_mut());
    if raws.is_empty() {
        return Vec::new();
    }
    let d = ctx.dialect();
    let mut problems = Vec::new();
    let mut done: HashMap<String, (Option<Value>, Option<SchemaSnapshot>)> = HashMap::new();
    let mut cache: HashMap<(Option<String>, String), Option<TableSchema>> = HashMap::new();
    let mut conn = conn;
    for (scrubbed, (raw, db)) in &raws {
        let mut plan = None;
        if ctx.source.explain {
            let r = match &mut conn {
                Conn::Mysql(c) => mysql_explain(c, raw, db.as_deref()).await,
                Conn::Postgres(c) => pg_explain(c, raw).await,
            };
            match r {
                Ok(mut p) => {
                    scrub_plan(&mut p, d, level(ctx.scrub));
                    plan = Some(p);
                }
                Err(e) => problems.push(format!("EXPLAIN: {e:#}")),
            }
        }
        let mut snapshot = None;
        if ctx.source.schema {
            let mut tables_out = Vec::new();
            for (schema, name) in tables(raw, d) {
                let key = (schema.clone().or_else(|| db.clone()), name.clone());
                if !cache.contains_key(&key) {
                    let t = match &mut conn {
                        Conn::Mysql(c) => match key.0.as_deref() {
                            Some(s) => mysql_table(c, s, &name).await,
                            None => Ok(None),
                        },
                        Conn::Postgres(c) => pg_table(c, schema.as_deref(), &name).await,
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
            if !tables_out.is_empty() {
                snapshot = Some(SchemaSnapshot { tables: tables_out });
            }
        }
        done.insert(scrubbed.clone(), (plan, snapshot));
    }
    for q in queries.iter_mut() {
        if let Some((plan, snapshot)) = done.remove(&q.sql_text) {
            if q.explain.is_none() {
                q.explain = plan;
            }
            q.schema = snapshot;
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_selects_are_explained() {
        assert!(explainable("SELECT * FROM t WHERE a = 1;"));
        assert!(explainable("  select a from t"));
        for bad in [
            "UPDATE t SET a = 1",
            "SELECT 1; DROP TABLE t",
            "SELECT a INTO @x FROM t",
            "SELECT * FROM t FOR UPDATE",
            "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
        ] {
            assert!(!explainable(bad), "{bad}");
        }
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
