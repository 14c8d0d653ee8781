//! Group commit for ingestion. Requests hand their prepared batch to a writer task and wait for its
//! outcome; a writer takes every batch queued at that moment (up to a bound) and stores them in one
//! transaction. Under load this turns many small transactions, each waiting on a commit and on the same
//! hot class rows, into few larger ones; when idle it adds no delay (nothing waits for a timer).

use std::sync::Arc;

use dbpower_core::OrgId;
use dbpower_store::{IngestOutcome, NewBatch, Store, StoreError};
use tokio::sync::{Mutex, mpsc, oneshot};

/// At most this many requests, or this many queries, go into one transaction.
const MAX_GROUP_REQUESTS: usize = 64;
const MAX_GROUP_QUERIES: usize = 5000;

struct Job {
    org: OrgId,
    batch: NewBatch,
    reply: oneshot::Sender<Result<IngestOutcome, StoreError>>,
}

#[derive(Clone)]
pub(crate) struct IngestWriter {
    tx: mpsc::Sender<Job>,
}

impl IngestWriter {
    /// Starts `writers` writer tasks (one is right for SQLite, whose writes are serialized anyway).
    pub(crate) fn start(store: Arc<dyn Store>, writers: usize) -> IngestWriter {
        let (tx, rx) = mpsc::channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            let (store, rx) = (store.clone(), rx.clone());
            tokio::spawn(async move {
                loop {
                    let mut group = Vec::new();
                    {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        let mut queries = first.batch.items.len();
                        group.push(first);
                        while group.len() < MAX_GROUP_REQUESTS && queries < MAX_GROUP_QUERIES {
                            match rx.try_recv() {
                                Ok(job) => {
                                    queries += job.batch.items.len();
                                    group.push(job);
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    let (batches, replies): (Vec<(OrgId, NewBatch)>, Vec<_>) = group
                        .into_iter()
                        .map(|j| ((j.org, j.batch), j.reply))
                        .unzip();
                    match store.ingest_many(&batches).await {
                        Ok(results) => {
                            for (reply, r) in replies.into_iter().zip(results) {
                                let _ = reply.send(r);
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, requests = replies.len(), "ingestion transaction failed");
                            let msg = e.to_string();
                            for reply in replies {
                                let _ = reply.send(Err(StoreError::Unavailable(msg.clone())));
                            }
                        }
                    }
                }
            });
        }
        IngestWriter { tx }
    }

    /// Stores one batch (possibly together with others) and returns its outcome.
    pub(crate) async fn submit(
        &self,
        org: OrgId,
        batch: NewBatch,
    ) -> Result<IngestOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { org, batch, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the ingestion writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the ingestion writer has stopped".into()))?
    }
}
