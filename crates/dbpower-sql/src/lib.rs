//! Pure SQL text work shared by the agent and the server: a dialect-aware lexer, fingerprints and
//! query ids (pt-query-digest compatible for MySQL), PII scrubbing, and constant-memory latency
//! histograms, streaming slow-log parsers and the offline digest. No files or network, no async; every function is total (never panics on any input).

pub mod digest;
pub mod fingerprint;
pub mod hints;
pub mod histogram;
pub mod lexer;
pub mod pii;
pub mod scrub;
pub mod slowlog;

pub use fingerprint::{FINGERPRINT_VERSION, fingerprint, fingerprint_and_id, query_id};
pub use histogram::Histogram;
pub use scrub::{ScrubLevel, scrub};

use serde::{Deserialize, Serialize};

/// The SQL dialect a statement was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// MySQL and MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgresql,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Mysql => "mysql",
            Dialect::Postgresql => "postgresql",
        }
    }

    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            "postgresql" | "postgres" => Some(Dialect::Postgresql),
            _ => None,
        }
    }
}

/// `text` with each `(start, end, replacement)` edit applied: byte ranges in order, not overlapping.
pub(crate) fn splice(
    text: &str,
    edits: impl IntoIterator<Item = (usize, usize, String)>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, replacement) in edits {
        out.push_str(&text[at..start]);
        out.push_str(&replacement);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}
