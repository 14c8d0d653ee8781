//! Agreement with Percona Toolkit's pt-fingerprint, the reference for MySQL query ids. Runs when
//! `DBPOWER_TEST_PT_FINGERPRINT` names the pt-fingerprint executable (CI installs Debian's
//! percona-toolkit); a set but missing executable fails.

use dbpower_sql::fingerprint::fingerprint_mysql;
use dbpower_sql::{Dialect, ScrubLevel, fingerprint_and_id, query_id, scrub};

/// Statements pt-fingerprint and this crate must fingerprint identically.
const AGREE: &[&str] = &[
    "SELECT * FROM users WHERE id = 42",
    "select * from users_2009 where created_at > '2009-01-01' and name = \"bob\"",
    "SELECT a, b FROM t1 JOIN t2 ON t1.id = t2.t1_id WHERE t2.x IN (1, 2, 3, 4) ORDER BY a ASC, b DESC LIMIT 10",
    "SELECT * FROM t LIMIT 5 OFFSET 10",
    "INSERT INTO log (a, b, c) VALUES (1, 'two', 3.0), (4, 'five', 6.0), (7, 'eight', 9.0)",
    "INSERT IGNORE INTO t (a) VALUES (1)",
    "REPLACE INTO t (a, b) VALUES (1, 2), (3, 4)",
    "UPDATE accounts SET balance = balance - 100.50, updated = NOW() WHERE id = 7",
    "DELETE FROM sessions WHERE expires < 1700000000 AND user_id = -1",
    "SELECT COUNT(*) FROM orders WHERE status = 'paid' AND total > 0x1F",
    "select col from t where a = 1 and b is null and c = NULL",
    "SELECT /* comment */ 1 FROM dual -- trailing",
    "SELECT 1 # hash comment\nFROM dual",
    "select a from t union select a from t union select a from t",
    "select a from t where x = 1 union all select b from u where y = 2",
    "CALL update_stats(1, 'x')",
    "use shop",
    "USE `shop_2024`",
    "SELECT SQL_NO_CACHE * FROM `db`.`tbl` WHERE `col1` = 'v'",
    "SELECT * FROM t WHERE a LIKE 'abc%' AND b NOT IN ('x','y') AND c BETWEEN 1 AND 10",
    "SELECT DATE_FORMAT(ts, '%Y-%m') m, SUM(amount) FROM payments GROUP BY m HAVING SUM(amount) > 1e6",
    "administrator command: Ping",
    "select * from t where a = 'it\\'s' and b = \"say \\\"hi\\\"\"",
    "SELECT /*!40001 SQL_NO_CACHE */ * FROM `film`",
    "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v IN (5,6))",
    "select * from t where x in ( 1 , 2 ) and y in()",
    "SELECT\n  a,\n  b\nFROM\n  t\nWHERE\n  c = 1",
    "SELECT ascii(a) FROM t ORDER BY a ASC",
    "select * from t where box1 = 1 and tab2b = 2 and t.3 = 4",
    "INSERT INTO t VALUES (1, NOW()), (2, NOW())",
    "SELECT `is_null`, `nullable` FROM t WHERE `x` = NULL",
    "SELECT `null_count`, `a b` FROM `nulls` WHERE `a\"b` = 1",
];

fn pt_fingerprint(exe: &str, query: &str) -> String {
    let out = std::process::Command::new(exe)
        .arg("--query")
        .arg(query)
        .output()
        .expect("DBPOWER_TEST_PT_FINGERPRINT is set but cannot be run");
    // pt-fingerprint 3.2 exits 1 even when it prints a fingerprint; judge by its output.
    assert!(
        !out.stdout.is_empty(),
        "pt-fingerprint printed nothing for {query:?}"
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

#[test]
fn agrees_with_pt_fingerprint() {
    let Ok(exe) = std::env::var("DBPOWER_TEST_PT_FINGERPRINT") else {
        return;
    };
    let mut mismatches = Vec::new();
    for q in AGREE {
        // Exact, trailing space included: the query id is the MD5 of this text.
        let want = pt_fingerprint(&exe, q);
        let got = fingerprint_mysql(q);
        if got != want {
            mismatches.push(format!("{q:?}\n   pt: {want:?}\n  ours: {got:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        AGREE.len(),
        mismatches.join("\n")
    );
}

#[test]
fn documented_differences_are_where_pt_mislexes() {
    // pt's `'.*?'` splits a string with a doubled quote into two; the lexer keeps one literal.
    assert_eq!(fingerprint_mysql("select 'it''s'"), "select ?");
    let Ok(exe) = std::env::var("DBPOWER_TEST_PT_FINGERPRINT") else {
        return;
    };
    assert_eq!(pt_fingerprint(&exe, "select 'it''s'"), "select ??");
    // Inside backticks the lexer reads a name; pt's regular expressions read the word `null` and a
    // double-quoted run there as values, and pair a quote inside a name with the next string.
    for (q, ours, pt) in [
        (
            "SELECT `null` FROM t WHERE `a` = 1",
            "select `null` from t where `a` = ?",
            "select `?` from t where `a` = ?",
        ),
        (
            "SELECT * FROM `my \"quoted\" table` WHERE id = 5",
            "select * from `my \"quoted\" table` where id = ?",
            "select * from `my ? table` where id = ?",
        ),
        // pt-query-digest reads `true` and `false` as values (its `fingerprint`); pt-fingerprint of the
        // same release does not. The ids follow pt-query-digest, whose report users compare with.
        (
            "select col from t where a = true and b is not FALSE",
            "select col from t where a = ? and b is not ?",
            "select col from t where a = true and b is not false",
        ),
        (
            "SELECT a FROM t WHERE `x'y` = 'z'",
            "select a from t where `x'y` = ?",
            "select a from t where `?z'",
        ),
    ] {
        assert_eq!(fingerprint_mysql(q), ours, "{q}");
        assert_eq!(pt_fingerprint(&exe, q), pt, "{q}");
    }
}

/// Statements whose strictly scrubbed text must keep pt's id: the agent ships the scrubbed text and the
/// platform computes the id from it.
const SCRUBBED_AGREE: &[&str] = &[
    "UPDATE t SET k=k+1 WHERE id=5",
    "UPDATE counters SET hits = hits + 1, misses=misses-2 WHERE id = 7",
    "UPDATE accounts SET balance=balance-100.50 WHERE owner='ann@example.com'",
    "SELECT * FROM t WHERE x = -1 AND y=-7 AND z = +3",
    "SELECT * FROM t WHERE a IN (-1, -2, 3) AND b BETWEEN -10 AND 10",
    "SELECT a, b, count(*) FROM t WHERE c = 'x' GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 10",
    "SELECT a FROM t ORDER BY 1",
    "CREATE TABLE t (id int(11) NOT NULL AUTO_INCREMENT, b varchar(255) NOT NULL DEFAULT '', c datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, d int NOT NULL DEFAULT -1, e decimal(10,2) DEFAULT '0.00', PRIMARY KEY (id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "ALTER TABLE t MODIFY c varchar(64) NOT NULL DEFAULT 'x'",
    "INSERT INTO t (a, b) VALUES (-1, 'x'), (2, 'y')",
    "SELECT * FROM t LIMIT 10, 20",
    "SELECT DATE_SUB(NOW(), INTERVAL 1 DAY), a+1, a - 1 FROM t",
    "select * from users_2009 where created_at > '2009-01-01' and score >= 0.5",
];

#[test]
fn strict_scrubbing_keeps_pt_query_digest_ids() {
    // Without pt: the scrubbed text keeps the raw text's id.
    for q in SCRUBBED_AGREE {
        let scrubbed = scrub(q, Dialect::Mysql, ScrubLevel::Strict);
        assert_eq!(
            fingerprint_and_id(&scrubbed, Dialect::Mysql).1,
            fingerprint_and_id(q, Dialect::Mysql).1,
            "{q}\n  scrubbed: {scrubbed}"
        );
    }
    let Ok(exe) = std::env::var("DBPOWER_TEST_PT_FINGERPRINT") else {
        return;
    };
    let mut mismatches = Vec::new();
    for q in SCRUBBED_AGREE {
        let scrubbed = scrub(q, Dialect::Mysql, ScrubLevel::Strict);
        let want = pt_fingerprint(&exe, q);
        let (_, id) = fingerprint_and_id(&scrubbed, Dialect::Mysql);
        if id != query_id(&want) {
            mismatches.push(format!(
                "{q:?}\n   scrubbed: {scrubbed:?}\n   pt: {want:?}\n   ours: {:?}",
                fingerprint_mysql(&scrubbed)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} scrubbed statements change pt's id:\n{}",
        mismatches.len(),
        SCRUBBED_AGREE.len(),
        mismatches.join("\n")
    );
}
