//! `database_read_url` on a real streaming replica: a private PostgreSQL 15 primary and a replica made
//! from it with `pg_basebackup -R`, each on its own port, under `dbpower serve`. List reads go to the
//! replica while it keeps up (what it has not replayed is not listed yet), to the primary once its lag
//! passes `database_read_max_lag_ms` or it stops, and back to it when it catches up; `/ready` and
//! `/metrics` show its lag. Runs when `DBPOWER_TEST_POSTGRES_URL` is set (the machine has PostgreSQL);
//! fails when a cluster cannot start.

use std::time::{Duration, Instant};

use dbpower_testkit::{Client, secret};
use reqwest::Method as M;
use serde_json::{Value, json};

use crate::agent::free_port;
use crate::agentpg::Cluster;
use crate::support::{bin, post_signed_batch};

/// Polls `/ready` until `pred` holds for its `replica` object (20 s at most).
async fn ready_until(c: &Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (_, ready) = c.call(M::GET, "/ready", None, None).await;
        if pred(&ready["replica"]) {
            return ready;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: /ready says {ready}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The ids of the listed executions of the marker statement.
async fn listed(c: &Client, token: &str) -> usize {
    c.items("/api/v1/slow-queries?q=replica_marker&per_page=100", token)
        .await
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_reads_use_the_replica_until_it_lags_or_stops() {
    if std::env::var("DBPOWER_TEST_POSTGRES_URL").is_err() {
        return;
    }
    let primary = Cluster::start();
    let replica = primary.replica();
    primary.sql("postgres", "CREATE DATABASE platform");
    let start = Instant::now();
    while replica
        .sql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'platform'",
        )
        .trim()
        != "1"
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the replica follows"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (primary_url, replica_url) = (
        primary.url("postgres", "platform"),
        replica.url("postgres", "platform"),
    );
    let listen = free_port();
    let server = bin()
        .serve()
        .listen(&listen)
        .with_settings(|s| {
            s.database_url = Some(primary_url);
            s.database_read_url = Some(secret(&replica_url));
            s.database_read_max_lag_ms = 6_000;
        })
        .spawn();
    let c = Client::new(&format!("http://{listen}"));
    let sa = c
        .login("admin@dbpower.local", &server.generated_password())
        .await;
    let (s, org) = c
        .call(
            M::POST,
            "/api/v1/organizations",
            Some(&sa),
            Some(json!({"name": "replicated"})),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{org}");
    let (s, key) = c
        .call(
            M::POST,
            "/api/v1/api-keys",
            Some(&sa),
            Some(json!({"name": "agent", "organization_id": org["id"]})),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{key}");
    let ready = ready_until(&c, "the replica is used", |r| r["in_use"] == true).await;
    assert_eq!(ready["replica"]["max_lag_ms"], 6000, "{ready}");

    // Replay paused right after a commit the replica has applied: it answers, lagging behind.
    primary.sql(
        "platform",
        "CREATE TABLE replica_probe (at timestamptz); INSERT INTO replica_probe VALUES (now())",
    );
    while replica
        .sql(
            "platform",
            "SELECT count(*) FROM pg_class WHERE relname = 'replica_probe'",
        )
        .trim()
        != "1"
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    replica.sql("postgres", "SELECT pg_wal_replay_pause()");
    let queries: Vec<Value> = (0..3)
        .map(|i| {
            json!({"sql_text": format!("SELECT * FROM replica_marker WHERE id = {i}"),
            "execution_time_ms": 900.0, "database_type": "postgresql", "database_name": "shop"})
        })
        .collect();
    let r = post_signed_batch(
        &reqwest::Client::new(),
        c.base(),
        &key,
        "replica-1",
        &json!({ "queries": queries }),
    )
    .await;
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let status = c.call(M::GET, "/ready", None, None).await.1;
    assert_eq!(
        status["replica"]["in_use"], true,
        "within the bound: {status}"
    );
    assert_eq!(
        listed(&c, &sa).await,
        0,
        "the list is read from the replica, which has not replayed the batch"
    );
    // Its lag passes the bound: the same list comes from the primary.
    let ready = ready_until(&c, "a lagging replica is left", |r| r["in_use"] == false).await;
    assert!(
        ready["replica"]["lag_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 6000),
        "{ready}"
    );
    assert_eq!(listed(&c, &sa).await, 3, "read from the primary meanwhile");
    let text = reqwest::get(format!("{}/metrics", c.base()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(text.contains("dbpower_db_replica_in_use 0"), "{text}");
    assert!(text.contains("dbpower_db_replica_lag_seconds "), "{text}");

    // Caught up: back to the replica, which now has the batch.
    replica.sql("postgres", "SELECT pg_wal_replay_resume()");
    ready_until(&c, "a replica that caught up is used again", |r| {
        r["in_use"] == true && r["lag_ms"].as_u64().is_some_and(|ms| ms < 6000)
    })
    .await;
    assert_eq!(listed(&c, &sa).await, 3, "replicated");

    // Stopped: reads go to the primary, and nothing fails.
    replica.stop();
    let ready = ready_until(&c, "a stopped replica is left", |r| r["in_use"] == false).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(ready["replica"]["lag_ms"].is_null(), "{ready}");
    assert_eq!(listed(&c, &sa).await, 3);
    drop(server);
}
