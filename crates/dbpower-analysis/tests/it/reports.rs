//! End-to-end reports: what `analyze` says about typical bad queries, with plans, schemas and stats.

use dbpower_analysis::{ClassStats, Input, analyze};
use dbpower_sql::Dialect;
use dbpower_types::{AnalysisReport, RecommendationKind, SchemaSnapshot, Severity};
use serde_json::json;

fn rules(r: &AnalysisReport) -> Vec<&str> {
    let mut v: Vec<&str> = r.issues.iter().map(|i| i.rule_id.as_str()).collect();
    v.sort_unstable();
    v
}

fn ddl(r: &AnalysisReport) -> Vec<&str> {
    r.recommendations
        .iter()
        .filter(|x| x.kind == RecommendationKind::Index)
        .filter_map(|x| x.sql.as_deref())
        .collect()
}

fn shop() -> SchemaSnapshot {
    serde_json::from_value(json!({"tables": [
        {"name": "orders", "schema": "public", "rows": 2_000_000, "columns": [
            {"name": "id", "type": "bigint"}, {"name": "user_id", "type": "bigint"}, {"name": "status", "type": "text"},
            {"name": "created_at", "type": "timestamptz"}],
         "indexes": [{"name": "orders_pkey", "columns": ["id"], "unique": true},
                     {"name": "orders_user_id_idx", "columns": ["user_id", "created_at"]}]},
        {"name": "settings", "rows": 40, "columns": [{"name": "k", "type": "text"}], "indexes": []}
    ]}))
    .expect("schema")
}

#[test]
fn a_typical_bad_query_gets_rules_and_dialect_ddl() {
    let sql = "SELECT * FROM orders WHERE status = 'paid' AND created_at > '2024-01-01' ORDER BY created_at DESC LIMIT 20";
    let my = analyze(&Input::new(sql, Dialect::Mysql));
    assert!(my.parse_ok);
    assert_eq!(rules(&my), vec!["select_star"]);
    assert_eq!(
        ddl(&my),
        vec![
            "ALTER TABLE orders ADD INDEX idx_orders_status_created_at (status, created_at), ALGORITHM=INPLACE, LOCK=NONE;"
        ]
    );
    let pg = analyze(&Input::new(sql, Dialect::Postgresql));
    assert_eq!(
        ddl(&pg),
        vec![
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_status_created_at ON orders (status, created_at);"
        ]
    );
    assert_eq!(pg.engine, vec!["rules"]);
}

#[test]
fn the_schema_decides_whether_an_index_is_missing_or_already_there() {
    let schema = shop();
    let missing = analyze(&Input {
        schema: Some(&schema),
        ..Input::new(
            "SELECT id FROM orders WHERE status = $1",
            Dialect::Postgresql,
        )
    });
    assert_eq!(rules(&missing), vec!["missing_index"]);
    assert_eq!(missing.severity, Severity::High);
    assert_eq!(
        ddl(&missing),
        vec!["CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_status ON orders (status);"]
    );
    // An existing index whose prefix serves the filter (and the ORDER BY): no advice, no finding.
    let served = analyze(&Input {
        schema: Some(&schema),
        ..Input::new(
            "SELECT id FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 10",
            Dialect::Postgresql,
        )
    });
    assert!(served.issues.is_empty(), "{:?}", served.issues);
    assert!(ddl(&served).is_empty());
    // Small tables get no index advice.
    let small = analyze(&Input {
        schema: Some(&schema),
        ..Input::new("SELECT k FROM settings WHERE k = $1", Dialect::Postgresql)
    });
    assert!(ddl(&small).is_empty());
    // Functions on columns get an expression index, not a plain one.
    let func = analyze(&Input::new(
        "SELECT id FROM users WHERE lower(email) = $1",
        Dialect::Postgresql,
    ));
    assert_eq!(rules(&func), vec!["function_on_column"]);
    assert_eq!(
        ddl(&func),
        vec![
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_lower_email ON users ((lower(email)));"
        ]
    );
    // Reserved words are quoted in the DDL.
    let quoted = analyze(&Input::new(
        "SELECT id FROM `order` WHERE `user` = ?",
        Dialect::Mysql,
    ));
    assert_eq!(
        ddl(&quoted),
        vec![
            "ALTER TABLE `order` ADD INDEX idx_order_user (`user`), ALGORITHM=INPLACE, LOCK=NONE;"
        ]
    );
}

#[test]
fn plans_and_measured_impact_shape_the_report() {
    let plan = json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders", "Filter": "(status = 'x')",
        "Plan Rows": 10, "Actual Rows": 12, "Actual Loops": 1, "Rows Removed by Filter": 1999988}}]);
    let stats = ClassStats {
        count: 4_000,
        avg_time_ms: 850.0,
        max_time_ms: 2_000.0,
        rows_examined: Some(8_000_000_000),
        rows_sent: Some(48_000),
        lock_time_ms: None,
        total_time_share: Some(0.4),
    };
    let r = analyze(&Input {
        explain: Some(&plan),
        stats: Some(stats),
        ..Input::new(
            "SELECT id FROM orders WHERE status = $1",
            Dialect::Postgresql,
        )
    });
    assert_eq!(rules(&r), vec!["high_rows_ratio", "plan_full_scan"]);
    assert_eq!(r.severity, Severity::High);
    assert!(
        r.issues
            .iter()
            .any(|i| i.evidence.contains("2000000 rows read")),
        "{:?}",
        r.issues
    );
    assert_eq!(ddl(&r).len(), 1);
    assert!(r.recommendations[0].estimated_impact.contains("full scan"));
    // The same statement, rarely run and fast: the finding stays, the severity drops a step.
    let quiet = analyze(&Input {
        stats: Some(ClassStats {
            count: 5,
            avg_time_ms: 3.0,
            max_time_ms: 4.0,
            ..ClassStats::default()
        }),
        ..Input::new("SELECT * FROM orders WHERE id = $1", Dialect::Postgresql)
    });
    assert_eq!(rules(&quiet), vec!["select_star"]);
    assert_eq!(quiet.severity, Severity::Low);
}

#[test]
fn text_that_does_not_parse_says_so_and_still_gets_token_checks() {
    // pg_stat_statements truncates long statements.
    let r = analyze(&Input::new(
        "SELECT * FROM orders WHERE name LIKE '%x' AND id IN (SELECT id FROM t WHERE",
        Dialect::Postgresql,
    ));
    assert!(!r.parse_ok);
    assert!(r.summary.contains("did not parse"), "{}", r.summary);
    assert_eq!(rules(&r), vec!["leading_wildcard_like", "select_star"]);
    let empty = analyze(&Input::new("", Dialect::Mysql));
    assert!(!empty.parse_ok && empty.issues.is_empty());
    let huge = "SELECT a FROM t WHERE a IN (".to_string() + &"1,".repeat(200_000) + "1)";
    let r = analyze(&Input::new(&huge, Dialect::Mysql));
    assert!(!r.parse_ok, "over the parse limit");
    let deep = "SELECT ".to_string() + &"(".repeat(5_000) + "1" + &")".repeat(5_000);
    assert!(!analyze(&Input::new(&deep, Dialect::Mysql)).parse_ok);
}

#[test]
fn a_whole_table_delete_is_rated_by_the_rows_and_time_it_measured() {
    let sql = "DELETE FROM sessions";
    // Without numbers: what it could do.
    let unmeasured = analyze(&Input::new(sql, Dialect::Postgresql));
    assert_eq!(rules(&unmeasured), vec!["dml_without_where"]);
    assert_eq!(unmeasured.severity, Severity::Critical);
    // A test suite's flush between tests: a few rows in a few milliseconds (PostgreSQL counts the
    // deleted rows as the statement's rows).
    let flush = analyze(&Input {
        stats: Some(ClassStats {
            count: 800,
            avg_time_ms: 1.5,
            max_time_ms: 6.0,
            rows_examined: None,
            rows_sent: Some(800 * 4),
            lock_time_ms: None,
            total_time_share: Some(0.8),
        }),
        ..Input::new(sql, Dialect::Postgresql)
    });
    assert_eq!(rules(&flush), vec!["dml_without_where"]);
    assert_eq!(flush.issues[0].severity, Severity::Low);
    assert_eq!(flush.severity, Severity::Low);
    assert!(
        flush.issues[0]
            .evidence
            .contains("measured: 4 rows and at most 6 ms per execution"),
        "{:?}",
        flush.issues[0]
    );
    // A purge of millions of rows (MySQL counts the rows it read) stays critical.
    let purge = analyze(&Input {
        stats: Some(ClassStats {
            count: 3,
            avg_time_ms: 4_000.0,
            max_time_ms: 5_000.0,
            rows_examined: Some(3 * 2_000_000),
            rows_sent: Some(0),
            lock_time_ms: None,
            total_time_share: None,
        }),
        ..Input::new(sql, Dialect::Mysql)
    });
    assert_eq!(purge.issues[0].severity, Severity::Critical);
    assert_eq!(purge.severity, Severity::Critical);
}

#[test]
fn a_cte_name_gets_no_index_advice() {
    let r = analyze(&Input::new(
        "WITH mine AS (SELECT id, status FROM orders WHERE user_id = $1) SELECT id FROM mine WHERE status = $2",
        Dialect::Postgresql,
    ));
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    assert_eq!(
        ddl(&r),
        vec!["CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_user_id ON orders (user_id);"]
    );
}

/// A filter that keeps 90% of a large table: the plan's full scan is right, so the report says so and
/// proposes no index on the filter (forcing one is slower); the same statement keeping 0.1% of the rows
/// gets the full-scan finding and the index.
#[test]
fn a_full_scan_of_most_rows_is_called_right_and_gets_no_index() {
    let schema = shop();
    let scan = |kept: u64| {
        json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders", "Schema": "public",
            "Filter": "((status)::text <> 'cancelled'::text)", "Plan Rows": kept, "Actual Rows": kept,
            "Actual Loops": 1, "Rows Removed by Filter": 2_000_000 - kept}}])
    };
    let sql = "SELECT id, user_id FROM orders WHERE status = $1";
    let report = |plan: &serde_json::Value| {
        analyze(&Input {
            explain: Some(plan),
            schema: Some(&schema),
            ..Input::new(sql, Dialect::Postgresql)
        })
    };
    let most = report(&scan(1_800_000));
    assert_eq!(
        rules(&most),
        vec!["plan_full_scan_right"],
        "{:?}",
        most.issues
    );
    assert!(
        most.issues[0].evidence.contains("keeps 90%"),
        "{:?}",
        most.issues
    );
    assert!(ddl(&most).is_empty(), "{:?}", most.recommendations);
    assert_eq!(most.severity, Severity::Low);
    let few = report(&scan(2_000));
    assert!(rules(&few).contains(&"plan_full_scan"), "{:?}", few.issues);
    assert!(rules(&few).contains(&"missing_index"), "{:?}", few.issues);
    assert_eq!(ddl(&few).len(), 1, "{:?}", few.recommendations);
    // Without ANALYZE numbers, the planner's estimate against the table's size tells the same.
    let estimated = json!([{"Plan": {"Node Type": "Seq Scan", "Relation Name": "orders",
        "Filter": "(status <> 'x')", "Plan Rows": 1_500_000}}]);
    assert_eq!(rules(&report(&estimated)), vec!["plan_full_scan_right"]);
}

/// The commit class is often the largest by total time: its report says why and what trades it.
#[test]
fn a_costly_commit_class_names_the_settings_that_trade_it() {
    // 120,000 commits of 4.5 ms: 31% of all query time.
    let mut stats = ClassStats::default();
    (stats.count, stats.avg_time_ms, stats.max_time_ms) = (120_000, 4.5, 60.0);
    stats.total_time_share = Some(0.31);
    let mut input = Input::new("COMMIT", Dialect::Postgresql);
    input.stats = Some(stats);
    let r = analyze(&input);
    assert_eq!(rules(&r), vec!["commit_latency"], "{:?}", r.issues);
    assert!(r.severity >= Severity::High, "{:?}", r.severity);
    let config: Vec<&str> = r
        .recommendations
        .iter()
        .filter(|x| x.kind == RecommendationKind::Config)
        .map(|x| x.rationale.as_str())
        .collect();
    assert!(
        config.iter().any(|c| c.contains("synchronous_commit")),
        "{:?}",
        r.recommendations
    );
    assert_ne!(r.summary, "No problems found.");
}

/// An aggregate reads many rows to return one: that ratio is not a finding. The same numbers on a
/// plain SELECT are.
#[test]
fn many_rows_read_per_row_returned_is_no_finding_for_an_aggregate() {
    let mut stats = ClassStats::default();
    (stats.count, stats.avg_time_ms, stats.max_time_ms) = (5_000, 0.4, 3.0);
    (stats.rows_examined, stats.rows_sent) = (Some(500_000), Some(5_000));
    let report = |sql: &str| {
        let mut input = Input::new(sql, Dialect::Mysql);
        input.stats = Some(stats);
        rules(&analyze(&input))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert!(report("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?").is_empty());
    assert!(report("SELECT c, COUNT(*) FROM sbtest1 WHERE id > ? GROUP BY c").is_empty());
    assert_eq!(
        report("SELECT c FROM sbtest1 WHERE k = ?"),
        vec!["high_rows_ratio"]
    );
}

/// Index targets: a correlated subquery's index leads with its correlation key; an OR over columns
/// gets an index for the branch no index serves.
#[test]
fn correlated_keys_lead_and_each_unindexed_or_branch_gets_its_index() {
    let schema = shop();
    let advice = |sql: &str| {
        let mut input = Input::new(sql, Dialect::Postgresql);
        input.schema = Some(&schema);
        ddl(&analyze(&input))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        advice(
            "SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.status = $1 AND o.created_at > u.id)"
        ),
        vec!["CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_status ON orders (status);"],
        "a range on an outer column is not a correlation key"
    );
    let correlated = advice(
        "SELECT o.id FROM orders o WHERE o.total > 0 AND NOT EXISTS (SELECT 1 FROM orders p WHERE p.status = $1 AND p.total = o.id)",
    );
    assert!(
        correlated.contains(
            &"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_total_status ON orders (total, status);"
                .to_string()
        ),
        "{correlated:?}"
    );
    // user_id leads an existing index; status has none.
    assert_eq!(
        advice("SELECT id FROM orders WHERE status = $1 OR user_id = $2"),
        vec!["CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_status ON orders (status);"]
    );
}

/// An aggregate or a range that reads a few more columns gets them in the index (an index-only read);
/// on MySQL/MariaDB the primary key is not repeated (InnoDB's secondary indexes hold it).
#[test]
fn a_range_or_aggregate_reading_few_columns_gets_a_covering_index() {
    let advice = |sql: &str, d: Dialect| {
        let r = analyze(&Input::new(sql, d));
        let rationale = r
            .recommendations
            .iter()
            .find(|x| x.kind == RecommendationKind::Index)
            .map(|x| x.rationale.clone())
            .unwrap_or_default();
        let ddl: Vec<String> = ddl(&r).into_iter().map(String::from).collect();
        (ddl, rationale)
    };
    let (pg, why) = advice(
        "SELECT user_id, count(*) FROM orders WHERE created_at > $1 GROUP BY user_id",
        Dialect::Postgresql,
    );
    assert_eq!(
        pg,
        vec![
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_created_at_user_id ON orders (created_at, user_id);"
        ]
    );
    assert!(why.contains("index-only"), "{why}");
    let (my, _) = advice(
        "SELECT id, status FROM orders WHERE created_at > ?",
        Dialect::Mysql,
    );
    assert_eq!(
        my,
        vec![
            "ALTER TABLE orders ADD INDEX idx_orders_created_at_status (created_at, status), ALGORITHM=INPLACE, LOCK=NONE;"
        ]
    );
    // Every column of the row, or many of them: no covering index.
    let (star, _) = advice(
        "SELECT * FROM orders WHERE created_at > $1",
        Dialect::Postgresql,
    );
    assert_eq!(
        star,
        vec![
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_created_at ON orders (created_at);"
        ]
    );
}

#[test]
fn a_json_key_hint_turns_a_strict_sample_into_an_expression_index() {
    use dbpower_sql::{ScrubLevel, hints, scrub};
    let raw = "SELECT id FROM events WHERE data->>'kind' = 'signup' ORDER BY id LIMIT 50";
    let schema: SchemaSnapshot = serde_json::from_value(json!({"tables": [
        {"name": "events", "rows": 5_000_000, "columns": [
            {"name": "id", "type": "bigint"}, {"name": "data", "type": "jsonb"}],
         "indexes": [{"name": "events_pkey", "columns": ["id"], "unique": true}]}]}))
    .expect("schema");
    let scrubbed = scrub(raw, Dialect::Postgresql, ScrubLevel::Strict);
    assert_eq!(
        scrubbed,
        "SELECT id FROM events WHERE data->>$1 = $2 ORDER BY id LIMIT $3"
    );
    // Without the hint the key is unknown: no DDL with a placeholder in it.
    let bare = analyze(&Input {
        schema: Some(&schema),
        ..Input::new(&scrubbed, Dialect::Postgresql)
    });
    assert!(
        ddl(&bare).iter().all(|d| !d.contains('$')),
        "{:?}",
        ddl(&bare)
    );
    assert!(ddl(&bare).is_empty(), "{:?}", ddl(&bare));
    // With it, the expression index on the key the application reads.
    let h = hints::collect(raw, Dialect::Postgresql);
    let hinted = analyze(&Input {
        schema: Some(&schema),
        hints: Some(&h),
        ..Input::new(&scrubbed, Dialect::Postgresql)
    });
    let proposed = ddl(&hinted);
    assert_eq!(proposed.len(), 1, "{proposed:?}");
    assert!(proposed[0].contains("(data ->> 'kind')"), "{proposed:?}");
    assert!(rules(&hinted).contains(&"function_on_column"), "{hinted:?}");
}
