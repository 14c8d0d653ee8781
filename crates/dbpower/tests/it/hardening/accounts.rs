//! What logged-in users can do to each other and to the platform, each reproducing a finding of the
//! review against a running `dbpower serve`: access tokens that outlived their session, refused writes
//! nobody saw, one member using up the organization's requests, public metrics, and one address keeping
//! every password check busy.

use dbpower_testkit::{Role, secret};
use reqwest::Method as M;
use serde_json::{Value, json};

use super::requests::ingest_one;
use super::tenants::{Env, OWNER};

use crate::support::{bin, token};

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_end_with_the_session() {
    let env = Env::sqlite().await;
    let (org, _) = env.org("Sessions").await;
    let (email, pw) = ("member@sessions.test", "member-password-1");
    let u = env
        .ok(
            M::POST,
            "/api/v1/users",
            &env.sa,
            json!({"email": email, "password": pw, "role": "USER", "organization_id": org}),
            201,
        )
        .await;
    let me = |tok: String| {
        let c = &env.c;
        async move {
            c.call(M::GET, "/api/v1/auth/me", Some(&tok), None)
                .await
                .0
                .as_u16()
        }
    };
    let refresh = |login: &Value| {
        let body = json!({"refresh_token": login["refresh_token"]});
        let c = &env.c;
        async move {
            let r = c
                .request(M::POST, "/api/v1/auth/refresh", None, Some(body))
                .await;
            (r.status.as_u16(), r.body)
        }
    };
    let a = env.c.try_login_in("Sessions", email, pw).await.body;
    let b = env.c.try_login_in("Sessions", email, pw).await.body;
    let (a_access, b_access) = (token(&a), token(&b));
    assert_eq!(
        (me(a_access.clone()).await, me(b_access.clone()).await),
        (200, 200)
    );

    // Logout: the access token used for it ends at once, not up to 30 minutes later.
    let (s, _) = env
        .c
        .call(
            M::POST,
            "/api/v1/auth/logout",
            Some(&a_access),
            Some(json!({"refresh_token": a["refresh_token"]})),
        )
        .await;
    assert_eq!(s.as_u16(), 204);
    assert_eq!(me(a_access).await, 401);
    // The other session's access token ends too, but its refresh token still gives it a new one.
    assert_eq!(me(b_access).await, 401);
    let (s, b2) = refresh(&b).await;
    assert_eq!(s, 200, "{b2}");
    let b2_access = token(&b2);
    assert_eq!(me(b2_access.clone()).await, 200);

    // Refresh-token reuse: the thief's freshly refreshed access token ends as well.
    let (s, b3) = refresh(&b2).await;
    assert_eq!(s, 200, "{b3}");
    let b3_access = token(&b3);
    assert_eq!(refresh(&b2).await.0, 401);
    assert_eq!(me(b3_access).await, 401);

    // Changing one's own password needs the current one, then ends the old tokens.
    let c_login = env.c.try_login_in("Sessions", email, pw).await.body;
    let c_access = token(&c_login);
    let path = format!("/api/v1/users/{}", u["id"]);
    for body in [
        json!({"password": "another-password-2"}),
        json!({"password": "another-password-2", "current_password": "wrong-password-9"}),
    ] {
        let (s, b) = env
            .c
            .call(M::PATCH, &path, Some(&c_access), Some(body))
            .await;
        assert_eq!(s.as_u16(), 422, "{b}");
        assert_eq!(b["error"]["field"], "current_password", "{b}");
    }
    let (s, b) = env
        .c
        .call(
            M::PATCH,
            &path,
            Some(&c_access),
            Some(json!({"password": "another-password-2", "current_password": pw})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(me(c_access).await, 401);

    // An administrator's reset ends the user's tokens too.
    let d = env
        .c
        .login_in("Sessions", email, "another-password-2")
        .await;
    env.ok(
        M::PATCH,
        &path,
        &env.sa,
        json!({"password": "reset-password-3"}),
        200,
    )
    .await;
    assert_eq!(me(d).await, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_writes_and_reanalysis_are_audited() {
    let env = Env::sqlite().await;
    let (a, oa) = env.org("Prober").await;
    let (b, _) = env.org("Target").await;
    let status = async |method: M, path: &str, token: Option<&str>, body: Value| {
        let r = env.c.request(method, path, token, Some(body)).await;
        r.status.as_u16()
    };
    let other = format!("/api/v1/organizations/{b}");
    let mine_now = json!({"name": "Mine now"});
    assert_eq!(
        status(M::PATCH, &other, Some(&oa), mine_now).await,
        404,
        "another organization's resource is 404"
    );
    let escalate = json!({"name": "Escalate"});
    assert_eq!(
        status(M::POST, "/api/v1/organizations", Some(&oa), escalate).await,
        403
    );
    // Unauthenticated refusals grow nothing.
    let anon = json!({"name": "Anon"});
    assert_eq!(status(M::POST, "/api/v1/teams", None, anon).await, 401);
    let (_, rows) = env
        .c
        .call(
            M::GET,
            "/api/v1/audit-logs?action=request.refused",
            Some(&oa),
            None,
        )
        .await;
    let seen: Vec<(String, i64)> = rows["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| {
            (
                r["resource_type"].as_str().unwrap_or("").to_string(),
                r["details"]["status"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        seen.len(),
        2,
        "the organization admin sees its own refused writes: {rows}"
    );
    assert!(
        seen.contains(&("/api/v1/organizations/{id}".to_string(), 404)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("/api/v1/organizations".to_string(), 403)),
        "{seen:?}"
    );
    assert!(
        rows["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|r| r["organization_id"] == a)
    );

    // A re-analysis request is audited with the query it names.
    let key = env.key(&oa).await;
    let body = json!({"queries": [{"sql_text": "SELECT * FROM t WHERE id = 1", "execution_time_ms": 5.0, "database_type": "mysql"}]});
    let id = ingest_one(&env, &oa, &key, "reanalyze-1", &body).await;
    let (s, _) = env
        .c
        .call(
            M::POST,
            &format!("/api/v1/slow-queries/{id}/analyze"),
            Some(&oa),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 202);
    let (_, rows) = env
        .c
        .call(
            M::GET,
            "/api/v1/audit-logs?action=slow_query.reanalyze",
            Some(&oa),
            None,
        )
        .await;
    assert_eq!(rows["total"], 1, "{rows}");
    assert_eq!(rows["items"][0]["resource_id"], id.to_string(), "{rows}");
}

#[tokio::test(flavor = "multi_thread")]
async fn members_cannot_use_up_their_organizations_requests() {
    let env = Env::sqlite_with(|s| s.rate_limit.org_per_minute = 6).await;
    let (org, oa) = env.org("Shared").await;
    let mut members = Vec::new();
    for i in 0..3 {
        let email = format!("m{i}@shared.test");
        env.ok(
            M::POST,
            "/api/v1/users",
            &env.sa,
            json!({"email": email, "password": "member-password-1", "role": "USER", "organization_id": org}),
            201,
        )
        .await;
        members.push(env.c.login_in("Shared", &email, "member-password-1").await);
    }
    let burst = |tok: String, n: usize| {
        let c = &env.c;
        async move {
            let mut ok = 0;
            for _ in 0..n {
                if c.call(M::GET, "/api/v1/auth/me", Some(&tok), None)
                    .await
                    .0
                    .as_u16()
                    == 200
                {
                    ok += 1;
                }
            }
            ok
        }
    };
    // One member gets at most half of the organization's minute ...
    assert_eq!(burst(members[0].clone(), 10).await, 3);
    // ... a second one the other half; then the members' share is used up ...
    assert_eq!(burst(members[1].clone(), 10).await, 3);
    assert_eq!(burst(members[2].clone(), 10).await, 0);
    // ... and the organization's admin still has its own minute.
    assert_eq!(burst(oa.clone(), 10).await, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_upstream_details_need_the_metrics_token() {
    let env =
        Env::sqlite_with(|s| s.metrics_token = Some(secret("metrics-token-for-tests-1"))).await;
    let http = reqwest::Client::new();
    // `url` with `token` (if any): the status and the body.
    let fetch = async |url: &str, token: Option<&str>| {
        let mut req = http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("send");
        (r.status().as_u16(), r.text().await.expect("body"))
    };
    let url = format!("{}/metrics", env.c.base());
    assert_eq!(fetch(&url, None).await.0, 401);
    assert_eq!(fetch(&url, Some("nope")).await.0, 401);
    let (status, text) = fetch(&url, Some("metrics-token-for-tests-1")).await;
    assert_eq!(status, 200);
    assert!(text.contains("dbpower_http_requests_total"), "{text}");

    // The gateway's /health says whether each upstream answers; their addresses only with the token.
    let dir = tempfile::tempdir().expect("tmp");
    let gw = bin()
        .role(Role::Gateway)
        .in_dir(dir.path())
        .with_settings(|s| {
            s.metrics_token = Some(secret("metrics-token-for-tests-1"));
            s.gateway.backend_url = "http://127.0.0.1:9".into();
            s.data_dir = dir.path().join("gw");
        })
        .spawn();
    let health = format!("{}/health", gw.base);
    let anon: Value = serde_json::from_str(&fetch(&health, None).await.1).expect("json");
    assert!(!anon.to_string().contains("127.0.0.1:9"), "{anon}");
    assert_eq!(anon["status"], "degraded", "{anon}");
    let full = fetch(&health, Some("metrics-token-for-tests-1")).await.1;
    assert!(full.contains("127.0.0.1:9"), "{full}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_address_cannot_keep_every_password_check_busy() {
    // A real bcrypt cost, so that checks overlap.
    let env = Env::sqlite_with(|s| s.password_hash_cost = 10).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let base = env.c.base().to_string();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": OWNER.0, "password": OWNER.1}))
                .send()
                .await
                .expect("login")
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "at most two checks run at once per address: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
}

/// An ORG_ADMIN who creates a user learns nothing about other organizations' accounts (it was a 409
/// when the address existed anywhere): addresses are unique per organization, and login names the
/// organization, so no answer depends on another organization's people.
async fn addresses_say_nothing_across_organizations(env: Env) {
    let (target, target_oa) = env.org("Target").await;
    let (prober_org, prober) = env.org("Prober").await;
    let user = |email: &str, pw: &str| json!({"email": email, "password": pw, "role": "USER"});
    let victim = "victim@target.test";
    let victim_user = user(victim, "victim-password-1");
    env.ok(M::POST, "/api/v1/users", &target_oa, victim_user, 201)
        .await;
    // A used and an unused address answer alike; so does the platform owner's.
    for email in [victim, "unused@target.test", OWNER.0] {
        let body = user(email, "prober-password-1");
        env.ok(M::POST, "/api/v1/users", &prober, body, 201).await;
    }
    // Only the prober's own organization's addresses conflict.
    let again = user(victim, "prober-password-1");
    env.ok(M::POST, "/api/v1/users", &prober, again, 409).await;

    // Each account logs in to its own organization with its own password.
    let me = |tok: String| {
        let c = &env.c;
        async move { c.call(M::GET, "/api/v1/auth/me", Some(&tok), None).await.1 }
    };
    let theirs = me(env.c.login_in("Target", victim, "victim-password-1").await).await;
    let mine = me(env.c.login_in("Prober", victim, "prober-password-1").await).await;
    assert_eq!(
        (
            theirs["organization_id"].as_i64(),
            mine["organization_id"].as_i64()
        ),
        (Some(target), Some(prober_org))
    );
    let owner = me(env.c.login(OWNER.0, OWNER.1).await).await;
    assert_eq!(
        (owner["role"].as_str(), owner["organization_id"].as_i64()),
        (Some("SUPER_ADMIN"), None),
        "without an organization, the platform account: {owner}"
    );

    // A refused login does not say which part was wrong, nor whether the address is used elsewhere.
    let refused = |body: Value| {
        let c = &env.c;
        async move {
            let (s, b) = c
                .call(M::POST, "/api/v1/auth/login", None, Some(body))
                .await;
            (
                s.as_u16(),
                b["error"]["code"].clone(),
                b["error"]["message"].clone(),
            )
        }
    };
    let wrong_password = refused(
        json!({"email": victim, "password": "prober-password-1", "organization": "Target"}),
    )
    .await;
    assert_eq!(wrong_password.0, 401);
    for body in [
        json!({"email": victim, "password": "victim-password-1"}),
        json!({"email": victim, "password": "victim-password-1", "organization": "Nowhere"}),
        json!({"email": "nobody@target.test", "password": "victim-password-1", "organization": "Target"}),
    ] {
        assert_eq!(refused(body.clone()).await, wrong_password, "{body}");
    }
}

on_both_stores!(addresses_say_nothing_across_organizations, Env);
