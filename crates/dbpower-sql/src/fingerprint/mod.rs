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
//! values, and the keywords the parser makes constants of) becomes `?`, with a unary minus before it, so a statement from a log and its `$n` form from pg_stat_statements share one
//! fingerprint; identifiers are lower-cased unless quoted; 2+ digit runs in names are folded (time
//! partitions group together: `events_2024_01` reads `events_0_0`); IN and VALUES lists collapse; spacing is canonical.

mod digest_key;
mod mysql;
mod postgres;

pub use digest_key::digest_key;

use md5::{Digest, Md5};

use crate::Dialect;

/// Stored with every fingerprint so a future change of rules can be told apart. Version 2: the stored
/// fingerprint holds no comment or literal text (version 1 kept MySQL `/*! */` comments, comments with a
/// quote on their line and the tail of an unterminated literal); query ids are unchanged. Version 3:
/// PostgreSQL reads what pg_stat_statements makes parameters (a unary minus before any constant, the
/// `EXTRACT` field, normal forms, `LIMIT ALL`) as constants, and a MySQL `?` glued to signs is one number
/// (as pt reads the literal strict scrubbing replaced), so some ids changed. Version 4: MySQL `TRUE` and
/// `FALSE` are values, as pt-query-digest reads them, so the ids of statements holding them changed.
pub const FINGERPRINT_VERSION: i32 = 4;

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

    /// pg_stat_statements writes `$n` for constants the parser makes of keywords and for signed
    /// numbers; the log has the keyword or the literal. Both read the same (the real server is checked
    /// in crates/dbpower/tests/it/pgss.rs).
    #[test]
    fn postgres_keyword_constants_and_signs_read_as_pg_stat_statements_writes_them() {
        let pg = |s: &str| fingerprint_and_id(s, Dialect::Postgresql);
        for (log, pss) in [
            (
                "SELECT extract(year FROM d) FROM t",
                "SELECT extract($1 FROM d) FROM t",
            ),
            (
                "SELECT EXTRACT('epoch' FROM d) FROM t",
                "SELECT EXTRACT($1 FROM d) FROM t",
            ),
            (
                "UPDATE a SET b = b + -1234 WHERE id = 5",
                "UPDATE a SET b = b + $1 WHERE id = $2",
            ),
            ("SELECT -5::int, - 5, -'5'", "SELECT -$1::int, $2, -$3"),
            (
                "SELECT normalize(s, NFC) FROM t",
                "SELECT normalize(s, $1) FROM t",
            ),
            (
                "SELECT s IS NFKD NORMALIZED FROM t",
                "SELECT s IS $1 NORMALIZED FROM t",
            ),
            ("SELECT * FROM t LIMIT ALL", "SELECT * FROM t LIMIT $1"),
            (
                "SELECT substring(s FROM -1 FOR 2) FROM t",
                "SELECT substring(s FROM $1 FOR $2) FROM t",
            ),
            (
                "SELECT now() - interval '1 day', date '2024-01-01'",
                "SELECT now() - interval $1, date $2",
            ),
        ] {
            assert_eq!(pg(log), pg(pss), "{log}");
        }
        assert_eq!(
            fingerprint(
                "SELECT extract(year FROM d), a - 1, (b) - 2 FROM t",
                Dialect::Postgresql
            ),
            "select extract (? from d), a - ?, (b) - ? from t",
            "a binary minus stays"
        );
        assert_eq!(
            fingerprint("SELECT nfc, all_rows FROM t", Dialect::Postgresql),
            "select nfc, all_rows from t",
            "only in their places are they constants"
        );
    }

    /// Strict scrubbing must not move a statement to another class: the id of the scrubbed text is the
    /// id of the statement (for MySQL, pt-query-digest's).
    #[test]
    fn scrubbing_keeps_the_query_id() {
        use crate::{ScrubLevel, scrub};
        for (sql, d) in [
            ("UPDATE t SET k=k+1 WHERE id=5", Dialect::Mysql),
            (
                "UPDATE t SET k = k - 1, m=m-2.5 WHERE x = -1 AND y=-7",
                Dialect::Mysql,
            ),
            (
                "SELECT a, count(*) FROM t GROUP BY 1, 2 ORDER BY 1 DESC",
                Dialect::Mysql,
            ),
            (
                "CREATE TABLE t (a int(11) NOT NULL DEFAULT -1, b varchar(255) NOT NULL DEFAULT '')",
                Dialect::Mysql,
            ),
            ("UPDATE t SET k=k+1 WHERE id=-5", Dialect::Postgresql),
            (
                "SELECT a, count(*) FROM t GROUP BY 1, 2 ORDER BY 1",
                Dialect::Postgresql,
            ),
            (
                "SELECT -5::int, x - -2 FROM t WHERE d > date '2024-01-01'",
                Dialect::Postgresql,
            ),
        ] {
            let scrubbed = scrub(sql, d, ScrubLevel::Strict);
            assert_eq!(
                fingerprint_and_id(&scrubbed, d),
                fingerprint_and_id(sql, d),
                "{sql} scrubbed as {scrubbed}"
            );
        }
        assert_eq!(
            fingerprint_mysql("update t set k=k+? where x = -?"),
            "update t set k=k? where x = ?"
        );
    }
}
