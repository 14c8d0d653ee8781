//! The stored and shown fingerprint and the strict scrub hold no comment or literal text, while the query
//! id stays pt-query-digest's.

use dbpower_sql::fingerprint::{exact_fingerprint, fingerprint_mysql, fingerprint_postgres};
use dbpower_sql::{Dialect, ScrubLevel, fingerprint, fingerprint_and_id, query_id, scrub};

const M: Dialect = Dialect::Mysql;
const P: Dialect = Dialect::Postgresql;

/// Statement, fingerprint, strict scrub. Every secret is spelled `zqx`.
const ROWS: &[(Dialect, &str, &str, &str)] = &[
    (
        M,
        "SELECT /*!40001 SQL_NO_CACHE zqx */ * FROM t WHERE a = 1",
        "select * from t where a = ?",
        "SELECT * FROM t WHERE a = ?",
    ),
    (
        M,
        "SELECT /*M!100301 zqx */ a FROM t /*+ INDEX(t zqx) */",
        "select a from t",
        "SELECT a FROM t",
    ),
    (
        M,
        "SELECT 1 -- it's zqx\nFROM t",
        "select ? from t",
        "SELECT ? FROM t",
    ),
    (
        M,
        "SELECT 1 # it's \"zqx\"\nFROM t # 'zqx",
        "select ? from t",
        "SELECT ? FROM t",
    ),
    (
        M,
        "SELECT * FROM t WHERE a = '? baker street, london zqx",
        "select * from t where a = ?",
        "SELECT * FROM t WHERE a = ?",
    ),
    (
        M,
        "SELECT * FROM t WHERE a = \"x\\\" zqx",
        "select * from t where a = ?",
        "SELECT * FROM t WHERE a = ?",
    ),
    (
        M,
        "SELECT * FROM `t WHERE a = 'zqx'",
        "select * from ?",
        "SELECT * FROM ?",
    ),
    (M, "CALL foo('a(b zqx', 2)", "call foo", "CALL foo(?, ?)"),
    (
        M,
        "SELECT a FROM t /* zqx",
        "select a from t",
        "SELECT a FROM t",
    ),
    (
        M,
        "administrator command: 'zqx'",
        "administrator command: ''",
        "administrator command: ?",
    ),
    (
        M,
        "INSERT INTO t (a) VALUES (N'zqx'), (X'7a7178')",
        "insert into t (a) values (n?)",
        "INSERT INTO t (a) VALUES (?), (?)",
    ),
    (
        P,
        "SELECT 1 /* a /* zqx */ zqx */ FROM t -- zqx",
        "select ? from t",
        "SELECT $1 FROM t",
    ),
    (P, "SELECT $x$ zqx $y$ zqx", "select ?", "SELECT $1"),
    (
        P,
        "SELECT E'it\\'s zqx', e'\\\\' FROM t WHERE b = U&'zqx'",
        "select ?, ? from t where b = ?",
        "SELECT $1, $2 FROM t WHERE b = $3",
    ),
    (
        P,
        "SELECT \"a FROM t WHERE x = 'zqx'",
        "select ?",
        "SELECT $1",
    ),
    (
        P,
        "SELECT a FROM t /* open /* zqx */",
        "select a from t",
        "SELECT a FROM t",
    ),
    (
        P,
        "SELECT $é$ zqx $é$ FROM t",
        "select ? from t",
        "SELECT $1 FROM t",
    ),
];

#[test]
fn no_comment_or_literal_text_survives() {
    let mut failures = Vec::new();
    for &(d, sql, want_fp, want_strict) in ROWS {
        let fp = fingerprint(sql, d);
        let (fp2, _) = fingerprint_and_id(sql, d);
        let strict = scrub(sql, d, ScrubLevel::Strict);
        if fp != want_fp || fp2 != want_fp || strict != want_strict {
            failures.push(format!(
                "{d:?} {sql:?}\n  fingerprint {fp:?} (want {want_fp:?})\n  strict {strict:?} (want {want_strict:?})"
            ));
        }
        assert!(!fp.contains("zqx") && !strict.contains("zqx"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_query_id_is_still_computed_on_pt_fingerprints_form() {
    for &(d, sql, _, _) in ROWS {
        let exact = exact_fingerprint(sql, d);
        let (_, id) = fingerprint_and_id(sql, d);
        assert_eq!(id, query_id(&exact), "{sql:?}");
    }
    // pt keeps executable comments and the text after an unterminated quote: the id hashes that text.
    let sql = "SELECT /*!40001 SQL_NO_CACHE zqx */ * FROM t WHERE a = 1";
    assert_eq!(
        fingerprint_mysql(sql),
        "select /*!? sql_no_cache zqx */ * from t where a = ?"
    );
    assert_eq!(
        fingerprint_and_id(sql, M).1,
        query_id("select /*!? sql_no_cache zqx */ * from t where a = ?")
    );
    // For statements without comments or open quotes the two forms agree.
    let sql = "SELECT * FROM users WHERE id IN (1, 2) AND name = 'bob' -- trailing";
    let (fp, id) = fingerprint_and_id(sql, M);
    assert_eq!(fp, "select * from users where id in(?+) and name = ?");
    assert_eq!(
        id,
        query_id("select * from users where id in(?+) and name = ? ")
    );
    // PostgreSQL: the id reads an open quoted identifier as pt-style text, the fingerprint as a constant.
    let sql = "SELECT \"a FROM t";
    assert_eq!(fingerprint_postgres(sql), "select \"a FROM t\"");
    assert_eq!(
        fingerprint_and_id(sql, P).1,
        query_id("select \"a FROM t\"")
    );
}

#[test]
fn mysqldump_and_toolkit_queries_keep_their_names() {
    assert_eq!(
        fingerprint("SELECT /*!40001 SQL_NO_CACHE */ * FROM `film`", M),
        "mysqldump"
    );
    assert_eq!(
        fingerprint("SELECT 1 /*checksum.pl:1/2*/", M),
        "percona-toolkit"
    );
    assert_eq!(
        fingerprint(
            "select a from t union all select a from t union all select a from t",
            M
        ),
        "select a from t /*repeat union all*/"
    );
    assert_eq!(
        fingerprint("select a from t /*repeat union all*/", M),
        "select a from t /*repeat union all*/",
        "a fingerprint is its own fingerprint"
    );
    assert_eq!(
        fingerprint("select a from t /*repeat zqx*/", M),
        "select a from t"
    );
}
