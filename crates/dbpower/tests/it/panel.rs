//! The admin panel end to end: a real `dbpower serve` (demo data plus a batch ingested through the
//! signed API) driven in Debian's Chromium by `web/admin/e2e/run.mjs` (playwright-core). Runs when
//! `DBPOWER_TEST_CHROMIUM` names the browser (CI sets it); set but missing fails. Screenshots of every
//! page go to `DBPOWER_TEST_E2E_ARTIFACTS` (default `target/e2e-artifacts`).

use std::path::{Path, PathBuf};
use std::process::Command;

use dbpower_testkit::Client;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{bin, post_signed_batch};

const ORG_ADMIN: (&str, &str) = ("owner@demo.example", "owner-password-1");

#[tokio::test]
async fn admin_panel_in_a_real_browser() {
    let Ok(chromium) = std::env::var("DBPOWER_TEST_CHROMIUM") else {
        eprintln!("skipped: DBPOWER_TEST_CHROMIUM is not set");
        return;
    };
    assert!(
        Path::new(&chromium).exists(),
        "DBPOWER_TEST_CHROMIUM={chromium} does not exist (apt-get install chromium)"
    );
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/admin");
    assert!(
        web.join("node_modules/playwright-core").exists(),
        "web/admin/node_modules is missing: the build installs it (npm ci) when npm is present"
    );
    let dir = tempfile::tempdir().expect("tmp");
    // Alerts are evaluated every second: the browser suite watches one open on the dashboard live.
    let server = bin()
        .serve()
        .in_dir(dir.path())
        .with_settings(|s| s.alerts.evaluate_every_secs = 1)
        .spawn();
    let password = server.generated_password();
    let c = server.client();
    let sa = c.login("admin@dbpower.local", &password).await;
    let (_, orgs) = c
        .call(Method::GET, "/api/v1/organizations", Some(&sa), None)
        .await;
    let org = orgs["items"][0]["id"].clone();
    let org_name = orgs["items"][0]["name"].as_str().expect("name").to_string();
    let (s, b) = c
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&sa),
            Some(
                json!({"email": ORG_ADMIN.0, "password": ORG_ADMIN.1, "full_name": "Dana Owner",
                "role": "ORG_ADMIN", "organization_id": org}),
            ),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{b}");
    let agent_key = ingest_marker_batch(&c, &sa, &org).await;

    let artifacts = std::env::var_os("DBPOWER_TEST_E2E_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-artifacts")
        });
    let status = Command::new("node")
        .arg("e2e/run.mjs")
        .current_dir(&web)
        .env("E2E_BASE_URL", &server.base)
        .env("E2E_CHROMIUM", &chromium)
        .env("E2E_ARTIFACTS", &artifacts)
        .env("E2E_SUPER_EMAIL", "admin@dbpower.local")
        .env("E2E_SUPER_PASSWORD", &password)
        .env("E2E_ADMIN_EMAIL", ORG_ADMIN.0)
        .env("E2E_ADMIN_PASSWORD", ORG_ADMIN.1)
        .env("E2E_ADMIN_ORGANIZATION", &org_name)
        .env(
            "E2E_AGENT_KEY_ID",
            agent_key["key_id"].as_str().expect("key_id"),
        )
        .env(
            "E2E_AGENT_SECRET",
            agent_key["secret"].as_str().expect("secret"),
        )
        .status()
        .expect("run node e2e/run.mjs");
    assert!(status.success(), "the browser suite failed: {status}");
    for page in [
        "01-login",
        "03-dashboard",
        "05-query-detail",
        "06-query-classes",
        "08-api-key-secret",
        "11-users",
        "15-audit",
        "17-user-view",
        "18-alerts",
        "19-compare",
    ] {
        let png = artifacts.join(format!("{page}.png"));
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "screenshot {} missing or empty",
            png.display()
        );
    }
}

/// Twelve executions of one distinctive statement, sent the way an agent sends them; the api key's
/// create answer (the browser suite signs with it too).
async fn ingest_marker_batch(c: &Client, sa: &str, org: &Value) -> Value {
    let (_, key) = c
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(sa),
            Some(json!({"name": "e2e-ingest", "organization_id": org})),
        )
        .await;
    let queries: Vec<Value> = (0..12)
        .map(|i| json!({"sql_text": format!("SELECT * FROM e2e_invoices WHERE customer_email = 'c{i}@shop.example' ORDER BY issued_at DESC"),
            "execution_time_ms": 1200.0 + f64::from(i) * 10.0, "database_type": "mysql", "database_name": "billing",
            "rows_examined": 250_000, "rows_sent": 3}))
        .collect();
    let r = post_signed_batch(
        &reqwest::Client::new(),
        c.base(),
        &key,
        "e2e-batch-1",
        &json!({ "queries": queries }),
    )
    .await;
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    key
}
