//! Plan findings on plans the real engines produce (`DBPOWER_TEST_POSTGRES_URL`,
//! `DBPOWER_TEST_MYSQL_URL`): each cause is made to happen on tables built in a scratch database, its
//! finding must come out of `EXPLAIN ... FORMAT JSON`, and the fixed statement's plan must not carry it.

use dbpower_analysis::explain::check;
use dbpower_sql::Dialect;

use crate::ddl::{Conn, drop_pg, scratch};

/// A scratch database on the server `DBPOWER_TEST_{var}` names, with `setup` (statements separated
/// by `;`) run in it: the URL, the database and a connection to it; `None` when the variable is not set.
async fn prepared(dialect: Dialect, var: &str, setup: &str) -> Option<(String, String, Conn)> {
    let url = std::env::var(format!("DBPOWER_TEST_{var}")).ok()?;
    let (db, mut c) = scratch(dialect, &url).await;
    c.run(setup)
        .await
        .unwrap_or_else(|e| panic!("{setup}: {e}"));
    Some((url, db, c))
}

fn rules_of(plan: &serde_json::Value) -> Vec<&'static str> {
    check(plan, None).findings.iter().map(|f| f.rule).collect()
}

#[tokio::test]
async fn postgresql_plans_show_spills_discards_materialized_ctes_and_casts() {
    let setup = "CREATE TABLE a (id bigint PRIMARY KEY, grp int, flag int, v text); \
         INSERT INTO a SELECT g, g % 10, g % 100, md5(g::text) FROM generate_series(1, 200000) g; \
         CREATE TABLE b (id bigint PRIMARY KEY, a_id bigint, w text); \
         INSERT INTO b SELECT g, g % 200000 + 1, md5(g::text) FROM generate_series(1, 200000) g; \
         CREATE INDEX a_grp ON a (grp); \
         ANALYZE";
    let Some((url, db, mut c)) = prepared(Dialect::Postgresql, "POSTGRES_URL", setup).await else {
        return;
    };
    let cases: [(&str, &str, &str, &str); 4] = [
        (
            "plan_hash_spill",
            "SET work_mem = '64kB'",
            "SELECT a.v, b.w FROM a JOIN b ON b.a_id = a.id",
            "SET work_mem = '256MB'",
        ),
        (
            "plan_index_filter_discards",
            "SET enable_seqscan = off",
            "SELECT * FROM a WHERE grp = 5 AND flag = 7",
            "CREATE INDEX a_grp_flag ON a (grp, flag)",
        ),
        (
            "plan_cte_materialized",
            "RESET ALL",
            "WITH c AS MATERIALIZED (SELECT * FROM a) SELECT * FROM c WHERE id = 5",
            "",
        ),
        (
            "plan_implicit_cast",
            "RESET ALL",
            "SELECT * FROM a WHERE id = 5.0",
            "",
        ),
    ];
    for (rule, before, sql, fix) in cases {
        c.run(before).await.expect(before);
        let plan = c
            .json(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"))
            .await;
        assert!(rules_of(&plan).contains(&rule), "{rule}: {sql}\n{plan}");
        // The fixed setting, index or statement: the finding is gone.
        let fixed = match rule {
            "plan_cte_materialized" => sql.replace("AS MATERIALIZED", "AS NOT MATERIALIZED"),
            "plan_implicit_cast" => sql.replace("5.0", "5"),
            _ => {
                c.run(fix).await.expect(fix);
                sql.to_string()
            }
        };
        let plan = c
            .json(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {fixed}"))
            .await;
        assert!(!rules_of(&plan).contains(&rule), "{rule}: {fixed}\n{plan}");
    }
    drop_pg(&url, &db, c).await;
}

#[tokio::test]
async fn mariadb_plans_show_a_character_set_conversion_in_a_join() {
    let setup = "CREATE TABLE u (id int PRIMARY KEY, code varchar(20) CHARACTER SET utf8mb4, KEY (code)); \
         CREATE TABLE l (id int PRIMARY KEY, code varchar(20) CHARACTER SET latin1, KEY (code)); \
         INSERT INTO u SELECT seq, concat('c', seq) FROM seq_1_to_5000; \
         INSERT INTO l SELECT seq, concat('c', seq) FROM seq_1_to_5000; \
         ANALYZE TABLE u, l";
    let Some((_, db, mut c)) = prepared(Dialect::Mysql, "MYSQL_URL", setup).await else {
        return;
    };
    let sql = "SELECT * FROM u JOIN l ON l.code = u.code WHERE u.id < 100";
    let plan = c.json(&format!("EXPLAIN FORMAT=JSON {sql}")).await;
    let facts = check(&plan, None);
    let found = facts
        .findings
        .iter()
        .find(|f| f.rule == "plan_charset_conversion")
        .unwrap_or_else(|| panic!("{plan}"));
    assert!(found.evidence.contains("utf8mb4"), "{}", found.evidence);
    c.run("ALTER TABLE l MODIFY code varchar(20) CHARACTER SET utf8mb4")
        .await
        .expect("one character set");
    let plan = c.json(&format!("EXPLAIN FORMAT=JSON {sql}")).await;
    assert!(
        !rules_of(&plan).contains(&"plan_charset_conversion"),
        "{plan}"
    );
    c.run(&format!("DROP DATABASE {db}")).await.expect("drop");
}
