//! The fallback when a statement does not parse (a truncated pg_stat_statements text, a vendor extension):
//! the rules that can be judged from the token stream alone. The report then says `parse_ok: false` and
//! that only these checks ran.

use dbpower_sql::Dialect;
use dbpower_sql::lexer::{Kind, Lexer};

use crate::statement::Finding;

/// Upper-cased significant tokens; string literals keep their text (for LIKE patterns), other literals are `?`.
fn tokens(sql: &str, dialect: Dialect) -> Vec<String> {
    Lexer::new(sql, dialect)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .map(|t| match t.kind {
            Kind::String => t.text.to_string(),
            Kind::Number | Kind::Param => "?".to_string(),
            _ => t.text.to_ascii_uppercase(),
        })
        .collect()
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

pub(crate) fn check(sql: &str, dialect: Dialect) -> Vec<Finding> {
    let t = tokens(sql, dialect);
    let mut out = Vec::new();
    let mut push = |rule: &'static str, evidence: &str| {
        if !out.iter().any(|f: &Finding| f.rule == rule) {
            out.push(Finding {
                rule,
                evidence: evidence.to_string(),
                severity: None,
                table: None,
            });
        }
    };
    let first = t.first().map(String::as_str).unwrap_or("");
    let has = |w: &str| t.iter().any(|x| x == w);
    if t.windows(2).any(|w| w[0] == "SELECT" && w[1] == "*") {
        push("select_star", "SELECT *");
    }
    if (first == "UPDATE" || first == "DELETE") && !has("WHERE") {
        push("dml_without_where", &format!("{first} ... (no WHERE)"));
    }
    if t.windows(4).any(|w| {
        w[0] == "ORDER" && w[1] == "BY" && (w[2] == "RAND" || w[2] == "RANDOM") && w[3] == "("
    }) {
        push("order_by_rand", "ORDER BY RAND()");
    }
    if t.windows(4)
        .any(|w| w[0] == "NOT" && w[1] == "IN" && w[2] == "(" && w[3] == "SELECT")
    {
        push("not_in_subquery", "NOT IN (SELECT ...)");
    }
    if dialect == Dialect::Mysql
        && t.windows(4)
            .any(|w| w[0] != "NOT" && w[1] == "IN" && w[2] == "(" && w[3] == "SELECT")
    {
        push("in_subquery_mysql", "IN (SELECT ...)");
    }
    if t.windows(2).any(|w| {
        matches!(w[0].as_str(), "LIKE" | "ILIKE")
            && (w[1].starts_with("'%") || w[1].starts_with("'_"))
    }) {
        push("leading_wildcard_like", "LIKE '%...'");
    }
    if t.windows(2)
        .any(|w| matches!(w[0].as_str(), "=" | "<>" | "!=") && w[1] == "NULL")
    {
        push("null_comparison", "= NULL");
    }
    if let Some(w) = t.iter().position(|x| x == "WHERE") {
        for win in t[w..].windows(3) {
            if matches!(win[0].as_str(), "WHERE" | "AND" | "OR" | "(")
                && NON_SARGABLE.contains(&win[1].as_str())
                && win[2] == "("
            {
                push("function_on_column", &format!("{}(...)", win[1]));
                break;
            }
        }
    }
    if t.windows(2).any(|w| w[0] == "FOR" && w[1] == "UPDATE") {
        push("select_for_update", "FOR UPDATE");
    }
    if t.windows(2).any(|w| w[0] == "UNION" && w[1] != "ALL") {
        push("union_without_all", "UNION");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rules_work_on_text_that_does_not_parse() {
        let ids = |sql: &str| -> Vec<&str> {
            check(sql, Dialect::Mysql).iter().map(|f| f.rule).collect()
        };
        assert_eq!(ids("DELETE FROM sessions WHERE"), Vec::<&str>::new());
        assert_eq!(
            ids("DELETE FROM sessions ORDER BY"),
            vec!["dml_without_where"]
        );
        assert_eq!(
            ids("SELECT * FROM t WHERE name LIKE '%x' AND YEAR(d) = 2 AND id IN (SELECT"),
            vec![
                "select_star",
                "in_subquery_mysql",
                "leading_wildcard_like",
                "function_on_column"
            ]
        );
    }
}
