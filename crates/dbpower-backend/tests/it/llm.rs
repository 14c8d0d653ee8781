//! An LLM provider (a local server speaking OpenAI's chat-completions protocol) in the analysis path:
//! used only for organizations whose AI policy allows it, merged into the stored report, and every
//! prompt recorded; a provider that fails leaves the rule report standing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::ingest::agent;
use crate::{Settings, TestApp, named, on_all_backends_with, secret};

/// Answers every chat completion with one extra finding; counts requests and keeps the last body.
/// An OpenAI-compatible stand-in that advises a partial index: its URL, requests seen, last request.
async fn fake_openai() -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Value>>) {
    stand_in(false).await
}

/// An OpenAI-compatible stand-in that always answers 503.
async fn failing_openai() -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Value>>) {
    stand_in(true).await
}

async fn stand_in(fail: bool) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Value>>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(std::sync::Mutex::new(Value::Null));
    let state = (hits.clone(), last.clone(), fail);
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(
                |State((hits, last, fail)): State<(Arc<AtomicUsize>, Arc<std::sync::Mutex<Value>>, bool)>, Json(body): Json<Value>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    *last.lock().expect("lock") = body;
                    if fail {
                        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "down"})));
                    }
                    let content = json!({"summary": "Consider a partial index.", "issues": [
                        {"rule_id": "partial_index_candidate", "severity": "LOW", "title": "Partial index candidate", "description": "d", "evidence": "status = ?"}],
                        "recommendations": []}).to_string();
                    (axum::http::StatusCode::OK, Json(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 200, "completion_tokens": 30}})))
                },
            ),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), hits, last)
}

async fn analysis(app: &TestApp, token: &str, id: i64) -> Value {
    for _ in 0..100 {
        let d = app.get(&format!("/api/v1/slow-queries/{id}"), token).await;
        if d.body["analysis"].is_object() {
            return d.body["analysis"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no analysis for {id}");
}

async fn org_with_query(app: &TestApp, name: &str, policy: &str, sql: &str) -> (String, Value) {
    let email = format!("oa@{}.test", name.to_lowercase());
    let organization = json!({"name": name, "settings": {"ai_policy": policy}});
    let (_, oa) = app
        .org_with_admin(organization, &email, "oa-password-12")
        .await;
    let (a, _) = agent(app, &oa, json!({"name": "agent"})).await;
    let batch = json!({"queries": [{"sql_text": sql, "execution_time_ms": 420.0, "database_type": "mysql"}]});
    let r = app.ingest(&a, &format!("{name}-1"), &batch).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let id = r.body["ids"][0].as_i64().expect("id");
    let report = analysis(app, &oa, id).await;
    (oa, report)
}

#[tokio::test]
async fn the_llm_is_used_only_where_allowed_and_every_prompt_is_recorded() {
    let (base, hits, last) = fake_openai().await;
    let settings = move |s: &mut Settings| {
        s.llm.provider = named("openai");
        s.llm.base_url = Some(base.clone());
        s.llm.model = Some("fake-model".into());
        s.llm.api_key = Some(secret("sk-test"));
    };
    on_all_backends_with(settings, async |app| {
        let before = hits.load(Ordering::SeqCst);
        let (oa, allowed) = org_with_query(
            app,
            "Allowed",
            "allow_llm",
            "SELECT id FROM orders WHERE status = 'x@y.io'",
        )
        .await;
        assert_eq!(
            allowed["engine"],
            json!(["rules", "openai:fake-model"]),
            "{allowed}"
        );
        assert!(
            allowed["issues"]
                .as_array()
                .expect("issues")
                .iter()
                .any(|i| i["rule_id"] == "llm_partial_index_candidate")
        );
        assert!(
            !last.lock().expect("lock").to_string().contains("x@y.io"),
            "a literal reached the provider"
        );
        let calls = app.get("/api/v1/llm-calls", &oa).await;
        assert_eq!(calls.status, StatusCode::OK, "{calls:?}");
        let calls = calls.body.as_array().expect("calls").clone();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (
                calls[0]["model"].as_str(),
                calls[0]["outcome"].as_str(),
                calls[0]["prompt_tokens"].as_i64()
            ),
            (Some("fake-model"), Some("ok"), Some(200))
        );
        assert_eq!(calls[0]["prompt_sha256"].as_str().map(str::len), Some(64));

        let (ob, rules_only) = org_with_query(
            app,
            "RulesOnly",
            "rules_only",
            "SELECT id FROM orders WHERE total = 5",
        )
        .await;
        assert_eq!(rules_only["engine"], json!(["rules"]));
        assert_eq!(
            app.get("/api/v1/llm-calls", &ob).await.body,
            json!([]),
            "nothing sent for a rules-only organization"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst) - before,
            1,
            "exactly one prompt sent"
        );
        assert_eq!(
            app.get("/api/v1/llm-calls?limit=0", &oa).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    })
    .await;
}

#[tokio::test]
async fn a_failing_provider_leaves_the_rule_report() {
    let (base, hits, _) = failing_openai().await;
    let settings = move |s: &mut Settings| {
        s.llm.provider = named("openai");
        s.llm.base_url = Some(base.clone());
        s.llm.model = Some("fake-model".into());
        s.llm.max_retries = 1;
    };
    on_all_backends_with(settings, async |app| {
        let (oa, report) =
            org_with_query(app, "Unlucky", "allow_llm", "SELECT * FROM orders").await;
        assert_eq!(report["engine"], json!(["rules"]));
        assert!(
            report["summary"]
                .as_str()
                .is_some_and(|s| s.contains("was unavailable")),
            "{report}"
        );
        assert!(report["issues"].as_array().is_some_and(|i| !i.is_empty()));
        let calls = app.get("/api/v1/llm-calls", &oa).await.body;
        assert_eq!(calls[0]["outcome"], "error", "{calls}");
    })
    .await;
    assert!(hits.load(Ordering::SeqCst) >= 2, "the failure was retried");
}
