//! The analyzer end to end: an ingested slow query with a plan and a schema snapshot gets a stored,
//! schema-aware analysis; re-analysis through `POST /analyzer/analyze` updates it; ad-hoc analysis
//! answers at once; bad requests are 4xx.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::ingest::agent;
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
        let (_, oa) = app.org_with_admin(json!({"name": "Analyzed"}), "oa@an.test", "oa-password-12").await;
        let (a, _) = agent(app, &oa, json!({"name": "agent"})).await;
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
