//! Analysis does not race the evidence, end to end: a class analysed from its first sample (a
//! pg_stat_statements digest, no plan) is analysed again when its plan arrives, without anyone asking;
//! with a debounce window, a plan shipped right after the first sample is in the first analysis.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::analyzer::analysis_of;
use crate::ingest::agent;
use crate::{TestApp, on_all_backends, on_all_backends_with};
use dbpower_testkit::ApiKey;

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

/// An organization's administrator token and the key of its PostgreSQL agent.
pub(crate) async fn organization(app: &TestApp, name: &str) -> (String, ApiKey) {
    let email = format!("oa@{}.test", name.to_lowercase());
    let (_, oa) = app
        .org_with_admin(json!({"name": name}), &email, "oa-password-12")
        .await;
    let (key, _) = agent(app, &oa, json!({"name": "pg-agent"})).await;
    (oa, key)
}

/// Sends `batch` as request `request_id`; it must be accepted. Returns its first query's id.
async fn send(app: &TestApp, key: &ApiKey, request_id: &str, batch: &Value) -> i64 {
    let r = app
        .ingest_at(key, request_id, batch, Utc::now().timestamp())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    r.body["ids"][0].as_i64().expect("id")
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
        let (oa, key) = organization(app, "Race").await;
        let id = send(app, &key, "race-0001", &digest()).await;
        let first = analysis_of(app, &oa, id, &Value::Null).await;
        assert!(!mentions_the_full_scan(&first), "no plan yet: {first}");

        // The plan arrives after the class was analysed; nobody asks for a re-analysis.
        send(app, &key, "race-0002", &plan()).await;
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
            let (oa, key) = organization(app, "Window").await;
            let id = send(app, &key, "window-0001", &digest()).await;
            send(app, &key, "window-0002", &plan()).await;
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
