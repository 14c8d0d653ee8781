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
