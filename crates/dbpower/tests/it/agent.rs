//! `dbpower agent` end to end against the machine's real MariaDB (`DBPOWER_TEST_MYSQL_URL`) and
//! PostgreSQL (`DBPOWER_TEST_POSTGRES_URL`) and a real `dbpower serve`: statements run now are found in
//! the platform, scrubbed and classed; with the platform down the agent spools, and once it is back every
//! query arrives exactly once.

use std::path::Path;
use std::process::Output;

use dbpower_testkit::{Client, Proc, TestDb};
use reqwest::Method as M;
use serde_json::{Value, json};

use crate::digest::mariadb;
use crate::support::{bin, psql};

pub(crate) fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    format!("127.0.0.1:{}", addr.port())
}

/// How long one `dbpower agent` run may take in a test before it is killed and the test fails (a round
/// takes seconds; a hang must fail, not stall the suite).
const AGENT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);

pub(crate) fn agent(config: &Path, args: &[&str]) -> Output {
    use std::io::Read;
    let mut child = bin()
        .command()
        .arg("agent")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("DBPOWER_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run dbpower agent");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = std::time::Instant::now() + AGENT_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for dbpower agent") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap_or_default();
            panic!(
                "dbpower agent {args:?} did not finish within {:?}: {}",
                AGENT_DEADLINE,
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

pub(crate) fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "agent failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An organization's administrator, named as login names an account: organization and e-mail.
pub(crate) struct OrgAdmin {
    pub(crate) organization: String,
    pub(crate) email: String,
}

pub(crate) struct Platform {
    server: Option<Proc>,
    dir: tempfile::TempDir,
    listen: String,
    password: String,
    /// Alert rules evaluated every second instead of every minute.
    alerting: bool,
}

impl Platform {
    pub(crate) fn start() -> Platform {
        Platform::start_as(false)
    }

    /// A platform that evaluates its alert rules every second.
    pub(crate) fn start_alerting() -> Platform {
        Platform::start_as(true)
    }

    fn start_as(alerting: bool) -> Platform {
        let dir = tempfile::tempdir().expect("tmp");
        let listen = free_port();
        let server = Platform::serve(dir.path(), &listen, alerting);
        let password = server.generated_password();
        Platform {
            server: Some(server),
            dir,
            listen,
            password,
            alerting,
        }
    }

    /// `dbpower serve` on its defaults in `dir` at `listen`; its database checked when it stops.
    fn serve(dir: &Path, listen: &str, alerting: bool) -> Proc {
        let serve = bin()
            .serve()
            .in_dir(dir)
            .listen(listen)
            .database(TestDb::in_data_dir(&dir.join("dbpower-data")));
        if alerting {
            serve
                .with_settings(|s| s.alerts.evaluate_every_secs = 1)
                .spawn()
        } else {
            serve.spawn()
        }
    }

    fn stop(&mut self) {
        self.server = None;
    }

    fn restart(&mut self) {
        self.server = Some(Platform::serve(
            self.dir.path(),
            &self.listen,
            self.alerting,
        ));
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(&format!("http://{}", self.listen))
    }

    pub(crate) async fn admin(&self) -> String {
        self.client()
            .login("admin@dbpower.local", &self.password)
            .await
    }

    /// A new organization with an ORG_ADMIN and an api key: (org admin, key id, secret).
    pub(crate) async fn key(&self, name: &str) -> (OrgAdmin, String, String) {
        let c = self.client();
        let sa = self.admin().await;
        let (s, org) = c
            .call(
                M::POST,
                "/api/v1/organizations",
                Some(&sa),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{org}");
        let email = format!("oa{}@agent.test", org["id"]);
        let (s, u) = c
            .call(M::POST, "/api/v1/users", Some(&sa), Some(json!({"email": email, "password": "oa-password-12", "role": "ORG_ADMIN", "organization_id": org["id"]})))
            .await;
        assert_eq!(s.as_u16(), 201, "{u}");
        let oa = c.login_in(name, &email, "oa-password-12").await;
        let (s, key) = c
            .call(
                M::POST,
                "/api/v1/api-keys",
                Some(&oa),
                Some(json!({"name": "agent"})),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{key}");
        (
            OrgAdmin {
                organization: name.to_string(),
                email,
            },
            key["key_id"].as_str().expect("key_id").into(),
            key["secret"].as_str().expect("secret").into(),
        )
    }

    pub(crate) async fn org_admin(&self, who: &OrgAdmin) -> String {
        self.client()
            .login_in(&who.organization, &who.email, "oa-password-12")
            .await
    }

    /// The organization's query classes: (sample text, count).
    pub(crate) async fn classes(&self, who: &OrgAdmin) -> Vec<(String, i64)> {
        let oa = self.org_admin(who).await;
        let items = self
            .client()
            .items("/api/v1/query-classes?per_page=100", &oa)
            .await;
        items
            .iter()
            .map(|c| {
                (
                    c["sample_sql"].as_str().unwrap_or("").to_string(),
                    c["count"].as_i64().unwrap_or(0),
                )
            })
            .collect()
    }
}

/// MariaDB's slow-log globals, put back when the test ends (also when it fails).
struct Globals {
    url: String,
    restore: String,
}

impl Globals {
    fn save(url: &str) -> Globals {
        let v = mariadb(
            url,
            "SELECT @@global.slow_query_log_file, @@global.slow_query_log, @@global.log_output, @@global.long_query_time",
        );
        let f: Vec<&str> = v.trim().split('\t').collect();
        let restore = format!(
            "SET GLOBAL slow_query_log = {}; SET GLOBAL slow_query_log_file = '{}'; SET GLOBAL log_output = '{}'; SET GLOBAL long_query_time = {}",
            f.get(1).copied().unwrap_or("0"),
            f.first().copied().unwrap_or("slow.log"),
            f.get(2).copied().unwrap_or("FILE"),
            f.get(3).copied().unwrap_or("10")
        );
        Globals {
            url: url.to_string(),
            restore,
        }
    }
}

impl Drop for Globals {
    fn drop(&mut self) {
        mariadb(&self.url, &self.restore);
    }
}

pub(crate) fn count_of(classes: &[(String, i64)], needle: &str) -> i64 {
    classes
        .iter()
        .filter(|(s, _)| s.contains(needle))
        .map(|(_, n)| n)
        .sum()
}

/// Asserts that `out` (a command's stdout or stderr) holds each of `needles`.
fn assert_says(out: &[u8], needles: &[&str]) {
    let text = String::from_utf8_lossy(out);
    for n in needles {
        assert!(text.contains(n), "missing {n:?} in:\n{text}");
    }
}

/// Asserts that the classes holding `needle` counted `n` executions and that no class shows any of
/// `hidden`.
fn assert_counted(classes: Vec<(String, i64)>, needle: &str, n: i64, hidden: &[&str]) {
    assert_eq!(count_of(&classes, needle), n, "{needle}: {classes:?}");
    for (sample, _) in &classes {
        let shown: Vec<_> = hidden.iter().filter(|h| sample.contains(*h)).collect();
        assert!(shown.is_empty(), "{shown:?} in {sample}");
    }
}

pub(crate) fn write_config(
    dir: &Path,
    platform: &Platform,
    key: &(OrgAdmin, String, String),
    source: &str,
) -> std::path::PathBuf {
    write_config_with(dir, platform, key, "", source)
}

/// [`write_config`] with more lines in its `[agent]` table (`agent`, each ending with a newline).
pub(crate) fn write_config_with(
    dir: &Path,
    platform: &Platform,
    key: &(OrgAdmin, String, String),
    agent: &str,
    source: &str,
) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    let text = format!(
        "[platform]\nurl = \"http://{}\"\nkey_id = \"{}\"\nsecret = \"{}\"\ntimeout_secs = 5\n\n[agent]\nname = \"test-agent\"\ninterval_secs = 10\n{agent}\n[spool]\ndir = \"{}\"\n\n{source}\n",
        platform.listen,
        key.1,
        key.2,
        dir.join("spool").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_slow_log_reaches_the_platform_exactly_once_across_an_outage() {
    let Some((url, _globals)) = crate::mariadb_globals().await else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    // The server writes the log, so it lives where the server's user may create files.
    let log = std::env::temp_dir().join(format!("dbpower-agent-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let _restore = Globals::save(&url);
    mariadb(
        &url,
        &format!(
            "SET GLOBAL slow_query_log_file = '{}'; SET GLOBAL log_output = 'FILE'; SET GLOBAL slow_query_log = 1; \
             SET GLOBAL long_query_time = 0",
            log.display()
        ),
    );
    mariadb(
        &url,
        "DROP TABLE IF EXISTS dbp_agent; CREATE TABLE dbp_agent (id INT PRIMARY KEY, email VARCHAR(100))",
    );

    let mut platform = Platform::start();
    let key = platform.key("Agent Shop").await;
    let source = format!(
        "[[source]]\nname = \"shop\"\nkind = \"mysql\"\nurl = \"{url}\"\nmethods = [\"slow_log_file\"]\nlog_path = \"{}\"\nexplain = true\nschema = true\n[source.exclude]\npatterns = [\"dbp_secret_table\"]\n",
        log.display()
    );
    let config = write_config(work.path(), &platform, &key, &source);

    // --check sees the slow log on and readable.
    assert_says(
        &agent(&config, &["--check"]).stdout,
        &[
            "ok    slow_query_log is ON",
            "is readable",
            "EXPLAIN can plan statements on every schema",
            "the platform answers",
            "ok    the platform accepts key",
        ],
    );

    // A first --dry-run says why it is empty: the position is taken at the end of the log.
    let first = agent(&config, &["--dry-run"]);
    ok(&first);
    assert_says(
        &first.stderr,
        &[
            "0 queries",
            "note: shop/SlowLogFile: slow log",
            "first read: start_at = \"end\" skips",
        ],
    );

    // First round: the position is taken at the end of the log; nothing old is shipped.
    ok(&agent(&config, &["--once"]));

    let session = |sql: &str| mariadb(&url, &format!("SET SESSION long_query_time = 0; {sql}"));
    let mut script = String::new();
    for i in 0..5 {
        script.push_str(&format!(
            "SELECT * FROM dbp_agent WHERE email = 'user{i}@example.com';"
        ));
    }
    script.push_str("SELECT 1 FROM dbp_agent WHERE email = 'dbp_secret_table';");
    session(&script);

    // --dry-run prints the scrubbed batch and changes nothing.
    let dry = agent(&config, &["--dry-run"]);
    ok(&dry);
    let printed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        printed.contains("SELECT * FROM dbp_agent WHERE email = ?")
            && !printed.contains("example.com"),
        "{printed}"
    );
    assert!(
        !printed.contains("dbp_secret_table"),
        "excluded by pattern: {printed}"
    );

    ok(&agent(&config, &["--once"]));
    // Every session logs every statement (long_query_time = 0), the agent's own included: none of
    // them (its session setup, EXPLAIN, schema reads, position queries) comes back as data.
    assert_counted(
        platform.classes(&key.0).await,
        "FROM dbp_agent WHERE email = ?",
        5,
        &[
            "example.com",
            "dbp_secret",
            "sql_mode",
            "time_zone",
            "INSTRUMENTED",
            "information_schema",
            "EXPLAIN",
            "max_statement_time",
            "slow_query_log_file",
        ],
    );

    // explain = true: the plan travelled with the query, scrubbed; schema = true: the analysis knows the
    // table is empty, so it proposes no index for it.
    let oa = platform.org_admin(&key.0).await;
    let c = platform.client();
    let (_, list) = c
        .call(
            M::GET,
            "/api/v1/slow-queries?q=dbp_agent%20WHERE%20email",
            Some(&oa),
            None,
        )
        .await;
    let ids: Vec<i64> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(ids.len(), 5);
    // The first statement of each shape in a round carries the plan and the snapshot.
    let mut detail = Value::Null;
    for _ in 0..50 {
        for id in &ids {
            let d = c
                .call(
                    M::GET,
                    &format!("/api/v1/slow-queries/{id}"),
                    Some(&oa),
                    None,
                )
                .await
                .1;
            if d["explain"].is_object() {
                detail = d;
            }
        }
        if detail["analysis"].is_object() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(detail["explain"]["query_block"].is_object(), "{detail}");
    assert!(
        !detail["explain"].to_string().contains("example.com"),
        "{detail}"
    );
    let recs = detail["analysis"]["recommendations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !recs.iter().any(|r| r["kind"] == "index"),
        "no index advice for an empty table: {detail}"
    );

    // The platform goes away; the agent keeps collecting into its spool.
    platform.stop();
    let mut script = String::new();
    for i in 0..3 {
        script.push_str(&format!("SELECT id FROM dbp_agent WHERE id = {i};"));
    }
    session(&script);
    let down = agent(&config, &["--once"]);
    assert_eq!(
        down.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("remain in the spool"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        !down.stderr.contains(&0x1b),
        "a redirected log holds no terminal colour codes: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    session("SELECT id FROM dbp_agent WHERE id = 99;");
    assert_eq!(agent(&config, &["--once"]).status.code(), Some(1));

    // Back up: the spool is replayed in order, nothing lost, nothing duplicated.
    platform.restart();
    ok(&agent(&config, &["--once"]));
    ok(&agent(&config, &["--once"]));
    let classes = platform.classes(&key.0).await;
    assert_eq!(
        count_of(&classes, "FROM dbp_agent WHERE id = ?"),
        4,
        "{classes:?}"
    );
    assert_eq!(
        count_of(&classes, "FROM dbp_agent WHERE email = ?"),
        5,
        "{classes:?}"
    );

    // The heartbeat shows the agent online.
    let oa = platform.org_admin(&key.0).await;
    let (_, agents) = platform
        .client()
        .call(M::GET, "/api/v1/agents", Some(&oa), None)
        .await;
    let a = agents["items"]
        .as_array()
        .expect("a page of agents")
        .first()
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        (a["name"].as_str(), a["online"].as_bool()),
        (Some("test-agent"), Some(true)),
        "{agents}"
    );
    assert_eq!(a["sources"][0]["name"], "shop");
    // The methods read as the agent's configuration names them.
    assert_eq!(
        a["sources"][0]["methods"],
        serde_json::json!(["slow_log_file"]),
        "{agents}"
    );
    assert_eq!(agents["total"], 1, "{agents}");

    mariadb(&url, "DROP TABLE dbp_agent");
    let _ = std::fs::remove_file(&log);
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_table_and_performance_schema_methods_collect() {
    let Some((url, _globals)) = crate::mariadb_globals().await else {
        return;
    };
    let work = tempfile::tempdir().expect("tmp");
    let _restore = Globals::save(&url);
    mariadb(
        &url,
        "SET GLOBAL log_output = 'TABLE'; SET GLOBAL slow_query_log = 1",
    );
    let platform = Platform::start();
    let key = platform.key("Table Shop").await;
    let ps_on = mariadb(&url, "SELECT @@performance_schema").trim() == "1";
    let methods = if ps_on {
        "[\"slow_log_table\", \"performance_schema\"]"
    } else {
        "[\"slow_log_table\"]"
    };
    // MariaDB's ANALYZE FORMAT=JSON for the plans (the SELECT runs, read-only, at most 2 s).
    let source = format!(
        "[[source]]\nname = \"tbl\"\nkind = \"mysql\"\nurl = \"{url}\"\nmethods = {methods}\nexplain = true\nexplain_analyze = true\n"
    );
    let config = write_config(work.path(), &platform, &key, &source);
    ok(&agent(&config, &["--once"]));
    mariadb(
        &url,
        "SET SESSION long_query_time = 0; SELECT COUNT(*) FROM mysql.user WHERE user = 'dbp_tbl_probe'; SELECT COUNT(*) FROM mysql.user WHERE user = 'dbp_tbl_probe2';",
    );
    let dry = agent(&config, &["--dry-run"]);
    ok(&dry);
    let printed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        printed.contains("FROM mysql.user WHERE user = ?"),
        "{printed}"
    );
    assert!(printed.contains("tbl:slow_log_table"), "{printed}");
    assert!(!printed.contains("dbp_tbl_probe"), "scrubbed: {printed}");
    // Measured, not estimated: only ANALYZE reports the loops it ran.
    assert!(printed.contains("\"r_loops\""), "ANALYZE plan: {printed}");
    if ps_on {
        assert!(printed.contains("tbl:performance_schema"), "{printed}");
    }
    ok(&agent(&config, &["--once"]));
    let classes = platform.classes(&key.0).await;
    assert!(
        count_of(&classes, "FROM mysql.user WHERE user = ?") >= 2,
        "{classes:?}"
    );
}

/// A scratch PostgreSQL database made with `setup`, a platform with an organization's key, and a work
/// directory for the agent.
struct PgCase {
    monitored: TestDb,
    url: String,
    work: tempfile::TempDir,
    platform: Platform,
    key: (OrgAdmin, String, String),
}

impl PgCase {
    /// `None` when no test server is named (`DBPOWER_TEST_POSTGRES_URL`).
    async fn new(organization: &str, setup: &str) -> Option<PgCase> {
        let server = std::env::var("DBPOWER_TEST_POSTGRES_URL").ok()?;
        let monitored = TestDb::scratch_postgres(&server).await;
        let url = monitored.url().to_string();
        psql(&url, setup);
        let platform = Platform::start();
        let key = platform.key(organization).await;
        Some(PgCase {
            monitored,
            url,
            work: tempfile::tempdir().expect("tmp"),
            platform,
            key,
        })
    }

    /// The agent's config: one PostgreSQL source `pg` at `url` with `settings` (TOML lines), sent with `key`.
    fn config(
        &self,
        url: &str,
        settings: &str,
        key: &(OrgAdmin, String, String),
    ) -> std::path::PathBuf {
        let source = format!(
            "[[source]]\nname = \"pg\"\nkind = \"postgresql\"\nurl = \"{url}\"\n{settings}"
        );
        write_config(self.work.path(), &self.platform, key, &source)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pg_stat_statements_deltas_reach_the_platform() {
    let setup = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE dbp_pgss (id int PRIMARY KEY, email text)";
    let Some(case) = PgCase::new("PG Shop", setup).await else {
        return;
    };
    let (url, platform, key) = (&case.url, &case.platform, &case.key);
    let config = case.config(url, "methods = [\"pg_stat_statements\"]\n", key);
    assert_says(
        &agent(&config, &["--check"]).stdout,
        &[
            "ok    pg_stat_statements is loaded",
            "extension exists",
            "ok    the platform accepts key",
        ],
    );
    // The check's heartbeat lists the agent with its sources before any round.
    let oa = platform.org_admin(&key.0).await;
    let (_, agents) = platform
        .client()
        .call(M::GET, "/api/v1/agents", Some(&oa), None)
        .await;
    assert_eq!(agents["items"][0]["sources"][0]["name"], "pg", "{agents}");
    ok(&agent(&config, &["--once"]));
    for i in 0..4 {
        psql(
            url,
            &format!("SELECT * FROM dbp_pgss WHERE email = 'u{i}@example.com'"),
        );
    }
    ok(&agent(&config, &["--once"]));
    assert_counted(
        platform.classes(&key.0).await,
        "FROM dbp_pgss WHERE email = $1",
        4,
        &["example.com", "dbpower-agent"],
    );
    // Nothing new: a third round ships no duplicate.
    ok(&agent(&config, &["--once"]));
    assert_eq!(
        count_of(
            &platform.classes(&key.0).await,
            "FROM dbp_pgss WHERE email = $1"
        ),
        4
    );
    // With track = all, one statement run at top level (2) and inside a function (3) has two entries
    // of one queryid (`toplevel` true and false): both are counted, once each, round after round.
    psql(
        url,
        "CREATE FUNCTION dbp_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM dbp_pgss'",
    );
    psql(
        url,
        "SET pg_stat_statements.track = 'all'; SELECT count(*) FROM dbp_pgss; SELECT count(*) FROM dbp_pgss; \
         SELECT dbp_count(); SELECT dbp_count(); SELECT dbp_count()",
    );
    for _ in 0..2 {
        ok(&agent(&config, &["--once"]));
        assert_eq!(
            count_of(
                &platform.classes(&key.0).await,
                "SELECT count(*) FROM dbp_pgss"
            ),
            5
        );
    }
}

/// The agent reports changes it sees as markers: a table it described got a column and an index, and a
/// setting the advice reads changed (`ALTER DATABASE ... SET work_mem`, which the agent's next sessions
/// see). The first sight is remembered, not reported; an unchanged round reports nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn schema_and_setting_changes_become_markers_once() {
    let setup = "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE dbp_watch (id int PRIMARY KEY, note text)";
    let Some(case) = PgCase::new("Watch Shop", setup).await else {
        return;
    };
    let (url, platform, key) = (&case.url, &case.platform, &case.key);
    let settings =
        "methods = [\"pg_stat_statements\"]\nwatch_every_secs = 0\ndescribe_every_secs = 0\n";
    let config = case.config(url, settings, key);
    let db = url.rsplit('/').next().unwrap_or_default().to_string();
    let oa = platform.org_admin(&key.0).await;
    // pg_stat_statements is the server's: other databases' tables may be described (and change) too,
    // so only this database's table (named without the source's own database) and the settings (read
    // in this database) are counted.
    let ours = || async {
        let (status, body) = platform
            .client()
            .call(M::GET, "/api/v1/events?per_page=100", Some(&oa), None)
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        let all = body["items"].as_array().cloned().unwrap_or_default();
        all.into_iter()
            .filter(|e| e["kind"] == "config" || e["labels"]["table"] == "public.dbp_watch")
            .collect::<Vec<Value>>()
    };
    ok(&agent(&config, &["--once"]));
    for i in 0..3 {
        psql(url, &format!("SELECT note FROM dbp_watch WHERE id = {i}"));
    }
    ok(&agent(&config, &["--once"]));
    assert_eq!(
        ours().await,
        Vec::<Value>::new(),
        "first sight is not a change"
    );
    psql(
        url,
        &format!(
            "ALTER TABLE dbp_watch ADD COLUMN email text; CREATE INDEX dbp_watch_email_idx ON dbp_watch (email); \
             ALTER DATABASE \"{db}\" SET work_mem = '7MB'"
        ),
    );
    ok(&agent(&config, &["--once"]));
    let got = ours().await;
    let of = |kind: &str| -> Vec<&Value> { got.iter().filter(|e| e["kind"] == kind).collect() };
    let (schema, config_events) = (of("schema"), of("config"));
    assert_eq!((schema.len(), config_events.len()), (1, 1), "{got:?}");
    let s = schema[0];
    assert!(
        s["title"].as_str().unwrap_or("").contains("dbp_watch"),
        "{s}"
    );
    assert_eq!(s["labels"]["columns_added"], "email", "{s}");
    assert_eq!(s["labels"]["indexes_added"], "dbp_watch_email_idx", "{s}");
    assert_eq!(s["labels"]["source"], "pg");
    assert_eq!(s["source"], "api_key");
    let c = config_events[0];
    assert!(
        c["labels"]["work_mem"]
            .as_str()
            .unwrap_or("")
            .ends_with("-> 7MB"),
        "{c}"
    );
    // Nothing changed since: nothing more.
    ok(&agent(&config, &["--once"]));
    assert_eq!(ours().await.len(), 2);
}

/// `--check` as a role without the grants the enabled features need, with a wrong secret: each missing
/// grant is named with the statement that gives it, nothing is blamed on the network, and the key is
/// refused by a signed request (not merely "the platform answers").
#[tokio::test(flavor = "multi_thread")]
async fn check_names_every_missing_grant_and_a_wrong_secret() {
    let role = format!("dbp_check_{}", std::process::id());
    let setup = format!(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE dbp_hidden (id int); CREATE ROLE {role} LOGIN"
    );
    let Some(case) = PgCase::new("PG Check", &setup).await else {
        return;
    };
    let url = &case.url;
    // The same server and database, as the unprivileged role (the test server trusts local logins).
    let (scheme, rest) = url.split_once("://").expect("url scheme");
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let weak = format!("{scheme}://{role}@{host}");
    let wrong = (
        OrgAdmin {
            organization: case.key.0.organization.clone(),
            email: case.key.0.email.clone(),
        },
        case.key.1.clone(),
        "not-the-secret".to_string(),
    );
    let config = case.config(
        &weak,
        "methods = [\"pg_stat_statements\", \"postgres_log\"]\nexplain = true\n",
        &wrong,
    );
    let check = agent(&config, &["--check"]);
    psql(url, &format!("DROP ROLE {role}"));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{text}");
    for expected in [
        "ok    connected to PostgreSQL",
        "FIX   the agent's role sees only its own statements' text",
        "GRANT pg_read_all_stats TO",
        "cannot read 1 of",
        "GRANT pg_read_all_data TO",
        "FIX   cannot tell where the server log is",
        "set log_path in this source",
        "ok    the platform answers",
        "FIX   the platform refused key",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("the network and the credentials"), "{text}");
}

/// Database names in a monitored log are attacker-controlled: an unreachable, quoted, 10 KB, NUL or
/// escape-sequence name fails only the plans of its own statements (one attempt each); every statement
/// still arrives and the statement in a real database is explained there.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_database_names_in_the_log_fail_only_their_own_plans() {
    let setup = "CREATE TABLE dbp_h (id int PRIMARY KEY, note text)";
    let Some(case) = PgCase::new("PG Hostile", setup).await else {
        return;
    };
    let (url, platform, key) = (&case.url, &case.platform, &case.key);
    let real = case
        .monitored
        .postgres_name()
        .expect("a PostgreSQL database")
        .to_string();
    let names = [
        real.clone(),
        "dbp_no_such_database".to_string(),
        "evil'db\"x;--".to_string(),
        "a".repeat(10_000),
        "db\u{0}x".to_string(),
        "db\u{1b}]0;title\u{7}".to_string(),
    ];
    let mut log = String::new();
    for (i, db) in names.iter().enumerate() {
        for n in 0..2 {
            log.push_str(&format!(
                "2026-12-07 10:00:0{n}.000 UTC [{}] app@{db} LOG:  duration: 5.000 ms  statement: SELECT * FROM dbp_h WHERE id = {i}\n",
                100 + i
            ));
        }
    }
    let log_path = case.work.path().join("postgresql.log");
    std::fs::write(&log_path, log).expect("write log");
    let settings = format!(
        "methods = [\"postgres_log\"]\nmin_duration_ms = 0\nlog_path = \"{}\"\nstart_at = \"beginning\"\nexplain = true\n",
        log_path.display()
    );
    let config = case.config(url, &settings, key);
    let dry = agent(&config, &["--dry-run"]);
    ok(&dry);
    let said = String::from_utf8_lossy(&dry.stderr);
    assert!(
        said.contains("12 queries")
            && said.contains("5 statement(s) not explained or described")
            && !said.contains('\u{1b}'),
        "{said}"
    );
    let printed = String::from_utf8_lossy(&dry.stdout);
    let batches: Vec<Value> = serde_json::Deserializer::from_str(&printed)
        .into_iter::<Value>()
        .map(|v| v.expect("batch JSON"))
        .collect();
    let queries: Vec<&Value> = batches
        .iter()
        .flat_map(|b| b["queries"].as_array().expect("queries"))
        .collect();
    assert_eq!(queries.len(), 12, "{printed}");
    let explained: Vec<&str> = queries
        .iter()
        .filter(|q| !q["explain"].is_null())
        .map(|q| q["database_name"].as_str().unwrap_or(""))
        .collect();
    // One plan per distinct statement and database.
    assert_eq!(explained, vec![real.as_str()], "{printed}");
    for q in &queries {
        let db = q["database_name"].as_str().unwrap_or("");
        assert!(
            db.len() <= 256 && !db.chars().any(char::is_control),
            "{db:?}"
        );
    }
    // And for real: every statement reaches the platform.
    ok(&agent(&config, &["--once"]));
    assert_eq!(
        count_of(&platform.classes(&key.0).await, "FROM dbp_h WHERE id = $1"),
        12
    );
}
