//! EXPLAIN insights: MySQL/MariaDB `EXPLAIN FORMAT=JSON` and PostgreSQL `EXPLAIN (FORMAT JSON)` (with
//! or without ANALYZE). Full scans of large tables, sorts and temporary tables, nested loops over many
//! rows, sorts spilled to disk and row estimates off by more than 10x. Unknown shapes yield nothing.

use dbpower_types::{SchemaSnapshot, Severity};
use serde_json::Value;

use crate::expr::snippet;
use crate::statement::Finding;

mod mysql;
mod postgres;

use mysql::mysql_node;
pub use mysql::{FILESORT_ROWS, TEMPORARY_ROWS};
pub use postgres::INDEX_FILTER_DISCARDS;
use postgres::pg_node;

/// Tables scanned in full below this many rows are not worth a finding.
pub const FULL_SCAN_ROWS: f64 = 1_000.0;
pub const NESTED_LOOP_PRODUCT: f64 = 1_000_000.0;
pub const NESTED_LOOP_OUTER_ROWS: f64 = 10_000.0;
/// A filter that keeps at least this share of a scanned table's rows is served best by the full scan:
/// an index read fetches so many rows at random that the sequential read wins (measured 1.2-4x).
pub const RIGHT_SCAN_SHARE: f64 = 0.3;

#[derive(Debug, Default)]
pub struct PlanFacts {
    pub findings: Vec<Finding>,
    /// Tables the plan reads in full (lower-cased names).
    pub full_scans: Vec<String>,
    /// Tables read in full by a filter that keeps most of their rows, where the scan is the right plan
    /// and an index on the filter would not be used (lower-cased names).
    pub right_scans: Vec<String>,
}

/// The finding for a full scan whose filter keeps `share` of the rows it reads, or `None` when that
/// share is too small for the scan to be right.
fn right_scan(what: &str, share: f64) -> Option<(&'static str, String)> {
    (share >= RIGHT_SCAN_SHARE).then(|| {
        (
            "plan_full_scan_right",
            format!(
                "{what}: the filter keeps {:.0}% of the rows read, so reading them in order is cheaper than through an index",
                share * 100.0
            ),
        )
    })
}

impl PlanFacts {
    fn push(&mut self, rule: &'static str, evidence: String, severity: Option<Severity>) {
        if let Some(f) = self.findings.iter_mut().find(|f| f.rule == rule) {
            if !f.evidence.contains(&evidence) && f.evidence.len() < 300 {
                f.evidence.push_str("; ");
                f.evidence.push_str(&evidence);
            }
            f.severity = f.severity.max(severity);
        } else {
            self.findings.push(Finding {
                rule,
                evidence,
                severity,
                table: None,
            });
        }
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn check(plan: &Value, schema: Option<&SchemaSnapshot>) -> PlanFacts {
    let mut out = PlanFacts::default();
    let root = match plan {
        Value::Array(items) => items.first().unwrap_or(plan),
        _ => plan,
    };
    if let Some(p) = root.get("Plan") {
        let mut worst_miss: Option<(f64, String)> = None;
        pg_node(p, schema, &mut out, &mut worst_miss, false);
        if let Some((ratio, what)) = worst_miss {
            let sev = (ratio >= 1_000.0).then_some(Severity::High);
            out.push(
                "plan_row_estimate_miss",
                format!("{what} (off by {ratio:.0}x)"),
                sev,
            );
        }
    } else if root.get("query_block").is_some() {
        mysql_node(root, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mysql::*;
    use super::postgres::*;
    use super::*;
    use serde_json::json;

    fn ids(p: &PlanFacts) -> Vec<&str> {
        p.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn mysql_plan_insights() {
        let plan = json!({"query_block": {"select_id": 1, "ordering_operation": {"using_filesort": true,
            "grouping_operation": {"using_temporary_table": true, "nested_loop": [
                {"table": {"table_name": "o", "access_type": "ALL", "possible_keys": ["idx_status"], "rows_examined_per_scan": 120000,
                    "attached_condition": "o.`status` = 'x'"}},
                {"table": {"table_name": "i", "access_type": "ALL", "rows_examined_per_scan": 5000,
                    "attached_condition": "(i.order_id = o.id)"}}]}}}});
        let p = check(&plan, None);
        assert_eq!(
            ids(&p),
            vec![
                "plan_filesort",
                "plan_temporary_table",
                "plan_nested_loop_rows",
                "plan_full_scan",
                "plan_no_usable_key"
            ]
        );
        // `i` is read in full for the join only: its rows are the join's business, not a filter's.
        assert_eq!(p.full_scans, vec!["o"]);
        // The same loop with no join condition (a cross join: `cartesian_join` says so), or with the
        // inner table read through an index (MariaDB's block nested loop included): nothing to index.
        for inner in [
            json!({"table": {"table_name": "i", "access_type": "ALL", "rows_examined_per_scan": 5000}}),
            json!({"table": {"table_name": "i", "access_type": "ref", "key": "order_id", "rows_examined_per_scan": 5000,
                "attached_condition": "(i.flag = 1)"}}),
        ] {
            let plan = json!({"query_block": {"select_id": 1, "nested_loop": [
                {"table": {"table_name": "o", "access_type": "ALL", "rows_examined_per_scan": 120000}}, inner]}});
            assert!(
                !ids(&check(&plan, None)).contains(&"plan_nested_loop_rows"),
                "{plan}"
            );
        }
        // A cross join whose inner table has a filter of its own is still a cross join.
        let cross = json!({"query_block": {"select_id": 1, "nested_loop": [
            {"table": {"table_name": "o", "access_type": "ALL", "rows": 120000}},
            {"table": {"table_name": "i", "access_type": "ALL", "rows": 5000, "attached_condition": "i.flag = 1"}}]}});
        assert!(!ids(&check(&cross, None)).contains(&"plan_nested_loop_rows"));
        // MySQL prints the database in a column's name; a join condition beside the table's own filter
        // does not hide the filter.
        assert!(own_condition(
            "(`shop`.`orders`.`status` = 'paid')",
            "orders"
        ));
        assert!(own_condition("o.`status` = 'x' and o.cust_id = c.id", "o"));
        assert!(!own_condition(
            "t.customer_id between c.`id` and c.`id` + 5",
            "t"
        ));
        assert!(!own_condition(
            "c.`code` = convert(l.`code` using utf8mb4)",
            "c"
        ));
        assert!(!own_condition("o.note = 'x.y and z.w'", "p"));
        assert!(joins_other(
            "(`shop`.`i`.`order_id` = `shop`.`o`.`id`)",
            "i"
        ));
        let bnl = json!({"query_block": {"select_id": 1, "nested_loop": [
            {"table": {"table_name": "o", "access_type": "ALL", "rows": 120000}},
            {"block-nl-join": {"table": {"table_name": "i", "access_type": "ALL", "rows": 5000},
                "buffer_type": "flat", "join_type": "BNL", "attached_condition": "(i.order_id = o.id)"}}]}});
        assert!(ids(&check(&bnl, None)).contains(&"plan_nested_loop_rows"));
        // MariaDB spells rows and filesort differently.
        let maria = json!({"query_block": {"select_id": 1, "filesort": {"sort_key": "t.x", "table": {"table_name": "t", "access_type": "ALL", "rows": 50000,
            "attached_condition": "t.y = 1"}}}});
        assert_eq!(
            ids(&check(&maria, None)),
            vec!["plan_filesort", "plan_full_scan"]
        );
        // A full read with no condition of its own needs every row: no full-scan finding.
        let all = json!({"query_block": {"select_id": 1, "filesort": {"sort_key": "t.x", "table": {"table_name": "t", "access_type": "ALL", "rows": 50000}}}});
        assert_eq!(ids(&check(&all, None)), vec!["plan_filesort"]);
        // MariaDB's ANALYZE measured that the condition kept 92%: the scan is right. The estimate
        // alone (`filtered` 100 without statistics) proves nothing.
        let most = json!({"query_block": {"table": {"table_name": "t", "access_type": "ALL", "rows": 50000,
            "r_rows": 50000, "filtered": 100, "r_filtered": 92, "attached_condition": "t.s <> 'x'"}}});
        let p = check(&most, None);
        assert_eq!(ids(&p), vec!["plan_full_scan_right"]);
        assert!(p.full_scans.is_empty() && p.right_scans == vec!["t"]);
        let guess = json!({"query_block": {"table": {"table_name": "t", "access_type": "ALL", "rows": 50000,
            "filtered": 100, "attached_condition": "t.s <> 'x'"}}});
        assert_eq!(ids(&check(&guess, None)), vec!["plan_full_scan"]);
        // Sorting the 100 rows of a primary-key range is not worth a finding.
        let range = json!({"query_block": {"select_id": 1, "filesort": {"sort_key": "t.c", "table": {"table_name": "t",
            "access_type": "range", "key": "PRIMARY", "possible_keys": ["PRIMARY"], "rows": 100, "filtered": 100}}}});
        assert!(check(&range, None).findings.is_empty());
        let small = json!({"query_block": {"table": {"table_name": "t", "access_type": "ALL", "rows_examined_per_scan": 40}}});
        assert!(check(&small, None).findings.is_empty());
        let good = json!({"query_block": {"table": {"table_name": "t", "access_type": "ref", "key": "idx", "possible_keys": ["idx"], "rows_examined_per_scan": 3}}});
        assert!(check(&good, None).findings.is_empty());
    }

    #[test]
    fn casts_and_conversions_are_read_from_conditions() {
        assert_eq!(
            numeric_cast("((id)::numeric = 5.0)"),
            Some(("id".into(), "numeric".into()))
        );
        assert_eq!(
            numeric_cast("((a.qty)::double precision > '1.5'::double precision)"),
            Some(("a.qty".into(), "double precision".into()))
        );
        // A varchar compared as text is a relabel, not a cast that hides an index.
        assert_eq!(numeric_cast("((status)::text = 'x'::text)"), None);
        assert_eq!(numeric_cast("(lower(email) = 'x')"), None);
        let c = charset_conversion("u.`id` < 100 and convert(l.`code` using utf8mb4) = u.`code`");
        assert_eq!(
            c.as_deref(),
            Some("l.`code` is converted to utf8mb4 row by row to be compared")
        );
        assert_eq!(charset_conversion("u.`code` = l.`code`"), None);
        // Plan text is the monitored server's: a megabyte of filter is quoted shortened.
        let huge = format!("(flag = '{}')", "x".repeat(1 << 20));
        let plan = json!([{"Plan": {"Node Type": "Index Scan", "Relation Name": "a", "Filter": huge,
            "Index Cond": "(grp = 5)", "Actual Rows": 1, "Actual Loops": 1, "Rows Removed by Filter": 50000}}]);
        let p = check(&plan, None);
        assert_eq!(ids(&p), vec!["plan_index_filter_discards"]);
        assert!(
            p.findings[0].evidence.len() < 400,
            "{}",
            p.findings[0].evidence.len()
        );
        // A name is at most 63 bytes on PostgreSQL: a longer run before the cast is no column, and
        // a condition of many casts and no parenthesis is read in linear time.
        let cast = format!("(({})::numeric = 5.0)", "c".repeat(63));
        assert!(numeric_cast(&cast).is_some_and(|(c, _)| c.len() <= 120));
        let cast = format!("(({})::numeric = 5.0)", "c".repeat(1 << 16));
        assert_eq!(numeric_cast(&cast), None);
        assert_eq!(numeric_cast(&")::numeric".repeat(200_000)), None);
    }

    #[test]
    fn postgres_plan_insights() {
        let plan = json!([{"Plan": {"Node Type": "Sort", "Sort Method": "external merge", "Sort Space Used": 51200, "Sort Space Type": "Disk",
            "Plan Rows": 100, "Actual Rows": 250000, "Actual Loops": 1, "Plans": [
            {"Node Type": "Nested Loop", "Join Filter": "(items.order_id = orders.id)", "Plan Rows": 100, "Actual Rows": 250000, "Actual Loops": 1, "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "orders", "Filter": "(status = 'x')", "Plan Rows": 50, "Actual Rows": 50000,
                 "Actual Loops": 1, "Rows Removed by Filter": 950000},
                {"Node Type": "Materialize", "Plan Rows": 5, "Actual Rows": 5, "Actual Loops": 50000, "Plans": [
                    {"Node Type": "Seq Scan", "Relation Name": "items", "Plan Rows": 5, "Actual Rows": 5, "Actual Loops": 1}]}]}]}}]);
        let p = check(&plan, None);
        assert_eq!(
            ids(&p),
            vec![
                "plan_sort_spill",
                "plan_nested_loop_rows",
                "plan_full_scan",
                "plan_row_estimate_miss"
            ]
        );
        assert!(
            p.findings[3].evidence.contains("off by 2500x"),
            "{}",
            p.findings[3].evidence
        );
        // The inner side read through an index on the join column, or no join condition at all.
        let cases: [(Option<&str>, Value); 2] = [
            (
                Some("(items.qty > orders.n)"),
                json!({"Node Type": "Index Scan", "Relation Name": "items", "Index Cond": "(order_id = orders.id)",
                    "Plan Rows": 5, "Actual Rows": 5, "Actual Loops": 50000}),
            ),
            (
                None,
                json!({"Node Type": "Materialize", "Plan Rows": 5, "Actual Rows": 5, "Actual Loops": 50000, "Plans": [
                    {"Node Type": "Seq Scan", "Relation Name": "items", "Plan Rows": 5, "Actual Rows": 5, "Actual Loops": 1}]}),
            ),
        ];
        for (join, inner) in cases {
            let mut nl = json!({"Node Type": "Nested Loop", "Plan Rows": 100, "Actual Rows": 250000, "Actual Loops": 1, "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "orders", "Plan Rows": 50000, "Actual Rows": 50000, "Actual Loops": 1},
                inner]});
            if let Some(j) = join {
                nl["Join Filter"] = json!(j);
            }
            let plan = json!([{"Plan": nl}]);
            assert!(
                !ids(&check(&plan, None)).contains(&"plan_nested_loop_rows"),
                "{plan}"
            );
        }
        // Without ANALYZE numbers the schema's row count tells the size of a scanned table.
        let est = json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "users", "Filter": "(lower(email) = $1)", "Plan Rows": 1}}]);
        assert!(check(&est, None).findings.is_empty());
        let schema: SchemaSnapshot =
            serde_json::from_value(json!({"tables": [{"name": "users", "rows": 2000000}]}))
                .expect("schema");
        assert_eq!(ids(&check(&est, Some(&schema))), vec!["plan_full_scan"]);
        assert!(
            check(&json!({"unexpected": true}), None)
                .findings
                .is_empty()
        );
    }
}
