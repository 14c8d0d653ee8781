//! Scrubbing: what leaves the customer's host (agent) and what is stored (server) is scrubbed, both with
//! this function. `Strict` (the default) replaces every string and numeric literal and drops comments, so
//! what remains is the normalized statement (still valid SQL: `?` placeholders on MySQL, `$n` on
//! PostgreSQL); a quoted identifier left open (which swallows the rest of the statement) is replaced like
//! a literal. `PiiOnly` keeps literals but redacts recognised personal data and secrets, including
//! passwords and secrets found by the statement's structure and the values of JSON documents
//! ([`pii::redact_sql`]). Both then run the PII detectors over everything that is left (identifiers,
//! comments).

use serde::{Deserialize, Serialize};

use crate::Dialect;
use crate::lexer::{Kind, Lexer, Token};
use crate::pii;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScrubLevel {
    #[default]
    Strict,
    PiiOnly,
}

/// Scrubs every string of a JSON document (an EXPLAIN plan) with [`scrub`], object keys included: plans
/// quote the literals they filter on, and a hostile log line or agent can put anything in a key. A key
/// that is a name (`Node Type`, `attached_condition`: at most 64 letters, digits, spaces, `_` or `-`, not
/// only digits) stays as it is; any other key is scrubbed like a value.
pub fn scrub_json(v: &mut serde_json::Value, dialect: Dialect, level: ScrubLevel) {
    match v {
        serde_json::Value::String(s) => *s = scrub(s, dialect, level),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| scrub_json(x, dialect, level)),
        serde_json::Value::Object(o) => {
            let entries = std::mem::take(o);
            for (k, mut x) in entries {
                scrub_json(&mut x, dialect, level);
                let named = k.len() <= 64
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'_' || b == b'-')
                    && !k.bytes().all(|b| b.is_ascii_digit());
                let key = if named { k } else { scrub(&k, dialect, level) };
                o.insert(key, x);
            }
        }
        _ => {}
    }
}

pub fn scrub(sql: &str, dialect: Dialect, level: ScrubLevel) -> String {
    match level {
        ScrubLevel::PiiOnly => pii::redact_sql(sql, dialect),
        ScrubLevel::Strict => {
            let mut out = strip_literals(sql, dialect);
            // A placeholder can split a name the lexer read as one word (`DE89...000$x` becomes
            // `[IBAN_REDACTED]$x`), leaving a part that now reads as a literal: normalize again until
            // nothing changes, so scrubbing stays idempotent.
            for _ in 0..4 {
                let std::borrow::Cow::Owned(redacted) = pii::redact(&out) else {
                    break;
                };
                out = strip_literals(&redacted, dialect);
            }
            out
        }
    }
}

/// Replaces literals with placeholders and drops comments, keeping everything else byte for byte.
fn strip_literals(sql: &str, dialect: Dialect) -> String {
    let mut next_param = match dialect {
        Dialect::Postgresql => Lexer::new(sql, dialect)
            .filter(|t| t.kind == Kind::Param)
            .filter_map(|t| t.text[1..].parse::<u32>().ok())
            .max()
            .unwrap_or(0),
        Dialect::Mysql => 0,
    };
    let mut ordinals = Ordinals::new();
    let mut lexer = Lexer::new(sql, dialect);
    let mut out = String::with_capacity(sql.len());
    let mut prev_space = true;
    let mut after_like = false;
    while let Some(t) = lexer.next() {
        let like_pattern = after_like && t.kind == Kind::String;
        let mut ordinal = false;
        if !matches!(t.kind, Kind::Whitespace | Kind::Comment) {
            after_like =
                t.text.eq_ignore_ascii_case("LIKE") || t.text.eq_ignore_ascii_case("ILIKE");
            ordinal = ordinals.step(t, || next_significant(lexer.clone()));
        }
        match t.kind {
            // A LIKE pattern keeps only its shape: whether it starts with a wildcard (`'%?'`) or not
            // (`'?%'`), which decides whether an index can serve it. Its text is still dropped. A bare
            // placeholder (`LIKE $1` from pg_stat_statements) says nothing of the shape.
            Kind::String if like_pattern && leading_wildcard(t.text) => {
                out.push_str("'%?'");
                prev_space = false;
            }
            Kind::String if like_pattern && anchored(t.text) => {
                out.push_str("'?%'");
                prev_space = false;
            }
            // `GROUP BY 1` and `ORDER BY 2` name output columns: they are not values.
            Kind::Number if ordinal => {
                out.push_str(t.text);
                prev_space = false;
            }
            Kind::String | Kind::Number => push_placeholder(&mut out, dialect, &mut next_param),
            Kind::QuotedIdent if t.unterminated => {
                push_placeholder(&mut out, dialect, &mut next_param);
            }
            Kind::Comment => {
                if !prev_space {
                    separate_dashes(&mut out, dialect);
                    out.push(' ');
                    prev_space = true;
                }
            }
            Kind::Whitespace => {
                if !prev_space {
                    separate_dashes(&mut out, dialect);
                    out.push_str(t.text);
                }
                prev_space = true;
            }
            _ => {
                out.push_str(t.text);
                prev_space = false;
            }
        }
        if matches!(t.kind, Kind::String | Kind::Number | Kind::QuotedIdent) {
            prev_space = false;
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    separate_dashes(&mut out, dialect);
    out
}

/// Words that end a `GROUP BY` / `ORDER BY` list.
const ENDS_BY_LIST: &[&str] = &[
    "limit",
    "having",
    "window",
    "offset",
    "fetch",
    "for",
    "union",
    "except",
    "intersect",
    "with",
    "order",
    "into",
    "lock",
    "procedure",
    "returning",
];

/// Words that may follow an ordinal in such a list besides those that end it ([`ENDS_BY_LIST`]).
const AFTER_ORDINAL: &[&str] = &["asc", "desc", "nulls"];

/// Finds column ordinals while the statement is read once: a bare integer that is a whole item of a
/// `GROUP BY` or `ORDER BY` list of a query (not of a window or an aggregate, where an integer is a
/// constant). It is fed every significant token (no whitespace or comment) in order.
struct Ordinals<'a> {
    /// One entry per open parenthesis (and the statement itself): whether it holds a query.
    query_level: Vec<bool>,
    /// The depth of the `GROUP BY` / `ORDER BY` list being read, if any.
    by_depth: Option<usize>,
    prev: Option<Token<'a>>,
}

impl<'a> Ordinals<'a> {
    fn new() -> Self {
        Ordinals {
            query_level: vec![true],
            by_depth: None,
            prev: None,
        }
    }

    /// Takes the next significant token `t`; `next` gives the one after it (looked at only for an
    /// opening parenthesis or a possible ordinal). Says whether `t` is an ordinal.
    fn step(&mut self, t: Token<'a>, next: impl FnOnce() -> Option<Token<'a>>) -> bool {
        let word = |t: Option<Token<'_>>, words: &[&str]| {
            t.is_some_and(|t| {
                t.kind == Kind::Word && words.iter().any(|w| t.text.eq_ignore_ascii_case(w))
            })
        };
        let punct = |t: Option<Token<'_>>, p: &[&str]| t.is_some_and(|t| p.contains(&t.text));
        let prev = self.prev.replace(t);
        let mut next = Some(next);
        let mut peek = || next.take().and_then(|f| f());
        match t.text {
            "(" => self
                .query_level
                .push(word(peek(), &["select", "with", "values"])),
            ")" if self.query_level.len() > 1 => {
                self.query_level.pop();
            }
            ";" => self.by_depth = None,
            _ => {}
        }
        let depth = self.query_level.len();
        if self.by_depth.is_some_and(|d| d > depth) {
            self.by_depth = None;
        }
        if t.kind == Kind::Word && t.text.eq_ignore_ascii_case("by") {
            if word(prev, &["group", "order"]) && self.query_level.last() == Some(&true) {
                self.by_depth = Some(depth);
            }
        } else if t.kind == Kind::Word
            && self.by_depth == Some(depth)
            && word(Some(t), ENDS_BY_LIST)
        {
            self.by_depth = None;
        }
        t.kind == Kind::Number
            && self.by_depth == Some(depth)
            && t.text.bytes().all(|c| c.is_ascii_digit())
            && (word(prev, &["by"]) || punct(prev, &[","]))
            && {
                let next = peek();
                next.is_none()
                    || punct(next, &[",", ")", ";"])
                    || word(next, AFTER_ORDINAL)
                    || word(next, ENDS_BY_LIST)
            }
    }
}

/// The next token that is not whitespace or a comment.
fn next_significant<'a>(mut lexer: Lexer<'a>) -> Option<Token<'a>> {
    lexer.find(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
}

/// Minus signs that touched something now dropped (`a--/*c*/ b`, `1 --'x'`) would read as a MySQL
/// `-- ` comment once whitespace or the end follows them: a run of them is written `- - -`, which means
/// the same.
fn separate_dashes(out: &mut String, dialect: Dialect) {
    if dialect != Dialect::Mysql || !out.ends_with("--") {
        return;
    }
    let run = out.len() - out.trim_end_matches('-').len();
    out.truncate(out.len() - run);
    out.push('-');
    for _ in 1..run {
        out.push_str(" -");
    }
}

fn push_placeholder(out: &mut String, dialect: Dialect, next_param: &mut u32) {
    match dialect {
        Dialect::Mysql => out.push('?'),
        Dialect::Postgresql => {
            // Glued to a name or a `$`, `$1` would read as part of the name or close a dollar-quote tag.
            if out
                .bytes()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)
            {
                out.push(' ');
            }
            *next_param = next_param.saturating_add(1);
            out.push('$');
            out.push_str(&next_param.to_string());
        }
    }
}

/// Whether a quoted literal's content starts with `%` or `_` (prefixes like E'' or N'' allowed).
fn leading_wildcard(literal: &str) -> bool {
    let mut chars = literal.chars().skip_while(|c| c.is_ascii_alphabetic());
    matches!(chars.next(), Some('\'' | '"')) && matches!(chars.next(), Some('%' | '_'))
}

/// A quoted pattern (`'Ber%'`, `E'x'`) that does not start with a wildcard: an index range serves it.
/// The empty pattern `''` is not one.
fn anchored(literal: &str) -> bool {
    let body = literal.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let mut chars = body.chars();
    let Some(quote @ ('\'' | '"')) = chars.next() else {
        return false;
    };
    let rest = chars.as_str();
    !rest.starts_with(['%', '_']) && !rest.is_empty() && rest.len() > quote.len_utf8()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_keeps_structure_and_drops_every_literal() {
        let sql = "SELECT * FROM users WHERE email = 'ann@example.com' AND ip = '10.1.2.3' /* card 4111111111111111 */ AND n IN (1, 2.5, -3)";
        assert_eq!(
            scrub(sql, Dialect::Mysql, ScrubLevel::Strict),
            "SELECT * FROM users WHERE email = ? AND ip = ? AND n IN (?, ?, -?)"
        );
        assert_eq!(
            scrub(
                "SELECT $1, 'x'::date, 42 -- c\nFROM t",
                Dialect::Postgresql,
                ScrubLevel::Strict
            ),
            "SELECT $1, $2::date, $3 FROM t"
        );
    }

    #[test]
    fn like_patterns_keep_only_their_leading_wildcard() {
        assert_eq!(
            scrub(
                "SELECT id FROM u WHERE name LIKE '%ann@example.com%' AND city LIKE 'Ber%' AND x NOT ILIKE E'_b'",
                Dialect::Postgresql,
                ScrubLevel::Strict
            ),
            "SELECT id FROM u WHERE name LIKE '%?' AND city LIKE '?%' AND x NOT ILIKE '%?'"
        );
        // The empty pattern has no prefix to range over.
        assert_eq!(
            scrub(
                "SELECT 1 FROM t WHERE a LIKE ''",
                Dialect::Mysql,
                ScrubLevel::Strict
            ),
            "SELECT ? FROM t WHERE a LIKE ?"
        );
        assert_eq!(
            scrub(
                "SELECT 1 FROM t WHERE a LIKE \"%x\" OR b = '%y'",
                Dialect::Mysql,
                ScrubLevel::Strict
            ),
            "SELECT ? FROM t WHERE a LIKE '%?' OR b = ?"
        );
    }

    #[test]
    fn strict_output_reads_the_same_when_scrubbed_again() {
        for (sql, d, want) in [
            // An open quoted name swallows the rest: it is replaced like a literal.
            (
                "SELECT * FROM `t WHERE a = 'x'",
                Dialect::Mysql,
                "SELECT * FROM ?",
            ),
            (
                "SELECT \"a FROM t WHERE x = 'y'",
                Dialect::Postgresql,
                "SELECT $1",
            ),
            // Minus signs that touched a dropped comment must not become a `-- ` comment.
            ("SELECT a--/*c*/ b", Dialect::Mysql, "SELECT a- - b"),
            ("SELECT 1 ---- x", Dialect::Mysql, "SELECT ? - -"),
            // `$` glued to a placeholder would open a dollar quote.
            ("SELECT $a'x'", Dialect::Postgresql, "SELECT $a $1"),
        ] {
            let once = scrub(sql, d, ScrubLevel::Strict);
            assert_eq!(once, want, "{sql}");
            assert_eq!(scrub(&once, d, ScrubLevel::Strict), once, "{sql}");
        }
    }

    #[test]
    fn pii_only_keeps_ordinary_literals() {
        let sql = "UPDATE u SET status = 'active', email = 'ann@example.com' WHERE id = 42";
        assert_eq!(
            scrub(sql, Dialect::Mysql, ScrubLevel::PiiOnly),
            "UPDATE u SET status = 'active', email = '[EMAIL_REDACTED]' WHERE id = 42"
        );
    }

    #[test]
    fn column_ordinals_are_not_literals() {
        assert_eq!(
            scrub(
                "SELECT a, b, count(*) FROM t WHERE c = 3 GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT 10",
                Dialect::Mysql,
                ScrubLevel::Strict
            ),
            "SELECT a, b, count(*) FROM t WHERE c = ? GROUP BY 1, 2 ORDER BY 3 DESC, 1 LIMIT ?"
        );
        assert_eq!(
            scrub(
                "SELECT a, sum(x) OVER (ORDER BY 1), string_agg(s, ',' ORDER BY 2) FROM (SELECT a FROM u ORDER BY 1) s GROUP BY 1 + 0, 2 WITH ROLLUP",
                Dialect::Postgresql,
                ScrubLevel::Strict
            ),
            "SELECT a, sum(x) OVER (ORDER BY $1), string_agg(s, $2 ORDER BY $3) FROM (SELECT a FROM u ORDER BY 1) s GROUP BY $4 + $5, 2 WITH ROLLUP",
            "only whole items of a query's GROUP BY or ORDER BY are ordinals"
        );
        assert_eq!(
            scrub(
                "SELECT 1 ORDER BY 1.5, 2::int",
                Dialect::Postgresql,
                ScrubLevel::Strict
            ),
            "SELECT $1 ORDER BY $2, $3::int"
        );
    }
}
