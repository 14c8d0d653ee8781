//! Starts the real binary on a temporary data directory and walks the platform's first steps over HTTP.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) stdout: Vec<String>,
}

impl Server {
    /// The bootstrap password the banner printed (first start on an empty data directory).
    pub(crate) fn generated_password(&self) -> String {
        let banner = self.stdout.join("\n");
        banner
            .lines()
            .find_map(|l| l.split("with password ").nth(1))
            .unwrap_or_else(|| panic!("no generated password in {banner}"))
            .trim()
            .to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `dbpower serve` on a free port and waits for its banner.
pub(crate) fn start(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Server {
    start_on(dir, env, args, "127.0.0.1:0")
}

/// Runs `dbpower serve` on `listen` and waits for its banner (everything it prints before the first blank read).
pub(crate) fn start_on(dir: &Path, env: &[(&str, &str)], args: &[&str], listen: &str) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbpower"));
    cmd.arg("serve")
        .arg("--listen")
        .arg(listen)
        .args(args)
        .current_dir(dir);
    cmd.env("DBPOWER_PASSWORD_HASH_COST", "4")
        .env("DBPOWER_LOG_LEVEL", "warn")
        // Tests poll quickly from one address; the limits themselves are tested in the backend suite.
        .env("DBPOWER_RATE_LIMIT__ORG_PER_MINUTE", "1000000")
        .env("DBPOWER_RATE_LIMIT__IP_PER_MINUTE", "1000000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn dbpower");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("banner").expect("read banner");
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let mut out = vec![first];
    // The banner has a few more lines; read until the login hint is through.
    for line in lines.by_ref().take(4) {
        let line = line.expect("line");
        let done = line.contains("Demo organization") || line.contains("Log in");
        out.push(line);
        if done
            && !out
                .last()
                .is_some_and(|l| l.contains("Log in as admin@dbpower.local with password"))
        {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base: format!("http://{addr}"),
        stdout: out,
    }
}

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub(crate) fn new(base: &str) -> Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }
    pub(crate) fn base(&self) -> &str {
        &self.base
    }
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("text");
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).expect("json")
            },
        )
    }
    /// Logs in to a platform account (panics on failure) and returns the token response.
    pub(crate) async fn login(&self, email: &str, password: &str) -> Value {
        self.login_with(json!({"email": email, "password": password}))
            .await
    }

    /// Logs in to an account of the organization named `organization`.
    pub(crate) async fn login_in(&self, organization: &str, email: &str, password: &str) -> Value {
        self.login_with(json!({"email": email, "password": password, "organization": organization}))
            .await
    }

    async fn login_with(&self, body: Value) -> Value {
        let (s, b) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "login {}: {b}", body["email"]);
        b
    }
}

pub(crate) fn token(login: &Value) -> String {
    login["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// The walk-through: bootstrap admin, organization, team, identity, ORG_ADMIN, USER; the USER's
/// limits; refresh rotation and reuse detection; an audit log that lists each step and verifies.
async fn new_user_walkthrough(database_url: Option<&str>) {
    use reqwest::Method as M;
    let dir = tempfile::tempdir().expect("tmp");
    let mut env = vec![
        ("DBPOWER_BOOTSTRAP_EMAIL", "owner@example.com"),
        ("DBPOWER_BOOTSTRAP_PASSWORD", "owner-password-1"),
    ];
    if let Some(url) = database_url {
        env.push(("DBPOWER_DATABASE_URL", url));
    }
    let server = start(dir.path(), &env, &["--data-dir", "data"]);
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("Log in as owner@example.com")),
        "{:?}",
        server.stdout
    );
    let c = Client::new(&server.base);

    let sa = token(&c.login("owner@example.com", "owner-password-1").await);
    let (s, org) = c
        .call(
            M::POST,
            "/api/v1/organizations",
            Some(&sa),
            Some(json!({"name": "Acme Corp"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{org}");
    let org_id = org["id"].as_i64().expect("id");
    let (s, other) = c
        .call(
            M::POST,
            "/api/v1/organizations",
            Some(&sa),
            Some(json!({"name": "Other Corp"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let other_id = other["id"].as_i64().expect("id");
    let (_, team) = c
        .call(
            M::POST,
            "/api/v1/teams",
            Some(&sa),
            Some(json!({"name": "DBA", "organization_id": org_id})),
        )
        .await;
    let team_id = team["id"].as_i64().expect("team id");
    let (_, ident) = c
        .call(
            M::POST,
            "/api/v1/identities",
            Some(&sa),
            Some(json!({"name": "orders-db", "team_id": team_id})),
        )
        .await;
    let ident_id = ident["id"].as_i64().expect("identity id");
    let (s, _) = c
        .call(M::POST, "/api/v1/users", Some(&sa), Some(json!({"email": "admin@acme.example", "password": "admin-password-1", "role": "ORG_ADMIN", "organization_id": org_id})))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let oa = token(
        &c.login_in("Acme Corp", "admin@acme.example", "admin-password-1")
            .await,
    );
    let (s, _) = c
        .call(M::POST, "/api/v1/users", Some(&oa), Some(json!({"email": "dev@acme.example", "password": "dev-password-12", "role": "USER", "team_id": team_id, "identity_id": ident_id})))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, other_user) = c
        .call(M::POST, "/api/v1/users", Some(&sa), Some(json!({"email": "x@other.example", "password": "x-password-123", "role": "USER", "organization_id": other_id})))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let dev_login = c
        .login_in("Acme Corp", "dev@acme.example", "dev-password-12")
        .await;
    let dev = token(&dev_login);
    let (s, users) = c.call(M::GET, "/api/v1/users", Some(&dev), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        users["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|u| u["organization_id"] == org_id),
        "{users}"
    );
    let (s, _) = c
        .call(
            M::GET,
            &format!("/api/v1/users/{}", other_user["id"]),
            Some(&dev),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = c
        .call(
            M::POST,
            "/api/v1/users",
            Some(&dev),
            Some(json!({"email": "y@acme.example", "password": "y-password-123", "role": "USER"})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    let rt0 = dev_login["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let (s, rotated) = c
        .call(
            M::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": rt0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let rt1 = rotated["refresh_token"].as_str().expect("rt1").to_string();
    let (s, e) = c
        .call(
            M::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": rt0})),
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_reused"))
    );
    let (s, _) = c
        .call(
            M::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": rt1})),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the whole family is revoked");

    let (_, audit) = c
        .call(M::GET, "/api/v1/audit-logs?per_page=100", Some(&oa), None)
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "team.create",
        "identity.create",
        "user.create",
        "auth.login",
        "auth.refresh",
        "auth.refresh_reuse",
    ] {
        assert!(actions.contains(&want), "{want} not in {actions:?}");
    }
    let (_, verify) = c
        .call(M::GET, "/api/v1/audit-logs/verify", Some(&oa), None)
        .await;
    assert_eq!(verify["valid"], true, "{verify}");
    drop(server);

    // The same verification from the command line.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbpower"));
    cmd.args(["audit", "verify", "--data-dir", "data"])
        .current_dir(dir.path())
        .env("DBPOWER_LOG_LEVEL", "warn");
    if let Some(url) = database_url {
        cmd.env("DBPOWER_DATABASE_URL", url);
    }
    let out = cmd.output().expect("audit verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok      platform")
            && text.contains(&format!("ok      organization {org_id}")),
        "{text}"
    );
}

#[tokio::test]
async fn new_user_walkthrough_on_sqlite() {
    new_user_walkthrough(None).await;
}

#[tokio::test]
async fn new_user_walkthrough_on_postgres() {
    let Ok(server) = std::env::var("DBPOWER_TEST_POSTGRES_URL") else {
        return;
    };
    let name = format!("dbpower_bin_{}", std::process::id());
    let url = crate::support::fresh_postgres_database(&server, &name).await;
    new_user_walkthrough(Some(&url)).await;
}

#[tokio::test]
async fn zero_configuration_start_prints_credentials_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = start(dir.path(), &[], &[]);
    let banner = server.stdout.join("\n");
    assert!(server.base.starts_with("http://127.0.0.1:"), "{banner}");
    let password = server.generated_password();
    let file = dir.path().join("dbpower-data/bootstrap-admin.txt");
    let saved = std::fs::read_to_string(&file).expect("credentials file");
    assert!(saved.contains(&password));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        dir.path().join("dbpower-data/dbpower.db").exists(),
        "SQLite file in the default data dir"
    );
    let c = Client::new(&server.base);
    let t = token(&c.login("admin@dbpower.local", &password).await);
    let (_, orgs) = c
        .call(
            reqwest::Method::GET,
            "/api/v1/organizations",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(orgs["items"][0]["name"], "Demo Organization", "{orgs}");
    // The demo organization's dashboard is alive: a week of slow queries in about 20 classes.
    let (_, dash) = c
        .call(
            reqwest::Method::GET,
            "/api/v1/stats/dashboard",
            Some(&t),
            None,
        )
        .await;
    assert!(dash["total_queries"].as_i64().unwrap_or(0) >= 200, "{dash}");
    let days = dash["chart_data"].as_array().expect("chart");
    assert_eq!(days.len(), 7);
    assert!(
        days.iter().all(|d| d["queries"].as_i64().unwrap_or(0) > 0),
        "every day has data: {dash}"
    );
    let (_, classes) = c
        .call(
            reqwest::Method::GET,
            "/api/v1/query-classes?per_page=100",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(classes["total"], 20, "{classes}");
    let dump = classes.to_string();
    for pii in ["@example.com", "4532-0151", "192.168.", "+1 415"] {
        assert!(
            !dump.contains(pii),
            "demo data is scrubbed like any other: {pii}"
        );
    }
    drop(server);

    // A restart neither re-prints the password nor creates a second demo organization.
    let again = start(dir.path(), &[], &[]);
    let banner = again.stdout.join("\n");
    assert!(!banner.contains(&password), "{banner}");
    assert!(banner.contains("bootstrap-admin.txt"), "{banner}");
    let c = Client::new(&again.base);
    let t = token(&c.login("admin@dbpower.local", &password).await);
    let (_, orgs) = c
        .call(
            reqwest::Method::GET,
            "/api/v1/organizations",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(orgs["total"], 1);
}

#[test]
fn production_mode_refuses_unsafe_defaults() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_dbpower"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("DBPOWER_ENV", "production")
        .env("DBPOWER_JWT_SECRET", "changeme")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DBPOWER_JWT_SECRET")
            && err.contains("DBPOWER_DATABASE_URL")
            && err.contains("DBPOWER_MASTER_KEY"),
        "{err}"
    );
    assert!(
        !dir.path().join("dbpower-data").exists(),
        "nothing written when refusing to start"
    );
}
