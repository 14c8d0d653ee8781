//! MySQL/MariaDB collection: the slow-log file (tailed), `performance_schema` statement digests (deltas
//! per round) and the `mysql.slow_log` table (a persisted watermark) for hosts without file access.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{Connection, Row};

use crate::collect::{Ctx, Raw, Tally, mysql_events, parse_time};
use crate::config::StartAt;
use crate::source::Output;
use crate::state::{Counters, SourceState};
use crate::tail::read_appended;

/// Connects to a monitored server. The connection never announces multi-statement support, so the
/// server refuses any query string holding more than one statement (docs/SECURITY.md).
///
/// Nothing the session runs may come back as data. sqlx's own session setup (`SET sql_mode=...,
/// time_zone=..., NAMES ...`) carries no marker, so it is turned off and the agent sets the time zone and
/// character set itself, marked (the slow log keeps the marker). performance_schema digests drop
/// comments, so the session also stops its own instrumentation where the user may (`UPDATE` on
/// `performance_schema.threads`); otherwise `setup_actors` does it for the agent's user (docs/AGENT.md),
/// and `--check` says which.
pub(crate) async fn connect(url: &str) -> anyhow::Result<MySqlConnection> {
    let options = MySqlConnectOptions::from_str(url)
        .context("the source url is not a valid MySQL/MariaDB url")?
        .multi_statements(false)
        .pipes_as_concat(false)
        .no_engine_substitution(false)
        .timezone(None)
        .set_names(false);
    let mut conn = MySqlConnection::connect_with(&options)
        .await
        .context("cannot connect to MySQL/MariaDB")?;
    // Refused without the privilege, or a no-op with performance_schema off: either is fine here.
    let _ = sqlx::query(UNINSTRUMENT).execute(&mut conn).await;
    sqlx::query("SET /* dbpower-agent */ time_zone = '+00:00', NAMES utf8mb4")
        .execute(&mut conn)
        .await
        .context("cannot set the session's time zone and character set")?;
    Ok(conn)
}

/// Stops performance_schema from recording the agent's own session.
pub(crate) const UNINSTRUMENT: &str = "UPDATE /* dbpower-agent */ performance_schema.threads \
     SET INSTRUMENTED = 'NO' WHERE PROCESSLIST_ID = CONNECTION_ID()";

/// Whether a performance_schema digest text is the agent's [`UNINSTRUMENT`] (the digest drops the
/// marker comment): the one statement of its session recorded before instrumentation stops.
fn is_uninstrument_digest(text: &str) -> bool {
    let t: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '`')
        .collect::<String>()
        .to_ascii_uppercase();
    t.starts_with("UPDATEPERFORMANCE_SCHEMA.THREADSSETINSTRUMENTED=")
        && t.ends_with("WHEREPROCESSLIST_ID=CONNECTION_ID()")
}

/// Whether performance_schema records this session's statements.
pub(crate) async fn instrumented(conn: &mut MySqlConnection) -> anyhow::Result<bool> {
    let v: Option<String> = sqlx::query_scalar(
        "SELECT /* dbpower-agent */ INSTRUMENTED FROM performance_schema.threads \
         WHERE PROCESSLIST_ID = CONNECTION_ID()",
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(v.as_deref() == Some("YES"))
}

/// The slow-log file: the configured path, else the server's `slow_query_log_file` (relative to its datadir).
pub(crate) async fn slow_log_path(
    conn: &mut MySqlConnection,
    configured: Option<&PathBuf>,
) -> anyhow::Result<PathBuf> {
    if let Some(p) = configured {
        return Ok(p.clone());
    }
    let row = sqlx::query("SELECT /* dbpower-agent */ @@slow_query_log_file, @@datadir")
        .fetch_one(&mut *conn)
        .await?;
    let file: String = row.try_get(0)?;
    let datadir: String = row.try_get(1)?;
    let p = PathBuf::from(&file);
    Ok(if p.is_absolute() {
        p
    } else {
        PathBuf::from(datadir).join(p)
    })
}

pub(crate) async fn slow_log_file(
    conn: &mut MySqlConnection,
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> anyhow::Result<Output> {
    let path = slow_log_path(conn, ctx.source.log_path.as_ref()).await?;
    let chunk = read_appended(&path, state.log.clone(), ctx.source.start_at)
        .with_context(|| format!("cannot read the slow log {}", path.display()))?;
    let (events, consumed) = mysql_events(&chunk);
    let mut tally = Tally::default();
    let level = crate::enrich::level(ctx.scrub);
    let queries = events
        .into_iter()
        .filter_map(|mut e| {
            let plan = e.plan.take();
            let q = ctx.accept(
                Raw {
                    sql: &e.sql,
                    ms: e.measures.query_time_s * 1000.0,
                    lock_ms: Some(e.measures.lock_time_s * 1000.0),
                    rows_sent: i64::try_from(e.measures.rows_sent).ok(),
                    rows_examined: i64::try_from(e.measures.rows_examined).ok(),
                    calls: None,
                    db: e.origin.db.as_deref(),
                    user: e.origin.user.as_deref(),
                    host: e.origin.host.as_deref(),
                    at: e.time.as_deref().and_then(parse_time),
                    method: "slow_log_file",
                },
                &mut tally,
            );
            // MariaDB's `# explain:` lines (log_slow_verbosity = explain), scrubbed like the text.
            q.map(|mut q| {
                q.explain = plan.and_then(|p| crate::enrich::scrub_plan(p, ctx.dialect(), level));
                q
            })
        })
        .collect();
    Ok(Output::from_log(
        &chunk, consumed, state, queries, tally, "slow log", &path,
    ))
}

/// Deltas of `performance_schema.events_statements_summary_by_digest` since the previous round. The
/// first round only takes the baseline; a counter that went down (TRUNCATE or a restart) counts from zero.
pub(crate) async fn performance_schema(
    conn: &mut MySqlConnection,
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> anyhow::Result<Output> {
    let rows = sqlx::query(
        "SELECT /* dbpower-agent */ COALESCE(SCHEMA_NAME, ''), DIGEST, DIGEST_TEXT, CAST(COUNT_STAR AS SIGNED), \
         SUM_TIMER_WAIT * 1e-9, SUM_LOCK_TIME * 1e-9, CAST(SUM_ROWS_SENT AS SIGNED), CAST(SUM_ROWS_EXAMINED AS SIGNED) \
         FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST IS NOT NULL AND DIGEST_TEXT IS NOT NULL",
    )
    .fetch_all(&mut *conn)
    .await
    .context("cannot read performance_schema.events_statements_summary_by_digest")?;
    let mut now_counters: HashMap<String, Counters> = HashMap::new();
    let mut texts: HashMap<String, (String, String)> = HashMap::new();
    for r in rows {
        let schema: String = r.try_get(0)?;
        let digest: String = r.try_get(1)?;
        let text: String = r.try_get(2)?;
        if is_uninstrument_digest(&text) {
            continue;
        }
        let key = format!("{schema}:{digest}");
        now_counters.insert(
            key.clone(),
            Counters {
                calls: r.try_get(3)?,
                total_ms: r.try_get(4)?,
                lock_ms: r.try_get(5)?,
                rows_sent: r.try_get(6)?,
                rows_examined: r.try_get(7)?,
            },
        );
        texts.insert(key, (schema, text));
    }
    // The key of every digest, for matching logged executions: only when a log method is on too.
    let logged = ctx
        .source
        .methods
        .iter()
        .any(|m| !m.counts_every_execution());
    *ctx.digests.borrow_mut() = texts
        .values()
        .filter(|_| logged)
        .map(|(schema, text)| {
            let key = dbpower_sql::fingerprint::digest_key(text);
            ((schema.clone(), key), text.clone())
        })
        .collect();
    Ok(digest_round(
        ctx,
        state,
        now_counters,
        |key| {
            texts
                .get(key)
                .map(|(s, t)| (t.as_str(), Some(s.as_str()), None))
        },
        "performance_schema",
        "digest",
    ))
}

/// A round of a digest-table method: the [`deltas`] since the previous snapshot, at the position
/// `{prefix}:{that snapshot's time}`; `now` becomes the snapshot the next round starts from.
pub(crate) fn digest_round<'a>(
    ctx: &Ctx<'_>,
    state: &mut SourceState,
    now: HashMap<String, Counters>,
    text_of: impl Fn(&str) -> Option<(&'a str, Option<&'a str>, Option<&'a str>)>,
    method: &'static str,
    prefix: &str,
) -> Output {
    let (queries, tally, note) = deltas(ctx, state, &now, text_of, method);
    let position = format!(
        "{prefix}:{}",
        state.digests_at.map(|t| t.timestamp_micros()).unwrap_or(0)
    );
    state.digests = Some(now);
    state.digests_at = Some(Utc::now());
    Output {
        queries,
        position,
        tally,
        note,
    }
}

/// Shared by performance_schema and pg_stat_statements: one aggregated query per entry that ran since
/// the previous snapshot (calls = executions, time = their mean).
fn deltas<'a>(
    ctx: &Ctx<'_>,
    state: &SourceState,
    now: &HashMap<String, Counters>,
    text_of: impl Fn(&str) -> Option<(&'a str, Option<&'a str>, Option<&'a str>)>,
    method: &'static str,
) -> (Vec<dbpower_types::SlowQueryIn>, Tally, Option<String>) {
    let mut tally = Tally::default();
    let Some(prev) = &state.digests else {
        return (
            Vec::new(),
            tally,
            Some(format!("{method}: baseline taken; deltas start next round")),
        );
    };
    let mut out = Vec::new();
    let mut resets = 0;
    let at = Some(Utc::now());
    for (key, c) in now {
        let d = match prev.get(key) {
            Some(p) if c.calls >= p.calls => Counters {
                calls: c.calls - p.calls,
                total_ms: (c.total_ms - p.total_ms).max(0.0),
                lock_ms: (c.lock_ms - p.lock_ms).max(0.0),
                rows_sent: (c.rows_sent - p.rows_sent).max(0),
                rows_examined: (c.rows_examined - p.rows_examined).max(0),
            },
            Some(_) => {
                resets += 1;
                c.clone()
            }
            None => c.clone(),
        };
        if d.calls <= 0 {
            continue;
        }
        let Some((text, db, user)) = text_of(key) else {
            continue;
        };
        let calls = d.calls as f64;
        if let Some(q) = ctx.accept(
            Raw {
                sql: text,
                ms: d.total_ms / calls,
                lock_ms: Some(d.lock_ms / calls),
                rows_sent: Some(d.rows_sent),
                rows_examined: (d.rows_examined > 0).then_some(d.rows_examined),
                calls: Some(d.calls),
                db: db.filter(|s| !s.is_empty()),
                user: user.filter(|s| !s.is_empty()),
                host: None,
                at,
                method,
            },
            &mut tally,
        ) {
            out.push(q);
        }
    }
    let note = (resets > 0)
        .then(|| format!("{method}: {resets} counters were reset since the last round"));
    (out, tally, note)
}

/// `mysql.slow_log` rows newer than the watermark (`log_output` includes `TABLE`).
pub(crate) async fn slow_log_table(
    conn: &mut MySqlConnection,
    ctx: &Ctx<'_>,
    state: &mut SourceState,
) -> anyhow::Result<Output> {
    let watermark = match &state.slow_table_watermark {
        Some(w) => w.clone(),
        None if ctx.source.start_at == StartAt::Beginning => "1970-01-01 00:00:00.000000".into(),
        None => {
            let row = sqlx::query(
                "SELECT /* dbpower-agent */ COALESCE(DATE_FORMAT(MAX(start_time), '%Y-%m-%d %H:%i:%s.%f'), '1970-01-01 00:00:00.000000') FROM mysql.slow_log",
            )
            .fetch_one(&mut *conn)
            .await
            .context("cannot read mysql.slow_log")?;
            let w: String = row.try_get(0)?;
            state.slow_table_watermark = Some(w.clone());
            return Ok(Output {
                queries: Vec::new(),
                position: format!("table:{w}"),
                tally: Tally::default(),
                note: Some("mysql.slow_log: starting after its newest row".into()),
            });
        }
    };
    let rows = sqlx::query(
        "SELECT /* dbpower-agent */ DATE_FORMAT(start_time, '%Y-%m-%d %H:%i:%s.%f'), CAST(user_host AS CHAR), \
         (TIME_TO_SEC(query_time) + MICROSECOND(query_time) / 1000000) * 1e0, (TIME_TO_SEC(lock_time) + MICROSECOND(lock_time) / 1000000) * 1e0, \
         CAST(rows_sent AS SIGNED), CAST(rows_examined AS SIGNED), CAST(db AS CHAR), CAST(sql_text AS CHAR) \
         FROM mysql.slow_log WHERE start_time > ? ORDER BY start_time LIMIT 5000",
    )
    .bind(&watermark)
    .fetch_all(&mut *conn)
    .await
    .context("cannot read mysql.slow_log")?;
    let mut tally = Tally::default();
    let mut queries = Vec::new();
    let mut newest = watermark.clone();
    for r in &rows {
        let start: String = r.try_get(0)?;
        let user_host: Option<String> = r.try_get(1)?;
        let sql: Option<String> = r.try_get(7)?;
        let db: Option<String> = r.try_get(6)?;
        let (user, host) = split_user_host(user_host.as_deref().unwrap_or(""));
        if let Some(q) = ctx.accept(
            Raw {
                sql: sql.as_deref().unwrap_or(""),
                ms: r.try_get::<f64, _>(2)? * 1000.0,
                lock_ms: Some(r.try_get::<f64, _>(3)? * 1000.0),
                rows_sent: r.try_get(4)?,
                rows_examined: r.try_get(5)?,
                calls: None,
                db: db.as_deref(),
                user: user.as_deref(),
                host: host.as_deref(),
                at: parse_time(&start),
                method: "slow_log_table",
            },
            &mut tally,
        ) && !q.sql_text.trim().is_empty()
        {
            queries.push(q);
        }
        newest = start;
    }
    let position = format!("table:{watermark}-{newest}");
    state.slow_table_watermark = Some(newest);
    Ok(Output {
        queries,
        position,
        tally,
        note: None,
    })
}

/// `app[app] @ web1 [10.0.0.5]` -> (`app`, `web1 10.0.0.5`).
fn split_user_host(s: &str) -> (Option<String>, Option<String>) {
    let user = s
        .split('[')
        .next()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from);
    let host = s
        .split_once('@')
        .map(|(_, h)| {
            h.replace(['[', ']'], " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|h| !h.is_empty());
    (user, host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_own_uninstrument_statement_is_recognised_as_digested() {
        assert!(is_uninstrument_digest(
            "UPDATE `performance_schema` . `threads` SET `INSTRUMENTED` = ? WHERE `PROCESSLIST_ID` = `CONNECTION_ID` ( )"
        ));
        for customer in [
            "UPDATE `threads` SET `INSTRUMENTED` = ? WHERE `PROCESSLIST_ID` = ?",
            "UPDATE `performance_schema` . `threads` SET `INSTRUMENTED` = ? WHERE `PROCESSLIST_ID` = ?",
            "SELECT * FROM `performance_schema` . `threads`",
        ] {
            assert!(!is_uninstrument_digest(customer), "{customer}");
        }
    }

    #[test]
    fn user_host_is_split() {
        assert_eq!(
            split_user_host("app[app] @ web1 [10.0.0.5]"),
            (Some("app".into()), Some("web1 10.0.0.5".into()))
        );
        assert_eq!(
            split_user_host("root[root] @ localhost []"),
            (Some("root".into()), Some("localhost".into()))
        );
        assert_eq!(split_user_host(""), (None, None));
    }
}
