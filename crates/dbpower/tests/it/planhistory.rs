//! Plan history end to end from a real server's log: a private PostgreSQL 15 cluster with
//! `auto_explain` (JSON plans in the stderr log) and every statement logged; the agent reads the plans
//! from the log and ships them scrubbed with their statements. Table `faster` is read by a sequential
//! scan until an index is created; table `slower` is read through its index until the index is dropped.
//! Each class shows its two plans, newest first, and only the class that got slower on its new plan
//! raises a plan-changed alert. Runs when `DBPOWER_TEST_POSTGRES_URL` is set; fails when the private
//! cluster cannot start.

use std::time::{Duration, Instant};

use reqwest::Method as M;
use serde_json::Value;

use crate::agent::{Platform, agent, ok, write_config};
use crate::agentpg::{Cluster, agent_role};

/// Executions per table and phase.
const RUNS: usize = 8;

/// The workload's statements on `table`: each with its own literal, each in its own session (as an
/// application sends them, one statement per message).
fn run(cluster: &Cluster, table: &str, phase: usize) {
    for i in 0..RUNS {
        cluster.workload(
            "shop",
            &format!(
                "SELECT * FROM {table} WHERE email = 'u{}@mail.example'",
                phase * 1000 + i
            ),
        );
    }
}

/// The plan summaries of the class reading `table`, newest first, with their executions.
async fn plans(platform: &Platform, oa: &str, table: &str) -> Vec<(String, i64)> {
    let c = platform.client();
    let classes = c.items("/api/v1/query-classes?per_page=100", oa).await;
    let id = classes
        .iter()
        .find(|k| {
            k["sample_sql"]
                .as_str()
                .is_some_and(|s| s.contains(&format!("FROM {table} ")))
        })
        .and_then(|k| k["query_id"].as_str())
        .unwrap_or_else(|| panic!("no class reads {table}: {classes:?}"))
        .to_string();
    let (status, body) = c
        .call(
            M::GET,
            &format!("/api/v1/query-classes/{id}/plans"),
            Some(oa),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(
        !text.contains("mail.example"),
        "a literal left the host: {text}"
    );
    body.as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["summary"].as_str().unwrap_or("").to_string(),
                p["executions"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_plan_change_is_an_alert_only_when_it_is_slower() {
    if std::env::var("DBPOWER_TEST_POSTGRES_URL").is_err() {
        return;
    }
    let cluster = Cluster::start_with(
        "shared_preload_libraries = 'pg_stat_statements,auto_explain'\n\
         auto_explain.log_min_duration = 0\nauto_explain.log_format = json\n\
         max_parallel_workers_per_gather = 0\n",
    );
    cluster.sql("postgres", &agent_role());
    cluster.sql("postgres", "CREATE DATABASE shop");
    for table in ["faster", "slower"] {
        cluster.sql(
            "shop",
            &format!(
                "CREATE TABLE {table} (id int PRIMARY KEY, email text, note text); \
                 INSERT INTO {table} SELECT g, 'u' || g || '@mail.example', repeat('x', 40) \
                 FROM generate_series(1, 300000) g"
            ),
        );
    }
    cluster.sql(
        "shop",
        "CREATE INDEX slower_email_idx ON slower (email); ANALYZE; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO dbpower_agent",
    );

    let work = tempfile::tempdir().expect("tmp");
    let platform = Platform::start_alerting();
    let key = platform.key("Plan History").await;
    let source = format!(
        "[[source]]\nname = \"pg\"\nkind = \"postgresql\"\nurl = \"{}\"\nmethods = [\"postgres_log\"]\nmin_duration_ms = 0\nlog_path = \"{}\"\n",
        cluster.url("dbpower_agent", "shop"),
        cluster.log().display()
    );
    let config = write_config(work.path(), &platform, &key, &source);
    // The first round takes the log's end.
    ok(&agent(&config, &["--once"]));

    run(&cluster, "faster", 1);
    run(&cluster, "slower", 1);
    ok(&agent(&config, &["--once"]));
    // The new plans start at least a second later than the old ones.
    std::thread::sleep(Duration::from_millis(1100));
    cluster.sql(
        "shop",
        "CREATE INDEX faster_email_idx ON faster (email); DROP INDEX slower_email_idx; ANALYZE",
    );
    run(&cluster, "faster", 2);
    run(&cluster, "slower", 2);
    ok(&agent(&config, &["--once"]));

    let oa = platform.org_admin(&key.0).await;
    let n = RUNS as i64;
    assert_eq!(
        plans(&platform, &oa, "faster").await,
        [
            ("faster: Index Scan using faster_email_idx".to_string(), n),
            ("faster: Seq Scan".to_string(), n)
        ]
    );
    assert_eq!(
        plans(&platform, &oa, "slower").await,
        [
            ("slower: Seq Scan".to_string(), n),
            ("slower: Index Scan using slower_email_idx".to_string(), n)
        ]
    );
    // The evaluator runs every second: the slower class's alert opens, the faster class never gets one.
    let c = platform.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let alerts: Vec<Value> = loop {
        let a = c.items("/api/v1/alerts?kind=plan_changed", &oa).await;
        if !a.is_empty() || Instant::now() > deadline {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let about = |a: &Value| a["evidence"]["summary"].as_str().unwrap_or("").to_string();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        about(&alerts[0]).contains("to \"slower: Seq Scan\""),
        "{alerts:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = c.items("/api/v1/alerts?kind=plan_changed", &oa).await;
    assert_eq!(again.len(), 1, "{again:?}");
}
