//! What the black-box suites share beyond the test kit (`dbpower-testkit`): the binary under test,
//! psql, and signed batches for api keys as their create answer gave them.

use std::process::Command;

use dbpower_testkit::{ApiKey, Binary, ProcBuilder, Settings, signed_batch_request};
use serde_json::Value;

/// The `dbpower` binary these tests run.
pub(crate) fn bin() -> Binary {
    Binary::new(env!("CARGO_BIN_EXE_dbpower"))
}

/// `dbpower serve` with the platform account `owner` (e-mail, password) bootstrapped.
pub(crate) fn serve_as(owner: (&str, &str)) -> ProcBuilder {
    bin().serve().with_settings(bootstrap(owner))
}

/// Settings that bootstrap the platform account `owner` (e-mail, password).
pub(crate) fn bootstrap(owner: (&str, &str)) -> impl FnOnce(&mut Settings) {
    let (email, password) = (owner.0.to_string(), owner.1.to_string());
    move |s: &mut Settings| {
        s.bootstrap_email = Some(email);
        s.bootstrap_password = Some(dbpower_testkit::secret(&password));
    }
}

/// The access token of a login answer's body.
pub(crate) fn token(login: &Value) -> String {
    login["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// Runs one SQL text with psql (stop on the first error); returns its unaligned, tuples-only output.
pub(crate) fn psql(url: &str, sql: &str) -> String {
    // libpq refuses the driver's own parameters (`statement-cache-capacity` behind the pooler)
    let url = url.split('?').next().unwrap_or(url);
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
        .output();
    stdout_of(out, "psql (DBPOWER_TEST_POSTGRES_URL is set)")
}

/// The output of a command that must have run and succeeded; else the test fails with `what` and the
/// command's error output.
pub(crate) fn stdout_of(out: std::io::Result<std::process::Output>, what: &str) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what} cannot be run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `body` to `base`'s ingestion endpoint the way an agent does: signed with the api key's secret
/// (`key` is the create-key answer), under `request_id`.
pub(crate) async fn post_signed_batch(
    http: &reqwest::Client,
    base: &str,
    key: &Value,
    request_id: &str,
    body: &Value,
) -> reqwest::Response {
    let raw = serde_json::to_vec(body).expect("body");
    let ts = chrono::Utc::now().timestamp();
    signed_batch_request(http, base, &ApiKey::from_created(key), request_id, ts, raw)
        .send()
        .await
        .expect("ingest")
}
