//! Analysis workers under a fault injected into the real database: a job whose result cannot be stored
//! fails alone and is recorded, the other jobs the worker claimed with it are analysed at once (not after
//! their lease expires), and the worker goes on with new work.

use dbpower_testkit::postgres_server;
use serde_json::{Value, json};

use super::tenants::Env;

use crate::support::{post_signed_batch, psql};

/// Classes of the organization and whether each has been analysed (a severity).
async fn analysed(env: &Env, oa: &str) -> Vec<(String, bool)> {
    let items = env.c.items("/api/v1/query-classes?per_page=100", oa).await;
    items
        .iter()
        .map(|c| {
            (
                c["sample_sql"].as_str().unwrap_or_default().to_string(),
                !c["severity"].is_null(),
            )
        })
        .collect()
}

/// Waits (30 s at most) until `want` classes are analysed; returns the classes as last seen.
async fn wait_analysed(env: &Env, oa: &str, want: usize) -> Vec<(String, bool)> {
    let mut last = Vec::new();
    for _ in 0..150 {
        last = analysed(env, oa).await;
        if last.iter().filter(|(_, done)| *done).count() >= want {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("{want} classes were not analysed in 30 s: {last:?}");
}

fn batch(tables: &[&str]) -> Value {
    let queries: Vec<Value> = tables
        .iter()
        .map(|t| {
            json!({"sql_text": format!("SELECT * FROM {t} WHERE id = 1"), "execution_time_ms": 250.0,
                   "database_type": "postgresql"})
        })
        .collect();
    json!({ "queries": queries })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_analysis_fails_only_its_own_job_on_postgres() {
    let Some(server) = postgres_server() else {
        return;
    };
    // A lease far longer than the test: a job left claimed would never be taken over in time.
    let env = Env::postgres_with(&server, |s| {
        s.analysis_lease_secs = 600;
        s.demo = Some(false);
    })
    .await;
    let url = env.db_url().expect("a PostgreSQL platform");
    // The fault: the result of the first job ever queued cannot be stored. The worker claims its jobs
    // in id order, so the failing one comes before the others it claimed in the same round.
    psql(
        &url,
        "CREATE FUNCTION dbp_refuse() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN \
           IF NEW.class_id = (SELECT class_id FROM analysis_jobs ORDER BY id LIMIT 1) THEN \
             RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $f$; \
         CREATE TRIGGER dbp_refuse BEFORE INSERT OR UPDATE ON analysis_results \
           FOR EACH ROW EXECUTE FUNCTION dbp_refuse()",
    );
    let (_, oa) = env.org("Workers").await;
    let key = env.key(&oa).await;
    let http = reqwest::Client::new();
    let tables = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let r = post_signed_batch(&http, env.c.base(), &key, "worker-1", &batch(&tables)).await;
    assert_eq!(r.status().as_u16(), 202);

    let classes = wait_analysed(&env, &oa, tables.len() - 1).await;
    assert_eq!(classes.len(), tables.len(), "{classes:?}");
    let failed = psql(
        &url,
        "SELECT status || ' ' || attempts || ' ' || coalesce(last_error, '') FROM analysis_jobs ORDER BY id LIMIT 1",
    );
    assert!(
        failed.contains("injected fault") && !failed.starts_with("done"),
        "the failure is recorded on its job: {failed}"
    );
    let metrics = http
        .get(format!("{}/metrics", env.c.base()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("dbpower_analysis_jobs_total{outcome=\"failed\"}")),
        "failures are counted"
    );

    // The worker lives on: once the fault is gone, new work is analysed.
    psql(&url, "DROP TRIGGER dbp_refuse ON analysis_results");
    let r = post_signed_batch(&http, env.c.base(), &key, "worker-2", &batch(&["iota"])).await;
    assert_eq!(r.status().as_u16(), 202);
    let classes = wait_analysed(&env, &oa, tables.len()).await;
    assert!(
        classes
            .iter()
            .any(|(sql, done)| sql.contains("iota") && *done),
        "{classes:?}"
    );
}
