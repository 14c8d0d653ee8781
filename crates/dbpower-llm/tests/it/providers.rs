//! Provider behaviour end to end against the fake servers.

use std::time::Duration;

use dbpower_analysis::{Input, analyze};
use dbpower_llm::{CallRecord, LlmClient, LlmConfig, Outcome, ProviderKind};
use dbpower_sql::Dialect;
use dbpower_types::{AnalysisReport, SchemaSnapshot};
use secrecy::SecretString;
use serde_json::json;

use crate::fake::{Fake, Step};

const SQL: &str = "SELECT * FROM users WHERE email = 'ann@example.com' AND country = 'DE'";

fn config(kind: ProviderKind, base: &str) -> LlmConfig {
    LlmConfig {
        kind,
        base_url: match kind {
            ProviderKind::Openai => format!("{base}/v1"),
            ProviderKind::Ollama => base.to_string(),
        },
        model: "test-model".into(),
        api_key: (kind == ProviderKind::Openai).then(|| SecretString::from("sk-test-123")),
        timeout: Duration::from_millis(800),
        max_retries: 2,
        breaker_failures: 2,
        breaker_cooldown: Duration::from_secs(60),
    }
}

fn schema() -> SchemaSnapshot {
    serde_json::from_value(json!({"tables": [{"name": "users", "rows": 500000,
        "columns": [{"name": "id", "type": "bigint"}, {"name": "email", "type": "text"}, {"name": "country", "type": "text"}],
        "indexes": [{"name": "users_pkey", "columns": ["id"]}, {"name": "users_email_key", "columns": ["email"]}]}]}))
    .expect("schema")
}

fn rules_report(s: &SchemaSnapshot) -> AnalysisReport {
    analyze(&Input {
        schema: Some(s),
        ..Input::new(SQL, Dialect::Postgresql)
    })
}

/// The rules' report on [`SQL`], enriched by `kind`'s protocol against a fake server that answers with
/// `steps`: the fake (to read what it was sent), the report and the calls recorded.
async fn enrich_through(
    kind: ProviderKind,
    steps: Vec<Step>,
) -> (Fake, AnalysisReport, Vec<CallRecord>) {
    let fake = Fake::start(steps).await;
    let client = LlmClient::new(config(kind, &fake.base)).expect("client");
    let s = schema();
    let mut report = rules_report(&s);
    let calls = client
        .enrich(&mut report, SQL, Dialect::Postgresql, None, Some(&s))
        .await;
    (fake, report, calls)
}

fn answer() -> String {
    json!({"summary": "The country filter is not selective.", "issues": [
            {"rule_id": "low_selectivity", "severity": "MEDIUM", "title": "Low-selectivity filter", "description": "country has few values", "evidence": "country = $2"}],
        "recommendations": [
            {"kind": "index", "title": "Covering index", "sql": "CREATE INDEX CONCURRENTLY idx_users_email_country ON users (email, country)", "rationale": "r", "estimated_impact": "fewer heap reads"},
            {"kind": "index", "title": "Invented column", "sql": "CREATE INDEX idx_bad ON users (shoe_size)", "rationale": "r", "estimated_impact": "none"}]})
    .to_string()
}

#[tokio::test]
async fn openai_protocol_valid_answer_is_merged_and_recorded() {
    let rule_issues = rules_report(&schema()).issues.len();
    let (fake, report, calls) =
        enrich_through(ProviderKind::Openai, vec![Step::Answer(answer())]).await;

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk-test-123"));
    let body = &seen[0].body;
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        body["response_format"]["json_schema"]["schema"]["required"],
        json!(["summary", "issues", "recommendations"])
    );
    assert_eq!(body["messages"][0]["role"], "system");
    let text = body["messages"].to_string();
    assert!(
        !text.contains("ann@") && !text.contains("'DE'"),
        "literals reached the prompt: {text}"
    );
    assert!(text.contains("email = $1"), "{text}");

    assert_eq!(report.engine, vec!["rules", "openai:test-model"]);
    assert_eq!(report.issues.len(), rule_issues + 1);
    assert!(
        report
            .issues
            .iter()
            .any(|i| i.rule_id == "llm_low_selectivity")
    );
    assert!(report.recommendations.iter().any(|r| {
        r.sql
            .as_deref()
            .is_some_and(|s| s.contains("(email, country)"))
    }));
    assert!(
        !report
            .recommendations
            .iter()
            .any(|r| r.sql.as_deref().is_some_and(|s| s.contains("shoe_size")))
    );
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (c.provider, c.model.as_str(), c.outcome),
        ("openai", "test-model", Outcome::Ok)
    );
    assert_eq!(
        (c.prompt_tokens, c.completion_tokens),
        (Some(123), Some(45))
    );
    assert_eq!(c.prompt_sha256.len(), 64);
    assert!(
        c.detail.as_deref().is_some_and(|d| d.contains("shoe_size")),
        "{c:?}"
    );
}

#[tokio::test]
async fn ollama_protocol_uses_native_chat_with_format() {
    let (fake, report, calls) =
        enrich_through(ProviderKind::Ollama, vec![Step::Answer(answer())]).await;
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/api/chat");
    assert_eq!(seen[0].authorization, None);
    assert_eq!(seen[0].body["stream"], false);
    assert_eq!(seen[0].body["format"]["type"], "object");
    assert_eq!(calls[0].outcome, Outcome::Ok);
    assert_eq!(
        (calls[0].prompt_tokens, calls[0].completion_tokens),
        (Some(321), Some(54))
    );
    assert_eq!(report.engine, vec!["rules", "ollama:test-model"]);
}

#[tokio::test]
async fn malformed_output_is_retried_once_then_dropped() {
    // Malformed, then valid: two calls, the second sees the validation error.
    let (fake, report, calls) = enrich_through(
        ProviderKind::Openai,
        vec![
            Step::Answer("{\"summary\": \"oops\"".into()),
            Step::Answer(answer()),
        ],
    )
    .await;
    assert_eq!(
        calls.iter().map(|c| c.outcome).collect::<Vec<_>>(),
        vec![Outcome::InvalidOutput, Outcome::Ok]
    );
    let retry = &fake.seen()[1].body["messages"];
    assert_eq!(retry.as_array().map(Vec::len), Some(4));
    assert!(
        retry[3]["content"]
            .as_str()
            .is_some_and(|t| t.contains("invalid")),
        "{retry}"
    );
    assert!(report.engine.contains(&"openai:test-model".to_string()));

    // Malformed twice: dropped, recorded, the rules stand.
    let bad_shape = json!({"summary": "x", "issues": [{"rule_id": "a", "severity": "URGENT", "title": "t", "description": "d", "evidence": "e"}], "recommendations": []}).to_string();
    let before = rules_report(&schema()).issues;
    let (_, report, calls) = enrich_through(
        ProviderKind::Openai,
        vec![
            Step::Answer("not json at all".into()),
            Step::Answer(bad_shape),
        ],
    )
    .await;
    assert_eq!(
        calls.iter().map(|c| c.outcome).collect::<Vec<_>>(),
        vec![Outcome::InvalidOutput, Outcome::InvalidOutput]
    );
    assert_eq!(report.issues, before);
    assert_eq!(report.engine, vec!["rules"]);
    assert!(
        report.summary.contains("invalid twice"),
        "{}",
        report.summary
    );
}

#[tokio::test]
async fn transport_failures_are_retried_with_backoff_then_reported() {
    // 429 and 500 are retried; the third attempt succeeds.
    let (fake, _, calls) = enrich_through(
        ProviderKind::Openai,
        vec![Step::Status(429), Step::Status(500), Step::Answer(answer())],
    )
    .await;
    assert_eq!(fake.seen().len(), 3);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outcome, Outcome::Ok);

    // A 400 is not retried.
    let (fake, report, calls) = enrich_through(ProviderKind::Openai, vec![Step::Status(400)]).await;
    assert_eq!(fake.seen().len(), 1);
    assert_eq!(calls[0].outcome, Outcome::Error);
    assert!(
        report.summary.contains("was unavailable (HTTP 400"),
        "{}",
        report.summary
    );

    // Timeouts: every attempt stalls past the client's timeout; the rules stand.
    let stall = Step::Stall(Duration::from_secs(3));
    let before = rules_report(&schema());
    let (fake, report, calls) = enrich_through(
        ProviderKind::Ollama,
        vec![stall.clone(), stall.clone(), stall],
    )
    .await;
    assert_eq!(fake.seen().len(), 3, "first attempt and two retries");
    assert_eq!(calls[0].outcome, Outcome::Error);
    assert!(
        calls[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("timed out") && d.contains("3 attempts")),
        "{calls:?}"
    );
    assert_eq!(
        (report.issues.clone(), report.engine.clone()),
        (before.issues, before.engine)
    );
    assert!(report.summary.contains("unavailable"));
}

#[tokio::test]
async fn the_circuit_opens_after_repeated_failures() {
    let fake = Fake::start(vec![Step::Status(500); 6]).await;
    let mut cfg = config(ProviderKind::Openai, &fake.base);
    cfg.max_retries = 0;
    let client = LlmClient::new(cfg).expect("client");
    let s = schema();
    for _ in 0..2 {
        let mut report = rules_report(&s);
        let calls = client
            .enrich(&mut report, SQL, Dialect::Postgresql, None, Some(&s))
            .await;
        assert_eq!(calls[0].outcome, Outcome::Error);
    }
    let mut report = rules_report(&s);
    let calls = client
        .enrich(&mut report, SQL, Dialect::Postgresql, None, Some(&s))
        .await;
    assert_eq!(calls[0].outcome, Outcome::CircuitOpen);
    assert_eq!(fake.seen().len(), 2, "an open circuit sends nothing");
    assert!(report.summary.contains("circuit open"));
}

#[test]
fn configuration_mistakes_are_refused() {
    let mut cfg = config(ProviderKind::Openai, "ftp://x");
    assert!(LlmClient::new(cfg.clone()).is_err());
    cfg.base_url = "http://127.0.0.1:1/v1".into();
    cfg.model = " ".into();
    assert!(LlmClient::new(cfg).is_err());
}
