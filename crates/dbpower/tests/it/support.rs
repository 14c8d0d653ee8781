//! Helpers the black-box suites share: running one role of the binary until dropped, and psql.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `dbpower <role>`, killed when dropped.
pub(crate) struct Proc {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dbpower <role> --listen 127.0.0.1:0` in `dir` with `env` and waits for its banner.
pub(crate) fn spawn_role(role: &str, env: &[(String, String)], dir: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbpower"));
    cmd.args([role, "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("DBPOWER_LOG_LEVEL", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn dbpower");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let banner = lines.next().expect("banner").expect("read");
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    Proc {
        child,
        base: format!("http://{addr}"),
    }
}

/// A fresh, empty PostgreSQL database `name` on the server of `DBPOWER_TEST_POSTGRES_URL` (dropped first
/// if a previous run left it); returns its URL. Fails the test when the server is set but unreachable.
pub(crate) async fn fresh_postgres_database(server: &str, name: &str) -> String {
    dbpower_store::drop_postgres_database(server, name)
        .await
        .expect("DBPOWER_TEST_POSTGRES_URL is set but unreachable");
    dbpower_store::create_postgres_database(server, name)
        .await
        .expect("create database")
}

/// Runs one SQL text with psql (stop on the first error); returns its unaligned, tuples-only output.
pub(crate) fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            url,
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-A",
            "-t",
            "-q",
            "-c",
            sql,
        ])
        .output()
        .expect("DBPOWER_TEST_POSTGRES_URL is set but psql cannot be run");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `body` to `base`'s ingestion endpoint the way an agent does: signed with the api key's secret
/// (`key` is the create-key answer), under `request_id`.
pub(crate) async fn post_signed_batch(
    http: &reqwest::Client,
    base: &str,
    key: &serde_json::Value,
    request_id: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    let raw = serde_json::to_vec(body).expect("body");
    let ts = chrono::Utc::now().timestamp();
    let sig = dbpower_core::signing::sign(
        key["secret"].as_str().expect("secret"),
        ts,
        request_id,
        "POST",
        "/api/v1/slow-queries",
        &raw,
    );
    http.post(format!("{base}/api/v1/slow-queries"))
        .header("content-type", "application/json")
        .header("x-api-key", key["key_id"].as_str().expect("key id"))
        .header("x-request-id", request_id)
        .header("x-timestamp", ts.to_string())
        .header("x-signature", sig)
        .body(raw)
        .send()
        .await
        .expect("ingest")
}
