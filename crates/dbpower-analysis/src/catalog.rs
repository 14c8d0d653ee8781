//! The rule catalog: every rule's stable id, default severity, one-line title, why it is slow and the
//! concrete fix. Findings carry only the id and the evidence; everything a person reads comes from here,
//! so the admin panel, the CLI and the docs say the same thing.

use dbpower_types::{RecommendationKind, Severity};

/// Where a rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The parsed statement (or its tokens when it does not parse).
    Statement,
    /// The class's measured numbers.
    Stats,
    /// An attached EXPLAIN plan.
    Plan,
}

#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub source: Source,
    pub title: &'static str,
    /// Why it is slow (or wrong).
    pub why: &'static str,
    /// What to do, as the title of the recommendation.
    pub fix: &'static str,
    /// How to do it.
    pub how: &'static str,
    pub kind: RecommendationKind,
}

use RecommendationKind::{Config, Index, Rewrite, Schema};
use Severity::{Critical, High, Low, Medium};
use Source::{Plan, Statement, Stats};

macro_rules! rules {
    ($($id:literal $sev:ident $src:ident $kind:ident $title:literal, $why:literal, $fix:literal, $how:literal;)*) => {
        pub const RULES: &[Rule] = &[$(Rule { id: $id, severity: $sev, source: $src, title: $title, why: $why, fix: $fix, how: $how, kind: $kind }),*];
    };
}

rules! {
    "select_star" Low Statement Rewrite "SELECT * reads every column",
        "Fetching all columns moves more data than the caller needs, defeats covering indexes and breaks when columns are added.",
        "List the columns the caller uses",
        "A narrow column list can be answered from an index alone and keeps the result stable when the table changes.";
    "dml_without_where" Critical Statement Rewrite "UPDATE or DELETE without WHERE",
        "The statement rewrites or removes every row of the table, holding locks on all of them and flooding replication. Once the class has measured numbers its severity follows the rows it touched and the time it took: emptying a small table in milliseconds is LOW.",
        "Add a WHERE clause, or change the rows in bounded batches",
        "Batch by primary key ranges (e.g. WHERE id BETWEEN ? AND ?) and commit between batches.";
    "select_without_where" Medium Statement Rewrite "SELECT of a whole table without WHERE or LIMIT",
        "Every execution reads and sends the entire table; the cost grows with the table.",
        "Filter or paginate the result",
        "Return only the rows the caller needs (a WHERE clause, or keyset pagination with LIMIT).";
    "leading_wildcard_like" High Statement Rewrite "LIKE pattern starts with a wildcard",
        "A B-tree index is ordered by the leading characters; a pattern that starts with % or _ cannot use it, so every row is read and matched.",
        "Search with a full-text or trigram index, or anchor the pattern",
        "PostgreSQL: CREATE EXTENSION pg_trgm and a GIN index with gin_trgm_ops; MySQL: a FULLTEXT index with MATCH ... AGAINST; or match a prefix ('abc%').";
    "function_on_column" High Statement Rewrite "Function applied to a filtered column",
        "Wrapping a column in a function (YEAR(created_at), LOWER(email), CAST(created_at AS DATE)) hides it from its index: the function is computed for every row (non-sargable). A PostgreSQL cast of a varchar column to text only relabels it and is not reported.",
        "Compare the bare column, or index the expression",
        "Rewrite as a range on the column (YEAR(created_at) = 2024 -> created_at >= '2024-01-01' AND created_at < '2025-01-01'), store the normalized value, or add an expression index.";
    "arithmetic_on_column" Medium Statement Rewrite "Arithmetic on a filtered column",
        "An expression such as price * 1.2 > 100 must be computed for every row before it can be compared, so the column's index is not used.",
        "Move the arithmetic to the constant side",
        "price * 1.2 > 100 becomes price > 100 / 1.2; id + 1 = 5 becomes id = 4.";
    "implicit_conversion" High Statement Rewrite "String column compared with a number",
        "The column is a string type but the value is a number, so every row's value is converted before comparing: the index on the column cannot be used and '0123' = 123 matches unexpectedly.",
        "Compare with a value of the column's type",
        "Quote the value (phone = '5551234') or bind it as a string parameter.";
    "or_across_columns" Medium Statement Rewrite "OR across different columns",
        "One index range cannot serve predicates on two columns joined by OR; the planner falls back to a full scan (or an index merge that is often slower).",
        "Split into a UNION ALL of indexable queries",
        "SELECT ... WHERE a = ? UNION ALL SELECT ... WHERE b = ? AND a <> ? (or rely on PostgreSQL bitmap OR with an index on each column).";
    "not_in_subquery" High Statement Rewrite "NOT IN (subquery)",
        "If the subquery returns a single NULL the predicate is never true and the query silently returns nothing; the NULL check also keeps the planner from using an anti-join.",
        "Use NOT EXISTS",
        "WHERE NOT EXISTS (SELECT 1 FROM t2 WHERE t2.x = t1.x) has no NULL trap and plans as an anti-join.";
    "correlated_subquery_in_select" High Statement Rewrite "Correlated subquery in the SELECT list",
        "The subquery runs once per result row (N+1 inside the database).",
        "Join and aggregate once",
        "LEFT JOIN a grouped derived table (or a LATERAL join) instead of a per-row scalar subquery.";
    "in_subquery_mysql" Medium Statement Rewrite "IN (subquery) run once per row on MySQL/MariaDB",
        "A SELECT's IN (subquery) is a semi-join since MySQL 5.6 and MariaDB 5.3, but two shapes still run the subquery once per outer row (EXPLAIN: DEPENDENT SUBQUERY): the IN (subquery) of a single-table UPDATE or DELETE, on MySQL before 8.0.21 and MariaDB before 11.1, and a subquery that is a UNION, on every version.",
        "Join instead of testing each row",
        "Write the UPDATE or DELETE in its multi-table form (UPDATE t JOIN (SELECT DISTINCT id FROM ...) s ON s.id = t.x SET ...; DELETE t FROM t JOIN ... ON ...), which is optimized like a SELECT; join a UNION as a derived table (JOIN (SELECT a FROM t1 UNION SELECT b FROM t2) u ON u.a = t.x) so it is built once.";
    "large_offset" Medium Statement Rewrite "Large OFFSET pagination",
        "OFFSET n reads and throws away n rows on every page, so deep pages get linearly slower.",
        "Use keyset pagination",
        "Remember the last key of the previous page: WHERE (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT 50.";
    "order_by_rand" High Statement Rewrite "ORDER BY RAND() sorts the whole result",
        "Every candidate row gets a random key and the full set is sorted to return a few rows.",
        "Pick random rows by key",
        "Choose random ids in the application, or sample with WHERE id >= (random id) ORDER BY id LIMIT n (PostgreSQL: TABLESAMPLE).";
    "cartesian_join" Critical Statement Rewrite "Join without a join condition",
        "Without a condition every row of one table is paired with every row of the other: the result grows as the product of the table sizes.",
        "Add the join condition",
        "Use an explicit JOIN ... ON a.key = b.key for every table in the FROM list.";
    "distinct_with_join" Medium Statement Rewrite "DISTINCT over a join",
        "DISTINCT often hides a join that multiplies rows; the server builds and then de-duplicates the inflated result.",
        "Remove the duplicating join",
        "Use EXISTS for a table that only filters, or aggregate the child table before joining.";
    "expression_in_group_order" Low Statement Rewrite "GROUP BY or ORDER BY on an expression",
        "Grouping or sorting by a computed expression cannot use an index order, so the server sorts or hashes every row.",
        "Group or order by an indexed column",
        "Group by the stored column (or a generated column with an index) and format the value afterwards.";
    "count_for_existence" Medium Statement Rewrite "COUNT used to test existence",
        "COUNT(*) > 0 counts every matching row when one is enough to answer.",
        "Use EXISTS",
        "EXISTS (SELECT 1 FROM ... WHERE ...) stops at the first match.";
    "count_full_table" Medium Statement Rewrite "COUNT over a whole table",
        "An exact count reads the whole table (or a whole index) on every call; on PostgreSQL MVCC makes it a full scan.",
        "Use an estimate or a maintained counter",
        "PostgreSQL: reltuples from pg_class; MySQL: information_schema.TABLES.TABLE_ROWS; or keep a counter table updated with the data.";
    "huge_in_list" Medium Statement Rewrite "Very long IN list",
        "Hundreds of values make the statement slow to parse and plan, defeat plan caching and often turn an index lookup into a scan.",
        "Join a temporary table or pass an array",
        "PostgreSQL: WHERE id = ANY($1) with one array parameter; MySQL: load the ids into a temporary table and join.";
    "union_without_all" Low Statement Rewrite "UNION without ALL",
        "UNION removes duplicates by sorting or hashing the combined result; when the branches cannot overlap this is wasted work.",
        "Use UNION ALL when duplicates are impossible or harmless",
        "UNION ALL streams the branches without de-duplication.";
    "select_for_update" Medium Statement Rewrite "SELECT ... FOR UPDATE locks rows",
        "Row locks are held until the transaction ends; in a long transaction, or on a range without an index, they block other writers and cause deadlocks.",
        "Keep the locking transaction short and indexed",
        "Lock by primary key, do the work, commit at once; consider SKIP LOCKED for queues and optimistic version checks elsewhere.";
    "join_type_mismatch" High Statement Schema "Join columns of different types",
        "Comparing columns of different types forces a conversion on one side for every row, so its index cannot be used for the join.",
        "Make the join columns the same type",
        "Change the column type (e.g. store order_ref as BIGINT) or add a typed generated column with an index.";
    "missing_index" High Statement Index "No index supports the filter",
        "The table is large and none of its indexes starts with a filtered or joined column, so every execution scans it.",
        "Add the suggested index",
        "A composite index with the equality columns first, then one range or the ORDER BY columns.";
    "null_comparison" High Statement Rewrite "Comparison with NULL using = or <>",
        "col = NULL is never true (it is NULL), so the predicate silently matches nothing.",
        "Use IS NULL / IS NOT NULL",
        "WHERE deleted_at IS NULL.";
    "having_without_aggregate" Low Statement Rewrite "HAVING without an aggregate",
        "A HAVING condition that uses no aggregate is applied after grouping, so every row is grouped before being filtered.",
        "Move the condition to WHERE",
        "Filtering in WHERE discards rows before grouping and can use an index.";
    "too_many_joins" Medium Statement Rewrite "Very many tables in one query",
        "Beyond 8 tables the planner stops searching join orders exhaustively (join_collapse_limit, optimizer_search_depth) and may pick a poor plan.",
        "Split the query or pre-aggregate",
        "Fetch the optional parts in a second query, or materialize a summary table.";
    "high_rows_ratio" Medium Stats Index "Many rows examined per row returned",
        "The server reads far more rows than it returns: a missing or unusable index is the usual cause.",
        "Index the filtered columns",
        "An index on the WHERE and JOIN columns lets the server read only matching rows.";
    "commit_latency" Medium Stats Config "Commits wait for the disk",
        "Every COMMIT waits until the transaction log is flushed to durable storage. With many small transactions those flushes, not the statements, are the cost: the commit class is often the largest by total time.",
        "Commit less often, or trade durability per transaction",
        "Group more rows per transaction. Let several commits share one flush: PostgreSQL commit_delay with commit_siblings; MariaDB binlog_commit_wait_count and binlog_commit_wait_usec; MySQL binlog_group_commit_sync_delay. Where losing the last moments of writes on a crash is acceptable (never corruption): PostgreSQL synchronous_commit = off (per transaction with SET LOCAL); MySQL/MariaDB innodb_flush_log_at_trx_commit = 2 and sync_binlog > 1. Otherwise, storage with a lower fsync latency (a battery-backed or enterprise SSD write cache).";
    "long_lock_time" Medium Stats Config "Long lock waits",
        "The statement spends its time waiting for locks held by other transactions.",
        "Shorten the conflicting transactions",
        "Find the blockers (performance_schema.data_lock_waits, pg_locks) and keep their transactions short.";
    "plan_full_scan" High Plan Index "Full table scan in the plan",
        "The plan reads every row of a large table and filters them afterwards.",
        "Index the filter columns",
        "An index whose leading columns are the filter's equality columns turns the scan into a range read.";
    "plan_full_scan_right" Low Plan Rewrite "Full scan is the right plan",
        "The filter keeps most of the rows the scan reads: fetching them through an index would cost a random read per row, slower than reading the table in order (the planner rightly ignores an index here).",
        "Keep the scan; read less",
        "An index on these filter columns would not be used and would only slow writes. Select fewer columns, aggregate ahead of time, partition by the filter, or add a condition that keeps fewer rows.";
    "plan_hash_spill" Medium Plan Config "Hash join spilled to disk",
        "The hash table did not fit in work_mem (times hash_mem_multiplier) and was split into batches written to temporary files: every batch is written and read back.",
        "Give the hash more memory, or hash fewer rows",
        "Raise work_mem for this query (SET LOCAL work_mem) or hash_mem_multiplier; filter or aggregate the build side first, and select only the columns the join needs.";
    "plan_index_filter_discards" High Plan Index "The index reads rows that a filter discards",
        "The index finds candidate rows on its leading columns, then most of them are fetched from the table and thrown away by a filter on other columns.",
        "Extend the index with the filter columns",
        "A composite index whose columns cover the equality filters (then the range) lets the index alone find the matching rows.";
    "plan_cte_materialized" High Plan Rewrite "CTE computed in full before the filter",
        "The CTE is materialized (MATERIALIZED, referenced more than once, or PostgreSQL before 12), so the outer query's filter cannot reach inside it: every row of the CTE is computed, then most are discarded.",
        "Let the filter reach the CTE",
        "Write NOT MATERIALIZED (PostgreSQL 12+), move the condition into the CTE, or use a subquery or view that the planner can inline.";
    "plan_implicit_cast" High Plan Rewrite "Column cast to match a literal's type",
        "A value of a wider type (numeric, a float) makes PostgreSQL cast the column instead of the value, so the column's index cannot serve the comparison.",
        "Compare with a value of the column's type",
        "Bind the parameter with the column's type (an integer for a bigint column), or cast the value: WHERE id = $1::bigint.";
    "plan_charset_conversion" High Plan Schema "Character set conversion in a comparison",
        "Two columns of different character sets or collations are compared, so one side is converted row by row (convert(... using ...)) and its index cannot be used for the join or filter.",
        "Give both columns one character set and collation",
        "ALTER TABLE ... MODIFY the column to the other side's CHARACTER SET and COLLATE (utf8mb4 throughout is the usual choice), then the index serves the join.";
    "plan_no_usable_key" Medium Plan Rewrite "Candidate indexes not used",
        "The optimizer saw indexes that could apply but chose none: usually a type mismatch, a function on the column or poor selectivity.",
        "Make the predicate sargable or the index selective",
        "Compare bare columns with values of the same type; extend the index with a more selective column.";
    "plan_filesort" Medium Plan Index "Sort in the plan (filesort)",
        "The rows are sorted at run time, after being read, instead of being read in index order.",
        "Index the ORDER BY columns after the equality columns",
        "An index (equality columns, then ORDER BY columns) delivers rows already sorted.";
    "plan_temporary_table" Medium Plan Rewrite "Temporary table in the plan",
        "GROUP BY, DISTINCT or UNION materialize an internal temporary table, which spills to disk when large.",
        "Group by an indexed prefix or reduce the rows first",
        "An index on the GROUP BY columns lets the server group in index order without a temporary table.";
    "plan_nested_loop_rows" High Plan Index "Nested loop over many rows",
        "A nested-loop join repeats its inner side for every outer row; with many outer rows and no index on the inner join column the work multiplies.",
        "Index the inner join column",
        "An index on the inner table's join column makes each repetition a lookup.";
    "plan_sort_spill" High Plan Config "Sort spilled to disk",
        "The sort did not fit in work_mem and was done in temporary files.",
        "Sort less or give the sort more memory",
        "Index the ORDER BY to avoid the sort, reduce the rows first, or raise work_mem for this query (SET LOCAL work_mem).";
    "plan_row_estimate_miss" Medium Plan Config "Planner row estimates off by more than 10x",
        "The planner chose its plan for far fewer (or more) rows than it met; bad estimates lead to bad join orders and methods.",
        "Refresh or extend the statistics",
        "ANALYZE the table; raise the column's statistics target; add extended statistics (CREATE STATISTICS) for correlated columns.";
}

/// The rule with this id; `None` for an id the catalog does not have (a unit test checks that every id
/// the analysis emits is in it, so this is never a silent stand-in for another rule).
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

pub fn exists(id: &str) -> bool {
    RULES.iter().any(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_the_analysis_emits_is_in_the_catalog() {
        // The ids are string literals at the places that emit findings: `push("id"`, `push_with("id"`,
        // `rule: "id"`. Each must name a rule (a typo would otherwise reach users as an unknown rule).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("catalog.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            let compact: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for marker in ["push(\"", "push_with(\"", "rule: \""] {
                for (at, _) in compact.match_indices(marker) {
                    let rest = &compact[at + marker.len()..];
                    let id = &rest[..rest.find('"').expect("closing quote")];
                    if id == "x"
                        || !id
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
                    {
                        continue;
                    }
                    assert!(
                        exists(id),
                        "{}: {id:?} is not in the catalog",
                        path.display()
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen >= 30, "found only {seen} emitted ids");
    }

    #[test]
    fn ids_are_unique_and_texts_present() {
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        assert!(
            RULES
                .iter()
                .filter(|r| r.source == Source::Statement)
                .count()
                >= 25
        );
        for r in RULES {
            assert!(
                !r.title.is_empty() && !r.why.is_empty() && !r.fix.is_empty() && !r.how.is_empty()
            );
        }
    }
}
