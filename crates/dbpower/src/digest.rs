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
    /// Compare two logs (`OLD NEW`): per class new, gone, regressed, improved or unchanged, with both
    /// logs' calls, total time, mean and p95 (like `GET /api/v1/compare`).
    #[arg(long)]
    compare: bool,
    /// With `--compare`: the ratio of mean and p95 that counts as regressed or improved.
    #[arg(long, default_value_t = dbpower_analysis::compare::DEFAULT_RATIO)]
    ratio: f64,
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

/// Adds one log file to `digest`.
fn read_into(digest: &mut Digest, path: &PathBuf, format: Format) -> anyhow::Result<()> {
    let mut reader = open(path)?;
    let format = match format {
        Format::Auto => sniff(reader.fill_buf().unwrap_or(&[])),
        f => f,
    };
    match format {
        Format::PostgresLog => digest.read(PostgresLog::new(reader), Dialect::Postgresql),
        _ => digest.read(MysqlSlowLog::new(reader), Dialect::Mysql),
    }
    Ok(())
}

pub(crate) fn run(args: DigestArgs) -> anyhow::Result<()> {
    if args.compare {
        return compare_logs(&args);
    }
    let mut digest = Digest::new();
    for path in &args.files {
        read_into(&mut digest, path, args.format)?;
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

/// A digest class as one side of a comparison.
fn side_of(c: Option<&dbpower_sql::digest::DigestClass>) -> dbpower_analysis::detect::Side {
    c.map(|c| dbpower_analysis::detect::Side {
        calls: c.count,
        total_ms: c.sum.query_time_s * 1000.0,
        hours: 1,
        busiest_hour: 0,
        histogram: c.histogram.clone(),
    })
    .unwrap_or_default()
}

/// Rows examined per row sent of a class (none when the log reports no rows examined, as
/// PostgreSQL's does not, or no row was sent).
fn rows_ratio(c: &dbpower_sql::digest::DigestClass) -> Option<f64> {
    (c.sum.rows_examined > 0 && c.sum.rows_sent > 0)
        .then(|| c.sum.rows_examined as f64 / c.sum.rows_sent as f64)
}

/// `dbpower digest --compare OLD NEW`.
fn compare_logs(args: &DigestArgs) -> anyhow::Result<()> {
    use dbpower_analysis::compare::{compare, side_numbers};
    let [old_path, new_path] = args.files.as_slice() else {
        anyhow::bail!("--compare takes exactly two logs: OLD NEW");
    };
    if !(1.05..=100.0).contains(&args.ratio) {
        anyhow::bail!("--ratio must be between 1.05 and 100");
    }
    let (mut old, mut new) = (Digest::new(), Digest::new());
    read_into(&mut old, old_path, args.format)?;
    read_into(&mut new, new_path, args.format)?;
    let by_id =
        |d: &Digest| -> std::collections::BTreeMap<String, dbpower_sql::digest::DigestClass> {
            d.ranked()
                .into_iter()
                .map(|c| (c.query_id.clone(), c.clone()))
                .collect()
        };
    let (a, b) = (by_id(&old), by_id(&new));
    let ids: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut rows: Vec<serde_json::Value> = ids
        .into_iter()
        .map(|id| {
            let (ca, cb) = (a.get(id), b.get(id));
            let (sa, sb) = (side_of(ca), side_of(cb));
            let c = compare(&sa, &sb, args.ratio);
            serde_json::json!({
                "query_id": id,
                "fingerprint": ca.or(cb).map(|c| c.fingerprint.clone()),
                "change": c.change,
                "a": side_numbers(&sa, ca.and_then(rows_ratio)),
                "b": side_numbers(&sb, cb.and_then(rows_ratio)),
                "mean_ratio": c.mean_ratio,
                "p95_ratio": c.p95_ratio,
                "total_time_delta_ms": sb.total_ms - sa.total_ms,
            })
        })
        .collect();
    let delta = |r: &serde_json::Value| r["total_time_delta_ms"].as_f64().unwrap_or(0.0).abs();
    rows.sort_by(|x, y| delta(y).total_cmp(&delta(x)));
    let mut summary = std::collections::BTreeMap::<String, u64>::new();
    for r in &rows {
        *summary
            .entry(r["change"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    if args.json {
        let out = serde_json::json!({"summary": summary, "ratio": args.ratio, "classes": rows});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "# {} classes: {}",
        rows.len(),
        summary
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "# Query ID           Change      Calls A   Calls B   Mean A ms   Mean B ms  Ratio  Time delta ms"
    );
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.3}"));
    for r in rows.iter().take(args.limit) {
        println!(
            "# {} {:<9} {:>9} {:>9} {:>11} {:>11} {:>6} {:>14.3}",
            r["query_id"].as_str().unwrap_or(""),
            r["change"].as_str().unwrap_or(""),
            r["a"]["calls"],
            r["b"]["calls"],
            f(&r["a"]["mean_ms"]),
            f(&r["b"]["mean_ms"]),
            r["mean_ratio"]
                .as_f64()
                .map_or("-".to_string(), |x| format!("{x:.2}")),
            r["total_time_delta_ms"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
