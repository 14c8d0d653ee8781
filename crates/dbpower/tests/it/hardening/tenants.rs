//! Tenant and team isolation over the HTTP API of a running `dbpower serve`: numbers that overflowed the
//! class aggregates (and with them every batch in the same write group), and identities of other teams.

use dbpower_testkit::{Client, Proc, ProcBuilder, Settings, TestDb};
use reqwest::Method as M;
use serde_json::{Value, json};

use crate::support::{post_signed_batch, serve_as};

pub(crate) const OWNER: (&str, &str) = ("owner@hardening.test", "owner-password-1");

/// A running platform (on SQLite, or on a fresh PostgreSQL database) with its owner logged in. Its
/// database is checked when it stops (no job left claimed, every audit chain verifies).
pub(crate) struct Env {
    server: Proc,
    pub(crate) c: Client,
    pub(crate) sa: String,
    _dir: tempfile::TempDir,
}

impl Env {
    pub(crate) async fn sqlite() -> Env {
        Env::sqlite_with(|_| {}).await
    }

    /// [`Env::sqlite`] with the settings changed by `f`.
    pub(crate) async fn sqlite_with(f: impl FnOnce(&mut Settings)) -> Env {
        let dir = tempfile::tempdir().expect("tmp");
        let db = TestDb::in_data_dir(&dir.path().join("data"));
        Env::start(dir, db, f).await
    }

    pub(crate) async fn postgres(server: &str) -> Env {
        Env::postgres_with(server, |_| {}).await
    }

    /// [`Env::postgres`] with the settings changed by `f`.
    pub(crate) async fn postgres_with(server: &str, f: impl FnOnce(&mut Settings)) -> Env {
        let db = TestDb::empty_postgres(server).await;
        Env::start(tempfile::tempdir().expect("tmp"), db, f).await
    }

    async fn start(dir: tempfile::TempDir, db: TestDb, f: impl FnOnce(&mut Settings)) -> Env {
        let server = Env::platform(&dir).database(db).with_settings(f).spawn();
        let c = server.client();
        let sa = c.login(OWNER.0, OWNER.1).await;
        Env {
            server,
            c,
            sa,
            _dir: dir,
        }
    }

    fn platform(dir: &tempfile::TempDir) -> ProcBuilder {
        serve_as(OWNER)
            .in_dir(dir.path())
            .args(&["--data-dir", "data"])
    }

    /// The PostgreSQL database's URL when the platform runs on one.
    pub(crate) fn db_url(&self) -> Option<String> {
        self.server.db().database_url()
    }

    pub(crate) async fn ok(&self, m: M, path: &str, tok: &str, body: Value, want: u16) -> Value {
        let (s, b) = self.c.call(m, path, Some(tok), Some(body)).await;
        assert_eq!(s.as_u16(), want, "{path}: {b}");
        b
    }

    /// A new organization and its ORG_ADMIN's token: (org id, token).
    pub(crate) async fn org(&self, name: &str) -> (i64, String) {
        let org = self
            .ok(
                M::POST,
                "/api/v1/organizations",
                &self.sa,
                json!({"name": name}),
                201,
            )
            .await;
        let id = org["id"].as_i64().expect("id");
        let email = format!("admin{id}@hardening.test");
        self.ok(M::POST, "/api/v1/users", &self.sa, json!({"email": email, "password": "admin-password-1", "role": "ORG_ADMIN", "organization_id": id}), 201).await;
        (id, self.c.login_in(name, &email, "admin-password-1").await)
    }

    /// Switches the organization to `pii_only` scrubbing (literals kept), as its ORG_ADMIN.
    pub(crate) async fn pii_only(&self, org: i64, oa: &str) {
        self.ok(
            M::PATCH,
            &format!("/api/v1/organizations/{org}"),
            oa,
            json!({"settings": {"scrub_level": "pii_only"}}),
            200,
        )
        .await;
    }

    pub(crate) async fn key(&self, oa: &str) -> Value {
        self.ok(
            M::POST,
            "/api/v1/api-keys",
            oa,
            json!({"name": "agent"}),
            201,
        )
        .await
    }
}

fn query(sql: &str, extra: Value) -> Value {
    let mut q = json!({"sql_text": sql, "execution_time_ms": 120.0, "database_type": "postgresql"});
    if let (Some(o), Some(e)) = (q.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    q
}

async fn one_tenant_cannot_break_another(env: Env) {
    let http = reqwest::Client::new();
    let base = env.c.base().to_string();
    let (_, attacker) = env.org("Attacker").await;
    let attacker_key = env.key(&attacker).await;

    // Out-of-range numbers are refused at validation with the field named.
    for (field, value) in [
        ("calls", json!(i64::MAX)),
        ("rows_examined", json!(i64::MAX)),
        ("rows_sent", json!(-1)),
        ("execution_time_ms", json!(1e300)),
        ("lock_time_ms", json!(1e12)),
    ] {
        let body = json!({"queries": [query("SELECT * FROM accounts WHERE id = 1", json!({field: value}))]});
        let r =
            post_signed_batch(&http, &base, &attacker_key, &format!("bad-{field}"), &body).await;
        assert_eq!(r.status().as_u16(), 422, "{field}");
        let b: Value = r.json().await.expect("json");
        assert_eq!(b["error"]["field"], format!("queries[0].{field}"), "{b}");
    }

    // The largest accepted values, many times over into one class, while innocent organizations ingest
    // in the same write groups: everything is stored and every dashboard reads.
    let mut innocents = Vec::new();
    for n in 0..3 {
        let (_, oa) = env.org(&format!("Innocent {n}")).await;
        let key = env.key(&oa).await;
        innocents.push((oa, key));
    }
    let max = json!({"calls": dbpower_types::MAX_CALLS, "rows_examined": dbpower_types::MAX_ROWS,
        "rows_sent": dbpower_types::MAX_ROWS, "execution_time_ms": dbpower_types::MAX_TIME_MS,
        "lock_time_ms": dbpower_types::MAX_TIME_MS});
    let heavy: Vec<Value> = (0..1000)
        .map(|_| query("SELECT * FROM accounts WHERE id = 1", max.clone()))
        .collect();
    let mut tasks = Vec::new();
    for round in 0..10 {
        let (h, b, key, body) = (
            http.clone(),
            base.clone(),
            attacker_key.clone(),
            json!({"queries": heavy}),
        );
        tasks.push(tokio::spawn(async move {
            post_signed_batch(&h, &b, &key, &format!("heavy-{round}"), &body)
                .await
                .status()
                .as_u16()
        }));
        for (i, (_, key)) in innocents.iter().enumerate() {
            let (http, base, key) = (http.clone(), base.clone(), key.clone());
            let body = json!({"queries": [query("SELECT * FROM accounts WHERE id = 1", json!({})),
                query(&format!("SELECT * FROM orders_{i} WHERE total > 10"), json!({}))]});
            tasks.push(tokio::spawn(async move {
                post_signed_batch(&http, &base, &key, &format!("innocent-{round}"), &body)
                    .await
                    .status()
                    .as_u16()
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 202);
    }
    for (oa, _) in &innocents {
        let (s, classes) = env
            .c
            .call(M::GET, "/api/v1/query-classes", Some(oa), None)
            .await;
        assert_eq!(s.as_u16(), 200, "{classes}");
        let counts: Vec<i64> = classes["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|c| c["count"].as_i64())
            .collect();
        assert_eq!(counts, vec![10, 10], "{classes}");
        let (s, dash) = env
            .c
            .call(M::GET, "/api/v1/stats/dashboard", Some(oa), None)
            .await;
        assert_eq!(s.as_u16(), 200, "{dash}");
    }
    let (s, classes) = env
        .c
        .call(M::GET, "/api/v1/query-classes", Some(&attacker), None)
        .await;
    assert_eq!(s.as_u16(), 200, "{classes}");
    assert_eq!(
        classes["items"][0]["count"].as_i64(),
        Some(10 * 1000 * dbpower_types::MAX_CALLS),
        "{classes}"
    );
}

on_both_stores!(one_tenant_cannot_break_another, Env);

#[tokio::test(flavor = "multi_thread")]
async fn identities_stay_inside_their_team() {
    let env = Env::sqlite().await;
    let (org, oa) = env.org("Teams").await;
    let t1 = env
        .ok(M::POST, "/api/v1/teams", &oa, json!({"name": "One"}), 201)
        .await["id"]
        .clone();
    let t2 = env
        .ok(M::POST, "/api/v1/teams", &oa, json!({"name": "Two"}), 201)
        .await["id"]
        .clone();
    let i1 = env
        .ok(
            M::POST,
            "/api/v1/identities",
            &oa,
            json!({"team_id": t1, "name": "svc-one"}),
            201,
        )
        .await["id"]
        .clone();
    let i2 = env
        .ok(
            M::POST,
            "/api/v1/identities",
            &oa,
            json!({"team_id": t2, "name": "svc-two"}),
            201,
        )
        .await["id"]
        .clone();
    env.ok(M::POST, "/api/v1/users", &oa, json!({"email": "lead@one.test", "password": "lead-password-1", "role": "TEAM_LEAD", "team_id": t1}), 201).await;
    let lead = env
        .c
        .login_in("Teams", "lead@one.test", "lead-password-1")
        .await;

    // A team lead cannot bind a new user to another team's identity ...
    let (s, b) = env.c.call(M::POST, "/api/v1/users", Some(&lead), Some(json!({"email": "spy@one.test", "password": "spy-password-1", "role": "USER", "identity_id": i2}))).await;
    assert_eq!(s.as_u16(), 422, "{b}");
    // ... nor move one of its users onto it.
    let u = env.ok(M::POST, "/api/v1/users", &lead, json!({"email": "member@one.test", "password": "member-password-1", "role": "USER", "identity_id": i1}), 201).await;
    assert_eq!(u["team_id"], t1, "{u}");
    let (s, b) = env
        .c
        .call(
            M::PATCH,
            &format!("/api/v1/users/{}", u["id"]),
            Some(&lead),
            Some(json!({"identity_id": i2})),
        )
        .await;
    assert_eq!(s.as_u16(), 422, "{b}");
    let (_, still) = env
        .c
        .call(
            M::GET,
            &format!("/api/v1/users/{}", u["id"]),
            Some(&oa),
            None,
        )
        .await;
    assert_eq!(still["identity_id"], i1, "{still}");

    // Nor can an ORG_ADMIN create a mismatched user or key by mistake.
    let (s, b) = env.c.call(M::POST, "/api/v1/users", Some(&oa), Some(json!({"email": "mixed@one.test", "password": "mixed-password-1", "role": "USER", "team_id": t1, "identity_id": i2}))).await;
    assert_eq!(s.as_u16(), 422, "{b}");
    let (s, b) = env
        .c
        .call(
            M::POST,
            "/api/v1/api-keys",
            Some(&oa),
            Some(json!({"name": "mixed", "team_id": t1, "identity_id": i2})),
        )
        .await;
    assert_eq!(s.as_u16(), 422, "{b}");
    // Moving a user to another team without a matching identity is refused too.
    let (s, b) = env
        .c
        .call(
            M::PATCH,
            &format!("/api/v1/users/{}", u["id"]),
            Some(&oa),
            Some(json!({"team_id": t2})),
        )
        .await;
    assert_eq!(s.as_u16(), 422, "{b}");
    // A matching pair is fine, and an identity alone brings its team.
    env.ok(
        M::PATCH,
        &format!("/api/v1/users/{}", u["id"]),
        &oa,
        json!({"team_id": t2, "identity_id": i2}),
        200,
    )
    .await;
    let k = env
        .ok(
            M::POST,
            "/api/v1/api-keys",
            &oa,
            json!({"name": "one", "identity_id": i1}),
            201,
        )
        .await;
    assert_eq!(
        (k["team_id"].clone(), k["organization_id"].as_i64()),
        (t1, Some(org)),
        "{k}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn platform_settings_are_the_super_admins() {
    let env = Env::sqlite_with(|s| s.rate_limit.org_per_minute = 100).await;
    let (org, oa) = env.org("Tenant").await;
    let path = format!("/api/v1/organizations/{org}");
    let patch = |tok: &str, settings: Value| {
        let (c, tok, path) = (&env.c, tok.to_string(), path.clone());
        async move {
            c.call(
                M::PATCH,
                &path,
                Some(&tok),
                Some(json!({ "settings": settings })),
            )
            .await
        }
    };
    // An ORG_ADMIN cannot raise its limits (today's review: to 4 billion a minute) or allow LLM use.
    let (s, b) = patch(&oa, json!({"rate_limit_per_minute": 4_000_000_000_u64})).await;
    assert_eq!(s.as_u16(), 422, "{b}");
    let (s, b) = patch(&oa, json!({"rate_limit_per_minute": 1000})).await;
    assert_eq!(s.as_u16(), 403, "{b}");
    let (s, b) = patch(&oa, json!({"rate_limit_per_hour": 5000})).await;
    assert_eq!(s.as_u16(), 403, "{b}");
    let (s, b) = patch(&oa, json!({"ai_policy": "allow_llm"})).await;
    assert_eq!(s.as_u16(), 403, "{b}");
    // It may lower them, and change its own settings; a PATCH changes only the keys it names.
    let (s, b) = patch(&oa, json!({"rate_limit_per_minute": 50})).await;
    assert_eq!(s.as_u16(), 200, "{b}");
    let (s, b) = patch(&oa, json!({"scrub_level": "pii_only"})).await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(
        b["settings"],
        json!({"scrub_level": "pii_only", "ai_policy": "rules_only", "rate_limit_per_minute": 50, "rate_limit_per_hour": null}),
        "{b}"
    );
    // The SUPER_ADMIN sets the platform's settings; the ORG_ADMIN may then turn LLM use off again and
    // go back to the (lower) default.
    let (s, b) = patch(
        &env.sa,
        json!({"ai_policy": "allow_llm", "rate_limit_per_minute": 5000}),
    )
    .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(b["settings"]["scrub_level"], "pii_only", "{b}");
    let (s, b) = patch(
        &oa,
        json!({"ai_policy": "rules_only", "rate_limit_per_minute": null}),
    )
    .await;
    assert_eq!(s.as_u16(), 200, "{b}");
    assert_eq!(
        (
            b["settings"]["ai_policy"].clone(),
            b["settings"]["rate_limit_per_minute"].clone()
        ),
        (json!("rules_only"), Value::Null),
        "{b}"
    );
}
