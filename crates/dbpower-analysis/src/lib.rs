//! The analysis engine (pure, no IO): what is wrong with a statement, why, and what to do about it.
//!
//! The statement is parsed with sqlparser (MySQL or PostgreSQL dialect) and checked by the rules in
//! [`catalog`]; when it does not parse, token-level checks run instead and the report says so
//! (`parse_ok: false`), so an empty finding list is never a silent "no issues". A utility statement the
//! parser does not know and the rules have nothing to check in (`ALTER SEQUENCE`, a stored-program
//! definition) is reported as such ([`parse`]). An attached EXPLAIN plan
//! adds plan insights, a schema snapshot makes the index advice exact, and the class's measured numbers
//! (time, frequency, share of total time, rows ratio, lock time) set the severity with the findings.

pub mod advisor;
pub mod catalog;
pub mod compare;
pub mod detect;
pub mod explain;
mod expr;
pub mod llm;
mod parse;
pub mod plans;
mod predicates;
pub mod severity;
pub mod statement;
mod tokens;
pub mod workload;

use dbpower_sql::Dialect;
use dbpower_types::{
    AnalysisReport, IndexTarget, Issue, Recommendation, RecommendationKind, SchemaSnapshot,
    Severity, StatementHints,
};

use parse::Parsed;

pub use severity::ClassStats;
pub use statement::Finding;

/// The longest statement the engine parses; longer text gets the token-level checks only.
pub const MAX_PARSE_BYTES: usize = 256 * 1024;

pub struct Input<'a> {
    pub sql: &'a str,
    pub dialect: Dialect,
    pub stats: Option<ClassStats>,
    /// `EXPLAIN FORMAT=JSON` (MySQL) or `EXPLAIN (FORMAT JSON)` (PostgreSQL) output.
    pub explain: Option<&'a serde_json::Value>,
    pub schema: Option<&'a SchemaSnapshot>,
    /// Facts the agent took from the statement before scrubbing it (`dbpower_sql::hints`): put back
    /// into the statement for the rules, never into what is shown.
    pub hints: Option<&'a StatementHints>,
}

impl<'a> Input<'a> {
    pub fn new(sql: &'a str, dialect: Dialect) -> Self {
        Input {
            sql,
            dialect,
            stats: None,
            explain: None,
            schema: None,
            hints: None,
        }
    }
}

/// Server settings that a finding's advice trades, with the values the schema snapshot carries: the
/// names alone when the snapshot has none of them.
pub(crate) fn settings_text(schema: Option<&SchemaSnapshot>, names: &[&str]) -> String {
    let known: Vec<String> = names
        .iter()
        .filter_map(|n| {
            schema
                .and_then(|s| s.settings.get(*n))
                .map(|v| format!("{n} = {}", dbpower_sql::pii::redact(v)))
        })
        .collect();
    if known.is_empty() {
        names.join(", ")
    } else {
        known.join(", ")
    }
}

/// The statement's findings (statement rules only) and whether it parsed; used by the rule corpus.
pub fn statement_findings(
    sql: &str,
    dialect: Dialect,
    schema: Option<&SchemaSnapshot>,
) -> (Vec<Finding>, Result<Vec<statement::Block>, String>) {
    let (findings, blocks, _) = findings_and_utility(sql, dialect, schema);
    (findings, blocks)
}

/// [`statement_findings`], and what the statement is when it is a utility statement.
fn findings_and_utility(
    sql: &str,
    dialect: Dialect,
    schema: Option<&SchemaSnapshot>,
) -> (
    Vec<Finding>,
    Result<Vec<statement::Block>, String>,
    Option<&'static str>,
) {
    match parse::parse(sql, dialect) {
        Parsed::Statement(stmt) => {
            let facts = statement::check(&stmt, dialect, schema);
            let mut findings = facts.findings;
            let adv = advisor::advise(&facts.blocks, dialect, schema);
            for f in adv.findings {
                if !findings.iter().any(|x| x.rule == f.rule) {
                    findings.push(f);
                }
            }
            (findings, Ok(facts.blocks), None)
        }
        Parsed::Utility(what) => (Vec::new(), Ok(Vec::new()), Some(what)),
        Parsed::Failed(e) => (tokens::check(sql, dialect), Err(e), None),
    }
}

/// The statement's first significant token, lower case.
fn first_word(sql: &str, dialect: Dialect) -> Option<String> {
    use dbpower_sql::lexer::{Kind, Lexer};
    Lexer::new(sql, dialect)
        .find(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .map(|t| t.text.to_ascii_lowercase())
}

/// The SQL dialect of a database type: the one conversion every caller uses.
pub fn dialect_of(db: dbpower_types::DatabaseType) -> dbpower_sql::Dialect {
    match db {
        dbpower_types::DatabaseType::Mysql => dbpower_sql::Dialect::Mysql,
        dbpower_types::DatabaseType::Postgresql => dbpower_sql::Dialect::Postgresql,
    }
}

pub fn analyze(input: &Input<'_>) -> AnalysisReport {
    let hinted = input
        .hints
        .map(|h| dbpower_sql::hints::apply(input.sql, input.dialect, h));
    let sql = hinted.as_deref().unwrap_or(input.sql);
    let (mut findings, parsed, utility) = findings_and_utility(sql, input.dialect, input.schema);
    let blocks = parsed.as_ref().map(Vec::as_slice).unwrap_or(&[]);
    let mut advice = advisor::advise(blocks, input.dialect, input.schema).advice;

    let mut plan_scans = Vec::new();
    if let Some(plan) = input.explain {
        let p = explain::check(plan, input.schema);
        plan_scans = p.full_scans;
        // Where the plan shows the full scan is right, an index on the filter would not be used.
        let right = |table: &str| p.right_scans.iter().any(|t| t.eq_ignore_ascii_case(table));
        advice.retain(|a| !right(&a.table));
        findings.retain(|f| f.rule != "missing_index" || !f.table.as_deref().is_some_and(right));
        findings.extend(p.findings.into_iter().map(|mut f| {
            let trades: &[&str] = match f.rule {
                "plan_hash_spill" => &["work_mem", "hash_mem_multiplier"],
                "plan_sort_spill" => &["work_mem"],
                "plan_temporary_table" => &["tmp_table_size", "max_heap_table_size"],
                _ => &[],
            };
            if !trades.is_empty() && input.schema.is_some_and(|s| !s.settings.is_empty()) {
                f.evidence = format!("{} ({})", f.evidence, settings_text(input.schema, trades));
            }
            f
        }));
    }
    if let Some(s) = input.stats {
        severity::rate_by_impact(&mut findings, &s);
        // An aggregate returns groups, not the rows it reads: many rows read per row returned is what
        // it does (a SUM over a key range), so the ratio says nothing there.
        let aggregate = blocks.iter().any(|b| b.aggregate);
        // A write returns no rows: rows examined per row sent says nothing of an UPDATE or DELETE.
        let query = first_word(sql, input.dialect)
            .is_some_and(|w| ["select", "with", "(", "values", "table"].contains(&w.as_str()));
        findings.extend(
            severity::stats_findings(&s)
                .into_iter()
                .filter(|f| !((aggregate || !query) && f.rule == "high_rows_ratio")),
        );
        findings.extend(severity::commit_latency(
            sql,
            input.dialect,
            &s,
            input.schema,
        ));
    }

    let mut issues: Vec<Issue> = findings
        .iter()
        .map(|f| match catalog::rule(f.rule) {
            Some(r) => Issue {
                rule_id: f.rule.to_string(),
                severity: f.severity.unwrap_or(r.severity),
                title: r.title.to_string(),
                description: r.why.to_string(),
                evidence: f.evidence.clone(),
            },
            // Not reachable while the catalog test holds; shown as what it is, never as another rule.
            None => Issue {
                rule_id: f.rule.to_string(),
                severity: f.severity.unwrap_or(Severity::Medium),
                title: format!("Finding {}", f.rule),
                description: String::new(),
                evidence: f.evidence.clone(),
            },
        })
        .collect();
    issues.sort_by_key(|i| std::cmp::Reverse(i.severity));

    let mut recommendations = Vec::new();
    // Index advice first, with its DDL. Without a schema it cannot be checked against existing indexes,
    // and the rationale says so.
    for a in &advice {
        let scanned = plan_scans.contains(&a.table);
        let impact = match a.rows {
            Some(r) => format!("reads the matching rows instead of up to {r} rows"),
            None if scanned => "turns the plan's full scan into an index range read".to_string(),
            None => "an index range read instead of a full scan".to_string(),
        };
        let what = match &a.expression {
            Some(e) => format!("Expression index on {} ({e})", a.table),
            None => format!("Index {} ({})", a.table, a.columns.join(", ")),
        };
        let mut rationale = match (&a.expression, &a.rewrite) {
            _ if a.or_branch => "One branch of an OR over several columns: with an index on each branch's column the engine reads each branch through its index and combines the rows (PostgreSQL BitmapOr, MySQL/MariaDB index_merge union) instead of scanning the table; or rewrite the OR as a UNION of the branches.".to_string(),
            (Some(_), _) => "The filter compares a function of the column; an index on the same expression serves it (or rewrite the predicate on the bare column).".to_string(),
            (None, Some(e)) if input.dialect == Dialect::Mysql => format!(
                "The filter compares {e}, which no index can serve as written (MariaDB has no functional indexes). Rewrite it on the bare column (a date function as a range: col >= start AND col < end; a case change or cast is unnecessary under a case-insensitive collation), which this index then serves."
            ),
            (None, Some(e)) => format!(
                "The filter compares {e}, which PostgreSQL cannot index: the expression is not IMMUTABLE (on timestamp with time zone it depends on the session's TimeZone) or its type is unknown. Rewrite it on the bare column (a date function as a range: col >= start AND col < end), which this index then serves."
            ),
            (None, None) => "Equality columns first, then one range or the ORDER BY columns: the index reads only matching rows, in order.".to_string(),
        };
        if a.covering {
            rationale.push_str(" Its last columns are the ones the query reads, so the index alone answers it (an index-only read, no visit to the table).");
        }
        if !a.verified {
            rationale.push_str(" No schema was supplied: check that no existing index already starts with these columns.");
        }
        recommendations.push(Recommendation {
            kind: RecommendationKind::Index,
            title: what,
            sql: Some(a.ddl.clone()),
            rationale,
            estimated_impact: impact,
            index: Some(IndexTarget {
                table: match &a.schema {
                    Some(s) => format!("{s}.{}", a.table),
                    None => a.table.clone(),
                },
                columns: a.columns.clone(),
                equality: a.equality.min(a.columns.len()),
                expression: a.expression.clone(),
            }),
            validation: None,
        });
    }
    for issue in &issues {
        let Some(r) = catalog::rule(&issue.rule_id) else {
            continue;
        };
        let has_ddl = recommendations
            .iter()
            .any(|x| x.kind == RecommendationKind::Index && x.sql.is_some());
        if r.kind == RecommendationKind::Index && has_ddl {
            continue;
        }
        if recommendations.iter().any(|x| x.title == r.fix) {
            continue;
        }
        recommendations.push(Recommendation {
            kind: r.kind,
            title: r.fix.to_string(),
            sql: None,
            rationale: r.how.to_string(),
            estimated_impact: severity::impact_text(issue.severity),
            index: None,
            validation: None,
        });
    }

    let severity = severity::overall(&issues, input.stats.as_ref());
    let parse_ok = parsed.is_ok();
    let mut summary = if issues.is_empty() {
        "No problems found.".to_string()
    } else {
        let names: Vec<&str> = issues.iter().map(|i| i.title.as_str()).collect();
        format!("{} issue(s): {}.", issues.len(), names.join("; "))
    };
    if let Some(what) = utility {
        summary = if issues.is_empty() {
            format!("A utility statement, with nothing for the rules to check: {what}.")
        } else {
            format!(
                "{summary} A utility statement, with nothing for the statement rules to check: {what}."
            )
        };
    }
    if let Err(e) = &parsed {
        summary.push_str(&format!(
            " The statement did not parse ({}), so only token-level checks ran.",
            e.chars().take(160).collect::<String>()
        ));
    }
    AnalysisReport {
        severity,
        summary,
        issues,
        recommendations,
        engine: vec!["rules".into()],
        parse_ok,
    }
}
