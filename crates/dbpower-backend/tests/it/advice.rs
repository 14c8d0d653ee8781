//! Index advice through the API: the validation round trip as an agent drives it (claims leased to the
//! agent that ships the class, results only from the lease holder, hostile results refused whole with
//! the field named), and the workload's advice from the schema snapshots agents ship (consolidation,
//! unused and redundant indexes, keys and foreign keys never dropped), scoped to the organization.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::analyzer::analysis_of;
use crate::reanalysis::organization;
use crate::{TestApp, on_all_backends};
use dbpower_testkit::{ApiKey, Resp};

async fn signed(app: &TestApp, key: &ApiKey, path: &str, body: &Value) -> Resp {
    app.signed_post(path, key, &uuid::Uuid::new_v4().to_string(), body)
        .await
}

/// A table of a million rows, with a primary key, an index backing a foreign key, an unused index,
/// and an index that is a left prefix of another; its index counters run since 40 days ago.
fn orders_schema() -> Value {
    let since = (Utc::now() - chrono::Duration::days(40)).to_rfc3339();
    json!({"tables": [{"name": "orders", "schema": "public", "rows": 1000000,
    "usage_since": since,
    "columns": [{"name": "id", "type": "bigint"}, {"name": "customer_id", "type": "int"},
                {"name": "status", "type": "int"}, {"name": "created_at", "type": "timestamptz"},
                {"name": "note", "type": "text"}, {"name": "shop_id", "type": "int"}],
    "indexes": [
        {"name": "orders_pkey", "columns": ["id"], "unique": true, "primary": true, "scans": 0},
        {"name": "orders_shop_fk", "columns": ["shop_id"], "foreign_key": true, "scans": 0},
        {"name": "orders_note_idx", "columns": ["note"], "scans": 0},
        {"name": "orders_created_idx", "columns": ["created_at"], "scans": 12},
        {"name": "orders_created_note_idx", "columns": ["created_at", "note"], "scans": 40}
    ]}]})
}

fn query(sql: &str, schema: &Value) -> Value {
    json!({"sql_text": sql, "execution_time_ms": 700.0, "calls": 20,
        "database_type": "postgresql", "database_name": "shop", "source": "pg:pg_stat_statements",
        "schema": schema})
}

#[tokio::test]
async fn validations_go_to_the_shipping_agent_and_only_its_answers_count() {
    on_all_backends(async |app| {
        let (oa, key) = organization(app, "Validated").await;
        let (_, other) = organization(app, "Elsewhere").await;
        let schema = orders_schema();
        let r = app
            .ingest_at(
                &key,
                "v-1",
                &json!({"queries": [query("SELECT note FROM orders WHERE customer_id = $1", &schema)]}),
                Utc::now().timestamp(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let id = r.body["ids"][0].as_i64().expect("id");
        let analysis = analysis_of(app, &oa, id, &Value::Null).await;
        let rec = analysis["recommendations"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["kind"] == "index").cloned())
            .unwrap_or_else(|| panic!("{analysis}"));
        assert_eq!(rec["validation"]["status"], "pending", "{rec}");
        assert_eq!(rec["index"]["columns"], json!(["customer_id"]), "{rec}");

        // Another organization's agent gets nothing; this one gets the task with its statement.
        let r = signed(app, &other, "/api/v1/agents/validations/claim", &json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["tasks"], json!([]), "{r:?}");
        let r = signed(app, &key, "/api/v1/agents/validations/claim", &json!({"limit": 5})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let task = r.body["tasks"][0].clone();
        assert_eq!(task["sql"], "SELECT note FROM orders WHERE customer_id = $1", "{r:?}");
        assert_eq!(task["database_name"], "shop");
        assert_eq!(task["source"], "pg");
        assert_eq!(task["index"]["table"], "orders");
        // Leased: a second claim does not hand it out again.
        let again = signed(app, &key, "/api/v1/agents/validations/claim", &json!({})).await;
        assert_eq!(again.body["tasks"], json!([]), "{again:?}");

        // Hostile results are refused whole, naming the field.
        let tid = task["id"].clone();
        for (bad, field) in [
            (json!({"id": tid, "status": "pending"}), "results[0].status"),
            (json!({"id": tid, "status": "validated"}), "results[0].method"),
            (json!({"id": tid, "status": "validated", "method": "hypopg", "cost_before": -1.0}), "results[0].cost_before"),
            (json!({"id": tid, "status": "rejected", "method": "hypopg", "cost_after": 1e300}), "results[0].cost_after"),
            (json!({"id": tid, "status": "unavailable", "reason": "x".repeat(501)}), "results[0].reason"),
        ] {
            let r = signed(app, &key, "/api/v1/agents/validations", &json!({"results": [bad]})).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {r:?}");
            assert_eq!(r.body["error"]["field"], field, "{r:?}");
        }
        let many: Vec<Value> = (0..21).map(|i| json!({"id": i, "status": "unavailable"})).collect();
        let r = signed(app, &key, "/api/v1/agents/validations", &json!({"results": many})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        let r = signed(app, &key, "/api/v1/agents/validations/claim", &json!({"limit": 0})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");

        // The other organization's agent cannot answer it; the holder can, once.
        let result = json!({"id": tid, "status": "validated", "method": "hypopg",
            "cost_before": 13561.8, "cost_after": 23.5, "uses_index": true});
        let r = signed(app, &other, "/api/v1/agents/validations", &json!({"results": [result]})).await;
        assert_eq!(r.body, json!({"recorded": 0, "ignored": 1}), "{r:?}");
        let r = signed(app, &key, "/api/v1/agents/validations", &json!({"results": [result]})).await;
        assert_eq!(r.body, json!({"recorded": 1, "ignored": 0}), "{r:?}");
        let r = signed(app, &key, "/api/v1/agents/validations", &json!({"results": [result]})).await;
        assert_eq!(r.body, json!({"recorded": 0, "ignored": 1}), "{r:?}");
        let d = app.get(&format!("/api/v1/slow-queries/{id}"), &oa).await;
        let v = d.body["analysis"]["recommendations"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["kind"] == "index").cloned())
            .map(|r| r["validation"].clone())
            .unwrap_or_default();
        assert_eq!(
            (v["status"].clone(), v["cost_after"].clone(), v["uses_index"].clone()),
            (json!("validated"), json!(23.5), json!(true)),
            "{d:?}"
        );
        // Unsigned, nothing is claimed.
        let r = app.post("/api/v1/agents/validations/claim", &oa, json!({})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    })
    .await;
}

#[tokio::test]
async fn workload_advice_consolidates_and_proposes_drops_but_never_keys() {
    on_all_backends(async |app| {
        let (oa, key) = organization(app, "Workload").await;
        let (other_oa, _) = organization(app, "Bystander").await;
        let schema = orders_schema();
        let statements = [
            "SELECT note FROM orders WHERE customer_id = $1",
            "SELECT note FROM orders WHERE customer_id = $1 AND status = $2",
            "SELECT note FROM orders WHERE status = $1 AND customer_id = $2 AND id > $3",
            "SELECT id FROM orders WHERE status = $1",
            "SELECT id FROM orders WHERE customer_id = $1 AND status = $2 ORDER BY id",
        ];
        let mut ids = Vec::new();
        for (i, sql) in statements.iter().enumerate() {
            let r = app
                .ingest_at(
                    &key,
                    &format!("w-{i}"),
                    &json!({"queries": [query(sql, &schema)]}),
                    Utc::now().timestamp(),
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
            ids.push(r.body["ids"][0].as_i64().expect("id"));
        }
        let write = json!({"queries": [{"sql_text": "UPDATE orders SET note = $1 WHERE id = $2",
            "execution_time_ms": 2.0, "calls": 900, "database_type": "postgresql", "database_name": "shop"}]});
        let r = app.ingest_at(&key, "w-write", &write, Utc::now().timestamp()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        for id in &ids {
            analysis_of(app, &oa, *id, &Value::Null).await;
        }
        let r = app.get("/api/v1/index-advice", &oa).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let tables = r.body["tables"].as_array().expect("tables");
        assert_eq!(tables.len(), 1, "{r:?}");
        let t = &tables[0];
        assert_eq!(t["table"], "public.orders");
        assert_eq!(t["writes"], 900, "{t}");
        let create = t["create"].as_array().expect("create");
        assert!(r.body["recommendations"].as_u64() >= Some(5), "{r:?}");
        assert!(!create.is_empty() && create.len() <= 2, "{t}");
        let served: u64 = create.iter().filter_map(|p| p["replaces"].as_u64()).sum();
        assert!(served >= 5, "{t}");
        for p in create {
            assert!(!p["serves"].as_array().expect("serves").is_empty(), "{p}");
            assert!(p["trade"].as_str().is_some_and(|s| s.contains("900 write(s)")), "{p}");
        }
        let drops: Vec<(String, String)> = t["drop"]
            .as_array()
            .expect("drop")
            .iter()
            .map(|d| {
                (
                    d["index"].as_str().unwrap_or("").to_string(),
                    d["reason"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        assert_eq!(
            drops,
            [
                ("orders_note_idx".to_string(), "unused".to_string()),
                ("orders_created_idx".to_string(), "redundant_prefix".to_string()),
            ],
            "{t}"
        );
        // A longer period than the counters cover: the unused index is not proposed.
        let r = app.get("/api/v1/index-advice?unused_days=60", &oa).await;
        assert!(!r.body.to_string().contains("\"unused\""), "{r:?}");
        for bad in ["unused_days=0", "unused_days=3651", "unused_days=x", "table="] {
            let r = app.get(&format!("/api/v1/index-advice?{bad}"), &oa).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
        }
        // Another organization sees none of it.
        let r = app.get("/api/v1/index-advice", &other_oa).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["tables"], json!([]), "{r:?}");
    })
    .await;
}

/// Closing the loop: once a schema snapshot shows an index serving a class's recommendation, the class
/// is analysed again (the index is no longer recommended) and its analysis shows the applied advice with
/// the p95 of the hours before and after the index was first seen.
#[tokio::test]
async fn applied_advice_is_measured_before_and_after_and_the_class_is_analysed_again() {
    on_all_backends(async |app| {
        let (oa, key) = organization(app, "Applied").await;
        let (other_oa, _) = organization(app, "Unrelated").await;
        let sql = "SELECT note FROM orders WHERE customer_id = $1";
        let at = |hours_ago: i64, ms: f64, schema: &Value| {
            let mut q = query(sql, schema);
            q["execution_time_ms"] = json!(ms);
            q["observed_at"] =
                json!((Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339());
            q
        };
        let without = orders_schema();
        let r = app
            .ingest_at(
                &key,
                "ap-1",
                &json!({"queries": [at(5, 1800.0, &without)]}),
                Utc::now().timestamp(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let id = r.body["ids"][0].as_i64().expect("id");
        let first = analysis_of(app, &oa, id, &Value::Null).await;
        let ddl = first["recommendations"]
            .as_array()
            .and_then(|r| {
                r.iter()
                    .find(|r| r["index"]["columns"] == json!(["customer_id"]))
            })
            .map(|r| r["sql"].clone())
            .unwrap_or_else(|| panic!("{first}"));
        assert!(first.get("applied").is_none(), "{first}");

        // The agent read the catalog with the index three hours ago; an hour ago the class runs on it.
        let mut with = orders_schema();
        with["described_at"] = json!((Utc::now() - chrono::Duration::hours(3)).to_rfc3339());
        with["tables"][0]["indexes"]
            .as_array_mut()
            .expect("indexes")
            .push(
                json!({"name": "orders_customer_id_idx", "columns": ["customer_id"], "scans": 20}),
            );
        let batch = json!({"queries": [at(3, 12.0, &with), at(1, 12.0, &with)]});
        let r = app
            .ingest_at(&key, "ap-2", &batch, Utc::now().timestamp())
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let again = analysis_of(app, &oa, id, &first["analyzed_at"]).await;
        let applied = again["applied"].as_array().cloned().unwrap_or_default();
        assert_eq!(applied.len(), 1, "{again}");
        let a = &applied[0];
        assert_eq!(
            (&a["ddl"], &a["index"]),
            (&ddl, &json!("orders_customer_id_idx")),
            "{a}"
        );
        assert_eq!(
            (&a["calls_before"], &a["calls_after"]),
            (&json!(20), &json!(20)),
            "{a}"
        );
        let (before, after) = (
            a["p95_before_ms"].as_f64().unwrap_or(0.0),
            a["p95_after_ms"].as_f64().unwrap_or(f64::MAX),
        );
        assert!(
            (1500.0..2200.0).contains(&before) && (8.0..16.0).contains(&after),
            "{a}"
        );
        let summary = a["summary"].as_str().unwrap_or("");
        assert!(
            summary.starts_with("p95 1.") && summary.contains(" -> "),
            "{summary}"
        );
        assert!(summary.ends_with("(orders_customer_id_idx)"), "{summary}");
        // The refreshed analysis no longer recommends the index that exists.
        let recommended = again["recommendations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["sql"] == ddl);
        assert!(!recommended, "{again}");
        // Another organization sees neither the class nor its applied advice.
        let r = app
            .get(&format!("/api/v1/slow-queries/{id}"), &other_oa)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");

        // The index is dropped: the next description without it opens the advice again.
        let batch = json!({"queries": [at(0, 1700.0, &without)]});
        let r = app
            .ingest_at(&key, "ap-3", &batch, Utc::now().timestamp())
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let reopened = analysis_of(app, &oa, id, &again["analyzed_at"]).await;
        assert!(reopened.get("applied").is_none(), "{reopened}");
        let recommended = reopened["recommendations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["sql"] == ddl);
        assert!(recommended, "{reopened}");
    })
    .await;
}
