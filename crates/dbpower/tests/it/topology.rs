//! The split deployment on loopback: two `dbpower gateway`s, each in front of its own `dbpower backend`,
//! sharing one PostgreSQL database (`DBPOWER_TEST_POSTGRES_URL`) and one Redis (`DBPOWER_TEST_REDIS_URL`).
//! One organization's 300 concurrent requests spread over both gateways are allowed exactly 100 times
//! per minute; a backend that dies fails only the requests sent to it, as a JSON 502.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(role: &str, env: &[(String, String)]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbpower"));
    cmd.args([role, "--listen", "127.0.0.1:0"])
        .env("DBPOWER_LOG_LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let banner = lines.next().expect("banner").expect("read");
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("{banner}"))
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    Proc {
        child,
        base: format!("http://{addr}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_share_exact_limits_and_a_dead_backend_fails_only_its_requests() {
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
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(std::iter::once((
        "DBPOWER_RATE_LIMIT__REDIS_PREFIX".to_string(),
        format!("dbpower-topology:{}:", uuid::Uuid::new_v4().simple()),
    )))
    .collect();
    let backend1 = spawn("backend", &common);
    let backend2 = spawn("backend", &common);
    let analyzer = spawn("analyzer", &common);
    let gateway = |backend: &Proc| {
        let mut env = common.clone();
        env.push(("DBPOWER_GATEWAY__BACKEND_URL".into(), backend.base.clone()));
        env.push((
            "DBPOWER_GATEWAY__ANALYZER_URL".into(),
            analyzer.base.clone(),
        ));
        spawn("gateway", &env)
    };
    let (gw1, gw2) = (gateway(&backend1), gateway(&backend2));
    let http = reqwest::Client::new();

    let health: Value = http
        .get(format!("{}/health", gw1.base))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok", "{health}");

    let login = |base: String, email: &'static str, password: &'static str| {
        let http = http.clone();
        async move {
            let r: Value = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": email, "password": password}))
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
        "admin@topology.test",
        "topology-password-1",
    )
    .await;
    let org: Value = http
        .post(format!("{}/api/v1/organizations", gw1.base))
        .bearer_auth(&sa)
        .json(&json!({"name": "Shared"}))
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
    let oa = login(gw2.base.clone(), "oa@shared.test", "oa-password-12").await;

    // 300 concurrent requests of one organization over both gateways: exactly 100 allowed.
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

    // A forged token is refused at the gateway.
    let r = http
        .get(format!("{}/api/v1/auth/me", gw1.base))
        .bearer_auth("not.a.token")
        .send()
        .await
        .expect("forged");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

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
    let health: Value = http
        .get(format!("{}/health", gw2.base))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "degraded", "{health}");

    // /analyzer/* goes to the analyzer.
    let r = http
        .post(format!("{}/analyzer/analyze", gw1.base))
        .bearer_auth(&sa)
        .json(&json!({"sql": "SELECT * FROM t WHERE YEAR(d) = 2024", "database_type": "mysql"}))
        .send()
        .await
        .expect("analyze");
    assert_eq!(r.status(), StatusCode::OK);
    drop((gw1, gw2, backend1, analyzer));
    dbpower_store::drop_postgres_database(&pg, &name)
        .await
        .expect("drop");
}
