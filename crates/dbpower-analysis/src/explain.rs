//! EXPLAIN insights: MySQL/MariaDB `EXPLAIN FORMAT=JSON` and PostgreSQL `EXPLAIN (FORMAT JSON)` (with
//! or without ANALYZE). Full scans of large tables, sorts and temporary tables, nested loops over many
//! rows, sorts spilled to disk and row estimates off by more than 10x. Unknown shapes yield nothing.

use dbpower_types::{SchemaSnapshot, Severity};
use serde_json::Value;

use crate::expr::snippet;
use crate::statement::Finding;

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

fn mysql_table(t: &Value, out: &mut PlanFacts) -> f64 {
    let name = t
        .get("table_name")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let rows = num(t.get("rows_examined_per_scan"))
        .or_else(|| num(t.get("rows")))
        .unwrap_or(0.0);
    let access = t.get("access_type").and_then(Value::as_str).unwrap_or("");
    let cond = t.get("attached_condition").and_then(Value::as_str);
    // Only a condition on this table's own columns makes its full read a filtered scan: a read with no
    // condition needs every row, and one cut down by a join condition is the join's business.
    let own = cond.is_some_and(|c| own_condition(c, &name));
    let possible = t
        .get("possible_keys")
        .and_then(Value::as_array)
        .is_some_and(|k| !k.is_empty());
    // MariaDB's ANALYZE measures the share its condition kept (`r_filtered`, percent). The estimate
    // (`filtered`) is 100 whenever no statistics exist, so it proves nothing, except where it is an
    // estimate (below 100) made with an index on the filter (possible_keys), and the optimizer chose
    // the full scan anyway.
    let kept = num(t.get("r_filtered"))
        .or_else(|| num(t.get("filtered")).filter(|f| possible && *f < 100.0))
        .filter(|_| own);
    if rows >= FULL_SCAN_ROWS
        && access == "ALL"
        && let Some((rule, evidence)) = kept.and_then(|k| right_scan(&name, k / 100.0))
    {
        out.push(rule, evidence, None);
        out.right_scans.push(name.to_lowercase());
    } else if rows >= FULL_SCAN_ROWS && own && (access == "ALL" || access == "index") {
        let sev = if access == "index" {
            Some(Severity::Medium)
        } else {
            None
        };
        let what = if access == "ALL" {
            "full table scan"
        } else {
            "full index scan"
        };
        out.push(
            "plan_full_scan",
            format!("{what} of {name}: {rows:.0} rows (access_type {access})"),
            sev,
        );
        out.full_scans.push(name.to_lowercase());
    }
    for key in ["attached_condition", "index_condition"] {
        if let Some(what) = t
            .get(key)
            .and_then(Value::as_str)
            .and_then(charset_conversion)
        {
            out.push("plan_charset_conversion", format!("{name}: {what}"), None);
        }
    }
    // An index_merge reads through several indexes and names none in `key`; a small table is read
    // whole as cheaply as through an index.
    if possible
        && t.get("key").is_none_or(Value::is_null)
        && access != "index_merge"
        && rows >= FULL_SCAN_ROWS
    {
        out.push(
            "plan_no_usable_key",
            format!("{name}: possible_keys present, key null"),
            None,
        );
    }
    // ANALYZE: the optimizer's estimate of the rows this table passes on against what it measured.
    if let (Some(r_rows), Some(est)) = (num(t.get("r_rows")), num(t.get("rows"))) {
        // A table the join never reached (r_loops 0) measured nothing.
        let loops = num(t.get("r_loops")).unwrap_or(1.0);
        let estimated = est * num(t.get("filtered")).unwrap_or(100.0) / 100.0;
        let actual = r_rows * num(t.get("r_filtered")).unwrap_or(100.0) / 100.0;
        let (hi, lo) = (estimated.max(actual), estimated.min(actual));
        if loops > 0.0 && hi >= 100.0 && hi / lo.max(1.0) > 10.0 {
            out.push(
                "plan_row_estimate_miss",
                format!("{name}: estimated {estimated:.0} rows, actual {actual:.0}"),
                None,
            );
        }
    }
    rows
}

/// The table qualifier of each column a MySQL/MariaDB condition names: `o` for `o.status`, `orders` for
/// `` `shop`.`orders`.`status` `` (MySQL prints the database too); string literals skipped.
fn qualifiers(cond: &str) -> Vec<String> {
    let b = cond.as_bytes();
    let mut out = Vec::new();
    let mut chain: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' {
            // A string literal: skip to its end.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            chain.clear();
            continue;
        }
        if c == b'`' || c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            if c == b'`' {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$')
                {
                    i += 1;
                }
            }
            chain.push(cond[start..i.min(b.len())].trim_matches('`').to_string());
            if b.get(i) == Some(&b'.') {
                i += 1;
                continue;
            }
            // The chain ends: its next-to-last name qualifies the column.
            if chain.len() >= 2 {
                out.push(chain[chain.len() - 2].clone());
            }
            chain.clear();
            continue;
        }
        chain.clear();
        i += 1;
    }
    out
}

/// Whether a MySQL/MariaDB condition attached to `table` holds a test of that table's own columns: a
/// conjunct whose every column is `table`'s (a join condition beside it does not take it away).
fn own_condition(cond: &str, table: &str) -> bool {
    let lower = cond.to_ascii_lowercase();
    let mut at = 0;
    let mut parts = Vec::new();
    for (i, _) in lower.match_indices(" and ") {
        parts.push(&cond[at..i]);
        at = i + 5;
    }
    parts.push(&cond[at..]);
    parts.iter().any(|p| {
        let q = qualifiers(p);
        !q.is_empty() && q.iter().all(|q| q.eq_ignore_ascii_case(table))
    })
}

/// Whether a MySQL/MariaDB condition attached to `table` names another table's column: a join condition.
fn joins_other(cond: &str, table: &str) -> bool {
    qualifiers(cond)
        .iter()
        .any(|q| !q.eq_ignore_ascii_case(table))
}

/// Rows a MySQL/MariaDB plan fragment produces, as the optimizer estimates them: a table's rows
/// (times `filtered`), a nested loop's product; `None` when the fragment names no rows.
fn mysql_rows(v: &Value) -> Option<f64> {
    let map = v.as_object()?;
    if let Some(loops) = map.get("nested_loop").and_then(Value::as_array) {
        let each: Vec<f64> = loops.iter().filter_map(mysql_rows).collect();
        return (!each.is_empty()).then(|| each.iter().map(|r| r.max(1.0)).product());
    }
    if let Some(t) = map.get("table").filter(|t| t.is_object()) {
        let rows = num(t.get("rows_produced_per_join"))
            .or_else(|| num(t.get("rows_examined_per_scan")))
            .or_else(|| num(t.get("rows")))?;
        let kept = num(t.get("filtered")).unwrap_or(100.0) / 100.0;
        return Some(rows * kept);
    }
    map.values()
        .filter(|c| c.is_object())
        .filter_map(mysql_rows)
        .reduce(f64::max)
}

/// The first `convert(col using charset)` of a MySQL/MariaDB condition: a comparison of columns of
/// different character sets, where one side is converted row by row and its index cannot serve.
fn charset_conversion(cond: &str) -> Option<String> {
    let lower = cond.to_ascii_lowercase();
    let at = lower.find("convert(")?;
    let rest = &cond[at..];
    let end = rest.find(')')?;
    let inner = &rest["convert(".len()..end];
    let (col, cs) = inner.split_once(" using ")?;
    Some(format!(
        "{} is converted to {} row by row to be compared",
        snippet(&col.trim()),
        snippet(&cs.trim())
    ))
}

/// Discarding at least this many rows (and 10 times what is kept) after an index read is a finding.
pub const INDEX_FILTER_DISCARDS: f64 = 1_000.0;

/// A PostgreSQL filter that casts a column to a wider numeric type to compare it with a literal of
/// that type (`(id)::numeric = 5.0`): the column's own index cannot serve the comparison.
fn numeric_cast(filter: &str) -> Option<(String, String)> {
    for ty in ["numeric", "double precision", "real"] {
        let needle = format!(")::{ty}");
        for (at, _) in filter.match_indices(&needle) {
            let Some(open) = open_paren_before(filter, at) else {
                continue;
            };
            let col = &filter[open + 1..at];
            // Compared as it is (`(id)::numeric = 5.0`, `(5.0 = (id)::numeric)`), not an argument the
            // statement itself casts for a function (`round((v)::numeric, 1)`).
            let after = filter[at + needle.len()..].trim_start();
            let before = filter[..open].trim_end();
            let compared = after.starts_with(['=', '<', '>', '!'])
                || (after.starts_with(')') && before.ends_with(['=', '<', '>']));
            if compared
                && !col.is_empty()
                && col
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '"')
            {
                return Some((snippet(&col), ty.to_string()));
            }
        }
    }
    None
}

/// The `(` that opens the column name ending at byte `at`, looked for in the 256 bytes before it only
/// (a column name is shorter): a condition of many casts and no parenthesis costs linear time.
fn open_paren_before(text: &str, at: usize) -> Option<usize> {
    let mut from = at.saturating_sub(256);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..at].rfind('(').map(|i| from + i)
}

/// Whether a PostgreSQL plan node or one below it has the key `key`.
fn holds(node: &Value, key: &str) -> bool {
    node.get(key).is_some()
        || node
            .get("Plans")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|n| holds(n, key)))
}

/// Sorting fewer rows than this in memory is not worth a finding.
pub const FILESORT_ROWS: f64 = 1_000.0;
/// A temporary table of fewer rows than this stays small in memory.
pub const TEMPORARY_ROWS: f64 = 100.0;

fn mysql_node(v: &Value, out: &mut PlanFacts) {
    match v {
        Value::Object(map) => {
            if map.get("using_filesort").and_then(Value::as_bool) == Some(true)
                || map.contains_key("filesort")
            {
                // MariaDB nests what it sorts under `filesort`; MySQL beside `using_filesort`.
                let sorted = map
                    .get("filesort")
                    .map_or_else(|| mysql_rows(v), mysql_rows);
                match sorted {
                    Some(r) if r < FILESORT_ROWS => {}
                    Some(r) => out.push(
                        "plan_filesort",
                        format!("using_filesort over about {r:.0} rows"),
                        None,
                    ),
                    None => out.push("plan_filesort", "using_filesort".into(), None),
                }
                // ANALYZE: merge passes mean the sort did not fit in sort_buffer_size.
                if let Some(passes) = map
                    .get("filesort")
                    .and_then(|f| num(f.get("r_sort_passes")))
                    .filter(|p| *p > 0.0)
                {
                    out.push(
                        "plan_sort_spill",
                        format!("filesort in {passes:.0} merge passes (r_sort_passes)"),
                        None,
                    );
                }
            }
            // GROUP BY, DISTINCT (`temporary_table`) or a UNION that removes duplicates (its
            // `union_result` is a table) over more than a handful of rows.
            let union_table = map
                .get("union_result")
                .filter(|u| u.get("table_name").is_some());
            let temporary = map.get("using_temporary_table").and_then(Value::as_bool) == Some(true)
                || map.contains_key("temporary_table")
                || union_table.is_some();
            let temp_rows = match union_table {
                Some(u) => u
                    .get("query_specifications")
                    .and_then(Value::as_array)
                    .map(|q| q.iter().filter_map(mysql_rows).sum::<f64>()),
                None => mysql_rows(v),
            };
            if temporary && temp_rows.is_none_or(|r| r >= TEMPORARY_ROWS) {
                out.push("plan_temporary_table", "using_temporary_table".into(), None);
            }
            if let Some(what) = map
                .get("block-nl-join")
                .and_then(|b| b.get("attached_condition"))
                .and_then(Value::as_str)
                .and_then(charset_conversion)
            {
                out.push(
                    "plan_charset_conversion",
                    format!("join condition: {what}"),
                    None,
                );
            }
            if let Some(loops) = map.get("nested_loop").and_then(Value::as_array) {
                let mut product = 1.0;
                let mut names = Vec::new();
                // An inner table read without an index (a full or index scan, MariaDB's block
                // nested loop) under a join condition: its join column is what an index would serve.
                // Without a condition it is a cross join (the statement rule `cartesian_join`), and
                // an inner table read through an index needs no other.
                let mut unindexed_join = false;
                for (i, item) in loops.iter().enumerate() {
                    let (t, cond) = match (item.get("table"), item.get("block-nl-join")) {
                        (Some(t), _) => (t, t.get("attached_condition")),
                        (None, Some(b)) => match b.get("table") {
                            Some(t) => (
                                t,
                                b.get("attached_condition")
                                    .or_else(|| t.get("attached_condition")),
                            ),
                            None => continue,
                        },
                        _ => continue,
                    };
                    let rows = num(t.get("rows_examined_per_scan"))
                        .or_else(|| num(t.get("rows")))
                        .unwrap_or(1.0);
                    product *= rows.max(1.0);
                    names.push(format!(
                        "{} ({rows:.0})",
                        t.get("table_name").and_then(Value::as_str).unwrap_or("?")
                    ));
                    let access = t.get("access_type").and_then(Value::as_str);
                    let table = t.get("table_name").and_then(Value::as_str).unwrap_or("?");
                    if i >= 1
                        && matches!(access, Some("ALL" | "index" | "hash_ALL"))
                        && cond
                            .and_then(Value::as_str)
                            .is_some_and(|c| joins_other(c, table))
                    {
                        unindexed_join = true;
                    }
                }
                if loops.len() >= 2 && product >= NESTED_LOOP_PRODUCT && unindexed_join {
                    out.push(
                        "plan_nested_loop_rows",
                        format!(
                            "nested loop over {}: {product:.0} row combinations",
                            names.join(" x ")
                        ),
                        None,
                    );
                }
            }
            if let Some(t) = map.get("table").filter(|t| t.is_object()) {
                mysql_table(t, out);
            }
            for (k, child) in map {
                if k != "table" {
                    mysql_node(child, out);
                } else if let Some(inner) = child.as_object() {
                    // A table can hold a materialized subquery with its own query block.
                    for iv in inner.values().filter(|v| v.is_object() || v.is_array()) {
                        mysql_node(iv, out);
                    }
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| mysql_node(i, out)),
        _ => {}
    }
}

/// Rows a node produced over all its loops (actual when ANALYZE ran, else the estimate).
fn pg_rows(node: &Value) -> f64 {
    match num(node.get("Actual Rows")) {
        Some(a) => a * num(node.get("Actual Loops")).unwrap_or(1.0).max(1.0),
        None => num(node.get("Plan Rows")).unwrap_or(0.0),
    }
}

/// Hash joins that spill, index reads whose rows a filter discards, CTEs whose filter was not pushed
/// down, and columns cast to a literal's wider type.
fn pg_extras(
    node: &Value,
    (kind, relation): (&str, &str),
    schema: Option<&SchemaSnapshot>,
    limited: bool,
    out: &mut PlanFacts,
) {
    let loops = num(node.get("Actual Loops")).unwrap_or(1.0).max(1.0);
    let removed = num(node.get("Rows Removed by Filter")).map(|r| r * loops);
    if kind == "Hash"
        && let Some(batches) = num(node.get("Hash Batches")).filter(|b| *b > 1.0)
    {
        let kb = num(node.get("Peak Memory Usage")).unwrap_or(0.0);
        out.push(
            "plan_hash_spill",
            format!(
                "Hash in {batches:.0} batches ({kb:.0} kB in memory, the rest in temporary files)"
            ),
            None,
        );
    }
    if kind == "Aggregate"
        && (num(node.get("HashAgg Batches")).is_some_and(|b| b > 1.0)
            || num(node.get("Disk Usage")).is_some_and(|d| d > 0.0))
    {
        let kb = num(node.get("Disk Usage")).unwrap_or(0.0);
        out.push(
            "plan_hash_spill",
            format!("HashAggregate spilled to disk ({kb:.0} kB in temporary files)"),
            None,
        );
    }
    // Most of what the node read is thrown away by its filter.
    let discards = removed.filter(|r| *r >= INDEX_FILTER_DISCARDS && *r >= 10.0 * pg_rows(node));
    if let Some(r) = discards {
        let kept = pg_rows(node);
        // Plan text comes from the monitored server: evidence quotes it shortened.
        let filter = snippet(&node.get("Filter").and_then(Value::as_str).unwrap_or(""));
        let cte = snippet(&node.get("CTE Name").and_then(Value::as_str).unwrap_or("?"));
        // Candidates found by an Index Cond, or read in index order until a LIMIT has enough.
        let bounded =
            node.get("Index Cond").is_some() || node.get("Recheck Cond").is_some() || limited;
        match kind {
            "Index Scan" | "Index Only Scan" | "Bitmap Heap Scan" if bounded => out.push(
                "plan_index_filter_discards",
                format!("{kind} on {relation} keeps {kept:.0} rows and discards {r:.0} by Filter {filter}"),
                None,
            ),
            "CTE Scan" => out.push(
                "plan_cte_materialized",
                format!("CTE {cte} is computed in full, then {r:.0} of its rows are discarded by the outer filter"),
                None,
            ),
            _ => {}
        }
    }
    for key in [
        "Filter",
        "Index Cond",
        "Recheck Cond",
        "Join Filter",
        "Hash Cond",
    ] {
        let cond = node.get(key).and_then(Value::as_str);
        if let Some((col, ty)) = cond.and_then(numeric_cast) {
            out.push(
                "plan_implicit_cast",
                format!("{col} on {relation} is cast to {ty} to be compared ({key})"),
                None,
            );
        }
        // A char(n) column compared with text is cast to text (a varchar's `::text` is a mere
        // relabel the index still serves): only the schema tells them apart.
        let table =
            schema.and_then(|s| s.table(node.get("Schema").and_then(Value::as_str), relation));
        if let (Some(cond), Some(table)) = (cond, table) {
            for (at, _) in cond.match_indices(")::text") {
                let Some(open) = open_paren_before(cond, at) else {
                    continue;
                };
                let col = cond[open + 1..at].trim_matches('"');
                let after = cond[at + ")::text".len()..].trim_start();
                let fixed = table.column(col).is_some_and(|c| {
                    let t = c.data_type.to_ascii_lowercase();
                    (t.starts_with("character(") || t == "character" || t.starts_with("bpchar"))
                        && after.starts_with(['=', '<', '>', '!'])
                });
                if fixed {
                    out.push(
                        "plan_implicit_cast",
                        format!("{} on {relation} (character(n)) is cast to text to be compared ({key})", snippet(&col)),
                        None,
                    );
                }
            }
        }
    }
}

/// `limited`: a Limit above this node may stop it before it produces all its rows.
fn pg_node(
    node: &Value,
    schema: Option<&SchemaSnapshot>,
    out: &mut PlanFacts,
    worst_miss: &mut Option<(f64, String)>,
    limited: bool,
) {
    let kind = node.get("Node Type").and_then(Value::as_str).unwrap_or("");
    let relation = node
        .get("Relation Name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    // A Seq Scan, or an index scan with no Index Cond (it reads the whole index), under a filter.
    // (Under a LIMIT an index read in order stops early: not a full read.)
    let full_index = matches!(kind, "Index Scan" | "Index Only Scan")
        && node.get("Index Cond").is_none()
        && !limited;
    if (kind == "Seq Scan" || full_index) && node.get("Filter").is_some() {
        let removed = num(node.get("Rows Removed by Filter"));
        let table_rows = schema
            .and_then(|s| s.table(node.get("Schema").and_then(Value::as_str), relation))
            .and_then(|t| t.rows)
            .map(|r| r as f64);
        // Rows read: measured when ANALYZE ran, else the table's size; the share kept is only known
        // with one of them (a plan estimate alone says nothing about the rows filtered out).
        let (scanned, known) = match (removed, table_rows) {
            (Some(r), _) => (
                pg_rows(node) + r * num(node.get("Actual Loops")).unwrap_or(1.0).max(1.0),
                true,
            ),
            (None, Some(t)) => (t, true),
            (None, None) => (pg_rows(node), false),
        };
        let right = known
            .then(|| {
                right_scan(
                    &format!("Seq Scan on {relation}"),
                    pg_rows(node) / scanned.max(1.0),
                )
            })
            .flatten();
        if scanned >= FULL_SCAN_ROWS
            && let Some((rule, evidence)) = right
        {
            out.push(rule, evidence, None);
            out.right_scans.push(relation.to_lowercase());
        } else if scanned >= FULL_SCAN_ROWS {
            out.push(
                "plan_full_scan",
                format!("{kind} on {relation} with a filter: {scanned:.0} rows read"),
                None,
            );
            out.full_scans.push(relation.to_lowercase());
        }
    }
    pg_extras(node, (kind, relation), schema, limited, out);
    if kind == "Sort" || kind == "Incremental Sort" {
        let method = node
            .get("Sort Method")
            .and_then(Value::as_str)
            .unwrap_or("");
        let disk = node.get("Sort Space Type").and_then(Value::as_str) == Some("Disk");
        // An Incremental Sort reports its groups' sorts apart.
        let groups_spilled = ["Full-sort Groups", "Pre-sorted Groups"].iter().any(|g| {
            node.get(*g).is_some_and(|g| {
                g.get("Sort Space Disk").is_some()
                    || g.get("Sort Methods Used")
                        .and_then(Value::as_array)
                        .is_some_and(|m| {
                            m.iter()
                                .any(|m| m.as_str().is_some_and(|m| m.contains("external")))
                        })
            })
        });
        if disk || method.contains("external") || groups_spilled {
            let kb = num(node.get("Sort Space Used")).unwrap_or(0.0);
            out.push(
                "plan_sort_spill",
                format!("Sort Method: {method}, {kb:.0} kB on disk"),
                None,
            );
        }
    }
    let children: &[Value] = node
        .get("Plans")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    // A Join Filter is a join condition tested on every pair: with no Index Cond on the inner side,
    // no index serves it. No condition at all is a cross join (`cartesian_join`); an inner side read
    // through an index is already what the advice would build.
    // A materialized CTE read by a join that keeps a small share of its rows: the CTE was computed
    // in full for them (the filter a NOT MATERIALIZED CTE would push into it).
    if matches!(kind, "Hash Join" | "Merge Join" | "Nested Loop") {
        fn scan(n: &Value) -> Option<&Value> {
            (n.get("Node Type").and_then(Value::as_str) == Some("CTE Scan")).then_some(n)
        }
        let cte = children.iter().find_map(|c| {
            scan(c).or_else(|| {
                c.get("Plans")
                    .and_then(Value::as_array)
                    .and_then(|g| g.iter().find_map(scan))
                    .filter(|_| c.get("Node Type").and_then(Value::as_str) == Some("Hash"))
            })
        });
        if let Some(scan) = cte {
            let (read, kept) = (pg_rows(scan), pg_rows(node));
            if read >= INDEX_FILTER_DISCARDS && kept * 10.0 <= read {
                let name = snippet(&scan.get("CTE Name").and_then(Value::as_str).unwrap_or("?"));
                out.push(
                    "plan_cte_materialized",
                    format!("CTE {name} is computed in full ({read:.0} rows), then the join keeps {kept:.0}"),
                    None,
                );
            }
        }
    }
    // An inner side under Materialize is read once and replayed, so an index in it is no lookup.
    if kind == "Nested Loop"
        && let (Some(outer), Some(inner)) = (children.first(), children.get(1))
        && let Some(join) = node.get("Join Filter").and_then(Value::as_str)
        && (inner.get("Node Type").and_then(Value::as_str) == Some("Materialize")
            || !holds(inner, "Index Cond"))
    {
        let outer_rows = pg_rows(outer);
        // The pairs the Join Filter tested: measured (rows kept + Rows Removed by Join Filter), else
        // the estimate (outer rows x the inner side's rows per loop).
        let loops = num(node.get("Actual Loops")).unwrap_or(1.0).max(1.0);
        let pairs = match num(node.get("Rows Removed by Join Filter")) {
            Some(removed) => pg_rows(node) + removed * loops,
            None => outer_rows * num(inner.get("Plan Rows")).unwrap_or(0.0),
        };
        if outer_rows >= NESTED_LOOP_OUTER_ROWS || pairs >= NESTED_LOOP_PRODUCT {
            out.push(
                "plan_nested_loop_rows",
                format!(
                    "Nested Loop with {outer_rows:.0} outer rows, {pairs:.0} pairs tested by Join Filter {}",
                    snippet(&join)
                ),
                None,
            );
        }
    }
    // A node that never ran (Actual Loops 0: a driver's `LIMIT 0` to read the columns), or one a
    // LIMIT stopped early (fewer rows than planned), says nothing of the estimate.
    let ran = num(node.get("Actual Loops")).is_none_or(|l| l > 0.0);
    if ran
        && let (Some(actual), Some(plan)) =
            (num(node.get("Actual Rows")), num(node.get("Plan Rows")))
        && !(limited && actual < plan)
    {
        let (hi, lo) = if actual > plan {
            (actual, plan)
        } else {
            (plan, actual)
        };
        let ratio = hi / lo.max(1.0);
        if hi >= 100.0 && ratio > 10.0 && worst_miss.as_ref().is_none_or(|(r, _)| ratio > *r) {
            let on = if relation == "?" {
                String::new()
            } else {
                format!(" on {relation}")
            };
            *worst_miss = Some((
                ratio,
                format!("{kind}{on}: estimated {plan:.0} rows, actual {actual:.0}"),
            ));
        }
    }
    // A node that consumes all its input before it returns a row (a sort, an aggregate, a hash, a
    // materialization) runs its children to the end whatever a LIMIT above it does.
    let blocking = matches!(
        kind,
        "Sort" | "Aggregate" | "Hash" | "Materialize" | "WindowAgg" | "SetOp"
    );
    for c in children {
        pg_node(
            c,
            schema,
            out,
            worst_miss,
            (limited && !blocking) || kind == "Limit",
        );
    }
}

#[cfg(test)]
mod tests {
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
