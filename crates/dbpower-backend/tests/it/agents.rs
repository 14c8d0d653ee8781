//! Collector agents as the platform lists them: a page like every other list, the methods of each
//! source named as the agent's configuration names them, scoped to the caller's organization.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::TestApp;
use crate::ingest::agent;
use crate::on_all_backends;
use dbpower_testkit::{ApiKey, Resp};

/// `POST /api/v1/agents/heartbeat` signed with `key`, as the agent sends it.
pub(crate) async fn heartbeat(app: &TestApp, key: &ApiKey, request_id: &str, body: &Value) -> Resp {
    let raw = serde_json::to_vec(body).expect("body");
    let path = "/api/v1/agents/heartbeat";
    let signed = dbpower_core::signing::Signed {
        timestamp: chrono::Utc::now().timestamp(),
        request_id,
        method: "POST",
        path_and_query: path,
        body: &raw,
    };
    let mut req = app
        .http()
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json");
    for (name, value) in signed.headers(&key.key_id, &key.secret) {
        req = req.header(name, value);
    }
    Resp::read(req.body(raw).send().await.expect("heartbeat")).await
}

fn beat(name: &str, methods: &[&str]) -> Value {
    json!({"name": name, "version": "1.2.3", "interval_secs": 30,
           "sources": [{"name": "shop", "kind": "mysql", "methods": methods, "collected": 7}],
           "spool_bytes": 0, "spool_batches": 0, "evicted_queries": 0, "rejected_batches": 0})
}

#[tokio::test]
async fn agents_are_a_page_with_the_configurations_method_names() {
    on_all_backends(async |app| {
        let (_, oa) = app
            .org_with_admin(json!({"name": "fleet"}), "oa@fleet.test", "oa-password-12")
            .await;
        // An agent that reports its methods' Rust names, and one that spells them as its configuration.
        for (i, methods) in [
            &["SlowLogFile", "PerformanceSchema"][..],
            &["pg_stat_statements", "PostgresLog"][..],
            &["SlowLogTable"][..],
        ]
        .iter()
        .enumerate()
        {
            let (key, _) = agent(app, &oa, json!({"name": format!("agent-{i}")})).await;
            let r = heartbeat(
                app,
                &key,
                &format!("hb-{i}"),
                &beat(&format!("db-{i}"), methods),
            )
            .await;
            assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
        }
        let r = app.get("/api/v1/agents", &oa).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(
            (
                r.body["total"].as_i64(),
                r.body["page"].as_i64(),
                r.body["per_page"].as_i64()
            ),
            (Some(3), Some(1), Some(20)),
            "{r:?}"
        );
        let methods: Vec<Value> = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|a| a["sources"][0]["methods"].clone())
            .collect();
        assert_eq!(
            methods,
            [
                json!(["slow_log_file", "performance_schema"]),
                json!(["pg_stat_statements", "postgres_log"]),
                json!(["slow_log_table"])
            ]
        );
        assert_eq!(r.body["items"][0]["online"], true);
        assert_eq!(r.body["items"][0]["name"], "db-0");

        // Pages like every other list.
        let second = app.get("/api/v1/agents?page=2&per_page=2", &oa).await;
        assert_eq!(total_and_len(&second), (Some(3), Some(1)), "{second:?}");
        assert_eq!(second.body["items"][0]["name"], "db-2");
        for bad in ["per_page=0", "per_page=201", "page=0", "page=x"] {
            let r = app.get(&format!("/api/v1/agents?{bad}"), &oa).await;
            assert_eq!(
                (r.status, r.error_code()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")),
                "{bad}: {r:?}"
            );
        }

        // Another organization's list is empty.
        let (_, other) = app
            .org_with_admin(json!({"name": "other"}), "oa@other.test", "oa-password-12")
            .await;
        let r = app.get("/api/v1/agents", &other).await;
        assert_eq!(total_and_len(&r), (Some(0), Some(0)), "{r:?}");
    })
    .await;
}

/// A page's `total` and how many items it holds.
fn total_and_len(r: &dbpower_testkit::Resp) -> (Option<i64>, Option<usize>) {
    let items = r.body["items"].as_array().map(Vec::len);
    (r.body["total"].as_i64(), items)
}
