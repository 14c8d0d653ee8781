//! The suites' HTTP client: requests with a bearer token, responses read as JSON, the login split
//! (platform accounts log in without an organization, an organization's accounts with its name) and
//! ingestion batches signed the way an agent signs them.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A response: status, JSON body (`Null` when empty) and headers.
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

impl Resp {
    /// Reads a response; panics when the body is neither empty nor JSON.
    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {bytes:?}"))
        };
        Resp {
            status,
            body,
            headers,
        }
    }

    /// The body's `error.code`, when it is an error.
    pub fn error_code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }
}

/// An api key as its creation answered: the database id, the key id and the signing secret.
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: i64,
    pub key_id: String,
    pub secret: String,
}

impl ApiKey {
    /// The key in a `POST /api/v1/api-keys` answer.
    pub fn from_created(created: &Value) -> ApiKey {
        ApiKey {
            id: created["id"].as_i64().expect("api key id"),
            key_id: created["key_id"].as_str().expect("key_id").into(),
            secret: created["secret"].as_str().expect("secret").into(),
        }
    }

    /// The same key id with a secret that is not its own: its signatures are forged.
    pub fn forged(&self) -> ApiKey {
        ApiKey {
            secret: "wrong-secret".into(),
            ..self.clone()
        }
    }
}

/// `POST /api/v1/slow-queries` of `raw` to `base`, signed with `key` at `ts` under `request_id`, ready to
/// send (or to change first).
pub fn signed_batch_request(
    http: &reqwest::Client,
    base: &str,
    key: &ApiKey,
    request_id: &str,
    ts: i64,
    raw: Vec<u8>,
) -> reqwest::RequestBuilder {
    signed_request(http, base, "/api/v1/slow-queries", key, request_id, ts, raw)
}

/// `POST path` of `raw` to `base`, signed with `key` at `ts` under `request_id` as an agent signs.
pub fn signed_request(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    key: &ApiKey,
    request_id: &str,
    ts: i64,
    raw: Vec<u8>,
) -> reqwest::RequestBuilder {
    let signed = dbpower_core::signing::Signed {
        timestamp: ts,
        request_id,
        method: "POST",
        path_and_query: path,
        body: &raw,
    };
    let mut req = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/json");
    for (name, value) in signed.headers(&key.key_id, &key.secret) {
        req = req.header(name, value);
    }
    req.body(raw)
}

/// A client of one running app or binary.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// A client of `base` (`http://host:port`).
    pub fn new(base: &str) -> Client {
        crate::install_crypto();
        Client {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The underlying client, for requests the helpers do not make.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Resp::read(req.send().await.expect("request")).await
    }

    /// [`Client::request`] as `(status, body)`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let r = self.request(method, path, token, body).await;
        (r.status, r.body)
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.request(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }
    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// The `items` of one page of a list, asserting 200.
    pub async fn items(&self, path: &str, token: &str) -> Vec<Value> {
        let r = self.get(path, token).await;
        assert_eq!(r.status, StatusCode::OK, "GET {path}: {r:?}");
        match &r.body["items"] {
            Value::Array(items) => items.clone(),
            other => panic!("GET {path}: no items list: {other}"),
        }
    }

    /// Creates something and returns its id, asserting 201.
    pub async fn create(&self, path: &str, token: &str, body: Value) -> i64 {
        let r = self.post(path, token, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "POST {path}: {r:?}");
        r.body["id"].as_i64().expect("id")
    }

    /// The answer to a platform account's login (no organization).
    pub async fn try_login(&self, email: &str, password: &str) -> Resp {
        let body = json!({"email": email, "password": password});
        self.request(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// The answer to the login of an account of the organization named `organization`.
    pub async fn try_login_in(&self, organization: &str, email: &str, password: &str) -> Resp {
        let body = json!({"email": email, "password": password, "organization": organization});
        self.request(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// Logs in to a platform account; the access token (panics on failure).
    pub async fn login(&self, email: &str, password: &str) -> String {
        access_token(&self.try_login(email, password).await, email)
    }

    /// Logs in to an account of `organization`; the access token (panics on failure).
    pub async fn login_in(&self, organization: &str, email: &str, password: &str) -> String {
        access_token(
            &self.try_login_in(organization, email, password).await,
            email,
        )
    }

    /// Sends `body` as an agent does: signed with `key` now, under `request_id`.
    pub async fn ingest(&self, key: &ApiKey, request_id: &str, body: &Value) -> Resp {
        self.ingest_at(key, request_id, body, chrono::Utc::now().timestamp())
            .await
    }

    /// `POST path` of `body`, signed with `key` now under `request_id` (as ingestion is).
    pub async fn signed_post(
        &self,
        path: &str,
        key: &ApiKey,
        request_id: &str,
        body: &Value,
    ) -> Resp {
        let raw = serde_json::to_vec(body).expect("body");
        let ts = chrono::Utc::now().timestamp();
        let req = signed_request(&self.http, &self.base, path, key, request_id, ts, raw);
        Resp::read(req.send().await.expect("signed request")).await
    }

    /// Like [`Client::ingest`], signed at `ts`.
    pub async fn ingest_at(&self, key: &ApiKey, request_id: &str, body: &Value, ts: i64) -> Resp {
        let raw = serde_json::to_vec(body).expect("body");
        let req = signed_batch_request(&self.http, &self.base, key, request_id, ts, raw);
        Resp::read(req.send().await.expect("ingest")).await
    }
}

/// The access token of a successful login answer.
pub fn access_token(r: &Resp, email: &str) -> String {
    assert_eq!(r.status, StatusCode::OK, "login {email}: {r:?}");
    r.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}
