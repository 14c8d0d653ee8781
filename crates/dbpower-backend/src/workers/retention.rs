//! The retention sweep: each organization's slow queries past its retention are deleted (and what no
//! longer has rows behind it, see the store), idempotency records past their horizon too; each purge is
//! recorded in the audit log.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dbpower_core::{OrgId, Scope};
use dbpower_store::{NewAuditEntry, Store};

/// How long idempotency records are kept (longer than any agent's retry horizon).
pub(crate) const IDEMPOTENCY_DAYS: i64 = 7;

/// Deletes slow queries past each organization's retention and records it in the audit log.
pub async fn sweep(store: &dyn Store) -> anyhow::Result<u64> {
    let mut total = 0;
    for id in store.organization_ids().await? {
        let org = OrgId::from_credential(id);
        let settings = store.organization_by_id(&Scope::org(org), id).await?;
        let cutoff = Utc::now() - chrono::Duration::days(i64::from(settings.retention_days));
        let n = store.delete_slow_queries_before(org, cutoff).await?;
        if n > 0 {
            total += n;
            store
                .append_audit(&NewAuditEntry {
                    organization_id: Some(id),
                    actor_user_id: None,
                    actor_email: Some("system".into()),
                    action: "retention.purge".into(),
                    resource_type: "slow_query".into(),
                    resource_id: None,
                    outcome: "success".into(),
                    request_id: None,
                    ip: None,
                    details: serde_json::json!({"deleted": n, "older_than": cutoff, "retention_days": settings.retention_days}),
                })
                .await?;
        }
    }
    store
        .prune_ingest_requests(Utc::now() - chrono::Duration::days(IDEMPOTENCY_DAYS))
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
