//! `/metrics` in Prometheus format (requests by matched route template and status, latency, rate-limit
//! decisions, ingestion, queue depth) and CORS limited to the configured origins.

use reqwest::StatusCode;

use crate::{Settings, on_all_backends_with};

#[tokio::test]
async fn metrics_count_requests_by_route_and_cors_allows_only_configured_origins() {
    let origins = |s: &mut Settings| {
        s.cors_origins = vec!["https://panel.example".into(), "https://ops.example".into()];
    };
    on_all_backends_with(origins, async |app| {
        let sa = app.admin().await;
        for _ in 0..3 {
            assert_eq!(app.get("/api/v1/auth/me", &sa).await.status, StatusCode::OK);
        }
        assert_eq!(app.get("/api/v1/organizations/987654", &sa).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/no-such-route", &sa).await.status, StatusCode::NOT_FOUND);
        let r = app.http().get(format!("{}/metrics", app.base)).send().await.expect("metrics");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()["content-type"].to_str().unwrap_or("").starts_with("text/plain"));
        let text = r.text().await.expect("text");
        assert!(text.contains("dbpower_http_requests_total{service=\"platform\",method=\"GET\",route=\"/api/v1/auth/me\",status=\"200\"} 3"), "{text}");
        assert!(text.contains("route=\"/api/v1/organizations/{id}\",status=\"404\""), "ids are not labels: {text}");
        assert!(text.contains("route=\"unmatched\",status=\"404\"") && !text.contains("no-such-route"), "unknown paths are not labels: {text}");
        assert!(text.contains("dbpower_http_request_duration_seconds_bucket{service=\"platform\",route=\"/api/v1/auth/me\",le=\"+Inf\"} 3"), "{text}");
        assert!(text.contains("dbpower_rate_limit_decisions_total{decision=\"allowed\"}"), "{text}");
        assert!(text.contains("\ndbpower_analysis_queue_depth 0\n"), "{text}");
        assert!(!text.contains("987654"), "{text}");
        assert!(text.contains("\ndbpower_rate_limiter_degraded 0\n") && text.contains("\ndbpower_db_pool_open_connections "), "{text}");

        let preflight = |origin: &'static str| {
            app.http()
                .request(reqwest::Method::OPTIONS, format!("{}/api/v1/auth/me", app.base))
                .header("origin", origin)
                .header("access-control-request-method", "GET")
                .header("access-control-request-headers", "authorization")
                .send()
        };
        let ok = preflight("https://panel.example").await.expect("preflight");
        assert_eq!(ok.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()), Some("https://panel.example"));
        let other = preflight("https://evil.example").await.expect("preflight");
        assert!(other.headers().get("access-control-allow-origin").is_none());
    })
    .await;
}
