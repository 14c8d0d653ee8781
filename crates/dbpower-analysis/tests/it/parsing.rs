//! Statements that are valid and common parse, as written and as they arrive scrubbed (`?` on MySQL,
//! `$n` on PostgreSQL): the ORM shapes corpus per engine, the constructs known to have failed, and the
//! placeholder positions. With `DBPOWER_TEST_MYSQL_URL` / `DBPOWER_TEST_POSTGRES_URL` set, every
//! statement is also prepared on that server (never executed), which fails the test on a syntax error,
//! so what is held to parse is real SQL.

use dbpower_analysis::{Input, analyze, statement_findings};
use dbpower_sql::{Dialect, ScrubLevel, scrub};

/// The share of corpus shapes, in tenths of a percent, that must parse per engine.
const MIN_PARSE_PERMILLE: usize = 998;

/// The ORM shapes of one engine: one statement per line after the header comment.
fn corpus(dialect: Dialect) -> Vec<String> {
    let name = match dialect {
        Dialect::Mysql => "orm-shapes-mysql.sql",
        Dialect::Postgresql => "orm-shapes-postgresql.sql",
    };
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("--"))
        .map(str::to_string)
        .collect()
}

fn scrubbed(sql: &str, dialect: Dialect) -> String {
    scrub(sql, dialect, ScrubLevel::Strict)
}

/// The statements of `stmts` whose report says they did not parse, with the reason.
fn not_parsed(stmts: &[String], dialect: Dialect) -> Vec<String> {
    stmts
        .iter()
        .filter_map(|s| {
            let r = analyze(&Input::new(s, dialect));
            (!r.parse_ok).then(|| format!("{s}\n    {}", r.summary))
        })
        .collect()
}

fn assert_rate(what: &str, total: usize, failed: &[String]) {
    let parsed = total - failed.len();
    assert!(
        parsed * 1000 >= total * MIN_PARSE_PERMILLE,
        "{what}: {parsed} of {total} shapes parse, below {}.{}%; the failures:\n{}",
        MIN_PARSE_PERMILLE / 10,
        MIN_PARSE_PERMILLE % 10,
        failed.join("\n")
    );
    println!("{what}: {parsed} of {total} shapes parse");
    for f in failed {
        println!("  not parsed: {f}");
    }
}

#[test]
fn orm_shapes_parse_on_each_engine_as_written_and_scrubbed() {
    for dialect in [Dialect::Mysql, Dialect::Postgresql] {
        let shapes = corpus(dialect);
        assert!(
            shapes.len() >= 1000,
            "{dialect:?}: the corpus holds {} shapes",
            shapes.len()
        );
        assert_rate(
            &format!("{dialect:?} as written"),
            shapes.len(),
            &not_parsed(&shapes, dialect),
        );
        let scrubbed: Vec<String> = shapes.iter().map(|s| scrubbed(s, dialect)).collect();
        assert_rate(
            &format!("{dialect:?} scrubbed"),
            scrubbed.len(),
            &not_parsed(&scrubbed, dialect),
        );
    }
}

/// Constructs that are valid on their engine, each with the statement rules' view of it: `true` when
/// it must parse into a statement the rules walk, `false` when it is a utility statement with nothing
/// for them.
const POSTGRESQL: &[(&str, bool)] = &[
    ("SET CONSTRAINTS ALL IMMEDIATE", true),
    ("SET CONSTRAINTS ALL DEFERRED", true),
    (r#"SET CONSTRAINTS "fk_a", public.fk_b IMMEDIATE"#, true),
    (
        r#"UPDATE "booking" SET "name" = '' WHERE "name" IS NULL; SET CONSTRAINTS ALL IMMEDIATE"#,
        true,
    ),
    (
        "CREATE TABLE booking (id int, room int, during tsrange, EXCLUDE USING gist (room WITH =, during WITH &&))",
        true,
    ),
    (
        "ALTER TABLE booking ADD CONSTRAINT no_overlap EXCLUDE USING gist (during WITH &&) WHERE (id > 0) DEFERRABLE INITIALLY DEFERRED",
        true,
    ),
    (
        "ALTER TABLE booking ADD CONSTRAINT no_overlap2 EXCLUDE USING gist (during WITH &&, room WITH OPERATOR(pg_catalog.=)) INCLUDE (id) WITH (fillfactor = 70) USING INDEX TABLESPACE pg_default",
        true,
    ),
    (
        "CREATE TABLE booking2 (during tsrange, CONSTRAINT b2_excl EXCLUDE ((lower(during)) WITH =))",
        true,
    ),
    (r#"ALTER SEQUENCE "booking_id_seq" RESTART WITH 1"#, false),
    ("ALTER SEQUENCE booking_id_seq OWNED BY booking.id", false),
    (
        "ALTER SEQUENCE IF EXISTS s INCREMENT BY 2 MINVALUE 1 NO MAXVALUE CACHE 1 NO CYCLE",
        false,
    ),
    ("ALTER SEQUENCE s AS bigint", false),
    (
        "SELECT a.id FROM booking a JOIN booking b ON a.id = b.id FOR UPDATE OF a, b",
        true,
    ),
    ("SELECT a.id FROM booking a FOR NO KEY UPDATE", true),
    (
        "SELECT a.id FROM booking a FOR NO KEY UPDATE OF a SKIP LOCKED",
        true,
    ),
    ("SELECT a.id FROM booking a FOR KEY SHARE OF a NOWAIT", true),
    (
        "SELECT a.id FROM booking a FOR UPDATE OF a FOR SHARE OF b",
        true,
    ),
    (
        r#"DROP INDEX CONCURRENTLY IF EXISTS "booking_room_idx""#,
        true,
    ),
    ("DROP INDEX CONCURRENTLY booking_room_idx CASCADE", true),
    (
        r#"ALTER TABLE booking ALTER COLUMN name TYPE varchar(20) COLLATE "C""#,
        true,
    ),
    (
        r#"ALTER TABLE "booking" ALTER COLUMN "name" TYPE text COLLATE "und-x-icu" USING "name"::text"#,
        true,
    ),
    (
        "CREATE INDEX booking_room_idx ON booking (room) INCLUDE (id) TABLESPACE pg_default",
        true,
    ),
    (
        "CREATE UNIQUE INDEX booking_room_uidx ON booking USING btree (room) INCLUDE (id, during) WITH (fillfactor = 80) TABLESPACE pg_default WHERE id > 0",
        true,
    ),
    (
        "ALTER TABLE booking ALTER COLUMN id DROP IDENTITY IF EXISTS",
        true,
    ),
    ("ALTER TABLE booking ALTER COLUMN id DROP IDENTITY", true),
    (
        "SELECT sum(id) OVER (ORDER BY room ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE CURRENT ROW) FROM booking",
        true,
    ),
    (
        "SELECT sum(id) OVER (ORDER BY room RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE TIES) FROM booking",
        true,
    ),
    (
        "SELECT sum(id) OVER (ORDER BY room GROUPS BETWEEN 1 PRECEDING AND 1 FOLLOWING EXCLUDE GROUP) FROM booking",
        true,
    ),
    (
        "SELECT sum(id) OVER w FROM booking WINDOW w AS (ORDER BY room ROWS UNBOUNDED PRECEDING EXCLUDE NO OTHERS)",
        true,
    ),
    (
        "SELECT (SELECT id FROM booking UNION SELECT room FROM booking LIMIT 1) AS x",
        true,
    ),
    (
        "SELECT ((SELECT id FROM booking WHERE room = 1) UNION (SELECT room FROM booking WHERE id = 2)) AS x",
        true,
    ),
    (
        "SELECT id FROM booking WHERE id = ((SELECT max(id) FROM booking) EXCEPT (SELECT min(id) FROM booking))",
        true,
    ),
    (
        "SELECT id FROM booking WHERE id IN ((SELECT id FROM booking) UNION ALL (SELECT room FROM booking))",
        true,
    ),
    (
        "SELECT id FROM booking WHERE EXISTS ((SELECT 1 FROM booking WHERE room = 3) INTERSECT (SELECT 1))",
        true,
    ),
];

const MYSQL: &[(&str, bool)] = &[
    (
        "EXPLAIN FORMAT=TRADITIONAL SELECT * FROM t1 WHERE a = 1",
        true,
    ),
    ("EXPLAIN FORMAT=JSON SELECT * FROM t1 WHERE a = 1", true),
    ("SELECT CHAR(77 USING utf8mb4)", true),
    ("SELECT CHAR(77, 78 USING latin1) FROM t1 WHERE a = 1", true),
    ("SELECT a FROM t1 WHERE CHAR(a USING utf8mb4) = 'x'", true),
    ("ALTER TABLE t1 COMMENT='hello'", true),
    ("ALTER TABLE t1 COMMENT 'hello'", true),
    ("ALTER TABLE `t1` ENGINE=InnoDB, COMMENT = 'x'", true),
    ("ALTER TABLE t1 RENAME INDEX ia TO ib", true),
    ("ALTER TABLE `t1` RENAME KEY `ia` TO `ib`", true),
    ("ANALYZE SELECT * FROM t1 WHERE a = 1", true),
    ("ANALYZE FORMAT=JSON SELECT * FROM t1 WHERE a = 1", true),
    ("ANALYZE UPDATE t1 SET a = 2 WHERE a = 1", true),
    ("ANALYZE TABLE t1", true),
    ("SET @`var` = 1", true),
    ("SET @`my var` := 2, @b = 3", true),
    ("SET @v := (SELECT max(a) FROM t1)", true),
    ("CREATE PROCEDURE p1() BEGIN SELECT 1; END", false),
    (
        "CREATE DEFINER=`root`@`localhost` PROCEDURE p2(IN x INT) BEGIN DECLARE y INT DEFAULT 0; SELECT a INTO y FROM t1 WHERE a = x; END",
        false,
    ),
    (
        "CREATE FUNCTION f1(x INT) RETURNS INT DETERMINISTIC BEGIN RETURN x + 1; END",
        false,
    ),
    // The parser knows MySQL triggers: this one is walked.
    (
        "CREATE TRIGGER tr1 BEFORE INSERT ON t1 FOR EACH ROW BEGIN SET NEW.a = NEW.a + 1; END",
        true,
    ),
    (
        "SELECT (SELECT a FROM t1 UNION SELECT a FROM t1 LIMIT 1) AS x",
        true,
    ),
    (
        "SELECT ((SELECT a FROM t1 WHERE a = 1) UNION (SELECT a FROM t1 WHERE a = 2)) AS x",
        true,
    ),
    (
        "SELECT a FROM t1 WHERE a IN ((SELECT a FROM t1) UNION (SELECT a FROM t1))",
        true,
    ),
];

/// Placeholder positions: statements valid on their engine whose scrubbed form has a placeholder where
/// a literal was.
const POSTGRESQL_VALUES: &[&str] = &[
    "SELECT * FROM booking WHERE id = 1 LIMIT 10 OFFSET 20",
    "SELECT * FROM booking WHERE during @> '2024-01-01'::timestamp AND id > 2",
    "SELECT * FROM booking WHERE created > DATE '2024-01-01' - INTERVAL '1 day'",
    "SELECT * FROM booking WHERE created > now() - interval '7 days' AND name LIKE '%abc'",
    "SELECT * FROM booking WHERE created > TIMESTAMP '2024-01-01 00:00:00' FETCH FIRST 5 ROWS ONLY",
    "SELECT * FROM booking WHERE id IN (1, 2, 3) AND name = E'a\\nb' AND flag = B'101'",
    "SELECT CAST('12' AS integer), '{1,2}'::int[], ARRAY[1, 2], 'x' || name FROM booking",
    "INSERT INTO booking (id, name) VALUES (1, 'a'), (2, 'b') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    "UPDATE booking SET name = 'x', room = room + 1 WHERE id = 5",
    "SELECT id FROM booking ORDER BY 1 DESC LIMIT 1",
];

const MYSQL_VALUES: &[&str] = &[
    "SELECT * FROM t1 WHERE a = 1 LIMIT 10",
    "SELECT * FROM t1 WHERE a = 1 LIMIT 10, 20",
    "SELECT * FROM t1 WHERE a = 1 LIMIT 10 OFFSET 20",
    "SELECT * FROM t1 WHERE d > NOW() - INTERVAL 1 DAY",
    "SELECT * FROM t1 WHERE d > DATE_SUB(NOW(), INTERVAL 7 DAY) AND d < DATE '2024-01-01'",
    "SELECT * FROM t1 WHERE a IN (1, 2, 3) AND b = 'x' AND c LIKE '%y'",
    "SELECT * FROM t1 WHERE b = _utf8mb4'x' COLLATE utf8mb4_bin AND c = X'0A' AND d = 0x1F",
    "INSERT INTO t1 (a, b) VALUES (1, 'a'), (2, 'b') ON DUPLICATE KEY UPDATE b = VALUES(b)",
    "UPDATE t1 SET b = 'x' WHERE a = 5 ORDER BY a LIMIT 1",
    "SELECT a FROM t1 GROUP BY a ORDER BY 1 DESC LIMIT 1",
];

fn check_constructs(dialect: Dialect, cases: &[(&str, bool)]) {
    let mut wrong = Vec::new();
    for (sql, walked) in cases {
        for text in [sql.to_string(), scrubbed(sql, dialect)] {
            let r = analyze(&Input::new(&text, dialect));
            let utility = r.summary.contains("utility statement");
            let (_, parsed) = statement_findings(&text, dialect, None);
            if !r.parse_ok || parsed.is_err() || utility == *walked {
                wrong.push(format!(
                    "{text}\n    parse_ok {}, utility {utility}: {}",
                    r.parse_ok, r.summary
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{dialect:?}:\n{}", wrong.join("\n"));
}

#[test]
fn constructs_that_failed_before_parse_in_their_dialect() {
    check_constructs(Dialect::Postgresql, POSTGRESQL);
    check_constructs(Dialect::Mysql, MYSQL);
}

#[test]
fn placeholders_parse_wherever_a_literal_was() {
    for (dialect, cases, mark) in [
        (Dialect::Postgresql, POSTGRESQL_VALUES, "$1"),
        (Dialect::Mysql, MYSQL_VALUES, "?"),
    ] {
        let scrubbed: Vec<String> = cases.iter().map(|s| scrubbed(s, dialect)).collect();
        for s in &scrubbed {
            assert!(s.contains(mark), "no placeholder in {s}");
        }
        let failed = not_parsed(&scrubbed, dialect);
        assert!(failed.is_empty(), "{dialect:?}:\n{}", failed.join("\n"));
    }
}

#[test]
fn the_rules_still_see_what_the_new_syntax_carries() {
    let pg = |sql: &str| statement_findings(sql, Dialect::Postgresql, None);
    let (f, blocks) = pg("SELECT * FROM booking b WHERE b.room = 1 FOR NO KEY UPDATE OF b");
    let rules: Vec<&str> = f.iter().map(|f| f.rule).collect();
    assert!(rules.contains(&"select_star"), "{rules:?}");
    let lock = f.iter().find(|f| f.rule == "select_for_update");
    assert_eq!(lock.map(|f| f.evidence.as_str()), Some("FOR NO KEY UPDATE"));
    let blocks = blocks.expect("parses");
    assert_eq!(blocks[0].tables[0].name, "booking");
    assert_eq!(blocks[0].eq, vec![(0, "room".to_string())]);

    // Both operands of a parenthesised set operation in a subquery are query blocks with their filters.
    let (_, blocks) = pg(
        "SELECT id FROM booking WHERE id IN ((SELECT id FROM guest WHERE email = 'a') UNION (SELECT id FROM staff WHERE code = 'b'))",
    );
    let blocks = blocks.expect("parses");
    let filtered: Vec<(String, Vec<String>)> = blocks
        .iter()
        .filter(|b| !b.eq.is_empty())
        .map(|b| {
            (
                b.tables[0].name.clone(),
                b.eq.iter().map(|(_, c)| c.clone()).collect(),
            )
        })
        .collect();
    assert!(
        filtered.contains(&("guest".to_string(), vec!["email".to_string()]))
            && filtered.contains(&("staff".to_string(), vec!["code".to_string()])),
        "{filtered:?}"
    );

    // MariaDB's ANALYZE <statement> is the statement's own analysis.
    let (f, _) = statement_findings("ANALYZE UPDATE t1 SET a = 2", Dialect::Mysql, None);
    assert!(f.iter().any(|f| f.rule == "dml_without_where"), "{f:?}");
}

#[test]
fn a_utility_statement_is_reported_as_one_and_a_stranger_is_not() {
    let r = analyze(&Input::new(
        "ALTER SEQUENCE s RESTART WITH 1",
        Dialect::Postgresql,
    ));
    assert!(r.parse_ok);
    assert!(r.issues.is_empty());
    assert!(
        r.summary.starts_with(
            "A utility statement, with nothing for the rules to check: ALTER SEQUENCE"
        ),
        "{}",
        r.summary
    );
    // With the class's measured numbers, their findings stand and the summary still says what it is.
    let r = analyze(&Input {
        stats: Some(dbpower_analysis::ClassStats {
            count: 10,
            avg_time_ms: 1.0,
            max_time_ms: 2.0,
            rows_examined: None,
            rows_sent: None,
            lock_time_ms: Some(20_000.0),
            total_time_share: None,
        }),
        ..Input::new("CREATE PROCEDURE p1() BEGIN SELECT 1; END", Dialect::Mysql)
    });
    assert!(r.parse_ok);
    assert!(
        r.issues.iter().any(|i| i.rule_id == "long_lock_time"),
        "{:?}",
        r.issues
    );
    assert!(r.summary.contains("A utility statement"), "{}", r.summary);
    // The same words in another dialect, or a statement that only mentions them, are not utility.
    for (sql, dialect) in [
        (
            "CREATE PROCEDURE p1() BEGIN SELECT 1; END",
            Dialect::Postgresql,
        ),
        ("CREATE TABLE t (procedure int) ENGINE", Dialect::Mysql),
        ("SELECT FROM WHERE ALTER SEQUENCE", Dialect::Postgresql),
    ] {
        let r = analyze(&Input::new(sql, dialect));
        assert!(!r.parse_ok, "{sql}: {}", r.summary);
        assert!(!r.summary.contains("utility"), "{sql}: {}", r.summary);
    }
}

/// The statements the server at `url` rejects as a syntax error when preparing them (a prepared
/// statement is parsed, never executed); a missing table or column is not a syntax error.
async fn syntax_errors(dialect: Dialect, url: &str, stmts: &[String]) -> Vec<String> {
    use sqlx::{Connection, Executor, SqlSafeStr};
    let sql = |s: &String| sqlx::AssertSqlSafe(s.clone()).into_sql_str();
    let mut bad = Vec::new();
    match dialect {
        Dialect::Postgresql => {
            let mut c = sqlx::PgConnection::connect(url)
                .await
                .expect("DBPOWER_TEST_POSTGRES_URL is set but the server is unreachable");
            for s in stmts {
                let Err(mut e) = c.prepare(sql(s)).await else {
                    continue;
                };
                // A text of several statements cannot be prepared: it is run instead, in a transaction
                // that is rolled back (the server parses the whole text before running any of it).
                let several = e
                    .as_database_error()
                    .is_some_and(|d| d.message().contains("multiple commands"));
                if several {
                    let mut tx = c.begin().await.expect("begin");
                    match sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
                        .execute(&mut *tx)
                        .await
                    {
                        Ok(_) => {
                            tx.rollback().await.expect("rollback");
                            continue;
                        }
                        Err(run) => e = run,
                    }
                    drop(tx);
                }
                let db = e.as_database_error().unwrap_or_else(|| panic!("{s}: {e}"));
                if db.code().as_deref() == Some("42601") {
                    bad.push(format!("{s}\n    {}", db.message()));
                }
            }
        }
        Dialect::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url)
                .await
                .expect("DBPOWER_TEST_MYSQL_URL is set but the server is unreachable");
            for s in stmts {
                if let Err(e) = c.prepare(sql(s)).await {
                    let db = e.as_database_error().unwrap_or_else(|| panic!("{s}: {e}"));
                    let number = db
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .map(|m| m.number());
                    // ER_PARSE_ERROR, ER_SYNTAX_ERROR
                    if matches!(number, Some(1064 | 1149)) {
                        bad.push(format!("{s}\n    {}", db.message()));
                    }
                }
            }
        }
    }
    bad
}

/// Every statement of every case list and the corpus, as written, on the engine named by its variable.
#[tokio::test]
async fn every_statement_held_to_parse_is_valid_on_its_engine() {
    for (dialect, var, cases, values) in [
        (
            Dialect::Postgresql,
            "POSTGRES_URL",
            POSTGRESQL,
            POSTGRESQL_VALUES,
        ),
        (Dialect::Mysql, "MYSQL_URL", MYSQL, MYSQL_VALUES),
    ] {
        let Ok(url) = std::env::var(format!("DBPOWER_TEST_{var}")) else {
            println!("skipping the {dialect:?} check: DBPOWER_TEST_{var} is not set");
            continue;
        };
        let mut stmts = corpus(dialect);
        stmts.extend(cases.iter().map(|(s, _)| s.to_string()));
        stmts.extend(values.iter().map(|s| s.to_string()));
        let bad = syntax_errors(dialect, &url, &stmts).await;
        assert!(
            bad.is_empty(),
            "{dialect:?}: {} statement(s) are not valid SQL there:\n{}",
            bad.len(),
            bad.join("\n")
        );
        // The check can fail: a statement the engine does not accept is reported.
        let wrong = syntax_errors(dialect, &url, &["SELECT FROM WHERE 1".to_string()]).await;
        assert_eq!(wrong.len(), 1, "{dialect:?}: {wrong:?}");
    }
}
