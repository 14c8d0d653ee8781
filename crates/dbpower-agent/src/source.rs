//! One configured source at run time: its connection is opened per round, each of its methods collects
//! into an [`Output`], and the position each output covers names its batches (so a batch re-collected
//! after a crash carries the same request id and the platform stores it once).

use chrono::Utc;
use dbpower_types::SlowQueryIn;
use sha2::{Digest, Sha256};

use crate::collect::{Ctx, RawKey, Tally};
use crate::config::{Method, SourceKind};
use std::path::Path;

use crate::state::{FilePos, SourceState};
use crate::tail::Chunk;
use crate::{changes, enrich, mysql, postgres};

pub(crate) struct Output {
    pub queries: Vec<SlowQueryIn>,
    /// What was read (file inode and byte range, table watermark range, snapshot time).
    pub position: String,
    pub tally: Tally,
    pub note: Option<String>,
}

impl Output {
    /// What a log-file method read from `chunk`: the saved position moves past the `consumed` bytes, and
    /// a rotation or truncation is noted. A full chunk with no complete entry in it holds one entry
    /// larger than a chunk: it is skipped, with a note, so the source never stalls on it.
    pub(crate) fn from_log(
        chunk: &Chunk,
        consumed: usize,
        state: &mut SourceState,
        queries: Vec<SlowQueryIn>,
        tally: Tally,
        what: &str,
        path: &Path,
    ) -> Output {
        let mut notes: Vec<String> = chunk
            .note
            .iter()
            .map(|n| format!("{what} {}: {n}", path.display()))
            .collect();
        let consumed = if consumed == 0 && chunk.full() {
            notes.push(format!(
                "{what} {}: an entry longer than {} MiB at byte {} was skipped",
                path.display(),
                crate::tail::MAX_CHUNK / (1024 * 1024),
                chunk.start
            ));
            chunk.raw_len
        } else {
            consumed as u64
        };
        let end = chunk.start + consumed;
        state.log = Some(FilePos {
            inode: chunk.inode,
            offset: end,
            head: chunk.head.clone(),
        });
        Output {
            queries,
            position: format!("file:{}:{}-{}", chunk.inode, chunk.start, end),
            tally,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }
}

/// The request id of the `n`th batch cut from one method's output.
pub(crate) fn request_id(
    key_id: &str,
    source: &str,
    method: Method,
    position: &str,
    n: usize,
) -> String {
    let h = Sha256::digest(format!("{key_id}|{source}|{method:?}|{position}|{n}").as_bytes());
    format!("agt-{}", &hex::encode(h)[..32])
}

/// EXPLAIN and schema problems do not fail a round: they are noted in its log line.
fn note_problems(o: &mut Output, problems: Vec<String>) {
    if let Some(first) = problems.first() {
        let msg = format!(
            "{} statement(s) not explained or described (first: {first})",
            problems.len()
        );
        o.note = Some(match o.note.take() {
            Some(n) => format!("{n}; {msg}"),
            None => msg,
        });
    }
}

/// At most this many shapes are remembered as described; the oldest are forgotten first.
const MAX_DESCRIBED: usize = 10_000;

/// The key a described shape is remembered by: a hash of its scrubbed text and database name.
fn described_key(k: &RawKey) -> String {
    let mut h = Sha256::new();
    h.update(k.0.as_bytes());
    h.update([0]);
    h.update(k.1.as_deref().unwrap_or("").as_bytes());
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Drops from this round's EXPLAIN and schema work the shapes described within the source's
/// `describe_every_secs`, and forgets the ones described longer ago.
fn within_budget(ctx: &Ctx<'_>, state: &mut SourceState) {
    let every = i64::try_from(ctx.source.describe_every_secs).unwrap_or(i64::MAX);
    let now = Utc::now().timestamp();
    state
        .described
        .retain(|_, at| now.saturating_sub(*at) < every);
    ctx.raws
        .borrow_mut()
        .retain(|k, _| !state.described.contains_key(&described_key(k)));
}

/// Remembers the shapes this round described.
fn remember(state: &mut SourceState, described: &[RawKey]) {
    let now = Utc::now().timestamp();
    for k in described {
        state.described.insert(described_key(k), now);
    }
    let excess = state.described.len().saturating_sub(MAX_DESCRIBED);
    if excess > 0 {
        let mut oldest: Vec<(i64, String)> = state
            .described
            .iter()
            .map(|(k, at)| (*at, k.clone()))
            .collect();
        oldest.sort_unstable();
        for (_, k) in oldest.into_iter().take(excess) {
            state.described.remove(&k);
        }
    }
}

/// A source whose database cannot be reached fails each of its methods with that error.
fn every_method_failed(ctx: &Ctx<'_>, e: &anyhow::Error) -> Vec<(Method, anyhow::Result<Output>)> {
    ctx.source
        .methods
        .iter()
        .map(|m| (*m, Err(anyhow::anyhow!("{e:#}"))))
        .collect()
}

/// The database a PostgreSQL source's URL names (`None`: the server's default for the user).
fn home_database(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let db = u.path().trim_start_matches('/');
    (!db.is_empty()).then(|| db.to_string())
}

/// Remembers the tables enrichment described, and notes how they changed. (Settings are watched from the
/// source's own database only, in [`changes::recheck`]: a database can override them.)
fn watch(ctx: &Ctx<'_>, state: &mut SourceState, e: &enrich::Enriched) {
    if !ctx.source.watch_changes {
        return;
    }
    // One table, one key: on MySQL/MariaDB the table's schema is its database, whatever database the
    // statement ran in; on PostgreSQL the source's own database is named as no database.
    let home = home_database(&ctx.source.url);
    for (db, t) in &e.tables {
        let db = match ctx.source.kind {
            SourceKind::Mysql => None,
            SourceKind::Postgresql => db.as_deref().filter(|d| Some(*d) != home.as_deref()),
        };
        state.watch.observe_table(&ctx.source.name, db, t, true);
    }
}

/// Runs every method of a source; a failing method is reported and does not stop the others.
pub(crate) async fn collect(
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> Vec<(Method, anyhow::Result<Output>)> {
    let mut out = Vec::new();
    match ctx.source.kind {
        SourceKind::Mysql => {
            let mut conn = match mysql::connect(&ctx.source.url).await {
                Ok(c) => c,
                Err(e) => return every_method_failed(ctx, &e),
            };
            // The digest table is read first: a logged execution is matched against it (one count).
            let mut methods = ctx.source.methods.clone();
            methods.sort_by_key(|m| *m != Method::PerformanceSchema);
            for m in &methods {
                let mut r = match m {
                    Method::SlowLogFile => mysql::slow_log_file(&mut conn, ctx, state).await,
                    Method::PerformanceSchema => {
                        mysql::performance_schema(&mut conn, ctx, state).await
                    }
                    Method::SlowLogTable => mysql::slow_log_table(&mut conn, ctx, state).await,
                    other => Err(anyhow::anyhow!("{other:?} does not apply to MySQL")),
                };
                if let Ok(o) = &mut r {
                    within_budget(ctx, state);
                    let e =
                        enrich::enrich(enrich::Conn::Mysql(&mut conn), ctx, &mut o.queries).await;
                    remember(state, &e.described);
                    watch(ctx, state, &e);
                    note_problems(o, e.problems);
                    if e.poisoned {
                        // Never reuse a connection whose transaction state is unknown.
                        conn = match mysql::connect(&ctx.source.url).await {
                            Ok(c) => c,
                            Err(_) => {
                                out.push((*m, r));
                                return out;
                            }
                        };
                    }
                }
                out.push((*m, r));
            }
            changes::recheck(enrich::Conn::Mysql(&mut conn), ctx, state).await;
        }
        SourceKind::Postgresql => {
            let mut sessions = postgres::Sessions::new(&ctx.source.url);
            if let Err(e) = sessions.home().await {
                return every_method_failed(ctx, &e);
            }
            for m in &ctx.source.methods {
                let mut r = match sessions.home().await {
                    Err(e) => Err(e),
                    Ok(s) => match m {
                        Method::PgStatStatements => {
                            postgres::pg_stat_statements(s, ctx, state).await
                        }
                        Method::PostgresLog => postgres::postgres_log(s, ctx, state).await,
                        other => Err(anyhow::anyhow!("{other:?} does not apply to PostgreSQL")),
                    },
                };
                if let Ok(o) = &mut r {
                    // EXPLAIN and schema run in each statement's own database; a session left in an
                    // unknown state is closed by the enrichment itself and never reused.
                    within_budget(ctx, state);
                    let e =
                        enrich::enrich(enrich::Conn::Postgres(&mut sessions), ctx, &mut o.queries)
                            .await;
                    remember(state, &e.described);
                    watch(ctx, state, &e);
                    note_problems(o, e.problems);
                }
                out.push((*m, r));
            }
            changes::recheck(enrich::Conn::Postgres(&mut sessions), ctx, state).await;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Exclude, Exclusions, Scrub, SourceConfig};

    fn source(every: u64) -> SourceConfig {
        toml::from_str(&format!(
            "name = \"db\"\nkind = \"postgresql\"\nurl = \"postgres://x\"\nmethods = [\"postgres_log\"]\ndescribe_every_secs = {every}\n"
        ))
        .expect("source")
    }

    #[test]
    fn a_shape_described_recently_is_not_described_again_within_the_budget() {
        let ex = Exclusions::compile(&Exclude::default()).expect("exclusions");
        let key = |sql: &str| (sql.to_string(), Some("shop".to_string()));
        let raw = || ("SELECT 1".to_string(), Some("shop".to_string()));
        let mut state = SourceState::default();
        remember(&mut state, &[key("SELECT a FROM t WHERE id = $1")]);
        for (every, kept) in [(3600, 1), (0, 2)] {
            let config = source(every);
            let ctx = Ctx::new(&config, &ex, Scrub::Strict);
            for k in [key("SELECT a FROM t WHERE id = $1"), key("SELECT b FROM u")] {
                ctx.raws.borrow_mut().insert(k, raw());
            }
            let mut s = state.clone();
            within_budget(&ctx, &mut s);
            assert_eq!(ctx.raws.borrow().len(), kept, "every {every} s");
        }
        // An old entry is forgotten; the memory is bounded.
        state.described.insert("old".into(), 0);
        let config = source(3600);
        within_budget(&Ctx::new(&config, &ex, Scrub::Strict), &mut state);
        assert!(!state.described.contains_key("old"));
        let many: Vec<RawKey> = (0..MAX_DESCRIBED + 10)
            .map(|i| key(&format!("SELECT {i}")))
            .collect();
        remember(&mut state, &many);
        assert_eq!(state.described.len(), MAX_DESCRIBED);
    }
}
