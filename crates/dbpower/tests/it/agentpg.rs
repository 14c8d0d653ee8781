//! `dbpower agent` on one PostgreSQL source with both of its methods (`pg_stat_statements` and the
//! server log with every statement logged), on a private cluster this test starts under a temporary
//! directory (`initdb` as the `postgres` user, its own port, `pg_stat_statements` preloaded, the log
//! written to a file by the logging collector). pgbench runs a fixed number of transactions in two
//! databases that have a table of the same name with different columns and indexes. The platform's
//! count of every class is pg_stat_statements' count for the workload (the log's executions arrive as
//! samples), each database's statements are explained and described in that database, and nothing the
//! agent runs comes back as data. Runs when `DBPOWER_TEST_POSTGRES_URL` is set (the machine has
//! PostgreSQL); fails when the private cluster cannot start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use reqwest::Method as M;
use serde_json::Value;

use crate::agent::{Platform, agent, free_port, ok, write_config};

/// The settings the test's own sessions use: nothing the test reads is counted or logged.
const TEST_SESSION: &str = "-c pg_stat_statements.track=none -c log_min_duration_statement=-1";

/// A PostgreSQL cluster of the test's own, stopped when dropped.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    pub(crate) fn start() -> Cluster {
        Cluster::start_with("")
    }

    /// A cluster with `extra` appended to its configuration (later lines win).
    pub(crate) fn start_with(extra: &str) -> Cluster {
        let dir = owned_tempdir("postgres");
        let as_postgres = |args: &[&str]| {
            succeed(
                Command::new("runuser")
                    .args(["-u", "postgres", "--"])
                    .args(args),
            );
        };
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().into_owned();
        as_postgres(&[
            "initdb",
            "-D",
            &data_s,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        let port = free_port_number();
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\n\
             shared_preload_libraries = 'pg_stat_statements'\nlogging_collector = on\n\
             log_directory = '{dir}/log'\nlog_filename = 'postgresql.log'\n\
             log_min_duration_statement = 0\nlog_line_prefix = '%m [%p] %q%u@%d '\nfsync = off\n",
            dir = dir.path().display()
        );
        let mut text = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        text.push_str(&conf);
        text.push_str(extra);
        std::fs::write(data.join("postgresql.conf"), text).expect("conf");
        let start_log = dir.path().join("start.log");
        as_postgres(&[
            "pg_ctl",
            "-D",
            &data_s,
            "-l",
            &start_log.to_string_lossy(),
            "-w",
            "start",
        ]);
        Cluster { dir, port }
    }

    /// A streaming replica of this cluster (`pg_basebackup -R`, WAL streamed) on a port of its own,
    /// started and stopped with its value.
    pub(crate) fn replica(&self) -> Cluster {
        let dir = owned_tempdir("postgres");
        let data = dir.path().join("data");
        let data_s = data.to_string_lossy().into_owned();
        succeed(
            Command::new("runuser")
                .args(["-u", "postgres", "--", "pg_basebackup", "-D", &data_s, "-R"])
                .args([
                    "-X",
                    "stream",
                    "--no-sync",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                ])
                .args(["-p", &self.port.to_string()]),
        );
        let port = free_port_number();
        let conf = format!(
            "\nport = {port}\nunix_socket_directories = '{dir}'\nlog_directory = '{dir}/log'\n\
             hot_standby = on\n",
            dir = dir.path().display()
        );
        let mut text = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        text.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), text).expect("conf");
        let start_log = dir.path().join("start.log");
        succeed(
            Command::new("runuser")
                .args(["-u", "postgres", "--", "pg_ctl", "-D", &data_s])
                .args(["-l", &start_log.to_string_lossy(), "-w", "start"]),
        );
        Cluster { dir, port }
    }

    /// Stops the server now (immediate shutdown).
    pub(crate) fn stop(&self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", "pg_ctl", "-D"])
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    pub(crate) fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    pub(crate) fn log(&self) -> PathBuf {
        self.dir.path().join("log").join("postgresql.log")
    }

    /// Runs `sql` as the superuser in `db`, in a session that is neither counted nor logged.
    pub(crate) fn sql(&self, db: &str, sql: &str) -> String {
        succeed(
            Command::new("psql")
                .arg(self.url("postgres", db))
                .args(["-v", "ON_ERROR_STOP=1", "-X", "-A", "-t", "-q", "-c", sql])
                .env("PGOPTIONS", TEST_SESSION),
        )
    }

    /// Runs `sql` as the superuser in `db` as the workload does: counted and logged.
    pub(crate) fn workload(&self, db: &str, sql: &str) -> String {
        succeed(Command::new("psql").arg(self.url("postgres", db)).args([
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-A",
            "-t",
            "-q",
            "-c",
            sql,
        ]))
    }

    /// pgbench as the superuser in `db`: the workload (counted and logged).
    pub(crate) fn pgbench(&self, db: &str, args: &[&str]) {
        succeed(
            Command::new("pgbench")
                .args(args)
                .arg(self.url("postgres", db)),
        );
    }
}

/// A free port of loopback, as a number.
fn free_port_number() -> u16 {
    free_port()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// A temporary directory owned by `user`, for a server that runs as that user.
pub(crate) fn owned_tempdir(user: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let status = Command::new("chown")
        .arg(format!("{user}:"))
        .arg(dir.path())
        .status()
        .expect("chown");
    assert!(status.success(), "a directory for {user}");
    dir
}

/// Runs `cmd`, which must succeed; returns its standard output.
pub(crate) fn succeed(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One table name, two schemas: `(database, column list, index name, statement for pgbench)`.
const DATABASES: [(&str, &str, &str, &str); 2] = [
    (
        "shop_a",
        "id int PRIMARY KEY, sku int NOT NULL, qty int",
        "CREATE UNIQUE INDEX dbp_items_sku_idx ON dbp_items (sku)",
        "\\set k random(1, 5000)\nSELECT qty FROM dbp_items WHERE sku = :k;\n",
    ),
    (
        "shop_b",
        "id bigint PRIMARY KEY, code int NOT NULL, note text",
        "CREATE UNIQUE INDEX dbp_items_code_idx ON dbp_items (code)",
        "\\set k random(1, 5000)\nSELECT note FROM dbp_items WHERE code = :k;\n",
    ),
];

/// pg_stat_statements' calls of the workload's databases, per query id as the platform computes it.
fn calls_by_class(cluster: &Cluster) -> BTreeMap<String, i64> {
    let rows = cluster.sql(
        "postgres",
        "SELECT calls, query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname IN ('shop_a', 'shop_b')",
    );
    let mut calls = BTreeMap::new();
    for row in rows.lines().filter(|l| !l.is_empty()) {
        let (n, q) = row.split_once('|').expect("calls|query");
        let (_, id) = dbpower_sql::fingerprint_and_id(q, dbpower_sql::Dialect::Postgresql);
        *calls.entry(id).or_insert(0) += n.parse::<i64>().expect("calls");
    }
    calls
}

/// The queries of the dry run's batches whose text holds `needle`, in `db`.
pub(crate) fn dry_run_queries<'a>(batches: &'a [Value], needle: &str, db: &str) -> Vec<&'a Value> {
    batches
        .iter()
        .flat_map(|b| b["queries"].as_array().into_iter().flatten())
        .filter(|q| {
            q["sql_text"].as_str().is_some_and(|s| s.contains(needle)) && q["database_name"] == db
        })
        .collect()
}

/// The JSON values `--dry-run` prints one after the other.
pub(crate) fn printed_batches(stdout: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .expect("dry-run JSON")
}

/// The agent's own role: read-only, its sessions neither counted nor logged (docs/AGENT.md).
pub(crate) fn agent_role() -> String {
    let mut role = String::from(
        "CREATE ROLE dbpower_agent LOGIN; GRANT pg_monitor TO dbpower_agent; \
         ALTER ROLE dbpower_agent SET pg_stat_statements.track = 'none'; \
         ALTER ROLE dbpower_agent SET log_min_duration_statement = -1;",
    );
    for setting in [
        "log_min_duration_sample = -1",
        "log_transaction_sample_rate = 0",
        "log_statement = 'none'",
        "log_duration = off",
        "auto_explain.log_min_duration = -1",
    ] {
        role.push_str(&format!(" ALTER ROLE dbpower_agent SET {setting};"));
    }
    role
}

#[tokio::test(flavor = "multi_thread")]
async fn both_postgres_methods_count_once_explain_in_each_database_and_never_collect_the_agent() {
    if std::env::var("DBPOWER_TEST_POSTGRES_URL").is_err() {
        return;
    }
    let cluster = Cluster::start();
    cluster.sql("postgres", "CREATE EXTENSION pg_stat_statements");
    cluster.sql("postgres", &agent_role());
    let work = tempfile::tempdir().expect("tmp");

    for (db, columns, index, script) in DATABASES {
        cluster.sql("postgres", &format!("CREATE DATABASE {db}"));
        cluster.pgbench(db, &["-i", "-q", "-s", "1"]);
        cluster.sql(
            db,
            &format!(
                "CREATE TABLE dbp_items ({columns}); {index}; \
                 INSERT INTO dbp_items SELECT g, g, g FROM generate_series(1, 5000) g; ANALYZE; \
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO dbpower_agent"
            ),
        );
        std::fs::write(work.path().join(format!("{db}.sql")), script).expect("script");
    }

    let platform = Platform::start();
    let key = platform.key("PG Both").await;
    let source = format!(
        "[[source]]\nname = \"pg\"\nkind = \"postgresql\"\nurl = \"{}\"\nmethods = [\"pg_stat_statements\", \"postgres_log\"]\nmin_duration_ms = 0\nlog_path = \"{}\"\nexplain = true\nschema = true\n",
        cluster.url("dbpower_agent", "postgres"),
        cluster.log().display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    let check = agent(&config, &["--check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("ok    the agent's own statements are kept out of what it collects")
            && text.contains("is readable"),
        "{text}"
    );

    // The first round takes pg_stat_statements' baseline and the log's end.
    cluster.sql("postgres", "SELECT pg_stat_statements_reset()");
    ok(&agent(&config, &["--once"]));

    // The workload: both protocols in both databases, fixed transaction counts.
    let script = |db: &str| work.path().join(format!("{db}.sql")).display().to_string();
    let (a, b) = (script("shop_a"), script("shop_b"));
    cluster.pgbench("shop_a", &["-n", "-M", "prepared", "-t", "20", "-c", "1"]);
    cluster.pgbench("shop_a", &["-n", "-M", "prepared", "-t", "12", "-f", &a]);
    cluster.pgbench("shop_a", &["-n", "-M", "simple", "-t", "8", "-f", &a]);
    cluster.pgbench("shop_b", &["-n", "-M", "simple", "-t", "10", "-c", "1"]);
    cluster.pgbench("shop_b", &["-n", "-M", "prepared", "-t", "10", "-f", &b]);
    cluster.pgbench("shop_b", &["-n", "-M", "simple", "-t", "6", "-f", &b]);
    let calls = calls_by_class(&cluster);
    assert!(calls.values().sum::<i64>() >= 66, "{calls:?}");

    // What would be sent: plans and schema from each statement's own database.
    let dry = agent(&config, &["--dry-run"]);
    ok(&dry);
    let batches = printed_batches(&dry.stdout);
    for (db, needle, own_index, other_index, columns) in [
        (
            "shop_a",
            "FROM dbp_items WHERE sku =",
            "dbp_items_sku_idx",
            "dbp_items_code_idx",
            ["id", "sku", "qty"],
        ),
        (
            "shop_b",
            "FROM dbp_items WHERE code =",
            "dbp_items_code_idx",
            "dbp_items_sku_idx",
            ["id", "code", "note"],
        ),
    ] {
        let found = dry_run_queries(&batches, needle, db);
        let methods: Vec<&str> = found.iter().filter_map(|q| q["source"].as_str()).collect();
        assert!(
            methods.contains(&"pg:pg_stat_statements") && methods.contains(&"pg:postgres_log"),
            "{db}: {methods:?}"
        );
        for q in found.iter().filter(|q| !q["explain"].is_null()) {
            let plan = q["explain"].to_string();
            assert!(
                plan.contains(own_index) && !plan.contains(other_index),
                "{db}: {plan}"
            );
        }
        let explained = found.iter().filter(|q| !q["explain"].is_null()).count();
        assert!(
            explained >= 2,
            "{db}: each method's first statement: {found:?}"
        );
        let described: Vec<Vec<&str>> = found
            .iter()
            .filter_map(|q| q["schema"]["tables"].as_array())
            .flatten()
            .map(|t| {
                t["columns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c["name"].as_str())
                    .collect()
            })
            .collect();
        assert!(!described.is_empty(), "{db}: {found:?}");
        assert!(
            described.iter().all(|c| c == &columns),
            "{db}: {described:?}"
        );
        // A logged execution with its literal (simple protocol) carries the literal's kind, taken
        // before scrubbing; the snapshots carry the server's settings.
        let hint =
            serde_json::json!({"literals": [{"column": columns[1], "op": "=", "kind": "number"}]});
        assert!(found.iter().any(|q| q["hints"] == hint), "{db}: {found:?}");
        assert!(
            found
                .iter()
                .any(|q| q["schema"]["settings"]["work_mem"].as_str() == Some("4MB")),
            "{db}: {found:?}"
        );
        // A commit is described by the settings that trade its latency.
        let commit = dry_run_queries(&batches, "END", db);
        assert!(
            commit
                .iter()
                .any(|q| q["schema"]["settings"]["synchronous_commit"] == "on"),
            "{db}: {commit:?}"
        );
    }

    ok(&agent(&config, &["--once"]));
    // Per class, the platform counts what pg_stat_statements counted; the log added samples only.
    let oa = platform.org_admin(&key.0).await;
    let (s, page) = platform
        .client()
        .call(
            M::GET,
            "/api/v1/query-classes?per_page=100",
            Some(&oa),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{page}");
    let classes: BTreeMap<String, (i64, String)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| {
            (
                c["query_id"].as_str().unwrap_or("").to_string(),
                (
                    c["count"].as_i64().unwrap_or(-1),
                    c["sample_sql"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect();
    let counted: BTreeMap<String, i64> = classes.iter().map(|(k, v)| (k.clone(), v.0)).collect();
    assert_eq!(counted, calls, "platform classes: {classes:?}");
    for (count, sample) in classes.values() {
        for agent_text in [
            "dbpower-agent",
            "pg_stat_statements",
            "EXPLAIN",
            "current_setting",
            "pg_attribute",
            "READ ONLY",
            "ROLLBACK",
        ] {
            assert!(
                !sample.contains(agent_text),
                "the agent's own statement came back ({count}): {sample}"
            );
        }
    }
    // The plan stored with the second database's class is that database's.
    let (_, id_b) = dbpower_sql::fingerprint_and_id(
        "SELECT note FROM dbp_items WHERE code = $1",
        dbpower_sql::Dialect::Postgresql,
    );
    assert!(counted.get(&id_b).is_some_and(|n| *n == 16), "{classes:?}");
    let (s, rows) = platform
        .client()
        .call(
            M::GET,
            &format!("/api/v1/slow-queries?per_page=100&query_id={id_b}"),
            Some(&oa),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{rows}");
    let mut plans = Vec::new();
    for r in rows["items"].as_array().expect("items") {
        let (s, detail) = platform
            .client()
            .call(
                M::GET,
                &format!("/api/v1/slow-queries/{}", r["id"]),
                Some(&oa),
                None,
            )
            .await;
        assert_eq!(s.as_u16(), 200, "{detail}");
        assert_eq!(detail["database_name"], "shop_b", "{detail}");
        if !detail["explain"].is_null() {
            plans.push(detail["explain"].to_string());
        }
    }
    assert!(!plans.is_empty(), "{rows}");
    assert!(
        plans.iter().all(|p| p.contains("dbp_items_code_idx")),
        "{plans:?}"
    );

    // Nothing the agent ran is in pg_stat_statements or the server log.
    let agents_rows = cluster.sql(
        "postgres",
        "SELECT count(*) FROM pg_stat_statements WHERE userid = 'dbpower_agent'::regrole",
    );
    assert_eq!(agents_rows.trim(), "0");
    let log = std::fs::read_to_string(cluster.log()).expect("server log");
    let logged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dbpower_agent@") && l.contains("duration:"))
        .collect();
    assert!(logged.is_empty(), "{logged:?}");
    assert!(
        log.contains("postgres@shop_b LOG:  duration:"),
        "the workload was logged"
    );
}
