//! Fingerprints and query ids.
//!
//! MySQL follows pt-fingerprint (Percona Toolkit 3.x) rule for rule, in one pass over the bytes instead of
//! a chain of regular expressions, so the query id (last 16 hex digits of MD5(fingerprint), upper case)
//! equals pt-query-digest's and PMM's. Where pt's regular expressions mis-lex (a doubled quote inside a
//! string, a backslash before a closing quote), this lexer is right and the ids differ; see
//! docs/FINGERPRINTS.md.
//!
//! The fingerprint that is stored and shown ([`fingerprint`], [`fingerprint_and_id`]) holds no comment
//! or literal text whatever the input: for MySQL it applies the same rules to the statement as the lexer
//! reads it, with comments dropped and literals emptied (pt's rules alone keep `/*! */` comments, `--`
//! and `#` comments with a quote on their line, and the text after an unterminated quote). The query id
//! is still the MD5 of pt's form ([`exact_fingerprint`]), which is only hashed.
//!
//! PostgreSQL uses the lexer: every constant (strings, numbers, `$n` parameters, booleans and NULL used as
//! values) becomes `?`, so a statement from a log and its `$n` form from pg_stat_statements share one
//! fingerprint; identifiers are lower-cased unless quoted; 2+ digit runs in names are folded (time
//! partitions group together: `events_2024_01` reads `events_0_0`); IN and VALUES lists collapse; spacing is canonical.

mod mysql;
mod postgres;

use md5::{Digest, Md5};

use crate::Dialect;

/// Stored with every fingerprint so a future change of rules can be told apart. Version 2: the stored
/// fingerprint holds no comment or literal text (version 1 kept MySQL `/*! */` comments, comments with a
/// quote on their line and the tail of an unterminated literal); query ids are unchanged.
pub const FINGERPRINT_VERSION: i32 = 2;

/// The fingerprint of a statement, for display and storage. It holds no comment or literal text,
/// whatever the input (see [`fingerprint_and_id`]). Leading and trailing whitespace and a final `;` are
/// ignored.
pub fn fingerprint(sql: &str, dialect: Dialect) -> String {
    let q = trim(sql);
    match dialect {
        Dialect::Mysql => display(mysql::shown(q)),
        Dialect::Postgresql => display(postgres::fingerprint(q, true).0),
    }
}

/// The fingerprint to store and show, and the query id.
///
/// The id is computed on the exact pt-fingerprint output ([`exact_fingerprint`], which keeps a trailing
/// space left by a removed trailing comment), so it equals pt-query-digest's. That text is only hashed:
/// pt's rules keep `/*! */` comments, `--` and `#` comments with a quote on their line and the text
/// after an unterminated quote. The fingerprint returned is [`fingerprint`]: the same rules applied to
/// the statement with every comment dropped and every literal emptied (by the dialect's lexer), without
/// a trailing space or terminator. For PostgreSQL the two differ only when a quoted identifier is left
/// open (the fingerprint then reads it as a constant).
pub fn fingerprint_and_id(sql: &str, dialect: Dialect) -> (String, String) {
    let q = trim(sql);
    match dialect {
        Dialect::Mysql => (display(mysql::shown(q)), query_id(&fingerprint_mysql(q))),
        Dialect::Postgresql => {
            let (shown, changed) = postgres::fingerprint(q, true);
            let id = if changed {
                query_id(&fingerprint_postgres(q))
            } else {
                query_id(&shown)
            };
            (display(shown), id)
        }
    }
}

/// The fingerprint exactly as the query id hashes it. Aggregators key by it and compute [`query_id`]
/// once per class instead of once per event. It may hold comment and literal text (see
/// [`fingerprint_and_id`]): hash it, never store or show it.
pub fn exact_fingerprint(sql: &str, dialect: Dialect) -> String {
    let q = trim(sql);
    match dialect {
        Dialect::Mysql => fingerprint_mysql(q),
        Dialect::Postgresql => fingerprint_postgres(q),
    }
}

fn trim(sql: &str) -> &str {
    sql.trim().trim_end_matches(';').trim_end()
}

fn display(mut exact: String) -> String {
    let keep = exact.trim_end_matches([';', ' ']).len();
    exact.truncate(keep);
    exact
}

/// pt-query-digest's checksum: the last 16 hex digits of MD5(fingerprint), upper case.
pub fn query_id(fingerprint: &str) -> String {
    let digest = Md5::digest(fingerprint.as_bytes());
    let mut out = String::with_capacity(16);
    for byte in &digest[8..] {
        out.push(char::from(b"0123456789ABCDEF"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789ABCDEF"[usize::from(byte & 15)]));
    }
    out
}

pub use mysql::fingerprint_mysql;

/// The PostgreSQL fingerprint the query id hashes (see the module docs).
pub fn fingerprint_postgres(q: &str) -> String {
    postgres::fingerprint(q, false).0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values produced by pt-fingerprint 3.2.1 on the same input.
    const PT_CASES: &[(&str, &str)] = &[
        (
            "SELECT * FROM users_2009 WHERE id = 5 AND name = 'bob' AND t1.col2 = 0xFF",
            "select * from users_? where id = ? and name = ? and t?ol? = ?ff",
        ),
        (
            "select a-b, c - 1, box1 from t where x in (1,2,3) limit 10, 20",
            "select a?, c ? ?, bo? from t where x in(?+) limit ?",
        ),
        (
            "INSERT INTO t (a,b) VALUES (1,'x'),(2,'y') ON DUPLICATE KEY UPDATE a=1",
            "insert into t (a,b) values(?+)",
        ),
        (
            "select a from t union all select a from t order by a ASC, b asc",
            "select a from t /*repeat union all*/ order by a, b",
        ),
        ("CALL foo(1,2)", "call foo"),
        ("use mydb", "use ?"),
        (
            "select * from t where a in (select b from u) and c = -1.5e3",
            "select * from t where a in (select b from u) and c = ?",
        ),
        ("SELECT /*!40001 SQL_NO_CACHE */ * FROM `film`", "mysqldump"),
        (
            "SELECT c FROM t WHERE id IS NULL",
            "select c from t where id is ?",
        ),
        (
            "select  *\n\tfrom   t  where a = \"x\"",
            "select * from t where a = ?",
        ),
    ];

    #[test]
    fn matches_pt_fingerprint() {
        for (input, want) in PT_CASES {
            assert_eq!(fingerprint_mysql(input), *want, "{input}");
        }
    }

    #[test]
    fn query_ids_are_pt_checksums() {
        // pt-query-digest: make_checksum("select ?") = substr(md5_hex, -16), upper case.
        assert_eq!(query_id("select ?"), "16219655761820A2");
        let id = query_id("select * from t where id = ?");
        assert_eq!(id.len(), 16);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
    }

    #[test]
    fn literals_and_list_lengths_share_a_class() {
        let a = fingerprint(
            "SELECT * FROM orders WHERE id IN (1, 2, 3) AND email = 'a@b.com'",
            Dialect::Mysql,
        );
        let b = fingerprint(
            "select * from orders where id in (7) and email = 'x@y.org';",
            Dialect::Mysql,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn postgres_log_text_and_pg_stat_statements_text_agree() {
        let raw = "SELECT * FROM \"Orders\" o WHERE o.id = 42 AND o.status IN ('a', 'b') AND o.total > -5.5 AND o.ts > '2024-01-01'::date /* app */";
        let pss = "SELECT * FROM \"Orders\" o WHERE o.id = $1 AND o.status IN ($2, $3, $4) AND o.total > $5 AND o.ts > $6::date";
        assert_eq!(
            fingerprint(raw, Dialect::Postgresql),
            fingerprint(pss, Dialect::Postgresql)
        );
        assert_eq!(
            fingerprint(pss, Dialect::Postgresql),
            "select * from \"Orders\" o where o.id = ? and o.status in (?+) and o.total > ? and o.ts > ?::date"
        );
        assert_eq!(
            fingerprint("select a - 1 from t", Dialect::Postgresql),
            "select a - ? from t",
            "binary minus stays"
        );
        assert_eq!(
            fingerprint(
                "SELECT * FROM events_2024_01 WHERE x IS NOT NULL AND y = NULL AND z = true",
                Dialect::Postgresql
            ),
            "select * from events_0_0 where x is not null and y = ? and z = ?"
        );
        assert_eq!(
            fingerprint(
                "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
                Dialect::Postgresql
            ),
            "insert into t values (?+)"
        );
        assert_eq!(
            fingerprint("select $body$ x $body$, E'\\n'", Dialect::Postgresql),
            "select ?, ?"
        );
    }
}
