//! Cost per 2 KB statement of fingerprinting and scrubbing, next to a plain byte copy of the same
//! statement (the in-run baseline).

use criterion::{Criterion, Throughput, black_box};
use dbpower_sql::{Dialect, ScrubLevel, fingerprint, query_id, scrub};

#[path = "support/icount.rs"]
mod bench_icount;
use bench_icount::Case;

/// A realistic ~2 KB statement: joins, IN list, strings with personal data, numbers, a comment.
fn statement() -> String {
    let mut s = String::from(
        "/* app:checkout request_id=8c1f */ SELECT o.id, o.total, c.email, c.name, a.city FROM orders o \
         JOIN customers c ON c.id = o.customer_id LEFT JOIN addresses a ON a.customer_id = c.id \
         WHERE c.email = 'jane.doe@example.com' AND o.created_at >= '2024-01-01 00:00:00' \
         AND o.client_ip = '192.168.10.24' AND o.card = '4532-0151-1283-0366' AND o.status IN (",
    );
    for i in 0..120 {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&(1000 + i * 7).to_string());
    }
    s.push_str(") AND o.note LIKE '%gift%' ");
    while s.len() < 2000 {
        s.push_str("AND o.amount BETWEEN 10.50 AND 999.99 ");
    }
    s.push_str("ORDER BY o.created_at DESC LIMIT 50");
    s
}

/// A ~2 KB statement the structural rules of `pii_only` read: an INSERT with password and API-key
/// columns, JSON documents and e-mails in its rows.
fn secrets_statement() -> String {
    let mut s = String::from(
        "/* job:sync */ INSERT INTO accounts (id, email, password_hash, api_key, profile, note) VALUES ",
    );
    let mut i = 0;
    while s.len() < 1900 {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!(
            "({i}, 'user{i}@example.com', 'x{i}pw', 'key-{i}', \
             '{{\"city\": \"Berlin\", \"phone\": \"+44 20 7946 09{:02}\", \"n\": {i}}}', \
             'order {i} shipped')",
            i % 100
        ));
        i += 1;
    }
    s.push_str(" ON DUPLICATE KEY UPDATE note = VALUES(note)");
    s
}

/// Every measured case by name: criterion times them, and `scripts/bench-icount.sh` runs one of them a
/// fixed number of times under callgrind (`BENCH_ICOUNT=name:iterations`) to count its instructions.
fn cases() -> Vec<Case> {
    let sql = statement();
    let secrets = secrets_statement();
    let s = move |f: fn(&str)| -> Box<dyn Fn()> {
        let sql = sql.clone();
        Box::new(move || f(black_box(&sql)))
    };
    vec![
        ("baseline_copy", s(|q| drop(black_box(q.to_string())))),
        (
            "fingerprint_mysql",
            s(|q| drop(black_box(fingerprint(q, Dialect::Mysql)))),
        ),
        (
            "fingerprint_postgres",
            s(|q| drop(black_box(fingerprint(q, Dialect::Postgresql)))),
        ),
        (
            "query_id",
            Box::new(|| {
                drop(black_box(query_id(black_box(
                    "select * from t where a = ?",
                ))))
            }),
        ),
        (
            "scrub_strict_mysql",
            s(|q| drop(black_box(scrub(q, Dialect::Mysql, ScrubLevel::Strict)))),
        ),
        (
            "scrub_pii_only",
            s(|q| drop(black_box(scrub(q, Dialect::Mysql, ScrubLevel::PiiOnly)))),
        ),
        (
            "scrub_pii_only_secrets",
            Box::new(move || {
                drop(black_box(scrub(
                    black_box(&secrets),
                    Dialect::Mysql,
                    ScrubLevel::PiiOnly,
                )))
            }),
        ),
    ]
}

fn main() {
    let cases = cases();
    if bench_icount::run(&cases) {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("per_2kb_statement");
    g.throughput(Throughput::Bytes(statement().len() as u64));
    for (name, f) in &cases {
        g.bench_function(*name, |b| b.iter(f));
    }
    g.finish();
    c.final_summary();
}
