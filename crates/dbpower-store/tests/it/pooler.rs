//! The store through PgBouncer in transaction pooling mode (`DBPOWER_TEST_POSTGRES_POOLER_URL`, set by
//! `.ci/run` to a PgBouncer 1.18 it starts; skipped when unset). PgBouncer gives a client's next
//! transaction to whichever server connection is free, so a statement prepared in one round trip and
//! executed in the next may run elsewhere. The pool has far more clients than server connections here.

use std::sync::Arc;

use dbpower_testkit::TestDb;
use sqlx::postgres::PgPoolOptions;

/// `tasks` clients at once each run `rounds` statements whose answer depends on their own arguments
/// (and some transactions); the errors and wrong answers they saw.
async fn hammer(url: &str, tasks: usize, rounds: usize) -> (usize, usize) {
    let pool = Arc::new(
        PgPoolOptions::new()
            .max_connections(u32::try_from(tasks).unwrap_or(64))
            .connect(url)
            .await
            .expect("connect through the pooler"),
    );
    let mut handles = Vec::new();
    for t in 0..tasks {
        let pool = pool.clone();
        handles.push(tokio::spawn(async move {
            let (mut errors, mut wrong) = (0, 0);
            for r in 0..rounds {
                let n = i64::try_from(t * 100_000 + r).unwrap_or(0);
                let sql = if t % 2 == 0 {
                    "SELECT $1::bigint * 2, $2::text"
                } else {
                    "SELECT $1::bigint * 2, $2::text || ''"
                };
                let got = if r % 10 == 0 {
                    async {
                        let mut tx = pool.begin().await?;
                        let row: (i64, String) = sqlx::query_as(sql)
                            .bind(n)
                            .bind(format!("t{t}"))
                            .fetch_one(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        Ok::<_, sqlx::Error>(row)
                    }
                    .await
                } else {
                    sqlx::query_as(sql)
                        .bind(n)
                        .bind(format!("t{t}"))
                        .fetch_one(&*pool)
                        .await
                };
                match got {
                    Ok((v, s)) if v == n * 2 && s == format!("t{t}") => {}
                    Ok(_) => wrong += 1,
                    Err(_) => errors += 1,
                }
            }
            (errors, wrong)
        }));
    }
    let mut total = (0, 0);
    for h in handles {
        let (e, w) = h.await.expect("task");
        total = (total.0 + e, total.1 + w);
    }
    pool.close().await;
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_through_pgbouncer_in_transaction_mode() {
    let Ok(pooler) = std::env::var(dbpower_testkit::POOLER) else {
        println!("skipping: {} is not set", dbpower_testkit::POOLER);
        return;
    };
    let db = TestDb::postgres_if_set()
        .await
        .expect("DBPOWER_TEST_POSTGRES_URL is set with the pooler's");
    let root = pooler.split('?').next().unwrap_or_default();
    let root = &root[..root.rfind('/').unwrap_or(root.len())];
    assert!(
        db.url().starts_with(root) && db.url().contains("statement-cache-capacity=0"),
        "the platform's database is reached through the pooler: {}",
        db.url()
    );
    // the migrated store answers through it (its migrations ran through it too)
    assert!(db.store().ping().await.is_ok());
    assert_eq!(
        hammer(db.url(), 48, 150).await,
        (0, 0),
        "one round trip per statement: no error, no crossed answer"
    );
    // the control: the driver's default (named statements, cached per client connection) breaks
    let named = db
        .url()
        .replace("statement-cache-capacity=0", "statement-cache-capacity=100");
    let (errors, wrong) = hammer(&named, 48, 150).await;
    assert!(
        errors + wrong > 0,
        "named statements through transaction pooling should fail somewhere; the pooler is not in transaction mode?"
    );
}
