//! The agent's optional local `/metrics` (Prometheus text format): rounds, queries collected and
//! shipped, spool size, evictions, errors. A minimal HTTP responder on its own task.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runner::RoundSummary;
use crate::spool::SpoolStats;

#[derive(Default)]
pub(crate) struct Metrics {
    rounds: AtomicU64,
    collected: AtomicU64,
    shipped: AtomicU64,
    errors: AtomicU64,
    spool_bytes: AtomicU64,
    spool_batches: AtomicU64,
    evicted: AtomicU64,
    rejected: AtomicU64,
}

impl Metrics {
    pub(crate) fn record(&self, s: &RoundSummary, spool: &SpoolStats) {
        self.rounds.fetch_add(1, Ordering::Relaxed);
        self.collected.fetch_add(s.collected, Ordering::Relaxed);
        self.shipped.fetch_add(s.shipped_queries, Ordering::Relaxed);
        self.errors
            .fetch_add(s.errors.len() as u64, Ordering::Relaxed);
        self.spool_bytes.store(spool.bytes, Ordering::Relaxed);
        self.spool_batches.store(spool.batches, Ordering::Relaxed);
        self.evicted
            .store(spool.counters.evicted_queries, Ordering::Relaxed);
        self.rejected
            .store(spool.counters.rejected_batches, Ordering::Relaxed);
    }

    pub(crate) fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            (
                "dbpower_agent_rounds_total",
                "counter",
                "Collection rounds run",
                g(&self.rounds),
            ),
            (
                "dbpower_agent_queries_collected_total",
                "counter",
                "Queries collected (after exclusions)",
                g(&self.collected),
            ),
            (
                "dbpower_agent_queries_shipped_total",
                "counter",
                "Queries the platform accepted",
                g(&self.shipped),
            ),
            (
                "dbpower_agent_errors_total",
                "counter",
                "Errors in rounds",
                g(&self.errors),
            ),
            (
                "dbpower_agent_spool_bytes",
                "gauge",
                "Bytes waiting in the spool",
                g(&self.spool_bytes),
            ),
            (
                "dbpower_agent_spool_batches",
                "gauge",
                "Batches waiting in the spool",
                g(&self.spool_batches),
            ),
            (
                "dbpower_agent_spool_evicted_queries",
                "gauge",
                "Queries evicted from a full spool (since install)",
                g(&self.evicted),
            ),
            (
                "dbpower_agent_spool_rejected_batches",
                "gauge",
                "Batches the platform refused (kept in rejected/)",
                g(&self.rejected),
            ),
        ]
        .iter()
        .map(|(name, kind, help, v)| {
            format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n")
        })
        .collect()
    }
}

/// Serves `GET /metrics` on `listen` until the process ends.
pub(crate) async fn serve(listen: &str, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} for metrics: {e}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let m = metrics.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n =
                    tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if req.starts_with("GET /metrics") {
                    ("200 OK", m.render())
                } else {
                    ("404 Not Found", "not found\n".into())
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn metrics_are_served_in_prometheus_format() {
        let m = Arc::new(Metrics::default());
        let summary = RoundSummary {
            collected: 7,
            shipped_queries: 5,
            errors: vec!["x".into()],
            ..RoundSummary::default()
        };
        let spool = SpoolStats {
            bytes: 1234,
            batches: 2,
            ..SpoolStats::default()
        };
        m.record(&summary, &spool);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        serve(&format!("127.0.0.1:{port}"), m.clone())
            .await
            .expect("serve");
        let mut sock = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        sock.write_all(b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut body = String::new();
        sock.read_to_string(&mut body).await.expect("read");
        assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
        for line in [
            "dbpower_agent_rounds_total 1",
            "dbpower_agent_queries_collected_total 7",
            "dbpower_agent_queries_shipped_total 5",
            "dbpower_agent_errors_total 1",
            "dbpower_agent_spool_bytes 1234",
            "# TYPE dbpower_agent_spool_batches gauge",
        ] {
            assert!(body.contains(line), "{line} missing in {body}");
        }
        assert!(
            serve(&format!("127.0.0.1:{port}"), m).await.is_err(),
            "a taken port is an error, not a hang"
        );
    }
}
