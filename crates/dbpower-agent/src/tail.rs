//! Reading what was appended to a log file since the last round: survives rotation (a new inode starts
//! from its beginning) and truncation (a file shorter than the saved offset starts over), reads at
//! most a bounded chunk per round, and never returns a partial last line.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::config::StartAt;
use crate::state::FilePos;

/// The most a round reads from one file (the rest is read next round).
pub const MAX_CHUNK: u64 = 16 * 1024 * 1024;

pub struct Chunk {
    pub bytes: Vec<u8>,
    /// File offset of `bytes[0]`.
    pub start: u64,
    pub inode: u64,
    /// `rotated` or `truncated` when the saved position no longer applied.
    pub note: Option<&'static str>,
}

pub fn read_appended(
    path: &Path,
    pos: Option<FilePos>,
    start_at: StartAt,
) -> std::io::Result<Chunk> {
    let meta = std::fs::metadata(path)?;
    let (inode, len) = (meta.ino(), meta.len());
    let (start, note) = match pos {
        None => (if start_at == StartAt::End { len } else { 0 }, None),
        Some(p) if p.inode != inode => (0, Some("rotated")),
        Some(p) if len < p.offset => (0, Some("truncated")),
        Some(p) => (p.offset, None),
    };
    let want = (len - start).min(MAX_CHUNK);
    let mut bytes = Vec::with_capacity(want as usize);
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(start))?;
    f.take(want).read_to_end(&mut bytes)?;
    // Only whole lines: the writer may be in the middle of one.
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(keep);
    Ok(Chunk {
        bytes,
        start,
        inode,
        note,
    })
}

/// Byte offsets of the start of each line (index 0 is line 1).
pub fn line_starts(bytes: &[u8]) -> Vec<usize> {
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
        let pos = FilePos {
            inode: c.inode,
            offset: c.start,
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
        };
        // Truncated (copytruncate rotation): start over.
        std::fs::write(&p, "new\n").expect("truncate");
        let c = read_appended(&p, Some(pos), StartAt::End).expect("read");
        assert_eq!(
            (c.bytes.as_slice(), c.note),
            (&b"new\n"[..], Some("truncated"))
        );
        // Rotated (rename + new file): the new inode is read from its beginning.
        std::fs::rename(&p, dir.path().join("slow.log.1")).expect("rotate");
        std::fs::write(&p, "fresh\n").expect("new file");
        let c2 = read_appended(
            &p,
            Some(FilePos {
                inode: c.inode,
                offset: 4,
            }),
            StartAt::End,
        )
        .expect("read");
        assert_eq!(
            (c2.bytes.as_slice(), c2.note),
            (&b"fresh\n"[..], Some("rotated"))
        );
        assert_eq!(
            read_appended(&p, None, StartAt::Beginning)
                .expect("read")
                .bytes,
            b"fresh\n"
        );
    }
}
