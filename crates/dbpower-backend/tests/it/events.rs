//! Change markers and the live stream: markers posted with a bearer token or signed by an api key (a
//! replayed signed request records one marker), bounded and role-scoped; the stream sends an alert's
//! changes as events with resumable ids.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::ingest::agent;
use crate::{on_all_backends, on_all_backends_with};

#[tokio::test]
async fn markers_are_posted_by_users_and_pipelines_and_stay_in_their_organization() {
    on_all_backends(async |app| {
        let (_, oa) = app
            .org_with_admin(json!({"name": "mk"}), "oa@mk.test", "oa-password-12")
            .await;
        let r = app
            .post("/api/v1/events", &oa, json!({"kind": "deploy", "title": "checkout v2.3",
                "labels": {"service": "checkout", "owner": "jane.doe@example.com"}}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert_eq!(r.body["source"], "user");
        assert!(!r.body.to_string().contains("jane.doe@example.com"), "labels are redacted: {}", r.body);
        let (key, _) = agent(app, &oa, json!({"name": "pipeline"})).await;
        let body = json!({"kind": "schema", "title": "add index on orders(created_at)"});
        let first = app.signed_post("/api/v1/events", &key, "deploy-77", &body).await;
        assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
        assert_eq!(first.body["source"], "api_key");
        let again = app.signed_post("/api/v1/events", &key, "deploy-77", &body).await;
        assert_eq!(again.body["id"], first.body["id"], "a replay records one marker");
        let forged = app.signed_post("/api/v1/events", &key.forged(), "deploy-78", &body).await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{forged:?}");
        let list = app.items("/api/v1/events", &oa).await;
        assert_eq!(list.len(), 2, "{list:?}");
        assert_eq!(list[0]["kind"], "schema", "newest first");
        assert_eq!(app.items("/api/v1/events?kind=deploy", &oa).await.len(), 1);
        for bad in [
            json!({"kind": "deploy", "title": ""}),
            json!({"kind": "deploy", "title": "x".repeat(201)}),
            json!({"kind": "release", "title": "x"}),
            json!({"kind": "note", "title": "x", "at": "2001-01-01T00:00:00Z"}),
            json!({"kind": "note", "title": "x", "labels": {"bad key!": "v"}}),
            json!({"kind": "note", "title": "x", "labels": (0..21).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            json!({"kind": "note", "title": "x", "extra": 1}),
        ] {
            let r = app.post("/api/v1/events", &oa, bad.clone()).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
        }
        // A super admin naming an organization that does not exist: 404, not a failed insert.
        let sa = app.admin().await;
        let r = app
            .post("/api/v1/events", &sa, json!({"kind": "note", "title": "x", "organization_id": 99_999_999}))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
        let r = app.get("/api/v1/events?kind=release", &oa).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = app.post("/api/v1/events", "not-a-token", json!({"kind": "note", "title": "x"})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let (_, other) = app
            .org_with_admin(json!({"name": "mk-other"}), "oa@mk-other.test", "oa-password-12")
            .await;
        assert!(app.items("/api/v1/events", &other).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_stream_sends_alert_changes_with_resumable_ids() {
    on_all_backends_with(|s| s.alerts.evaluate_every_secs = 1, async |app| {
        let (_, oa) = app
            .org_with_admin(json!({"name": "live"}), "oa@live.test", "oa-password-12")
            .await;
        let (key, _) = agent(app, &oa, json!({"name": "live"})).await;
        let resp = app
            .http()
            .get(app.url("/api/v1/stream"))
            .bearer_auth(&oa)
            .send()
            .await
            .expect("stream");
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"].to_str().unwrap_or("").starts_with("text/event-stream"));
        // A new class costing all of the organization's time: the default new-class rule fires.
        let queries: Vec<_> = (0..5)
            .map(|_| json!({"sql_text": "SELECT * FROM live_report WHERE d = 1", "execution_time_ms": 500.0, "database_type": "mysql"}))
            .collect();
        let r = app.ingest(&key, "live-1", &json!({"queries": queries})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let mut resp = resp;
        let mut text = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !text.contains("event: alert") {
            let chunk = tokio::time::timeout_at(deadline, resp.chunk())
                .await
                .expect("an alert event within 30 s")
                .expect("read")
                .expect("the stream goes on");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        while !text.split("event: alert").nth(1).is_some_and(|t| t.contains("\n\n")) {
            let chunk = resp.chunk().await.expect("read").expect("more");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let frame = text.split("event: alert").nth(1).expect("frame");
        let id = frame.lines().find_map(|l| l.strip_prefix("id: ")).expect("an id").to_string();
        let data = frame.lines().find_map(|l| l.strip_prefix("data: ")).expect("data");
        let alert: serde_json::Value = serde_json::from_str(data).expect("json");
        assert_eq!(alert["kind"], "new_class");
        // Resuming after that change sends nothing older; an acknowledgement is the next event.
        let ack = app
            .post(&format!("/api/v1/alerts/{}/acknowledge", alert["id"]), &oa, json!({}))
            .await;
        assert_eq!(ack.status, StatusCode::OK, "{ack:?}");
        let mut resumed = app
            .http()
            .get(app.url("/api/v1/stream"))
            .bearer_auth(&oa)
            .header("last-event-id", &id)
            .send()
            .await
            .expect("resume");
        let mut text = String::new();
        while !text.contains("\"acknowledged\"") {
            let chunk = tokio::time::timeout(Duration::from_secs(10), resumed.chunk())
                .await
                .expect("the acknowledgement within 10 s")
                .expect("read")
                .expect("more");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(!text.contains("\"status\":\"open\""), "nothing before the cursor: {text}");
        let bad = app
            .http()
            .get(app.url("/api/v1/stream"))
            .bearer_auth(&oa)
            .header("last-event-id", "garbage")
            .send()
            .await
            .expect("bad cursor");
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    })
    .await;
}
