//! `GET /api/v1/compare` on a hand-computed fixture: five classes across two windows (new, gone,
//! regressed, improved, unchanged) with their exact calls, totals, means and deltas, the change filter,
//! each window's rows ratio, the order, CSV, the windows around a change marker, bad windows refused and
//! another organization seeing nothing, not even its markers.

use chrono::{DateTime, Duration, Timelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::ingest::agent;
use crate::on_all_backends;

fn q(table: &str, ms: f64, at: DateTime<Utc>) -> Value {
    json!({"sql_text": format!("SELECT * FROM {table} WHERE id = 1"), "execution_time_ms": ms,
           "database_type": "postgresql", "observed_at": at.to_rfc3339()})
}

fn close(got: &Value, want: f64, tolerance: f64) -> bool {
    got.as_f64()
        .is_some_and(|g| (g - want).abs() <= tolerance * want.abs().max(1e-9))
}

#[tokio::test]
async fn compare_matches_a_hand_computed_fixture() {
    on_all_backends(async |app| {
        let (_, oa) = app
            .org_with_admin(json!({"name": "cmp"}), "oa@cmp.test", "oa-password-12")
            .await;
        let (key, _) = agent(app, &oa, json!({"name": "cmp"})).await;
        let now = Utc::now();
        let t0 = (now - Duration::hours(8))
            .with_nanosecond(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_minute(0))
            .expect("hour");
        let (a, b) = (t0 + Duration::minutes(30), t0 + Duration::minutes(150));
        let mut items = Vec::new();
        // fixture_one examines 10 rows per row sent in A, 100 in B.
        let rows = |mut v: Value, examined: i64| {
            v["rows_examined"] = json!(examined);
            v["rows_sent"] = json!(10);
            v
        };
        items.extend((0..3).map(|_| rows(q("fixture_one", 10.0, a), 100)));
        items.extend((0..3).map(|_| rows(q("fixture_one", 30.0, b), 1000)));
        items.extend((0..2).map(|_| q("fixture_two", 100.0, a)));
        items.extend((0..4).map(|_| q("fixture_two", 20.0, b)));
        items.push(q("fixture_three", 50.0, a));
        items.extend((0..2).map(|_| q("fixture_four", 5.0, b)));
        items.extend((0..2).map(|_| q("fixture_five", 40.0, a)));
        items.extend((0..2).map(|_| q("fixture_five", 44.0, b)));
        // Outside both windows: not counted.
        items.push(q("fixture_one", 999.0, t0 + Duration::minutes(330)));
        let r = app.ingest(&key, "cmp-1", &json!({"queries": items})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let w = |h: i64| (t0 + Duration::hours(h)).to_rfc3339().replace('+', "%2B");
        let base = format!(
            "/api/v1/compare?a_from={}&a_to={}&b_from={}&b_to={}",
            w(0),
            w(2),
            w(2),
            w(4)
        );
        let r = app.get(&base, &oa).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(
            r.body["summary"],
            json!({"new": 1, "gone": 1, "regressed": 1, "improved": 1, "unchanged": 1})
        );
        let items = r.body["items"].as_array().expect("items").clone();
        let table = |i: &Value| {
            let f = i["fingerprint"].as_str().unwrap_or("");
            f.split("fixture_")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("")
                .to_string()
        };
        // Ordered by B's total minus A's, descending: +60, +10, +8, -50, -120.
        let order: Vec<String> = items.iter().map(table).collect();
        assert_eq!(order, ["one", "four", "five", "three", "two"], "{items:?}");
        let one = &items[0];
        assert_eq!(one["change"], "regressed");
        assert_eq!(
            (one["a"]["calls"].clone(), one["b"]["calls"].clone()),
            (json!(3), json!(3))
        );
        assert!(
            close(&one["a"]["total_time_ms"], 30.0, 1e-9)
                && close(&one["b"]["total_time_ms"], 90.0, 1e-9)
        );
        assert!(close(&one["mean_ratio"], 3.0, 1e-9), "{one}");
        assert!(close(&one["p95_ratio"], 3.0, 0.06), "{one}");
        assert!(close(&one["total_time_delta_ms"], 60.0, 1e-9));
        assert_eq!(one["calls_delta"], 0);
        assert!(close(&one["a"]["rows_ratio"], 10.0, 1e-9), "{one}");
        assert!(close(&one["b"]["rows_ratio"], 100.0, 1e-9), "{one}");
        let two = &items[4];
        assert_eq!(two["change"], "improved");
        assert!(close(&two["mean_ratio"], 0.2, 1e-9), "{two}");
        assert!(close(&two["total_time_delta_ms"], -120.0, 1e-9));
        assert!(two["a"]["rows_ratio"].is_null(), "no rows reported: {two}");
        assert_eq!(two["calls_delta"], 2);
        assert_eq!(items[1]["change"], "new");
        assert_eq!(items[1]["a"]["calls"], 0);
        assert!(items[1]["mean_ratio"].is_null());
        assert_eq!(items[2]["change"], "unchanged");
        assert!(close(&items[2]["mean_ratio"], 1.1, 1e-9));
        assert_eq!(items[3]["change"], "gone");
        // The change filter, ascending order, paging.
        let r = app.get(&format!("{base}&change=regressed"), &oa).await;
        assert_eq!(r.body["total"], 1);
        let r = app
            .get(&format!("{base}&order=asc&per_page=2&page=1"), &oa)
            .await;
        let order: Vec<String> = r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(table)
            .collect();
        assert_eq!(
            (order, r.body["total"].clone()),
            (vec!["two".to_string(), "three".to_string()], json!(5))
        );
        // CSV: a header and five rows.
        let csv = app
            .http()
            .get(app.url(&format!("{base}&format=csv")))
            .bearer_auth(&oa)
            .send()
            .await
            .expect("csv");
        assert_eq!(csv.status(), StatusCode::OK);
        assert!(
            csv.headers()["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with("text/csv")
        );
        let text = csv.text().await.expect("text");
        assert_eq!(text.lines().count(), 6, "{text}");
        assert!(
            text.lines()
                .nth(1)
                .is_some_and(|l| l.contains(",regressed,3,")),
            "{text}"
        );
        // The same windows as the two hours before and after a change marker.
        let marker = app
            .post(
                "/api/v1/events",
                &oa,
                json!({"kind": "deploy", "title": "v2", "at": (t0 + Duration::hours(2)).to_rfc3339()}),
            )
            .await;
        assert_eq!(marker.status, StatusCode::CREATED, "{marker:?}");
        let around = format!(
            "/api/v1/compare?around_event={}&span_secs=7200",
            marker.body["id"]
        );
        let r = app.get(&around, &oa).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["summary"], json!({"new": 1, "gone": 1, "regressed": 1, "improved": 1, "unchanged": 1}));
        assert_eq!(r.body["b_from"], json!(t0 + Duration::hours(2)));
        // A marker inside an hour: that hour, holding executions from both sides, is in neither window.
        let inside = app
            .post(
                "/api/v1/events",
                &oa,
                json!({"kind": "deploy", "title": "v3", "at": (t0 + Duration::minutes(150)).to_rfc3339()}),
            )
            .await;
        let r = app
            .get(&format!("/api/v1/compare?around_event={}&span_secs=7200", inside.body["id"]), &oa)
            .await;
        assert_eq!(
            (r.body["a_to"].clone(), r.body["b_from"].clone()),
            (json!(t0 + Duration::hours(2)), json!(t0 + Duration::hours(3))),
            "{r:?}"
        );
        for bad in [
            format!("{around}&a_from={}", w(0)),
            format!("/api/v1/compare?around_event={}&span_secs=600", marker.body["id"]),
            format!("/api/v1/compare?around_event={}&span_secs=5400", marker.body["id"]),
            "/api/v1/compare?b_to=2026-01-01T00:00:00Z".to_string(),
        ] {
            let r = app.get(&bad, &oa).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
        }
        assert_eq!(
            app.get("/api/v1/compare?around_event=999999", &oa).await.status,
            StatusCode::NOT_FOUND
        );
        // Bad windows and parameters are 422.
        for bad in [
            format!(
                "/api/v1/compare?a_from={}&a_to={}&b_from={}&b_to={}",
                w(2),
                w(0),
                w(2),
                w(4)
            ),
            format!("{base}&ratio=0.5"),
            format!("{base}&change=worse"),
            format!("{base}&sort=nonsense"),
            format!("{base}&format=xml"),
            "/api/v1/compare?a_from=yesterday".to_string(),
            format!(
                "/api/v1/compare?a_from={}&a_to={}&b_from={}&b_to={}",
                w(-2400),
                w(0),
                w(2),
                w(4)
            ),
        ] {
            let r = app.get(&bad, &oa).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
        }
        // Another organization compares only its own executions: nothing.
        let (_, other) = app
            .org_with_admin(
                json!({"name": "cmp-other"}),
                "oa@cmp-other.test",
                "oa-password-12",
            )
            .await;
        let r = app.get(&base, &other).await;
        assert_eq!(
            (r.status, r.body["total"].clone()),
            (StatusCode::OK, json!(0))
        );
        assert_eq!(app.get(&around, &other).await.status, StatusCode::NOT_FOUND);
    })
    .await;
}
