//! The pure half of LLM providers: the prompt (only strictly scrubbed, normalized SQL and schema/plan
//! facts, never a literal), the JSON schema the model must answer with, strict validation of its answer,
//! and the merge into the rule report (no duplicates; an index the model proposes is kept only if it
//! parses and, when a schema is known, names a real table and real columns). The network half lives in
//! `dbpower-llm`.

use dbpower_sql::{Dialect, ScrubLevel, scrub};
use dbpower_types::{
    AnalysisReport, Issue, Recommendation, RecommendationKind, SchemaSnapshot, Severity,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sqlparser::ast::{AlterTableOperation, Expr, Statement, TableConstraint};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use crate::catalog;

/// Plan and schema text beyond this many bytes is cut from the prompt.
pub const MAX_FACT_BYTES: usize = 8 * 1024;
pub const MAX_ITEMS: usize = 10;
const MAX_TEXT: usize = 2_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub system: String,
    pub user: String,
}

/// The JSON schema of the answer (OpenAI `json_schema` strict mode; Ollama `format`).
pub fn response_schema() -> Value {
    let s = json!({"type": "string"});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary", "issues", "recommendations"],
        "properties": {
            "summary": s,
            "issues": {"type": "array", "maxItems": MAX_ITEMS, "items": {
                "type": "object", "additionalProperties": false,
                "required": ["rule_id", "severity", "title", "description", "evidence"],
                "properties": {"rule_id": s, "severity": {"type": "string", "enum": ["LOW", "MEDIUM", "HIGH", "CRITICAL"]},
                    "title": s, "description": s, "evidence": s}}},
            "recommendations": {"type": "array", "maxItems": MAX_ITEMS, "items": {
                "type": "object", "additionalProperties": false,
                "required": ["kind", "title", "sql", "rationale", "estimated_impact"],
                "properties": {"kind": {"type": "string", "enum": ["index", "rewrite", "schema", "config"]},
                    "title": s, "sql": {"type": ["string", "null"]}, "rationale": s, "estimated_impact": s}}}
        }
    })
}

fn scrub_strings(v: &mut Value, d: Dialect) {
    match v {
        Value::String(s) => *s = scrub(s, d, ScrubLevel::Strict),
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_strings(x, d)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub_strings(x, d)),
        _ => {}
    }
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_FACT_BYTES {
        let mut end = MAX_FACT_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(" ...(truncated)");
    }
    s
}

/// The prompt for one statement. The SQL is scrubbed strictly here whatever the organization's level,
/// and so is every string of the plan; the schema contributes names, types and row counts only.
pub fn prompt(
    sql: &str,
    dialect: Dialect,
    report: &AnalysisReport,
    explain: Option<&Value>,
    schema: Option<&SchemaSnapshot>,
) -> Prompt {
    let normalized = scrub(sql, dialect, ScrubLevel::Strict);
    let engine = match dialect {
        Dialect::Mysql => "MySQL/MariaDB",
        Dialect::Postgresql => "PostgreSQL",
    };
    let findings: Vec<Value> = report
        .issues
        .iter()
        .map(|i| json!({"rule_id": i.rule_id, "severity": i.severity, "title": i.title}))
        .collect();
    let mut user = format!(
        "Database: {engine}\nNormalized statement (literals replaced by placeholders):\n{normalized}\n\nFindings of the rule engine (do not repeat them):\n{}\n",
        serde_json::to_string(&findings).unwrap_or_default()
    );
    if let Some(p) = explain {
        let mut p = p.clone();
        scrub_strings(&mut p, dialect);
        user.push_str(&format!("\nEXPLAIN plan (JSON):\n{}\n", cut(p.to_string())));
    }
    if let Some(s) = schema {
        let tables: Vec<Value> = s
            .tables
            .iter()
            .map(|t| json!({"name": t.name, "rows": t.rows,
                "columns": t.columns.iter().map(|c| json!([c.name, c.data_type])).collect::<Vec<_>>(),
                "indexes": t.indexes.iter().map(|i| json!(i.columns)).collect::<Vec<_>>()}))
            .collect();
        user.push_str(&format!(
            "\nSchema:\n{}\n",
            cut(Value::Array(tables).to_string())
        ));
    }
    Prompt {
        system: format!(
            "You are a {engine} performance expert. Find what makes the statement slow that the rule engine did not \
             report, and propose concrete fixes. Index proposals must be one CREATE INDEX (PostgreSQL) or ALTER TABLE ... \
             ADD INDEX (MySQL) statement on existing columns. Answer only with JSON matching the given schema; use empty \
             arrays when you have nothing to add."
        ),
        user,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub summary: String,
    pub issues: Vec<OutIssue>,
    pub recommendations: Vec<OutRecommendation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutIssue {
    pub rule_id: String,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub evidence: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutRecommendation {
    pub kind: RecommendationKind,
    pub title: String,
    pub sql: Option<String>,
    pub rationale: String,
    pub estimated_impact: String,
}

/// Why a model's answer is refused.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("not the expected JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("more than {MAX_ITEMS} issues or recommendations")]
    TooManyItems,
    #[error("a text field is longer than {MAX_TEXT} bytes")]
    TextTooLong,
    #[error("an issue or recommendation has an empty title")]
    EmptyTitle,
}

/// Strict validation of the model's answer: JSON of exactly the schema's shape, bounded sizes.
pub fn parse_output(text: &str) -> Result<Output, OutputError> {
    let out: Output = serde_json::from_str(text.trim())?;
    if out.issues.len() > MAX_ITEMS || out.recommendations.len() > MAX_ITEMS {
        return Err(OutputError::TooManyItems);
    }
    let texts = std::iter::once(&out.summary)
        .chain(
            out.issues
                .iter()
                .flat_map(|i| [&i.rule_id, &i.title, &i.description, &i.evidence]),
        )
        .chain(
            out.recommendations
                .iter()
                .flat_map(|r| [&r.title, &r.rationale, &r.estimated_impact]),
        )
        .chain(out.recommendations.iter().filter_map(|r| r.sql.as_ref()));
    for t in texts {
        if t.len() > MAX_TEXT {
            return Err(OutputError::TextTooLong);
        }
    }
    if out.issues.iter().any(|i| i.title.trim().is_empty())
        || out
            .recommendations
            .iter()
            .any(|r| r.title.trim().is_empty())
    {
        return Err(OutputError::EmptyTitle);
    }
    Ok(out)
}

/// Why an index statement from the model is refused, or `Ok` with (table, columns).
pub fn check_index_sql(
    sql: &str,
    dialect: Dialect,
    schema: Option<&SchemaSnapshot>,
) -> Result<(String, Vec<String>), String> {
    let parsed = match dialect {
        Dialect::Mysql => Parser::parse_sql(&MySqlDialect {}, sql),
        Dialect::Postgresql => Parser::parse_sql(&PostgreSqlDialect {}, sql),
    }
    .map_err(|e| format!("does not parse: {e}"))?;
    let [stmt] = parsed.as_slice() else {
        return Err("must be exactly one statement".into());
    };
    let (table, cols) = match stmt {
        Statement::CreateIndex(ci) => (
            crate::expr::last_name(&ci.table_name),
            ci.columns
                .iter()
                .map(|c| c.column.expr.clone())
                .collect::<Vec<_>>(),
        ),
        Statement::AlterTable(at) => {
            let cols = at.operations.iter().find_map(|op| match op {
                AlterTableOperation::AddConstraint {
                    constraint: TableConstraint::Index(ix),
                    ..
                } => Some(
                    ix.columns
                        .iter()
                        .map(|c| c.column.expr.clone())
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            });
            (
                crate::expr::last_name(&at.name),
                cols.ok_or("ALTER TABLE must add an index")?,
            )
        }
        _ => return Err("must be CREATE INDEX or ALTER TABLE ... ADD INDEX".into()),
    };
    let names: Vec<String> = cols
        .iter()
        .flat_map(|e| match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => crate::expr::column_of(e)
                .map(|c| c.1)
                .into_iter()
                .collect::<Vec<_>>(),
            other => crate::expr::columns_in(other)
                .into_iter()
                .map(|c| c.1)
                .collect(),
        })
        .collect();
    if names.is_empty() {
        return Err("names no column".into());
    }
    if let Some(s) = schema {
        let t = s
            .table(None, &table)
            .ok_or_else(|| format!("table {table} is not in the schema"))?;
        if let Some(missing) = names.iter().find(|c| t.column(c).is_none()) {
            return Err(format!("column {table}.{missing} does not exist"));
        }
    }
    Ok((table, names))
}

fn normalized(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn slug(s: &str) -> String {
    crate::advisor::word_chars(s)
        .split('_')
        .filter(|p| !p.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("_")
}

/// Merges a valid answer into the rule report; returns the reasons for anything dropped. The report's
/// severity stays the rules' and measured impact's: a model's opinion adds findings, not urgency.
pub fn merge(
    report: &mut AnalysisReport,
    out: Output,
    engine: &str,
    dialect: Dialect,
    schema: Option<&SchemaSnapshot>,
) -> Vec<String> {
    let mut dropped = Vec::new();
    for i in out.issues {
        let id = if catalog::exists(&i.rule_id) {
            i.rule_id.clone()
        } else {
            format!("llm_{}", slug(&i.rule_id))
        };
        let dup = report
            .issues
            .iter()
            .any(|x| x.rule_id == id || normalized(&x.title) == normalized(&i.title));
        if dup {
            dropped.push(format!("issue {id}: duplicate of a rule finding"));
            continue;
        }
        report.issues.push(Issue {
            rule_id: id,
            severity: i.severity,
            title: i.title,
            description: i.description,
            evidence: i.evidence,
        });
    }
    for r in out.recommendations {
        if r.kind == RecommendationKind::Index {
            let Some(sql) = r.sql.as_deref() else {
                dropped.push(format!("index '{}': no SQL", r.title));
                continue;
            };
            let (table, cols) = match check_index_sql(sql, dialect, schema) {
                Ok(tc) => tc,
                Err(e) => {
                    dropped.push(format!("index '{}': {e}", r.title));
                    continue;
                }
            };
            let same = report
                .recommendations
                .iter()
                .filter_map(|x| x.sql.as_deref())
                .any(|x| {
                    normalized(x) == normalized(sql)
                        || check_index_sql(x, dialect, None)
                            .is_ok_and(|(t, c)| t == table && c == cols)
                });
            if same {
                dropped.push(format!(
                    "index '{}': duplicate of a rule recommendation",
                    r.title
                ));
                continue;
            }
        } else if report
            .recommendations
            .iter()
            .any(|x| normalized(&x.title) == normalized(&r.title))
        {
            dropped.push(format!("recommendation '{}': duplicate", r.title));
            continue;
        }
        report.recommendations.push(Recommendation {
            kind: r.kind,
            title: r.title,
            sql: r.sql,
            rationale: r.rationale,
            estimated_impact: r.estimated_impact,
            index: None,
            validation: None,
        });
    }
    let summary = out.summary.trim();
    if !summary.is_empty() {
        report.summary.push_str(&format!(
            " {engine}: {}",
            summary.chars().take(400).collect::<String>()
        ));
    }
    report.engine.push(engine.to_string());
    dropped
}

/// Says in the report that a provider could not contribute; the rule findings stand.
pub fn mark_unavailable(report: &mut AnalysisReport, engine: &str, reason: &str) {
    report.summary.push_str(&format!(
        " The LLM provider {engine} was unavailable ({reason}); the rule findings stand."
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Input, analyze};

    fn schema() -> SchemaSnapshot {
        serde_json::from_value(json!({"tables": [{"name": "users", "rows": 100000,
            "columns": [{"name": "id", "type": "bigint"}, {"name": "email", "type": "text"}, {"name": "country", "type": "text"}],
            "indexes": [{"name": "users_pkey", "columns": ["id"]}]}]}))
        .expect("schema")
    }

    #[test]
    fn prompts_carry_no_literals() {
        let sql = "SELECT * FROM users WHERE email = 'ann@example.com' AND country = 'DE' AND note LIKE '%vip%'";
        let plan = json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "users", "Filter": "(email = 'ann@example.com'::text)"}}]);
        let report = analyze(&Input::new(sql, Dialect::Postgresql));
        let p = prompt(
            sql,
            Dialect::Postgresql,
            &report,
            Some(&plan),
            Some(&schema()),
        );
        let all = format!("{}{}", p.system, p.user);
        for secret in ["ann@", "example", "'DE'", "vip"] {
            assert!(!all.contains(secret), "{secret} in prompt: {all}");
        }
        assert!(
            p.user.contains("email = $1")
                && p.user.contains("select_star")
                && p.user.contains("\"email\",\"text\""),
            "{}",
            p.user
        );
    }

    #[test]
    fn answers_are_validated_strictly() {
        assert!(
            parse_output("{\"summary\": \"x\", \"issues\": [], \"recommendations\": []}").is_ok()
        );
        for bad in [
            "not json",
            "{\"summary\": \"x\", \"issues\": []}",
            "{\"summary\": \"x\", \"issues\": [], \"recommendations\": [], \"extra\": 1}",
            "{\"summary\": \"x\", \"issues\": [{\"rule_id\": \"a\", \"severity\": \"URGENT\", \"title\": \"t\", \"description\": \"d\", \"evidence\": \"e\"}], \"recommendations\": []}",
            "{\"summary\": \"x\", \"issues\": [], \"recommendations\": [{\"kind\": \"magic\", \"title\": \"t\", \"sql\": null, \"rationale\": \"r\", \"estimated_impact\": \"i\"}]}",
        ] {
            assert!(parse_output(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merge_keeps_new_valid_advice_and_drops_the_rest() {
        let s = schema();
        let mut report = analyze(&Input {
            schema: Some(&s),
            ..Input::new(
                "SELECT id FROM users WHERE country = $1",
                Dialect::Postgresql,
            )
        });
        let before_sev = report.severity;
        let out = parse_output(&json!({"summary": "Country filter scans the table.", "issues": [
                {"rule_id": "missing_index", "severity": "HIGH", "title": "dup", "description": "d", "evidence": "e"},
                {"rule_id": "Low selectivity!", "severity": "CRITICAL", "title": "Country has few values", "description": "d", "evidence": "country"}],
            "recommendations": [
                {"kind": "index", "title": "same as rules", "sql": "CREATE INDEX CONCURRENTLY idx_x ON users (country)", "rationale": "r", "estimated_impact": "i"},
                {"kind": "index", "title": "bad column", "sql": "CREATE INDEX idx_y ON users (nope)", "rationale": "r", "estimated_impact": "i"},
                {"kind": "index", "title": "unknown table", "sql": "CREATE INDEX idx_z ON ghosts (country)", "rationale": "r", "estimated_impact": "i"},
                {"kind": "index", "title": "garbage", "sql": "CREATE INDEX ON (", "rationale": "r", "estimated_impact": "i"},
                {"kind": "index", "title": "covering", "sql": "CREATE INDEX CONCURRENTLY idx_users_country_id ON users (country, id)", "rationale": "r", "estimated_impact": "i"},
                {"kind": "rewrite", "title": "Cache the country list", "sql": null, "rationale": "r", "estimated_impact": "i"}]})
        .to_string())
        .expect("valid");
        let dropped = merge(
            &mut report,
            out,
            "openai:test",
            Dialect::Postgresql,
            Some(&s),
        );
        assert_eq!(dropped.len(), 5, "{dropped:#?}");
        let ids: Vec<&str> = report.issues.iter().map(|i| i.rule_id.as_str()).collect();
        assert_eq!(ids, vec!["missing_index", "llm_low_selectivity"]);
        let sqls: Vec<&str> = report
            .recommendations
            .iter()
            .filter_map(|r| r.sql.as_deref())
            .collect();
        assert_eq!(sqls.len(), 2, "{sqls:?}");
        assert!(sqls[1].contains("(country, id)"));
        assert!(
            report
                .recommendations
                .iter()
                .any(|r| r.title == "Cache the country list")
        );
        assert_eq!(report.engine, vec!["rules", "openai:test"]);
        assert_eq!(
            report.severity, before_sev,
            "the model does not set urgency"
        );
        // MySQL index syntax is checked too.
        assert!(
            check_index_sql(
                "ALTER TABLE users ADD INDEX idx (email), ALGORITHM=INPLACE, LOCK=NONE",
                Dialect::Mysql,
                Some(&s)
            )
            .is_ok()
        );
        assert!(check_index_sql("DROP TABLE users", Dialect::Mysql, Some(&s)).is_err());
        assert!(
            check_index_sql(
                "CREATE INDEX a ON users (email); DROP TABLE users",
                Dialect::Postgresql,
                Some(&s)
            )
            .is_err()
        );
    }
}
