//! The split deployment on loopback: two `dbpower gateway`s, each in front of its own `dbpower backend`
//! and `dbpower analyzer`, all sharing one PostgreSQL database (`DBPOWER_TEST_POSTGRES_URL`) and one
//! Redis (`DBPOWER_TEST_REDIS_URL`). One organization's 300 concurrent requests spread over both gateways
//! are allowed exactly 100 times per minute, and the refused client is let in again once the minute has
//! passed; an analyzer killed mid-job loses no job and none is analyzed twice; a backend that dies fails
//! only the requests sent to it, as a JSON 502.

use reqwest::StatusCode;
use serde_json::{Value, json};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Proc, post_signed_batch, psql, spawn_role};

/// A role of the binary with the test's environment, in the shared data directory.
fn spawn(role: &str, env: &[(String, String)]) -> Proc {
    let dir = env
        .iter()
        .find(|(k, _)| k == "DBPOWER_DATA_DIR")
        .map_or_else(std::env::temp_dir, |(_, v)| v.into());
    spawn_role(role, env, &dir)
}

/// An OpenAI-compatible stand-in that takes `delay` to answer each chat completion; counts requests.
async fn slow_llm(
    delay: std::time::Duration,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then the body its content-length announces.
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let content =
                    json!({"summary": "", "issues": [], "recommendations": []}).to_string();
                let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}], "usage": {"prompt_tokens": 10, "completion_tokens": 5}}).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/v1"), hits)
}

/// A gateway's `/health` body.
async fn health_of(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json")
}

/// Polls `f` every 50 ms for up to `secs` seconds until it returns true.
async fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_split_deployment_shares_limits_survives_dead_analyzers_and_backends() {
    let (Ok(pg), Ok(redis)) = (
        std::env::var("DBPOWER_TEST_POSTGRES_URL"),
        std::env::var("DBPOWER_TEST_REDIS_URL"),
    ) else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let name = format!("dbpower_topology_{}", std::process::id());
    dbpower_store::drop_postgres_database(&pg, &name)
        .await
        .expect("DBPOWER_TEST_POSTGRES_URL is set but unreachable");
    let url = dbpower_store::create_postgres_database(&pg, &name)
        .await
        .expect("create database");
    let dir = tempfile::tempdir().expect("tmp");
    let common: Vec<(String, String)> = [
        ("DBPOWER_DATABASE_URL", url.as_str()),
        ("DBPOWER_REDIS_URL", redis.as_str()),
        (
            "DBPOWER_JWT_SECRET",
            "5f0c1b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807f6e5d4c3b2a19080",
        ),
        (
            "DBPOWER_MASTER_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        ("DBPOWER_BOOTSTRAP_EMAIL", "admin@topology.test"),
        ("DBPOWER_BOOTSTRAP_PASSWORD", "topology-password-1"),
        ("DBPOWER_PASSWORD_HASH_COST", "4"),
        ("DBPOWER_DEMO", "false"),
        ("DBPOWER_DATA_DIR", dir.path().to_str().expect("utf-8 path")),
        ("DBPOWER_RATE_LIMIT__ORG_PER_MINUTE", "100"),
        ("DBPOWER_RATE_LIMIT__IP_PER_MINUTE", "100000"),
        // Exact shared counts are what is tested here, not the fallback (covered by the limiter's own
        // tests): a loaded CI host must not turn slow Redis answers into per-process decisions.
        ("DBPOWER_RATE_LIMIT__REDIS_TIMEOUT_MS", "5000"),
        // Analysis happens in the analyzers only, with a short lease so a dead one's job moves on fast.
        ("DBPOWER_ANALYSIS_WORKERS", "0"),
        ("DBPOWER_ANALYSIS_LEASE_SECS", "2"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(std::iter::once((
        "DBPOWER_RATE_LIMIT__REDIS_PREFIX".to_string(),
        format!("dbpower-topology:{}:", uuid::Uuid::new_v4().simple()),
    )))
    .collect();
    // Each analyzer has its own slow LLM stand-in, so the test sees which one took the job.
    let analyzer = |llm: &str| {
        let mut env: Vec<(String, String)> = common
            .iter()
            .filter(|(k, _)| k != "DBPOWER_ANALYSIS_WORKERS")
            .cloned()
            .collect();
        env.push(("DBPOWER_LLM__PROVIDER".into(), "openai".into()));
        env.push(("DBPOWER_LLM__BASE_URL".into(), llm.into()));
        env.push(("DBPOWER_LLM__MODEL".into(), "slow-model".into()));
        spawn("analyzer", &env)
    };
    let (llm1, hits1) = slow_llm(Duration::from_secs(3)).await;
    let (llm2, hits2) = slow_llm(Duration::from_secs(3)).await;
    let backend1 = spawn("backend", &common);
    let backend2 = spawn("backend", &common);
    let mut analyzers = vec![Some(analyzer(&llm1)), Some(analyzer(&llm2))];
    let gateway = |backend: &Proc, analyzer: &Proc| {
        let mut env = common.clone();
        env.push(("DBPOWER_GATEWAY__BACKEND_URL".into(), backend.base.clone()));
        env.push((
            "DBPOWER_GATEWAY__ANALYZER_URL".into(),
            analyzer.base.clone(),
        ));
        spawn("gateway", &env)
    };
    let gw1 = gateway(&backend1, analyzers[0].as_ref().expect("analyzer 1"));
    let gw2 = gateway(&backend2, analyzers[1].as_ref().expect("analyzer 2"));
    let http = reqwest::Client::new();

    let health = health_of(&http, &gw1.base).await;
    assert_eq!(health["status"], "ok", "{health}");
    // The gateway serves the admin panel itself (client routes included) and forwards the API docs.
    let panel = http
        .get(format!("{}/queries", gw1.base))
        .send()
        .await
        .expect("panel");
    assert_eq!(panel.status(), StatusCode::OK);
    assert!(
        panel.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let doc = http
        .get(format!("{}/api/openapi.json", gw1.base))
        .send()
        .await
        .expect("doc");
    assert_eq!(doc.status(), StatusCode::OK);

    let login = |base: String, body: Value| {
        let http = http.clone();
        async move {
            let r: Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&body)
                .send()
                .await
                .expect("login")
                .json()
                .await
                .expect("json");
            r["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("login failed: {r}"))
                .to_string()
        }
    };
    let sa = login(
        gw1.base.clone(),
        json!({"email": "admin@topology.test", "password": "topology-password-1"}),
    )
    .await;
    let org: Value = http
        .post(format!("{}/api/v1/organizations", gw1.base))
        .bearer_auth(&sa)
        .json(&json!({"name": "Shared", "settings": {"ai_policy": "allow_llm"}}))
        .send()
        .await
        .expect("org")
        .json()
        .await
        .expect("json");
    let r = http
        .post(format!("{}/api/v1/users", gw2.base))
        .bearer_auth(&sa)
        .json(&json!({"email": "oa@shared.test", "password": "oa-password-12", "role": "ORG_ADMIN", "organization_id": org["id"]}))
        .send()
        .await
        .expect("user");
    assert_eq!(r.status(), StatusCode::CREATED);
    let oa = login(
        gw2.base.clone(),
        json!({"email": "oa@shared.test", "password": "oa-password-12", "organization": "Shared"}),
    )
    .await;

    // 300 concurrent requests of one organization over both gateways: exactly 100 allowed.
    let burst = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let base = if i % 2 == 0 {
            gw1.base.clone()
        } else {
            gw2.base.clone()
        };
        let (http, oa) = (http.clone(), oa.clone());
        tasks.push(tokio::spawn(async move {
            http.get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(&oa)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for t in tasks {
        match t.await.expect("task").expect("request") {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, limited), (100, 200));
    let refused = http
        .get(format!("{}/api/v1/auth/me", gw1.base))
        .bearer_auth(&oa)
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // A forged token is refused at the gateway.
    let r = http
        .get(format!("{}/api/v1/auth/me", gw1.base))
        .bearer_auth("not.a.token")
        .send()
        .await
        .expect("forged");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A signed batch through gateway 2; one analyzer claims the job and is killed mid-LLM-call.
    let key: Value = http
        .post(format!("{}/api/v1/api-keys", gw1.base))
        .bearer_auth(&sa)
        .json(&json!({"name": "agent", "organization_id": org["id"]}))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let batch = json!({"queries": [{"sql_text": "SELECT * FROM orders WHERE id = 7", "execution_time_ms": 900.0, "database_type": "mysql"}]});
    let r = post_signed_batch(&http, &gw2.base, &key, "batch-1", &batch).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.expect("json")["ids"][0]
        .as_i64()
        .expect("id");
    let hits = [hits1.clone(), hits2.clone()];
    let total =
        |h: &[Arc<AtomicUsize>; 2]| h[0].load(Ordering::SeqCst) + h[1].load(Ordering::SeqCst);
    assert!(
        wait_until(10, || total(&hits) >= 1).await,
        "an analyzer took the job"
    );
    let (victim, survivor) = if hits[0].load(Ordering::SeqCst) == 1 {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(
        (
            hits[victim].load(Ordering::SeqCst),
            hits[survivor].load(Ordering::SeqCst)
        ),
        (1, 0)
    );
    drop(analyzers[victim].take());
    // The survivor takes the job over once the lease expires, and finishes it; the job is not run a third time.
    let mut analysis = Value::Null;
    for _ in 0..150 {
        let d: Value = http
            .get(format!("{}/api/v1/slow-queries/{id}", gw1.base))
            .bearer_auth(&sa)
            .send()
            .await
            .expect("detail")
            .json()
            .await
            .expect("json");
        if d["analysis"].is_object() {
            analysis = d["analysis"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        analysis["engine"],
        json!(["rules", "openai:slow-model"]),
        "{analysis}"
    );
    assert_eq!(
        hits[survivor].load(Ordering::SeqCst),
        1,
        "the survivor redid the job once"
    );
    assert_eq!(
        psql(&url, "SELECT status || ':' || attempts FROM analysis_jobs").trim(),
        "done:2"
    );
    assert_eq!(
        psql(&url, "SELECT count(*) FROM analysis_results").trim(),
        "1"
    );

    // /analyzer/* goes to the surviving analyzer's gateway.
    let via = if survivor == 0 { &gw1.base } else { &gw2.base };
    let r = http
        .post(format!("{via}/analyzer/analyze"))
        .bearer_auth(&sa)
        .json(&json!({"sql": "SELECT * FROM t WHERE YEAR(d) = 2024", "database_type": "mysql"}))
        .send()
        .await
        .expect("analyze");
    assert_eq!(r.status(), StatusCode::OK);

    // Backend 2 dies: gateway 2 answers 502 as JSON; gateway 1 keeps serving.
    drop(backend2);
    let r = http
        .get(format!("{}/api/v1/auth/me", gw2.base))
        .bearer_auth(&sa)
        .send()
        .await
        .expect("dead");
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_gateway", "{body}");
    let r = http
        .get(format!("{}/api/v1/auth/me", gw1.base))
        .bearer_auth(&sa)
        .send()
        .await
        .expect("alive");
    assert_eq!(r.status(), StatusCode::OK);
    let health = health_of(&http, &gw2.base).await;
    assert_eq!(health["status"], "degraded", "{health}");

    // The refused organization is not kept out: once the minute of the burst has passed, it gets in.
    let free_at = burst + Duration::from_secs(61);
    tokio::time::sleep(free_at.saturating_duration_since(Instant::now())).await;
    let r = http
        .get(format!("{}/api/v1/auth/me", gw1.base))
        .bearer_auth(&oa)
        .send()
        .await
        .expect("after the window");
    assert_eq!(r.status(), StatusCode::OK, "the window passed");
    assert_eq!(r.headers()["x-ratelimit-limit"], "100");

    drop((gw1, gw2, backend1, analyzers));
    dbpower_store::drop_postgres_database(&pg, &name)
        .await
        .expect("drop");
}
