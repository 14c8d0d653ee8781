//! Rate limits over HTTP: headers on every API answer, 429 with Retry-After and the JSON error once an
//! organization's window is full, another organization unaffected, per-organization overrides, and the
//! health endpoints never limited; with Redis, limits and failed-login counts shared by every process.

use reqwest::StatusCode;
use serde_json::json;

use crate::{Settings, TestApp, on_all_backends_with, secret};

#[tokio::test]
async fn organizations_get_exact_windows_with_headers_and_429() {
    let limits = |s: &mut Settings| {
        s.rate_limit.org_per_minute = 5;
        s.rate_limit.org_per_hour = 1000;
        s.rate_limit.ip_per_minute = 1000;
    };
    on_all_backends_with(limits, async |app| {
        let sa = app.admin().await;
        let a = app.create("/api/v1/organizations", &sa, json!({"name": "A"})).await;
        let b = app.create("/api/v1/organizations", &sa, json!({"name": "B", "settings": {"rate_limit_per_minute": 8}})).await;
        for (org, email) in [(a, "oa@a.test"), (b, "oa@b.test")] {
            app.create("/api/v1/users", &sa, json!({"email": email, "password": "oa-password-12", "role": "ORG_ADMIN", "organization_id": org})).await;
        }
        let ta = app.login_in("A", "oa@a.test", "oa-password-12").await;
        let tb = app.login_in("B", "oa@b.test", "oa-password-12").await;
        let mut seen = Vec::new();
        for _ in 0..7 {
            let r = app.http().get(format!("{}/api/v1/auth/me", app.base)).bearer_auth(&ta).send().await.expect("send");
            let h = |n: &str| r.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
            seen.push((r.status(), h("x-ratelimit-limit"), h("x-ratelimit-remaining"), h("retry-after")));
            if r.status() == StatusCode::TOO_MANY_REQUESTS {
                let body: serde_json::Value = r.json().await.expect("json");
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            }
        }
        let statuses: Vec<u16> = seen.iter().map(|s| s.0.as_u16()).collect();
        assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429, 429], "{seen:?}");
        assert_eq!(seen[0].1.as_deref(), Some("5"));
        assert_eq!(seen[0].2.as_deref(), Some("4"));
        assert_eq!(seen[4].2.as_deref(), Some("0"));
        let retry: u64 = seen[5].3.as_deref().and_then(|v| v.parse().ok()).expect("Retry-After");
        assert!((1..=60).contains(&retry), "{retry}");
        // Organization B has its own window and its own limit (8 per minute from its settings).
        let allowed_b = {
            let mut n = 0;
            for _ in 0..10 {
                if app.get("/api/v1/auth/me", &tb).await.status == StatusCode::OK {
                    n += 1;
                }
            }
            n
        };
        assert_eq!(allowed_b, 8);
        // Health and readiness are never limited, and readiness names the limiter.
        for _ in 0..3 {
            let r = app.http().get(format!("{}/ready", app.base)).send().await.expect("ready");
            assert_eq!(r.status(), StatusCode::OK);
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(body["rate_limiter"], "memory");
        }
    })
    .await;
}

#[tokio::test]
async fn client_addresses_are_limited_before_anyone_logs_in() {
    on_all_backends_with(
        |s| s.rate_limit.ip_per_minute = 3,
        async |app| {
            let mut statuses = Vec::new();
            for _ in 0..5 {
                let r = app
                    .http()
                    .get(format!("{}/api/v1/organizations", app.base))
                    .send()
                    .await
                    .expect("send");
                statuses.push(r.status().as_u16());
            }
            assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
        },
    )
    .await;
}

#[tokio::test]
async fn limits_live_in_redis_when_it_is_configured() {
    let Ok(redis) = std::env::var("DBPOWER_TEST_REDIS_URL") else {
        return;
    };
    // A fresh key space per run, so windows of earlier runs (same organization ids) do not count.
    let prefix = format!("dbpower-test:{}:", uuid::Uuid::new_v4().simple());
    let shared = move |s: &mut Settings| {
        s.redis_url = Some(secret(&redis));
        s.rate_limit.redis_prefix = prefix.clone();
    };
    on_all_backends_with(shared, async |app| {
        let body: serde_json::Value = app
            .http()
            .get(format!("{}/ready", app.base))
            .send()
            .await
            .expect("ready")
            .json()
            .await
            .expect("json");
        assert_eq!(body["rate_limiter"], "redis", "{body}");
        // This organization allows 3 requests a minute (its own setting); the admin keeps the defaults.
        let name = format!("R{}", uuid::Uuid::new_v4().simple());
        let email = format!("oa{}@r.test", uuid::Uuid::new_v4().simple());
        let (_, t) = app
            .org_with_admin(
                json!({"name": name, "settings": {"rate_limit_per_minute": 3}}),
                &email,
                "oa-password-12",
            )
            .await;
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(app.get("/api/v1/auth/me", &t).await.status.as_u16());
        }
        // The SQLite and PostgreSQL runs share the prefix and their organization ids restart, so the
        // second run may find this organization's window already used: never more than three pass.
        assert!(
            statuses.iter().filter(|s| **s == 200).count() <= 3,
            "{statuses:?}"
        );
        assert!(statuses.ends_with(&[429, 429]), "{statuses:?}");
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_counted_across_backends_sharing_redis() {
    let Ok(redis) = std::env::var("DBPOWER_TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("dbpower-test:{}:", uuid::Uuid::new_v4().simple());
    let (url, keys) = (redis.clone(), prefix.clone());
    let shared = move |s: &mut Settings| {
        s.redis_url = Some(secret(&url));
        s.rate_limit.redis_prefix = keys.clone();
        s.login.max_failures_per_account = 4;
        s.login.window_secs = 600;
    };
    // Two backends, as behind a gateway; each has its own process state, and only Redis in common.
    let (a, b) = (
        TestApp::sqlite()
            .with_settings(shared.clone())
            .spawn()
            .await,
        TestApp::sqlite().with_settings(shared).spawn().await,
    );
    for app in [&a, &b, &a, &b] {
        assert_eq!(
            app.try_login(dbpower_testkit::ADMIN_EMAIL, "wrong-password-1")
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    for app in [&a, &b] {
        let r = app
            .try_login(
                dbpower_testkit::ADMIN_EMAIL,
                dbpower_testkit::ADMIN_PASSWORD,
            )
            .await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("too_many_login_attempts")
            ),
            "{r:?}"
        );
    }
    // Nothing in Redis names the account.
    let client = redis::Client::open(redis.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("keys");
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{prefix}login:a:"))),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .all(|k| !k.contains("dbpower.test") && !k.contains('@')),
        "{keys:?}"
    );
}
