//! The limiter on a real Redis Cluster: three masters (`redis-server --cluster-enabled yes` on three free
//! ports, joined by `redis-cli --cluster create`), started by the test when `DBPOWER_TEST_REDIS_URL` is
//! set (the machine then has `redis-server`; a cluster that does not form fails the test). The
//! single-server scenarios run on it, then what only a cluster has: windows of one check in several slots
//! (a refusal undone in the others), a slot moved while limiters use it (ASK, then MOVED), and a master
//! stopped (the failure policy, without hanging).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbpower_ratelimit::{Limit, Limiter, OnRedisFailure, RedisLimiter, Refusal};
use dbpower_testkit::redis_cluster::{RedisCluster as Cluster, cli};

async fn connect(url: &str, on_failure: OnRedisFailure) -> RedisLimiter {
    RedisLimiter::connect(url, "dbpower-test:", Duration::from_millis(500), on_failure)
        .await
        .expect("the cluster is reachable")
}

fn lim(key: &str, max: u32) -> Limit {
    Limit::requests(key, max, Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limiter_on_a_three_master_redis_cluster() {
    if super::url().is_none() {
        return;
    }
    let cluster = tokio::task::spawn_blocking(Cluster::start)
        .await
        .expect("cluster");
    let url = cluster.url();
    let probe = connect(&url, OnRedisFailure::Deny).await;
    assert!(probe.is_cluster(), "a list of nodes is a cluster");
    // one node of it, given as a single server, would answer MOVED to most checks: refused
    let one = RedisLimiter::connect(
        &format!("redis://127.0.0.1:{}", cluster.ports[0]),
        "dbpower-test:",
        Duration::from_millis(500),
        OnRedisFailure::Deny,
    )
    .await;
    assert!(
        matches!(
            one,
            Err(dbpower_ratelimit::RedisLimiterError::OneClusterNode)
        ),
        "one node of a cluster is refused"
    );

    // the single-server scenarios, unchanged
    super::shared_exact_limit(&url).await;
    super::window_passes(&url).await;
    super::peek_and_forget(&url).await;
    super::budgets(&url).await;

    windows_in_several_slots(&cluster, &url).await;
    slot_moved_while_in_use(&cluster, &url).await;
    a_master_stopped(cluster, &url).await;
}

/// One check whose windows live on different masters: limits exact across two gateways, and a request
/// refused by one subject leaves nothing in the others.
async fn windows_in_several_slots(cluster: &Cluster, url: &str) {
    let (a, b) = (
        Arc::new(connect(url, OnRedisFailure::Deny).await),
        Arc::new(connect(url, OnRedisFailure::Deny).await),
    );
    // subjects on at least two different masters
    let org = format!("org:{}", uuid::Uuid::new_v4());
    let (user, ip) = loop {
        let user = format!("user:{}", uuid::Uuid::new_v4());
        let ip = format!("ip:{}", uuid::Uuid::new_v4());
        let owners = [&org, &user, &ip].map(|s| cluster.owner(&a.redis_key(&format!("{s}:m"))).0);
        if owners[0] != owners[1] && owners[1] != owners[2] && owners[0] != owners[2] {
            break (user, ip);
        }
    };
    let check = vec![
        lim(&format!("{org}:m"), 40),
        lim(&format!("{org}:h"), 1000),
        lim(&format!("{user}:m"), 25),
        lim(&format!("{ip}:m"), 1000),
    ];
    let mut tasks = Vec::new();
    for i in 0..120 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        let limits = check.clone();
        tasks.push(tokio::spawn(async move { l.check(&limits).await }));
    }
    let mut allowed = 0;
    for t in tasks {
        if t.await.expect("task").allowed {
            allowed += 1;
        }
    }
    // A request refused by one subject may hold a slot of another for a moment (until undone), so a
    // burst can be refused a little early, never late: no window ever passes its limit.
    assert!((1..=25).contains(&allowed), "{allowed} allowed");
    let held = |cluster: &Cluster, limits: &[Limit]| -> Vec<u32> {
        limits
            .iter()
            .map(|l| {
                let key = a.redis_key(&l.key);
                cli(cluster.owner(&key).0, &["zcard", &key])
                    .parse()
                    .expect("zcard")
            })
            .collect()
    };
    assert_eq!(
        held(cluster, &check),
        vec![allowed; 4],
        "refused requests were undone in every window"
    );
    // once the burst is over, the windows fill up to exactly the tightest limit
    while a.check(&check).await.allowed {
        allowed += 1;
        assert!(allowed <= 25, "past the user's limit");
    }
    let d = b.check(&check).await;
    assert_eq!(
        d.refused_by,
        Some(Refusal::Window(format!("{user}:m"))),
        "{d:?}"
    );
    assert_eq!(allowed, 25);
    assert_eq!(held(cluster, &check), vec![25; 4]);
    assert!(!a.degraded() && !b.degraded());
}

/// A slot migrates from one master to another while two limiters use it: during the migration the
/// clients follow ASK, afterwards MOVED, and the window's count carries over exactly.
async fn slot_moved_while_in_use(cluster: &Cluster, url: &str) {
    let (a, b) = (
        connect(url, OnRedisFailure::Deny).await,
        connect(url, OnRedisFailure::Deny).await,
    );
    let window = format!("org:{}:m", uuid::Uuid::new_v4());
    let key = a.redis_key(&window);
    let limits = [lim(&window, 6)];
    assert!(a.check(&limits).await.allowed);
    assert!(b.check(&limits).await.allowed);
    let (from, slot) = cluster.owner(&key);
    let to = *cluster.ports.iter().find(|p| **p != from).expect("other");
    let (from_id, to_id) = (cluster.node_id(from), cluster.node_id(to));
    let slot = slot.to_string();
    cli(to, &["cluster", "setslot", &slot, "importing", &from_id]);
    cli(from, &["cluster", "setslot", &slot, "migrating", &to_id]);
    cli(
        from,
        &[
            "migrate",
            "127.0.0.1",
            &to.to_string(),
            "",
            "0",
            "5000",
            "keys",
            &key,
        ],
    );
    // the key has moved, the slot not yet: the old owner answers ASK
    let d = a.check(&limits).await;
    assert!(d.allowed, "followed ASK: {d:?}");
    assert_eq!(d.remaining, 3, "the count moved with the key");
    for &p in &cluster.ports {
        cli(p, &["cluster", "setslot", &slot, "node", &to_id]);
    }
    // the slot has moved: MOVED, then the clients' slot maps are refreshed
    let d = b.check(&limits).await;
    assert!(d.allowed, "followed MOVED: {d:?}");
    assert_eq!(d.remaining, 2);
    assert!(a.check(&limits).await.allowed);
    assert!(b.check(&limits).await.allowed);
    let d = a.check(&limits).await;
    assert!(!d.allowed, "6 of 6 used across the move: {d:?}");
    assert_eq!(cluster.owner(&key).0, to);
    assert_eq!(cli(to, &["zcard", &key]), "6");
    assert!(!a.degraded() && !b.degraded());
}

/// A master stops: checks whose windows it served follow the policy (in-process fallback, or a refusal
/// with `deny`) within the timeout. (Without replicas the other masters also refuse once the cluster
/// notices the uncovered slots, `cluster-require-full-coverage`: docs/SCALING.md.)
async fn a_master_stopped(mut cluster: Cluster, url: &str) {
    let fallback = connect(url, OnRedisFailure::Fallback).await;
    let deny = connect(url, OnRedisFailure::Deny).await;
    let victim = cluster.ports[2];
    let on_victim = loop {
        let w = format!("org:{}:m", uuid::Uuid::new_v4());
        if cluster.owner(&fallback.redis_key(&w)).0 == victim {
            break w;
        }
    };
    assert!(fallback.check(&[lim(&on_victim, 2)]).await.allowed);
    assert_eq!(cluster.kill_last(), victim);
    let started = Instant::now();
    let decisions = [
        fallback.check(&[lim(&on_victim, 2)]).await.allowed,
        fallback.check(&[lim(&on_victim, 2)]).await.allowed,
        fallback.check(&[lim(&on_victim, 2)]).await.allowed,
    ];
    assert!(fallback.degraded(), "the stopped master is noticed");
    assert_eq!(
        decisions,
        [true, true, false],
        "the in-process limiter decides meanwhile"
    );
    let d = deny.check(&[lim(&on_victim, 2)]).await;
    assert_eq!(d.refused_by, Some(Refusal::Unavailable), "{d:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no hang: {:?}",
        started.elapsed()
    );
}
