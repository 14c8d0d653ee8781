//! Every index DDL the advisor proposes for a case of the labelled corpus is executed on the real engine
//! (`DBPOWER_TEST_POSTGRES_URL`, `DBPOWER_TEST_MYSQL_URL`), on the tables of the corpus schema created
//! fresh for each case in a scratch database. A case with a schema must get only DDL the engine accepts.
//! A case without one is checked the same way against that dialect's corpus schema, except that a name
//! the schema does not have (the statement is about other tables) is not counted against it.

use std::collections::HashMap;

use dbpower_analysis::{Input, analyze};
use dbpower_sql::Dialect;
use dbpower_types::{RecommendationKind, SchemaSnapshot, TableSchema};
use sqlx::Connection;

use crate::corpus::load;

/// The corpus schema each dialect's cases are checked against.
fn schema_of(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Mysql => "shop",
        Dialect::Postgresql => "shop_pg",
    }
}

fn quote(dialect: Dialect, name: &str) -> String {
    dbpower_analysis::advisor::quote(dialect, name)
}

/// `CREATE TABLE` with the snapshot's columns, primary key and indexes.
fn create_table(dialect: Dialect, t: &TableSchema) -> Vec<String> {
    let name = match &t.schema {
        Some(s) => format!("{}.{}", quote(dialect, s), quote(dialect, &t.name)),
        None => quote(dialect, &t.name),
    };
    let cols = |c: &[String]| {
        c.iter()
            .map(|c| quote(dialect, c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let null = if c.nullable == Some(false) {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {}{null}", quote(dialect, &c.name), c.data_type)
        })
        .collect();
    let mut after = Vec::new();
    for ix in &t.indexes {
        if ix.name == "PRIMARY" || ix.name.ends_with("_pkey") {
            parts.push(format!("PRIMARY KEY ({})", cols(&ix.columns)));
        } else if dialect == Dialect::Mysql {
            let unique = if ix.unique { "UNIQUE " } else { "" };
            let key = quote(dialect, &ix.name);
            parts.push(format!("{unique}KEY {key} ({})", cols(&ix.columns)));
        } else {
            let unique = if ix.unique { "UNIQUE " } else { "" };
            let key = quote(dialect, &ix.name);
            after.push(format!(
                "CREATE {unique}INDEX {key} ON {name} ({})",
                cols(&ix.columns)
            ));
        }
    }
    let mut out = vec![
        format!("DROP TABLE IF EXISTS {name}"),
        format!("CREATE TABLE {name} ({})", parts.join(", ")),
    ];
    out.extend(after);
    out
}

/// What an error says is unknown: a table (`Some(true)`), a column (`Some(false)`), or neither.
fn unknown_name(dialect: Dialect, e: &sqlx::Error) -> Option<bool> {
    let db = e.as_database_error()?;
    match dialect {
        Dialect::Postgresql => match db.code().as_deref() {
            Some("42P01") => Some(true),
            Some("42703") => Some(false),
            _ => None,
        },
        Dialect::Mysql => match db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()?
            .number()
        {
            1146 => Some(true),
            1054 | 1072 => Some(false),
            _ => None,
        },
    }
}

pub(crate) enum Conn {
    Pg(sqlx::PgConnection),
    My(sqlx::MySqlConnection),
}

impl Conn {
    /// The first column of the first row of `sql` (an EXPLAIN ... FORMAT JSON).
    pub(crate) async fn json(&mut self, sql: &str) -> serde_json::Value {
        let q = sqlx::AssertSqlSafe(sql.to_string());
        let text: String = match self {
            Conn::Pg(c) => {
                let v: serde_json::Value = sqlx::query_scalar(q)
                    .fetch_one(c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                return v;
            }
            Conn::My(c) => sqlx::query_scalar(q)
                .fetch_one(c)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        };
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Conn {
    pub(crate) async fn run(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()));
        match self {
            Conn::Pg(c) => sql.execute(c).await.map(|_| ()),
            Conn::My(c) => sql.execute(c).await.map(|_| ()),
        }
    }
}

/// A scratch database on the server at `url`: its name and a connection to it.
pub(crate) async fn scratch(dialect: Dialect, url: &str) -> (String, Conn) {
    let name = format!(
        "dbpower_ddl_{}_{}",
        std::process::id(),
        chrono_free_nanos() % 1_000_000
    );
    match dialect {
        Dialect::Postgresql => {
            let mut admin = sqlx::PgConnection::connect(url)
                .await
                .expect("DBPOWER_TEST_POSTGRES_URL is set but the server is unreachable");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .expect("create database");
            let at = match url.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{name}"),
                None => panic!("a database URL: {url}"),
            };
            let c = sqlx::PgConnection::connect(&at).await.expect("scratch");
            (name, Conn::Pg(c))
        }
        Dialect::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url)
                .await
                .expect("DBPOWER_TEST_MYSQL_URL is set but the server is unreachable");
            let create = format!("CREATE DATABASE {name}; USE {name}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&mut c)
                .await
                .expect("create database");
            (name, Conn::My(c))
        }
    }
}

fn chrono_free_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The index DDL the full analysis recommends for `sql`.
fn proposed(
    sql: &str,
    dialect: Dialect,
    schema: Option<&SchemaSnapshot>,
    hints: Option<&dbpower_types::StatementHints>,
) -> Vec<String> {
    let mut input = Input::new(sql, dialect);
    input.schema = schema;
    input.hints = hints;
    analyze(&input)
        .recommendations
        .into_iter()
        .filter(|r| r.kind == RecommendationKind::Index)
        .filter_map(|r| r.sql)
        .collect()
}

#[tokio::test]
async fn every_proposed_index_ddl_runs_on_the_real_engine() {
    let (corpus, schemas) = load();
    for (dialect, var) in [
        (Dialect::Postgresql, "POSTGRES_URL"),
        (Dialect::Mysql, "MYSQL_URL"),
    ] {
        let Ok(url) = std::env::var(format!("DBPOWER_TEST_{var}")) else {
            println!("skipping the {dialect:?} DDL check: DBPOWER_TEST_{var} is not set");
            continue;
        };
        let (db, mut conn) = scratch(dialect, &url).await;
        // MySQL tables live in the scratch database: the snapshot says so, and the DDL names it.
        let mut schemas: HashMap<String, SchemaSnapshot> = schemas.clone();
        if dialect == Dialect::Mysql {
            for s in schemas.values_mut() {
                for t in &mut s.tables {
                    t.schema = Some(db.clone());
                }
            }
        }
        let base = &schemas[schema_of(dialect)];
        let (mut executed, mut elsewhere, mut bad) = (0, 0, Vec::new());
        for case in corpus
            .case
            .iter()
            .filter(|c| Dialect::parse(&c.dialect) == Some(dialect))
        {
            let snapshot = case.schema.as_ref().map(|s| &schemas[s]);
            let (sql, hints) = case.shipped(dialect);
            let ddl = proposed(&sql, dialect, snapshot, hints.as_ref());
            if ddl.is_empty() {
                continue;
            }
            for t in &snapshot.unwrap_or(base).tables {
                for stmt in create_table(dialect, t) {
                    conn.run(&stmt)
                        .await
                        .unwrap_or_else(|e| panic!("{stmt}: {e}"));
                }
            }
            for d in ddl {
                match conn.run(&d).await {
                    Ok(()) => executed += 1,
                    // A table the snapshot does not describe (a partial snapshot, or another
                    // application's table); without a snapshot, any name the test schema lacks.
                    Err(e)
                        if unknown_name(dialect, &e)
                            .is_some_and(|table| table || snapshot.is_none()) =>
                    {
                        elsewhere += 1
                    }
                    Err(e) => bad.push(format!("{} ({dialect:?}): {d}\n    {e}", case.name)),
                }
            }
        }
        println!(
            "{dialect:?}: {executed} proposed DDL statements ran, {elsewhere} name tables or columns the test schema lacks, {} failed",
            bad.len()
        );
        let drop = match dialect {
            Dialect::Postgresql => None,
            Dialect::Mysql => Some(format!("DROP DATABASE {db}")),
        };
        if let Some(d) = drop {
            conn.run(&d).await.expect("drop scratch database");
        } else {
            drop_pg(&url, &db, conn).await;
        }
        assert!(executed >= 10, "{dialect:?}: only {executed} DDL ran");
        assert!(
            bad.is_empty(),
            "{dialect:?}: DDL the engine refuses:\n{}",
            bad.join("\n")
        );
    }
}

pub(crate) async fn drop_pg(url: &str, db: &str, conn: Conn) {
    drop(conn);
    let mut admin = sqlx::PgConnection::connect(url).await.expect("admin");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .expect("drop scratch database");
}
