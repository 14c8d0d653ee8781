//! PostgreSQL fingerprints over lexer tokens: constants become `?`, names are canonicalized, spacing is a
//! function of the tokens only.

use crate::Dialect;
use crate::lexer::{Kind, Lexer};

use super::mysql::{groups_end, is_word};

/// Writes `word` with runs of 2+ digits folded to `0` (`events_2024_01` -> `events_0_0`), lower-casing
/// the rest when `lower` (unquoted names) and keeping it as is otherwise (quoted names).
fn fold_digits(word: &str, lower: bool, out: &mut String) {
    let mut digits = 0usize;
    let mut run_start = 0usize;
    for (i, c) in word.char_indices() {
        if c.is_ascii_digit() {
            if digits == 0 {
                run_start = i;
            }
            digits += 1;
            continue;
        }
        if digits > 0 {
            out.push_str(if digits >= 2 {
                "0"
            } else {
                &word[run_start..i]
            });
            digits = 0;
        }
        if !lower {
            out.push(c);
        } else if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    if digits > 0 {
        out.push_str(if digits >= 2 { "0" } else { &word[run_start..] });
    }
}

/// A canonical PostgreSQL token, borrowed from the statement where possible.
#[derive(Clone, Copy)]
enum Tok<'a> {
    /// A constant: `?`.
    Const,
    /// An unquoted word: lower-cased and digit-folded when written.
    Word(&'a str),
    /// A quoted identifier's body: digit-folded, case kept, written between double quotes.
    Quoted(&'a str),
    /// Punctuation and `::`, written as is.
    Text(&'a str),
}

impl Tok<'_> {
    /// The token as far as spacing and unary-minus decisions care.
    fn punct(&self) -> &str {
        match self {
            Tok::Const => "?",
            Tok::Text(t) => t,
            Tok::Word(_) | Tok::Quoted(_) => "",
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Tok::Const => out.push('?'),
            Tok::Text(t) => out.push_str(t),
            Tok::Word(w) => fold_digits(w, true, out),
            Tok::Quoted(q) => {
                out.push('"');
                fold_digits(q, false, out);
                out.push('"');
            }
        }
    }
}

/// The PostgreSQL fingerprint (see the module docs). When `safe`, a quoted identifier left open (it runs
/// to the end of the statement, swallowing whatever literals and comments follow) is read as a constant;
/// the flag returned says whether that happened.
pub(super) fn fingerprint(q: &str, safe: bool) -> (String, bool) {
    let mut changed = false;
    let mut toks: Vec<Tok<'_>> = Vec::with_capacity(q.len() / 4);
    // Indexes of the last two tokens when they were words (for `IS [NOT] NULL`).
    let mut prev_word: Option<&str> = None;
    let mut prev_prev_word: Option<&str> = None;
    for t in Lexer::new(q, Dialect::Postgresql) {
        let tok = match t.kind {
            Kind::Whitespace | Kind::Comment => continue,
            Kind::String | Kind::Number | Kind::Param => {
                // A unary minus before a constant belongs to the constant: PostgreSQL folds it into a
                // number, and pg_stat_statements writes `$n` for `-5` and `-$n` for `-5::int` or `-'5'`.
                if is_unary_minus(&toks) {
                    toks.pop();
                }
                Tok::Const
            }
            Kind::Word => {
                let after_is = prev_word.is_some_and(|w| w.eq_ignore_ascii_case("is"))
                    || (prev_word.is_some_and(|w| w.eq_ignore_ascii_case("not"))
                        && prev_prev_word.is_some_and(|w| w.eq_ignore_ascii_case("is")));
                let is_value = ["true", "false", "null"]
                    .iter()
                    .any(|k| t.text.eq_ignore_ascii_case(k));
                if is_value && !after_is {
                    Tok::Const
                } else {
                    Tok::Word(t.text)
                }
            }
            Kind::QuotedIdent if safe && t.unterminated => {
                changed = true;
                Tok::Const
            }
            Kind::QuotedIdent => {
                let body = &t.text[1..];
                Tok::Quoted(if !body.is_empty() && body.ends_with('"') {
                    &body[..body.len() - 1]
                } else {
                    body
                })
            }
            Kind::Cast => Tok::Text("::"),
            Kind::Punct => Tok::Text(t.text),
        };
        if t.kind == Kind::Word {
            prev_prev_word = prev_word.take();
            prev_word = Some(t.text);
        } else {
            prev_prev_word = None;
            prev_word = None;
        }
        toks.push(tok);
    }
    keyword_constants(&mut toks);
    (collapse_pg_lists(&write_tokens(&toks, q.len())), changed)
}

/// The tokens with canonical spacing (a function of the tokens only).
fn write_tokens(toks: &[Tok<'_>], len: usize) -> String {
    let mut out = String::with_capacity(len);
    for (i, t) in toks.iter().enumerate() {
        let prev = if i > 0 { toks[i - 1].punct() } else { "" };
        let cur = t.punct();
        let glue = i == 0
            || matches!(cur, "," | ")" | "." | "::" | ";" | "[" | "]")
            || matches!(prev, "(" | "." | "::" | "[");
        // Never glue what would lex differently once joined (`:` next to `::`).
        let glue = glue && !(prev.ends_with(':') && cur.starts_with(':'));
        if !glue {
            out.push(' ');
        }
        t.write(&mut out);
    }
    out
}

/// Whether the last token is a minus sign that applies to what follows (not a subtraction): it
/// follows nothing, an operator, an opening bracket or a keyword.
fn is_unary_minus(toks: &[Tok<'_>]) -> bool {
    if toks.last().is_none_or(|l| l.punct() != "-") {
        return false;
    }
    let before = toks.len().checked_sub(2).and_then(|k| toks.get(k));
    before.is_none_or(|b| match b {
        Tok::Word(w) => is_keyword(w),
        Tok::Quoted(_) => false,
        other => !matches!(other.punct(), ")" | "?" | "]"),
    })
}

/// Keywords after which a minus sign is unary.
fn is_keyword(w: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "select",
        "where",
        "and",
        "or",
        "not",
        "in",
        "values",
        "set",
        "then",
        "else",
        "when",
        "return",
        "returning",
        "limit",
        "offset",
        "by",
        "on",
        "between",
        "like",
        "ilike",
        "is",
        "case",
        "having",
        "interval",
        "from",
        "for",
        "to",
        "all",
        "any",
        "some",
        "distinct",
        "escape",
        "similar",
        "fetch",
        "first",
        "next",
        "default",
        "placing",
        "symmetric",
        "asymmetric",
        "array",
        "using",
        "with",
        "as",
        "exists",
        "row",
        "do",
        "over",
        "partition",
        "union",
        "except",
        "intersect",
        "leading",
        "trailing",
        "both",
        "collate",
        "at",
        "zone",
    ];
    KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k))
}

/// Keywords the parser turns into constants, which pg_stat_statements therefore writes as `$n`: the
/// field of `EXTRACT(field FROM x)`, the normal form of `NORMALIZE(x, NFC)` and `x IS NFC NORMALIZED`,
/// and `ALL` in `LIMIT ALL` (a null limit). They read `?` here too, whichever way they were written.
/// One look at each word; the neighbours are read only around the few words that can start a form.
fn keyword_constants(toks: &mut [Tok<'_>]) {
    let word =
        |t: Option<&Tok<'_>>, w: &str| matches!(t, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w));
    let text = |t: Option<&Tok<'_>>, s: &str| matches!(t, Some(Tok::Text(x)) if *x == s);
    for i in 0..toks.len() {
        let Tok::Word(w) = toks[i] else {
            continue;
        };
        let constant = match w.len() {
            // EXTRACT ( field FROM
            7 if w.eq_ignore_ascii_case("extract") => {
                if text(toks.get(i + 1), "(")
                    && matches!(toks.get(i + 2), Some(Tok::Word(_) | Tok::Quoted(_)))
                    && word(toks.get(i + 3), "from")
                {
                    toks[i + 2] = Tok::Const;
                }
                false
            }
            // LIMIT ALL
            5 if w.eq_ignore_ascii_case("limit") => {
                if word(toks.get(i + 1), "all") {
                    toks[i + 1] = Tok::Const;
                }
                false
            }
            // NORMALIZE(x, NFC) and x IS NFC NORMALIZED
            3 | 4
                if ["nfc", "nfd", "nfkc", "nfkd"]
                    .iter()
                    .any(|f| w.eq_ignore_ascii_case(f)) =>
            {
                let prev = i.checked_sub(1).and_then(|k| toks.get(k));
                let next = toks.get(i + 1);
                (text(prev, ",") && text(next, ")")) || word(next, "normalized")
            }
            _ => false,
        };
        if constant {
            toks[i] = Tok::Const;
        }
    }
}

/// `in (?, ?, ?)` -> `in (?+)`, `values (?, ?), (?, ?)` -> `values (?+)`, `any (?)` kept.
fn collapse_pg_lists(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        let boundary = i == 0 || !is_word(b[i - 1]);
        let kw = if boundary && b[i..].starts_with(b"in (") {
            2
        } else if boundary && b[i..].starts_with(b"values (") {
            6
        } else {
            0
        };
        if kw == 0 {
            i += 1;
            continue;
        }
        let placeholders = |c: u8| matches!(c, b' ' | b',' | b'?' | b'+');
        match groups_end(b, i + kw, placeholders, false) {
            Some(e) => {
                out.push_str(&s[last..i + kw]);
                out.push_str(" (?+)");
                last = e;
                i = e;
            }
            None => i += kw,
        }
    }
    out.push_str(&s[last..]);
    out
}
