//! Analysis does not race the evidence, end to end: a class analysed from its first sample (a
//! pg_stat_statements digest, no plan) is analysed again when its plan arrives, without anyone asking;
//! with a debounce window, a plan shipped right after the first sample is in the first analysis.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::ingest::agent;
use crate::{TestApp, on_all_backends, on_all_backends_with};

/// The class's analysis as the query's detail shows it, once its `analyzed_at` differs from
/// `newer_than` (15 s at most).
async fn analysis_of(app: &TestApp, token: &str, id: i64, newer_than: &Value) -> Value {
    for _ in 0..150 {
        let d = app.get(&format!("/api/v1/slow-queries/{id}"), token).await;
        let a = &d.body["analysis"];
        if a.is_object() && &a["analyzed_at"] != newer_than {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no new analysis for slow query {id}");
}

const SQL: &str = "SELECT * FROM orders WHERE customer_id = $1";

/// What pg_stat_statements reports first: the statement's `$n` text and its numbers, no plan.
fn digest() -> Value {
    json!({"queries": [{"sql_text": SQL, "execution_time_ms": 900.0, "calls": 40,
        "database_type": "postgresql", "source": "pg_stat_statements"}]})
}

/// What the agent ships a moment later: a sample of the same statement with its plan, a sequential
/// scan that read a million rows.
fn plan() -> Value {
    let plan = json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders",
        "Filter": "(customer_id = $1)", "Plan Rows": 5, "Actual Rows": 5, "Actual Loops": 1,
        "Rows Removed by Filter": 1000000}}]);
    json!({"queries": [{"sql_text": SQL, "execution_time_ms": 900.0, "sample_only": true,
        "database_type": "postgresql", "explain": plan}]})
}

fn rule_ids(analysis: &Value) -> Vec<String> {
    analysis["issues"]
        .as_array()
        .map(|issues| {
            issues
                .iter()
                .filter_map(|i| i["rule_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn mentions_the_full_scan(analysis: &Value) -> bool {
    rule_ids(analysis).iter().any(|r| r == "plan_full_scan")
        && analysis.to_string().contains("Seq Scan on orders")
}

#[tokio::test]
async fn a_plan_arriving_after_the_analysis_is_analysed_without_being_asked() {
    on_all_backends(async |app| {
        let (_, oa) = app
            .org_with_admin(json!({"name": "Race"}), "oa@race.test", "oa-password-12")
            .await;
        let (key, _) = agent(app, &oa, json!({"name": "pg-agent"})).await;
        let now = Utc::now().timestamp();
        let r = app.ingest_at(&key, "race-0001", &digest(), now).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let id = r.body["ids"][0].as_i64().expect("id");
        let first = analysis_of(app, &oa, id, &Value::Null).await;
        assert!(!mentions_the_full_scan(&first), "no plan yet: {first}");

        // The plan arrives after the class was analysed; nobody asks for a re-analysis.
        let r = app.ingest_at(&key, "race-0002", &plan(), now).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let second = analysis_of(app, &oa, id, &first["analyzed_at"]).await;
        assert!(
            mentions_the_full_scan(&second),
            "the report follows the plan: {second}"
        );
        let class = app.get(&format!("/api/v1/slow-queries/{id}"), &oa).await;
        assert_eq!(class.body["analysis"]["analyzed_at"], second["analyzed_at"]);
    })
    .await;
}

#[tokio::test]
async fn a_plan_within_the_window_is_in_the_first_analysis() {
    on_all_backends_with(
        |s| s.analysis_debounce_ms = 3000,
        async |app| {
            let (_, oa) = app
                .org_with_admin(
                    json!({"name": "Window"}),
                    "oa@window.test",
                    "oa-password-12",
                )
                .await;
            let (key, _) = agent(app, &oa, json!({"name": "pg-agent"})).await;
            let now = Utc::now().timestamp();
            let r = app.ingest_at(&key, "window-0001", &digest(), now).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
            let id = r.body["ids"][0].as_i64().expect("id");
            let r = app.ingest_at(&key, "window-0002", &plan(), now).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
            let d = app.get(&format!("/api/v1/slow-queries/{id}"), &oa).await;
            assert!(
                d.body["analysis"].is_null(),
                "not analysed before the window ends: {}",
                d.body
            );

            let first = analysis_of(app, &oa, id, &Value::Null).await;
            assert!(
                mentions_the_full_scan(&first),
                "the first analysis saw the plan: {first}"
            );
            // The plan joined the sample's job: no second analysis follows.
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let d = app.get(&format!("/api/v1/slow-queries/{id}"), &oa).await;
            assert_eq!(
                d.body["analysis"]["analyzed_at"], first["analyzed_at"],
                "one analysis"
            );
        },
    )
    .await;
}
