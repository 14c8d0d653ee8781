//! The sharding plan of docs/SCALING.md against the migrated PostgreSQL schema: every table is listed
//! with a placement, and each primary or unique key that lacks `organization_id` is listed as an
//! exception with what it becomes. A new table, a new key without the column, or an exception that no
//! longer exists fails here (runs when `DBPOWER_TEST_POSTGRES_URL` is set).

use std::collections::{BTreeMap, BTreeSet};

use dbpower_testkit::TestDb;

const SCALING: &str = include_str!("../../../../docs/SCALING.md");

/// `table -> (placement, keys listed without organization_id)` from the doc's table.
fn documented() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let begin = SCALING
        .find("<!-- tables: begin -->")
        .expect("begin marker");
    let end = SCALING.find("<!-- tables: end -->").expect("end marker");
    SCALING[begin..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| table ") && !l.starts_with("|---"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let keys = cells
                .get(2)
                .unwrap_or(&"")
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect();
            (
                cells[0].to_string(),
                (cells.get(1).unwrap_or(&"").to_string(), keys),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_tenant_key_includes_the_organization_or_is_a_documented_exception() {
    let Some(db) = TestDb::postgres_if_set().await else {
        return;
    };
    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND c.relname <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, pg_get_indexdef(ix.indexrelid) \
         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND (ix.indisprimary OR ix.indisunique) \
         AND t.relname <> '_sqlx_migrations' AND NOT t.relispartition",
    )
    .fetch_all(&pool)
    .await
    .expect("keys");
    let mut actual: BTreeMap<String, BTreeSet<String>> = tables
        .into_iter()
        .map(|(t,)| (t, BTreeSet::new()))
        .collect();
    for (table, index, def) in keys {
        // the key's column list (an expression such as COALESCE(organization_id, 0) counts)
        let columns = def.split_once(" USING ").map_or("", |(_, rest)| rest);
        if !columns.contains("organization_id") {
            actual.entry(table).or_default().insert(index);
        }
    }
    let doc = documented();
    for (table, missing) in &actual {
        let Some((placement, listed)) = doc.get(table) else {
            panic!("docs/SCALING.md does not place table {table}");
        };
        assert!(
            ["distributed", "reference", "global"].contains(&placement.as_str()),
            "{table}: placement {placement:?}"
        );
        assert_eq!(
            missing, listed,
            "{table}: keys without organization_id, in the schema (left) and in docs/SCALING.md (right)"
        );
    }
    for table in doc.keys() {
        assert!(
            actual.contains_key(table),
            "docs/SCALING.md lists {table}, which the schema no longer has"
        );
    }
}
