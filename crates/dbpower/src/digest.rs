//! `dbpower digest`: an offline report like pt-query-digest's, on MySQL/MariaDB slow logs or PostgreSQL
//! duration logs, streaming (memory bounded by the number of classes).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use dbpower_sql::Dialect;
use dbpower_sql::digest::Digest;
use dbpower_sql::slowlog::{MysqlSlowLog, PostgresLog};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Auto,
    MysqlSlow,
    PostgresLog,
}

#[derive(Args)]
pub(crate) struct DigestArgs {
    /// Log format; `auto` looks at the first lines of each file.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Print JSON instead of the text report.
    #[arg(long)]
    json: bool,
    /// Show the top N classes by total time.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Log files (`-` for standard input).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn sniff(head: &[u8]) -> Format {
    let text = String::from_utf8_lossy(head);
    if text.lines().any(|l| {
        l.starts_with("# Query_time:") || l.starts_with("# User@Host:") || l.starts_with("# Time:")
    }) {
        Format::MysqlSlow
    } else if text.contains("duration: ") && text.contains(" ms") {
        Format::PostgresLog
    } else {
        Format::MysqlSlow
    }
}

fn open(path: &PathBuf) -> anyhow::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            std::io::stdin(),
        )));
    }
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
}

pub(crate) fn run(args: DigestArgs) -> anyhow::Result<()> {
    let mut digest = Digest::new();
    for path in &args.files {
        let mut reader = open(path)?;
        let format = match args.format {
            Format::Auto => sniff(reader.fill_buf().unwrap_or(&[])),
            f => f,
        };
        match format {
            Format::PostgresLog => digest.read(PostgresLog::new(reader), Dialect::Postgresql),
            _ => digest.read(MysqlSlowLog::new(reader), Dialect::Mysql),
        }
    }
    if args.json {
        print_json(&digest, args.limit)
    } else {
        print_text(&digest, args.limit);
        Ok(())
    }
}

fn print_json(d: &Digest, limit: usize) -> anyhow::Result<()> {
    let classes: Vec<serde_json::Value> = d
        .ranked()
        .into_iter()
        .take(limit)
        .map(|c| {
            serde_json::json!({
                "query_id": c.query_id,
                "fingerprint": c.fingerprint,
                "count": c.count,
                "total_s": c.sum.query_time_s,
                "avg_s": c.avg_s(),
                "p95_s": c.p95_s(),
                "min_s": c.min_s(),
                "prepare_s": c.prepare_s,
                "prepares": c.prepares,
                "errors": c.errors,
                "max_s": c.max_s,
                "lock_s": c.sum.lock_time_s,
                "rows_examined": c.sum.rows_examined,
                "rows_sent": c.sum.rows_sent,
                "first_seen": c.first_seen,
                "last_seen": c.last_seen,
                "databases": c.databases,
                "sample": c.sample,
            })
        })
        .collect();
    let out = serde_json::json!({
        "events": d.events,
        "errors": d.errors,
        "prepares": d.prepares,
        "skipped": d.skipped,
        "total_s": d.total_s(),
        "classes": classes,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn print_text(d: &Digest, limit: usize) {
    let total = d.total_s();
    let ranked = d.ranked();
    let skipped: u64 = d.skipped.values().sum();
    println!(
        "# {} events in {} classes, {:.3} s in total; {} skipped",
        d.events,
        ranked.len(),
        total,
        skipped
    );
    if d.errors > 0 || d.prepares > 0 {
        let prepare: f64 = ranked.iter().map(|c| c.prepare_s).sum();
        println!(
            "# {} failed statements (not counted as events); {} parse/bind messages, {:.3} s preparing (not counted in response time)",
            d.errors, d.prepares, prepare
        );
    }
    for (reason, n) in &d.skipped {
        println!("#   skipped {n}: {reason}");
    }
    println!("#");
    println!(
        "# Rank Query ID           Response time      Calls   R/Call      p95      Max  Errors  Prepare   Rows examined/sent"
    );
    for (i, c) in ranked.iter().take(limit).enumerate() {
        let share = if total > 0.0 {
            100.0 * c.sum.query_time_s / total
        } else {
            0.0
        };
        println!(
            "# {:>4} {} {:>10.4} {:>5.1}% {:>8} {:>8.4} {:>8.4} {:>8.4} {:>7} {:>8.4}   {}/{}",
            i + 1,
            c.query_id,
            c.sum.query_time_s,
            share,
            c.count,
            c.avg_s(),
            c.p95_s(),
            c.max_s,
            c.errors,
            c.prepare_s,
            c.sum.rows_examined,
            c.sum.rows_sent
        );
    }
    for (i, c) in ranked.iter().take(limit).enumerate() {
        println!();
        println!(
            "# Query {}: {}  count {}  errors {}  first {}  last {}  databases {}",
            i + 1,
            c.query_id,
            c.count,
            c.errors,
            c.first_seen.as_deref().unwrap_or("-"),
            c.last_seen.as_deref().unwrap_or("-"),
            if c.databases.is_empty() {
                "-".to_string()
            } else {
                c.databases.join(",")
            }
        );
        println!("#   fingerprint: {}", c.fingerprint);
        println!("{}", c.sample);
    }
}
