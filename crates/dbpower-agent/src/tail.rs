//! Reading what was appended to a log file since the last round. Rotation: when the file at the path has
//! a new inode, the previous file is looked up by its inode in the same directory (`slow.log.1`,
//! `postgresql-Mon.log`, ...) and finished before the new one is read from its beginning. Truncation
//! (`copytruncate`): a file shorter than the saved offset, or whose first bytes changed, starts over. A
//! round reads at most [`MAX_CHUNK`] bytes and never returns a partial last line; a chunk that does not
//! reach the end of the file says so, so the caller can hold back an entry it may have cut.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::StartAt;
use crate::state::{FilePos, Head};

/// The most a round reads from one file (the rest is read next round).
pub(crate) const MAX_CHUNK: u64 = 16 * 1024 * 1024;

/// How many leading bytes identify a file across rounds.
const HEAD_BYTES: u64 = 4096;

pub(crate) struct Chunk {
    pub bytes: Vec<u8>,
    /// File offset of `bytes[0]`.
    pub start: u64,
    pub inode: u64,
    /// The head of the file this chunk came from.
    pub head: Option<Head>,
    /// Whether the read reached the end of the file (else more follows the chunk).
    pub eof: bool,
    /// Bytes read before the partial last line was cut off.
    pub raw_len: u64,
    /// What happened to the saved position, when it no longer applied as it was.
    pub note: Option<String>,
}

impl Chunk {
    /// A whole chunk's worth was read and still no complete entry: one entry is larger than a chunk.
    pub(crate) fn full(&self) -> bool {
        !self.eof && self.raw_len >= MAX_CHUNK
    }
}

fn head_of(f: &mut std::fs::File, len: u64) -> std::io::Result<Head> {
    let n = len.min(HEAD_BYTES);
    let mut buf = Vec::with_capacity(n as usize);
    f.seek(SeekFrom::Start(0))?;
    f.by_ref().take(n).read_to_end(&mut buf)?;
    Ok(Head {
        len: buf.len() as u64,
        sha256: hex::encode(Sha256::digest(&buf)),
    })
}

/// Whether the file still starts with the bytes recorded in `head`.
fn same_head(f: &mut std::fs::File, len: u64, head: Option<&Head>) -> std::io::Result<bool> {
    let Some(h) = head else { return Ok(true) };
    if len < h.len {
        return Ok(false);
    }
    let mut buf = Vec::with_capacity(h.len as usize);
    f.seek(SeekFrom::Start(0))?;
    f.by_ref().take(h.len).read_to_end(&mut buf)?;
    Ok(hex::encode(Sha256::digest(&buf)) == h.sha256)
}

/// The file in `dir` other than `except` whose inode is `inode` (a rotated log beside the new one).
fn find_inode(dir: &Path, inode: u64, except: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p != except && std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.ino() == inode)
        })
}

fn read_from(path: &Path, inode: u64, start: u64, note: Option<String>) -> std::io::Result<Chunk> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let head = Some(head_of(&mut f, len)?);
    let start = start.min(len);
    let want = (len - start).min(MAX_CHUNK);
    let mut bytes = Vec::with_capacity(want as usize);
    f.seek(SeekFrom::Start(start))?;
    f.take(want).read_to_end(&mut bytes)?;
    let raw_len = bytes.len() as u64;
    // Only whole lines: the writer may be in the middle of one.
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(keep);
    Ok(Chunk {
        bytes,
        start,
        inode,
        head,
        eof: start + raw_len >= len,
        raw_len,
        note,
    })
}

pub(crate) fn read_appended(
    path: &Path,
    pos: Option<FilePos>,
    start_at: StartAt,
) -> std::io::Result<Chunk> {
    let meta = std::fs::metadata(path)?;
    let (inode, len) = (meta.ino(), meta.len());
    let Some(p) = pos else {
        if start_at == StartAt::End {
            let note = format!(
                "first read: start_at = \"end\" skips the {len} bytes already in the log; statements logged \
                 from now on are collected (start_at = \"beginning\" reads what is there)"
            );
            return read_from(path, inode, len, Some(note));
        }
        return read_from(path, inode, 0, None);
    };
    if p.inode != inode {
        // Rotated: finish the previous file (found by its inode beside the new one) first.
        let dir = path.parent().unwrap_or(Path::new("."));
        if let Some(old) = find_inode(dir, p.inode, path) {
            let mut f = std::fs::File::open(&old)?;
            let old_len = f.metadata()?.len();
            if old_len > p.offset && same_head(&mut f, old_len, p.head.as_ref())? {
                let note = format!("rotated: finishing the previous file {}", old.display());
                return read_from(&old, p.inode, p.offset, Some(note));
            }
        }
        return read_from(
            path,
            inode,
            0,
            Some("rotated: reading the new file from its start".into()),
        );
    }
    let mut f = std::fs::File::open(path)?;
    if len < p.offset || !same_head(&mut f, len, p.head.as_ref())? {
        return read_from(
            path,
            inode,
            0,
            Some("truncated: reading it from its start".into()),
        );
    }
    read_from(path, inode, p.offset, None)
}

/// Byte offsets of the start of each line (index 0 is line 1).
pub(crate) fn line_starts(bytes: &[u8]) -> Vec<usize> {
    std::iter::once(0)
        .chain(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .filter(|&i| i < bytes.len())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn appends_rotation_truncation_and_partial_lines() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("slow.log");
        std::fs::write(&p, "old line\n").expect("write");
        let c = read_appended(&p, None, StartAt::End).expect("read");
        assert!(c.bytes.is_empty());
        // A first read at the end says why nothing was read.
        assert!(
            c.note
                .as_deref()
                .is_some_and(|n| n.contains("skips the 9 bytes") && n.contains("beginning")),
            "{:?}",
            c.note
        );
        let pos = FilePos {
            inode: c.inode,
            offset: c.start,
            head: c.head.clone(),
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("open");
        f.write_all(b"one\ntwo\npart").expect("append");
        let c = read_appended(&p, Some(pos), StartAt::End).expect("read");
        assert_eq!(c.bytes, b"one\ntwo\n");
        assert_eq!(line_starts(&c.bytes), vec![0, 4]);
        let pos = FilePos {
            inode: c.inode,
            offset: c.start + c.bytes.len() as u64,
            head: c.head.clone(),
        };
        // Truncated (copytruncate rotation): start over.
        std::fs::write(&p, "new\n").expect("truncate");
        let c = read_appended(&p, Some(pos), StartAt::End).expect("read");
        assert_eq!(
            (c.bytes.as_slice(), c.note.as_deref()),
            (&b"new\n"[..], Some("truncated: reading it from its start"))
        );
        // Rotated (rename + new file): the new inode is read from its beginning.
        std::fs::rename(&p, dir.path().join("slow.log.1")).expect("rotate");
        std::fs::write(&p, "fresh\n").expect("new file");
        let c2 = read_appended(
            &p,
            Some(FilePos {
                inode: c.inode,
                offset: 4,
                head: c.head.clone(),
            }),
            StartAt::End,
        )
        .expect("read");
        assert_eq!(
            (c2.bytes.as_slice(), c2.note.as_deref()),
            (
                &b"fresh\n"[..],
                Some("rotated: reading the new file from its start")
            )
        );
        assert_eq!(
            read_appended(&p, None, StartAt::Beginning)
                .expect("read")
                .bytes,
            b"fresh\n"
        );
    }

    fn pos_after(c: &Chunk) -> FilePos {
        FilePos {
            inode: c.inode,
            offset: c.start + c.bytes.len() as u64,
            head: c.head.clone(),
        }
    }

    #[test]
    fn a_rotated_file_is_finished_before_the_new_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("slow.log");
        std::fs::write(&p, "a\n").expect("write");
        let c = read_appended(&p, None, StartAt::Beginning).expect("read");
        let pos = pos_after(&c);
        // The server writes a last line to the old file, it is renamed, a new file starts.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("open");
        f.write_all(b"b\n").expect("append");
        std::fs::rename(&p, dir.path().join("slow.log.1")).expect("rotate");
        f.write_all(b"c\n").expect("append after the rename");
        std::fs::write(&p, "d\n").expect("new file");
        let c = read_appended(&p, Some(pos), StartAt::End).expect("read");
        assert_eq!(c.bytes, b"b\nc\n", "the old file's tail first");
        assert!(c.note.as_deref().is_some_and(|n| n.contains("slow.log.1")));
        let c = read_appended(&p, Some(pos_after(&c)), StartAt::End).expect("read");
        assert_eq!(c.bytes, b"d\n", "then the new file from its start");
    }

    #[test]
    fn copytruncate_is_seen_even_when_the_file_grew_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("slow.log");
        std::fs::write(&p, "# Time: 1\nSELECT 1;\n").expect("write");
        let c = read_appended(&p, None, StartAt::Beginning).expect("read");
        let pos = pos_after(&c);
        // Copied away and truncated in place, then written past the old offset before the next round.
        std::fs::write(&p, "# Time: 2\nSELECT 22222;\n# Time: 3\nSELECT 3;\n").expect("rewrite");
        let c = read_appended(&p, Some(pos), StartAt::End).expect("read");
        assert_eq!(c.start, 0);
        assert!(c.bytes.starts_with(b"# Time: 2"));
        assert!(
            c.note
                .as_deref()
                .is_some_and(|n| n.starts_with("truncated"))
        );
    }

    #[test]
    fn chunks_say_whether_they_reached_the_end() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("big.log");
        let line = "x".repeat(1023) + "\n";
        let mut f = std::fs::File::create(&p).expect("create");
        for _ in 0..(MAX_CHUNK / 1024 + 2) {
            f.write_all(line.as_bytes()).expect("write");
        }
        let c = read_appended(&p, None, StartAt::Beginning).expect("read");
        assert!(!c.eof && c.raw_len == MAX_CHUNK);
        let c = read_appended(&p, Some(pos_after(&c)), StartAt::End).expect("read");
        assert!(c.eof);
        // One line longer than a chunk: a full chunk with no whole line.
        let q = dir.path().join("one.log");
        std::fs::write(&q, "y".repeat(MAX_CHUNK as usize + 10) + "\n").expect("write");
        let c = read_appended(&q, None, StartAt::Beginning).expect("read");
        assert!(c.bytes.is_empty() && c.full());
    }
}
