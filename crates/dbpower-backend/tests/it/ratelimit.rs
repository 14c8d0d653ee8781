//! Rate limits over HTTP: headers on every API answer, 429 with Retry-After and the JSON error once an
//! organization's window is full, another organization unaffected, per-organization overrides, and the
//! health endpoints never limited; with Redis, limits and failed-login counts shared by every process,
//! on one server and on a three-master Redis Cluster the test starts.

use dbpower_testkit::ApiKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

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
        let body = ready_of(app).await;
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

/// Two apps on SQLite databases of their own with the same settings: nothing in common but Redis.
async fn two_sqlite_apps(
    shared: impl Fn(&mut Settings) + Clone + Send + 'static,
) -> (TestApp, TestApp) {
    (
        TestApp::sqlite()
            .with_settings(shared.clone())
            .spawn()
            .await,
        TestApp::sqlite().with_settings(shared).spawn().await,
    )
}

/// `GET /ready`'s answer.
async fn ready_of(app: &TestApp) -> Value {
    app.http()
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .expect("ready")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_exact_limits_on_a_redis_cluster() {
    if std::env::var("DBPOWER_TEST_REDIS_URL").is_err() {
        return;
    }
    let cluster = tokio::task::spawn_blocking(dbpower_testkit::redis_cluster::RedisCluster::start)
        .await
        .expect("cluster");
    let nodes = cluster.url();
    let shared = move |s: &mut Settings| {
        s.redis_url = Some(secret(&nodes));
        s.rate_limit.on_redis_failure = dbpower_ratelimit::OnRedisFailure::Deny;
    };
    // Two processes with nothing in common but the cluster; their fresh databases give the same
    // organization and user the same ids, so they share those windows.
    let (a, b) = two_sqlite_apps(shared).await;
    let mut tokens = Vec::new();
    for app in [&a, &b] {
        let ready = ready_of(app).await;
        assert_eq!(ready["rate_limiter"], "redis", "{ready}");
        let (_, t) = app
            .org_with_admin(
                json!({"name": "clustered", "settings": {"rate_limit_per_minute": 6}}),
                "oa@cluster.test",
                "oa-password-12",
            )
            .await;
        tokens.push(t);
    }
    let mut passed = 0;
    let mut statuses = Vec::new();
    for i in 0..16 {
        let (app, t) = if i % 2 == 0 {
            (&a, &tokens[0])
        } else {
            (&b, &tokens[1])
        };
        let r = app.get("/api/v1/auth/me", t).await;
        statuses.push(r.status.as_u16());
        if r.status == StatusCode::OK {
            passed += 1;
        } else {
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
            assert!(r.headers.contains_key("retry-after"), "{r:?}");
        }
    }
    // one window of six across both gateways (the member's own window is the organization's)
    assert_eq!(passed, 6, "{statuses:?}");
    drop(cluster);
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
    let (a, b) = two_sqlite_apps(shared).await;
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
            .any(|k| k.starts_with(&format!("{prefix}{{login:a:"))),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .all(|k| !k.contains("dbpower.test") && !k.contains('@')),
        "{keys:?}"
    );
}

/// Deployment limits small enough to reach: agents may send 10 slow queries and 50 requests a minute per
/// api key; organizations keep the default 100 requests a minute that their own settings scale.
fn agent_limits(s: &mut Settings) {
    s.rate_limit.org_per_minute = 100;
    s.rate_limit.org_per_hour = 1000;
    s.rate_limit.ip_per_minute = 100_000;
    s.rate_limit.agent_per_minute = 50;
    s.rate_limit.agent_per_hour = 1000;
    s.rate_limit.agent_queries_per_minute = 10;
}

/// A batch of `n` slow queries.
fn batch(n: usize) -> serde_json::Value {
    let queries: Vec<serde_json::Value> = (0..n)
        .map(|i| json!({"sql_text": format!("SELECT * FROM t WHERE id = {i}"), "execution_time_ms": 2.0, "database_type": "mysql"}))
        .collect();
    json!({ "queries": queries })
}

/// Sends `n` batches of `size` queries with `key` under the request ids `{prefix}-0`, `{prefix}-1`, ...;
/// each is accepted.
async fn accepted_batches(app: &TestApp, key: &ApiKey, prefix: &str, n: usize, size: usize) {
    for i in 0..n {
        let r = app
            .ingest(key, &format!("{prefix}-{i}"), &batch(size))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "batch {i}: {r:?}");
    }
}

/// A new organization (its create body), its ORG_ADMIN `email`'s token and a new api key (its create
/// body) the admin made.
async fn org_agent(app: &TestApp, org: Value, email: &str, key: Value) -> (String, ApiKey) {
    let (_, oa) = app.org_with_admin(org, email, "oa-password-12").await;
    let (key, _) = crate::ingest::agent(app, &oa, key).await;
    (oa, key)
}

#[tokio::test]
async fn an_agent_over_its_query_budget_gets_429_with_retry_after() {
    on_all_backends_with(agent_limits, async |app| {
        let (oa, key) = org_agent(
            app,
            json!({"name": "Budget"}),
            "oa@budget.test",
            json!({"name": "busy"}),
        )
        .await;
        accepted_batches(app, &key, "b", 2, 4).await;
        // 8 of 10 used: 4 more do not fit, whatever the request count says.
        let r = app.ingest(&key, "b-2", &batch(4)).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
            "{r:?}"
        );
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("slow queries per minute (10)"),
            "{message}"
        );
        let retry: u64 = r
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=60).contains(&retry), "{retry}");
        // What still fits passes; a heartbeat uses no queries; then the budget is spent.
        assert_eq!(
            app.ingest(&key, "b-3", &batch(2)).await.status,
            StatusCode::ACCEPTED
        );
        let hb = crate::agents::heartbeat(
            app,
            &key,
            "hb-1",
            &json!({"name": "busy", "version": "1", "interval_secs": 30}),
        )
        .await;
        assert_eq!(hb.status, StatusCode::NO_CONTENT, "{hb:?}");
        assert_eq!(
            app.ingest(&key, "b-4", &batch(1)).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            app.get("/api/v1/slow-queries", &oa).await.body["total"],
            10,
            "refused batches stored nothing"
        );
        // Budgets are per key, and a batch larger than the whole budget passes an empty window (using
        // all of it) instead of never.
        let (other, _) = crate::ingest::agent(app, &oa, json!({"name": "bulk"})).await;
        assert_eq!(
            app.ingest(&other, "o-1", &batch(11)).await.status,
            StatusCode::ACCEPTED
        );
        let r = app.ingest(&other, "o-2", &batch(1)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
        // A replay of a stored batch is refused while the budget is spent, then answered as stored.
        assert_eq!(
            app.ingest(&key, "b-0", &batch(4)).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    })
    .await;
}

#[tokio::test]
async fn an_organizations_own_limits_apply_to_its_agents() {
    on_all_backends_with(agent_limits, async |app| {
        let sa = app.admin().await;
        // Ten times the default requests per minute: ten times the agents' requests and queries.
        let (_, key) = org_agent(
            app,
            json!({"name": "Raised", "settings": {"rate_limit_per_minute": 1000}}),
            "oa@raised.test",
            json!({"name": "big"}),
        )
        .await;
        accepted_batches(app, &key, "r", 25, 4).await;
        let r = app.ingest(&key, "r-25", &batch(1)).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "100 queries a minute: {r:?}"
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("(100)")),
            "{r:?}"
        );

        // Half the default: half the budget.
        let (_, small) = org_agent(
            app,
            json!({"name": "Lowered", "settings": {"rate_limit_per_minute": 50}}),
            "oa@lowered.test",
            json!({"name": "small"}),
        )
        .await;
        assert_eq!(
            app.ingest(&small, "l-1", &batch(4)).await.status,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            app.ingest(&small, "l-2", &batch(4)).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );

        // A change takes effect at the agent's next request: the settings are read with its key.
        let (org, plain) = app
            .org_with_admin(json!({"name": "Plain"}), "oa@plain.test", "oa-password-12")
            .await;
        let (agent, _) = crate::ingest::agent(app, &plain, json!({"name": "a"})).await;
        assert_eq!(
            app.ingest(&agent, "p-1", &batch(8)).await.status,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            app.ingest(&agent, "p-2", &batch(8)).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
        let r = app
            .patch(
                &format!("/api/v1/organizations/{org}"),
                &sa,
                json!({"settings": {"rate_limit_per_minute": 300}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(
            app.ingest(&agent, "p-2", &batch(8)).await.status,
            StatusCode::ACCEPTED
        );
    })
    .await;
}

/// `body` signed with `key` as an agent behind the trusted proxy (loopback) at `address` sends it.
async fn ingest_from(
    app: &TestApp,
    address: &str,
    key: &dbpower_testkit::ApiKey,
    request_id: &str,
    body: &serde_json::Value,
) -> dbpower_testkit::Resp {
    let raw = serde_json::to_vec(body).expect("body");
    let ts = chrono::Utc::now().timestamp();
    let req =
        dbpower_testkit::signed_batch_request(app.http(), &app.base, key, request_id, ts, raw);
    dbpower_testkit::Resp::read(
        req.header("x-forwarded-for", address)
            .send()
            .await
            .expect("send"),
    )
    .await
}

#[tokio::test]
async fn a_busy_agent_is_limited_by_its_key_and_junk_by_its_address() {
    let limits = |s: &mut Settings| {
        agent_limits(s);
        s.rate_limit.ip_per_minute = 6;
        s.rate_limit.agent_queries_per_minute = 1000;
        s.trusted_proxies = Some("loopback".into());
    };
    on_all_backends_with(limits, async |app| {
        // The set-up's five requests come from loopback itself.
        let (_, key) = org_agent(
            app,
            json!({"name": "Busy"}),
            "oa@busy.test",
            json!({"name": "busy"}),
        )
        .await;
        // Eight verified batches from an address allowed six requests a minute: the key's windows
        // decide, the address's is not used up by them.
        for i in 0..8 {
            let r = ingest_from(app, "203.0.113.7", &key, &format!("k-{i}"), &batch(1)).await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "batch {i}: {r:?}");
        }
        // Requests that fail before their signature verifies count against their address.
        let mut statuses = Vec::new();
        for i in 0..8 {
            statuses.push(
                ingest_from(
                    app,
                    "203.0.113.7",
                    &key.forged(),
                    &format!("f-{i}"),
                    &batch(1),
                )
                .await
                .status
                .as_u16(),
            );
        }
        assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 429, 429]);
        let r = ingest_from(app, "203.0.113.7", &key, "k-after", &batch(1)).await;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited")),
            "the address is full: {r:?}"
        );
        // The agent from another address still gets in.
        let r = ingest_from(app, "203.0.113.8", &key, "k-elsewhere", &batch(1)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    })
    .await;
}
