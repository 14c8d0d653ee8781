//! `dbpower analyze`: the analysis engine for people and CI pipelines. Reads one statement (argument or
//! stdin), optionally an EXPLAIN plan and a schema snapshot, prints the report (text or JSON) and exits
//! 3 when the worst severity reaches `--fail-on`.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use dbpower_analysis::{Input, analyze};
use dbpower_sql::Dialect;
use dbpower_types::{AnalysisReport, SchemaSnapshot, Severity};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum DialectArg {
    Mysql,
    #[value(alias = "mariadb")]
    Mariadb,
    #[value(alias = "postgres")]
    Postgresql,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Level {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Args)]
pub(crate) struct AnalyzeArgs {
    /// The statement's dialect.
    #[arg(long, value_enum)]
    dialect: DialectArg,
    /// An EXPLAIN plan in JSON (MySQL `EXPLAIN FORMAT=JSON`, PostgreSQL `EXPLAIN (FORMAT JSON)`).
    #[arg(long)]
    explain: Option<PathBuf>,
    /// A schema snapshot (JSON: tables with columns, indexes and row estimates).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Exit with status 3 when the report's severity is at least this level.
    #[arg(long, value_enum)]
    fail_on: Option<Level>,
    /// The statement, or - to read it from standard input.
    sql: String,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} file {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a valid {what}", path.display()))
}

/// Returns whether the run passed (`--fail-on` not reached).
pub(crate) fn run(args: AnalyzeArgs) -> anyhow::Result<bool> {
    let sql = if args.sql == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the statement from stdin")?;
        s
    } else {
        args.sql.clone()
    };
    if sql.trim().is_empty() {
        anyhow::bail!("the statement is empty");
    }
    let dialect = match args.dialect {
        DialectArg::Mysql | DialectArg::Mariadb => Dialect::Mysql,
        DialectArg::Postgresql => Dialect::Postgresql,
    };
    let explain: Option<serde_json::Value> = args
        .explain
        .as_ref()
        .map(|p| read_json(p, "EXPLAIN plan"))
        .transpose()?;
    let schema: Option<SchemaSnapshot> = args
        .schema
        .as_ref()
        .map(|p| read_json(p, "schema snapshot"))
        .transpose()?;
    let report = analyze(&Input {
        explain: explain.as_ref(),
        schema: schema.as_ref(),
        ..Input::new(sql.trim(), dialect)
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    let threshold = args.fail_on.map(|l| match l {
        Level::Low => Severity::Low,
        Level::Medium => Severity::Medium,
        Level::High => Severity::High,
        Level::Critical => Severity::Critical,
    });
    Ok(threshold.is_none_or(|t| report.severity < t))
}

pub(crate) fn render(r: &AnalysisReport) -> String {
    let mut out = format!("{}  {}\n", r.severity.as_str(), r.summary);
    if !r.issues.is_empty() {
        out.push_str("\nIssues\n");
        for i in &r.issues {
            out.push_str(&format!(
                "  [{}] {} ({})\n      {}\n      evidence: {}\n",
                i.severity.as_str(),
                i.title,
                i.rule_id,
                i.description,
                i.evidence
            ));
        }
    }
    if !r.recommendations.is_empty() {
        out.push_str("\nRecommendations\n");
        for rec in &r.recommendations {
            let kind = serde_json::to_value(rec.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            out.push_str(&format!(
                "  ({kind}) {}\n      {}\n      impact: {}\n",
                rec.title, rec.rationale, rec.estimated_impact
            ));
            if let Some(sql) = &rec.sql {
                out.push_str(&format!("      {sql}\n"));
            }
        }
    }
    out.push_str(&format!(
        "\nengine: {}; parsed: {}\n",
        r.engine.join(", "),
        if r.parse_ok { "yes" } else { "no" }
    ));
    out
}
