//! Demo data for a new development database: a realistic slow-query workload (about 300 queries in 20
//! classes, MySQL and PostgreSQL, spread over the last 7 days) sent through the same ingestion path as
//! an agent's (scrubbing, fingerprints, classes, rollups, analysis queue). Never in production.

use chrono::{DateTime, Duration, DurationRound, Utc};
use dbpower_core::OrgId;
use dbpower_store::NewApiKey;
use dbpower_types::{DatabaseType, SlowQueryIn};

use crate::secrets::random_hex;
use crate::state::AppState;

/// (dialect, statement with `{n}` and `{s}` holes, typical milliseconds, rows examined, rows sent)
const WORKLOAD: &[(DatabaseType, &str, f64, i64, i64)] = &[
    (
        DatabaseType::Mysql,
        "SELECT * FROM orders WHERE customer_email = 'user{n}@example.com' ORDER BY created_at DESC",
        850.0,
        480_000,
        12,
    ),
    (
        DatabaseType::Mysql,
        "SELECT id, total FROM orders WHERE YEAR(created_at) = 2024 AND status = '{s}'",
        1900.0,
        1_200_000,
        800,
    ),
    (
        DatabaseType::Mysql,
        "UPDATE inventory SET reserved = reserved + {n} WHERE sku = 'SKU-{n}'",
        120.0,
        1,
        0,
    ),
    (
        DatabaseType::Mysql,
        "SELECT p.id, p.name FROM products p WHERE p.id IN ({n}, {n}, {n}) AND p.active = 1",
        45.0,
        3,
        3,
    ),
    (
        DatabaseType::Mysql,
        "SELECT * FROM sessions WHERE last_seen < NOW() - INTERVAL {n} MINUTE",
        640.0,
        900_000,
        3000,
    ),
    (
        DatabaseType::Mysql,
        "DELETE FROM audit_trail",
        15000.0,
        5_000_000,
        0,
    ),
    (
        DatabaseType::Mysql,
        "SELECT id FROM banners ORDER BY RAND() LIMIT 1",
        310.0,
        40_000,
        1,
    ),
    (
        DatabaseType::Mysql,
        "SELECT c.id, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) FROM customers c WHERE c.region = '{s}'",
        2600.0,
        3_000_000,
        400,
    ),
    (
        DatabaseType::Mysql,
        "SELECT * FROM payments WHERE card_number = '4532-0151-1283-0366' AND amount > {n}",
        95.0,
        20_000,
        1,
    ),
    (
        DatabaseType::Mysql,
        "SELECT u.id FROM users u WHERE u.id NOT IN (SELECT user_id FROM bans) AND u.ip = '10.0.{n}.7'",
        420.0,
        250_000,
        50,
    ),
    (
        DatabaseType::Postgresql,
        "SELECT * FROM events WHERE payload->>'user' = 'user{n}@example.org' AND created_at > now() - interval '{n} days'",
        1250.0,
        2_000_000,
        30,
    ),
    (
        DatabaseType::Postgresql,
        "SELECT id, name FROM accounts WHERE lower(email) = 'ann{n}@corp.example'",
        380.0,
        600_000,
        1,
    ),
    (
        DatabaseType::Postgresql,
        "UPDATE jobs SET state = 'running', locked_at = now() WHERE id = {n}",
        60.0,
        1,
        0,
    ),
    (
        DatabaseType::Postgresql,
        "SELECT a.id, b.total FROM invoices a JOIN invoice_lines b ON b.invoice_id = a.id WHERE a.tenant_id = {n}",
        700.0,
        450_000,
        900,
    ),
    (
        DatabaseType::Postgresql,
        "SELECT * FROM metrics WHERE host = '192.168.{n}.20' ORDER BY ts DESC LIMIT 100 OFFSET {n}000",
        980.0,
        1_500_000,
        100,
    ),
    (
        DatabaseType::Postgresql,
        "SELECT count(*) FROM page_views WHERE site_id = {n}",
        2200.0,
        8_000_000,
        1,
    ),
    (
        DatabaseType::Postgresql,
        "INSERT INTO audit (actor, action, at) VALUES ('svc-{n}', 'login', now())",
        35.0,
        0,
        0,
    ),
    (
        DatabaseType::Postgresql,
        "SELECT o.id FROM orders o WHERE o.status IN ('new', 'paid') AND o.amount BETWEEN {n} AND {n}00",
        150.0,
        80_000,
        2000,
    ),
    (
        DatabaseType::Postgresql,
        "DELETE FROM carts WHERE updated_at < now() - interval '{n} days'",
        4100.0,
        3_500_000,
        0,
    ),
    (
        DatabaseType::Postgresql,
        "SELECT * FROM customers WHERE phone = '+1 415 555 {n}{n}{n}{n}'",
        510.0,
        700_000,
        1,
    ),
];

/// Seeds the demo organization; returns how many slow queries were stored.
pub(crate) async fn seed(state: &AppState, org_id: i64) -> anyhow::Result<usize> {
    let org = OrgId::from_credential(org_id);
    let secret = format!("dbps_{}", random_hex(32));
    let key = state
        .store
        .insert_api_key(
            org,
            &NewApiKey {
                key_id: format!("dbpk_{}", random_hex(12)),
                name: "demo-agent".into(),
                secret_ciphertext: state.cipher.encrypt(&secret)?,
                team_id: None,
                identity_id: None,
                created_by: None,
            },
        )
        .await?;
    let now = Utc::now();
    let statuses = ["paid", "new", "shipped", "refunded"];
    let mut items = Vec::new();
    let mut n: u64 = 7;
    for day in 0..7i64 {
        for (k, (db, template, ms, examined, sent)) in WORKLOAD.iter().enumerate() {
            // A few classes are frequent, most are occasional: 1..=4 executions a day each.
            let per_day = 1 + (k + day as usize) % 4 - usize::from(k % 5 == 4);
            for j in 0..per_day {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let jitter = 0.6 + ((n >> 33) % 90) as f64 / 100.0;
                let sql = template
                    .replace("{n}", &((n >> 40) % 97 + 1).to_string())
                    .replace("{s}", statuses[(n as usize >> 7) % 4]);
                let at = demo_time(now, day, (n >> 20) + j as u64);
                items.push(SlowQueryIn {
                    sql_text: sql,
                    execution_time_ms: (ms * jitter * 100.0).round() / 100.0,
                    database_type: *db,
                    database_name: Some(if *db == DatabaseType::Mysql {
                        "shop".into()
                    } else {
                        "analytics".into()
                    }),
                    user: Some("app".into()),
                    client_host: Some(format!("10.1.0.{}", (n >> 50) % 200)),
                    rows_examined: Some((*examined as f64 * jitter) as i64),
                    rows_sent: Some(*sent),
                    rows_affected: None,
                    lock_time_ms: Some(if k == 2 { 1500.0 * jitter } else { 0.2 }),
                    calls: Some(1),
                    observed_at: Some(at),
                    explain: None,
                    schema: None,
                    source: Some("demo".into()),
                    sample_only: false,
                    hints: None,
                });
            }
        }
    }
    let total = items.len();
    let settings = dbpower_types::OrgSettings::default();
    for (i, chunk) in items.chunks(100).enumerate() {
        crate::routes::ingest::accept(
            state,
            &key,
            &settings,
            &format!("demo-seed-{i}"),
            chunk.to_vec(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("seeding demo data: {e}"))?;
    }
    Ok(total)
}

/// A time inside the UTC calendar day `day` days before `now`'s, picked by `r`: today's only up to now,
/// so that every day of the dashboard's week has data whenever the demo is made (just after midnight
/// too).
fn demo_time(now: DateTime<Utc>, day: i64, r: u64) -> DateTime<Utc> {
    let midnight = now.duration_trunc(Duration::days(1)).unwrap_or(now);
    let span = match day {
        0 => (now - midnight).num_minutes().max(1),
        _ => 24 * 60,
    };
    let minute = i64::try_from(r % span.unsigned_abs()).unwrap_or(0);
    (midnight - Duration::days(day) + Duration::minutes(minute)).min(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_day_falls_inside_its_calendar_day_even_just_after_midnight() {
        for now in [
            "2026-12-07T00:01:30Z",
            "2026-12-07T13:45:00Z",
            "2026-12-07T23:59:59Z",
        ] {
            let now: DateTime<Utc> = now.parse().expect("time");
            let today = now.date_naive();
            for day in 0..7 {
                for r in [0, 1, 59, 61, 1439, 1440, 99_999, u64::MAX] {
                    let at = demo_time(now, day, r);
                    assert_eq!(
                        at.date_naive(),
                        today - Duration::days(day),
                        "{now} {day} {r}"
                    );
                    assert!(at <= now, "{now} {day} {r}: {at}");
                }
            }
        }
    }
}
