//! MySQL/MariaDB `EXPLAIN FORMAT=JSON` and `ANALYZE FORMAT=JSON`: full scans with a condition of the
//! table's own, filesorts and temporary tables, nested loops over unindexed inner tables, character set
//! conversions, unused candidate indexes, estimates against measured rows.

use super::*;

/// Sorting fewer rows than this in memory is not worth a finding.
pub const FILESORT_ROWS: f64 = 1_000.0;
/// A temporary table of fewer rows than this stays small in memory.
pub const TEMPORARY_ROWS: f64 = 100.0;

pub(super) fn mysql_node(v: &Value, out: &mut PlanFacts) {
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

pub(super) fn mysql_table(t: &Value, out: &mut PlanFacts) -> f64 {
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
pub(super) fn qualifiers(cond: &str) -> Vec<String> {
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
pub(super) fn own_condition(cond: &str, table: &str) -> bool {
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
pub(super) fn joins_other(cond: &str, table: &str) -> bool {
    qualifiers(cond)
        .iter()
        .any(|q| !q.eq_ignore_ascii_case(table))
}

/// Rows a MySQL/MariaDB plan fragment produces, as the optimizer estimates them: a table's rows
/// (times `filtered`), a nested loop's product; `None` when the fragment names no rows.
pub(super) fn mysql_rows(v: &Value) -> Option<f64> {
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
pub(super) fn charset_conversion(cond: &str) -> Option<String> {
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
