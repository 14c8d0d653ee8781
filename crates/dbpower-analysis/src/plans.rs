//! Plan shapes (docs/ANALYSIS.md, "Plan history"): what a plan does, without what it costs. Two plans of
//! a class have the same shape when they visit the same nodes in the same order with the same relations,
//! indexes, join types and methods; costs, row estimates, timings and buffers are left out, so a plan
//! whose estimates move with the data keeps its shape, and one that switches from a sequential scan to an
//! index, or changes its join order or method, gets another. Both engines' JSON formats are read:
//! PostgreSQL `EXPLAIN (FORMAT JSON)` (nodes with `Node Type` and `Plans`) and MySQL/MariaDB
//! `EXPLAIN FORMAT=JSON` (a `query_block` with `table`, `nested_loop`, `ordering_operation`, ...).

use serde_json::Value;

/// Nodes read per plan: deeper or wider plans are cut there (their shape still differs from a shorter
/// one's).
const MAX_NODES: usize = 500;
/// Characters of the summary.
const MAX_SUMMARY: usize = 300;

/// A plan's shape: a stable fingerprint and a short text saying how each table is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanShape {
    /// 16 upper-case hex digits.
    pub fingerprint: String,
    /// `orders: Seq Scan; customers: Index Scan using customers_pkey`.
    pub summary: String,
}

/// PostgreSQL node fields that name what a node does (never what it costs).
const PG_FIELDS: [&str; 13] = [
    "Node Type",
    "Relation Name",
    "Alias",
    "Index Name",
    "Join Type",
    "Strategy",
    "Partial Mode",
    "Parallel Aware",
    "Scan Direction",
    "Parent Relationship",
    "Subplan Name",
    "CTE Name",
    "Function Name",
];

/// MySQL/MariaDB keys that list candidates, columns or costs rather than what the plan does: an index
/// added but not used, or a column more in the select list, does not change a plan's shape.
const MY_SKIPPED: [&str; 7] = [
    "possible_keys",
    "used_columns",
    "used_key_parts",
    "cost_info",
    "ref",
    "key_length",
    "attached_condition",
];

/// MySQL/MariaDB table fields that name how a table is read.
const MY_TABLE_FIELDS: [&str; 4] = ["table_name", "access_type", "key", "using_index"];

struct Walk {
    canonical: String,
    reads: Vec<String>,
    nodes: usize,
}

impl Walk {
    fn pg(&mut self, node: &Value) {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            self.canonical.push('…');
            return;
        }
        let field = |k: &str| node.get(k).and_then(Value::as_str);
        self.canonical.push('(');
        for k in PG_FIELDS {
            if let Some(v) = node.get(k).map(scalar).filter(|v| !v.is_empty()) {
                self.canonical.push_str(&format!("{k}={v};"));
            }
        }
        if let Some(rel) = field("Relation Name") {
            let how = match field("Index Name") {
                Some(i) => format!("{} using {i}", field("Node Type").unwrap_or("?")),
                None => field("Node Type").unwrap_or("?").to_string(),
            };
            self.reads.push(format!("{rel}: {how}"));
        }
        for child in node
            .get("Plans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.pg(child);
        }
        self.canonical.push(')');
    }

    /// A MySQL/MariaDB plan object: every key that holds an object or an array is an operation (its
    /// name is part of the shape), a `table` object is read for how it is accessed; numbers, costs,
    /// conditions and candidate lists ([`MY_SKIPPED`]) are skipped. Only objects count as nodes.
    fn my(&mut self, v: &Value) {
        if v.is_object() {
            self.nodes += 1;
        }
        if self.nodes > MAX_NODES {
            self.canonical.push('…');
            return;
        }
        match v {
            Value::Array(items) => {
                self.canonical.push('[');
                for i in items {
                    self.my(i);
                }
                self.canonical.push(']');
            }
            Value::Object(map) => {
                self.canonical.push('{');
                if map.contains_key("table_name") {
                    let field = |k: &str| map.get(k).map(scalar).unwrap_or_default();
                    for k in MY_TABLE_FIELDS {
                        self.canonical.push_str(&format!("{k}={};", field(k)));
                    }
                    let how = match map.get("key").and_then(Value::as_str) {
                        Some(k) => format!("{} using {k}", field("access_type")),
                        None => field("access_type"),
                    };
                    self.reads.push(format!("{}: {how}", field("table_name")));
                }
                // serde_json's map is ordered by key: the same plan always reads the same way.
                for (k, child) in map {
                    if matches!(child, Value::Object(_) | Value::Array(_))
                        && !MY_SKIPPED.contains(&k.as_str())
                    {
                        self.canonical.push_str(k);
                        self.my(child);
                    }
                }
                self.canonical.push('}');
            }
            _ => {}
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// The shape of a plan as the agent or a log shipped it, or `None` when it is in neither engine's JSON
/// format.
pub fn shape(plan: &Value) -> Option<PlanShape> {
    let mut w = Walk {
        canonical: String::new(),
        reads: Vec::new(),
        nodes: 0,
    };
    // PostgreSQL: `[{"Plan": ...}]`, `{"Plan": ...}` or a bare node.
    let pg_root = match plan {
        Value::Array(items) => items.first().and_then(|p| p.get("Plan")),
        Value::Object(m) if m.contains_key("Plan") => m.get("Plan"),
        Value::Object(m) if m.contains_key("Node Type") => Some(plan),
        _ => None,
    };
    if let Some(root) = pg_root {
        w.canonical.push_str("pg");
        w.pg(root);
    } else if let Some(block) = plan.get("query_block") {
        w.canonical.push_str("my");
        w.my(block);
    } else {
        return None;
    }
    let mut summary = if w.reads.is_empty() {
        "no table read".to_string()
    } else {
        w.reads.join("; ")
    };
    if summary.chars().count() > MAX_SUMMARY {
        summary = summary.chars().take(MAX_SUMMARY - 1).collect::<String>() + "…";
    }
    Some(PlanShape {
        // 16 hex digits of the canonical text's hash, as a query id is made.
        fingerprint: dbpower_sql::fingerprint::query_id(&w.canonical),
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pg(node: &str, index: Option<&str>, cost: f64, rows: f64) -> Value {
        let mut n = json!({"Node Type": node, "Relation Name": "orders", "Alias": "orders",
            "Startup Cost": 0.0, "Total Cost": cost, "Plan Rows": rows, "Plan Width": 40});
        if let Some(i) = index {
            n["Index Name"] = json!(i);
        }
        json!([{"Plan": n}])
    }

    #[test]
    fn costs_and_estimates_do_not_change_a_shape_but_the_access_path_does() {
        let a = shape(&pg("Seq Scan", None, 100.0, 10.0)).expect("shape");
        let b = shape(&pg("Seq Scan", None, 9_999.0, 123_456.0)).expect("shape");
        let c = shape(&pg("Index Scan", Some("orders_email_idx"), 8.3, 1.0)).expect("shape");
        assert_eq!(a, b);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.summary, "orders: Seq Scan");
        assert_eq!(c.summary, "orders: Index Scan using orders_email_idx");
        assert_eq!(a.fingerprint.len(), 16);
    }

    #[test]
    fn join_order_and_method_are_part_of_a_shape() {
        let scan =
            |rel: &str| json!({"Node Type": "Seq Scan", "Relation Name": rel, "Total Cost": 1.0});
        let join = |method: &str, outer: &str, inner: &str| {
            json!({"Plan": {"Node Type": method, "Join Type": "Inner", "Total Cost": 5.0,
                "Plans": [scan(outer), scan(inner)]}})
        };
        let ab = shape(&join("Hash Join", "a", "b")).expect("shape");
        let ba = shape(&join("Hash Join", "b", "a")).expect("shape");
        let nl = shape(&join("Nested Loop", "a", "b")).expect("shape");
        assert_ne!(ab.fingerprint, ba.fingerprint);
        assert_ne!(ab.fingerprint, nl.fingerprint);
        assert_eq!(ab.summary, "a: Seq Scan; b: Seq Scan");
    }

    #[test]
    fn mysql_plans_are_read_by_access_type_and_key() {
        let plan = |access: &str, key: Option<&str>, rows: u64| {
            let mut t = json!({"table_name": "orders", "access_type": access, "rows_examined_per_scan": rows,
                "filtered": "10.00", "cost_info": {"read_cost": "12.5"}, "attached_condition": "(`orders`.`email` = 'x')"});
            if let Some(k) = key {
                t["key"] = json!(k);
            }
            json!({"query_block": {"select_id": 1, "cost_info": {"query_cost": "99"}, "table": t}})
        };
        let all = shape(&plan("ALL", None, 1000)).expect("shape");
        let all_more = shape(&plan("ALL", None, 5_000_000)).expect("shape");
        let by_key = shape(&plan("ref", Some("email_idx"), 1)).expect("shape");
        assert_eq!(all, all_more);
        assert_ne!(all.fingerprint, by_key.fingerprint);
        assert_eq!(by_key.summary, "orders: ref using email_idx");
        let sorted = json!({"query_block": {"ordering_operation": {"using_filesort": true,
            "table": {"table_name": "orders", "access_type": "ALL"}}}});
        assert_ne!(shape(&sorted).expect("shape").fingerprint, all.fingerprint);
        // An index that is only a candidate, or another selected column, is the same plan.
        let mut candidate = plan("ALL", None, 1000);
        candidate["query_block"]["table"]["possible_keys"] = json!(["email_idx"]);
        candidate["query_block"]["table"]["used_columns"] = json!(["id", "email", "note"]);
        assert_eq!(
            shape(&candidate).expect("shape").fingerprint,
            all.fingerprint
        );
    }

    #[test]
    fn anything_else_has_no_shape_and_huge_plans_are_bounded() {
        for v in [json!(null), json!("plan"), json!({"x": 1}), json!([])] {
            assert_eq!(shape(&v), None, "{v}");
        }
        let mut node = json!({"Node Type": "Result"});
        for i in 0..700 {
            node =
                json!({"Node Type": "Append", "Relation Name": format!("t{i}"), "Plans": [node]});
        }
        let s = shape(&json!({"Plan": node})).expect("shape");
        assert!(s.summary.chars().count() <= MAX_SUMMARY);
    }
}
