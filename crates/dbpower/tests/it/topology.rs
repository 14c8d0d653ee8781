//! The split deployment on loopback: two `dbpower gateway`s, each in front of its own `dbpower backend`
//! and `dbpower analyzer`, all sharing one PostgreSQL database (`DBPOWER_TEST_POSTGRES_URL`) and one
//! Redis (`DBPOWER_TEST_REDIS_URL`). Each scenario starts its own deployment (one at a time: six
//! processes with their connection pools each): one organization's 300 concurrent requests spread over
//! both gateways are allowed exactly 100 times per minute, and the refused client is let in again once
//! the minute has passed; an analyzer killed mid-job loses no job and none is analyzed twice; a backend
//! that dies fails only the requests sent to it, as a JSON 502.

use dbpower_testkit::{ApiKey, Proc, Role, Settings, TestDb, secret};
use reqwest::StatusCode;
use serde_json::{Value, json};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{bin, bootstrap, psql};

/// One deployment at a time.
static DEPLOYMENT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

/// The deployment of one scenario, with a platform administrator and an ORG_ADMIN of "Shared" logged in.
/// The processes stop before the database is checked and dropped.
struct Deployment {
    gw: [Proc; 2],
    backends: [Option<Proc>; 2],
    analyzers: [Option<Proc>; 2],
    /// How many chat completions each analyzer's LLM stand-in was asked for.
    hits: [Arc<AtomicUsize>; 2],
    http: reqwest::Client,
    sa: String,
    oa: String,
    org: Value,
    db: TestDb,
    _dir: tempfile::TempDir,
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

impl Deployment {
    /// `None` (the scenario skipped) unless PostgreSQL and Redis are both configured.
    async fn start() -> Option<Deployment> {
        let (Some(pg), Some(redis)) = (
            dbpower_testkit::postgres_server(),
            dbpower_testkit::service("REDIS_URL", "the split deployment"),
        ) else {
            return None;
        };
        let one_at_a_time = DEPLOYMENT.lock().await;
        dbpower_testkit::install_crypto();
        let db = TestDb::empty_postgres(&pg).await;
        let dir = tempfile::tempdir().expect("tmp");
        let prefix = format!("dbpower-topology:{}:", uuid::Uuid::new_v4().simple());
        let (url, data) = (db.url().to_string(), dir.path().to_path_buf());
        let common = move |s: &mut Settings| {
            s.database_url = Some(url.clone());
            s.redis_url = Some(secret(&redis));
            s.jwt_secret = Some(secret(
                "5f0c1b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807f6e5d4c3b2a19080",
            ));
            s.master_key = Some(secret(
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            ));
            s.demo = Some(false);
            s.data_dir = data.clone();
            s.rate_limit.org_per_minute = 100;
            s.rate_limit.org_per_hour = 1000;
            s.rate_limit.ip_per_minute = 100_000;
            // Exact shared counts are what is tested here, not the fallback (covered by the limiter's own
            // tests): a loaded CI host must not turn slow Redis answers into per-process decisions.
            s.rate_limit.redis_timeout_ms = 5000;
            s.rate_limit.redis_prefix = prefix.clone();
            // A short lease, so that a dead analyzer's job moves on fast.
            s.analysis_lease_secs = 2;
        };
        let role = |role: Role| {
            bin()
                .role(role)
                .in_dir(dir.path())
                .with_settings(bootstrap(("admin@topology.test", "topology-password-1")))
                .with_settings(common.clone())
        };
        // Analysis happens in the analyzers only, each with its own slow LLM stand-in, so the test sees
        // which one took the job.
        let (llm1, hits1) = slow_llm(Duration::from_secs(3)).await;
        let (llm2, hits2) = slow_llm(Duration::from_secs(3)).await;
        let analyzer = |llm: String| {
            role(Role::Analyzer)
                .with_settings(move |s| {
                    s.llm.provider = dbpower_testkit::named("openai");
                    s.llm.base_url = Some(llm);
                    s.llm.model = Some("slow-model".into());
                })
                .spawn()
        };
        let backend = || {
            role(Role::Backend)
                .with_settings(|s| s.analysis_workers = 0)
                .spawn()
        };
        let backends = [backend(), backend()];
        let analyzers = [analyzer(llm1), analyzer(llm2)];
        let gateway = |i: usize| {
            let (b, a) = (backends[i].base.clone(), analyzers[i].base.clone());
            role(Role::Gateway)
                .with_settings(move |s| {
                    s.gateway.backend_url = b;
                    s.gateway.analyzer_url = a;
                })
                .spawn()
        };
        let gw = [gateway(0), gateway(1)];
        let (c1, c2) = (gw[0].client(), gw[1].client());
        let sa = c1.login("admin@topology.test", "topology-password-1").await;
        let org = c1
            .post(
                "/api/v1/organizations",
                &sa,
                json!({"name": "Shared", "settings": {"ai_policy": "allow_llm"}}),
            )
            .await
            .body;
        c2.create("/api/v1/users", &sa, json!({"email": "oa@shared.test", "password": "oa-password-12", "role": "ORG_ADMIN", "organization_id": org["id"]})).await;
        let oa = c2
            .login_in("Shared", "oa@shared.test", "oa-password-12")
            .await;
        let [b1, b2] = backends;
        let [a1, a2] = analyzers;
        Some(Deployment {
            gw,
            backends: [Some(b1), Some(b2)],
            analyzers: [Some(a1), Some(a2)],
            hits: [hits1, hits2],
            http: reqwest::Client::new(),
            sa,
            oa,
            org,
            db,
            _dir: dir,
            _one_at_a_time: one_at_a_time,
        })
    }

    fn base(&self, gateway: usize) -> &str {
        &self.gw[gateway].base
    }

    async fn me(&self, gateway: usize, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/api/v1/auth/me", self.base(gateway)))
            .bearer_auth(token)
            .send()
            .await
            .expect("me")
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // Every process stops before the database is checked (field order would check it first).
        self.backends = [None, None];
        self.analyzers = [None, None];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateways_serve_the_panel_forward_the_api_docs_and_refuse_forged_tokens() {
    let Some(d) = Deployment::start().await else {
        return;
    };
    let health = health_of(&d.http, d.base(0)).await;
    assert_eq!(health["status"], "ok", "{health}");
    // The gateway serves the admin panel itself (client routes included) and forwards the API docs.
    let panel = d
        .http
        .get(format!("{}/queries", d.base(0)))
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
    let doc = d
        .http
        .get(format!("{}/api/openapi.json", d.base(0)))
        .send()
        .await
        .expect("doc");
    assert_eq!(doc.status(), StatusCode::OK);
    assert_eq!(
        d.me(0, "not.a.token").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The live stream goes through the gateway as it is produced (not buffered to the end): its first
    // event arrives while the stream stays open.
    let mut stream = d
        .http
        .get(format!("{}/api/v1/stream", d.base(1)))
        .bearer_auth(&d.oa)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let first = tokio::time::timeout(Duration::from_secs(15), async {
        while !seen.contains("event: ingestion") {
            match stream.chunk().await {
                Ok(Some(c)) => seen.push_str(&String::from_utf8_lossy(&c)),
                _ => break,
            }
        }
    })
    .await;
    assert!(
        first.is_ok() && seen.contains("\"minute_rows\":0"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_organization_gets_exactly_its_limit_over_both_gateways_and_again_after_the_minute() {
    let Some(d) = Deployment::start().await else {
        return;
    };
    // 300 concurrent requests of one organization over both gateways: exactly 100 allowed.
    let burst = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..300 {
        let base = d.base(i % 2).to_string();
        let (http, oa) = (d.http.clone(), d.oa.clone());
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
    let refused = d.me(0, &d.oa).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // The refused organization is not kept out: once the minute of the burst has passed, it gets in.
    let free_at = burst + Duration::from_secs(61);
    tokio::time::sleep(free_at.saturating_duration_since(Instant::now())).await;
    let r = d.me(0, &d.oa).await;
    assert_eq!(r.status(), StatusCode::OK, "the window passed");
    assert_eq!(r.headers()["x-ratelimit-limit"], "100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_analyzer_killed_mid_job_loses_no_job_and_none_is_analyzed_twice() {
    let Some(mut d) = Deployment::start().await else {
        return;
    };
    // A signed batch through gateway 2; one analyzer claims the job and is killed mid-LLM-call.
    let created = d.gw[0]
        .client()
        .post(
            "/api/v1/api-keys",
            &d.sa,
            json!({"name": "agent", "organization_id": d.org["id"]}),
        )
        .await;
    let key = ApiKey::from_created(&created.body);
    let batch = json!({"queries": [{"sql_text": "SELECT * FROM orders WHERE id = 7", "execution_time_ms": 900.0, "database_type": "mysql"}]});
    let r = d.gw[1].client().ingest(&key, "batch-1", &batch).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let id = r.body["ids"][0].as_i64().expect("id");
    let hits = d.hits.clone();
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
    drop(d.analyzers[victim].take());
    // The survivor takes the job over once the lease expires, and finishes it; the job is not run a third time.
    let c = d.gw[0].client();
    let mut analysis = Value::Null;
    for _ in 0..150 {
        let detail = c.get(&format!("/api/v1/slow-queries/{id}"), &d.sa).await;
        if detail.body["analysis"].is_object() {
            analysis = detail.body["analysis"].clone();
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
    let url = d.db.url();
    assert_eq!(
        psql(url, "SELECT status || ':' || attempts FROM analysis_jobs").trim(),
        "done:2"
    );
    assert_eq!(
        psql(url, "SELECT count(*) FROM analysis_results").trim(),
        "1"
    );

    // /analyzer/* goes to the surviving analyzer's gateway.
    let r = d
        .http
        .post(format!("{}/analyzer/analyze", d.base(survivor)))
        .bearer_auth(&d.sa)
        .json(&json!({"sql": "SELECT * FROM t WHERE YEAR(d) = 2024", "database_type": "mysql"}))
        .send()
        .await
        .expect("analyze");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_backend_fails_only_its_gateways_requests_as_json_502() {
    let Some(mut d) = Deployment::start().await else {
        return;
    };
    // Backend 2 dies: gateway 2 answers 502 as JSON; gateway 1 keeps serving.
    drop(d.backends[1].take());
    let r = d.me(1, &d.sa).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_gateway", "{body}");
    assert_eq!(d.me(0, &d.sa).await.status(), StatusCode::OK);
    let health = health_of(&d.http, d.base(1)).await;
    assert_eq!(health["status"], "degraded", "{health}");
}
