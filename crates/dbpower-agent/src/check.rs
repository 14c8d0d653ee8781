//! `dbpower agent --check`: for each source, connectivity, privileges and server settings, each problem
//! with the statement that fixes it; and whether the platform answers. Returns whether all is well.

use std::path::Path;

use sqlx::Row;

use crate::config::{AgentConfig, Method, SourceConfig, SourceKind};
use crate::{mysql, postgres};

struct Report {
    ok: bool,
}

impl Report {
    fn good(&self, what: &str) {
        println!("  ok    {what}");
    }
    fn fix(&mut self, what: &str, how: &str) {
        self.ok = false;
        println!("  FIX   {what}\n        {how}");
    }
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
    Ok(())
}

async fn check_postgres(s: &SourceConfig, r: &mut Report) -> anyhow::Result<()> {
    let mut quiet_options = true;
    let mut session = postgres::open(&s.url, None, &mut quiet_options).await?;
    let conn = &mut session.conn;
    let row = sqlx::query(
        "/* dbpower-agent */ SELECT version(), current_setting('shared_preload_libraries'), \
         current_setting('log_min_duration_statement'), \
         (SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'), \
         pg_has_role(current_user, 'pg_read_all_stats', 'member') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
    )
    .fetch_one(&mut *conn)
    .await?;
    let version: String = row.try_get(0)?;
    let preload: String = row.try_get(1)?;
    let min_duration: String = row.try_get(2)?;
    let ext: i64 = row.try_get(3)?;
    let stats_role: bool = row.try_get(4)?;
    r.good(&format!(
        "connected to {}",
        version.split(" on ").next().unwrap_or(&version)
    ));
    for m in &s.methods {
        match m {
            Method::PgStatStatements => {
                if preload.contains("pg_stat_statements") {
                    r.good("pg_stat_statements is loaded");
                } else {
                    r.fix(
                        "pg_stat_statements is not in shared_preload_libraries",
                        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';  then restart PostgreSQL",
                    );
                }
                if ext > 0 {
                    r.good("the pg_stat_statements extension exists in this database");
                } else {
                    r.fix(
                        "the pg_stat_statements extension is not created in this database",
                        "CREATE EXTENSION pg_stat_statements;",
                    );
                }
                if stats_role {
                    r.good("the agent's role may read every user's statistics");
                } else {
                    r.fix(
                        "the agent's role sees only its own statements' text",
                        "GRANT pg_read_all_stats TO <agent role>;",
                    );
                }
            }
            Method::PostgresLog => {
                if min_duration == "-1" {
                    r.fix(
                        "log_min_duration_statement is off",
                        &format!("ALTER SYSTEM SET log_min_duration_statement = '{}ms'; SELECT pg_reload_conf();", s.min_duration_ms.max(1.0)),
                    );
                } else {
                    r.good(&format!("log_min_duration_statement = {min_duration}"));
                }
                match postgres::log_path(&mut *conn, s.log_path.as_ref()).await {
                    Ok(p) => match readable(&p) {
                        Ok(()) => r.good(&format!("server log {} is readable", p.display())),
                        Err(e) => r.fix(
                            &format!("cannot read the server log {}: {e}", p.display()),
                            "run the agent as a user that can read it, or set log_path",
                        ),
                    },
                    Err(e) => r.fix(
                        &format!("{e:#}"),
                        "ALTER SYSTEM SET logging_collector = on; then restart, or set log_path",
                    ),
                }
            }
            _ => {}
        }
    }
    own_statements(s, &session, quiet_options, r);
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
        let res = match s.kind {
            SourceKind::Mysql => check_mysql(s, &mut r).await,
            SourceKind::Postgresql => check_postgres(s, &mut r).await,
        };
        if let Err(e) = res {
            r.fix(
                &format!("cannot check: {e:#}"),
                "check the source URL, the network and the credentials",
            );
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
    r.ok
}
