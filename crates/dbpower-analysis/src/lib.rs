//! The analysis engine (pure, no IO). This first version works on tokens from `dbpower-sql`'s lexer:
//! a handful of structural rules plus the measured impact of the class (time, frequency, rows ratio,
//! lock time). Every report says which engine produced it and that no full parse was done
//! (`parse_ok: false`), so an empty finding list is never mistaken for a clean bill of health.

use dbpower_sql::Dialect;
use dbpower_sql::lexer::{Kind, Lexer};
use dbpower_types::{AnalysisReport, Issue, Recommendation, RecommendationKind, Severity};

/// Measured numbers of a query class.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClassStats {
    pub count: i64,
    pub avg_time_ms: f64,
    pub max_time_ms: f64,
    pub rows_examined: Option<i64>,
    pub rows_sent: Option<i64>,
    pub lock_time_ms: Option<f64>,
}

pub struct Input<'a> {
    pub sql: &'a str,
    pub dialect: Dialect,
    pub stats: Option<ClassStats>,
}

/// Upper-cased significant tokens (words and punctuation; literals as `?`).
fn tokens(sql: &str, dialect: Dialect) -> Vec<String> {
    Lexer::new(sql, dialect)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .map(|t| match t.kind {
            Kind::String | Kind::Number | Kind::Param => "?".to_string(),
            _ => t.text.to_ascii_uppercase(),
        })
        .collect()
}

fn issue(
    rule_id: &str,
    severity: Severity,
    title: &str,
    description: &str,
    evidence: String,
) -> Issue {
    Issue {
        rule_id: rule_id.into(),
        severity,
        title: title.into(),
        description: description.into(),
        evidence,
    }
}

fn rewrite(title: &str, rationale: &str, impact: &str) -> Recommendation {
    Recommendation {
        kind: RecommendationKind::Rewrite,
        title: title.into(),
        sql: None,
        rationale: rationale.into(),
        estimated_impact: impact.into(),
    }
}

const NON_SARGABLE: &[&str] = &[
    "YEAR",
    "MONTH",
    "DAY",
    "DATE",
    "LOWER",
    "UPPER",
    "SUBSTRING",
    "SUBSTR",
    "DATE_FORMAT",
    "TRIM",
    "CONCAT",
    "IFNULL",
    "COALESCE",
    "CAST",
];

pub fn analyze(input: &Input<'_>) -> AnalysisReport {
    let t = tokens(input.sql, input.dialect);
    let mut issues = Vec::new();
    let mut recs = Vec::new();
    let first = t.first().map(String::as_str).unwrap_or("");
    let has = |w: &str| t.iter().any(|x| x == w);

    if t.windows(2).any(|w| w[0] == "SELECT" && w[1] == "*") {
        issues.push(issue("select_star", Severity::Low, "SELECT * reads every column",
            "Fetching all columns prevents covering indexes and moves more data than the caller needs.", "SELECT *".into()));
        recs.push(rewrite(
            "List the needed columns",
            "A narrower column list can be served from an index alone.",
            "less IO per row",
        ));
    }
    if (first == "UPDATE" || first == "DELETE") && !has("WHERE") {
        issues.push(issue(
            "dml_without_where",
            Severity::Critical,
            format!("{first} without WHERE").as_str(),
            "The statement touches every row of the table, locking and rewriting all of it.",
            format!("{first} ... (no WHERE)"),
        ));
        recs.push(rewrite(
            "Add a WHERE clause or batch the change",
            "Bounded changes keep locks short and replication lag low.",
            "avoids a full-table write",
        ));
    }
    if t.windows(4).any(|w| {
        w[0] == "ORDER" && w[1] == "BY" && (w[2] == "RAND" || w[2] == "RANDOM") && w[3] == "("
    }) {
        issues.push(issue("order_by_rand", Severity::High, "ORDER BY RAND() sorts the whole result",
            "Every candidate row gets a random key and the full set is sorted to return a few rows.", "ORDER BY RAND()".into()));
        recs.push(rewrite(
            "Pick random rows by key",
            "Choose random ids in the application or sample with a keyed range.",
            "removes a full sort",
        ));
    }
    if t.windows(4)
        .any(|w| w[0] == "NOT" && w[1] == "IN" && w[2] == "(" && w[3] == "SELECT")
    {
        issues.push(issue("not_in_subquery", Severity::Medium, "NOT IN (subquery)",
            "A single NULL from the subquery makes the predicate unknown for every row, and it often prevents an anti-join.", "NOT IN (SELECT ...)".into()));
        recs.push(rewrite(
            "Use NOT EXISTS",
            "NOT EXISTS has no NULL trap and plans as an anti-join.",
            "correct results, faster plan",
        ));
    }
    if input.dialect == Dialect::Mysql
        && t.windows(4)
            .any(|w| w[0] != "NOT" && w[1] == "IN" && w[2] == "(" && w[3] == "SELECT")
    {
        issues.push(issue(
            "in_subquery_mysql",
            Severity::Medium,
            "IN (subquery) on MySQL",
            "Older MySQL versions run IN (subquery) as a dependent subquery per outer row.",
            "IN (SELECT ...)".into(),
        ));
        recs.push(rewrite(
            "Rewrite as a JOIN or EXISTS",
            "A join lets the optimizer pick the driving table.",
            "avoids per-row subqueries",
        ));
    }
    let in_where = t.iter().position(|x| x == "WHERE");
    if let Some(w) = in_where {
        for win in t[w..].windows(3) {
            if matches!(win[0].as_str(), "WHERE" | "AND" | "OR" | "(")
                && NON_SARGABLE.contains(&win[1].as_str())
                && win[2] == "("
            {
                issues.push(issue(
                    "function_on_column",
                    Severity::High,
                    "Function applied to a filtered column",
                    "Wrapping a column in a function hides it from its index, forcing a scan.",
                    format!("{}(...)", win[1]),
                ));
                recs.push(rewrite("Compare the bare column", "Rewrite as a range on the column (e.g. created_at >= '2024-01-01' AND created_at < '2025-01-01') or add an expression index.", "index range scan instead of full scan"));
                break;
            }
        }
        if t[w..].windows(2).any(|p| p[0] == "LIKE" && p[1] == "?") {
            // The pattern is a scrubbed literal: its shape cannot be judged here.
        }
    } else if first == "SELECT"
        && has("FROM")
        && !has("LIMIT")
        && !has("JOIN")
        && !t.iter().any(|x| x == "COUNT" || x == "MAX" || x == "MIN")
    {
        issues.push(issue(
            "select_without_where",
            Severity::Medium,
            "SELECT without WHERE or LIMIT",
            "The whole table is read and sent on every execution.",
            "SELECT ... FROM ... (no WHERE, no LIMIT)".into(),
        ));
        recs.push(rewrite(
            "Filter or paginate",
            "Return only the rows the caller needs.",
            "proportional to the rows skipped",
        ));
    }

    if let Some(s) = input.stats {
        if let (Some(ex), Some(sent)) = (s.rows_examined, s.rows_sent)
            && ex >= 10_000
            && ex as f64 / (sent.max(1) as f64) >= 100.0
        {
            let ratio = ex as f64 / sent.max(1) as f64;
            let sev = if ratio >= 10_000.0 {
                Severity::High
            } else {
                Severity::Medium
            };
            issues.push(issue("high_rows_ratio", sev, "Many rows examined per row returned",
                "The server reads far more rows than it returns: a missing or unused index is the usual cause.",
                format!("rows_examined {ex} / rows_sent {sent} = {ratio:.0}")));
            recs.push(Recommendation {
                kind: RecommendationKind::Index,
                title: "Index the filtered columns".into(),
                sql: None,
                rationale: "An index on the WHERE and JOIN columns lets the server read only matching rows.".into(),
                estimated_impact: format!("up to {ratio:.0}x fewer rows read"),
            });
        }
        if let Some(lock) = s.lock_time_ms
            && lock >= 1000.0
        {
            issues.push(issue(
                "long_lock_time",
                if lock >= 10_000.0 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                "Long lock wait",
                "The statement waited for locks held by other transactions.",
                format!("lock_time {lock:.0} ms"),
            ));
            recs.push(Recommendation { kind: RecommendationKind::Config, title: "Shorten the conflicting transactions".into(), sql: None,
                rationale: "Find the blockers (performance_schema.data_lock_waits / pg_locks) and keep their transactions short.".into(),
                estimated_impact: format!("up to {lock:.0} ms per execution") });
        }
    }

    let mut severity = issues
        .iter()
        .map(|i| i.severity)
        .max()
        .unwrap_or(Severity::Low);
    if let Some(s) = input.stats {
        let impact = if s.avg_time_ms >= 10_000.0 {
            Severity::Critical
        } else if s.avg_time_ms >= 1_000.0 || (s.avg_time_ms >= 100.0 && s.count >= 1_000) {
            Severity::High
        } else if s.avg_time_ms >= 100.0 || s.count >= 10_000 {
            Severity::Medium
        } else {
            Severity::Low
        };
        // Impact raises severity only where there is something to fix or the cost itself is extreme.
        if !issues.is_empty() || impact == Severity::Critical {
            severity = severity.max(impact);
        }
    }
    let summary = if issues.is_empty() {
        "No problems found by the token-level rules (the statement was not fully parsed)."
            .to_string()
    } else {
        let names: Vec<&str> = issues.iter().map(|i| i.title.as_str()).collect();
        format!("{} issue(s): {}", issues.len(), names.join("; "))
    };
    AnalysisReport {
        severity,
        summary,
        issues,
        recommendations: recs,
        engine: vec!["rules".into()],
        parse_ok: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(sql: &str, dialect: Dialect, stats: Option<ClassStats>) -> (Vec<String>, Severity) {
        let r = analyze(&Input {
            sql,
            dialect,
            stats,
        });
        (
            r.issues.into_iter().map(|i| i.rule_id).collect(),
            r.severity,
        )
    }

    #[test]
    fn rules_fire_where_they_should() {
        assert_eq!(
            ids("SELECT * FROM t WHERE id = ?", Dialect::Mysql, None).0,
            vec!["select_star"]
        );
        assert_eq!(
            ids("DELETE FROM sessions", Dialect::Mysql, None),
            (vec!["dml_without_where".to_string()], Severity::Critical)
        );
        assert_eq!(
            ids(
                "SELECT id FROM t ORDER BY RAND() LIMIT 1",
                Dialect::Mysql,
                None
            )
            .0,
            vec!["order_by_rand"]
        );
        assert_eq!(
            ids(
                "SELECT a FROM t WHERE b NOT IN (SELECT c FROM u)",
                Dialect::Postgresql,
                None
            )
            .0,
            vec!["not_in_subquery"]
        );
        assert_eq!(
            ids(
                "SELECT a FROM t WHERE b IN (SELECT c FROM u)",
                Dialect::Mysql,
                None
            )
            .0,
            vec!["in_subquery_mysql"]
        );
        assert_eq!(
            ids(
                "SELECT a FROM t WHERE YEAR(created_at) = ?",
                Dialect::Mysql,
                None
            )
            .0,
            vec!["function_on_column"]
        );
        assert_eq!(
            ids("SELECT a, b FROM big_table", Dialect::Mysql, None).0,
            vec!["select_without_where"]
        );
        assert!(
            ids(
                "SELECT a FROM t WHERE id = ? LIMIT 10",
                Dialect::Mysql,
                None
            )
            .0
            .is_empty()
        );
    }

    #[test]
    fn measured_impact_sets_severity() {
        let stats = ClassStats {
            count: 50,
            avg_time_ms: 2500.0,
            max_time_ms: 4000.0,
            rows_examined: Some(2_000_000),
            rows_sent: Some(10),
            lock_time_ms: Some(0.0),
        };
        let (rules, sev) = ids("SELECT a FROM t WHERE b = ?", Dialect::Mysql, Some(stats));
        assert_eq!(rules, vec!["high_rows_ratio"]);
        assert_eq!(sev, Severity::High);
        let quick = ClassStats {
            count: 3,
            avg_time_ms: 2.0,
            max_time_ms: 3.0,
            rows_examined: Some(1),
            rows_sent: Some(1),
            lock_time_ms: None,
        };
        assert_eq!(
            ids("SELECT a FROM t WHERE b = ?", Dialect::Mysql, Some(quick)),
            (vec![], Severity::Low)
        );
        let extreme = ClassStats {
            avg_time_ms: 20_000.0,
            ..quick
        };
        assert_eq!(
            ids("SELECT a FROM t WHERE b = ?", Dialect::Mysql, Some(extreme)).1,
            Severity::Critical
        );
        let report = analyze(&Input {
            sql: "SELECT 1",
            dialect: Dialect::Mysql,
            stats: None,
        });
        assert!(!report.parse_ok && report.engine == vec!["rules".to_string()]);
    }
}
