//! The day partitions of `slow_queries` on PostgreSQL (migration 0018): made ahead of time, dropped
//! whole by retention. SQLite has no partitions: both are no-ops there, and its retention deletes rows.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::{DIALECT, Db};
use crate::{DroppedPartition, Result};

/// Partitions are made from the day before `now` to this many days after it.
const DAYS_AHEAD: i32 = 7;

fn partitioned() -> bool {
    DIALECT.backend == "postgres"
}

/// Makes the missing day partitions around `now`: how many it made.
pub(super) async fn maintain(pool: &sqlx::Pool<Db>, now: DateTime<Utc>) -> Result<u64> {
    if !partitioned() {
        return Ok(0);
    }
    let made: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM generate_series(-1, $2) AS k \
         WHERE dbpower_slow_queries_partition((($1::timestamptz AT TIME ZONE 'UTC')::date + k))",
    )
    .bind(now)
    .bind(DAYS_AHEAD)
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(made).unwrap_or(0))
}

/// A partition name as the migration makes them (checked again before it is written into a statement).
fn plain_name(name: &str) -> bool {
    name.starts_with("slow_queries_")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Drops every partition ending at or before `before`, each in its own transaction with the count of
/// rows per organization it held.
pub(super) async fn drop_before(
    pool: &sqlx::Pool<Db>,
    before: DateTime<Utc>,
) -> Result<Vec<DroppedPartition>> {
    if !partitioned() {
        return Ok(Vec::new());
    }
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM dbpower_partitions('slow_queries') WHERE hi <= $1 ORDER BY hi",
    )
    .bind(before)
    .fetch_all(pool)
    .await?;
    let mut dropped = Vec::new();
    for (name,) in names.into_iter().filter(|(n,)| plain_name(n)) {
        let mut tx = pool.begin().await?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT organization_id, count(*) FROM \"{name}\" GROUP BY 1 ORDER BY 1"
        )))
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!("DROP TABLE \"{name}\"")))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(partition = %name, "retention dropped a partition of slow_queries");
        dropped.push(DroppedPartition {
            name,
            rows: rows
                .into_iter()
                .map(|(org, n)| (org, u64::try_from(n).unwrap_or(0)))
                .collect(),
        });
    }
    Ok(dropped)
}
