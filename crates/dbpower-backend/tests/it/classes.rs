//! Query classes as real workloads make them: one query id on a MySQL and a PostgreSQL class (named by
//! engine, never picked silently), PostgreSQL classes whose rows examined are unknown (null, sorted
//! last), and slow-query totals that say when they stopped counting.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::ingest::agent;
use crate::{TestApp, on_all_backends};

const SHARED_SQL: &str = "SELECT * FROM orders WHERE id = 42";

/// An organization with an admin and an agent that sent `SHARED_SQL` to both engines (twice to
/// PostgreSQL) and one statement to MySQL only: the admin's token and the shared query id.
async fn two_engines(app: &TestApp, name: &str) -> (String, String) {
    let (_, oa) = app
        .org_with_admin(
            json!({"name": name}),
            &format!("oa@{name}.test"),
            "oa-password-12",
        )
        .await;
    let (key, _) = agent(app, &oa, json!({"name": "both"})).await;
    let q = |sql: &str, db: &str| json!({"sql_text": sql, "execution_time_ms": 10.0, "database_type": db});
    let batch = json!({"queries": [
        q(SHARED_SQL, "mysql"),
        q(SHARED_SQL, "postgresql"),
        q("SELECT * FROM orders WHERE id = 43", "postgresql"),
        q("SELECT name FROM customers WHERE id = 1", "mysql"),
    ]});
    let r = app.ingest(&key, "both-1", &batch).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let classes = app.items("/api/v1/query-classes", &oa).await;
    let ids = |db: &str| -> Vec<String> {
        classes
            .iter()
            .filter(|c| {
                c["database_type"] == db
                    && c["sample_sql"]
                        .as_str()
                        .is_some_and(|s| s.contains("orders"))
            })
            .map(|c| c["query_id"].as_str().expect("query_id").to_string())
            .collect()
    };
    let (mysql, pg) = (ids("mysql"), ids("postgresql"));
    assert_eq!((mysql.len(), pg.len()), (1, 1), "{classes:?}");
    assert_eq!(
        mysql[0], pg[0],
        "the same statement has the same query id on both engines"
    );
    (oa, mysql[0].clone())
}

/// The candidates of a 409 `ambiguous_query_id` answer to `path`, and its message.
async fn ambiguous(app: &TestApp, path: &str, token: &str) -> (Vec<Value>, String) {
    let r = app.get(path, token).await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::CONFLICT, Some("ambiguous_query_id")),
        "{r:?}"
    );
    let candidates = r.body["error"]["candidates"]
        .as_array()
        .expect("candidates");
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    (candidates.clone(), message.to_string())
}

#[tokio::test]
async fn a_query_id_shared_by_two_engines_is_named_by_engine() {
    on_all_backends(async |app| {
        let (oa, qid) = two_engines(app, "engines").await;
        let path = format!("/api/v1/query-classes/{qid}");

        // Without an engine: 409 naming both, with the URL of each.
        let (candidates, message) = ambiguous(app, &path, &oa).await;
        let engines: Vec<&str> = candidates
            .iter()
            .filter_map(|c| c["database_type"].as_str())
            .collect();
        assert_eq!(engines, ["mysql", "postgresql"], "{candidates:?}");
        assert!(message.contains("database_type"), "{message}");
        for c in &candidates {
            let href = c["href"].as_str().expect("href");
            assert_eq!(
                href,
                format!(
                    "{path}?database_type={}",
                    c["database_type"].as_str().unwrap_or("")
                )
            );
            let one = app.get(href, &oa).await;
            assert_eq!(
                (one.status, &one.body["database_type"]),
                (StatusCode::OK, &c["database_type"]),
                "{one:?}"
            );
        }

        // Each engine's class by name: the PostgreSQL one is reachable, with its own numbers.
        let engine_class = async |engine: &str| {
            let r = app
                .get(&format!("{path}?database_type={engine}"), &oa)
                .await;
            let (db, count) = (r.body["database_type"].clone(), r.body["count"].as_i64());
            assert_eq!(
                (r.status, db.as_str()),
                (StatusCode::OK, Some(engine)),
                "{r:?}"
            );
            (r, count)
        };
        let (pg, count) = engine_class("postgresql").await;
        assert_eq!(count, Some(2), "{pg:?}");
        let series: i64 = pg.body["series"]
            .as_array()
            .expect("series")
            .iter()
            .filter_map(|p| p["count"].as_i64())
            .sum();
        assert_eq!(series, 2);
        let (my, count) = engine_class("mysql").await;
        assert_eq!(count, Some(1), "{my:?}");

        // A query id of one class keeps working without an engine (links made before stay valid); an
        // engine it does not have is 404, a bad one 422, and another organization sees nothing.
        let single = app.items("/api/v1/query-classes?q=customers", &oa).await;
        let single_id = single[0]["query_id"].as_str().expect("id");
        let r = app
            .get(&format!("/api/v1/query-classes/{single_id}"), &oa)
            .await;
        assert_eq!(
            (r.status, r.body["database_type"].as_str()),
            (StatusCode::OK, Some("mysql")),
            "{r:?}"
        );
        let r = app
            .get(
                &format!("/api/v1/query-classes/{single_id}?database_type=postgresql"),
                &oa,
            )
            .await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{r:?}"
        );
        let r = app.get(&format!("{path}?database_type=oracle"), &oa).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("database_type")),
            "{r:?}"
        );
        let r = app.get(&format!("{path}?organization_id=x"), &oa).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        let (_, rival) = app
            .org_with_admin(json!({"name": "rival"}), "oa@rival.test", "oa-password-12")
            .await;
        for p in [path.clone(), format!("{path}?database_type=postgresql")] {
            assert_eq!(app.get(&p, &rival).await.status, StatusCode::NOT_FOUND);
        }

        // A slow query's detail, its re-analysis and the slow-query filter carry the engine.
        let pg_rows = app
            .items(
                &format!("/api/v1/slow-queries?query_id={qid}&database_type=postgresql"),
                &oa,
            )
            .await;
        assert_eq!(pg_rows.len(), 2, "{pg_rows:?}");
        assert_eq!(
            app.items(&format!("/api/v1/slow-queries?query_id={qid}"), &oa)
                .await
                .len(),
            3
        );
        let id = &pg_rows[0]["id"];
        let detail = app.get(&format!("/api/v1/slow-queries/{id}"), &oa).await;
        assert_eq!(
            (
                detail.body["database_type"].as_str(),
                detail.body["class"]["database_type"].as_str()
            ),
            (Some("postgresql"), Some("postgresql"))
        );
        assert_eq!(
            detail.body["class"]["count"], 2,
            "the detail's class is the PostgreSQL one: {detail:?}"
        );
        let r = app
            .post(
                &format!("/api/v1/slow-queries/{id}/analyze"),
                &oa,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        assert_eq!(
            (
                r.body["query_id"].as_str(),
                r.body["database_type"].as_str()
            ),
            (Some(qid.as_str()), Some("postgresql"))
        );
        let r = app
            .post("/analyzer/analyze", &oa, json!({"slow_query_id": id}))
            .await;
        assert_eq!(
            (r.status, r.body["database_type"].as_str()),
            (StatusCode::ACCEPTED, Some("postgresql")),
            "{r:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_super_admin_names_the_organization_when_two_share_a_query_id() {
    on_all_backends(async |app| {
        let (_, qid) = two_engines(app, "first").await;
        let (_, again) = two_engines(app, "second").await;
        assert_eq!(qid, again);
        let sa = app.admin().await;
        let path = format!("/api/v1/query-classes/{qid}?database_type=mysql");
        let (candidates, _) = ambiguous(app, &path, &sa).await;
        assert_eq!(candidates.len(), 2, "{candidates:?}");
        let org = candidates[1]["organization_id"]
            .as_i64()
            .expect("organization");
        assert_ne!(
            org,
            candidates[0]["organization_id"]
                .as_i64()
                .expect("organization")
        );
        let href = candidates[1]["href"].as_str().expect("href");
        assert!(href.ends_with(&format!("&organization_id={org}")), "{href}");
        let one = app.get(href, &sa).await;
        assert_eq!(
            (one.status, one.body["database_type"].as_str()),
            (StatusCode::OK, Some("mysql")),
            "{one:?}"
        );
    })
    .await;
}

/// The class of `items` whose sample mentions `table` on `db`.
fn class<'a>(items: &'a [Value], table: &str, db: &str) -> &'a Value {
    items
        .iter()
        .find(|c| {
            c["database_type"] == db && c["sample_sql"].as_str().is_some_and(|s| s.contains(table))
        })
        .unwrap_or_else(|| panic!("no {db} class of {table}: {items:?}"))
}

#[tokio::test]
async fn rows_ratios_are_null_when_rows_examined_are_unknown_and_sort_last() {
    on_all_backends(async |app| {
        let (_, oa) = app.org_with_admin(json!({"name": "ratios"}), "oa@ratios.test", "oa-password-12").await;
        let (key, _) = agent(app, &oa, json!({"name": "a"})).await;
        // pg_stat_statements reports rows returned, never rows examined; MySQL reports both (a class
        // may have examined none).
        let batch = json!({"queries": [
            {"sql_text": "SELECT * FROM pg_only WHERE id = 1", "execution_time_ms": 9.0, "database_type": "postgresql", "rows_sent": 40, "calls": 4},
            {"sql_text": "SELECT * FROM scans WHERE a = 1", "execution_time_ms": 5.0, "database_type": "mysql", "rows_examined": 9000, "rows_sent": 3},
            {"sql_text": "SELECT * FROM lookups WHERE id = 1", "execution_time_ms": 1.0, "database_type": "mysql", "rows_examined": 1, "rows_sent": 1},
            {"sql_text": "SELECT * FROM empties WHERE id = 1", "execution_time_ms": 1.0, "database_type": "mysql", "rows_examined": 0, "rows_sent": 0},
        ]});
        assert_eq!(app.ingest(&key, "r-1", &batch).await.status, StatusCode::ACCEPTED);

        let items = app.items("/api/v1/query-classes?sort=rows_ratio", &oa).await;
        let pg = class(&items, "pg_only", "postgresql");
        assert_eq!((&pg["rows_examined"], &pg["rows_ratio"], &pg["rows_sent"]), (&Value::Null, &Value::Null, &json!(40)), "{pg}");
        assert_eq!(class(&items, "scans", "mysql")["rows_ratio"], 3000.0);
        let empty = class(&items, "empties", "mysql");
        assert_eq!((&empty["rows_examined"], &empty["rows_ratio"]), (&json!(0), &Value::Null), "known 0, no ratio without sent rows");
        let order: Vec<&str> = items.iter().filter_map(|c| c["sample_sql"].as_str()).collect();
        assert!(order[0].contains("scans") && order[1].contains("lookups"), "{order:?}");
        assert!(order[2..].iter().all(|s| s.contains("pg_only") || s.contains("empties")), "unknown ratios last: {order:?}");

        // The class detail agrees, and more executions without rows examined keep it unknown.
        let qid = pg["query_id"].as_str().expect("id");
        assert_eq!(app.ingest(&key, "r-2", &json!({"queries": [{"sql_text": "SELECT * FROM pg_only WHERE id = 2", "execution_time_ms": 1.0, "database_type": "postgresql", "rows_sent": 1}]})).await.status, StatusCode::ACCEPTED);
        let d = app.get(&format!("/api/v1/query-classes/{qid}?database_type=postgresql"), &oa).await;
        assert_eq!((d.body["count"].as_i64(), &d.body["rows_ratio"], &d.body["rows_examined"]), (Some(5), &Value::Null, &Value::Null), "{d:?}");
        // A PostgreSQL class whose agent does report rows examined has a ratio.
        assert_eq!(app.ingest(&key, "r-3", &json!({"queries": [{"sql_text": "SELECT * FROM pg_known WHERE id = 2", "execution_time_ms": 1.0, "database_type": "postgresql", "rows_examined": 50, "rows_sent": 5}]})).await.status, StatusCode::ACCEPTED);
        let items = app.items("/api/v1/query-classes?database_type=postgresql&sort=rows_ratio", &oa).await;
        assert_eq!(class(&items, "pg_known", "postgresql")["rows_ratio"], 10.0);
        assert!(items[0]["sample_sql"].as_str().is_some_and(|s| s.contains("pg_known")), "{items:?}");
    })
    .await;
}

#[tokio::test]
async fn filtered_totals_say_when_they_stopped_counting() {
    on_all_backends(async |app| {
        let (_, oa) = app.org_with_admin(json!({"name": "big"}), "oa@big.test", "oa-password-12").await;
        let (key, _) = agent(app, &oa, json!({"name": "a"})).await;
        // 10,001 executions in the database "big": one more than the count stops at.
        for b in 0..11 {
            let n = if b == 10 { 1 } else { 1000 };
            let queries: Vec<Value> = (0..n)
                .map(|i| json!({"sql_text": format!("SELECT * FROM t{} WHERE id = {i}", i % 7), "execution_time_ms": 1.0, "database_type": "mysql", "database_name": "big"}))
                .collect();
            let r = app.ingest(&key, &format!("big-{b}"), &json!({"queries": queries})).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        }
        let small = json!({"queries": [{"sql_text": "SELECT 1 FROM small WHERE id = 1", "execution_time_ms": 1.0, "database_type": "mysql", "database_name": "small"}]});
        assert_eq!(app.ingest(&key, "small-1", &small).await.status, StatusCode::ACCEPTED);

        // The rollups count exactly, at any size.
        let all = app.get("/api/v1/slow-queries?per_page=1", &oa).await;
        assert_eq!((all.body["total"].as_i64(), all.body["total_capped"].as_bool()), (Some(10_002), Some(false)), "{all:?}");
        // A filter the rollups do not carry is counted on the rows, up to 10,000, and says so.
        let big = app.get("/api/v1/slow-queries?database_name=big&per_page=1", &oa).await;
        assert_eq!((big.body["total"].as_i64(), big.body["total_capped"].as_bool()), (Some(10_000), Some(true)), "{big:?}");
        let text = app.get("/api/v1/slow-queries?q=from%20t3&per_page=1", &oa).await;
        assert_eq!((text.body["total"].as_i64(), text.body["total_capped"].as_bool()), (Some(1_430), Some(false)), "{text:?}");
        let one = app.get("/api/v1/slow-queries?database_name=small", &oa).await;
        assert_eq!((one.body["total"].as_i64(), one.body["total_capped"].as_bool()), (Some(1), Some(false)));
        // Every other list says false.
        let classes = app.get("/api/v1/query-classes", &oa).await;
        assert_eq!(classes.body["total_capped"], false, "{classes:?}");
    })
    .await;
}
