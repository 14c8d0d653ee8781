//! Upgrading a PostgreSQL database that holds slow queries to the partitioned `slow_queries`
//! (migration 0018): the table is attached whole as the first partition, so every row and id stays,
//! new rows go to their day's partition, the id sequence outlives the old table, and retention drops
//! the old table like any partition.

use chrono::{Duration, Utc};
use dbpower_testkit::{TestDb, execute_on, postgres_server};
use sqlx::Connection;

/// The last migration before `slow_queries` was partitioned.
const BEFORE: i64 = 17;

#[tokio::test]
async fn slow_queries_become_day_partitions_without_losing_a_row() {
    let Some(server) = postgres_server() else {
        return;
    };
    let db = TestDb::empty_postgres(&server).await;
    let url = db.url().to_string();
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::migrate!("./migrations/postgres")
        .run_to(BEFORE, &mut conn)
        .await
        .expect("the old schema");
    conn.close().await.expect("close");
    let mut seed = String::from(
        "INSERT INTO organizations (name, settings, retention_days, created_at, updated_at) \
         VALUES ('Acme', '{}', 90, now(), now());
         INSERT INTO query_classes (organization_id, database_type, query_id, fingerprint, \
         fingerprint_version, sample_sql, first_seen, last_seen) \
         VALUES (1, 'mysql', 'q1', 'select ? from t', 1, 'SELECT 1 FROM t', now(), now());",
    );
    for ago in [3, 3, 1, 0] {
        seed.push_str(&format!(
            "INSERT INTO slow_queries (organization_id, class_id, query_id, sql_text, database_type, \
             execution_time_ms, observed_at, created_at) \
             VALUES (1, 1, 'q1', 'SELECT 1 FROM t', 'mysql', 5, now() - interval '{ago} days', now());"
        ));
    }
    execute_on(&url, &seed)
        .await
        .expect("rows of the old schema");

    let store = dbpower_store::connect(&url).await.expect("open");
    store.migrate().await.expect("upgrade");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let kind: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = 'slow_queries'")
            .fetch_one(&pool)
            .await
            .expect("kind");
    assert_eq!(kind, "p", "partitioned");
    let ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, tableoid::regclass::text FROM slow_queries ORDER BY id")
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert_eq!(
        ids,
        (1..=4)
            .map(|id| (id, "slow_queries_legacy".to_string()))
            .collect::<Vec<_>>(),
        "every row kept, in the old table attached as a partition"
    );
    let tomorrow = (Utc::now() + Duration::days(1)).date_naive();
    let legacy_hi: chrono::DateTime<Utc> = sqlx::query_scalar(
        "SELECT hi FROM dbpower_partitions('slow_queries') WHERE name = 'slow_queries_legacy'",
    )
    .fetch_one(&pool)
    .await
    .expect("bounds");
    assert_eq!(
        legacy_hi.date_naive(),
        tomorrow,
        "up to the end of its newest row's day"
    );

    // new rows: their day's partition, ids after the old ones
    let ahead = Utc::now() + Duration::days(2);
    let insert = "INSERT INTO slow_queries (organization_id, class_id, query_id, sql_text, \
                  database_type, execution_time_ms, observed_at, created_at) \
                  VALUES (1, 1, 'q1', 'SELECT 1 FROM t', 'mysql', 5, $1, now()) \
                  RETURNING id, tableoid::regclass::text";
    let (id, part): (i64, String) = sqlx::query_as(insert)
        .bind(ahead)
        .fetch_one(&pool)
        .await
        .expect("a new row");
    assert_eq!(id, 5);
    assert_eq!(part, format!("slow_queries_{}", ahead.format("%Y%m%d")));

    // retention drops the old table like any partition, and the sequence lives on
    let dropped = store
        .drop_slow_query_partitions(legacy_hi)
        .await
        .expect("drop");
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(
        (dropped[0].name.as_str(), dropped[0].rows.clone()),
        ("slow_queries_legacy", vec![(1, 4)])
    );
    let (id, _): (i64, String) = sqlx::query_as(insert)
        .bind(ahead)
        .fetch_one(&pool)
        .await
        .expect("a row after the old table is gone");
    assert_eq!(id, 6);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM slow_queries")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 2);
    assert_eq!(
        store
            .maintain_partitions(Utc::now())
            .await
            .expect("maintain"),
        2,
        "yesterday and today, which the old table covered, are made now"
    );
    pool.close().await;
}
