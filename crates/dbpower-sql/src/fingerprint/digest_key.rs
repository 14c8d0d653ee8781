//! A key on which a MySQL/MariaDB statement as logged and its `performance_schema` `DIGEST_TEXT` agree.
//!
//! The server's digest is computed on its parser's tokens: identifiers quoted (`` `a` ``), keywords upper
//! case and sometimes renamed to the synonym the grammar lists (`DISTINCTROW` for `DISTINCT`, `NOW` for
//! `CURRENT_TIMESTAMP`, `CHARACTER` for `CHAR`, `SQL_TSI_DAY` for `DAY`, `!=` for `<>`), literals `?`,
//! lists of values reduced (`?, ...`, `(...)`, `(...) /* , ... */`), a charset introducer written
//! `(_charset) ?`, a hexadecimal literal `(unknown)` and a user variable `@?`. pt-fingerprint's form keeps
//! the statement's own spacing and quoting, so neither can be derived from the other; this key is a
//! function of the tokens that both reduce to. The agent uses it to tell, on the host, which digest a
//! logged execution belongs to (docs/AGENT.md, "One source, one count"). It is never hashed into a
//! query id.

use crate::Dialect;
use crate::lexer::{Kind, Lexer};

/// Keywords the server's digest prints under another name (the synonyms share one token).
fn synonym(word: &str) -> &str {
    match word {
        "distinctrow" => "distinct",
        "rlike" => "regexp",
        "character" => "char",
        "substr" | "mid" => "substring",
        "current_timestamp" | "localtime" | "localtimestamp" => "now",
        "current_date" => "curdate",
        "current_time" => "curtime",
        "schema" => "database",
        "schemas" => "databases",
        "integer" | "int4" => "int",
        "int1" => "tinyint",
        "int2" => "smallint",
        "int3" | "middleint" => "mediumint",
        "int8" => "bigint",
        "float4" => "float",
        "float8" | "real" => "double",
        "dec" | "numeric" | "fixed" => "decimal",
        "bool" => "boolean",
        "varcharacter" => "varchar",
        "some" => "any",
        "fields" => "columns",
        "indexes" => "keys",
        "describe" => "explain",
        w => w.strip_prefix("sql_tsi_").unwrap_or(w),
    }
}

/// Operators the server prints as one token, and the one it prints for both spellings of "not equal".
const OPERATORS: &[&str] = &["<=>", "<>", "!=", ">=", "<=", "<<", ">>", "||", "&&", ":="];

/// The key of `sql` (see the module docs): equal for a statement and its `DIGEST_TEXT`.
pub fn digest_key(sql: &str) -> String {
    let toks = tokens(sql);
    let toks = reduce(toks);
    toks.join(" ")
}

/// The statement's tokens lower-cased, quotes dropped from names, literals and the digest's value
/// markers read as `?`, operators joined.
fn tokens(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut plain = String::with_capacity(sql.len());
    // An executable comment (`/*! ENGINE = InnoDB */`, `/*!40101 ... */`, `/*M! ... */`) is part of
    // the statement the server runs and digests: its text is read as if it were outside the comment.
    for t in Lexer::new(sql, Dialect::Mysql) {
        let body = t
            .text
            .strip_prefix("/*!")
            .or_else(|| t.text.strip_prefix("/*M!"))
            .filter(|_| t.kind == Kind::Comment);
        match body {
            Some(body) => {
                let body = body.strip_suffix("*/").unwrap_or(body);
                plain.push(' ');
                plain.push_str(body.trim_start_matches(|c: char| c.is_ascii_digit()));
                plain.push(' ');
            }
            None => plain.push_str(t.text),
        }
    }
    let sql = plain.as_str();
    let lexed: Vec<_> = Lexer::new(sql, Dialect::Mysql)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .collect();
    out.reserve(lexed.len());
    let mut i = 0;
    while i < lexed.len() {
        let t = lexed[i];
        let text = |k: usize| lexed.get(i + k).map(|t| t.text.to_ascii_lowercase());
        match t.kind {
            Kind::String | Kind::Number | Kind::Param => out.push("?".into()),
            Kind::Word if t.text.starts_with('_') && next_is_string(&lexed, i) => {}
            Kind::Word | Kind::QuotedIdent => {
                let name = t.text.trim_matches('`').to_ascii_lowercase();
                let value = name == "null"
                    && t.kind == Kind::Word
                    && !matches!(out.last().map(String::as_str), Some("is" | "not"));
                let user_var = out.last().is_some_and(|l| l == "@")
                    && !(out.len() >= 2 && out[out.len() - 2] == "@");
                if value || user_var {
                    out.push("?".into());
                } else if t.kind == Kind::Word {
                    out.push(synonym(&name).to_string());
                } else {
                    out.push(name);
                }
            }
            Kind::Punct if t.text == "(" && text(2).as_deref() == Some(")") => {
                // `(unknown)` and `(_charset)` are the digest's own markers.
                match text(1).as_deref() {
                    Some("unknown") => {
                        out.push("?".into());
                        i += 3;
                        continue;
                    }
                    Some("_charset") => {
                        i += 3;
                        continue;
                    }
                    _ => out.push("(".into()),
                }
            }
            Kind::Punct if t.text == "." && text(1).as_deref() == Some(".") => {
                // The digest's `...`: more values of a list (`(...)` alone is a list of several).
                while lexed.get(i + 1).is_some_and(|t| t.text == ".") {
                    i += 1;
                }
                out.push(LIST.into());
            }
            _ => {
                let op = OPERATORS.iter().find(|op| glued(sql, &lexed, i, op));
                if let Some(op) = op {
                    // `||` is OR or, with PIPES_AS_CONCAT, a concatenation the digest prints as
                    // `(unknown)`: both read as a value marker.
                    out.push(match *op {
                        "<>" => "!=".to_string(),
                        "||" => "?".to_string(),
                        op => op.to_string(),
                    });
                    i += op.len();
                    continue;
                }
                out.push(t.text.to_ascii_lowercase());
            }
        }
        i += 1;
    }
    out
}

fn next_is_string(lexed: &[crate::lexer::Token<'_>], i: usize) -> bool {
    lexed.get(i + 1).is_some_and(|t| t.kind == Kind::String)
}

/// Whether the punctuation tokens from `i` spell `op` with nothing between them in `sql`.
fn glued(sql: &str, lexed: &[crate::lexer::Token<'_>], i: usize, op: &str) -> bool {
    let n = op.len();
    if i + n > lexed.len() {
        return false;
    }
    let parts = &lexed[i..i + n];
    if !parts.iter().all(|t| t.kind == Kind::Punct) {
        return false;
    }
    let start = parts[0].text.as_ptr() as usize - sql.as_ptr() as usize;
    sql.get(start..start + n) == Some(op)
}

/// Keywords after which a sign begins a value.
const BEFORE_VALUE: &[&str] = &[
    "and", "between", "by", "case", "div", "else", "escape", "having", "in", "interval", "is",
    "like", "limit", "mod", "not", "offset", "on", "or", "regexp", "return", "select", "set",
    "then", "values", "when", "where", "xor",
];

/// Whether `t` ends an operand, so a sign after it is binary.
fn operand_end(t: &str) -> bool {
    t == "?"
        || t == ")"
        || (t.starts_with(|c: char| c.is_alphanumeric() || c == '_') && !BEFORE_VALUE.contains(&t))
}

/// How many reduction passes a key gets. One pass collapses a flat list; each further pass one level of
/// nested row lists. A deeper text (hostile or generated) keeps what is left unreduced: its key then
/// matches no digest and its executions are counted from the log, never a reason to spend more.
const MAX_PASSES: usize = 16;

/// A list of two or more values: the digest's `?, ...` and `(...)`, a statement's `1, 2`. One value
/// stays `?`, so `SUBSTRING(a, ?)` and `SUBSTRING(a, ?, ?)` keep two keys, as they have two digests.
const LIST: &str = "?+";

fn is_value(t: &str) -> bool {
    t == "?" || t == LIST
}

/// Lists of values and signs before a value reduced until nothing changes: `? , ?` reads
/// [`LIST`], `? ?` (adjacent strings) `?`, and rows `( v ) , ( v )` one row `( v )` (the digest keeps
/// the count of rows only in a comment); a unary sign before a value is dropped.
fn reduce(mut toks: Vec<String>) -> Vec<String> {
    for _ in 0..MAX_PASSES {
        let before = toks.len();
        let mut out: Vec<String> = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            let t = toks[i].as_str();
            let last = out.last().map(String::as_str);
            let next = toks.get(i + 1).map(String::as_str);
            if (t == "-" || t == "+")
                && next.is_some_and(is_value)
                && !last.is_some_and(operand_end)
            {
                i += 1;
                continue;
            }
            if t == "?" && last == Some("?") {
                i += 1;
                continue;
            }
            if is_value(t) && last == Some(",") && out.len() >= 2 && is_value(&out[out.len() - 2]) {
                out.pop();
                if let Some(l) = out.last_mut() {
                    *l = LIST.to_string();
                }
                i += 1;
                continue;
            }
            let row = |k: usize| toks.get(i + k).map(String::as_str);
            if t == ","
                && out.len() >= 3
                && out[out.len() - 3] == "("
                && out[out.len() - 1] == ")"
                && row(1) == Some("(")
                && row(2) == Some(out[out.len() - 2].as_str())
                && is_value(&out[out.len() - 2])
                && row(3) == Some(")")
            {
                i += 4;
                continue;
            }
            out.push(toks[i].clone());
            i += 1;
        }
        toks = out;
        if toks.len() == before {
            break;
        }
    }
    toks
}

#[cfg(test)]
mod tests {
    use super::digest_key;

    /// Statements and the `DIGEST_TEXT` MariaDB 10.11 recorded for them (the integration tests compare
    /// against the live server; these keep the rules readable).
    const PAIRS: &[(&str, &str)] = &[
        (
            "SELECT * FROM t WHERE id = -5",
            "SELECT * FROM `t` WHERE ID = - ? ",
        ),
        (
            "INSERT INTO t (id, a, b) VALUES (1, 2, 'x'), (2, 3, 'y')",
            "INSERT INTO `t` ( ID , `a` , `b` ) VALUES (...) /* , ... */ ",
        ),
        (
            "INSERT INTO t (id, a) VALUES (3, NULL)",
            "INSERT INTO `t` ( ID , `a` ) VALUES (...) ",
        ),
        (
            "SELECT DISTINCT a FROM t ORDER BY 1 LIMIT 5, 10",
            "SELECT DISTINCTROW `a` FROM `t` ORDER BY ? LIMIT ?, ... ",
        ),
        (
            "SELECT * FROM t WHERE d > DATE '2024-01-01' - INTERVAL 3 DAY",
            "SELECT * FROM `t` WHERE `d` > DATE ? - INTERVAL ? SQL_TSI_DAY ",
        ),
        (
            "SELECT * FROM t WHERE b = _utf8mb4'x' COLLATE utf8mb4_bin",
            "SELECT * FROM `t` WHERE `b` = (_charset) ? COLLATE `utf8mb4_bin` ",
        ),
        (
            "SELECT 0xFF, x'0A', b'01', 1.5e3, .5, TRUE, FALSE",
            "SELECT ? , (unknown) , ?, ... , TRUE , FALSE ",
        ),
        (
            "SELECT IF(a > 0, 'p', 'n'), IFNULL(b, '') FROM t",
            "SELECT IF ( `a` > ?, ... ) , `IFNULL` ( `b` , ? ) FROM `t` ",
        ),
        (
            "SELECT * FROM t WHERE (a, b) IN ((1, 'a'), (2, 'b'))",
            "SELECT * FROM `t` WHERE ( `a` , `b` ) IN ( (...) /* , ... */ ) ",
        ),
        (
            "SELECT NOW(), CURRENT_TIMESTAMP, CURDATE() FROM DUAL",
            "SELECT NOW ( ) , NOW , CURDATE ( ) FROM DUAL ",
        ),
        (
            "SELECT * FROM t WHERE b REGEXP '^a' OR NOT a <=> 3",
            "SELECT * FROM `t` WHERE `b` RLIKE ? OR NOT `a` <=> ? ",
        ),
        ("SELECT 1 + 2 * 3, 'a' 'b'", "SELECT ? + ? * ?, ... ? "),
        (
            "SELECT * FROM t WHERE b = \"dq\" AND a != 4 AND a <> 5",
            "SELECT * FROM `t` WHERE `b` = ? AND `a` != ? AND `a` != ? ",
        ),
        ("SELECT @v, @@version", "SELECT @? , @@`version` "),
        (
            "UPDATE sbtest1 SET k=k+1 WHERE id=17",
            "UPDATE `sbtest1` SET `k` = `k` + ? WHERE ID = ? ",
        ),
        (
            "SELECT /* c */ `a` FROM `t` WHERE `b` LIKE '%x%'",
            "SELECT `a` FROM `t` WHERE `b` LIKE ? ",
        ),
    ];

    #[test]
    fn a_statement_and_its_digest_text_share_a_key() {
        for (raw, digest) in PAIRS {
            assert_eq!(digest_key(raw), digest_key(digest), "{raw}");
        }
    }

    #[test]
    fn a_deeply_nested_or_huge_text_gets_a_key_in_bounded_passes() {
        let deep = format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000));
        assert!(digest_key(&deep).len() >= 40_000);
        let rows = format!(
            "INSERT INTO t VALUES {}",
            vec!["(1, 'a')"; 50_000].join(", ")
        );
        assert_eq!(digest_key(&rows), "insert into t values ( ?+ )");
        assert_eq!(digest_key(""), "");
    }

    #[test]
    fn different_statements_keep_different_keys() {
        let keys: Vec<String> = PAIRS.iter().map(|(raw, _)| digest_key(raw)).collect();
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(
            digest_key("SELECT a FROM t WHERE a - 1 > 0"),
            digest_key("SELECT a FROM t WHERE a > 0"),
            "a binary minus is kept"
        );
        assert_ne!(
            digest_key("SELECT a FROM t WHERE b IS NULL"),
            digest_key("SELECT a FROM t WHERE b IS ?"),
        );
    }
}
