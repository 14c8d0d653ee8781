//! The signed ingestion path, black-box over HTTP: signatures, idempotency, scrubbing, classes,
//! analysis, the read APIs and the dashboard.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{TestApp, on_all_backends};
use dbpower_testkit::ApiKey;

/// A new api key made with `token`: the key and its id.
pub(crate) async fn agent(app: &TestApp, token: &str, body: Value) -> (ApiKey, i64) {
    let r = app.post("/api/v1/api-keys", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let key = ApiKey::from_created(&r.body);
    let id = key.id;
    (key, id)
}

fn q(sql: &str, ms: f64, db: &str) -> Value {
    json!({"sql_text": sql, "execution_time_ms": ms, "database_type": db, "database_name": "shop", "rows_examined": 50000, "rows_sent": 5})
}

#[tokio::test]
async fn a_new_users_ingestion_path() {
    on_all_backends(async |app| {
        let (_, oa) = app.org_with_admin(json!({"name": "Shop"}), "oa@shop.test", "oa-password-12").await;
        let (agent1, key1) = agent(app, &oa, json!({"name": "prod-agent"})).await;
        let now = Utc::now().timestamp();

        let batch = json!({"queries": [
            q("SELECT * FROM users WHERE email = 'jane.doe@example.com' AND last_ip = '203.0.113.9'", 120.5, "mysql"),
            q("SELECT * FROM users WHERE email = 'bob@example.org' AND last_ip = '198.51.100.1'", 80.0, "mysql"),
            q("SELECT id FROM payments WHERE card = '4532-0151-1283-0366' AND id IN (1, 2, 3)", 300.0, "mysql"),
            q("SELECT id FROM payments WHERE card = '4111 1111 1111 1111' AND id IN (7)", 100.0, "mysql"),
            q("SELECT * FROM events WHERE id = 42 AND who = 'x@y.io'", 55.0, "postgresql"),
        ]});
        let r = app.ingest_at(&agent1, "batch-0001", &batch, now).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        assert_eq!(r.body["accepted"], 5);
        let ids = r.body["ids"].clone();
        assert_eq!(ids.as_array().map(Vec::len), Some(5));

        // Nothing personal was stored, anywhere in the records.
        let list = app.get("/api/v1/slow-queries?per_page=50", &oa).await;
        assert_eq!(list.body["total"], 5);
        let dump = list.body.to_string();
        for secret in ["jane.doe", "example.com", "203.0.113.9", "4532", "4111", "bob@", "x@y.io"] {
            assert!(!dump.contains(secret), "{secret} leaked: {dump}");
        }
        let classes = app.get("/api/v1/query-classes", &oa).await;
        assert!(!classes.body.to_string().contains("example"), "{classes:?}");
        // Literal-only and IN-list-length differences land in one class.
        assert_eq!(classes.body["total"], 3, "{classes:?}");
        let users_class = classes.body["items"].as_array().expect("items").iter().find(|c| c["sample_sql"].as_str().is_some_and(|s| s.contains("users"))).expect("users class").clone();
        assert_eq!(users_class["count"], 2);
        assert_eq!(users_class["query_id"].as_str().map(str::len), Some(16));

        // The same request id again: same answer, nothing new stored.
        let again = app.ingest_at(&agent1, "batch-0001", &batch, now).await;
        assert_eq!((again.status, again.body["ids"].clone()), (StatusCode::ACCEPTED, ids));
        assert_eq!(app.get("/api/v1/slow-queries", &oa).await.body["total"], 5);

        // Refusals, each with a precise code, each storing nothing.
        let one = json!({"queries": [q("SELECT 1", 1.0, "mysql")]});
        let r = app.ingest_at(&agent1.forged(), "batch-bad-sig", &one, now).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_signature")));
        let r = app.ingest_at(&agent1, "batch-stale", &one, now - 301).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("timestamp_out_of_window")));
        let r = app.ingest_at(&ApiKey { id: 0, key_id: "dbpk_nope".into(), secret: "x".into() }, "batch-unknown", &one, now).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unknown_api_key")));
        let bad = json!({"queries": [q("SELECT 1", 1.0, "mysql"), {"sql_text": "SELECT 2", "execution_time_ms": -5, "database_type": "mysql"}]});
        let r = app.ingest_at(&agent1, "batch-invalid", &bad, now).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("queries[1].execution_time_ms")), "{r:?}");
        let typed = json!({"queries": [q("SELECT 1", 1.0, "mysql"), {"sql_text": "SELECT 2", "execution_time_ms": "slow", "database_type": "mysql"}]});
        let r = app.ingest_at(&agent1, "batch-typed", &typed, now).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("queries[1].execution_time_ms")), "{r:?}");
        let r = app.ingest_at(&agent1, "batch-empty", &json!({"queries": []}), now).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("queries")));
        assert_eq!(app.delete(&format!("/api/v1/api-keys/{key1}"), &oa).await.status, StatusCode::NO_CONTENT);
        let r = app.ingest_at(&agent1, "batch-revoked", &one, now).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("api_key_revoked")));
        assert_eq!(app.get("/api/v1/slow-queries", &oa).await.body["total"], 5, "refused requests stored nothing");

        // Within seconds every class has an analysis with a severity.
        let mut analyzed = 0;
        for _ in 0..100 {
            let c = app.get("/api/v1/query-classes?status=analyzed", &oa).await;
            analyzed = c.body["total"].as_i64().unwrap_or(0);
            if analyzed == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(analyzed, 3, "every class analyzed");
        let first = app.get("/api/v1/slow-queries?sort=execution_time_ms&per_page=1", &oa).await;
        let top = first.body["items"][0].clone();
        assert_eq!(top["execution_time_ms"], 300.0);
        assert!(top["severity"].is_string(), "{top}");
        let detail = app.get(&format!("/api/v1/slow-queries/{}", top["id"]), &oa).await;
        assert_eq!(detail.status, StatusCode::OK);
        assert!(detail.body["analysis"]["issues"].as_array().is_some_and(|i| !i.is_empty()), "{detail:?}");
        let analyzed_at = detail.body["analysis"]["analyzed_at"].clone();
        assert_eq!(detail.body["class"]["count"], 2);

        // Re-analysis updates the stored analysis.
        let r = app.post(&format!("/api/v1/slow-queries/{}/analyze", top["id"]), &oa, json!({})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let mut changed = false;
        for _ in 0..100 {
            let d = app.get(&format!("/api/v1/slow-queries/{}", top["id"]), &oa).await;
            if d.body["analysis"]["analyzed_at"] != analyzed_at {
                changed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(changed, "re-analysis stored a new result");

        let class = app.get(&format!("/api/v1/query-classes/{}", users_class["query_id"].as_str().expect("qid")), &oa).await;
        assert_eq!(class.status, StatusCode::OK, "{class:?}");
        assert_eq!(class.body["series"].as_array().map(|s| s.iter().map(|p| p["count"].as_i64().unwrap_or(0)).sum::<i64>()), Some(2));

        let dash = app.get("/api/v1/stats/dashboard", &oa).await;
        assert_eq!(dash.body["total_queries"], 5, "{dash:?}");
        let chart = dash.body["chart_data"].as_array().expect("chart");
        assert_eq!(chart.len(), 7);
        assert_eq!(chart[6]["queries"], 5);
        assert_eq!(chart[6]["date"], Utc::now().date_naive().to_string());
        assert!(chart[..6].iter().all(|d| d["queries"] == 0));
        let filtered = app.get("/api/v1/slow-queries?database_type=postgresql", &oa).await;
        assert_eq!(filtered.body["total"], 1);
        assert_eq!(app.get("/api/v1/slow-queries?status=unanalyzed", &oa).await.body["total"], 0);
    })
    .await;
}

#[tokio::test]
async fn attribution_comes_from_the_key_and_scopes_reads() {
    on_all_backends(async |app| {
        let sa = app.admin().await;
        let org = app.create("/api/v1/organizations", &sa, json!({"name": "Corp"})).await;
        let other = app.create("/api/v1/organizations", &sa, json!({"name": "Rival"})).await;
        let team = app.create("/api/v1/teams", &sa, json!({"name": "Payments", "organization_id": org})).await;
        let ident = app.create("/api/v1/identities", &sa, json!({"name": "payments-db", "team_id": team})).await;
        let other_ident = app.create("/api/v1/identities", &sa, json!({"name": "search-db", "team_id": team})).await;
        app.create("/api/v1/users", &sa, json!({"email": "oa@corp.test", "password": "oa-password-12", "role": "ORG_ADMIN", "organization_id": org})).await;
        app.create("/api/v1/users", &sa, json!({"email": "u@corp.test", "password": "u-password-123", "role": "USER", "organization_id": org, "team_id": team, "identity_id": ident})).await;
        app.create("/api/v1/users", &sa, json!({"email": "r@rival.test", "password": "r-password-123", "role": "ORG_ADMIN", "organization_id": other})).await;
        let oa = app.login_in("Corp", "oa@corp.test", "oa-password-12").await;
        let (mine, _) = agent(app, &oa, json!({"name": "a", "team_id": team, "identity_id": ident})).await;
        let (theirs, _) = agent(app, &oa, json!({"name": "b", "team_id": team, "identity_id": other_ident})).await;
        let now = Utc::now().timestamp();
        // The body cannot claim an owner: unknown fields are refused outright.
        let forged = json!({"queries": [{"sql_text": "SELECT 1", "execution_time_ms": 1, "database_type": "mysql", "organization_id": other}]});
        assert_eq!(app.ingest_at(&mine, "f", &forged, now).await.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.ingest_at(&mine, "m1", &json!({"queries": [q("SELECT a FROM t WHERE x = 1", 10.0, "mysql")]}), now).await.status, StatusCode::ACCEPTED);
        assert_eq!(app.ingest_at(&theirs, "t1", &json!({"queries": [q("SELECT b FROM u WHERE y = 2", 20.0, "mysql"), q("SELECT b FROM u WHERE y = 3", 20.0, "mysql")]}), now).await.status, StatusCode::ACCEPTED);

        let user = app.login_in("Corp", "u@corp.test", "u-password-123").await;
        let seen = app.get("/api/v1/slow-queries", &user).await;
        assert_eq!(seen.body["total"], 1, "a USER sees its identity's queries only: {seen:?}");
        assert_eq!(seen.body["items"][0]["identity_id"], ident);
        assert_eq!(app.get("/api/v1/stats/dashboard", &user).await.body["total_queries"], 1);
        assert_eq!(app.get("/api/v1/query-classes", &user).await.body["total"], 1);
        assert_eq!(app.get("/api/v1/slow-queries", &oa).await.body["total"], 3);
        let rival = app.login_in("Rival", "r@rival.test", "r-password-123").await;
        assert_eq!(app.get("/api/v1/slow-queries", &rival).await.body["total"], 0);
        let some_id = app.get("/api/v1/slow-queries", &oa).await.body["items"][0]["id"].clone();
        assert_eq!(app.get(&format!("/api/v1/slow-queries/{some_id}"), &rival).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.post(&format!("/api/v1/slow-queries/{some_id}/analyze"), &rival, json!({})).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/stats/dashboard", &rival).await.body["total_queries"], 0);
    })
    .await;
}

#[tokio::test]
async fn scrub_level_and_retention_are_per_organization() {
    on_all_backends(async |app| {
        let sa = app.admin().await;
        let (org, oa) = app.org_with_admin(json!({"name": "Lenient", "retention_days": 30, "settings": {"scrub_level": "pii_only"}}), "oa@lenient.test", "oa-password-12").await;
        let (a, _) = agent(app, &oa, json!({"name": "a"})).await;
        let old = (Utc::now() - chrono::Duration::days(10)).to_rfc3339();
        let batch = json!({"queries": [
            {"sql_text": "SELECT * FROM t WHERE status = 'active' AND email = 'ann@example.com'", "execution_time_ms": 5, "database_type": "mysql",
             "client_host": "192.0.2.44", "explain": {"query_block": {"attached_condition": "(t.email = 'ann@example.com')"}}},
            {"sql_text": "SELECT 1 FROM old_table WHERE id = 7", "execution_time_ms": 5, "database_type": "mysql", "observed_at": old},
        ]});
        assert_eq!(app.ingest_at(&a, "p1", &batch, Utc::now().timestamp()).await.status, StatusCode::ACCEPTED);
        let list = app.get("/api/v1/slow-queries?q=status", &oa).await;
        let item = &list.body["items"][0];
        assert_eq!(item["sql_text"], "SELECT * FROM t WHERE status = 'active' AND email = '[EMAIL_REDACTED]'", "pii_only keeps ordinary literals");
        assert_eq!(item["client_host"], "[IP_REDACTED]");
        let detail = app.get(&format!("/api/v1/slow-queries/{}", item["id"]), &oa).await;
        assert!(!detail.body["explain"].to_string().contains("ann@"), "plans are scrubbed too: {detail:?}");

        // An execution older than the retention is refused: the next sweep would delete it at once.
        let ancient = (Utc::now() - chrono::Duration::days(31)).to_rfc3339();
        let stale = json!({"queries": [{"sql_text": "SELECT 2", "execution_time_ms": 5, "database_type": "mysql", "observed_at": ancient}]});
        let r = app.ingest_at(&a, "p2", &stale, Utc::now().timestamp()).await;
        assert_eq!((r.status, r.body["error"]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("queries[0].observed_at")), "{r:?}");
        let future = (Utc::now() + chrono::Duration::days(2)).to_rfc3339();
        let ahead = json!({"queries": [{"sql_text": "SELECT 3", "execution_time_ms": 5, "database_type": "mysql", "observed_at": future}]});
        assert_eq!(app.ingest_at(&a, "p3", &ahead, Utc::now().timestamp()).await.status, StatusCode::UNPROCESSABLE_ENTITY);

        // Retention shortened to 5 days: the 10-day-old query goes, the new one stays, and the purge is
        // audited.
        app.patch(&format!("/api/v1/organizations/{org}"), &sa, json!({"retention_days": 5})).await;
        let deleted = dbpower_backend::sweep_retention(app.store().await.as_ref()).await.expect("sweep");
        assert_eq!(deleted, 1);
        assert_eq!(app.get("/api/v1/slow-queries", &oa).await.body["total"], 1);
        // The old query's class had nothing left behind it: it went too (sample, histogram, analysis).
        let classes = app.get("/api/v1/query-classes", &oa).await;
        assert_eq!(classes.body["total"], 1, "{classes:?}");
        assert!(!classes.body.to_string().contains("old_table"), "{classes:?}");
        let audit = app.get("/api/v1/audit-logs?action=retention.purge", &oa).await;
        assert_eq!(audit.body["total"], 1, "{audit:?}");
        assert_eq!(audit.body["items"][0]["details"]["deleted"], 1);
        assert_eq!(app.get("/api/v1/audit-logs/verify", &oa).await.body["valid"], true);
    })
    .await;
}

#[tokio::test]
async fn samples_from_a_second_method_count_no_executions() {
    on_all_backends(async |app| {
        let (_, oa) = app.org_with_admin(json!({"name": "Both"}), "oa@both.test", "oa-password-12").await;
        let (a, _) = agent(app, &oa, json!({"name": "a"})).await;
        let delta = json!({"sql_text": "SELECT * FROM t WHERE id = ?", "execution_time_ms": 2.0, "database_type": "mysql", "calls": 50});
        let sample = json!({"sql_text": "SELECT * FROM t WHERE id = 7", "execution_time_ms": 40.0, "database_type": "mysql", "sample_only": true});
        let r = app.ingest(&a, "both-1", &json!({"queries": [delta, sample]})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let classes = app.items("/api/v1/query-classes", &oa).await;
        assert_eq!(classes.len(), 1, "{classes:?}");
        assert_eq!((classes[0]["count"].as_i64(), classes[0]["total_time_ms"].as_f64()), (Some(50), Some(100.0)));
        let rows = app.items("/api/v1/slow-queries", &oa).await;
        let mut calls: Vec<i64> = rows.iter().filter_map(|r| r["calls"].as_i64()).collect();
        calls.sort_unstable();
        assert_eq!(calls, vec![0, 50], "the sample is stored with no executions");
        assert_eq!(app.get("/api/v1/stats/dashboard", &oa).await.body["total_queries"], 50);

        // A sample that claims executions is refused, naming the field.
        let bad = json!({"queries": [{"sql_text": "SELECT 1", "execution_time_ms": 1.0, "database_type": "mysql", "sample_only": true, "calls": 3}]});
        let r = app.ingest(&a, "both-2", &bad).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("queries[0].calls")), "{r:?}");
    })
    .await;
}

/// Logs carry binary literals: a NUL in collected text, names or a plan is stored as U+FFFD on both
/// stores (PostgreSQL text and JSON cannot hold it), never a refused batch or a server error.
#[tokio::test]
async fn nul_bytes_in_collected_text_are_stored_as_replacement_characters() {
    on_all_backends(async |app| {
        let (_, oa) = app.org_with_admin(json!({"name": "Nul"}), "oa@nul.test", "oa-password-12").await;
        let (key, _) = agent(app, &oa, json!({"name": "nul-agent"})).await;
        let batch = json!({"queries": [{
            "sql_text": "SELECT * FROM blobs WHERE tag = 'a\u{0}b' AND note = x\u{0}y",
            "execution_time_ms": 12.0, "database_type": "postgresql",
            "database_name": "db\u{0}x", "user": "u\u{0}", "client_host": "h\u{0}", "source": "s\u{0}",
            "explain": [{"Plan": {"Node Type": "Seq Scan", "Relation Name": "blobs\u{0}", "k\u{0}": "v"}}],
        }]});
        let r = app.ingest_at(&key, "batch-nul", &batch, Utc::now().timestamp()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let id = r.body["ids"][0].as_i64().expect("id");
        let d = app.get(&format!("/api/v1/slow-queries/{id}"), &oa).await;
        assert_eq!(d.status, StatusCode::OK, "{d:?}");
        let text = d.body.to_string();
        assert!(!text.contains("\\u0000"), "{text}");
        assert_eq!(d.body["database_name"], "db\u{fffd}x", "{text}");
        assert!(d.body["sql_text"].as_str().is_some_and(|s| s.contains("x\u{fffd}y")), "{text}");
        assert!(text.contains("k\u{fffd}"), "{text}");
    })
    .await;
}

/// On PostgreSQL `slow_queries` is partitioned by day: retention drops a day's partition whole once
/// every organization's retention has passed it, still deletes the rows of an organization whose
/// retention is shorter, audits both, and every audit chain stays valid.
#[tokio::test]
async fn retention_drops_whole_day_partitions_on_postgres() {
    let Some(server) = dbpower_testkit::postgres_server() else {
        return;
    };
    let app = TestApp::postgres(&server).spawn().await;
    let pool = sqlx::PgPool::connect(app.db().url())
        .await
        .expect("connect");
    let day = |ago: i64| (Utc::now() - chrono::Duration::days(ago)).date_naive();
    for ago in [40, 20, 8] {
        let made: bool = sqlx::query_scalar("SELECT dbpower_slow_queries_partition($1)")
            .bind(day(ago))
            .fetch_one(&pool)
            .await
            .expect("a past day's partition");
        assert!(made, "{ago} days ago");
    }
    let mut orgs = Vec::new();
    for name in ["Keeper", "Brief"] {
        let email = format!("oa@{}.test", name.to_lowercase());
        let (org, oa) = app
            .org_with_admin(
                json!({"name": name, "retention_days": 90}),
                &email,
                "oa-password-12",
            )
            .await;
        let (key, _) = agent(&app, &oa, json!({"name": "a"})).await;
        // noon of that day (UTC), or now for today
        let at = |ago: i64| match ago {
            0 => Utc::now().to_rfc3339(),
            _ => day(ago)
                .and_hms_opt(12, 0, 0)
                .expect("noon")
                .and_utc()
                .to_rfc3339(),
        };
        let queries: Vec<Value> = [40, 20, 8, 0]
            .iter()
            .map(|ago| json!({"sql_text": format!("SELECT * FROM t{ago} WHERE id = 1"), "execution_time_ms": 5, "database_type": "mysql", "observed_at": at(*ago)}))
            .collect();
        let r = app
            .ingest_at(
                &key,
                &format!("{name}-1"),
                &json!({ "queries": queries }),
                Utc::now().timestamp(),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        orgs.push((org, oa));
    }
    let placed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tableoid::regclass::text, count(*) FROM slow_queries GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("placement");
    let forty = format!("slow_queries_{}", day(40).format("%Y%m%d"));
    assert!(
        placed.contains(&(forty.clone(), 2)),
        "each row in its day's partition: {placed:?}"
    );
    assert!(
        placed.iter().all(|(p, _)| p != "slow_queries_default"),
        "{placed:?}"
    );

    let sa = app.admin().await;
    app.patch(
        &format!("/api/v1/organizations/{}", orgs[0].0),
        &sa,
        json!({"retention_days": 30}),
    )
    .await;
    app.patch(
        &format!("/api/v1/organizations/{}", orgs[1].0),
        &sa,
        json!({"retention_days": 5}),
    )
    .await;
    let deleted = dbpower_backend::sweep_retention(app.store().await.as_ref())
        .await
        .expect("sweep");
    assert_eq!(
        deleted, 4,
        "two rows in the dropped partition, two more of the 5-day organization"
    );
    let left: Vec<(String,)> =
        sqlx::query_as("SELECT name FROM dbpower_partitions('slow_queries')")
            .fetch_all(&pool)
            .await
            .expect("partitions");
    assert!(
        !left.iter().any(|(n,)| *n == forty),
        "the 40-day partition is gone: {left:?}"
    );
    for ((_, oa), (total, dropped)) in orgs.iter().zip([(3, 1), (1, 1)]) {
        assert_eq!(
            app.get("/api/v1/slow-queries", oa).await.body["total"],
            total
        );
        let audit = app
            .get("/api/v1/audit-logs?action=retention.purge", oa)
            .await;
        assert_eq!(
            audit.body["items"][0]["details"]["dropped_partitions"]
                .as_array()
                .map(Vec::len),
            Some(dropped),
            "{audit:?}"
        );
        assert_eq!(
            app.get("/api/v1/audit-logs/verify", oa).await.body["valid"],
            true
        );
    }
    pool.close().await;
}
