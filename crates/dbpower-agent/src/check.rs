//! `dbpower agent --check`: for each source, connectivity, privileges and server settings, each problem
//! with the statement that fixes it; and whether the platform answers and accepts the key (a signed
//! heartbeat). Returns whether all is well.

use std::path::Path;

use anyhow::Context;
use dbpower_types::AgentHeartbeat;
use sqlx::Row;

use crate::config::{AgentConfig, Method, SourceConfig, SourceKind};
use crate::ship::HeartbeatError;
use crate::{mysql, postgres};

pub(crate) struct Report {
    ok: bool,
}

impl Report {
    pub(crate) fn good(&self, what: &str) {
        println!("  ok    {}", shown(what, false));
    }
    pub(crate) fn fix(&mut self, what: &str, how: &str) {
        self.ok = false;
        println!(
            "  FIX   {}\n        {}",
            shown(what, false),
            shown(how, true)
        );
    }
}

/// Text for the terminal: what the checks print holds values read from the monitored server (its
/// version, log settings, database and role names, error messages), so a control character (an escape
/// sequence, a carriage return that would overwrite an `ok` line) is shown as U+FFFD. Only the advice
/// may keep its own line breaks.
fn shown(text: &str, lines: bool) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && !(lines && c == '\n') {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

fn readable(p: &Path) -> Result<(), String> {
    std::fs::File::open(p)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn check_mysql(s: &SourceConfig, r: &mut Report) -> anyhow::Result<()> {
    let mut conn = mysql::connect(&s.url).await?;
    let row = sqlx::query(
        "SELECT /* dbpower-agent */ @@version, @@slow_query_log, @@log_output, @@long_query_time * 1e0, @@performance_schema",
    )
    .fetch_one(&mut conn)
    .await?;
    let version: String = row.try_get(0)?;
    let slow_on: i64 = row.try_get(1)?;
    let output: String = row.try_get(2)?;
    let long: f64 = row.try_get(3)?;
    let ps: i64 = row.try_get(4)?;
    r.good(&format!("connected to {version}"));
    for m in &s.methods {
        match m {
            Method::SlowLogFile | Method::SlowLogTable => {
                if slow_on == 1 {
                    r.good("slow_query_log is ON");
                } else {
                    r.fix("slow_query_log is OFF", "SET GLOBAL slow_query_log = ON;  (and slow_query_log = 1 in my.cnf)");
                }
                let want = if *m == Method::SlowLogFile { "FILE" } else { "TABLE" };
                if output.to_uppercase().contains(want) {
                    r.good(&format!("log_output includes {want}"));
                } else {
                    r.fix(&format!("log_output is {output}, not {want}"), &format!("SET GLOBAL log_output = '{want}';"));
                }
                if long * 1000.0 > s.min_duration_ms.max(1.0) * 10.0 {
                    r.fix(
                        &format!("long_query_time is {long} s: statements faster than that are never logged"),
                        &format!("SET GLOBAL long_query_time = {};", (s.min_duration_ms / 1000.0).max(0.01)),
                    );
                }
                if *m == Method::SlowLogFile {
                    let path = mysql::slow_log_path(&mut conn, s.log_path.as_ref()).await?;
                    match readable(&path) {
                        Ok(()) => r.good(&format!("slow log {} is readable", path.display())),
                        Err(e) => r.fix(
                            &format!("cannot read the slow log {}: {e}", path.display()),
                            "run the agent as a user that can read it (e.g. in the mysql group), or set log_path",
                        ),
                    }
                } else if sqlx::query("SELECT /* dbpower-agent */ 1 FROM mysql.slow_log LIMIT 1").fetch_optional(&mut conn).await.is_ok() {
                    r.good("mysql.slow_log is readable");
                } else {
                    r.fix("cannot read mysql.slow_log", "GRANT SELECT ON mysql.slow_log TO '<agent user>'@'<host>';");
                }
            }
            Method::PerformanceSchema => {
                if ps != 1 {
                    r.fix("performance_schema is OFF", "set performance_schema = ON in my.cnf and restart the server");
                } else if sqlx::query("SELECT /* dbpower-agent */ 1 FROM performance_schema.events_statements_summary_by_digest LIMIT 1")
                    .fetch_optional(&mut conn)
                    .await
                    .is_ok()
                {
                    r.good("performance_schema statement digests are readable");
                } else {
                    r.fix("cannot read performance_schema digests", "GRANT SELECT ON performance_schema.* TO '<agent user>'@'<host>';");
                }
            }
            _ => {}
        }
    }
    if s.methods.contains(&Method::PerformanceSchema) && ps == 1 {
        match mysql::instrumented(&mut conn).await {
            Ok(false) => r.good("the agent's own statements are kept out of performance_schema"),
            Ok(true) => {
                let (who, at) = user_of(&mut conn).await;
                r.fix(
                    "the agent's own statements reach performance_schema digests, which drop the \
                     /* dbpower-agent */ marker",
                    &format!(
                        "GRANT UPDATE ON performance_schema.threads TO '{who}'@'{at}';  (or, at each server start: \
                         INSERT INTO performance_schema.setup_actors (HOST, USER, ROLE, ENABLED) VALUES ('%', '{who}', '%', 'NO');)"
                    ),
                );
            }
            Err(e) => r.fix(
                &format!("cannot tell whether performance_schema records the agent: {e:#}"),
                "GRANT SELECT ON performance_schema.* TO '<agent user>'@'<host>';",
            ),
        }
    }
    if s.explain {
        check_mysql_explain(&mut conn, r).await?;
    }
    Ok(())
}

/// The connected account's user and host, as a GRANT names them.
async fn user_of(conn: &mut sqlx::MySqlConnection) -> (String, String) {
    let user: String = sqlx::query_scalar("SELECT /* dbpower-agent */ CURRENT_USER()")
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_default();
    grantee(&user)
}

/// `CURRENT_USER()` (`user@host`) split as a GRANT names the account; a bare user is `user@%`.
fn grantee(current_user: &str) -> (String, String) {
    let (who, at) = current_user.split_once('@').unwrap_or((current_user, "%"));
    (who.to_string(), at.to_string())
}

/// EXPLAIN needs SELECT on every table a statement reads: granted on `*.*`, or only on some schemas.
async fn check_mysql_explain(
    conn: &mut sqlx::MySqlConnection,
    r: &mut Report,
) -> anyhow::Result<()> {
    let row = sqlx::query(
        "SELECT /* dbpower-agent */ CURRENT_USER(), \
         (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' AND GRANTEE = g.grantee), \
         (SELECT GROUP_CONCAT(DISTINCT TABLE_SCHEMA ORDER BY TABLE_SCHEMA SEPARATOR ', ') \
          FROM information_schema.SCHEMA_PRIVILEGES WHERE PRIVILEGE_TYPE = 'SELECT' AND GRANTEE = g.grantee) \
         FROM (SELECT CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
               SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') AS grantee) g",
    )
    .fetch_one(&mut *conn)
    .await
    .context("cannot read the agent's privileges")?;
    let user: String = row.try_get(0)?;
    let global: i64 = row.try_get(1)?;
    let schemas: Option<String> = row.try_get(2)?;
    if global > 0 {
        r.good("EXPLAIN can plan statements on every schema (SELECT on *.*)");
        return Ok(());
    }
    let (who, at) = grantee(&user);
    r.fix(
        &format!(
            "{user} has SELECT only on {}: EXPLAIN fails on statements in other schemas (EXPLAIN plans a \
             statement, it never runs it)",
            schemas.as_deref().filter(|s| !s.is_empty()).unwrap_or("no schema")
        ),
        &format!(
            "GRANT SELECT ON <schema>.* TO '{who}'@'{at}';  for each schema whose statements should be explained"
        ),
    );
    Ok(())
}

/// The SQLSTATE of a database error, if the error is one.
fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// The server's message of a database error, else the error.
fn message(e: &sqlx::Error) -> String {
    e.as_database_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_string())
}

/// What `--check` reads of a PostgreSQL server: only settings every role may read.
struct PgFacts {
    min_duration: String,
    prefix: String,
    ext: i64,
    stats_role: bool,
    database: String,
}

async fn check_postgres(s: &SourceConfig, r: &mut Report) -> anyhow::Result<()> {
    let mut quiet_options = true;
    let mut session = postgres::open(&s.url, None, &mut quiet_options).await?;
    let conn = &mut session.conn;
    // shared_preload_libraries, data_directory and pg_current_logfile() are not readable by every
    // role; nothing here depends on them, so a role without pg_read_all_settings is checked as well.
    let row = sqlx::query(
        "/* dbpower-agent */ SELECT version(), current_setting('log_min_duration_statement'), \
         current_setting('log_line_prefix'), \
         (SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'), \
         pg_has_role(current_user, 'pg_read_all_stats', 'member') \
         OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), current_database()::text",
    )
    .fetch_one(&mut *conn)
    .await
    .context("connected, but cannot read the server's version and logging settings")?;
    let version: String = row.try_get(0)?;
    let facts = PgFacts {
        min_duration: row.try_get(1)?,
        prefix: row.try_get(2)?,
        ext: row.try_get(3)?,
        stats_role: row.try_get(4)?,
        database: row.try_get(5)?,
    };
    r.good(&format!(
        "connected to {}",
        version.split(" on ").next().unwrap_or(&version)
    ));
    for m in &s.methods {
        match m {
            Method::PgStatStatements => check_pgss(conn, &facts, r).await,
            Method::PostgresLog => check_pg_log(conn, s, &facts, r).await,
            _ => {}
        }
    }
    if s.explain {
        check_pg_explain(conn, &facts, &session.role, r).await?;
    }
    if s.whatif {
        check_hypopg(conn, &facts, r).await?;
    }
    own_statements(s, &session, quiet_options, r);
    Ok(())
}

async fn check_pgss(conn: &mut sqlx::PgConnection, f: &PgFacts, r: &mut Report) {
    if f.ext == 0 {
        r.fix(
            &format!(
                "the pg_stat_statements extension is not created in database {}",
                f.database
            ),
            "CREATE EXTENSION pg_stat_statements;  (it must also be in shared_preload_libraries)",
        );
        return;
    }
    r.good("the pg_stat_statements extension exists in this database");
    match sqlx::query("/* dbpower-agent */ SELECT 1 FROM pg_stat_statements LIMIT 1")
        .fetch_optional(&mut *conn)
        .await
    {
        Ok(_) => r.good("pg_stat_statements is loaded and readable"),
        // object_not_in_prerequisite_state: the module is not in shared_preload_libraries.
        Err(e) if sqlstate(&e).as_deref() == Some("55000") => r.fix(
            "pg_stat_statements is not in shared_preload_libraries",
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';  then restart PostgreSQL",
        ),
        Err(e) => r.fix(
            &format!("cannot read pg_stat_statements: {}", message(&e)),
            "GRANT pg_read_all_stats TO <agent role>;",
        ),
    }
    if f.stats_role {
        r.good("the agent's role may read every user's statistics");
    } else {
        r.fix(
            "the agent's role sees only its own statements' text",
            "GRANT pg_read_all_stats TO <agent role>;",
        );
    }
}

async fn check_pg_log(
    conn: &mut sqlx::PgConnection,
    s: &SourceConfig,
    f: &PgFacts,
    r: &mut Report,
) {
    if f.min_duration == "-1" {
        r.fix(
            "log_min_duration_statement is off",
            &format!(
                "ALTER SYSTEM SET log_min_duration_statement = '{}ms'; SELECT pg_reload_conf();",
                s.min_duration_ms.max(1.0)
            ),
        );
    } else {
        r.good(&format!("log_min_duration_statement = {}", f.min_duration));
    }
    let path = match postgres::log_path(&mut *conn, s.log_path.as_ref()).await {
        Ok(p) => p,
        Err(e) => {
            let denied = e
                .downcast_ref::<sqlx::Error>()
                .and_then(sqlstate)
                .is_some_and(|c| c == "42501");
            let how = if denied {
                "set log_path in this source (pg_current_logfile() and data_directory need a superuser, \
                 GRANT EXECUTE ON FUNCTION pg_current_logfile() and GRANT pg_read_all_settings)"
            } else {
                "ALTER SYSTEM SET logging_collector = on; then restart, or set log_path"
            };
            r.fix(&format!("cannot tell where the server log is: {e:#}"), how);
            return;
        }
    };
    match readable(&path) {
        Ok(()) => r.good(&format!("server log {} is readable", path.display())),
        Err(e) => r.fix(
            &format!("cannot read the server log {}: {e}", path.display()),
            "run the agent as a user that can read it, or set log_path",
        ),
    }
    let name = path.to_string_lossy();
    if name.ends_with(".csv") || name.ends_with(".json") {
        r.good("the log is csvlog/jsonlog: every record names its user, database and process");
        return;
    }
    let reads = dbpower_sql::slowlog::prefix_reads(&f.prefix);
    let missing: Vec<&str> = [
        (reads.time, "the time (%m)"),
        (reads.process, "the process id ([%p])"),
        (reads.user, "the user (%u)"),
        (reads.database, "the database (%d)"),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        r.good(&format!(
            "log_line_prefix '{}' gives each statement's time, process, user and database",
            f.prefix
        ));
    } else {
        r.fix(
            &format!(
                "log_line_prefix '{}' does not give {}: statements arrive without it (no per-user or \
                 per-database filters, no EXPLAIN in the statement's database)",
                f.prefix,
                missing.join(", ")
            ),
            "ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d '; SELECT pg_reload_conf();",
        );
    }
}

/// EXPLAIN needs SELECT on every table a statement reads, in the statement's own database.
async fn check_pg_explain(
    conn: &mut sqlx::PgConnection,
    f: &PgFacts,
    role: &str,
    r: &mut Report,
) -> anyhow::Result<()> {
    let row = sqlx::query(
        "/* dbpower-agent */ SELECT count(*) FILTER (WHERE NOT has_table_privilege(c.oid, 'SELECT')), \
         count(*), (SELECT string_agg(datname, ', ' ORDER BY datname) FROM pg_database \
         WHERE datallowconn AND NOT datistemplate AND NOT has_database_privilege(oid, 'CONNECT')) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname !~ '^pg_toast'",
    )
    .fetch_one(&mut *conn)
    .await
    .context("cannot read the agent's table privileges")?;
    let (denied, total): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let no_connect: Option<String> = row.try_get(2)?;
    let role = role.replace('"', "\"\"");
    if denied == 0 {
        r.good(&format!(
            "EXPLAIN can plan statements on all {total} tables of database {}",
            f.database
        ));
    } else {
        r.fix(
            &format!(
                "the agent's role cannot read {denied} of {total} tables in database {}: EXPLAIN fails on \
                 statements that use them (EXPLAIN plans a statement, it never runs it)",
                f.database
            ),
            &format!(
                "GRANT pg_read_all_data TO \"{role}\";  (PostgreSQL 14 and later; before: GRANT SELECT ON ALL \
                 TABLES IN SCHEMA <schema> TO \"{role}\"; per schema and database)"
            ),
        );
    }
    if let Some(dbs) = no_connect.filter(|d| !d.is_empty()) {
        r.fix(
            &format!(
                "the agent's role may not connect to {dbs}: their statements are not explained"
            ),
            &format!("GRANT CONNECT ON DATABASE <name> TO \"{role}\";  for each"),
        );
    }
    Ok(())
}

/// `whatif`: HypoPG must be installed in each database whose advice is validated (checked here in the
/// URL's database; a database without it answers `unavailable` with the same instruction).
async fn check_hypopg(
    conn: &mut sqlx::PgConnection,
    f: &PgFacts,
    r: &mut Report,
) -> anyhow::Result<()> {
    let row = sqlx::query(
        "/* dbpower-agent */ SELECT (SELECT extversion FROM pg_extension WHERE extname = 'hypopg'), \
         EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg')",
    )
    .fetch_one(&mut *conn)
    .await
    .context("cannot read the installed extensions")?;
    let (installed, available): (Option<String>, bool) = (row.try_get(0)?, row.try_get(1)?);
    match installed {
        Some(v) => r.good(&format!(
            "whatif: HypoPG {v} is installed in database {}: index advice is validated with hypothetical indexes (nothing is written)",
            f.database
        )),
        None if available => r.fix(
            &format!(
                "whatif: HypoPG is available but not installed in database {}: index advice there is reported as not validated",
                f.database
            ),
            "CREATE EXTENSION hypopg;  as a superuser or the database owner, in each database whose advice should be validated",
        ),
        None => r.fix(
            "whatif: the HypoPG extension is not on this server: index advice is reported as not validated",
            "install it (Debian/Ubuntu: apt install postgresql-<major>-hypopg), then CREATE EXTENSION hypopg; in each database",
        ),
    }
    Ok(())
}

/// Whether the agent's own statements are kept out of what it collects (see `postgres::is_own`).
fn own_statements(s: &SourceConfig, session: &postgres::Session, asked: bool, r: &mut Report) {
    let reached: Vec<&str> = [
        (
            Method::PgStatStatements,
            session.quiet.pgss,
            "pg_stat_statements",
        ),
        (Method::PostgresLog, session.quiet.log, "the server log"),
    ]
    .into_iter()
    .filter(|(m, quiet, _)| s.methods.contains(m) && !quiet)
    .map(|(_, _, what)| what)
    .collect();
    if reached.is_empty() {
        r.good(&format!(
            "the agent's own statements are kept out of what it collects (its sessions are not tracked or logged{})",
            if asked { ", set when it connects" } else { ", by the role's settings" }
        ));
        return;
    }
    let role = session.role.replace('"', "\"\"");
    let settings: Vec<String> = postgres::QUIET
        .iter()
        .map(|(k, v)| format!("ALTER ROLE \"{role}\" SET {k} = '{v}';"))
        .collect();
    r.fix(
        &format!(
            "the agent's own statements reach {} (only those of role {} that carry /* dbpower-agent */ are recognised)",
            reached.join(" and "),
            session.role
        ),
        &format!(
            "as a superuser: {}  (parameters of modules that are not loaded may be left out)",
            settings.join(" ")
        ),
    );
}

pub async fn run(cfg: &AgentConfig) -> bool {
    let mut r = Report { ok: true };
    for s in &cfg.sources {
        println!("source {} ({:?}):", s.name, s.kind);
        let res = match (s.kind, s.role) {
            (_, crate::config::SourceRole::Sandbox) => crate::sandbox::check(s, &mut r).await,
            (SourceKind::Mysql, _) => check_mysql(s, &mut r).await,
            (SourceKind::Postgresql, _) => check_postgres(s, &mut r).await,
        };
        if let Err(e) = res {
            let text = format!("{e:#}");
            let how = if text.starts_with("cannot connect") {
                "check the source URL, the network and the credentials"
            } else {
                "the agent is connected but lacks what the error names: grant it (docs/AGENT.md lists each privilege)"
            };
            r.fix(&format!("cannot check: {text}"), how);
        }
    }
    println!("platform {}:", cfg.platform.url);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let health = format!("{}/health", cfg.platform.url.trim_end_matches('/'));
    match reqwest::Client::new()
        .get(&health)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
    {
        Ok(resp) if resp.status().is_success() => r.good("the platform answers"),
        Ok(resp) => r.fix(
            &format!("{health} answered {}", resp.status()),
            "check platform.url",
        ),
        Err(e) => r.fix(
            &format!("cannot reach {health}: {}", e.without_url()),
            "check platform.url and the network",
        ),
    }
    // The key and secret: one signed heartbeat, as every round sends (the platform lists the agent).
    let hb = AgentHeartbeat {
        name: cfg.agent_name(),
        version: crate::ship::VERSION.into(),
        interval_secs: cfg.agent.interval_secs,
        sources: crate::runner::source_statuses(cfg, &[], &[]),
        ..AgentHeartbeat::default()
    };
    match crate::ship::Shipper::of(cfg) {
        Err(e) => r.fix(&format!("cannot make the platform client: {e:#}"), "check platform.url"),
        Ok(shipper) => match shipper.heartbeat(&hb).await {
            Ok(()) => r.good(&format!(
                "the platform accepts key {} and its secret (a signed heartbeat)",
                cfg.platform.key_id
            )),
            Err(HeartbeatError::Unauthorized(w)) => r.fix(
                &format!("the platform refused key {}: {w}", cfg.platform.key_id),
                "check platform.key_id and the secret (platform.secret, platform.secret_file or DBPOWER_AGENT_SECRET); \
                 the key must be active and an agent key",
            ),
            Err(e) => r.fix(
                &format!("the signed heartbeat was not accepted: {e}"),
                "check platform.url and the network",
            ),
        },
    }
    r.ok
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn server_values_cannot_write_to_the_terminal() {
        assert_eq!(
            shown("db\u{1b}]0;x\u{7}\rok", false),
            "db\u{fffd}]0;x\u{fffd}\u{fffd}ok"
        );
        assert_eq!(shown("a\nb", false), "a\u{fffd}b");
        assert_eq!(shown("SET a;\nSET b;", true), "SET a;\nSET b;");
    }
}
