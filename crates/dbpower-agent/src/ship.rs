//! Shipping: signed requests to the platform (the ingestion scheme: HMAC-SHA256 over timestamp,
//! request id, method, path and body hash), the spool replayed in order with exponential backoff and
//! jitter, and heartbeats. A batch keeps its request id across retries and restarts, so the platform
//! stores it once however often it is sent.

use std::time::Duration;

use dbpower_core::signing::Signed;
use dbpower_types::AgentHeartbeat;

use crate::spool::{Batch, Spool};

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(crate) struct Shipper {
    http: reqwest::Client,
    base: String,
    /// The URL's path prefix (a platform behind a path-routing proxy), signed as part of the path.
    prefix: String,
    key_id: String,
    secret: String,
    /// Attempts per batch within one round before the round gives up (the spool keeps it).
    pub attempts: u32,
    pub backoff: Duration,
}

/// What one send attempt came to.
#[derive(Debug, PartialEq)]
pub(crate) enum Sent {
    Accepted,
    /// 4xx other than 401/408/429: the batch itself is refused; retrying cannot help.
    Refused(String),
    /// 401: the key or clock is wrong; nothing can be sent until that is fixed.
    Unauthorized(String),
    /// Network error, timeout, 408, 429 or 5xx.
    Retry(String),
}

#[derive(Debug, Default, PartialEq)]
pub(crate) struct ShipReport {
    pub batches: u64,
    pub queries: u64,
    pub refused: u64,
    /// Why shipping stopped early (batches remain in the spool).
    pub error: Option<String>,
}

impl Shipper {
    /// The shipper to the platform `cfg` names, with its key and timeout.
    pub(crate) fn of(cfg: &crate::config::AgentConfig) -> anyhow::Result<Shipper> {
        Shipper::new(
            &cfg.platform.url,
            &cfg.platform.key_id,
            cfg.secret(),
            Duration::from_secs(cfg.platform.timeout_secs.max(1)),
        )
    }

    pub(crate) fn new(
        url: &str,
        key_id: &str,
        secret: &str,
        timeout: Duration,
    ) -> anyhow::Result<Shipper> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(format!("dbpower-agent/{VERSION}"))
            .build()?;
        let base = url.trim_end_matches('/').to_string();
        let prefix = base
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
            .unwrap_or_default();
        Ok(Shipper {
            http,
            base,
            prefix,
            key_id: key_id.to_string(),
            secret: secret.to_string(),
            attempts: 4,
            backoff: Duration::from_millis(500),
        })
    }

    async fn post_signed(&self, path: &str, request_id: &str, body: Vec<u8>) -> Sent {
        match self.exchange(path, request_id, body).await {
            Ok(_) => Sent::Accepted,
            Err(sent) => sent,
        }
    }

    /// A signed POST whose answer is read: the JSON body on success (at most 4 MiB), or why not.
    pub(crate) async fn post_json<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, Sent> {
        let body = serde_json::to_vec(body).map_err(|e| Sent::Refused(e.to_string()))?;
        let text = self
            .exchange(path, &uuid::Uuid::new_v4().to_string(), body)
            .await?;
        serde_json::from_slice(&text)
            .map_err(|e| Sent::Refused(format!("the platform's answer is not understood: {e}")))
    }

    async fn exchange(&self, path: &str, request_id: &str, body: Vec<u8>) -> Result<Vec<u8>, Sent> {
        let ts = chrono::Utc::now().timestamp();
        let signed_path = format!("{}{path}", self.prefix);
        let signed = Signed {
            timestamp: ts,
            request_id,
            method: "POST",
            path_and_query: &signed_path,
            body: &body,
        };
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (name, value) in signed.headers(&self.key_id, &self.secret) {
            req = req.header(name, value);
        }
        let resp = req.body(body).send().await;
        match resp {
            Err(e) if e.is_timeout() => Err(Sent::Retry("timed out".into())),
            Err(e) if e.is_connect() => Err(Sent::Retry(
                "platform unreachable (connection failed)".into(),
            )),
            Err(e) => Err(Sent::Retry(format!("request failed: {}", e.without_url()))),
            Ok(r) => {
                let status = r.status();
                if status.is_success() {
                    return read_bounded(r).await;
                }
                let text: String = r
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                let what = format!("HTTP {status}: {text}");
                Err(match status.as_u16() {
                    401 => Sent::Unauthorized(what),
                    408 | 429 => Sent::Retry(what),
                    s if s >= 500 => Sent::Retry(what),
                    _ => Sent::Refused(what),
                })
            }
        }
    }

    pub(crate) async fn send(&self, batch: &Batch) -> Sent {
        let body =
            serde_json::to_vec(&serde_json::json!({"queries": batch.queries})).unwrap_or_default();
        self.post_signed("/api/v1/slow-queries", &batch.request_id, body)
            .await
    }

    /// Sends a change marker (`POST /api/v1/events`) under its own request id.
    pub(crate) async fn send_event(&self, e: &crate::changes::PendingEvent) -> Sent {
        let body = serde_json::to_vec(&e.event).unwrap_or_default();
        self.post_signed("/api/v1/events", &e.request_id, body)
            .await
    }

    /// Sends the change markers waiting in each source's state, oldest first; a marker the platform
    /// refuses is dropped (logged), one it cannot take now waits for the next round.
    pub(crate) async fn ship_events(
        &self,
        dir: &std::path::Path,
        sources: &[String],
    ) -> Vec<String> {
        let mut errors = Vec::new();
        for name in sources {
            let mut st = crate::state::load(dir, name);
            if st.watch.pending.is_empty() {
                continue;
            }
            let mut sent = 0;
            for e in &st.watch.pending {
                match self.send_event(e).await {
                    Sent::Accepted => {}
                    Sent::Refused(why) => {
                        tracing::warn!(title = %e.title(), %why, "the platform refused a change marker; dropped");
                    }
                    Sent::Unauthorized(why) | Sent::Retry(why) => {
                        errors.push(format!("{name}: change markers not sent: {why}"));
                        break;
                    }
                }
                sent += 1;
            }
            st.watch.pending.drain(..sent);
            if let Err(e) = crate::state::save(dir, name, &st) {
                errors.push(format!("{name}: cannot save its state: {e:#}"));
            }
        }
        errors
    }

    /// Sends every spooled batch, oldest first; stops at the first batch that cannot be delivered, so
    /// order is kept and nothing is skipped.
    pub(crate) async fn ship(&self, spool: &Spool) -> anyhow::Result<ShipReport> {
        let mut report = ShipReport::default();
        for path in spool.pending()? {
            let batch = match spool.read(&path) {
                Ok(b) => b,
                Err(e) => {
                    spool.reject(&path, &format!("unreadable: {e:#}"))?;
                    report.refused += 1;
                    continue;
                }
            };
            let mut attempt = 0;
            loop {
                match self.send(&batch).await {
                    Sent::Accepted => {
                        spool.acknowledge(&path)?;
                        report.batches += 1;
                        report.queries += batch.queries.len() as u64;
                        break;
                    }
                    Sent::Refused(why) => {
                        tracing::error!(request_id = %batch.request_id, %why, "the platform refused a batch; kept in the spool's rejected/ folder");
                        spool.reject(&path, &why)?;
                        report.refused += 1;
                        break;
                    }
                    Sent::Unauthorized(why) => {
                        report.error = Some(format!(
                            "the platform refused the api key or signature ({why}): check key_id, the secret and the clock"
                        ));
                        return Ok(report);
                    }
                    Sent::Retry(why) => {
                        attempt += 1;
                        if attempt >= self.attempts {
                            report.error = Some(why);
                            return Ok(report);
                        }
                        let exp = self
                            .backoff
                            .saturating_mul(1 << (attempt - 1).min(6))
                            .min(Duration::from_secs(30));
                        let jitter = Duration::from_millis(rand::random_range(
                            0..=exp.as_millis().min(1000) as u64 / 2 + 1,
                        ));
                        tokio::time::sleep(exp + jitter).await;
                    }
                }
            }
        }
        Ok(report)
    }

    pub(crate) async fn heartbeat(&self, hb: &AgentHeartbeat) -> Result<(), HeartbeatError> {
        let body = serde_json::to_vec(hb)?;
        match self
            .post_signed(
                "/api/v1/agents/heartbeat",
                &uuid::Uuid::new_v4().to_string(),
                body,
            )
            .await
        {
            Sent::Accepted => Ok(()),
            Sent::Refused(w) => Err(HeartbeatError::Refused(w)),
            Sent::Unauthorized(w) => Err(HeartbeatError::Unauthorized(w)),
            Sent::Retry(w) => Err(HeartbeatError::Unreachable(w)),
        }
    }
}

/// The most of an answer the agent reads.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// An answer's body, read a chunk at a time and refused past [`MAX_ANSWER`].
async fn read_bounded(mut r: reqwest::Response) -> Result<Vec<u8>, Sent> {
    if r.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(Sent::Refused("the answer is larger than 4 MiB".into()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| Sent::Retry(format!("reading the answer: {e}")))?
    {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(Sent::Refused("the answer is larger than 4 MiB".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a heartbeat was not recorded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeartbeatError {
    #[error("cannot encode the heartbeat: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("refused: {0}")]
    Refused(String),
    #[error("not authorized: {0}")]
    Unauthorized(String),
    #[error("platform unreachable or busy: {0}")]
    Unreachable(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A local server answering every request with `head` and then `body_bytes` bytes of `x`.
    async fn answering(head: String, body_bytes: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(head.as_bytes()).await;
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = body_bytes;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                    left -= n;
                }
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn an_answer_over_4_mib_is_refused_with_or_without_its_length() {
        let big = MAX_ANSWER + 1;
        let declared = answering(
            format!("HTTP/1.1 200 OK\r\ncontent-length: {big}\r\nconnection: close\r\n\r\n"),
            0,
        )
        .await;
        // Without a length: the body is read until the server closes, and refused past the limit.
        let streamed = answering(
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string(),
            big,
        )
        .await;
        let small = answering(
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\n".to_string(),
            5,
        )
        .await;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        for url in [declared, streamed] {
            let r = client.get(&url).send().await.expect("answer");
            match read_bounded(r).await {
                Err(Sent::Refused(why)) => assert!(why.contains("4 MiB"), "{why}"),
                other => panic!("{url}: {:?}", other.map(|b| b.len())),
            }
        }
        let r = client.get(&small).send().await.expect("answer");
        assert_eq!(read_bounded(r).await.ok(), Some(b"xxxxx".to_vec()));
    }
}
