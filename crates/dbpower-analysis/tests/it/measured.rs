//! The labelled corpora of the rules that read more than the statement: the rules on a class's measured
//! numbers (`tests/corpus/stats_cases.toml`) and on real EXPLAIN plans (`tests/corpus/plan_cases.toml`,
//! plans captured from PostgreSQL 15 and MariaDB 10.11 by `scripts/capture-plans.sh`). Each case lists
//! every rule of its kind that truly applies; precision and recall per rule must be >= 0.9, with at least
//! 4 positives each.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use dbpower_analysis::catalog::{self, Source};
use dbpower_analysis::{ClassStats, Input, analyze};
use dbpower_sql::Dialect;

use crate::corpus::{Score, report, scores_of};

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[derive(serde::Deserialize)]
struct Cases<T> {
    case: Vec<T>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsCase {
    name: String,
    dialect: String,
    sql: String,
    expect: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    negative_for: Vec<String>,
    stats: Stats,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stats {
    count: i64,
    avg_time_ms: f64,
    max_time_ms: f64,
    rows_examined: Option<i64>,
    rows_sent: Option<i64>,
    lock_time_ms: Option<f64>,
    total_time_share: Option<f64>,
}

/// The rule ids of `source` that an analysis reports.
fn rules_of(input: &Input<'_>, source: Source) -> BTreeSet<&'static str> {
    analyze(input)
        .issues
        .iter()
        .filter_map(|i| catalog::rule(&i.rule_id))
        .filter(|r| r.source == source)
        .map(|r| r.id)
        .collect()
}

/// Scores the cases, prints mismatches, and fails on a rule under the bar.
fn judge<'a>(
    source: Source,
    outcomes: impl Iterator<Item = (&'a str, BTreeSet<&'static str>, BTreeSet<&'a str>)>,
) {
    let mut scores = scores_of(source);
    let mut mismatches = Vec::new();
    for (name, got, want) in outcomes {
        for id in &want {
            assert!(catalog::exists(id), "{name}: unknown rule {id}");
        }
        Score::count(&mut scores, &got, &want);
        if got != want {
            mismatches.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    let failing = report(&scores);
    for m in &mismatches {
        println!("  {m}");
    }
    assert!(
        failing.is_empty(),
        "rules below 0.9 precision/recall or without 4 positives: {failing:#?}\n{mismatches:#?}"
    );
}

#[test]
fn stats_rule_corpus_precision_and_recall() {
    let text = std::fs::read_to_string(corpus_dir().join("stats_cases.toml")).expect("read");
    let cases: Cases<StatsCase> = toml::from_str(&text).expect("stats_cases.toml parses");
    assert!(cases.case.len() >= 20, "{}", cases.case.len());
    let outcomes: Vec<(&str, BTreeSet<&'static str>, BTreeSet<&str>)> = cases
        .case
        .iter()
        .map(|c| {
            let s = &c.stats;
            let input = Input {
                stats: Some(ClassStats {
                    count: s.count,
                    avg_time_ms: s.avg_time_ms,
                    max_time_ms: s.max_time_ms,
                    rows_examined: s.rows_examined,
                    rows_sent: s.rows_sent,
                    lock_time_ms: s.lock_time_ms,
                    total_time_share: s.total_time_share,
                }),
                ..Input::new(&c.sql, Dialect::parse(&c.dialect).expect("dialect"))
            };
            let want = c.expect.iter().map(String::as_str).collect();
            (c.name.as_str(), rules_of(&input, Source::Stats), want)
        })
        .collect();
    judge(Source::Stats, outcomes.into_iter());
}
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanCase {
    name: String,
    dialect: String,
    plan: String,
    expect: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    negative_for: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    setup: String,
    sql: String,
    /// A schema snapshot in schemas/ given with the plan.
    #[serde(default)]
    schema: Option<String>,
}

#[test]
fn plan_rule_corpus_precision_and_recall() {
    let dir = corpus_dir();
    let text = std::fs::read_to_string(dir.join("plan_cases.toml")).expect("read");
    let cases: Cases<PlanCase> = toml::from_str(&text).expect("plan_cases.toml parses");
    assert!(cases.case.len() >= 40, "{}", cases.case.len());
    let (_, schemas) = crate::corpus::load();
    let mut dialects = BTreeMap::new();
    let outcomes: Vec<(&str, BTreeSet<&'static str>, BTreeSet<&str>)> = cases
        .case
        .iter()
        .map(|c| {
            let path = dir.join("plans").join(&c.plan);
            let plan: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", c.name)),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let dialect = Dialect::parse(&c.dialect).expect("dialect");
            *dialects.entry(c.dialect.as_str()).or_insert(0) += 1;
            let input = Input {
                explain: Some(&plan),
                schema: c.schema.as_ref().map(|s| &schemas[s]),
                ..Input::new(&c.sql, dialect)
            };
            let want = c.expect.iter().map(String::as_str).collect();
            (c.name.as_str(), rules_of(&input, Source::Plan), want)
        })
        .collect();
    assert_eq!(dialects.len(), 2, "both engines: {dialects:?}");
    judge(Source::Plan, outcomes.into_iter());
}
