//! The audit log's hash chain: each entry's hash covers its content and the previous entry's hash of the
//! same chain (one chain per organization, chain 0 for platform events), so editing, deleting or
//! reordering any entry breaks every later link.

use chrono::{DateTime, SecondsFormat, Utc};
use dbpower_types::AuditLogView;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain an entry belongs to: its organization, or 0 for the platform.
pub fn chain_key(organization_id: Option<i64>) -> i64 {
    organization_id.unwrap_or(0)
}

/// Truncates to microseconds, the precision both databases keep, so a re-read entry hashes the same.
pub fn stamp(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// The entry's hash: SHA-256 over a JSON array of every stored field (JSON keeps field boundaries
/// unambiguous) prefixed by the previous hash.
pub fn entry_hash(e: &AuditLogView) -> String {
    let canonical = serde_json::json!([
        e.prev_hash,
        chain_key(e.organization_id),
        e.organization_id,
        e.actor_user_id,
        e.actor_email,
        e.action,
        e.resource_type,
        e.resource_id,
        e.outcome,
        e.request_id,
        e.ip,
        e.details,
        e.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    ]);
    let mut h = Sha256::new();
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// Walks entries of one chain in id order; returns the id of the first broken one.
pub fn first_broken<'a>(
    prev: &mut String,
    entries: impl IntoIterator<Item = &'a AuditLogView>,
) -> Option<i64> {
    for e in entries {
        if e.prev_hash != *prev || entry_hash(e) != e.hash {
            return Some(e.id);
        }
        prev.clone_from(&e.hash);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, prev: &str) -> AuditLogView {
        let mut e = AuditLogView {
            id,
            organization_id: Some(1),
            actor_user_id: Some(2),
            actor_email: Some("a@b.example".into()),
            action: "team.create".into(),
            resource_type: "team".into(),
            resource_id: Some("3".into()),
            outcome: "success".into(),
            request_id: Some("r".into()),
            ip: Some("127.0.0.1".into()),
            details: serde_json::json!({"name": "core"}),
            created_at: stamp(Utc::now()),
            hash: String::new(),
            prev_hash: prev.into(),
        };
        e.hash = entry_hash(&e);
        e
    }

    #[test]
    fn a_chain_verifies_and_any_edit_breaks_it() {
        let a = entry(1, GENESIS_HASH);
        let b = entry(2, &a.hash);
        let mut prev = GENESIS_HASH.to_string();
        assert_eq!(first_broken(&mut prev, [&a, &b]), None);

        let mut edited = b.clone();
        edited.action = "team.delete".into();
        let mut prev = GENESIS_HASH.to_string();
        assert_eq!(first_broken(&mut prev, [&a, &edited]), Some(2));

        // Dropping the first entry breaks the link of the second.
        let mut prev = GENESIS_HASH.to_string();
        assert_eq!(first_broken(&mut prev, [&b]), Some(2));
    }
}
