//! Requests from outside, each reproducing a finding of the review against a running `dbpower serve`:
//! unauthenticated logins growing the audit log, client addresses behind a proxy, a lowercase `bearer`
//! escaping the organization's limits, an agent locked out by junk naming its key id, metric series
//! grown by unknown paths, a signature timestamp that wrapped around, plan keys kept verbatim, and a body
//! read in full for a key that does not exist.

use dbpower_testkit::{ApiKey, Proc, Role, Settings, signed_batch_request};
use reqwest::Method as M;
use serde_json::{Value, json};

use super::tenants::{Env, OWNER};

use crate::support::{bin, bootstrap, post_signed_batch};

fn login_request(env: &Env, body: &Value) -> reqwest::RequestBuilder {
    env.c
        .http()
        .post(env.c.url("/api/v1/auth/login"))
        .json(body)
}

/// A login as the client sends it.
async fn login_raw(env: &Env, body: &Value) -> reqwest::Response {
    login_request(env, body).send().await.expect("login")
}

/// A login through a proxy that says the client is `forwarded_for`.
async fn login_forwarded(env: &Env, body: &Value, forwarded_for: &str) -> reqwest::Response {
    login_request(env, body)
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("login")
}

/// Sends one signed batch with `key` and returns the id of the newest stored slow query.
pub(super) async fn ingest_one(
    env: &Env,
    oa: &str,
    key: &Value,
    request_id: &str,
    body: &Value,
) -> i64 {
    let r = post_signed_batch(&reqwest::Client::new(), env.c.base(), key, request_id, body).await;
    assert_eq!(r.status().as_u16(), 202);
    let (_, list) = env
        .c
        .call(M::GET, "/api/v1/slow-queries", Some(oa), None)
        .await;
    list["items"][0]["id"].as_i64().expect("id")
}

/// Failed `auth.login` rows of the platform's audit log.
async fn failed_logins(env: &Env) -> Vec<Value> {
    let path = "/api/v1/audit-logs?action=auth.login&per_page=200";
    let mut items = env.c.items(path, &env.sa).await;
    items.retain(|e| e["outcome"] == "failure");
    items
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_logins_cannot_grow_the_audit_log() {
    let env = Env::sqlite().await;
    let huge = format!("{}@example.com", "a".repeat(1024 * 1024));
    for _ in 0..40 {
        let r = login_raw(&env, &json!({"email": huge, "password": "x"})).await;
        assert_eq!(r.status().as_u16(), 422);
        let b: Value = r.json().await.expect("json");
        assert_eq!(b["error"]["field"], "email", "{b}");
    }
    // The organization a login names is bounded the same way (a name is at most 200 characters, no
    // control characters), before any lookup or hashing.
    for organization in ["o".repeat(1024 * 1024), "Acme\u{0}Corp".to_string()] {
        let body = json!({"email": "a@example.com", "password": "x", "organization": organization});
        let r = login_raw(&env, &body).await;
        assert_eq!(r.status().as_u16(), 422);
        let b: Value = r.json().await.expect("json");
        assert_eq!(b["error"]["field"], "organization", "{b}");
    }
    // One account hammered: 5 failures are recorded one by one, then the throttled attempts collapse
    // into one row per address and window.
    for _ in 0..60 {
        login_raw(
            &env,
            &json!({"email": "victim@example.com", "password": "wrong-password"}),
        )
        .await;
    }
    let rows = failed_logins(&env).await;
    let throttled = rows
        .iter()
        .filter(|r| r["details"]["reason"] == "throttled")
        .count();
    assert_eq!(
        (rows.len(), throttled),
        (6, 1),
        "5 bad passwords and one throttled row: {rows:?}"
    );
    assert!(
        rows.iter().all(|r| r["details"].to_string().len() < 1024),
        "no row carries a huge email"
    );
    let (s, v) = env
        .c
        .call(M::GET, "/api/v1/audit-logs/verify", Some(&env.sa), None)
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_behind_a_trusted_proxy_are_told_apart() {
    // This test's client plays the proxy: it connects from 127.0.0.1 and names the client.
    let env = Env::sqlite_with(|s| s.trusted_proxies = Some("127.0.0.1".into())).await;
    // One address fails 30 logins on 30 accounts: that address is locked out ...
    let mut last = 0;
    for i in 0..32 {
        last = login_forwarded(
            &env,
            &json!({"email": format!("guess{i}@example.com"), "password": "wrong-password"}),
            "203.0.113.5",
        )
        .await
        .status()
        .as_u16();
    }
    assert_eq!(last, 429, "the attacking address is throttled");
    // ... and nobody else is.
    let r = login_forwarded(
        &env,
        &json!({"email": OWNER.0, "password": OWNER.1}),
        "198.51.100.7",
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let rows = failed_logins(&env).await;
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["ip"] == "203.0.113.5"),
        "audit rows carry the client's address: {rows:?}"
    );

    // Without a trusted proxy the header is the client's own word and is ignored.
    let plain = Env::sqlite().await;
    login_forwarded(
        &plain,
        &json!({"email": "nobody@example.com", "password": "wrong-password"}),
        "203.0.113.99",
    )
    .await;
    let rows = failed_logins(&plain).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["ip"], "127.0.0.1", "{rows:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bearer_scheme_in_any_case_counts_against_the_organization() {
    let env = Env::sqlite_with(|s| s.rate_limit.org_per_minute = 5).await;
    let (_, oa) = env.org("Limited").await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for scheme in [
        "bearer", "BEARER", "Bearer", "bEaReR", "bearer", "bearer", "Bearer",
    ] {
        let r = http
            .get(format!("{}/api/v1/auth/me", env.c.base()))
            .header("authorization", format!("{scheme} {oa}"))
            .send()
            .await
            .expect("me");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 200, 429, 429],
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn junk_naming_a_key_id_does_not_lock_its_agent_out() {
    let env = Env::sqlite_with(|s| s.rate_limit.agent_per_minute = 3).await;
    let (_, oa) = env.org("Agents").await;
    let key = env.key(&oa).await;
    let http = reqwest::Client::new();
    let base = env.c.base().to_string();
    for i in 0..20 {
        let r = http
            .post(format!("{base}/api/v1/slow-queries"))
            .header("x-api-key", key["key_id"].as_str().expect("key id"))
            .header("x-request-id", format!("junk-{i}"))
            .header("x-timestamp", chrono::Utc::now().timestamp().to_string())
            .header("x-signature", "0".repeat(64))
            .body("{}")
            .send()
            .await
            .expect("junk");
        assert_eq!(r.status().as_u16(), 401);
    }
    let batch = json!({"queries": [{"sql_text": "SELECT 1", "execution_time_ms": 5.0, "database_type": "mysql"}]});
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = post_signed_batch(&http, &base, &key, &format!("real-{i}"), &batch).await;
        statuses.push((r.status().as_u16(), r.headers().contains_key("retry-after")));
    }
    // The key's own window (3 a minute) still applies to signed requests.
    assert_eq!(
        statuses,
        vec![(202, false), (202, false), (202, false), (429, true)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_add_no_metric_series() {
    let env = Env::sqlite().await;
    let http = reqwest::Client::new();
    let base = env.c.base().to_string();
    let metrics = || async {
        http.get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let probe = |from: u32, to: u32| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            for i in from..to {
                // Digit-free paths: the old normalization kept them as labels.
                let letters: String = format!("{i:04}")
                    .bytes()
                    .map(|b| char::from(b'a' + (b - b'0')))
                    .collect();
                for path in [
                    format!("/zzprobe-{letters}"),
                    format!("/api/v1/zzprobe-{letters}"),
                    format!("/queries/zzprobe-{letters}"),
                ] {
                    http.get(format!("{base}{path}"))
                        .send()
                        .await
                        .expect("probe");
                }
            }
        }
    };
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    probe(0, 100).await;
    // The scrape itself is a route with its own series: count it once before comparing.
    metrics().await;
    let first = metrics().await;
    probe(100, 400).await;
    let second = metrics().await;
    assert!(!second.contains("zzprobe"), "a path became a label");
    assert_eq!(
        series(&first),
        series(&second),
        "300 more unknown paths added series"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timestamp_far_in_the_past_does_not_wrap_into_the_window() {
    let env = Env::sqlite().await;
    let (_, oa) = env.org("Clock").await;
    let key = env.key(&oa).await;
    let raw = serde_json::to_vec(&json!({"queries": [{"sql_text": "SELECT 1", "execution_time_ms": 5.0, "database_type": "mysql"}]})).expect("body");
    let now = chrono::Utc::now().timestamp();
    // `now - 2^63`: the review's value, whose distance to now overflowed.
    let http = reqwest::Client::new();
    for ts in [i64::MIN + now, i64::MIN, now - 400, now + 400] {
        let key = ApiKey::from_created(&key);
        let r = signed_batch_request(&http, env.c.base(), &key, "clock-1", ts, raw.clone())
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 401, "ts {ts}");
        let b: Value = r.json().await.expect("json");
        assert_eq!(b["error"]["code"], "timestamp_out_of_window", "{b}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_keys_are_scrubbed_like_values() {
    let env = Env::sqlite().await;
    let (_, oa) = env.org("Plans").await;
    let key = env.key(&oa).await;
    let body = json!({"queries": [{"sql_text": "SELECT * FROM accounts WHERE email = 'x'", "execution_time_ms": 5.0,
        "database_type": "mysql", "explain": {"query_block": {"select_id": 1,
            "customer zqx.secret@example.com 'zqxliteral'": {"attached_condition": "(email = 'zqxvalue')"}}}}]});
    let id = ingest_one(&env, &oa, &key, "plan-keys", &body).await;
    let (_, detail) = env
        .c
        .call(
            M::GET,
            &format!("/api/v1/slow-queries/{id}"),
            Some(&oa),
            None,
        )
        .await;
    let plan = detail["explain"].to_string();
    assert!(
        plan.contains("query_block") && plan.contains("select_id"),
        "{plan}"
    );
    assert!(
        !plan.contains("zqx"),
        "no literal, email or value left in the plan: {plan}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_key_is_refused_before_its_body_is_read() {
    let env = Env::sqlite().await;
    refused_before_the_body(env.c.base().trim_start_matches("http://")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_the_gateway_an_unknown_key_is_refused_before_its_body_is_read() {
    // The gateway holds no keys: it streams the body instead of buffering it, so the backend's check of
    // the key (before any byte of the body) answers through it at once.
    let dir = tempfile::tempdir().expect("tmp");
    let (_backend, gateway) = split_deployment(dir.path());
    let addr = gateway.base.trim_start_matches("http://");
    refused_before_the_body(addr).await;
    // A body announced over the ingestion limit is refused by the gateway itself, also without waiting.
    let head = format!(
        "POST /api/v1/slow-queries HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{{",
        64 * 1024 * 1024
    );
    let answer = answer_before_the_body(addr, &head).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_the_gateway_an_agent_is_limited_by_its_key_and_junk_by_its_address() {
    // Three requests a minute per address at the gateway; the set-up goes to the backend directly.
    let dir = tempfile::tempdir().expect("tmp");
    let (backend, gateway) = split_deployment_with(dir.path(), |s| s.rate_limit.ip_per_minute = 3);
    let c = dbpower_testkit::Client::new(&backend.base);
    let t = c.login(OWNER.0, OWNER.1).await;
    let org = c
        .create("/api/v1/organizations", &t, json!({"name": "Agents"}))
        .await;
    let created = c
        .post(
            "/api/v1/api-keys",
            &t,
            json!({"name": "a", "organization_id": org}),
        )
        .await;
    let key = ApiKey::from_created(&created.body);
    let through = dbpower_testkit::Client::new(&gateway.base);
    let batch = json!({"queries": [{"sql_text": "SELECT 1", "execution_time_ms": 5.0, "database_type": "mysql"}]});
    // Verified batches do not use up the address's window.
    for i in 0..6 {
        let r = through.ingest(&key, &format!("ok-{i}"), &batch).await;
        assert_eq!(r.status.as_u16(), 202, "batch {i}: {r:?}");
    }
    // Forged ones do, refused by the backend or by the gateway itself (a missing header).
    let mut statuses = Vec::new();
    for i in 0..2 {
        statuses.push(
            through
                .ingest(&key.forged(), &format!("f-{i}"), &batch)
                .await
                .status
                .as_u16(),
        );
    }
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/slow-queries", gateway.base))
        .header("x-api-key", key.key_id.as_str())
        .body("{}")
        .send()
        .await
        .expect("send");
    statuses.push(r.status().as_u16());
    statuses.push(
        through
            .ingest(&key, "ok-after", &batch)
            .await
            .status
            .as_u16(),
    );
    assert_eq!(statuses, [401, 401, 401, 429]);
}

/// Announces 15 MiB and sends a few bytes: the server must not wait for the rest to refuse the key.
async fn refused_before_the_body(addr: &str) {
    let head = format!(
        "POST /api/v1/slow-queries HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: 15728640\r\nx-api-key: dbpk_doesnotexist\r\nx-request-id: slow-body\r\n\
         x-timestamp: {}\r\nx-signature: {}\r\n\r\n{{\"queries\": [",
        chrono::Utc::now().timestamp(),
        "0".repeat(64)
    );
    let answer = answer_before_the_body(addr, &head).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("unknown_api_key"), "{answer}");
}

/// Sends `head` (a request line, headers and the start of a body) and returns the first answer, which
/// must come within 5 s although the body announced is never completed.
async fn answer_before_the_body(addr: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(head.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A backend and its gateway on one SQLite database in `dir` (backend, gateway).
fn split_deployment(dir: &std::path::Path) -> (Proc, Proc) {
    split_deployment_with(dir, |_| {})
}

/// [`split_deployment`] with more settings for the gateway.
fn split_deployment_with(
    dir: &std::path::Path,
    gateway_settings: impl FnOnce(&mut Settings),
) -> (Proc, Proc) {
    let common = |s: &mut Settings| {
        s.data_dir = dir.to_path_buf();
        s.demo = Some(false);
        s.rate_limit.ip_per_minute = 100_000;
    };
    let backend = bin()
        .role(Role::Backend)
        .in_dir(dir)
        .with_settings(bootstrap(OWNER))
        .with_settings(common)
        .spawn();
    let gateway = bin()
        .role(Role::Gateway)
        .in_dir(dir)
        .with_settings(common)
        .with_settings(|s| s.gateway.backend_url = backend.base.clone())
        .with_settings(gateway_settings)
        .spawn();
    (backend, gateway)
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_the_gateway_a_chunked_body_is_cut_at_the_limit() {
    // No Content-Length to refuse up front: the gateway counts the chunks as it forwards them. Its
    // limit is set below the backend's, so a 413 can only be the gateway's.
    let dir = tempfile::tempdir().expect("tmp");
    let (_backend, gateway) = split_deployment_with(dir.path(), |s| s.max_body_bytes = 4096);
    let addr = gateway.base.trim_start_matches("http://");
    let small = format!(
        r#"{{"email": "{}", "password": "wrong-password"}}"#,
        OWNER.0
    );
    let (status, _) = chunked_post(addr, "/api/v1/auth/login", &[small.as_bytes()]).await;
    assert_eq!(status, 401, "a chunked body under the limit is forwarded");
    let padding = vec![b' '; 1024];
    let mut chunks: Vec<&[u8]> = vec![b"{\"email\": \"x@example.com\","];
    chunks.extend(std::iter::repeat_n(padding.as_slice(), 16));
    chunks.push(b"\"password\": \"x\"}");
    let (status, body) = chunked_post(addr, "/api/v1/auth/login", &chunks).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    let health = reqwest::get(format!("{}/health", gateway.base))
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200, "the gateway keeps serving");
}

/// POSTs `chunks` with `Transfer-Encoding: chunked` and returns the answer's status and body. Writes
/// after the server has answered may fail; the answer is what counts.
async fn chunked_post(addr: &str, path: &str, chunks: &[&[u8]]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let mut wire = head.into_bytes();
    for c in chunks {
        wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        wire.extend_from_slice(c);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    let _ = sock.write_all(&wire).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        sock.read_to_end(&mut answer),
    )
    .await
    .expect("answered");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_the_gateway_one_client_cannot_lock_everyone_out() {
    // The split deployment on one SQLite database: the backend trusts its gateway (loopback, the default)
    // and so sees each client's own address in X-Forwarded-For.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tmp");
    let (_backend, gateway) = split_deployment(dir.path());
    let http = reqwest::Client::new();
    let login = |who: &'static str, email: String, password: &'static str| {
        let (http, base) = (http.clone(), gateway.base.clone());
        async move {
            http.post(format!("{base}/api/v1/auth/login"))
                .header("x-forwarded-for", who)
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .expect("login")
                .status()
                .as_u16()
        }
    };
    let mut last = 0;
    for i in 0..32 {
        last = login(
            "203.0.113.5",
            format!("guess{i}@example.com"),
            "wrong-password",
        )
        .await;
    }
    assert_eq!(last, 429, "the attacking client is throttled");
    assert_eq!(
        login("198.51.100.7", OWNER.0.to_string(), OWNER.1).await,
        200,
        "another client is not locked out"
    );
}
