//! The Redis limiter against the machine's Redis (`DBPOWER_TEST_REDIS_URL`; skipped when unset, failing
//! when set but unreachable): exact limits shared by several limiter instances, windows that free up,
//! and the fallback when Redis stops answering. With the variable set, the same scenarios also run on a
//! three-master Redis Cluster the test starts (`cluster.rs`).

mod cluster;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dbpower_ratelimit::{Limit, Limiter, OnRedisFailure, RedisLimiter};

fn url() -> Option<String> {
    std::env::var("DBPOWER_TEST_REDIS_URL").ok()
}

async fn limiter(url: &str) -> RedisLimiter {
    RedisLimiter::connect(
        url,
        "dbpower-test:",
        Duration::from_millis(500),
        OnRedisFailure::Fallback,
    )
    .await
    .expect("DBPOWER_TEST_REDIS_URL is set but Redis is unreachable")
}

fn lim(key: &str, max: u32, window: Duration) -> Limit {
    Limit::requests(key, max, window)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_limiters_share_one_exact_limit() {
    if let Some(url) = url() {
        shared_exact_limit(&url).await;
    }
}

pub(crate) async fn shared_exact_limit(url: &str) {
    let url = url.to_string();
    let (a, b) = (Arc::new(limiter(&url).await), Arc::new(limiter(&url).await));
    let key = format!("org:{}:minute", uuid::Uuid::new_v4());
    let mut tasks = Vec::new();
    for i in 0..300 {
        let l = if i % 2 == 0 { a.clone() } else { b.clone() };
        let limits = vec![lim(&key, 100, Duration::from_secs(60))];
        tasks.push(tokio::spawn(async move { l.check(&limits).await }));
    }
    let mut allowed = 0;
    for t in tasks {
        let d = t.await.expect("task");
        if d.allowed {
            allowed += 1;
        } else {
            assert!(
                d.retry_after_secs.is_some_and(|s| (1..=60).contains(&s)),
                "{d:?}"
            );
        }
    }
    assert_eq!(allowed, 100, "exactly the limit, across both limiters");
    assert_eq!(a.backend(), "redis");
}

#[tokio::test]
async fn a_refused_client_is_let_in_once_the_window_passes() {
    if let Some(url) = url() {
        window_passes(&url).await;
    }
}

pub(crate) async fn window_passes(url: &str) {
    let url = url.to_string();
    let l = limiter(&url).await;
    let key = format!("ip:{}:window", uuid::Uuid::new_v4());
    let limits = [lim(&key, 3, Duration::from_millis(1_000))];
    for _ in 0..3 {
        assert!(l.check(&limits).await.allowed);
    }
    for _ in 0..5 {
        let d = l.check(&limits).await;
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining), (3, 0));
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let d = l.check(&limits).await;
    assert!(d.allowed, "refusals did not extend the lock-out: {d:?}");
    assert_eq!(d.remaining, 2);
}

#[tokio::test]
async fn when_redis_stops_answering_the_fallback_decides_without_hanging() {
    let Some(url) = url() else { return };
    // A proxy in front of Redis that the test can cut.
    let target = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let tracked = conns.clone();
    let proxy = tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let target = target.clone();
            let h = tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
            tracked.lock().expect("lock").push(h);
        }
    });
    let l = limiter(&format!("redis://127.0.0.1:{port}")).await;
    let key = format!("org:{}:fallback", uuid::Uuid::new_v4());
    let limits = [lim(&key, 2, Duration::from_secs(60))];
    assert!(l.check(&limits).await.allowed);
    assert!(!l.degraded());
    proxy.abort();
    for h in conns.lock().expect("lock").drain(..) {
        h.abort();
    }
    // The proxied connection is gone and nothing listens any more.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let decisions: Vec<bool> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(l.check(&limits).await.allowed);
        }
        v
    };
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang: {:?}",
        started.elapsed()
    );
    assert!(l.degraded());
    assert_eq!(l.backend(), "memory (redis unavailable)");
    assert_eq!(
        decisions,
        vec![true, true, false],
        "the in-process limiter decides meanwhile"
    );
}

#[tokio::test]
async fn peek_is_shared_records_nothing_and_forget_clears_for_everyone() {
    if let Some(url) = url() {
        peek_and_forget(&url).await;
    }
}

pub(crate) async fn peek_and_forget(url: &str) {
    let url = url.to_string();
    let (a, b) = (limiter(&url).await, limiter(&url).await);
    let key = format!("login:a:{}", uuid::Uuid::new_v4());
    let limits = vec![lim(&key, 2, Duration::from_secs(60))];
    for _ in 0..5 {
        assert!(a.peek(&limits).await.allowed, "peeking records nothing");
    }
    assert!(a.check(&limits).await.allowed);
    assert!(b.check(&limits).await.allowed);
    let d = b.peek(&limits).await;
    assert!(!d.allowed, "two failures recorded by two instances: {d:?}");
    assert!(d.retry_after_secs.is_some_and(|s| s <= 60));
    assert!(!a.peek(&limits).await.allowed);
    b.forget(std::slice::from_ref(&key)).await;
    assert!(a.peek(&limits).await.allowed, "cleared for every instance");
    assert!(!a.degraded());
}

#[tokio::test]
async fn budgets_are_shared_and_count_units() {
    if let Some(url) = url() {
        budgets(&url).await;
    }
}

pub(crate) async fn budgets(url: &str) {
    let url = url.to_string();
    let (a, b) = (limiter(&url).await, limiter(&url).await);
    let key = format!("key:{}:q", uuid::Uuid::new_v4());
    let budget = |n| Limit::budget(key.clone(), 10, Duration::from_millis(1_500), n);
    let requests = Limit::requests(format!("{key}:m"), 100, Duration::from_millis(1_500));
    let d = a.check(&[requests.clone(), budget(4)]).await;
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        (d.limit, d.remaining),
        (10, 6),
        "the budget is the tighter window"
    );
    assert!(b.check(&[requests.clone(), budget(4)]).await.allowed);
    let d = a.check(&[requests.clone(), budget(3)]).await;
    assert!(!d.allowed, "8 of 10 used across both limiters: {d:?}");
    assert_eq!(d.remaining, 2);
    assert_eq!(
        d.retry_after_secs,
        Some(2),
        "the first batch frees its units within 1.5 s"
    );
    assert!(b.check(&[requests.clone(), budget(2)]).await.allowed);
    assert!(
        a.check(&[requests.clone(), budget(0)]).await.allowed,
        "nothing used passes a full budget"
    );
    assert!(!a.check(&[requests.clone(), budget(1)]).await.allowed);
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let d = b.check(&[requests, budget(30)]).await;
    assert!(
        d.allowed,
        "a batch over the whole budget passes an empty window: {d:?}"
    );
    assert_eq!(d.remaining, 0);
}
