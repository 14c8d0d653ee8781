//! The analyzer end to end: an ingested slow query with a plan and a schema snapshot gets a stored,
//! schema-aware analysis; re-analysis through `POST /analyzer/analyze` updates it; ad-hoc analysis
//! answers at once; bad requests are 4xx.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::reanalysis::organization;
use crate::{TestApp, on_all_backends};

/// The class's analysis as the query's detail shows it, once its `analyzed_at` differs from
/// `newer_than` (15 s at most).
pub(crate) async fn analysis_of(app: &TestApp, token: &str, id: i64, newer_than: &Value) -> Value {
    for _ in 0..150 {
        let d = app.get(&format!("/api/v1/slow-queries/{id}"), token).await;
        let a = &d.body["analysis"];
        if a.is_object() && &a["analyzed_at"] != newer_than {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no analysis for slow query {id}");
}

#[tokio::test]
async fn ingested_queries_get_schema_aware_analyses_and_re_analysis() {
    on_all_backends(async |app| {
        let (oa, a) = organization(app, "Analyzed").await;
        let schema = json!({"tables": [{"name": "orders", "rows": 500000,
            "columns": [{"name": "id", "type": "bigint"}, {"name": "status", "type": "varchar(16)"}, {"name": "created_at", "type": "datetime"}],
            "indexes": [{"name": "PRIMARY", "columns": ["id"], "unique": true}]}]});
        let plan = json!({"query_block": {"select_id": 1, "ordering_operation": {"using_filesort": true,
            "table": {"table_name": "orders", "access_type": "ALL", "rows_examined_per_scan": 500000, "attached_condition": "(orders.status = 'paid')"}}}});
        let batch = json!({"queries": [{
            "sql_text": "SELECT * FROM orders WHERE status = 'paid' ORDER BY created_at DESC LIMIT 50",
            "execution_time_ms": 850.0, "database_type": "mysql", "rows_examined": 500000, "rows_sent": 50,
            "explain": plan, "schema": schema}]});
        let r = app.ingest_at(&a, "an-0001", &batch, Utc::now().timestamp()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let id = r.body["ids"][0].as_i64().expect("id");

        let first = analysis_of(app, &oa, id, &Value::Null).await;
        assert_eq!(first["parse_ok"], true, "{first}");
        let mut rules: Vec<&str> = first["issues"].as_array().expect("issues").iter().filter_map(|i| i["rule_id"].as_str()).collect();
        rules.sort_unstable();
        assert_eq!(rules, vec!["high_rows_ratio", "missing_index", "plan_filesort", "plan_full_scan", "select_star"], "{first}");
        let ddl: Vec<&str> = first["recommendations"].as_array().expect("recs").iter().filter_map(|r| r["sql"].as_str()).collect();
        assert_eq!(ddl, vec!["ALTER TABLE orders ADD INDEX idx_orders_status_created_at (status, created_at), ALGORITHM=INPLACE, LOCK=NONE;"]);
        assert_eq!(first["severity"], "HIGH");

        // Re-analysis through the analyzer's own API.
        let r = app.post("/analyzer/analyze", &oa, json!({"slow_query_id": id})).await;
        assert_eq!((r.status, r.body["status"].as_str()), (StatusCode::ACCEPTED, Some("queued")), "{r:?}");
        let second = analysis_of(app, &oa, id, &first["analyzed_at"]).await;
        assert_eq!(second["issues"], first["issues"]);

        // Another organization's query is not there.
        let (_, rival) = app.org_with_admin(json!({"name": "Other"}), "oa@other.test", "oa-password-12").await;
        assert_eq!(app.post("/analyzer/analyze", &rival, json!({"slow_query_id": id})).await.status, StatusCode::NOT_FOUND);
    })
    .await;
}

/// The rule ids of an analysis.
fn rules_of(a: &Value) -> Vec<&str> {
    let mut rules: Vec<&str> = a["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .filter_map(|i| i["rule_id"].as_str())
        .collect();
    rules.sort_unstable();
    rules
}

#[tokio::test]
async fn hints_and_server_settings_reach_the_rules_of_a_strictly_scrubbed_statement() {
    on_all_backends(async |app| {
        let (oa, a) = organization(app, "Hinted").await;
        let users = json!({"tables": [{"name": "users", "rows": 2000,
            "columns": [{"name": "id", "type": "bigint"}, {"name": "phone", "type": "varchar(32)"}],
            "indexes": [{"name": "PRIMARY", "columns": ["id"], "unique": true}, {"name": "phone", "columns": ["phone"]}]}]});
        // What the agent ships for `... WHERE phone = 5551234` under strict scrubbing, with and without
        // its hint, as two classes (the second names the table differently).
        let hinted = json!({"sql_text": "SELECT id FROM users WHERE phone = ?", "execution_time_ms": 40.0,
            "database_type": "mysql", "schema": users,
            "hints": {"literals": [{"column": "phone", "op": "=", "kind": "number"}]}});
        let bare = json!({"sql_text": "SELECT id FROM users AS u WHERE u.phone = ?", "execution_time_ms": 40.0,
            "database_type": "mysql", "schema": users});
        let commit = json!({"sql_text": "COMMIT", "execution_time_ms": 30.0, "database_type": "mysql",
            "schema": {"settings": {"innodb_flush_log_at_trx_commit": "1", "sync_binlog": "1"}}});
        let r = app.ingest_at(&a, "hint-0001", &json!({"queries": [hinted, bare, commit]}), Utc::now().timestamp()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let ids: Vec<i64> = r.body["ids"].as_array().expect("ids").iter().filter_map(Value::as_i64).collect();

        let with = analysis_of(app, &oa, ids[0], &Value::Null).await;
        assert_eq!(rules_of(&with), vec!["implicit_conversion"], "{with}");
        let without = analysis_of(app, &oa, ids[1], &Value::Null).await;
        assert!(!rules_of(&without).contains(&"implicit_conversion"), "{without}");
        // The statement shown stays the scrubbed one.
        let d = app.get(&format!("/api/v1/slow-queries/{}", ids[0]), &oa).await;
        assert_eq!(d.body["sql_text"], "SELECT id FROM users WHERE phone = ?", "{d:?}");

        let c = analysis_of(app, &oa, ids[2], &Value::Null).await;
        let evidence = c["issues"].as_array().expect("issues").iter()
            .find(|i| i["rule_id"] == "commit_latency").map(|i| i["evidence"].to_string()).unwrap_or_else(|| panic!("{c}"));
        assert!(evidence.contains("innodb_flush_log_at_trx_commit = 1, sync_binlog = 1"), "{evidence}");

        // Hints and settings are bounded and checked like every other field.
        let many: Vec<Value> = (0..65).map(|i| json!({"column": format!("c{i}"), "op": "=", "kind": "number"})).collect();
        for (n, (item, field)) in [
            (json!({"hints": {"literals": many}}), "queries[0].hints"),
            (json!({"hints": {"literals": [{"column": "c", "op": "->>", "kind": "string", "value": "x' OR '1"}]}}), "queries[0].hints"),
            (json!({"hints": {"literals": [{"column": "c", "op": "LIKE", "kind": "number"}]}}), "queries[0].hints"),
            (json!({"hints": {"literals": [{"column": "", "op": "=", "kind": "number"}]}}), "queries[0].hints"),
            (json!({"schema": {"settings": {"work_mem": "x".repeat(257)}}}), "queries[0].schema.settings"),
            (json!({"schema": {"settings": {"w".repeat(65): "1"}}}), "queries[0].schema.settings"),
            (json!({"schema": {"settings": (0..65).map(|i| (format!("s{i}"), json!("1"))).collect::<serde_json::Map<_, _>>()}}), "queries[0].schema.settings"),
            // Table, schema, column and index names, types, key parts and access methods are bounded.
            (json!({"schema": {"tables": [{"name": "t".repeat(257), "columns": [], "indexes": []}]}}), "queries[0].schema.tables"),
            (json!({"schema": {"tables": [{"name": "", "columns": [], "indexes": []}]}}), "queries[0].schema.tables"),
            (json!({"schema": {"tables": [{"name": "t", "schema": "s".repeat(257), "columns": [], "indexes": []}]}}), "queries[0].schema.tables"),
            (json!({"schema": {"tables": [{"name": "t", "columns": [{"name": "c", "type": "x".repeat(4097)}], "indexes": []}]}}), "queries[0].schema.tables"),
            (json!({"schema": {"tables": [{"name": "t", "columns": [], "indexes": [{"name": "i".repeat(257), "columns": ["c"]}]}]}}), "queries[0].schema.tables"),
            (json!({"schema": {"tables": [{"name": "t", "columns": [], "indexes": [{"name": "i", "columns": vec!["c"; 65]}]}]}}), "queries[0].schema.tables"),
            (json!({"schema": {"tables": [{"name": "t", "columns": [], "indexes": [{"name": "i", "columns": ["c".repeat(4097)]}]}]}}), "queries[0].schema.tables"),
            (json!({"schema": {"tables": [{"name": "t", "columns": [], "indexes": [{"name": "i", "columns": ["c"], "method": "m".repeat(65)}]}]}}), "queries[0].schema.tables"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut q = json!({"sql_text": "SELECT 1", "execution_time_ms": 1.0, "database_type": "mysql"});
            for (k, v) in item.as_object().expect("object") {
                q[k] = v.clone();
            }
            let r = app.ingest_at(&a, &format!("hint-bad-{n}"), &json!({"queries": [q]}), Utc::now().timestamp()).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {r:?}");
            assert_eq!(r.body["error"]["field"], field, "{r:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn ad_hoc_analysis_answers_at_once_and_refuses_bad_requests() {
    on_all_backends(async |app| {
        let sa = app.admin().await;
        let r = app
            .post("/analyzer/analyze", &sa, json!({"sql": "SELECT id FROM users WHERE LOWER(email) = $1", "database_type": "postgresql"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["issues"][0]["rule_id"], "function_on_column");
        assert_eq!(r.body["engine"], json!(["rules"]));
        let sql = r.body["recommendations"][0]["sql"].as_str().unwrap_or_default().to_string();
        assert_eq!(sql, "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_lower_email ON users ((LOWER(email)));");

        for (body, field) in [
            (json!({}), "sql"),
            (json!({"sql": "SELECT 1"}), "database_type"),
            (json!({"sql": "  ", "database_type": "mysql"}), "sql"),
            (json!({"sql": "SELECT 1", "database_type": "mysql", "slow_query_id": 1}), "slow_query_id"),
            (json!({"slow_query_id": 1, "schema": {"tables": []}}), "slow_query_id"),
            (json!({"sql": "SELECT 1", "database_type": "mysql", "explain": "plan"}), "explain"),
        ] {
            let r = app.post("/analyzer/analyze", &sa, body.clone()).await;
            assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)), "{body}: {r:?}");
        }
        let r = app.post("/analyzer/analyze", &sa, json!({"sql": "SELECT 1", "database_type": "oracle"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        let r = app.post("/analyzer/analyze", &sa, json!({"sql": "SELECT 1", "database_type": "mysql", "extra": 1})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        let big = "SELECT 1 FROM t WHERE a IN (".to_string() + &"1,".repeat(600_000) + "1)";
        let r = app.post("/analyzer/analyze", &sa, json!({"sql": big, "database_type": "mysql"})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        let anonymous = app.http().post(format!("{}/analyzer/analyze", app.base)).json(&json!({"sql": "SELECT 1", "database_type": "mysql"})).send().await.expect("send");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    })
    .await;
}
