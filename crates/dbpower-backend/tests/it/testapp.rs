//! `TestApp`: the real application on port 0 with a fresh database, plus a small typed HTTP client.

use std::path::PathBuf;

use dbpower_backend::{Application, Overrides, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) const ADMIN_EMAIL: &str = "root@dbpower.test";
pub(crate) const ADMIN_PASSWORD: &str = "root-password-123";

pub struct TestApp {
    pub base: String,
    /// The running app's store, for driving background work (retention) directly.
    pub store: std::sync::Arc<dyn dbpower_store::Store>,
    pub client: reqwest::Client,
    pub backend: &'static str,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

/// A response: status, parsed JSON body (Null when empty) and headers.
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestApp {
    /// Spawns the app; `postgres_server` selects a fresh PostgreSQL database on that server.
    pub async fn spawn(postgres_server: Option<&str>, env: &[(&str, &str)]) -> TestApp {
        install_crypto();
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match postgres_server {
            Some(server) => {
                let name = format!("dbpower_backend_{}", uuid::Uuid::new_v4().simple());
                Some(
                    dbpower_store::create_postgres_database(server, &name)
                        .await
                        .expect("DBPOWER_TEST_POSTGRES_URL is set but the server is unreachable"),
                )
            }
            None => None,
        };
        let mut vars: Vec<(String, String)> = vec![
            ("DBPOWER_BOOTSTRAP_EMAIL".into(), ADMIN_EMAIL.into()),
            ("DBPOWER_BOOTSTRAP_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("DBPOWER_PASSWORD_HASH_COST".into(), "4".into()),
            ("DBPOWER_DEMO".into(), "false".into()),
            // Suites make many requests from one address; the rate-limit test sets its own limits.
            (
                "DBPOWER_RATE_LIMIT__ORG_PER_MINUTE".into(),
                "1000000".into(),
            ),
            ("DBPOWER_RATE_LIMIT__ORG_PER_HOUR".into(), "1000000".into()),
            ("DBPOWER_RATE_LIMIT__IP_PER_MINUTE".into(), "1000000".into()),
        ];
        vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_path_buf()),
            database_url,
        };
        let (settings, _) = Settings::load_from(None, vars, &overrides).expect("settings");
        let app = Application::build(settings).await.expect("build app");
        let store = app.store().expect("the API role");
        let backend = store.backend();
        let addr = app.local_addr().expect("addr");
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        TestApp {
            base: format!("http://{addr}"),
            store,
            client: reqwest::Client::new(),
            backend,
            data_dir: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        Self::read(resp).await
    }

    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Resp {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.request(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Logs in to a platform account (`organization` `None`) or to an account of the organization
    /// with that name.
    pub async fn login_full(
        &self,
        email: &str,
        password: &str,
        organization: Option<&str>,
    ) -> Resp {
        let mut body = json!({"email": email, "password": password});
        if let Some(org) = organization {
            body["organization"] = org.into();
        }
        self.request(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// Logs in to a platform account and returns the access token (panics on failure).
    pub async fn login(&self, email: &str, password: &str) -> String {
        Self::access_token(self.login_full(email, password, None).await, email)
    }

    /// Logs in to an account of `organization` and returns the access token (panics on failure).
    pub async fn login_in(&self, organization: &str, email: &str, password: &str) -> String {
        Self::access_token(
            self.login_full(email, password, Some(organization)).await,
            email,
        )
    }

    fn access_token(r: Resp, email: &str) -> String {
        assert_eq!(r.status, StatusCode::OK, "login {email}: {r:?}");
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Creates something and returns its id, asserting 201.
    pub async fn create(&self, path: &str, token: &str, body: Value) -> i64 {
        let r = self.post(path, token, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {r:?}");
        r.body["id"].as_i64().expect("id")
    }
}

/// Runs `scenario` on a SQLite app, then on a PostgreSQL app when `DBPOWER_TEST_POSTGRES_URL` is set.
pub async fn on_all_backends(env: &[(&str, &str)], scenario: impl AsyncFn(&TestApp)) {
    let sqlite = TestApp::spawn(None, env).await;
    scenario(&sqlite).await;
    if let Ok(server) = std::env::var("DBPOWER_TEST_POSTGRES_URL") {
        let pg = TestApp::spawn(Some(&server), env).await;
        assert_eq!(pg.backend, "postgres");
        scenario(&pg).await;
    }
}
