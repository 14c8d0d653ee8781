//! The labelled corpus (`tests/corpus/cases.toml`): every statement lists exactly the statement rules
//! that must fire on it. Reports precision and recall per rule and requires both >= 0.9.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use dbpower_analysis::catalog::{self, Source};
use dbpower_analysis::statement_findings;
use dbpower_sql::{Dialect, ScrubLevel, hints, scrub};
use dbpower_types::SchemaSnapshot;
use dbpower_types::StatementHints;

#[derive(serde::Deserialize)]
pub(crate) struct Corpus {
    pub(crate) case: Vec<Case>,
}

#[derive(serde::Deserialize)]
pub(crate) struct Case {
    pub(crate) name: String,
    pub(crate) dialect: String,
    pub(crate) sql: String,
    expect: Vec<String>,
    #[serde(default)]
    pub(crate) schema: Option<String>,
    /// Analysed as the agent ships it under strict scrubbing: the scrubbed text, with the hints taken
    /// from `sql` before scrubbing.
    #[serde(default)]
    pub(crate) strict: bool,
}

impl Case {
    /// The text the analysis reads and the hints beside it.
    pub(crate) fn shipped(&self, dialect: Dialect) -> (String, Option<StatementHints>) {
        if self.strict {
            (
                scrub(&self.sql, dialect, ScrubLevel::Strict),
                Some(hints::collect(&self.sql, dialect)),
            )
        } else {
            (self.sql.clone(), None)
        }
    }
}

/// The labelled cases and the schemas they name (by file stem).
pub(crate) fn load() -> (Corpus, HashMap<String, SchemaSnapshot>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let text = std::fs::read_to_string(dir.join("cases.toml")).expect("cases.toml");
    let corpus: Corpus = toml::from_str(&text).expect("cases.toml parses");
    let mut schemas: HashMap<String, SchemaSnapshot> = HashMap::new();
    for entry in std::fs::read_dir(dir.join("schemas")).expect("schemas/") {
        let p = entry.expect("entry").path();
        let name = p.file_stem().expect("stem").to_string_lossy().to_string();
        let s =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("schema json");
        schemas.insert(name, s);
    }
    (corpus, schemas)
}

#[derive(Default)]
pub(crate) struct Score {
    tp: u32,
    fp: u32,
    fn_: u32,
}

impl Score {
    /// Counts one case's outcome for every rule in `got` or `want`.
    pub(crate) fn count<'a>(
        scores: &mut BTreeMap<&'a str, Score>,
        got: &BTreeSet<&'a str>,
        want: &BTreeSet<&'a str>,
    ) {
        for id in got.union(want) {
            let s = scores.entry(id).or_default();
            match (got.contains(id), want.contains(id)) {
                (true, true) => s.tp += 1,
                (true, false) => s.fp += 1,
                (false, true) => s.fn_ += 1,
                _ => {}
            }
        }
    }
}

/// Prints precision and recall per rule; the rules below 0.9 or with fewer than 4 positives.
pub(crate) fn report(scores: &BTreeMap<&str, Score>) -> Vec<String> {
    println!(
        "{:<32} {:>4} {:>4} {:>4} {:>9} {:>7}",
        "rule", "tp", "fp", "fn", "precision", "recall"
    );
    let mut failing = Vec::new();
    for (id, s) in scores {
        let precision = if s.tp + s.fp == 0 {
            1.0
        } else {
            f64::from(s.tp) / f64::from(s.tp + s.fp)
        };
        let recall = if s.tp + s.fn_ == 0 {
            1.0
        } else {
            f64::from(s.tp) / f64::from(s.tp + s.fn_)
        };
        println!(
            "{id:<32} {:>4} {:>4} {:>4} {precision:>9.2} {recall:>7.2}",
            s.tp, s.fp, s.fn_
        );
        if s.tp < 4 || precision < 0.9 || recall < 0.9 {
            failing.push(format!(
                "{id}: tp {} precision {precision:.2} recall {recall:.2}",
                s.tp
            ));
        }
    }
    failing
}

/// The rules of the catalog that read `source`, each with an empty score.
pub(crate) fn scores_of(source: Source) -> BTreeMap<&'static str, Score> {
    catalog::RULES
        .iter()
        .filter(|r| r.source == source)
        .map(|r| (r.id, Score::default()))
        .collect()
}

#[test]
fn rule_corpus_precision_and_recall() {
    let (corpus, schemas) = load();
    assert!(corpus.case.len() >= 150, "{} cases", corpus.case.len());
    let mut scores = scores_of(Source::Statement);
    let mut dialects = BTreeSet::new();
    let mut mismatches = Vec::new();
    let mut unparsed = Vec::new();
    for case in &corpus.case {
        let dialect = Dialect::parse(&case.dialect).expect("dialect");
        dialects.insert(case.dialect.clone());
        let schema = case.schema.as_ref().map(|s| {
            schemas
                .get(s)
                .unwrap_or_else(|| panic!("{}: no schema {s}", case.name))
        });
        let (sql, hinted) = case.shipped(dialect);
        let sql = match &hinted {
            Some(h) => hints::apply(&sql, dialect, h),
            None => sql,
        };
        let (findings, parsed) = statement_findings(&sql, dialect, schema);
        if let Err(e) = &parsed {
            unparsed.push(format!("{}: {e}", case.name));
        }
        let got: BTreeSet<&str> = findings.iter().map(|f| f.rule).collect();
        let want: BTreeSet<&str> = case.expect.iter().map(String::as_str).collect();
        for id in &want {
            assert!(catalog::exists(id), "{}: unknown rule {id}", case.name);
        }
        Score::count(&mut scores, &got, &want);
        if got != want {
            mismatches.push(format!(
                "{} [{}]: expected {:?}, got {:?}\n    {}",
                case.name,
                case.dialect,
                want,
                got,
                case.sql.replace('\n', " ")
            ));
        }
    }
    let failing = report(&scores);
    println!(
        "{} cases, {} mismatched, {} did not parse",
        corpus.case.len(),
        mismatches.len(),
        unparsed.len()
    );
    for m in &mismatches {
        println!("  {m}");
    }
    for u in &unparsed {
        println!("  unparsed {u}");
    }
    assert_eq!(dialects.len(), 2, "both dialects are covered");
    assert!(
        unparsed.is_empty(),
        "every corpus statement parses: {unparsed:#?}"
    );
    assert!(
        failing.is_empty(),
        "rules below 0.9 precision/recall or without 4 positives: {failing:#?}"
    );
}
