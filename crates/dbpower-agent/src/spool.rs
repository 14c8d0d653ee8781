//! The disk spool: every batch is written to its own file (temporary name, fsync, rename, fsync of the
//! directory) before anything is shipped, and deleted only after the platform accepted it. Batches are
//! replayed in the order they were written. Beyond `max_bytes` the oldest batches are evicted, and every
//! evicted batch and query is counted (`stats.json`) and reported; a batch the platform refuses as
//! invalid is moved to `rejected/` with the reason, never retried forever and never silently dropped.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use dbpower_types::SlowQueryIn;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Batch {
    /// Sent as `X-Request-ID`: stable across retries, so a replay is never stored twice.
    pub request_id: String,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub queries: Vec<SlowQueryIn>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct SpoolCounters {
    pub evicted_batches: u64,
    pub evicted_queries: u64,
    pub rejected_batches: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpoolStats {
    pub bytes: u64,
    pub batches: u64,
    pub counters: SpoolCounters,
}

pub(crate) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
}

fn fsync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes a file durably: temporary name, fsync, rename, fsync of the directory.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} into place", tmp.display()))?;
    fsync_dir(dir);
    Ok(())
}

/// `00000000000000000042-17.json`: sequence number, then the number of queries (counted on eviction).
fn parse_name(p: &Path) -> Option<(u64, u64)> {
    let stem = p.file_name()?.to_str()?.strip_suffix(".json")?;
    let (seq, n) = stem.split_once('-')?;
    Some((seq.parse().ok()?, n.parse().ok()?))
}

impl Spool {
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<Spool> {
        let batches = dir.join("batches");
        fs::create_dir_all(&batches)
            .with_context(|| format!("cannot create the spool directory {}", batches.display()))?;
        fs::create_dir_all(dir.join("rejected"))?;
        // A crash between create and rename leaves a temporary file: it was never acknowledged.
        for e in fs::read_dir(&batches)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "tmp") {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
        })
    }

    fn counters(&self) -> SpoolCounters {
        fs::read(self.dir.join("stats.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save_counters(&self, c: &SpoolCounters) -> anyhow::Result<()> {
        write_durably(&self.dir.join("stats.json"), &serde_json::to_vec(c)?)
    }

    /// Pending batch files, oldest first.
    pub(crate) fn pending(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut files: Vec<(u64, PathBuf)> = fs::read_dir(self.dir.join("batches"))?
            .flatten()
            .map(|e| e.path())
            .filter_map(|p| parse_name(&p).map(|(seq, _)| (seq, p)))
            .collect();
        files.sort();
        Ok(files.into_iter().map(|(_, p)| p).collect())
    }

    /// Appends a batch durably, then evicts the oldest batches beyond the size cap.
    pub(crate) fn push(&self, batch: &Batch) -> anyhow::Result<PathBuf> {
        let pending = self.pending()?;
        let next = pending
            .last()
            .and_then(|p| parse_name(p))
            .map_or(1, |(s, _)| s + 1);
        let path = self
            .dir
            .join("batches")
            .join(format!("{next:020}-{}.json", batch.queries.len()));
        write_durably(&path, &serde_json::to_vec(batch)?)?;
        self.enforce_cap()?;
        Ok(path)
    }

    fn enforce_cap(&self) -> anyhow::Result<()> {
        let files = self.pending()?;
        let sizes: Vec<u64> = files
            .iter()
            .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .collect();
        let mut total: u64 = sizes.iter().sum();
        let mut counters = None;
        // The newest batch always stays.
        for (p, size) in files.iter().zip(&sizes).take(files.len().saturating_sub(1)) {
            if total <= self.max_bytes {
                break;
            }
            let c = counters.get_or_insert_with(|| self.counters());
            c.evicted_batches += 1;
            c.evicted_queries += parse_name(p).map_or(0, |(_, n)| n);
            fs::remove_file(p)?;
            total -= size;
            tracing::warn!(file = %p.display(), "spool over its size cap: oldest batch evicted");
        }
        if let Some(c) = counters {
            self.save_counters(&c)?;
        }
        Ok(())
    }

    pub(crate) fn read(&self, path: &Path) -> anyhow::Result<Batch> {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid spooled batch", path.display()))
    }

    /// The platform stored it: forget it.
    pub(crate) fn acknowledge(&self, path: &Path) -> anyhow::Result<()> {
        fs::remove_file(path)?;
        fsync_dir(&self.dir.join("batches"));
        Ok(())
    }

    /// The platform refused it as invalid: keep it aside with the reason, count it.
    pub(crate) fn reject(&self, path: &Path, reason: &str) -> anyhow::Result<()> {
        // Batch names restart once the spool empties, so an earlier rejection may hold the same name:
        // a rejected batch is never overwritten, it gets the next free suffix.
        let stem = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or("batch")
            .to_string();
        let rejected = self.dir.join("rejected");
        let target = (0u32..)
            .map(|i| match i {
                0 => rejected.join(format!("{stem}.json")),
                i => rejected.join(format!("{stem}~{i}.json")),
            })
            .find(|p| !p.exists() && !p.with_extension("reason.txt").exists())
            .unwrap_or_else(|| rejected.join(format!("{stem}~{}.json", uuid::Uuid::new_v4())));
        fs::rename(path, &target)?;
        write_durably(&target.with_extension("reason.txt"), reason.as_bytes())?;
        fsync_dir(&rejected);
        let mut c = self.counters();
        c.rejected_batches += 1;
        self.save_counters(&c)
    }

    pub(crate) fn stats(&self) -> SpoolStats {
        let files = self.pending().unwrap_or_default();
        SpoolStats {
            bytes: files
                .iter()
                .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                .sum(),
            batches: files.len() as u64,
            counters: self.counters(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbpower_types::DatabaseType;

    /// The request ids of the pending batches, oldest first.
    fn pending_ids(spool: &Spool) -> Vec<String> {
        spool
            .pending()
            .expect("pending")
            .iter()
            .map(|p| spool.read(p).expect("read").request_id)
            .collect()
    }

    fn batch(id: &str, n: usize) -> Batch {
        Batch {
            request_id: id.into(),
            source: "s".into(),
            created_at: Utc::now(),
            queries: (0..n)
                .map(|i| SlowQueryIn {
                    sql_text: format!("SELECT {i} FROM t WHERE a = ?"),
                    execution_time_ms: 10.0,
                    database_type: DatabaseType::Mysql,
                    database_name: None,
                    user: None,
                    client_host: None,
                    rows_examined: None,
                    rows_sent: None,
                    rows_affected: None,
                    lock_time_ms: None,
                    calls: None,
                    observed_at: None,
                    explain: None,
                    source: None,
                    schema: None,
                    sample_only: false,
                    hints: None,
                })
                .collect(),
        }
    }

    #[test]
    fn batches_replay_in_order_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("tmp");
        let spool = Spool::open(dir.path(), 1 << 20).expect("open");
        for i in 0..3 {
            spool.push(&batch(&format!("b{i}"), 2)).expect("push");
        }
        std::fs::write(
            dir.path().join("batches/00000000000000000009-1.tmp"),
            b"half",
        )
        .expect("tmp");
        let spool = Spool::open(dir.path(), 1 << 20).expect("reopen");
        let ids = pending_ids(&spool);
        assert_eq!(ids, vec!["b0", "b1", "b2"]);
        let first = spool.pending().expect("pending")[0].clone();
        spool.acknowledge(&first).expect("ack");
        let second = spool.pending().expect("pending")[0].clone();
        spool.reject(&second, "HTTP 422: bad").expect("reject");
        let s = spool.stats();
        assert_eq!((s.batches, s.counters.rejected_batches), (1, 1));
        assert!(dir.path().join("rejected").read_dir().expect("dir").count() == 2);
    }

    #[test]
    fn the_cap_evicts_oldest_first_and_counts_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let one = serde_json::to_vec(&batch("x", 5)).expect("json").len() as u64;
        let spool = Spool::open(dir.path(), one * 2 + one / 2).expect("open");
        for i in 0..5 {
            spool.push(&batch(&format!("b{i}"), 5)).expect("push");
        }
        let ids = pending_ids(&spool);
        assert_eq!(ids, vec!["b3", "b4"]);
        let s = spool.stats();
        assert_eq!(
            (s.counters.evicted_batches, s.counters.evicted_queries),
            (3, 15)
        );
        assert!(s.bytes <= one * 2 + one / 2);
    }
}
