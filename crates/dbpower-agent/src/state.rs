//! What each source has already read, persisted after the batch it produced is safely spooled: the log
//! file's inode and offset, the slow_log table's watermark, and the last counter snapshot of
//! performance_schema or pg_stat_statements (deltas are computed against it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::spool::write_durably;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct FilePos {
    pub inode: u64,
    pub offset: u64,
    /// The file's first bytes when it was read (up to 4 KiB): a file rewritten in place (copytruncate)
    /// keeps its inode but not its head.
    #[serde(default)]
    pub head: Option<Head>,
}

/// How many leading bytes of a log file identify it, and their SHA-256.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Head {
    pub len: u64,
    pub sha256: String,
}

/// Cumulative counters of one digest / pg_stat_statements entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Counters {
    pub calls: i64,
    pub total_ms: f64,
    pub lock_ms: f64,
    pub rows_sent: i64,
    pub rows_examined: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct SourceState {
    #[serde(default)]
    pub log: Option<FilePos>,
    /// `mysql.slow_log.start_time` of the newest row shipped (`YYYY-MM-DD HH:MM:SS.ffffff`).
    #[serde(default)]
    pub slow_table_watermark: Option<String>,
    #[serde(default)]
    pub digests: Option<HashMap<String, Counters>>,
    #[serde(default)]
    pub digests_at: Option<DateTime<Utc>>,
    /// When each statement shape (a hash of its scrubbed text and database) last got a plan or a
    /// schema snapshot, in Unix seconds: it is described again only after `describe_every_secs`.
    #[serde(default)]
    pub described: HashMap<String, i64>,
    /// The tables and settings watched for changes, and the change events not yet delivered.
    #[serde(default)]
    pub watch: crate::changes::Watch,
    /// The query ids of the statements this source shipped, with when (Unix seconds), at most
    /// [`MAX_SHIPPED`]: the platform's validations are run only for these (docs/SECURITY.md).
    #[serde(default)]
    pub shipped: HashMap<String, i64>,
}

/// Query ids remembered per source.
pub(crate) const MAX_SHIPPED: usize = 20_000;

impl SourceState {
    /// Remembers that statements with these query ids were shipped now, forgetting the oldest beyond
    /// [`MAX_SHIPPED`].
    pub(crate) fn remember_shipped(&mut self, ids: impl IntoIterator<Item = String>, now: i64) {
        for id in ids {
            self.shipped.insert(id, now);
        }
        if self.shipped.len() > MAX_SHIPPED {
            let mut by_age: Vec<(i64, String)> =
                self.shipped.iter().map(|(k, t)| (*t, k.clone())).collect();
            by_age.sort();
            let excess = self.shipped.len() - MAX_SHIPPED;
            for (_, k) in by_age.into_iter().take(excess) {
                self.shipped.remove(&k);
            }
        }
    }
}

pub(crate) fn path(dir: &Path, source: &str) -> PathBuf {
    dir.join("state").join(format!("{source}.json"))
}

pub(crate) fn load(dir: &Path, source: &str) -> SourceState {
    std::fs::read(path(dir, source))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub(crate) fn save(dir: &Path, source: &str, s: &SourceState) -> anyhow::Result<()> {
    let p = path(dir, source);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)?;
    }
    write_durably(&p, &serde_json::to_vec(s)?)
}
