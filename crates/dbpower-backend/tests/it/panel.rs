//! The admin panel as the service serves it, the OpenAPI document its typed client is generated from,
//! and the query-class rankings its table offers.

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::ingest::agent;
use crate::{TestApp, on_all_backends};

#[test]
fn admin_panel_openapi_copy_is_current() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/admin/src/api/openapi.json"
    );
    let served: Value = serde_json::from_str(
        &dbpower_backend::openapi_document()
            .to_json()
            .expect("document"),
    )
    .expect("json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read copy"))
        .expect("committed copy is JSON");
    assert!(
        served == committed,
        "web/admin/src/api/openapi.json is stale: run `npm run gen:all` in web/admin \
         (cargo run -p dbpower -- openapi > src/api/openapi.json && npm run gen)"
    );
}

#[test]
fn every_schema_reference_in_the_document_resolves() {
    let doc: Value = serde_json::from_str(
        &dbpower_backend::openapi_document()
            .to_json()
            .expect("document"),
    )
    .expect("json");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {r}"
        );
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                match (k.as_str(), x) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_panel_is_served_beside_the_api() {
    let app = TestApp::sqlite().spawn().await;
    let get = |path: &str| app.http().get(format!("{}{path}", app.base)).send();
    for path in ["/", "/queries", "/queries?selected=3", "/settings"] {
        let r = get(path).await.expect("get");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8", "{path}");
        assert_eq!(h["cache-control"], "no-cache");
        let csp = h["content-security-policy"].to_str().expect("csp");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        let html = r.text().await.expect("html");
        assert!(
            html.contains("<div id=\"root\">") || !dbpower_web::is_built(),
            "{html}"
        );
    }
    // Hashed assets are cacheable forever; a missing one is a 404, not the HTML page.
    if let Some(js) = dbpower_web::ASSETS
        .iter()
        .find(|a| a.path.starts_with("/assets/") && a.path.ends_with(".js"))
    {
        let r = get(js.path).await.expect("asset");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap_or("")
                .contains("immutable")
        );
    }
    assert_eq!(
        get("/assets/index-gone.js").await.expect("get").status(),
        StatusCode::NOT_FOUND
    );
    // API paths keep their JSON errors.
    let r = app
        .request(reqwest::Method::GET, "/api/v1/no-such-thing", None, None)
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let r = app
        .request(reqwest::Method::POST, "/queries", None, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
}

#[tokio::test]
async fn query_classes_rank_by_every_column_of_the_table() {
    on_all_backends(async |app| {
        let (_, oa) = app.org_with_admin(json!({"name": "Rank"}), "oa@rank.test", "oa-password-12").await;
        let (key, _) = agent(app, &oa, json!({"name": "rank-agent"})).await;
        // a: many fast; b: one slow, huge ratio; c: medium, no rows sent (ratio unknown).
        let q = |sql: &str, ms: f64, examined: i64, sent: i64| json!({"sql_text": sql, "execution_time_ms": ms, "database_type": "mysql", "rows_examined": examined, "rows_sent": sent});
        let mut queries = vec![];
        for i in 0..10 {
            queries.push(q(&format!("SELECT a FROM t_a WHERE id = {i}"), 50.0, 10, 10));
        }
        queries.push(q("SELECT b FROM t_b WHERE x > 1", 4000.0, 1_000_000, 1));
        queries.push(q("SELECT c FROM t_c WHERE y = 2", 300.0, 500, 0));
        queries.push(q("SELECT c FROM t_c WHERE y = 3", 700.0, 500, 0));
        let r = app.ingest_at(&key, "rank-1", &json!({"queries": queries}), Utc::now().timestamp()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let order = async |sort: &str| -> Vec<String> {
            let r = app.get(&format!("/api/v1/query-classes?sort={sort}"), &oa).await;
            assert_eq!(r.status, StatusCode::OK, "{sort}: {r:?}");
            r.body["items"].as_array().expect("items").iter().map(|c| c["sample_sql"].as_str().unwrap_or("").chars().nth(7).map(String::from).unwrap_or_default()).collect()
        };
        assert_eq!(order("total_time").await, ["b", "c", "a"]);
        assert_eq!(order("count").await, ["a", "c", "b"]);
        assert_eq!(order("avg_time").await, ["b", "c", "a"]);
        assert_eq!(order("max_time").await, ["b", "c", "a"]);
        assert_eq!(order("rows_ratio").await, ["b", "a", "c"], "unknown ratio last");
        let bad = app.get("/api/v1/query-classes?sort=nope", &oa).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    })
    .await;
}
