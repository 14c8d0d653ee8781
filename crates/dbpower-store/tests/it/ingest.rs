//! Ingestion, read models and the analysis queue on every backend.

use dbpower_testkit::TestDb;
use std::time::Duration;

use chrono::Utc;
use dbpower_core::{OrgId, Scope};
use dbpower_store::*;
use dbpower_types::{
    AnalysisReport, DatabaseType, OrgSettings, QueryClassFilter, Severity, SlowQueryFilter,
};

const PAGE: PageRequest = PageRequest {
    page: 1,
    per_page: 100,
};

pub(crate) fn item(qid: &str, ms: f64, db: &str) -> NewSlowQuery {
    NewSlowQuery {
        database_type: DatabaseType::Mysql,
        query_id: qid.into(),
        fingerprint: format!("select {qid}"),
        fingerprint_version: 1,
        sql_text: format!("SELECT {qid} FROM t WHERE id = ?"),
        database_name: Some(db.into()),
        db_user: Some("app".into()),
        client_host: None,
        execution_time_ms: ms,
        lock_time_ms: Some(1.0),
        rows_examined: Some(1000),
        rows_sent: Some(10),
        rows_affected: None,
        calls: 1,
        observed_at: Utc::now(),
        explain: None,
        schema: None,
        hints: None,
        source: Some("test".into()),
        plan_shape: None,
    }
}

pub(crate) async fn setup(store: &dyn Store, name: &str) -> (OrgId, i64) {
    let org = store
        .insert_organization(&NewOrganization {
            name: name.into(),
            settings: OrgSettings::default(),
            retention_days: 90,
        })
        .await
        .expect("org");
    let oid = OrgId::from_credential(org.id);
    let key = store
        .insert_api_key(
            oid,
            &NewApiKey {
                key_id: format!("k-{name}"),
                name: "a".into(),
                secret_ciphertext: "x".into(),
                team_id: None,
                identity_id: None,
                created_by: None,
            },
        )
        .await
        .expect("key");
    (oid, key.view.id)
}

pub(crate) fn report(sev: Severity) -> AnalysisReport {
    AnalysisReport {
        severity: sev,
        summary: "s".into(),
        issues: vec![],
        recommendations: vec![],
        engine: vec!["rules".into()],
        parse_ok: false,
    }
}

/// What the first chapter stored and the later ones read.
struct Ingested {
    org: OrgId,
    scope: Scope,
    batch: NewBatch,
    first_ids: Vec<i64>,
}

/// The ingestion story, chapter by chapter: a failure names the chapter that broke.
async fn ingest_story(store: &dyn Store) {
    let c = a_batch_is_stored_once(store).await;
    a_second_batch_adds_to_its_classes(store, &c).await;
    filters_select_rows(store, &c).await;
    another_organization_sees_none_of_it(store, &c).await;
    let class_id = jobs_are_leased_and_fenced(store, &c).await;
    reanalysis_and_retention(store, &c, class_id).await;
    samples_count_no_executions(store).await;
    plan_history_is_bounded(store).await;
}

/// Plan history under a hostile source: 52 shapes of one class keep the 50 most recently seen, a plan
/// over 256 KiB keeps its shape but not its text, and a sample adds its plan without executions.
async fn plan_history_is_bounded(store: &dyn Store) {
    let (org, key) = setup(store, "Plans").await;
    let scope = Scope::org(org);
    let start = Utc::now() - chrono::Duration::hours(2);
    let planned = |i: i64, plan: serde_json::Value, calls: i64| NewSlowQuery {
        calls,
        observed_at: start + chrono::Duration::minutes(i),
        plan_shape: Some((format!("SHAPE{i:02}"), format!("t: shape {i}"))),
        explain: Some(plan),
        ..item("P", 10.0, "shop")
    };
    let small = serde_json::json!({"Plan": {"Node Type": "Seq Scan"}});
    let huge =
        serde_json::json!({"Plan": {"Node Type": "Seq Scan", "Filter": "x".repeat(300 * 1024)}});
    let mut items: Vec<NewSlowQuery> = (0..50).map(|i| planned(i, small.clone(), 1)).collect();
    items.push(planned(50, huge, 1));
    items.push(planned(51, small.clone(), 0));
    let batch = NewBatch {
        api_key_id: key,
        request_id: "plans-1".into(),
        team_id: None,
        identity_id: None,
        items,
    };
    store.ingest(org, &batch).await.expect("ingest");
    let lookup = ClassLookup {
        query_id: "P",
        database_type: None,
        organization_id: None,
    };
    let class = store
        .query_classes_named(&scope, lookup)
        .await
        .expect("class")[0]
        .id;
    let plans = store.class_plans(&scope, class).await.expect("plans");
    let shapes: Vec<&str> = plans.iter().map(|p| p.shape.as_str()).collect();
    assert_eq!(shapes.len(), 50);
    assert_eq!(
        (shapes[0], shapes[49]),
        ("SHAPE51", "SHAPE02"),
        "the oldest two trimmed"
    );
    assert_eq!(
        (plans[0].executions, plans[0].mean_ms),
        (0, None),
        "a sample counts nothing"
    );
    assert_eq!(
        plans[1].plan,
        serde_json::json!({"omitted": "plan larger than 256 KiB"})
    );
    assert_eq!(plans[2].plan, small);
}

/// Samples (a log's executions where another method of the source counts them) are stored with 0
/// executions: they bound the class's times and bring their plans, and add to no count, total or
/// rollup; a class seen only in samples is not new and counts nothing.
async fn samples_count_no_executions(store: &dyn Store) {
    let (org, key) = setup(store, "Samples").await;
    let scope = Scope::org(org);
    let sample = |qid: &str, ms: f64| NewSlowQuery {
        calls: 0,
        explain: Some(serde_json::json!({"Plan": {"Node Type": "Seq Scan"}})),
        ..item(qid, ms, "shop")
    };
    let counted = NewSlowQuery {
        calls: 4,
        ..item("S", 10.0, "shop")
    };
    let batch = NewBatch {
        api_key_id: key,
        request_id: "samples-1".into(),
        team_id: None,
        identity_id: None,
        items: vec![counted, sample("S", 500.0), sample("T", 50.0)],
    };
    let stored = store.ingest(org, &batch).await.expect("ingest");
    assert_eq!(
        stored.new_classes, 1,
        "a class seen only in samples is not new"
    );
    let (classes, _) = store
        .list_query_classes(&scope, &QueryClassFilter::default(), PAGE)
        .await
        .expect("classes");
    let of = |qid: &str| {
        let c = classes.iter().find(|c| c.query_id == qid).expect("class");
        (c.count, c.total_time_ms, c.max_time_ms)
    };
    assert_eq!(of("S"), (4, 40.0, 500.0), "the sample bounds the time only");
    assert_eq!(of("T"), (0, 0.0, 50.0));
    let (rows, total) = store
        .list_slow_queries(&scope, &SlowQueryFilter::default(), PAGE)
        .await
        .expect("rows");
    assert_eq!(total.count, 3, "samples are stored");
    let mut calls: Vec<i64> = rows.iter().map(|r| r.calls).collect();
    calls.sort_unstable();
    assert_eq!(calls, vec![0, 0, 4]);
    let since = Utc::now() - chrono::Duration::days(1);
    let dash = store.dashboard(&scope, since).await.expect("dashboard");
    assert_eq!(
        (dash.total_queries, dash.total_time_ms),
        (4, 40.0),
        "rollups count executions, not samples"
    );
}

/// A batch is stored once: its rows in order, its classes new; a replay stores nothing.
async fn a_batch_is_stored_once(store: &dyn Store) -> Ingested {
    let (org, key) = setup(store, "Ingest").await;
    let scope = Scope::org(org);
    let batch = NewBatch {
        api_key_id: key,
        request_id: "req-1".into(),
        team_id: None,
        identity_id: None,
        items: vec![
            item("A", 10.0, "shop"),
            item("B", 200.0, "shop"),
            item("A", 30.0, "crm"),
        ],
    };
    let first = store.ingest(org, &batch).await.expect("ingest");
    assert_eq!(
        (first.ids.len(), first.replayed, first.new_classes),
        (3, false, 2)
    );
    assert!(first.ids.windows(2).all(|w| w[0] < w[1]));
    let again = store.ingest(org, &batch).await.expect("replay");
    assert_eq!(
        (again.ids.clone(), again.replayed),
        (first.ids.clone(), true)
    );
    let (_, total) = store
        .list_slow_queries(&scope, &SlowQueryFilter::default(), PAGE)
        .await
        .expect("list");
    assert_eq!(total.count, 3, "a replay stores nothing");

    Ingested {
        org,
        scope,
        batch,
        first_ids: first.ids,
    }
}

/// A second batch adds to the classes without making them new.
async fn a_second_batch_adds_to_its_classes(store: &dyn Store, c: &Ingested) {
    let more = NewBatch {
        request_id: "req-2".into(),
        items: vec![item("A", 20.0, "shop")],
        ..c.batch.clone()
    };
    assert_eq!(
        store.ingest(c.org, &more).await.expect("more").new_classes,
        0
    );
    let (classes, n) = store
        .list_query_classes(&c.scope, &QueryClassFilter::default(), PAGE)
        .await
        .expect("classes");
    assert_eq!(n, 2);
    let a = classes.iter().find(|c| c.query_id == "A").expect("class A");
    assert_eq!(
        (a.count, a.total_time_ms, a.max_time_ms, a.min_time_ms),
        (3, 60.0, 30.0, Some(10.0))
    );
    assert_eq!(a.databases, vec!["crm".to_string(), "shop".to_string()]);
    assert!(a.p95_time_ms.expect("p95") >= 30.0 && a.p95_time_ms.expect("p95") <= 31.6);
    assert_eq!(classes[0].query_id, "B", "ranked by total time");
}

/// Filters.
async fn filters_select_rows(store: &dyn Store, c: &Ingested) {
    let f = SlowQueryFilter {
        min_time_ms: Some(100.0),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_slow_queries(&c.scope, &f, PAGE)
            .await
            .expect("min")
            .1
            .count,
        1
    );
    let f = SlowQueryFilter {
        q: Some("select b".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_slow_queries(&c.scope, &f, PAGE)
            .await
            .expect("q")
            .1
            .count,
        1,
        "case-insensitive text search"
    );
    let f = SlowQueryFilter {
        database_name: Some("crm".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_slow_queries(&c.scope, &f, PAGE)
            .await
            .expect("db")
            .1
            .count,
        1
    );
    let f = SlowQueryFilter {
        q: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_slow_queries(&c.scope, &f, PAGE)
            .await
            .expect("escaped")
            .1
            .count,
        0,
        "LIKE wildcards are literal"
    );
}

/// Another organization sees none of it.
async fn another_organization_sees_none_of_it(store: &dyn Store, c: &Ingested) {
    let (other, _) = setup(store, "Other").await;
    let other_scope = Scope::org(other);
    assert_eq!(
        store
            .list_slow_queries(&other_scope, &SlowQueryFilter::default(), PAGE)
            .await
            .expect("other")
            .1
            .count,
        0
    );
    assert!(matches!(
        store.slow_query_by_id(&other_scope, c.first_ids[0]).await,
        Err(StoreError::NotFound)
    ));
    let named = ClassLookup {
        query_id: "A",
        ..Default::default()
    };
    assert_eq!(
        store
            .query_classes_named(&other_scope, named)
            .await
            .expect("named"),
        vec![]
    );
}

/// Queue: two new classes are queued; a claim leases them; completion is fenced by the lease.
async fn jobs_are_leased_and_fenced(store: &dyn Store, c: &Ingested) -> i64 {
    assert_eq!(store.queue_depth().await.expect("depth"), 2);
    let jobs = store
        .claim_jobs(10, Duration::from_secs(60))
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 2);
    assert!(
        store
            .claim_jobs(10, Duration::from_secs(60))
            .await
            .expect("claim again")
            .is_empty(),
        "leased jobs are not handed out twice"
    );
    let b = jobs
        .iter()
        .find(|j| j.sample_sql.contains("B"))
        .expect("job B");
    assert!(
        store
            .complete_job(b, &report(Severity::Critical))
            .await
            .expect("complete")
    );
    assert!(
        !store
            .complete_job(b, &report(Severity::Low))
            .await
            .expect("twice"),
        "a finished job is not completed again"
    );
    let a_job = jobs
        .iter()
        .find(|j| j.sample_sql.contains("A"))
        .expect("job A");
    store.fail_job(a_job, "boom").await.expect("fail");
    let retry = store
        .claim_jobs(10, Duration::from_millis(1))
        .await
        .expect("retry claim");
    assert_eq!(retry.len(), 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // The lease expired: another worker takes it over, and the first one's completion is refused.
    let taken = store
        .claim_jobs(10, Duration::from_secs(60))
        .await
        .expect("take over");
    assert_eq!(taken.len(), 1);
    assert!(
        !store
            .complete_job(&retry[0], &report(Severity::Low))
            .await
            .expect("stale"),
        "a lost lease writes nothing"
    );
    assert!(
        store
            .complete_job(&taken[0], &report(Severity::Medium))
            .await
            .expect("fresh")
    );
    assert_eq!(store.queue_depth().await.expect("depth"), 0);

    let f = SlowQueryFilter {
        severity: Some(Severity::Critical),
        ..Default::default()
    };
    let (crit, n) = store
        .list_slow_queries(&c.scope, &f, PAGE)
        .await
        .expect("critical");
    assert_eq!((n.count, crit[0].severity), (1, Some(Severity::Critical)));
    let detail = store
        .slow_query_by_id(&c.scope, crit[0].id)
        .await
        .expect("detail");
    let analysis = store
        .analysis_for_class(&c.scope, detail.class_id)
        .await
        .expect("analysis")
        .expect("some");
    assert_eq!(analysis.report.severity, Severity::Critical);
    let d = store
        .dashboard(&c.scope, Utc::now() - chrono::Duration::days(7))
        .await
        .expect("dashboard");
    assert_eq!((d.total_queries, d.critical), (4, 1));
    assert_eq!(d.days.iter().map(|x| x.1).sum::<i64>(), 4);
    let series = store
        .class_series(
            &c.scope,
            detail.class_id,
            Utc::now() - chrono::Duration::days(1),
        )
        .await
        .expect("series");
    assert_eq!(series.iter().map(|p| p.count).sum::<i64>(), 1);
    detail.class_id
}

/// Re-analysis on request; retention deletes old rows.
async fn reanalysis_and_retention(store: &dyn Store, c: &Ingested, class_id: i64) {
    store
        .enqueue_analysis(c.org, class_id, "requested")
        .await
        .expect("enqueue");
    assert_eq!(store.queue_depth().await.expect("depth"), 1);
    let gone = store
        .delete_slow_queries_before(c.org, Utc::now() + chrono::Duration::seconds(1))
        .await
        .expect("retention");
    assert_eq!(gone, 4);
}

#[tokio::test]
async fn ingestion_on_sqlite() {
    let db = TestDb::sqlite().await;
    ingest_story(db.store().as_ref()).await;
}

#[tokio::test]
async fn ingestion_on_postgres() {
    let Some(db) = TestDb::postgres_if_set().await else {
        return;
    };
    ingest_story(db.store().as_ref()).await;
}

/// Two workers claiming concurrently from one PostgreSQL queue never get the same job.
#[tokio::test]
async fn concurrent_workers_claim_disjoint_jobs_on_postgres() {
    let Some(db) = TestDb::postgres_if_set().await else {
        return;
    };
    let (org, key) = setup(db.store().as_ref(), "Queue").await;
    let items: Vec<NewSlowQuery> = (0..60).map(|i| item(&format!("Q{i}"), 5.0, "db")).collect();
    let batch = NewBatch {
        api_key_id: key,
        request_id: "r".into(),
        team_id: None,
        identity_id: None,
        items,
    };
    db.store().ingest(org, &batch).await.expect("ingest");
    let mut handles = Vec::new();
    for _ in 0..2 {
        let s = db.store().clone();
        handles.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = s
                    .claim_jobs(3, Duration::from_secs(60))
                    .await
                    .expect("claim");
                if jobs.is_empty() {
                    break;
                }
                for j in jobs {
                    assert!(
                        s.complete_job(&j, &report(Severity::Low))
                            .await
                            .expect("complete")
                    );
                    mine.push(j.id);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("join"));
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!((n, all.len()), (60, 60), "every job done exactly once");
}

/// Group commit: several batches (two organizations, a duplicate request id) in one transaction.
async fn group_story(store: &dyn Store) {
    let (a, ka) = setup(store, "GroupA").await;
    let (b, kb) = setup(store, "GroupB").await;
    let batch = |key: i64, rid: &str, items: Vec<NewSlowQuery>| NewBatch {
        api_key_id: key,
        request_id: rid.into(),
        team_id: None,
        identity_id: None,
        items,
    };
    let group = vec![
        (
            a,
            batch(ka, "r1", vec![item("X", 1.0, "d"), item("Y", 2.0, "d")]),
        ),
        (b, batch(kb, "r1", vec![item("X", 3.0, "d")])),
        (a, batch(ka, "r1", vec![item("Z", 9.0, "d")])),
        (a, batch(ka, "r2", vec![item("X", 4.0, "d")])),
    ];
    let out = store.ingest_many(&group).await.expect("group");
    let out: Vec<IngestOutcome> = out.into_iter().map(|r| r.expect("outcome")).collect();
    assert_eq!(
        (out[0].ids.len(), out[0].replayed, out[0].new_classes),
        (2, false, 2)
    );
    assert_eq!(
        (out[1].ids.len(), out[1].new_classes),
        (1, 1),
        "same query id, other organization: its own class"
    );
    assert_eq!(
        (out[2].ids.clone(), out[2].replayed),
        (out[0].ids.clone(), true),
        "a duplicate in the group is a replay"
    );
    assert_eq!(out[3].ids.len(), 1);
    let all: Vec<i64> = out[0]
        .ids
        .iter()
        .chain(&out[1].ids)
        .chain(&out[3].ids)
        .copied()
        .collect();
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "ids follow the order sent: {all:?}"
    );
    let (classes, _) = store
        .list_query_classes(&Scope::org(a), &QueryClassFilter::default(), PAGE)
        .await
        .expect("classes");
    let x = classes.iter().find(|c| c.query_id == "X").expect("X");
    assert_eq!((x.count, x.total_time_ms), (2, 5.0));
    assert_eq!(
        store
            .list_slow_queries(&Scope::org(b), &SlowQueryFilter::default(), PAGE)
            .await
            .expect("b")
            .1
            .count,
        1
    );
}

#[tokio::test]
async fn group_commit_on_sqlite() {
    let db = TestDb::sqlite().await;
    group_story(db.store().as_ref()).await;
}

#[tokio::test]
async fn group_commit_on_postgres() {
    let Some(db) = TestDb::postgres_if_set().await else {
        return;
    };
    group_story(db.store().as_ref()).await;
}
