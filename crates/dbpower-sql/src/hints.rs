//! Hints: the facts about a statement's literals that strict scrubbing erases and the analysis needs.
//! They are taken from the raw statement on the monitored host, before scrubbing ([`collect`]), shipped
//! beside the scrubbed statement, and put back into the scrubbed statement for analysis only
//! ([`apply`]); what is stored and shown stays the scrubbed text.
//!
//! - The kind of a literal compared with a column (`phone = 5551234` is a number): a string column
//!   compared with a number is an implicit conversion that defeats its index, and `phone = ?` no longer
//!   says which it was.
//! - The key of a JSON access (`data->>'email'`, `JSON_EXTRACT(doc, '$.email')`): an expression index on
//!   it needs the key, which `data->>$1` lost. A key is kept only when it reads as a field name (letters,
//!   digits, `_`; a MySQL path of such names and array positions) and no personal-data detector matches
//!   it; any other key is not shipped.
//!
//! A LIKE pattern's shape (leading wildcard or not) needs no hint: strict scrubbing keeps it (`'%?'`).
//! A hint names its column as the statement does, without quotes and in lower case (`u.phone` for
//! `"U"."Phone"` or `` `u` . `phone` ``), so [`apply`] finds the same place in whichever text of the
//! class it is given: another execution, or the digest text MariaDB's performance_schema holds.

use serde::{Deserialize, Serialize};

use crate::Dialect;
use crate::lexer::{Kind, Lexer};

/// The most hints one statement carries; the rest are dropped.
pub const MAX_HINTS: usize = 64;
/// The longest column reference a hint names, in bytes.
pub const MAX_COLUMN_BYTES: usize = 128;
/// The longest JSON key or path a hint keeps, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LiteralKind {
    Number,
    String,
    /// A kind a newer agent knows and this platform does not: kept, never applied.
    #[serde(other)]
    Other,
}

/// One literal the statement compares with a column, or a JSON key it reads. Unknown fields (a newer
/// agent's) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LiteralHint {
    /// The column as the statement names it, quotes removed and in lower case (`u.phone`), at most
    /// 128 bytes.
    pub column: String,
    /// The operator (`=`, `<>`, `<`, `<=`, `>`, `>=`, `!=`, `<=>`, `in`) or JSON access (`->`, `->>`,
    /// `#>`, `#>>`, or a JSON function's name in lower case, such as `json_extract`).
    pub op: String,
    pub kind: LiteralKind,
    /// A JSON key or path, when it reads as a field name: at most 128 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// What the agent ships beside a scrubbed statement (at most 64 hints). Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatementHints {
    #[serde(default)]
    pub literals: Vec<LiteralHint>,
}

impl StatementHints {
    pub fn is_empty(&self) -> bool {
        self.literals.is_empty()
    }

    /// Why these hints cannot be accepted (bounds, operators, unsafe keys), if they cannot.
    pub fn invalid(&self) -> Option<String> {
        if self.literals.len() > MAX_HINTS {
            return Some(format!("more than {MAX_HINTS} hints"));
        }
        for h in &self.literals {
            if h.column.is_empty() || h.column.len() > MAX_COLUMN_BYTES {
                return Some(format!(
                    "a hint's column must be 1 to {MAX_COLUMN_BYTES} bytes"
                ));
            }
            if !COMPARISONS.contains(&h.op.as_str())
                && !JSON_OPS.contains(&h.op.as_str())
                && !JSON_FUNCTIONS.contains(&h.op.as_str())
            {
                return Some(format!("unknown hint operator {:?}", short(&h.op)));
            }
            if let Some(v) = &h.value
                && !safe_key(v)
            {
                return Some("a hint's value must be a JSON key or path of field names".into());
            }
        }
        None
    }
}

fn short(s: &str) -> String {
    s.chars().take(16).collect()
}

const COMPARISONS: &[&str] = &["=", "<>", "!=", "<", "<=", ">", ">=", "<=>", "in"];
const JSON_OPS: &[&str] = &["->", "->>", "#>", "#>>"];
/// Functions whose second argument is a JSON key or path (PostgreSQL and MySQL/MariaDB).
const JSON_FUNCTIONS: &[&str] = &[
    "json_extract",
    "json_value",
    "json_query",
    "json_exists",
    "json_extract_path",
    "json_extract_path_text",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
];
/// Operators read from punctuation, longest first.
const PUNCT_OPS: &[&str] = &[
    "<=>", "->>", "#>>", "<>", "!=", "<=", ">=", "->", "#>", "=", "<", ">",
];

/// A JSON key (`email`), a MySQL path of field names and positions (`$.a.b[0]`) or a PostgreSQL path
/// array of field names (`{a,b}`), none matched by a personal-data detector.
fn safe_key(v: &str) -> bool {
    let name = |s: &str| {
        let mut b = s.bytes();
        b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
    };
    let shaped = if let Some(path) = v.strip_prefix('$') {
        !path.is_empty()
            && path.split('.').skip(1).all(|part| {
                let (field, index) = part.split_once('[').unwrap_or((part, ""));
                name(field)
                    && (index.is_empty()
                        || index.strip_suffix(']').is_some_and(|n| {
                            !n.is_empty() && n.len() <= 4 && n.bytes().all(|c| c.is_ascii_digit())
                        }))
            })
            && path.starts_with('.')
    } else if let Some(inner) = v.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
        inner.split(',').all(name)
    } else {
        name(v)
    };
    shaped
        && v.len() <= MAX_KEY_BYTES
        && matches!(crate::pii::redact(v), std::borrow::Cow::Borrowed(_))
}

/// A significant token (no whitespace, no comment) with its byte range.
#[derive(Clone, Copy)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
    end: usize,
    unterminated: bool,
}

fn tokens(sql: &str, dialect: Dialect) -> Vec<Tok<'_>> {
    let base = sql.as_ptr() as usize;
    Lexer::new(sql, dialect)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .map(|t| {
            let start = t.text.as_ptr() as usize - base;
            Tok {
                kind: t.kind,
                text: t.text,
                start,
                end: start + t.text.len(),
                unterminated: t.unterminated,
            }
        })
        .collect()
}

/// The operator starting at token `i`, lower case, and the index after it.
fn operator_at(toks: &[Tok<'_>], i: usize) -> Option<(String, usize)> {
    let t = toks.get(i)?;
    if t.kind == Kind::Word && t.text.eq_ignore_ascii_case("in") {
        return (toks.get(i + 1)?.text == "(").then(|| ("in".to_string(), i + 2));
    }
    if t.kind != Kind::Punct {
        return None;
    }
    // Adjacent punctuation read as one run, then the longest operator it starts with.
    let mut run = String::from(t.text);
    let mut j = i + 1;
    while let Some(n) = toks.get(j) {
        if n.kind != Kind::Punct || n.start != toks[j - 1].end || run.len() >= 3 {
            break;
        }
        run.push_str(n.text);
        j += 1;
    }
    let op = PUNCT_OPS.iter().find(|op| run.starts_with(**op))?;
    // `!=` and `<>` are one operator (MariaDB's digest text prints `<>` for both).
    let name = if *op == "!=" { "<>" } else { op };
    Some((name.to_string(), i + op.len()))
}

fn is_name(t: &Tok<'_>) -> bool {
    t.kind == Kind::QuotedIdent
        || (t.kind == Kind::Word
            && ![
                "null", "true", "false", "and", "or", "not", "where", "on", "when", "then",
            ]
            .iter()
            .any(|w| t.text.eq_ignore_ascii_case(w)))
}

/// A column reference's names `first..=last` (every other token, the others being `.`), normalized:
/// quotes removed, lower case, joined by `.`. A log's `u.phone` and a digest text's `` `u` . `phone` ``
/// name one column.
fn normalized(toks: &[Tok<'_>], first: usize, last: usize) -> Option<String> {
    let mut out = String::new();
    for t in toks[first..=last].iter().step_by(2) {
        if !out.is_empty() {
            out.push('.');
        }
        let name = match t.kind {
            // A quoted name left open swallowed the rest of the statement: it is text, not a name.
            Kind::QuotedIdent if t.unterminated => return None,
            Kind::QuotedIdent => {
                let q = t.text.chars().next()?;
                let inner = t.text.get(1..t.text.len().checked_sub(1)?)?;
                inner.replace(&format!("{q}{q}"), &q.to_string())
            }
            _ => t.text.to_string(),
        };
        out.push_str(&name.to_lowercase());
    }
    // A name holding personal data (strict scrubbing redacts it in the statement) is not shipped.
    (!out.is_empty()
        && out.len() <= MAX_COLUMN_BYTES
        && !out.chars().any(char::is_control)
        && matches!(crate::pii::redact(&out), std::borrow::Cow::Borrowed(_)))
    .then_some(out)
}

/// The column reference ending at token `end` (inclusive): names joined by `.`, normalized.
fn chain_ending(toks: &[Tok<'_>], end: usize) -> Option<String> {
    if !is_name(toks.get(end)?) {
        return None;
    }
    let mut first = end;
    while first >= 2 && toks[first - 1].text == "." && is_name(&toks[first - 2]) {
        first -= 2;
    }
    // A name after a `.` that is not a name is not a column, nor is a cast's type name (`x::jsonb`).
    if first >= 1 && (toks[first - 1].text == "." || toks[first - 1].kind == Kind::Cast) {
        return None;
    }
    normalized(toks, first, end)
}

/// The column reference starting at token `start`, normalized, and the index after it.
fn chain_starting(toks: &[Tok<'_>], start: usize) -> Option<(String, usize)> {
    if !is_name(toks.get(start)?) {
        return None;
    }
    let mut last = start;
    while toks.get(last + 1).is_some_and(|t| t.text == ".")
        && toks.get(last + 2).is_some_and(is_name)
    {
        last += 2;
    }
    // A name followed by `(` is a function.
    if toks
        .get(last + 1)
        .is_some_and(|t| t.text == "(" || t.text == ".")
    {
        return None;
    }
    Some((normalized(toks, start, last)?, last + 1))
}

/// A literal (or, in a scrubbed text, a placeholder) at token `i`, after an optional sign: its token index.
fn value_at(toks: &[Tok<'_>], i: usize) -> Option<usize> {
    let t = toks.get(i)?;
    if (t.text == "-" || t.text == "+")
        && toks
            .get(i + 1)
            .is_some_and(|n| n.kind == Kind::Number || n.kind == Kind::Param)
    {
        return Some(i + 1);
    }
    matches!(t.kind, Kind::Number | Kind::String | Kind::Param).then_some(i)
}

/// Where a value sits: the column and operator it belongs to.
struct Place {
    column: String,
    op: String,
    /// The value's token index.
    at: usize,
}

/// Every place in `toks` where a value (literal or placeholder) meets a column.
fn places(toks: &[Tok<'_>]) -> Vec<Place> {
    let mut out = Vec::new();
    for i in 0..toks.len() {
        // `column op value` and `value op column`.
        if let Some((op, next)) = operator_at(toks, i) {
            if let Some(at) = value_at(toks, next)
                && i >= 1
                && let Some(column) = chain_ending(toks, i - 1)
            {
                out.push(Place {
                    column,
                    op: op.clone(),
                    at,
                });
            }
            if op != "in"
                && !JSON_OPS.contains(&op.as_str())
                && i >= 1
                && matches!(toks[i - 1].kind, Kind::Number | Kind::String | Kind::Param)
                && let Some((column, _)) = chain_starting(toks, next)
            {
                out.push(Place {
                    column,
                    op,
                    at: i - 1,
                });
            }
        }
        // `json_fn(column, 'key'`.
        let t = &toks[i];
        if t.kind == Kind::Word
            && toks.get(i + 1).is_some_and(|n| n.text == "(")
            && JSON_FUNCTIONS
                .iter()
                .any(|f| t.text.eq_ignore_ascii_case(f))
            && let Some((column, after)) = chain_starting(toks, i + 2)
            && toks.get(after).is_some_and(|n| n.text == ",")
            && toks
                .get(after + 1)
                .is_some_and(|n| matches!(n.kind, Kind::String | Kind::Param))
        {
            out.push(Place {
                column,
                op: t.text.to_ascii_lowercase(),
                at: after + 1,
            });
        }
    }
    out
}

/// A hexadecimal or binary number (`0x41`, `0b01`).
fn radix_literal(text: &str) -> bool {
    matches!(text.as_bytes(), [b'0', b'x' | b'X' | b'b' | b'B', ..])
}

/// The text of a string literal without its quotes, when it is a plain single-quoted one.
fn unquoted(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    (!inner.contains('\'') && !inner.contains('\\')).then_some(inner)
}

/// The hints of a raw statement, taken before scrubbing.
pub fn collect(sql: &str, dialect: Dialect) -> StatementHints {
    let toks = tokens(sql, dialect);
    let mut literals: Vec<LiteralHint> = Vec::new();
    for p in places(&toks) {
        let t = &toks[p.at];
        let json = JSON_OPS.contains(&p.op.as_str()) || JSON_FUNCTIONS.contains(&p.op.as_str());
        let hint = match t.kind {
            // `0x41` and `0b01` are strings in a string comparison on MySQL: no kind is known.
            Kind::Number if !json && !radix_literal(t.text) => LiteralHint {
                column: p.column,
                op: p.op,
                kind: LiteralKind::Number,
                value: None,
            },
            Kind::String => {
                let value = json
                    .then(|| unquoted(t.text))
                    .flatten()
                    .filter(|v| safe_key(v))
                    .map(String::from);
                if json && value.is_none() {
                    continue;
                }
                LiteralHint {
                    column: p.column,
                    op: p.op,
                    kind: LiteralKind::String,
                    value,
                }
            }
            _ => continue,
        };
        if !literals.contains(&hint) {
            literals.push(hint);
        }
        if literals.len() == MAX_HINTS {
            break;
        }
    }
    StatementHints { literals }
}

/// The scrubbed statement with what the hints say put back where they agree, for analysis only: a
/// placeholder compared with a column whose literal was a number becomes `0`; a placeholder that was a
/// JSON key becomes that key. A place the hints disagree on (`phone = 5 OR phone = '5'` in one
/// statement) keeps its placeholder.
pub fn apply(scrubbed: &str, dialect: Dialect, hints: &StatementHints) -> String {
    if hints.is_empty() {
        return scrubbed.to_string();
    }
    let toks = tokens(scrubbed, dialect);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut placed = std::collections::HashSet::new();
    for p in places(&toks) {
        let t = &toks[p.at];
        if t.kind != Kind::Param {
            continue;
        }
        let mut matching = hints
            .literals
            .iter()
            .filter(|h| h.column == p.column && h.op == p.op);
        let Some(first) = matching.next() else {
            continue;
        };
        if matching.any(|h| h != first) {
            continue;
        }
        let json = JSON_OPS.contains(&p.op.as_str()) || JSON_FUNCTIONS.contains(&p.op.as_str());
        let text = match (&first.kind, &first.value) {
            (LiteralKind::Number, None) if !json => "0".to_string(),
            (LiteralKind::String, Some(v)) if json && safe_key(v) => format!("'{v}'"),
            _ => continue,
        };
        if placed.insert(t.start) {
            edits.push((t.start, t.end, text));
        }
    }
    edits.sort_by_key(|e| e.0);
    crate::splice(scrubbed, edits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScrubLevel, scrub};

    fn round_trip(sql: &str, d: Dialect) -> String {
        apply(&scrub(sql, d, ScrubLevel::Strict), d, &collect(sql, d))
    }

    #[test]
    fn a_number_compared_with_a_column_survives_scrubbing() {
        assert_eq!(
            round_trip(
                "SELECT * FROM u WHERE u.phone = 5551234 AND name = 'bob'",
                Dialect::Mysql
            ),
            "SELECT * FROM u WHERE u.phone = 0 AND name = ?"
        );
        assert_eq!(
            round_trip(
                "SELECT * FROM u WHERE 42 <= \"Code\" AND code IN (1, 2)",
                Dialect::Postgresql
            ),
            "SELECT * FROM u WHERE 0 <= \"Code\" AND code IN (0, $3)"
        );
        assert_eq!(
            round_trip("SELECT * FROM u WHERE a >= -5", Dialect::Mysql),
            "SELECT * FROM u WHERE a >= -0"
        );
    }

    #[test]
    fn json_keys_that_read_as_field_names_survive_and_others_do_not() {
        assert_eq!(
            round_trip(
                "SELECT * FROM t WHERE data->>'email' = 'a@b.example'",
                Dialect::Postgresql
            ),
            "SELECT * FROM t WHERE data->>'email' = $2"
        );
        assert_eq!(
            round_trip(
                "SELECT id FROM t WHERE JSON_EXTRACT(doc, '$.user.tags[0]') = 'x'",
                Dialect::Mysql
            ),
            "SELECT id FROM t WHERE JSON_EXTRACT(doc, '$.user.tags[0]') = ?"
        );
        // A key that is personal data, or not a name, stays a placeholder.
        for sql in [
            "SELECT * FROM t WHERE m->>'jane.doe@example.com' = 'x'",
            "SELECT * FROM t WHERE m->>'two words' = 'x'",
            "SELECT * FROM t WHERE m->>'it''s' = 'x'",
        ] {
            assert!(collect(sql, Dialect::Postgresql).is_empty(), "{sql}");
        }
    }

    #[test]
    fn hints_from_a_logged_execution_fit_the_digest_text_of_its_class() {
        let hints = collect(
            "SELECT * FROM u WHERE u.Phone = 5551234 AND JSON_VALUE(doc, '$.kind') = 'a'",
            Dialect::Mysql,
        );
        assert_eq!(
            apply(
                "SELECT * FROM `u` WHERE `u` . `phone` = ? AND `JSON_VALUE` ( `doc` , ? ) = ?",
                Dialect::Mysql,
                &hints
            ),
            "SELECT * FROM `u` WHERE `u` . `phone` = 0 AND `JSON_VALUE` ( `doc` , ? ) = ?"
        );
        assert_eq!(
            apply(
                "SELECT * FROM u WHERE u . phone = ? AND JSON_VALUE ( doc , ? ) = ?",
                Dialect::Mysql,
                &hints
            ),
            "SELECT * FROM u WHERE u . phone = 0 AND JSON_VALUE ( doc , '$.kind' ) = ?"
        );
    }

    #[test]
    fn disagreeing_hints_leave_the_placeholder() {
        let mut hints = collect("SELECT * FROM u WHERE phone = 5", Dialect::Mysql);
        hints
            .literals
            .extend(collect("SELECT * FROM u WHERE phone = '5'", Dialect::Mysql).literals);
        assert_eq!(
            apply("SELECT * FROM u WHERE phone = ?", Dialect::Mysql, &hints),
            "SELECT * FROM u WHERE phone = ?"
        );
    }

    #[test]
    fn hints_are_bounded_and_checked() {
        let many: String = (0..200).map(|i| format!(" AND c{i} = {i}")).collect();
        let hints = collect(
            &format!("SELECT 1 FROM t WHERE 1 = 1{many}"),
            Dialect::Mysql,
        );
        assert_eq!(hints.literals.len(), MAX_HINTS);
        assert!(hints.invalid().is_none());
        let one = |op: &str, kind, value: Option<&str>| StatementHints {
            literals: vec![LiteralHint {
                column: "c".into(),
                op: op.into(),
                kind,
                value: value.map(String::from),
            }],
        };
        let bad = one("->>", LiteralKind::String, Some("x'; DROP TABLE t; --"));
        assert!(bad.invalid().is_some());
        let bad_op = one("LIKE", LiteralKind::Number, None);
        assert!(bad_op.invalid().is_some());
    }

    #[test]
    fn names_that_are_personal_data_or_open_quotes_are_not_shipped() {
        for sql in [
            "SELECT * FROM t WHERE `amount_jane.doe@example.com` > 100",
            "SELECT * FROM t WHERE 5 = \"John Smith 1985-03-02",
        ] {
            let d = if sql.contains('`') {
                Dialect::Mysql
            } else {
                Dialect::Postgresql
            };
            assert!(collect(sql, d).is_empty(), "{sql}");
        }
    }

    #[test]
    fn operators_casts_and_hex_literals() {
        // `!=` is `<>`, as a digest text prints it.
        let hints = collect("SELECT * FROM u WHERE phone != 5", Dialect::Mysql);
        assert_eq!(
            apply(
                "SELECT * FROM `u` WHERE `phone` <> ?",
                Dialect::Mysql,
                &hints
            ),
            "SELECT * FROM `u` WHERE `phone` <> 0"
        );
        // A cast's type is not a column; a hexadecimal literal is no number to MySQL's strings.
        assert!(collect("SELECT 1 FROM t WHERE a::int = 5", Dialect::Postgresql).is_empty());
        assert!(collect("SELECT 1 FROM t WHERE phone = 0x35353531", Dialect::Mysql).is_empty());
        // A newer agent's kind is kept and never applied.
        let newer: StatementHints = serde_json::from_str(
            r#"{"literals": [{"column": "d", "op": "=", "kind": "date", "since": 2}], "later": true}"#,
        )
        .expect("forward compatible");
        assert_eq!(newer.literals[0].kind, LiteralKind::Other);
        assert_eq!(
            apply("SELECT 1 FROM t WHERE d = ?", Dialect::Mysql, &newer),
            "SELECT 1 FROM t WHERE d = ?"
        );
    }

    #[test]
    fn functions_and_values_are_not_columns() {
        assert!(
            collect(
                "SELECT * FROM t WHERE lower(a) = 5 AND NULL = 1",
                Dialect::Mysql
            )
            .is_empty()
        );
    }
}
