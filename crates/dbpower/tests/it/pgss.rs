//! The PostgreSQL fingerprint against the real `pg_stat_statements` (`DBPOWER_TEST_POSTGRES_URL`, with
//! the module preloaded): every statement of a corpus runs on a database of its own, and the text
//! pg_stat_statements keeps for it (constants replaced by `$n`) must give the statement's fingerprint and
//! query id, as must the statement scrubbed strictly (what the agent ships).

use dbpower_sql::{Dialect, ScrubLevel, fingerprint_and_id, scrub};
use dbpower_testkit::TestDb;
use sqlx::{Connection, PgConnection};

const SETUP: &str = "
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, status text, total numeric(10,2),
    created_at timestamptz, d date, tags text[], doc jsonb, flag boolean);
CREATE TABLE \"Events_2024_01\" (id int, payload text);
";

/// Statements as the server log shows them (literal values), covering every construct that
/// pg_stat_statements turns into a parameter, and ordinary ones.
const CORPUS: &[&str] = &[
    "SELECT * FROM orders WHERE id = 42",
    "SELECT * FROM orders WHERE status IN ('paid', 'shipped', 'new') AND total > 10.5",
    "SELECT extract(year FROM d) AS y, count(*) FROM orders GROUP BY 1 ORDER BY 1",
    "SELECT EXTRACT(EPOCH FROM created_at) FROM orders WHERE id = 1",
    "SELECT extract('dow' FROM d) FROM orders",
    "SELECT date_part('month', d) FROM orders",
    "UPDATE pgbench_accounts SET abalance = abalance + -1234 WHERE aid = 5",
    "UPDATE pgbench_accounts SET abalance = abalance - 17 WHERE aid = -3",
    "SELECT * FROM orders WHERE created_at > now() - INTERVAL '1 day'",
    "SELECT * FROM orders WHERE created_at > now() - interval '5' minute",
    "SELECT * FROM orders WHERE created_at > now() - '2 hours'::interval",
    "SELECT interval '1 day' * 3",
    "SELECT * FROM orders WHERE d = date '2024-01-01'",
    "SELECT timestamp '2024-01-01 10:00:00', timestamptz '2024-01-01 10:00+02', time '10:00'",
    "SELECT timestamp(3) '2024-01-01 10:00:00.123'",
    "SELECT CAST('42' AS integer), '7'::bigint, 3::text",
    "SELECT true, false, NULL",
    "SELECT * FROM orders WHERE flag IS TRUE AND status IS NOT NULL AND customer_id IS NULL",
    "SELECT * FROM orders WHERE flag = false AND total <> -5.5",
    "SELECT -5::int, - 5, -5 ^ 2, -'7'::int",
    "SELECT 10 - 3 - -2, greatest(1, -2), least(-3, 4)",
    "SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) > 3 ORDER BY 2 DESC LIMIT 10 OFFSET 20",
    "SELECT * FROM orders LIMIT ALL",
    "SELECT * FROM orders ORDER BY id FETCH FIRST 5 ROWS ONLY",
    "SELECT normalize(status, NFC) FROM orders",
    "SELECT status IS NFKC NORMALIZED, status IS NOT NFD NORMALIZED FROM orders",
    "SELECT substring(status FROM 2 FOR 3), substring(status FROM -1 FOR 2), position('a' IN status), overlay(status PLACING 'x' FROM 1 FOR 1), trim(both 'x' FROM status) FROM orders",
    "SELECT doc->'a', doc->>'b', doc #> '{c,d}' FROM orders WHERE doc @> '{\"k\": 1}'",
    "SELECT ARRAY[1, 2, 3], '{1,2}'::int[], tags[1] FROM orders",
    "INSERT INTO orders (id, customer_id, status, total) VALUES (1, 2, 'new', 9.99)",
    "INSERT INTO orders (id, status) VALUES (2, 'a'), (3, 'b') ON CONFLICT (id) DO UPDATE SET status = excluded.status || '!'",
    "DELETE FROM orders WHERE id = -7 AND status = E'it\\'s'",
    "SELECT $$dollar quoted$$, $t$tagged$t$, E'esc\\n', U&'d\\0061t', B'101', X'1F'",
    "SELECT 1.5e3, .5, 1e-3, 2.5E+10",
    "SELECT x FROM generate_series(1, 10) AS x",
    "SELECT row_number() OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM orders",
    "SELECT * FROM orders WHERE customer_id = ANY('{1,2,3}') AND status LIKE 'pa%' ESCAPE '!'",
    "SELECT * FROM orders WHERE total BETWEEN SYMMETRIC 1 AND 100",
    "SELECT CASE WHEN total > 100 THEN -1 ELSE -2 END - 1 FROM orders",
    "SELECT * FROM \"Events_2024_01\" WHERE id = 3",
    "SELECT * FROM orders o JOIN pgbench_accounts a ON a.aid = o.customer_id WHERE o.id IN (SELECT id FROM orders WHERE total > 100) AND a.bid = 1",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > current_date - 7) SELECT count(*) FROM recent",
    "SELECT to_char(created_at, 'YYYY-MM'), created_at AT TIME ZONE 'UTC' FROM orders",
    "SELECT 'abc' COLLATE \"C\" < 'abd', status SIMILAR TO 'p%' FROM orders",
    "SELECT current_timestamp(3), localtimestamp(2), current_date, current_time",
    "SELECT 1::numeric(10,2), 'a'::varchar(5)",
    "SELECT * FROM orders TABLESAMPLE system (10) REPEATABLE (5)",
    "SELECT (1, 2) = (3, 4), 1 WHERE NULL IS NULL AND true",
    "SELECT xmlroot(xmlparse(document '<a/>'), version '1.0', standalone yes)",
    "UPDATE orders SET total = total * 1.1, status = DEFAULT WHERE d < date '2020-01-01' RETURNING id",
    "SELECT * FROM orders WHERE id = 1 FOR UPDATE SKIP LOCKED",
    "SELECT total::text FROM orders WHERE id::text = '5'",
    "SELECT a.aid FROM pgbench_accounts a WHERE a.abalance < -100 /* comment */",
    "SELECT 1 + +5, 2 * -3",
];

#[tokio::test(flavor = "multi_thread")]
async fn log_text_and_pg_stat_statements_text_share_one_query_id() {
    let Some(server) = dbpower_testkit::postgres_server() else {
        return;
    };
    assert!(CORPUS.len() >= 40);
    let db = TestDb::scratch_postgres(&server).await;
    let mut c = PgConnection::connect(db.url()).await.expect("connect");
    sqlx::raw_sql(SETUP).execute(&mut c).await.expect("setup");
    let mut mismatches = Vec::new();
    for stmt in CORPUS {
        // Only this database's entries: other tests read pg_stat_statements at the same time.
        sqlx::raw_sql(
            "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)",
        )
        .execute(&mut c)
        .await
        .expect("reset");
        sqlx::raw_sql(sqlx::AssertSqlSafe(*stmt))
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
        let texts: Vec<String> = sqlx::query_scalar(
            "SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'",
        )
        .fetch_all(&mut c)
        .await
        .expect("read pg_stat_statements");
        assert_eq!(texts.len(), 1, "{stmt}: {texts:?}");
        let pss = &texts[0];
        let ours = fingerprint_and_id(stmt, Dialect::Postgresql);
        let theirs = fingerprint_and_id(pss, Dialect::Postgresql);
        let scrubbed = fingerprint_and_id(
            &scrub(stmt, Dialect::Postgresql, ScrubLevel::Strict),
            Dialect::Postgresql,
        );
        if ours != theirs || ours != scrubbed {
            mismatches.push(format!(
                "{stmt}\n  pg_stat_statements: {pss}\n  log:      {ours:?}\n  pgss:     {theirs:?}\n  scrubbed: {scrubbed:?}"
            ));
        }
    }
    drop(c);
    assert!(
        mismatches.is_empty(),
        "{} of {} statements get another id from pg_stat_statements:\n{}",
        mismatches.len(),
        CORPUS.len(),
        mismatches.join("\n")
    );
}
