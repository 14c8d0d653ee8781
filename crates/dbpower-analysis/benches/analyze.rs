//! Analyses per second on ~2 KB statements: rules only, rules with a schema snapshot, and rules with an
//! EXPLAIN plan, next to fingerprinting the same statement (the in-run baseline: the per-statement
//! cost ingestion already pays).

use criterion::{Criterion, Throughput, black_box};
use dbpower_analysis::{Input, analyze};
use dbpower_sql::{Dialect, fingerprint};
use dbpower_types::SchemaSnapshot;
use serde_json::json;

#[path = "../../dbpower-sql/benches/support/icount.rs"]
mod bench_icount;
use bench_icount::Case;

/// A realistic ~2 KB reporting statement: joins, a correlated subquery, an IN list, functions, ORDER BY.
fn statement() -> String {
    let mut s = String::from(
        "SELECT o.id, o.total, c.email, c.name, a.city, (SELECT COUNT(*) FROM order_items i WHERE i.order_id = o.id) AS items \
         FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN addresses a ON a.customer_id = c.id \
         WHERE LOWER(c.email) = ? AND o.created_at >= ? AND o.status IN (",
    );
    for i in 0..60 {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s.push_str(") AND o.note LIKE '%?' ");
    while s.len() < 1950 {
        s.push_str("AND o.amount BETWEEN ? AND ? ");
    }
    s.push_str("ORDER BY o.created_at DESC LIMIT 50");
    s
}

/// Every measured case by name: criterion times them, and `scripts/bench-icount.sh` runs one of them a
/// fixed number of times under callgrind to count its instructions.
fn cases() -> Vec<Case> {
    let sql = statement();
    let schema: SchemaSnapshot = serde_json::from_value(json!({"tables": [
        {"name": "orders", "rows": 5000000, "columns": [{"name": "id", "type": "bigint"}, {"name": "customer_id", "type": "bigint"},
            {"name": "status", "type": "varchar(16)"}, {"name": "created_at", "type": "datetime"}, {"name": "amount", "type": "decimal(10,2)"}],
         "indexes": [{"name": "PRIMARY", "columns": ["id"]}, {"name": "idx_customer", "columns": ["customer_id"]}]},
        {"name": "customers", "rows": 800000, "columns": [{"name": "id", "type": "bigint"}, {"name": "email", "type": "varchar(255)"}],
         "indexes": [{"name": "PRIMARY", "columns": ["id"]}]},
        {"name": "addresses", "rows": 900000, "columns": [{"name": "customer_id", "type": "bigint"}], "indexes": []}
    ]}))
    .expect("schema");
    let plan = json!({"query_block": {"select_id": 1, "ordering_operation": {"using_filesort": true, "nested_loop": [
        {"table": {"table_name": "c", "access_type": "ALL", "rows_examined_per_scan": 800000, "attached_condition": "(lower(c.email) = ?)"}},
        {"table": {"table_name": "o", "access_type": "ref", "key": "idx_customer", "possible_keys": ["idx_customer"], "rows_examined_per_scan": 12}},
        {"table": {"table_name": "a", "access_type": "ALL", "rows_examined_per_scan": 900000}}]}}});
    let rules =
        |schema: Option<SchemaSnapshot>, explain: Option<serde_json::Value>| -> Box<dyn Fn()> {
            let sql = sql.clone();
            Box::new(move || {
                black_box(analyze(&Input {
                    schema: schema.as_ref(),
                    explain: explain.as_ref(),
                    ..Input::new(black_box(&sql), Dialect::Mysql)
                }));
            })
        };
    vec![
        ("baseline_fingerprint", {
            let sql = sql.clone();
            Box::new(move || drop(black_box(fingerprint(black_box(&sql), Dialect::Mysql))))
        }),
        ("rules", rules(None, None)),
        ("rules_with_schema", rules(Some(schema.clone()), None)),
        (
            "rules_with_plan_and_schema",
            rules(Some(schema), Some(plan)),
        ),
    ]
}

fn main() {
    let cases = cases();
    if bench_icount::run(&cases) {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("analysis_per_2kb_statement");
    g.throughput(Throughput::Elements(1));
    for (name, f) in &cases {
        g.bench_function(*name, |b| b.iter(f));
    }
    g.finish();
    c.final_summary();
}
