//! The retention sweep: each organization's slow queries past its retention are deleted (and what no
//! longer has rows behind it, see the store), idempotency records past their horizon too; each purge is
//! recorded in the audit log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dbpower_core::{OrgId, Scope};
use dbpower_store::{NewAuditEntry, Store};

/// How long idempotency records are kept (longer than any agent's retry horizon).
pub(crate) const IDEMPOTENCY_DAYS: i64 = 7;

/// Deletes slow queries past each organization's retention and records it in the audit log. On
/// PostgreSQL the day partitions past every organization's retention are dropped whole first (and
/// the coming days' partitions made); rows of organizations with a shorter retention are deleted.
pub async fn sweep(store: &dyn Store) -> anyhow::Result<u64> {
    let now = Utc::now();
    store.maintain_partitions(now).await?;
    let mut orgs = Vec::new();
    for id in store.organization_ids().await? {
        let org = OrgId::from_credential(id);
        let settings = store.organization_by_id(&Scope::org(org), id).await?;
        let cutoff = now - chrono::Duration::days(i64::from(settings.retention_days));
        orgs.push((org, cutoff, settings.retention_days));
    }
    let mut dropped: HashMap<i64, (u64, Vec<String>)> = HashMap::new();
    if let Some(earliest) = orgs.iter().map(|(_, cutoff, _)| *cutoff).min() {
        for part in store.drop_slow_query_partitions(earliest).await? {
            for (org, n) in part.rows {
                let entry = dropped.entry(org).or_default();
                entry.0 += n;
                entry.1.push(part.name.clone());
            }
        }
    }
    let mut total = 0;
    for (org, cutoff, retention_days) in orgs {
        let (in_partitions, partitions) = dropped.remove(&org.get()).unwrap_or_default();
        let n = store.delete_slow_queries_before(org, cutoff).await? + in_partitions;
        if n > 0 {
            total += n;
            store
                .append_audit(&NewAuditEntry {
                    organization_id: Some(org.get()),
                    actor_user_id: None,
                    actor_email: Some("system".into()),
                    action: "retention.purge".into(),
                    resource_type: "slow_query".into(),
                    resource_id: None,
                    outcome: "success".into(),
                    request_id: None,
                    ip: None,
                    details: serde_json::json!({"deleted": n, "older_than": cutoff,
                        "retention_days": retention_days, "dropped_partitions": partitions}),
                })
                .await?;
        }
    }
    store
        .prune_ingest_requests(now - chrono::Duration::days(IDEMPOTENCY_DAYS))
        .await?;
    Ok(total)
}

pub(crate) async fn run(store: Arc<dyn Store>, every: Duration) {
    loop {
        if let Err(e) = sweep(store.as_ref()).await {
            tracing::error!(error = %e, "retention sweep failed");
        }
        tokio::time::sleep(every).await;
    }
}
