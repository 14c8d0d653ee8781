//! Re-analysis on new evidence, on every backend: evidence stored while a class's analysis runs gets a
//! job of its own, evidence within the debounce window joins the one queued job, a job is claimed only
//! once it is due, and re-queuing or re-claiming beside a newer job of the class supersedes instead of
//! failing.

use std::time::Duration;

use chrono::Utc;
use dbpower_core::{OrgId, Scope};
use dbpower_store::*;
use dbpower_testkit::TestDb;
use dbpower_types::Severity;
use sqlx::Connection;

use crate::ingest::{item, report, setup};

const LEASE: Duration = Duration::from_secs(60);

/// One class's statement; `ms` its execution time, with an EXPLAIN plan or a schema snapshot if asked.
fn execution(ms: f64, plan: bool, schema: bool) -> NewSlowQuery {
    NewSlowQuery {
        explain: plan.then(|| {
            serde_json::json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "t",
                "Filter": "(id = $1)", "Plan Rows": 1, "Actual Rows": 1, "Actual Loops": 1,
                "Rows Removed by Filter": 1000000}}])
        }),
        schema: schema.then(|| serde_json::json!({"tables": [{"name": "t", "rows": 1000000}]})),
        ..item("R", ms, "shop")
    }
}

/// An organization with an api key, and its batches.
struct Agent<'a> {
    store: &'a dyn Store,
    org: OrgId,
    key: i64,
}

impl Agent<'_> {
    async fn new<'a>(store: &'a dyn Store, name: &str) -> Agent<'a> {
        let (org, key) = setup(store, name).await;
        Agent { store, org, key }
    }

    async fn send(&self, request_id: &str, q: NewSlowQuery) -> IngestOutcome {
        let batch = NewBatch {
            api_key_id: self.key,
            request_id: request_id.into(),
            team_id: None,
            identity_id: None,
            items: vec![q],
        };
        self.store.ingest(self.org, &batch).await.expect("ingest")
    }

    /// Whether sending `q` queued an analysis.
    async fn queues(&self, request_id: &str, q: NewSlowQuery) -> bool {
        self.send(request_id, q).await.analysis_queued
    }
}

/// An organization's new class, its analysis claimed, then a plan of it sent: the agent and the job.
async fn claimed_then_a_plan<'a>(store: &'a dyn Store, name: &str) -> (Agent<'a>, ClaimedJob) {
    let agent = Agent::new(store, name).await;
    agent.send("first", execution(5.0, false, false)).await;
    let job = claim_one(store, LEASE).await;
    agent.send("plan", execution(5.0, true, false)).await;
    (agent, job)
}

/// Completes `job` with a report of `severity`; its lease must be current, so the report is stored.
async fn complete(store: &dyn Store, job: &ClaimedJob, severity: Severity) {
    let stored = store
        .complete_job(job, &report(severity))
        .await
        .expect("complete");
    assert!(stored, "job {} was current", job.id);
}

/// Every job as `(status, reason, last_error)`, oldest first (read beside the store).
async fn jobs(db: &TestDb) -> Vec<(String, String, Option<String>)> {
    let sql = "SELECT status, reason, last_error FROM analysis_jobs ORDER BY id";
    if db.backend() == "postgres" {
        let mut c = sqlx::PgConnection::connect(db.url())
            .await
            .expect("connect");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("jobs")
    } else {
        let mut c = sqlx::SqliteConnection::connect(db.url())
            .await
            .expect("connect");
        sqlx::query_as(sql).fetch_all(&mut c).await.expect("jobs")
    }
}

/// The jobs' `(status, reason)`.
async fn states(db: &TestDb) -> Vec<(String, String)> {
    jobs(db).await.into_iter().map(|(s, r, _)| (s, r)).collect()
}

fn state(status: &str, reason: &str) -> (String, String) {
    (status.to_string(), reason.to_string())
}

async fn claim_one(store: &dyn Store, lease: Duration) -> ClaimedJob {
    let mut jobs = store.claim_jobs(10, lease).await.expect("claim");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    jobs.remove(0)
}

/// (a) The plan stored while the first analysis runs (it read the class without it) queues a second
/// job, which sees the plan; so do a schema snapshot and an execution more than twice as slow as the
/// class's slowest before it.
async fn evidence_after_a_claim_gets_its_own_job(db: &TestDb) {
    let store = db.store().as_ref();
    let agent = Agent::new(store, "Race").await;
    let first = agent.send("r1", execution(900.0, false, false)).await;
    assert!(first.analysis_queued && first.new_classes == 1);
    let running = claim_one(store, LEASE).await;
    assert!(running.explain.is_none());

    let plan = agent.send("r2", execution(900.0, true, false)).await;
    assert!(plan.analysis_queued, "the plan queues an analysis");
    assert_eq!(
        states(db).await,
        vec![
            state("running", "new_class"),
            state("queued", "new_explain")
        ]
    );
    complete(store, &running, Severity::Low).await;
    let second = claim_one(store, LEASE).await;
    assert!(
        second.explain.is_some(),
        "the second analysis sees the plan"
    );
    complete(store, &second, Severity::High).await;

    // Slower, but not twice the slowest so far (900 ms): nothing to analyse again.
    assert!(!agent.queues("r3", execution(1500.0, false, false)).await);
    // Twice the first execution, but not twice the slowest before it (1,500 ms): nothing either.
    assert!(!agent.queues("r4", execution(2900.0, false, false)).await);
    // More than twice the slowest before it (2,900 ms): a worse execution.
    assert!(agent.queues("r5", execution(6000.0, false, false)).await);
    let worse = claim_one(store, LEASE).await;
    assert_eq!(worse.max_time_ms, 6000.0);
    complete(store, &worse, Severity::High).await;
    assert!(agent.queues("r6", execution(10.0, false, true)).await);
    let with_schema = claim_one(store, LEASE).await;
    assert!(with_schema.schema.is_some() && with_schema.explain.is_some());
    complete(store, &with_schema, Severity::High).await;
    let reasons: Vec<String> = states(db).await.into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        reasons,
        vec!["new_class", "new_explain", "worse_execution", "new_schema"]
    );
    assert_eq!(store.queue_depth().await.expect("depth"), 0);
}

/// (b), (c) Within the window, a new class and three pieces of evidence make one queued job, which is
/// not claimed before it is due; a requested analysis makes it due at once.
async fn evidence_within_the_window_joins_one_job(db: &TestDb) {
    let store = db.store().as_ref();
    store.set_analysis_debounce(Duration::from_secs(60));
    let agent = Agent::new(store, "Burst").await;
    let before = Utc::now();
    let first = agent.send("b1", execution(5.0, false, false)).await;
    agent.send("b2", execution(5.0, true, false)).await;
    agent.send("b3", execution(5.0, true, false)).await;
    agent.send("b4", execution(5.0, false, true)).await;
    assert_eq!(states(db).await, vec![state("queued", "new_class")]);
    assert!(
        store.claim_jobs(10, LEASE).await.expect("claim").is_empty(),
        "a job is not claimed before it is due"
    );
    let due = store.next_due().await.expect("due").expect("a queued job");
    assert!(
        due >= before + chrono::Duration::seconds(59),
        "due a window after the first evidence: {due} (before {before})"
    );

    let class = store
        .slow_query_by_id(&Scope::org(agent.org), first.ids[0])
        .await
        .expect("row")
        .class_id;
    store
        .enqueue_analysis(agent.org, class, "requested")
        .await
        .expect("request");
    assert_eq!(states(db).await, vec![state("queued", "new_class")]);
    let job = claim_one(store, LEASE).await;
    assert!(job.explain.is_some() && job.schema.is_some());
    complete(store, &job, Severity::Low).await;
    assert_eq!(store.next_due().await.expect("due"), None);
}

/// (c) A new class waits for the window too, and is claimed once it is due.
async fn a_job_is_claimed_once_due(db: &TestDb) {
    let store = db.store().as_ref();
    store.set_analysis_debounce(Duration::from_millis(400));
    let agent = Agent::new(store, "Due").await;
    agent.send("d1", execution(5.0, false, false)).await;
    assert!(store.claim_jobs(10, LEASE).await.expect("claim").is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = claim_one(store, LEASE).await;
    complete(store, &job, Severity::Low).await;
}

/// (d) A failed job beside a queued sibling, and an expired lease beside a newer job, are superseded:
/// no error, exactly one queued job left.
async fn a_queued_sibling_supersedes(db: &TestDb) {
    let store = db.store().as_ref();
    let (agent, failing) = claimed_then_a_plan(store, "Sibling").await;
    store.fail_job(&failing, "boom").await.expect("fail_job");
    let all = jobs(db).await;
    assert_eq!(
        states(db).await,
        vec![state("failed", "new_class"), state("queued", "new_explain")]
    );
    let why = all[0].2.clone().unwrap_or_default();
    assert!(why.contains("boom") && why.contains("superseded"), "{why}");

    // The queued job is claimed on a lease that runs out; new evidence queues the next job (not due
    // for an hour). The expired job is superseded, not claimed again.
    let expiring = claim_one(store, Duration::from_millis(1)).await;
    store.set_analysis_debounce(Duration::from_secs(3600));
    agent.send("s3", execution(5.0, true, false)).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.claim_jobs(10, LEASE).await.expect("claim").is_empty());
    let all = jobs(db).await;
    assert_eq!(
        states(db).await,
        vec![
            state("failed", "new_class"),
            state("failed", "new_explain"),
            state("queued", "new_explain")
        ]
    );
    let why = all[1].2.clone().unwrap_or_default();
    assert!(
        why.contains("lease expired") && why.contains("superseded"),
        "{why}"
    );
    assert!(
        !store
            .complete_job(&expiring, &report(Severity::Low))
            .await
            .expect("late completion"),
        "the superseded job's late result is refused"
    );
    store
        .fail_job(&expiring, "late")
        .await
        .expect("a late failure is a no-op");
    assert_eq!(states(db).await.len(), 3);
    assert_eq!(store.queue_depth().await.expect("depth"), 1);
}

/// (e) Of two overlapping analyses of a class, the newer one's result stands even when the older one
/// finishes last.
async fn an_older_result_never_overwrites_a_newer_one(db: &TestDb) {
    let store = db.store().as_ref();
    let (agent, older) = claimed_then_a_plan(store, "Overlap").await;
    let newer = claim_one(store, LEASE).await;
    assert!(
        store
            .complete_job(&newer, &report(Severity::High))
            .await
            .expect("newer")
    );
    assert!(
        store
            .complete_job(&older, &report(Severity::Low))
            .await
            .expect("older"),
        "the older job is done"
    );
    let analysis = store
        .analysis_for_class(&Scope::org(agent.org), newer.class_id)
        .await
        .expect("analysis")
        .expect("some");
    assert_eq!(analysis.report.severity, Severity::High);
    let all = jobs(db).await;
    assert_eq!(
        states(db).await,
        vec![state("done", "new_class"), state("done", "new_explain")]
    );
    assert!(
        all[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("superseded")),
        "{all:?}"
    );
}

on_both_stores!(
    evidence_after_a_claim,
    evidence_after_a_claim_gets_its_own_job
);
on_both_stores!(
    evidence_within_the_window,
    evidence_within_the_window_joins_one_job
);
on_both_stores!(claimed_once_due, a_job_is_claimed_once_due);
on_both_stores!(queued_sibling_supersedes, a_queued_sibling_supersedes);
on_both_stores!(older_result, an_older_result_never_overwrites_a_newer_one);
