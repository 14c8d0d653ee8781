//! Bad input gets a 4xx JSON error with a stable code, never a 500; every response has a request id.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::TestApp;

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> dbpower_testkit::Resp {
    let mut req = app
        .http()
        .request(method, format!("{}{path}", app.base))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    dbpower_testkit::Resp::read(req.send().await.expect("send")).await
}

/// method, path, content type, body, expected status, expected error code.
type Case = (
    Method,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    StatusCode,
    &'static str,
);

#[tokio::test]
async fn bad_input_is_a_clear_4xx() {
    let app = TestApp::sqlite()
        .with_settings(|s| s.max_body_bytes = 4096)
        .spawn()
        .await;
    let token = app.admin().await;
    let json_ct = Some("application/json");
    let cases: Vec<Case> = vec![
        (
            Method::POST,
            "/api/v1/auth/login",
            json_ct,
            b"{\"email\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            Method::POST,
            "/api/v1/auth/login",
            json_ct,
            b"{\"email\":1,\"password\":\"x\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::POST,
            "/api/v1/auth/login",
            json_ct,
            b"{\"email\":\"a@b.c\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::POST,
            "/api/v1/auth/login",
            None,
            b"{}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            "/api/v1/teams",
            json_ct,
            b"{\"name\":\"x\",\"colour\":\"red\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::POST,
            "/api/v1/teams",
            json_ct,
            format!("{{\"name\":\"{}\"}}", "x".repeat(8000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Method::GET,
            "/api/v1/users?page=0",
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::GET,
            "/api/v1/users?per_page=100000",
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::GET,
            "/api/v1/users?page=abc",
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Method::GET,
            "/api/v1/users/not-a-number",
            None,
            vec![],
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::GET,
            "/api/v1/users/999999",
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/api/v1/nothing-here",
            None,
            vec![],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::PUT,
            "/api/v1/auth/me",
            None,
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/api/v1/audit-logs?from=yesterday",
            None,
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (method, path, ct, body, status, code) in cases {
        let r = raw(&app, method.clone(), path, Some(&token), ct, body).await;
        assert_eq!(r.status, status, "{method} {path}: {r:?}");
        assert_eq!(r.body["error"]["code"], code, "{method} {path}: {r:?}");
        let rid = r
            .headers
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .expect("ascii");
        assert_eq!(r.body["error"]["request_id"], rid, "{method} {path}");
    }
    // Field-level validation names the field.
    let r = app.post("/api/v1/users", &token, json!({"email": "not-an-email", "password": "long-enough-1", "role": "USER", "organization_id": 1})).await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("email")),
        "{r:?}"
    );
    let r = app
        .post("/api/v1/organizations", &token, json!({"name": "   "}))
        .await;
    assert_eq!(r.body["error"]["field"], "name");
    let r = app.post("/api/v1/users", &token, json!({"email": "ok@x.test", "password": "short", "role": "USER", "organization_id": 1})).await;
    assert_eq!(r.body["error"]["field"], "password");
}

#[tokio::test]
async fn request_ids_are_echoed_and_health_endpoints_answer() {
    let app = TestApp::sqlite().spawn().await;
    let r = app
        .http()
        .get(format!("{}/health", app.base))
        .header("x-request-id", "my-trace-42")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("my-trace-42")
    );
    assert_eq!(
        r.headers()
            .get("x-content-type-options")
            .and_then(|v| v.to_str().ok()),
        Some("nosniff")
    );
    let r = app.request(Method::GET, "/ready", None, None).await;
    assert_eq!(
        (r.status, r.body["database"].as_str()),
        (StatusCode::OK, Some("sqlite"))
    );
    let doc = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/organizations/{id}",
        "/api/v1/teams",
        "/api/v1/identities",
        "/api/v1/users/{id}",
        "/api/v1/api-keys/{id}",
        "/api/v1/audit-logs",
        "/api/v1/audit-logs/verify",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    let docs = app
        .http()
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .expect("docs");
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.expect("html").contains("swagger"),
        "Swagger UI served at /docs"
    );
}
