//! `dbpower agent` on one MariaDB source with both of its methods (the slow-log file with every
//! statement logged, and `performance_schema` statement digests), on a private `mariadbd` this test
//! starts under a temporary directory (performance_schema is a startup setting, off on the machine's
//! shared server). sysbench runs a fixed number of transactions over the text protocol in one schema and
//! over server-side prepared statements in another. The platform's count of every statement is what
//! sysbench ran: the digest table counts the text-protocol executions and the log's copies of them arrive
//! as samples of those classes; MariaDB's digest table does not hold binary-protocol executions, so the
//! log counts those. Nothing the agent runs comes back as data. Runs when `DBPOWER_TEST_MYSQL_URL` is
//! set (the machine has MariaDB); fails when the private server cannot start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::agent::{Platform, agent, free_port, ok, write_config};
use crate::agentpg::{owned_tempdir, succeed};

/// A MariaDB server of the test's own, stopped when dropped.
struct Server {
    dir: tempfile::TempDir,
    port: u16,
    child: Child,
}

impl Server {
    /// `None` when the machine names no MariaDB (`DBPOWER_TEST_MYSQL_URL` unset): its binaries are
    /// then not expected either. Otherwise a started server on which `setup` has run.
    fn for_test(setup: &str) -> Option<Server> {
        std::env::var("DBPOWER_TEST_MYSQL_URL").ok()?;
        let server = Server::start();
        server.sql("", setup);
        Some(server)
    }

    fn start() -> Server {
        let dir = owned_tempdir("mysql");
        let data = dir.path().join("data");
        // Its own temporary directory: a server starting removes `#sql` files from its tmpdir, which
        // would break another test's server being installed at the same moment.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("tmpdir");
        succeed(Command::new("chown").arg("mysql:").arg(&tmp));
        let tmpdir = format!("--tmpdir={}", tmp.display());
        succeed(
            Command::new("mariadb-install-db")
                .args([
                    "--no-defaults",
                    "--user=mysql",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ])
                .arg(format!("--datadir={}", data.display()))
                .arg(&tmpdir),
        );
        let port: u16 = free_port()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let at = |name: &str| dir.path().join(name).display().to_string();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(&tmpdir)
            .args(["--user=mysql", "--bind-address=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", at("sock")))
            .arg(format!("--pid-file={}", at("pid")))
            .arg(format!("--log-error={}", at("error.log")))
            .args([
                "--performance-schema=ON",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--slow-query-log=1",
                "--long-query-time=0",
                "--log-slow-verbosity=query_plan,explain",
            ])
            .arg(format!("--slow-query-log-file={}", at("slow.log")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let server = Server { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.try_sql("", "SELECT 1").is_none() {
            let log = std::fs::read_to_string(server.dir.path().join("error.log"));
            assert!(Instant::now() < deadline, "mariadbd did not start: {log:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    fn slow_log(&self) -> PathBuf {
        self.dir.path().join("slow.log")
    }

    fn try_sql(&self, db: &str, sql: &str) -> Option<String> {
        let out = Command::new("mariadb")
            .args(["-uroot", "-h127.0.0.1", "-N", "-B"])
            .arg(format!("-P{}", self.port))
            .arg(format!("--database={db}"))
            .args(["-e", sql])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `sql` as root in `db`, in a session that is neither logged nor instrumented.
    fn sql(&self, db: &str, sql: &str) -> String {
        let quiet = "SET SESSION slow_query_log = 0; \
             UPDATE performance_schema.threads SET INSTRUMENTED = 'NO' WHERE PROCESSLIST_ID = CONNECTION_ID();";
        self.try_sql(db, &format!("{quiet} {sql}"))
            .unwrap_or_else(|| panic!("{sql}"))
    }

    /// sysbench's read-write transactions as root in `db`: the workload (counted and logged).
    fn sysbench(&self, db: &str, command: &str, extra: &[&str]) {
        succeed(
            Command::new("sysbench")
                .args([
                    "oltp_read_write",
                    "--mysql-host=127.0.0.1",
                    "--mysql-user=root",
                ])
                .arg(format!("--mysql-port={}", self.port))
                .arg(format!("--mysql-db={db}"))
                .args(["--tables=1", "--table-size=1000", "--threads=1"])
                .args(extra)
                .arg(command),
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one sysbench `oltp_read_write` transaction runs, by statement (its documented default mix).
const TRANSACTION: [(&str, i64); 11] = [
    ("SELECT c FROM sbtest1 WHERE id=1", 10),
    ("SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 2", 1),
    ("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 2", 1),
    (
        "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 2 ORDER BY c",
        1,
    ),
    (
        "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 2 ORDER BY c",
        1,
    ),
    ("UPDATE sbtest1 SET k=k+1 WHERE id=1", 1),
    ("UPDATE sbtest1 SET c='x' WHERE id=1", 1),
    ("DELETE FROM sbtest1 WHERE id=1", 1),
    (
        "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, 'x', 'y')",
        1,
    ),
    ("BEGIN", 1),
    ("COMMIT", 1),
];

#[tokio::test(flavor = "multi_thread")]
async fn both_mariadb_methods_count_what_ran_once_and_never_collect_the_agent() {
    // The agent's own account, with the documented grants (docs/AGENT.md).
    let Some(server) = Server::for_test(
        "CREATE DATABASE shop; CREATE DATABASE shop_ps; \
         CREATE USER 'dbpower_agent'@'127.0.0.1'; \
         GRANT SELECT ON performance_schema.* TO 'dbpower_agent'@'127.0.0.1'; \
         GRANT UPDATE ON performance_schema.threads TO 'dbpower_agent'@'127.0.0.1'; \
         GRANT SELECT ON shop.* TO 'dbpower_agent'@'127.0.0.1'; \
         GRANT SELECT ON shop_ps.* TO 'dbpower_agent'@'127.0.0.1';",
    ) else {
        return;
    };
    for db in ["shop", "shop_ps"] {
        server.sysbench(db, "prepare", &[]);
    }

    let work = tempfile::tempdir().expect("tmp");
    let platform = Platform::start();
    let key = platform.key("MariaDB Both").await;
    let source = format!(
        "[[source]]\nname = \"db\"\nkind = \"mysql\"\nurl = \"mysql://dbpower_agent@127.0.0.1:{}/shop\"\nmethods = [\"slow_log_file\", \"performance_schema\"]\nmin_duration_ms = 0\nlog_path = \"{}\"\nexplain = true\nschema = true\n",
        server.port,
        server.slow_log().display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    // The first round takes the digests' baseline and the log's end.
    ok(&agent(&config, &["--once"]));

    // The workload: the text protocol in one schema, server-side prepared statements in the other.
    let (text_events, prepared_events) = (15, 10);
    server.sysbench(
        "shop",
        "run",
        &["--db-ps-mode=disable", &format!("--events={text_events}")],
    );
    server.sysbench(
        "shop_ps",
        "run",
        &["--db-ps-mode=auto", &format!("--events={prepared_events}")],
    );
    // What would be sent: a logged point select carries its literal's kind (taken before scrubbing),
    // and schema snapshots, a COMMIT's included, carry the server's settings.
    let dry = agent(&config, &["--dry-run"]);
    ok(&dry);
    let batches = crate::agentpg::printed_batches(&dry.stdout);
    let selects = crate::agentpg::dry_run_queries(&batches, "FROM `sbtest1` WHERE ID = ?", "shop");
    let hint = serde_json::json!({"literals": [{"column": "id", "op": "=", "kind": "number"}]});
    assert!(selects.iter().any(|q| q["hints"] == hint), "{selects:?}");
    // The slow log's own plan (log_slow_verbosity = explain) comes with each logged execution.
    let logged: Vec<&&serde_json::Value> = selects
        .iter()
        .filter(|q| q["source"] == "db:slow_log_file")
        .filter(|q| {
            q["sql_text"]
                .as_str()
                .is_some_and(|s| s.starts_with("SELECT"))
        })
        .collect();
    assert!(!logged.is_empty(), "{selects:?}");
    for q in logged {
        let t = &q["explain"]["query_block"]["table"];
        assert_eq!(
            (&t["table_name"], &t["access_type"], &t["key"]),
            (
                &serde_json::json!("sbtest1"),
                &serde_json::json!("const"),
                &serde_json::json!("PRIMARY")
            ),
            "{q}"
        );
    }
    let commits = crate::agentpg::dry_run_queries(&batches, "COMMIT", "shop");
    assert!(
        commits
            .iter()
            .any(|q| q["schema"]["settings"]["innodb_flush_log_at_trx_commit"] == "1"),
        "{commits:?}"
    );
    ok(&agent(&config, &["--once"]));

    let oa = platform.org_admin(&key.0).await;
    let items = platform
        .client()
        .items("/api/v1/query-classes?per_page=100", &oa)
        .await;
    let mut counted: BTreeMap<String, i64> = BTreeMap::new();
    for c in &items {
        let sample = c["sample_sql"].as_str().unwrap_or("");
        let n = c["count"].as_i64().unwrap_or(-1);
        assert!(n > 0, "a class without executions: {c}");
        for agent_text in [
            "dbpower",
            "performance_schema",
            "information_schema",
            "EXPLAIN",
            "time_zone",
            "NAMES",
            "sql_mode",
        ] {
            assert!(
                !sample.contains(agent_text),
                "the agent's own statement came back ({n}): {sample}"
            );
        }
        *counted
            .entry(dbpower_sql::fingerprint::digest_key(sample))
            .or_default() += n;
    }
    let ran: BTreeMap<String, i64> = TRANSACTION
        .iter()
        .map(|(sql, per)| {
            (
                dbpower_sql::fingerprint::digest_key(sql),
                per * (text_events + prepared_events),
            )
        })
        .collect();
    assert_eq!(counted, ran, "platform classes: {items:?}");
    // One class per statement in the text-protocol schema: the log's copies joined the digest's.
    let point = dbpower_sql::fingerprint::digest_key(TRANSACTION[0].0);
    let classes: Vec<&serde_json::Value> = items
        .iter()
        .filter(|c| {
            dbpower_sql::fingerprint::digest_key(c["sample_sql"].as_str().unwrap_or("")) == point
        })
        .collect();
    let counts: Vec<i64> = classes
        .iter()
        .map(|c| c["count"].as_i64().unwrap_or(-1))
        .collect();
    assert!(
        counts.contains(&(10 * text_events)) && counts.contains(&(10 * prepared_events)),
        "{classes:?}"
    );

    // The server's own slow log of this real workload: `dbpower digest` finds the classes and counts
    // pt-query-digest finds (same query ids), and every sysbench statement in it.
    let Ok(exe) = std::env::var("DBPOWER_TEST_PT_QUERY_DIGEST") else {
        return;
    };
    let (ours, report) = crate::digest::ours(&server.slow_log());
    let (theirs, _) = crate::digest::pt(&exe, &server.slow_log());
    assert_eq!(ours, theirs, "dbpower digest and pt-query-digest");
    let digested: i64 = report["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .filter(|c| {
            let key = dbpower_sql::fingerprint::digest_key(c["sample"].as_str().unwrap_or(""));
            ran.contains_key(&key)
        })
        .map(|c| c["count"].as_i64().unwrap_or(0))
        .sum();
    assert!(
        digested >= ran.values().sum::<i64>(),
        "{digested} sysbench executions in the log"
    );
}

/// Statements as applications write them; each runs once on a table the test creates.
const DIGEST_CORPUS: &[&str] = &[
    "SELECT * FROM t WHERE id = -5",
    "SELECT * FROM t WHERE a = 1 AND b IS NULL",
    "SELECT * FROM t WHERE a IS NOT NULL OR b = NULL",
    "SELECT * FROM t WHERE a IN (1,2,3) AND b = 'x'",
    "SELECT * FROM t WHERE a NOT IN (1) OR b IN ('a', 'b')",
    "INSERT INTO t (id, a, b) VALUES (1, 2, 'x'), (2, 3, 'y')",
    "INSERT INTO t (id, a) VALUES (3, NULL)",
    "INSERT INTO t (id, a, b) VALUES (40, 1, 'q') ON DUPLICATE KEY UPDATE a = VALUES(a) + 1",
    "REPLACE INTO t (id) VALUES (9)",
    "UPDATE t SET k = k + 1 WHERE id = 7",
    "UPDATE t SET k=k-1, b = CONCAT(b, 'z') WHERE id BETWEEN 1 AND 10",
    "UPDATE t SET a = -a, k = k * -2 WHERE id IN (SELECT 5)",
    "DELETE FROM t WHERE id > 100",
    "DELETE FROM t WHERE id = 9 LIMIT 1",
    "SELECT DISTINCT a FROM t ORDER BY 1 LIMIT 5, 10",
    "SELECT a, COUNT(*) FROM t GROUP BY a HAVING COUNT(*) > 2",
    "SELECT /* comment */ `a` FROM `t` WHERE `b` LIKE '%x%' -- tail",
    "SELECT * FROM t WHERE d > DATE '2024-01-01' - INTERVAL 3 DAY",
    "SELECT * FROM t WHERE d BETWEEN CURRENT_DATE AND CURRENT_DATE + INTERVAL 1 MONTH",
    "SELECT * FROM t WHERE b = _utf8mb4'x' COLLATE utf8mb4_bin",
    "SELECT 0xFF, x'0A', b'01', 1.5e3, .5, TRUE, FALSE",
    "SELECT CAST(a AS CHAR(10)), CONVERT(b USING utf8mb4), CAST(b AS SIGNED INTEGER) FROM t",
    "SELECT * FROM t t1 JOIN t t2 ON t1.id = t2.a WHERE t1.a = -t2.k",
    "SELECT * FROM t t1 LEFT OUTER JOIN t AS t2 USING (id) WHERE t2.id IS NULL",
    "SELECT * FROM t LIMIT 1 OFFSET 2",
    "SELECT IF(a > 0, 'p', 'n'), IFNULL(b, ''), COALESCE(a, k, 0) FROM t",
    "SELECT CASE WHEN a = 1 THEN 'one' WHEN a = 2 THEN 'two' ELSE NULL END FROM t",
    "SELECT * FROM t WHERE (a, b) IN ((1, 'a'), (2, 'b'))",
    "SELECT SQL_NO_CACHE a FROM t",
    "SELECT SQL_CALC_FOUND_ROWS a FROM t LIMIT 3",
    "SELECT a FROM t UNION ALL SELECT a FROM t",
    "SELECT a FROM t UNION SELECT k FROM t ORDER BY 1 DESC",
    "SELECT a FROM t WHERE a = (SELECT MAX(a) FROM t)",
    "SELECT a FROM t WHERE EXISTS (SELECT 1 FROM t t2 WHERE t2.a = t.id)",
    "SELECT * FROM (SELECT a, b FROM t WHERE k > 3) AS d WHERE d.a < 10",
    "SELECT NOW(), CURRENT_TIMESTAMP, CURDATE(), UTC_TIMESTAMP() FROM DUAL",
    "SELECT * FROM t WHERE b REGEXP '^a' OR NOT a <=> 3",
    "SELECT a FROM t WHERE id = +5",
    "SELECT 1 + 2 * 3, 'a' 'b'",
    "SELECT * FROM t WHERE b = \"dq\" AND a != 4 AND a <> 5 AND a >= 1 AND a <= 9",
    "SELECT JSON_EXTRACT('{\"a\":1}', '$.a'), JSON_OBJECT('k', a) FROM t",
    "SELECT * FROM t WHERE id = 1 FOR UPDATE",
    "SELECT * FROM t LOCK IN SHARE MODE",
    "SELECT CHAR(65 USING utf8mb4)",
    "SELECT SUBSTRING(b, 1, 2), SUBSTR(b FROM 2), TRIM(LEADING 'x' FROM b), MID(b, 2, 1) FROM t",
    "SELECT COUNT(DISTINCT a), GROUP_CONCAT(b ORDER BY b SEPARATOR ',') FROM t",
    "SELECT * FROM corpus.t WHERE t.id = 1",
    "SELECT a FROM t WHERE b LIKE CONCAT('%', 'x', '%') ESCAPE '!'",
    "SELECT a FROM t WHERE a = 1 && k = 2 || b = 'c'",
    "SELECT a DIV 2, a MOD 3, a % 4, -a, ~a, a << 1, a >> 1, a & 1, a | 2, a ^ 3 FROM t",
    "SELECT DATE_FORMAT(d, '%Y-%m'), DATE_ADD(d, INTERVAL 2 HOUR), TIMESTAMPDIFF(SECOND, d, NOW()) FROM t",
    "SELECT * FROM t ORDER BY a ASC, b DESC LIMIT 10",
    "SELECT a FROM t WHERE id IN (1) AND a IN (1, 2) AND k IN (SELECT a FROM t)",
    "SET @v = 3",
    "SELECT @v, @@version, @@session.sql_mode",
    "SHOW TABLES",
    "SHOW COLUMNS FROM t",
    "BEGIN",
    "COMMIT",
    "START TRANSACTION",
    "ROLLBACK",
    "SELECT a FROM t WHERE b = N'national'",
    "SELECT a FROM t WHERE id = 1.0e-3 OR id = 2e+5 OR id = 1.",
    "UPDATE t SET b = NULL, a = DEFAULT WHERE id = 2",
    "INSERT INTO t SET id = 77, a = 1",
    "INSERT INTO t (id, a) SELECT id + 1000, a FROM t WHERE id < 3",
    "SELECT a FROM t FORCE INDEX (PRIMARY) WHERE id > 0",
    "SELECT a FROM t USE INDEX (ia) WHERE a BETWEEN -1 AND 1",
];

/// Each statement of the corpus and the `DIGEST_TEXT` the server recorded for it reduce to one key,
/// and different statements keep different keys.
#[tokio::test(flavor = "multi_thread")]
async fn a_logged_statement_and_its_digest_text_share_a_key_on_the_real_server() {
    use sqlx::Connection;
    let Some(server) = Server::for_test(
        "CREATE DATABASE corpus; CREATE TABLE corpus.t (id int PRIMARY KEY, a int, b varchar(20), \
         d datetime, k int, KEY ia (a))",
    ) else {
        return;
    };
    let url = format!("mysql://root@127.0.0.1:{}/corpus", server.port);
    let mut conn = sqlx::MySqlConnection::connect(&url).await.expect("connect");
    let mut keys: BTreeMap<String, &str> = BTreeMap::new();
    for sql in DIGEST_CORPUS {
        // The text protocol, as applications send it: the server digests it.
        for run in [
            "TRUNCATE performance_schema.events_statements_summary_by_digest",
            sql,
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(run))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{run}: {e}"));
        }
        let digests: Vec<(String,)> = sqlx::query_as(
            "SELECT DIGEST_TEXT FROM performance_schema.events_statements_summary_by_digest \
             WHERE DIGEST_TEXT IS NOT NULL AND DIGEST_TEXT NOT LIKE 'TRUNCATE%'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("digests");
        assert_eq!(digests.len(), 1, "{sql}: {digests:?}");
        let key = dbpower_sql::fingerprint::digest_key(sql);
        assert_eq!(
            key,
            dbpower_sql::fingerprint::digest_key(&digests[0].0),
            "{sql}: digest text {:?}",
            digests[0].0
        );
        if let Some(other) = keys.insert(key, sql) {
            panic!("{sql} and {other} share a key");
        }
    }
}

/// On MariaDB the agent reports changes it sees as markers: an index added to a table it described,
/// and a global variable the advice reads changed. An unchanged round reports nothing more.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_schema_and_variable_changes_become_markers_once() {
    let Some(server) = Server::for_test(
        "CREATE DATABASE shop; CREATE TABLE shop.orders (id int PRIMARY KEY, note varchar(20))",
    ) else {
        return;
    };
    let platform = Platform::start();
    let key = platform.key("Watch Maria").await;
    let work = tempfile::tempdir().expect("tmp");
    let source = format!(
        "[[source]]\nname = \"maria\"\nkind = \"mysql\"\nurl = \"mysql://root@127.0.0.1:{}/\"\nmethods = [\"slow_log_file\"]\nlog_path = \"{}\"\nwatch_every_secs = 0\n",
        server.port,
        server.slow_log().display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    let oa = platform.org_admin(&key.0).await;
    let markers = || async {
        let (status, body) = platform
            .client()
            .call(
                reqwest::Method::GET,
                "/api/v1/events?per_page=100",
                Some(&oa),
                None,
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    };
    ok(&agent(&config, &["--once"]));
    // A logged statement on the table: the next round describes it.
    server
        .try_sql("shop", "SELECT note FROM orders WHERE id = 1")
        .expect("select");
    ok(&agent(&config, &["--once"]));
    assert!(markers().await.is_empty(), "first sight is not a change");
    server.sql(
        "",
        "ALTER TABLE shop.orders ADD INDEX note_idx (note); SET GLOBAL sort_buffer_size = 1048576",
    );
    ok(&agent(&config, &["--once"]));
    let got = markers().await;
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        got.iter().filter(|e| e["kind"] == kind).collect()
    };
    let (schema, settings) = (of("schema"), of("config"));
    assert_eq!((schema.len(), settings.len()), (1, 1), "{got:?}");
    assert_eq!(schema[0]["labels"]["table"], "shop.orders", "{}", schema[0]);
    assert_eq!(
        schema[0]["labels"]["indexes_added"], "note_idx",
        "{}",
        schema[0]
    );
    assert!(
        settings[0]["labels"]["sort_buffer_size"]
            .as_str()
            .unwrap_or("")
            .ends_with("-> 1048576"),
        "{}",
        settings[0]
    );
    ok(&agent(&config, &["--once"]));
    assert_eq!(markers().await.len(), 2, "nothing changed since");
}

/// The indexes of `db.orders` on `server`, as a text to compare.
fn indexes(server: &Server, db: &str) -> String {
    server.sql(
        "",
        &format!(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = 'orders' ORDER BY INDEX_NAME, SEQ_IN_INDEX"
        ),
    )
}

/// MariaDB index advice validated on a sandbox: the agent ships a logged statement (with its literal,
/// `pii_only`) from `shop`, the platform recommends an index, and the agent builds it on the sandbox's
/// copy (`shop_copy`), times the statement before and after, and drops it. Neither database's indexes
/// change; the recommendation shows both timings.
#[tokio::test(flavor = "multi_thread")]
async fn a_mariadb_sandbox_builds_times_and_drops_the_index_and_production_is_untouched() {
    let mut setup = String::new();
    for db in ["shop", "shop_copy"] {
        setup.push_str(&format!(
            "CREATE DATABASE {db}; \
             CREATE TABLE {db}.orders (id INT PRIMARY KEY, customer_ref INT NOT NULL, note VARCHAR(40)); \
             INSERT INTO {db}.orders SELECT seq, seq % 50000, CONCAT('note ', seq) FROM {db}.seq_1_to_300000; \
             ANALYZE TABLE {db}.orders; "
        ));
    }
    let Some(server) = Server::for_test(&setup) else {
        return;
    };
    let (shop_before, copy_before) = (indexes(&server, "shop"), indexes(&server, "shop_copy"));
    let platform = Platform::start();
    let key = platform.key("Sandbox Maria").await;
    let oa = platform.org_admin(&key.0).await;
    let work = tempfile::tempdir().expect("tmp");
    let url = format!("mysql://root@127.0.0.1:{}/", server.port);
    let source = format!(
        "[[source]]\nname = \"maria\"\nkind = \"mysql\"\nurl = \"{url}\"\nmethods = [\"slow_log_file\"]\nlog_path = \"{}\"\n\n\
         [[source]]\nname = \"copy\"\nkind = \"mysql\"\nurl = \"{url}\"\nrole = \"sandbox\"\nsandbox_database = \"shop_copy\"\nsandbox_runs = 3\n",
        server.slow_log().display()
    );
    let (config, text) =
        crate::whatif::keeping_literals(&platform, &key, &oa, work.path(), &source).await;
    assert!(
        text.contains("sandbox: the agent's user may build and drop indexes"),
        "{text}"
    );
    ok(&agent(&config, &["--once"]));
    server
        .try_sql("shop", "SELECT note FROM orders WHERE customer_ref = 4242")
        .expect("select");
    ok(&agent(&config, &["--once"]));

    let detail = crate::whatif::settled(&platform, &oa, &config, "customer_ref = 4242").await;
    let v = &crate::whatif::index_advice(&detail)["validation"];
    assert_eq!(v["status"], "validated", "{detail}");
    assert_eq!(v["method"], "sandbox", "{v}");
    assert_eq!(v["uses_index"], true, "{v}");
    let (b, a) = (
        v["time_before_ms"].as_f64().expect("time_before_ms"),
        v["time_after_ms"].as_f64().expect("time_after_ms"),
    );
    assert!(a < b, "{b} ms -> {a} ms");
    // Built and dropped on the copy; the monitored database never touched.
    assert_eq!(indexes(&server, "shop_copy"), copy_before);
    assert_eq!(indexes(&server, "shop"), shop_before);
}
