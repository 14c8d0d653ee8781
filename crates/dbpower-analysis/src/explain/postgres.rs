//! PostgreSQL `EXPLAIN (FORMAT JSON)` with or without ANALYZE: filtered full scans, spills of hashes and
//! sorts, index reads a filter discards, materialized CTEs, implicit casts, nested loops without an
//! index on the inner side, row estimates.

use super::*;

/// Rows a node produced over all its loops (actual when ANALYZE ran, else the estimate).
pub(super) fn pg_rows(node: &Value) -> f64 {
    match num(node.get("Actual Rows")) {
        Some(a) => a * num(node.get("Actual Loops")).unwrap_or(1.0).max(1.0),
        None => num(node.get("Plan Rows")).unwrap_or(0.0),
    }
}

/// Hash joins that spill, index reads whose rows a filter discards, CTEs whose filter was not pushed
/// down, and columns cast to a literal's wider type.
pub(super) fn pg_extras(
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
pub(super) fn pg_node(
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

/// Discarding at least this many rows (and 10 times what is kept) after an index read is a finding.
pub const INDEX_FILTER_DISCARDS: f64 = 1_000.0;

/// A PostgreSQL filter that casts a column to a wider numeric type to compare it with a literal of
/// that type (`(id)::numeric = 5.0`): the column's own index cannot serve the comparison.
pub(super) fn numeric_cast(filter: &str) -> Option<(String, String)> {
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
pub(super) fn open_paren_before(text: &str, at: usize) -> Option<usize> {
    let mut from = at.saturating_sub(256);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..at].rfind('(').map(|i| from + i)
}

/// Whether a PostgreSQL plan node or one below it has the key `key`.
pub(super) fn holds(node: &Value, key: &str) -> bool {
    node.get(key).is_some()
        || node
            .get("Plans")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|n| holds(n, key)))
}
