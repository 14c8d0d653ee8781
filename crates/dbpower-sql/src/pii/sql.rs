//! The `pii_only` scrubbing of a statement: passwords and secrets found by the statement's structure
//! (read with the dialect's lexer), JSON documents in literals, then every detector over the result.
//! A statement that names nothing the structure looks for and holds no JSON skips the lexer.

use std::borrow::Cow;

use crate::Dialect;
use crate::lexer::{Kind, Lexer};

use super::json::document_edits;
use super::{PASSWORD, SECRET, Shapes, name_parts, next_byte, redact_settled, sensitive_name};

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
    unterminated: bool,
}

/// Scrubs `sql` for `pii_only`: literals stay, except the personal data and secrets in them (see the
/// module docs of [`super`]). Scrubbing the result again changes nothing.
pub fn redact_sql(sql: &str, dialect: Dialect) -> String {
    let mut pass = detect(structure(sql, dialect));
    // A placeholder from the detectors can swallow what the structure was read from (a keyword, a
    // comment opener): read the result again until nothing changes.
    for _ in 0..4 {
        if !pass.detected {
            break;
        }
        let structured = structure(&pass.out, dialect);
        // The detectors found nothing more in the result already: when the structure changes nothing
        // either, reading it again gives it back.
        if pass.settled && *structured == *pass.out {
            break;
        }
        let next = detect(structured);
        if next.out == pass.out {
            break;
        }
        pass = next;
    }
    pass.out
}

/// One pass over a statement: the text after the structure and the detectors.
struct Pass {
    out: String,
    /// Whether the detectors found anything.
    detected: bool,
    /// Whether the detectors are known to find nothing in `out`.
    settled: bool,
}

/// The detectors over the text the structure left.
fn detect(text: Cow<'_, str>) -> Pass {
    let (found, settled) = match redact_settled(&text, Shapes::Bare) {
        (Cow::Owned(out), settled) => (Some(out), settled),
        (Cow::Borrowed(_), settled) => (None, settled),
    };
    match found {
        Some(out) => Pass {
            out,
            detected: true,
            settled,
        },
        None => Pass {
            out: text.into_owned(),
            detected: false,
            settled,
        },
    }
}

/// The words the structural rules look for, in any case: the hints of sensitive names
/// ([`super::NAME_HINTS`], which hold `password`), `IDENTIFIED`, and the names of the encryption
/// functions. Each is listed under a pair of its letters chosen rare in SQL, with the pair's offset in
/// it, so that most of a statement is passed over by looking for the pairs alone.
const RULE_WORDS: &[Pair] = &[
    Pair(*b"ss", &[(b"pass", 2)]),
    Pair(*b"pw", &[(b"pwd", 0)]),
    Pair(*b"cr", &[(b"secret", 2), (b"credential", 0), (b"crypt", 0)]),
    Pair(*b"ok", &[(b"token", 1)]),
    Pair(*b"ey", &[(b"key", 1)]),
    Pair(*b"au", &[(b"auth", 0)]),
    Pair(*b"if", &[(b"identified", 5)]),
    Pair(*b"hm", &[(b"hmac", 0)]),
    Pair(*b"od", &[(b"encode", 3), (b"decode", 3)]),
];

/// Two lower-case letters, and the words that hold them with their offset in each.
struct Pair([u8; 2], &'static [(&'static [u8], usize)]);

/// Whether the structure cannot change `text`: it names nothing a rule looks for ([`RULE_WORDS`]) and
/// holds no JSON document (no `{`, and every `[` opens a placeholder, which is no JSON value). Most
/// statements are such, and need neither the lexer nor the marker.
fn inert(text: &str) -> bool {
    let b = text.as_bytes();
    const CHUNK: usize = 32;
    (0..b.len()).step_by(CHUNK).all(|from| {
        let to = (from + CHUNK).min(b.len());
        // A chunk with neither a pair nor a bracket is passed over as a whole; the last one is read
        // byte by byte.
        let candidate = b
            .get(from..=to)
            .and_then(|w| <&[u8; CHUNK + 1]>::try_from(w).ok())
            .is_none_or(pairs_in);
        !candidate || !(from..to).any(|j| rule_word_at(b, j))
    })
}

/// Whether a pair of [`RULE_WORDS`] or a bracket starts somewhere in the first 32 bytes of `w` (`[` and
/// `{` both read as `{` once lowered with 0x20). Written without stopping early, so that it compiles to
/// vector compares.
fn pairs_in(w: &[u8; 33]) -> bool {
    (0..32).fold(false, |hit, k| {
        let (x, y) = (w[k] | 0x20, w[k + 1] | 0x20);
        let pair = RULE_WORDS
            .iter()
            .fold(false, |h, Pair(p, _)| h | ((x == p[0]) & (y == p[1])));
        hit | (x == b'{') | pair
    })
}

/// Whether the byte at `j` is a bracket that is not a placeholder's, or the pair of a word of
/// [`RULE_WORDS`] that `b` holds there.
fn rule_word_at(b: &[u8], j: usize) -> bool {
    match b[j] {
        b'{' => return true,
        b'[' => return !b.get(j + 1).is_some_and(u8::is_ascii_uppercase),
        _ => {}
    }
    let Some(&y) = b.get(j + 1) else {
        return false;
    };
    let pair = [b[j].to_ascii_lowercase(), y.to_ascii_lowercase()];
    RULE_WORDS
        .iter()
        .filter(|Pair(p, _)| *p == pair)
        .flat_map(|Pair(_, words)| words.iter())
        .any(|&(w, offset)| {
            j.checked_sub(offset)
                .and_then(|start| b.get(start..start + w.len()))
                .is_some_and(|at| at.eq_ignore_ascii_case(w))
        })
}

/// The structural part of a pass: literals that are passwords or secrets by the statement's structure,
/// JSON documents and credential pairs in literals and comments. Borrows when [`inert`].
fn structure(sql: &str, dialect: Dialect) -> Cow<'_, str> {
    if inert(sql) {
        Cow::Borrowed(sql)
    } else {
        Cow::Owned(rewrite(sql, dialect))
    }
}

/// [`structure`], read with the lexer and the marker.
fn rewrite(sql: &str, dialect: Dialect) -> String {
    let all: Vec<Tok<'_>> = Lexer::new(sql, dialect)
        .map(|t| Tok {
            kind: t.kind,
            text: t.text,
            unterminated: t.unterminated,
        })
        .collect();
    let sig: Vec<usize> = (0..all.len())
        .filter(|&k| !matches!(all[k].kind, Kind::Whitespace | Kind::Comment))
        .collect();
    let toks: Vec<Tok<'_>> = sig.iter().map(|&k| all[k]).collect();
    let mut m = Marker {
        toks: &toks,
        sig: &sig,
        tags: vec![None; all.len()],
        insert_rows: vec![false; sig.len()],
        secret_rows: Vec::new(),
    };
    m.passwords();
    m.columns();
    m.inserts();
    let levels = m.levels();
    m.key_values(&levels);
    m.crypto_args(dialect, &levels);
    let mut out = String::with_capacity(sql.len() + 16);
    for (k, t) in all.iter().enumerate() {
        match t.kind {
            Kind::String => rewrite_literal(t, m.tags[k], dialect, &mut out),
            Kind::Comment => push_without_pairs(t.text, &mut out),
            _ => out.push_str(t.text),
        }
    }
    out
}

/// `key=value` / `key: value` pairs with a sensitive key (`password=...`, `api_key: ...`) in free text:
/// the byte ranges of the values and their placeholders.
pub(super) fn credential_pairs(text: &str) -> Vec<(usize, usize, &'static str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = next_byte(b, i, |c| c == b'=' || c == b':') {
        i = at;
        if b[i + 1..].starts_with(b"//") || b[i + 1..].starts_with(b"=") {
            i += 1;
            continue;
        }
        let mut k = i;
        while k > 0 && b[k - 1] == b' ' {
            k -= 1;
        }
        let key_end = k;
        while k > 0 && (b[k - 1].is_ascii_alphanumeric() || matches!(b[k - 1], b'_' | b'-' | b'.'))
        {
            k -= 1;
        }
        let Some(tag) = (k < key_end)
            .then(|| sensitive_name(&text[k..key_end]))
            .flatten()
        else {
            i += 1;
            continue;
        };
        let mut v = i + 1;
        while b.get(v) == Some(&b' ') {
            v += 1;
        }
        let value_end = |from: usize| {
            let mut end = from;
            while end < b.len()
                && !b[end].is_ascii_whitespace()
                && !matches!(
                    b[end],
                    b';' | b'&' | b'\'' | b'"' | b'\\' | b')' | b'}' | b','
                )
            {
                end += 1;
            }
            end
        };
        let mut end = value_end(v);
        // `Authorization: Bearer <token>`: the value is the token after the scheme.
        if ["bearer", "basic", "token", "digest"]
            .iter()
            .any(|w| text[v..end].eq_ignore_ascii_case(w))
            && b.get(end) == Some(&b' ')
        {
            let mut t = end;
            while b.get(t) == Some(&b' ') {
                t += 1;
            }
            if value_end(t) > t {
                v = t;
                end = value_end(t);
            }
        }
        if end > v {
            out.push((v, end, tag));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn push_without_pairs(text: &str, out: &mut String) {
    let mut last = 0;
    for (s, e, tag) in credential_pairs(text) {
        out.push_str(&text[last..s]);
        out.push_str(tag);
        last = e;
    }
    out.push_str(&text[last..]);
}

/// How a literal token is written: bytes before and after its content, the quote that doubles inside it
/// (0 for a dollar quote) and whether backslash escapes apply.
fn layout(t: &Tok<'_>, dialect: Dialect) -> (usize, usize, u8, bool) {
    let text = t.text;
    if let Some(rest) = text.strip_prefix('$') {
        let tag_len = rest.find('$').map_or(text.len(), |p| p + 2);
        let close = if t.unterminated { 0 } else { tag_len };
        return (tag_len.min(text.len()), close, 0, false);
    }
    let q = text.find(['\'', '"']).unwrap_or(0);
    let quote = text.as_bytes().get(q).copied().unwrap_or(b'\'');
    let backslash = match dialect {
        Dialect::Mysql => true,
        Dialect::Postgresql => text.starts_with(['e', 'E']),
    };
    let close = usize::from(!t.unterminated && text.len() > q + 1);
    (q + 1, close, quote, backslash)
}

/// Writes a string literal: whole content replaced by `tag`, or its JSON values or credential pairs
/// redacted, or as is.
fn rewrite_literal(t: &Tok<'_>, tag: Option<&'static str>, dialect: Dialect, out: &mut String) {
    let (open, close, quote, backslash) = layout(t, dialect);
    let text = t.text;
    let body_end = text.len() - close;
    if open > body_end {
        out.push_str(text);
        return;
    }
    let body = &text[open..body_end];
    out.push_str(&text[..open]);
    if let Some(tag) = tag {
        out.push_str(tag);
    } else if let Some(edits) = json_edits(body, quote, backslash) {
        out.push_str(&crate::splice(body, edits));
    } else {
        push_without_pairs(body, out);
    }
    out.push_str(&text[body_end..]);
}

/// The literal's content decoded (doubled quotes, backslash escapes), with the raw offset of every
/// decoded byte (and of the end); no offsets when nothing needed decoding (every byte is where it was).
fn decode(body: &str, quote: u8, backslash: bool) -> (Cow<'_, str>, Option<Vec<usize>>) {
    let b = body.as_bytes();
    let escaped = (backslash && b.contains(&b'\\')) || (quote != 0 && b.contains(&quote));
    if !escaped {
        return (Cow::Borrowed(body), None);
    }
    let mut out = String::with_capacity(body.len());
    let mut map = Vec::with_capacity(body.len() + 1);
    let mut i = 0;
    while i < b.len() {
        let from = i;
        if backslash && b[i] == b'\\' && i + 1 < b.len() {
            let Some(ch) = body[i + 1..].chars().next() else {
                break;
            };
            i += 1 + ch.len_utf8();
            let decoded = match ch {
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                '0' => '\0',
                'b' => '\u{8}',
                'Z' => '\u{1a}',
                '%' | '_' => {
                    out.push('\\');
                    map.push(from);
                    ch
                }
                other => other,
            };
            out.push(decoded);
            map.extend(std::iter::repeat_n(from, decoded.len_utf8()));
            continue;
        }
        if quote != 0 && b[i] == quote && b.get(i + 1) == Some(&quote) {
            out.push(char::from(quote));
            map.push(from);
            i += 2;
            continue;
        }
        let Some(ch) = body[i..].chars().next() else {
            break;
        };
        out.push(ch);
        map.extend(from..from + ch.len_utf8());
        i += ch.len_utf8();
    }
    map.push(b.len());
    (Cow::Owned(out), Some(map))
}

/// When the literal's content is a JSON document: the raw replacements that redact it.
fn json_edits(body: &str, quote: u8, backslash: bool) -> Option<Vec<(usize, usize, String)>> {
    let first = body.trim_start().as_bytes().first()?;
    if !matches!(first, b'{' | b'[') {
        return None;
    }
    let (content, map) = decode(body, quote, backslash);
    let raw = |k: usize| map.as_ref().map_or(k, |m| m[k]);
    let edits = document_edits(&content)?;
    // A double quote inside a `"`-quoted MySQL literal is written `\"`.
    let dq = if quote == b'"' { "\\\"" } else { "\"" };
    Some(
        edits
            .into_iter()
            .map(|e| {
                let replacement = if e.quote {
                    format!("{dq}{}{dq}", e.tag)
                } else {
                    e.tag.to_string()
                };
                (raw(e.start), raw(e.end), replacement)
            })
            .collect(),
    )
}

/// Decides, token by token, which string literals are passwords or secrets.
struct Marker<'t, 'a> {
    /// The tokens other than whitespace and comments (the "sig" tokens), in order.
    toks: &'t [Tok<'a>],
    /// The position of each of them among all tokens.
    sig: &'t [usize],
    tags: Vec<Option<&'static str>>,
    /// The `(` of every row an `INSERT` with a column list was read with.
    insert_rows: Vec<bool>,
    /// Where a key/value row named a secret, and its placeholder.
    secret_rows: Vec<(usize, &'static str)>,
}

/// Words that end the right-hand side of a comparison or assignment.
const CLAUSE_END: &[&str] = &[
    "and",
    "or",
    "where",
    "from",
    "group",
    "order",
    "limit",
    "having",
    "set",
    "values",
    "on",
    "when",
    "then",
    "else",
    "end",
    "returning",
    "union",
    "into",
    "join",
    "inner",
    "left",
    "right",
    "full",
    "cross",
    "offset",
    "for",
    "using",
    "window",
    "intersect",
    "except",
    "select",
];

/// Words that end the authentication part of `IDENTIFIED ...`.
const IDENTIFIED_END: &[&str] = &[
    "require",
    "account",
    "comment",
    "attribute",
    "default",
    "failed_login_attempts",
    "password_lock_time",
    "and",
    "retain",
    "discard",
    "with",
];

impl<'a> Marker<'_, 'a> {
    fn tok(&self, p: usize) -> Option<&Tok<'a>> {
        self.toks.get(p)
    }

    fn kind(&self, p: usize) -> Option<Kind> {
        self.tok(p).map(|t| t.kind)
    }

    fn is_kw(&self, p: usize, kw: &str) -> bool {
        self.tok(p)
            .is_some_and(|t| t.kind == Kind::Word && t.text.eq_ignore_ascii_case(kw))
    }

    fn is_kw_in(&self, p: usize, kws: &[&str]) -> bool {
        self.tok(p).is_some_and(|t| {
            t.kind == Kind::Word && kws.iter().any(|k| t.text.eq_ignore_ascii_case(k))
        })
    }

    fn is_punct(&self, p: usize, c: &str) -> bool {
        self.tok(p)
            .is_some_and(|t| t.kind == Kind::Punct && t.text == c)
    }

    /// Whether sig tokens `p` and `p + 1` touch (no space or comment between).
    fn touching(&self, p: usize) -> bool {
        matches!((self.sig.get(p), self.sig.get(p + 1)), (Some(&a), Some(&b)) if b == a + 1)
    }

    fn mark(&mut self, p: usize, tag: &'static str) {
        // A literal that is already a placeholder stays as it is: what marked it (a key literal next to
        // it, say) may be a placeholder itself by now, and another rule would pick another one.
        if let (Some(&k), Some(t)) = (self.sig.get(p), self.toks.get(p))
            && t.kind == Kind::String
            && self.tags[k].is_none()
            && !is_placeholder_literal(t.text)
        {
            self.tags[k] = Some(tag);
        }
    }

    /// `IDENTIFIED [WITH|VIA plugin] BY|AS|USING '...'`, `SET PASSWORD ... = '...'`, `PASSWORD '...'`,
    /// `PASSWORD('...')`.
    fn passwords(&mut self) {
        let mut stmt_start = 0;
        let mut identified = false;
        let mut set_password = false;
        let mut after_eq = false;
        for p in 0..self.sig.len() {
            if self.is_punct(p, ";") {
                stmt_start = p + 1;
                (identified, set_password, after_eq) = (false, false, false);
                continue;
            }
            if p == stmt_start + 1 && self.is_kw(stmt_start, "set") && self.is_kw(p, "password") {
                set_password = true;
            }
            if set_password && self.is_punct(p, "=") {
                after_eq = true;
            }
            if self.is_kw(p, "identified") {
                identified = true;
                continue;
            }
            if identified {
                let plugin_clause = p > 0 && self.is_kw(p - 1, "identified");
                let ends = self.is_punct(p, ",")
                    || (self.is_kw_in(p, IDENTIFIED_END) && !plugin_clause)
                    || (self.is_kw(p, "password") && !self.is_punct(p + 1, "("));
                if ends {
                    identified = false;
                }
            }
            if self.kind(p) != Some(Kind::String) {
                continue;
            }
            let after_plugin_word = p > 0 && self.is_kw_in(p - 1, &["with", "via"]);
            let after_password = p > 0 && self.is_kw(p - 1, "password");
            let password_call = p > 1
                && self.is_punct(p - 1, "(")
                && self.is_kw_in(p - 2, &["password", "old_password"]);
            if after_eq || (identified && !after_plugin_word) || after_password || password_call {
                self.mark(p, PASSWORD);
            }
        }
    }

    /// A sensitive name at `p`: a column, variable or quoted identifier, or the key after `->`/`->>`.
    fn name_tag(&self, p: usize) -> Option<&'static str> {
        let t = self.tok(p)?;
        let name = match t.kind {
            Kind::Word => t.text,
            Kind::QuotedIdent => t.text.trim_matches(['`', '"']),
            Kind::String => {
                let arrow = p >= 2
                    && self.is_punct(p - 1, ">")
                    && (self.is_punct(p - 2, "-")
                        || (p >= 3 && self.is_punct(p - 2, ">") && self.is_punct(p - 3, "-")));
                if !arrow {
                    return None;
                }
                t.text.trim_matches(['\'', '"'])
            }
            _ => return None,
        };
        sensitive_name(name)
    }

    /// The length in tokens of a comparison or assignment operator at `p` (`=`, `!=`, `<>`, `<=>`, `:=`,
    /// `[NOT] LIKE|ILIKE|IN`); only the first four when `equality_only`.
    fn op_len(&self, p: usize, equality_only: bool) -> Option<usize> {
        let t = self.tok(p)?;
        if t.kind == Kind::Punct {
            // Up to three touching one-byte tokens.
            let mut op = [0u8; 3];
            let mut len = 0;
            let mut q = p;
            while len < 3
                && let Some(u) = self.tok(q)
                && u.kind == Kind::Punct
                && matches!(u.text, "=" | "!" | "<" | ">" | ":")
            {
                op[len] = u.text.as_bytes()[0];
                len += 1;
                if !self.touching(q) {
                    break;
                }
                q += 1;
            }
            return match &op[..len] {
                b"<=>" => Some(3),
                b"!=" | b"<>" => Some(2),
                b":=" if !equality_only => Some(2),
                b"=" => Some(1),
                _ => None,
            };
        }
        if equality_only {
            return None;
        }
        if self.is_kw_in(p, &["like", "ilike", "in"]) {
            return Some(1);
        }
        (self.is_kw(p, "not") && self.is_kw_in(p + 1, &["like", "ilike", "in"])).then_some(2)
    }

    /// Marks the string literals of the operand starting at `p`; returns where it ends.
    fn mark_operand(&mut self, mut p: usize, tag: &'static str) -> usize {
        let mut depth = 0usize;
        while let Some(t) = self.tok(p) {
            match t.kind {
                Kind::String => self.mark(p, tag),
                Kind::Punct if t.text == "(" => depth += 1,
                Kind::Punct if t.text == ")" => {
                    if depth == 0 {
                        return p;
                    }
                    depth -= 1;
                }
                Kind::Punct if t.text == ";" || (t.text == "," && depth == 0) => return p,
                Kind::Word if depth == 0 && self.is_kw_in(p, CLAUSE_END) => return p,
                _ => {}
            }
            p += 1;
        }
        p
    }

    /// `name = '...'`, `name IN ('...')`, `'...' = t.name`.
    fn columns(&mut self) {
        // An operand that starts inside one already read ends inside it too, and its literals are
        // marked: skipping it keeps `password = password = ...` linear.
        let mut read_to = 0;
        for p in 0..self.sig.len() {
            if p >= read_to
                && let Some(tag) = self.name_tag(p)
                && let Some(len) = self.op_len(p + 1, false)
            {
                read_to = self.mark_operand(p + 1 + len, tag);
            }
            if self.kind(p) == Some(Kind::String)
                && let Some(len) = self.op_len(p + 1, true)
            {
                let mut q = p + 1 + len;
                while self.is_punct(q + 1, ".")
                    && matches!(self.kind(q + 2), Some(Kind::Word | Kind::QuotedIdent))
                {
                    q += 2;
                }
                if matches!(self.kind(q), Some(Kind::Word | Kind::QuotedIdent))
                    && !self.is_punct(q + 1, "(")
                    && let Some(tag) = self.name_tag(q)
                {
                    self.mark(p, tag);
                }
            }
        }
    }

    /// `INSERT|REPLACE [INTO] t (cols) VALUES (...), (...)` and `... (cols) SELECT ...`: the values at the
    /// positions of sensitive columns.
    fn inserts(&mut self) {
        // Statements are read once: an INSERT inside rows already read is not read again.
        let mut read_to = 0;
        for p in 0..self.sig.len() {
            if p < read_to || !self.is_kw_in(p, &["insert", "replace"]) {
                continue;
            }
            let mut q = p + 1;
            while self.is_kw_in(q, &["low_priority", "delayed", "high_priority", "ignore"]) {
                q += 1;
            }
            if self.is_kw(q, "into") {
                q += 1;
            }
            if !matches!(self.kind(q), Some(Kind::Word | Kind::QuotedIdent)) {
                continue;
            }
            q += 1;
            while self.is_punct(q, ".")
                && matches!(self.kind(q + 1), Some(Kind::Word | Kind::QuotedIdent))
            {
                q += 2;
            }
            if self.is_kw(q, "as") {
                q += 2;
            }
            if !self.is_punct(q, "(") {
                continue;
            }
            // The column list.
            let mut cols: Vec<Option<&'static str>> = vec![None];
            let mut names: Vec<&str> = vec![""];
            q += 1;
            loop {
                match self.tok(q) {
                    Some(t) if t.kind == Kind::Punct && t.text == ")" => break,
                    Some(t) if t.kind == Kind::Punct && t.text == "," => {
                        cols.push(None);
                        names.push("");
                    }
                    Some(t) if matches!(t.kind, Kind::Word | Kind::QuotedIdent) => {
                        if let Some(last) = cols.last_mut() {
                            *last = self.name_tag(q);
                        }
                        if let Some(last) = names.last_mut() {
                            *last = self.column_name(q).unwrap_or_default();
                        }
                    }
                    Some(_) => {}
                    None => break,
                }
                q += 1;
            }
            q += 1;
            let key_cols: Vec<bool> = names
                .iter()
                .map(|c| column_part_in(c, KEY_COLUMNS))
                .collect();
            let value_cols: Vec<usize> = (0..names.len())
                .filter(|&j| column_part_in(names[j], VALUE_COLUMNS))
                .collect();
            let kv = (&key_cols[..], &value_cols[..]);
            if self.is_kw(q, "select") {
                let (elems, _) = self.row_elements(q + 1, false);
                self.key_value_row(&elems, kv);
                read_to = self.mark_row(q + 1, &cols, false);
                continue;
            }
            // `VALUES`/`VALUE` (after PostgreSQL's `OVERRIDING ... VALUE`).
            let Some(v) = (q..q + 4).find(|&v| {
                self.is_kw_in(v, &["values", "value"])
                    && (self.is_punct(v + 1, "(") || self.is_kw(v + 1, "row"))
            }) else {
                continue;
            };
            let mut r = v + 1;
            loop {
                if self.is_kw(r, "row") {
                    r += 1;
                }
                if !self.is_punct(r, "(") {
                    break;
                }
                self.insert_rows[r] = true;
                let (elems, _) = self.row_elements(r + 1, true);
                self.key_value_row(&elems, kv);
                r = self.mark_row(r + 1, &cols, true);
                read_to = r;
                if !self.is_punct(r, ",") {
                    break;
                }
                r += 1;
            }
        }
    }

    /// Marks the literals of one row (a parenthesized tuple when `closed`, else a select list) whose
    /// position is a sensitive column; returns the position after the row.
    fn mark_row(&mut self, mut p: usize, cols: &[Option<&'static str>], closed: bool) -> usize {
        let mut depth = 0usize;
        let mut col = 0usize;
        while let Some(t) = self.tok(p) {
            match t.kind {
                Kind::Punct if t.text == "(" => depth += 1,
                Kind::Punct if t.text == ")" => {
                    if depth == 0 {
                        return p + 1;
                    }
                    depth -= 1;
                }
                Kind::Punct if t.text == "," && depth == 0 => col += 1,
                Kind::Punct if t.text == ";" => return p,
                Kind::Word
                    if !closed
                        && depth == 0
                        && self.is_kw_in(p, &["from", "where", "union", "on", "returning"]) =>
                {
                    return p;
                }
                Kind::String => {
                    if let Some(tag) = cols.get(col).copied().flatten() {
                        self.mark(p, tag);
                    }
                }
                _ => {}
            }
            p += 1;
        }
        p
    }

    fn levels(&self) -> Levels {
        let n = self.sig.len();
        let mut open_of = vec![usize::MAX; n];
        let mut next_sep = vec![usize::MAX; n];
        let mut prev_sep = vec![usize::MAX; n];
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for p in 0..n {
            if let Some(&(open, _)) = stack.last() {
                open_of[p] = open;
            }
            if self.is_punct(p, "(") {
                stack.push((p, p));
            } else if self.is_punct(p, ",") {
                if let Some(top) = stack.last_mut() {
                    next_sep[top.1] = p;
                    prev_sep[p] = top.1;
                    top.1 = p;
                }
            } else if self.is_punct(p, ")") {
                if let Some((_, last)) = stack.pop() {
                    next_sep[last] = p;
                }
            } else if self.is_punct(p, ";") {
                // A level left open ends with its statement (a truncated call still has its key).
                for (_, last) in stack.drain(..) {
                    next_sep[last] = p;
                }
            }
        }
        for (_, last) in stack {
            next_sep[last] = n;
        }
        Levels {
            open_of,
            next_sep,
            prev_sep,
        }
    }

    /// A column name at `p`: a word, or a quoted identifier without its quotes.
    fn column_name(&self, p: usize) -> Option<&'a str> {
        let t = self.tok(p)?;
        match t.kind {
            Kind::Word => Some(t.text),
            Kind::QuotedIdent => Some(t.text.trim_matches(['`', '"'])),
            _ => None,
        }
    }

    /// A literal at `p` whose content is a key naming a secret (`'smtp_password'`, `'api.token'`): a
    /// short name (letters, digits, `_ . - : /`) that [`sensitive_name`] accepts, with its placeholder.
    fn secret_key(&self, p: usize) -> Option<&'static str> {
        let t = self.tok(p)?;
        if t.kind != Kind::String || t.unterminated {
            return None;
        }
        let q = t.text.find(['\'', '"'])?;
        let inner = t.text.get(q + 1..t.text.len().checked_sub(1)?)?;
        let name_like = !inner.is_empty()
            && inner.len() <= 64
            && inner.bytes().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b':' | b'/')
            });
        if name_like {
            sensitive_name(inner)
        } else {
            None
        }
    }

    /// The elements of the row that starts at `p` (after its `(` when `closed`, else a select list): the
    /// sig range of each, split at top-level commas; and where the row ends.
    fn row_elements(&self, mut p: usize, closed: bool) -> (Vec<(usize, usize)>, usize) {
        let mut depth = 0usize;
        let mut elems = Vec::new();
        let mut start = p;
        while let Some(t) = self.tok(p) {
            match t.kind {
                Kind::Punct if t.text == "(" => depth += 1,
                Kind::Punct if t.text == ")" => {
                    if depth == 0 {
                        elems.push((start, p));
                        return (elems, p + 1);
                    }
                    depth -= 1;
                }
                Kind::Punct if t.text == "," && depth == 0 => {
                    elems.push((start, p));
                    start = p + 1;
                }
                Kind::Punct if t.text == ";" => break,
                Kind::Word
                    if !closed
                        && depth == 0
                        && self.is_kw_in(p, &["from", "where", "union", "on", "returning"]) =>
                {
                    break;
                }
                _ => {}
            }
            p += 1;
        }
        elems.push((start, p));
        (elems, p)
    }

    /// Marks the string literals of sig range `s..e`.
    fn mark_range(&mut self, (s, e): (usize, usize), tag: &'static str) {
        for p in s..e {
            self.mark(p, tag);
        }
    }

    /// One row of an `INSERT` with a column list: when an element is a key naming a secret under a
    /// key column (`name`, `option_name`, `meta_key`, ...), the values under the value columns (`value`,
    /// `option_value`, ...) become its placeholder, or, without value columns, the element after it
    /// (before it when it is the last).
    fn key_value_row(&mut self, elems: &[(usize, usize)], (keys, values): (&[bool], &[usize])) {
        if elems.len() != keys.len() {
            return;
        }
        for (k, &(s, e)) in elems.iter().enumerate() {
            if e != s + 1 || !keys[k] {
                continue;
            }
            let Some(tag) = self.secret_key(s) else {
                continue;
            };
            self.secret_rows.push((s, tag));
            if values.iter().any(|&j| j != k) {
                for &j in values.iter().filter(|&&j| j != k) {
                    self.mark_range(elems[j], tag);
                }
                // Every key of the row points at the same values.
                return;
            }
            let j = if k + 1 < elems.len() {
                k + 1
            } else if k > 0 {
                k - 1
            } else {
                continue;
            };
            self.mark_range(elems[j], tag);
        }
    }

    /// Secrets in key/value form outside an `INSERT` column list:
    /// - a tuple element that is a key naming a secret: the element after it (before it when it is the
    ///   last) in `VALUES (...)` rows, row constructors (`(k, v) = ('api_token', '...')`) and
    ///   `JSON_OBJECT`/`json_build_object`/`set_config`/`hstore` arguments; not in `IN (...)` lists or
    ///   other calls;
    /// - then, in a statement where such a key was found, or compared with a key column
    ///   (`WHERE key = 'api_token'`), the literals assigned to or compared with value columns
    ///   (`SET value = '...'`).
    fn key_values(&mut self, levels: &Levels) {
        let n = self.sig.len();
        let Levels {
            open_of,
            next_sep,
            prev_sep,
        } = levels;
        let mut marked = Skip::new(n);
        for p in 1..n.saturating_sub(1) {
            let open = open_of[p];
            if open == usize::MAX
                || self.insert_rows[open]
                || !(self.is_punct(p - 1, "(") || self.is_punct(p - 1, ","))
                || !(self.is_punct(p + 1, ",") || self.is_punct(p + 1, ")"))
                || !self.tuple_context(open)
            {
                continue;
            }
            let Some(tag) = self.secret_key(p) else {
                continue;
            };
            let range = if self.is_punct(p + 1, ",") {
                (p + 2, next_sep[p + 1])
            } else if self.is_punct(p - 1, ",") {
                (prev_sep[p - 1] + 1, p - 1)
            } else {
                continue;
            };
            if range.1 == usize::MAX {
                continue;
            }
            self.secret_rows.push((p, tag));
            for q in marked.take(range) {
                self.mark(q, tag);
            }
        }
        self.value_columns();
    }

    /// Whether the tuple opened at `open` pairs keys with values: a `VALUES` row, a row constructor, or
    /// the arguments of a function that takes keys and values.
    fn tuple_context(&self, open: usize) -> bool {
        let Some(prev) = open.checked_sub(1) else {
            return true;
        };
        match self.kind(prev) {
            Some(Kind::Punct) => true,
            Some(Kind::Word) => self.is_kw_in(prev, KEY_VALUE_CALLS),
            _ => false,
        }
    }

    /// In each statement where a key naming a secret was found: literals assigned to or compared with
    /// value columns.
    fn value_columns(&mut self) {
        let mut rows = std::mem::take(&mut self.secret_rows);
        rows.sort_unstable();
        let mut next_row = 0;
        let mut start = 0;
        let n = self.sig.len();
        for end in 0..=n {
            if end < n && !self.is_punct(end, ";") {
                continue;
            }
            let mut tag = None;
            while next_row < rows.len() && rows[next_row].0 < end {
                tag = tag.or(Some(rows[next_row].1));
                next_row += 1;
            }
            for p in start..end {
                if tag.is_some() {
                    break;
                }
                // Names first: most tokens are none, and need no look at an operator.
                if let Some(name) = self.column_name(p)
                    && let Some(len) = self.op_len(p + 1, false)
                    && column_part_in(name, KEY_COLUMNS)
                {
                    let v = p + 1 + len;
                    let v = if self.is_punct(v, "(") { v + 1 } else { v };
                    tag = self.secret_key(v);
                }
            }
            if let Some(tag) = tag {
                let mut read_to = start;
                for p in start..end {
                    if p >= read_to
                        && let Some(name) = self.column_name(p)
                        && let Some(len) = self.op_len(p + 1, false)
                        && column_part_in(name, VALUE_COLUMNS)
                    {
                        read_to = self.mark_operand(p + 1 + len, tag);
                    }
                }
            }
            start = end + 1;
        }
    }

    /// The key arguments of encryption functions (`AES_ENCRYPT(x, 'key')`, `pgp_sym_encrypt(x, 'key')`,
    /// `hmac(x, 'key', 'sha256')`, ...) and the password given to `crypt()` and MySQL's `ENCRYPT()`.
    fn crypto_args(&mut self, dialect: Dialect, levels: &Levels) {
        let n = self.sig.len();
        let mut marked = Skip::new(n);
        for p in 0..n {
            let Some(t) = self.tok(p) else { break };
            if t.kind != Kind::Word || !self.is_punct(p + 1, "(") {
                continue;
            }
            let args: &[(usize, &'static str)] = match crypto_function(t.text, dialect) {
                Some(args) => args,
                None => continue,
            };
            // Argument `k` runs from after the `k`th separator of the call's level to the next one.
            let mut sep = p + 1;
            let mut k = 0;
            for &(arg, tag) in args {
                while k < arg {
                    let next = levels.next_sep[sep];
                    if next == usize::MAX || !self.is_punct(next, ",") {
                        break;
                    }
                    sep = next;
                    k += 1;
                }
                if k != arg {
                    break;
                }
                let end = levels.next_sep[sep];
                if end == usize::MAX {
                    break;
                }
                for q in marked.take((sep + 1, end)) {
                    self.mark(q, tag);
                }
            }
        }
    }
}

/// Parenthesis levels, read in one pass so that reading tuples and arguments stays linear: for every
/// sig token the `(` it is inside; for every `(` and `,` the next `,` or `)` of its level (or the end of
/// the statement when the level is left open) and, for a `,`, the `(` or `,` before it (`usize::MAX`
/// when there is none).
struct Levels {
    open_of: Vec<usize>,
    next_sep: Vec<usize>,
    prev_sep: Vec<usize>,
}

/// Whether a literal's whole content is a placeholder (`'[SECRET_REDACTED]'`, `$$[PASSWORD_REDACTED]$$`;
/// also one that runs unterminated to the end of the text, as a cut statement's last literal does).
fn is_placeholder_literal(text: &str) -> bool {
    let (Some(open), Some(close)) = (text.find('['), text.rfind(']')) else {
        return false;
    };
    // `'] ['`: a closing bracket before the first opening one is no placeholder.
    if close < open {
        return false;
    }
    let (before, inner, after) = (&text[..open], &text[open + 1..close], &text[close + 1..]);
    let name_ok = inner
        .strip_suffix("_REDACTED")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_uppercase() || c == b'_'));
    let quoted = before
        .strip_suffix(['\'', '"'])
        .is_some_and(|prefix| prefix.bytes().all(|c| c.is_ascii_alphabetic()))
        && (after == "'" || after == "\"" || after.is_empty());
    let dollar =
        before.len() >= 2 && before.starts_with('$') && before.ends_with('$') && after == before;
    name_ok && (quoted || dollar)
}

/// Last parts of a column name that say it holds a setting's key.
const KEY_COLUMNS: &[&str] = &[
    "key",
    "k",
    "name",
    "setting",
    "param",
    "parameter",
    "option",
    "property",
    "prop",
    "variable",
    "var",
    "field",
    "attribute",
    "attr",
    "config",
    "conf",
    "id",
    "code",
    "item",
];

/// Last parts of a column name that say it holds a setting's value.
const VALUE_COLUMNS: &[&str] = &["value", "val", "v", "data", "content", "contents", "text"];

/// Calls whose arguments pair keys with values.
const KEY_VALUE_CALLS: &[&str] = &[
    "values",
    "value",
    "row",
    "json_object",
    "json_build_object",
    "jsonb_build_object",
    "set_config",
    "hstore",
];

/// Whether a column name's last part is one of `parts`.
fn column_part_in(name: &str, parts: &[&str]) -> bool {
    // Most names end in none of the parts: answer those without allocating.
    let b = name.as_bytes();
    if b.len() > 128
        || !parts.iter().any(|p| {
            b.len() >= p.len() && b[b.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
        })
    {
        return false;
    }
    let (_, last) = name_parts(name);
    parts.contains(&last.as_str())
}

/// Which arguments of an encryption function are keys or passwords, by position. Each name holds a
/// word of [`RULE_WORDS`].
fn crypto_function(name: &str, dialect: Dialect) -> Option<&'static [(usize, &'static str)]> {
    const KEY: &[(usize, &str)] = &[(1, SECRET)];
    const PRIVATE_KEY_AND_PASSWORD: &[(usize, &str)] = &[(1, SECRET), (2, PASSWORD)];
    const PASSWORD_ARG: &[(usize, &str)] = &[(0, PASSWORD)];
    const PASSWORD_AND_SALT: &[(usize, &str)] = &[(0, PASSWORD), (1, SECRET)];
    // The longest name has 21 bytes: lower-case a longer one is none of them.
    let mut lower = [0u8; 24];
    let buf = lower.get_mut(..name.len())?;
    buf.copy_from_slice(name.as_bytes());
    buf.make_ascii_lowercase();
    Some(match (std::str::from_utf8(buf).ok()?, dialect) {
        (
            "aes_encrypt"
            | "aes_decrypt"
            | "des_encrypt"
            | "des_decrypt"
            | "pgp_sym_encrypt"
            | "pgp_sym_decrypt"
            | "pgp_sym_encrypt_bytea"
            | "pgp_sym_decrypt_bytea"
            | "decrypt"
            | "encrypt_iv"
            | "decrypt_iv"
            | "hmac",
            _,
        )
        | ("encode" | "decode", Dialect::Mysql)
        | ("encrypt", Dialect::Postgresql) => KEY,
        ("pgp_pub_decrypt" | "pgp_pub_decrypt_bytea", _) => PRIVATE_KEY_AND_PASSWORD,
        ("crypt", _) => PASSWORD_ARG,
        // MySQL's `ENCRYPT(str, salt)` is Unix crypt(): the string is a password.
        ("encrypt", Dialect::Mysql) => PASSWORD_AND_SALT,
        _ => return None,
    })
}

/// Sig positions not yet visited, so that marking nested ranges (a call inside the key of another)
/// visits every token once.
struct Skip {
    next: Vec<usize>,
}

impl Skip {
    fn new(n: usize) -> Self {
        Skip {
            next: (0..=n).collect(),
        }
    }

    /// The first unvisited position at or after `p`.
    fn find(&mut self, p: usize) -> usize {
        let mut root = p.min(self.next.len() - 1);
        while self.next[root] != root {
            root = self.next[root];
        }
        let mut q = p.min(self.next.len() - 1);
        while self.next[q] != root {
            let up = self.next[q];
            self.next[q] = root;
            q = up;
        }
        root
    }

    /// The unvisited positions of `s..e`, now visited.
    fn take(&mut self, (s, e): (usize, usize)) -> Vec<usize> {
        let mut out = Vec::new();
        let mut p = self.find(s);
        while p < e {
            out.push(p);
            self.next[p] = p + 1;
            p = self.find(p + 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every word of a sensitive name's hints and of the structural rules, including each encryption
    /// function's name, is found at any offset (across the 32-byte chunks too) and in any case.
    #[test]
    fn inert_sees_every_word_a_rule_looks_for() {
        for Pair(pair, words) in RULE_WORDS {
            for &(w, at) in *words {
                assert_eq!(&w[at..at + 2], pair, "{}", String::from_utf8_lossy(w));
            }
        }
        let mut names: Vec<String> = super::super::NAME_HINTS
            .words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        names.extend(["identified", "password", "old_password"].map(String::from));
        for f in [
            "aes_encrypt",
            "aes_decrypt",
            "des_encrypt",
            "des_decrypt",
            "pgp_sym_encrypt",
            "pgp_sym_decrypt_bytea",
            "pgp_pub_decrypt",
            "decrypt",
            "encrypt_iv",
            "hmac",
            "encode",
            "decode",
            "encrypt",
            "crypt",
        ] {
            let known = [Dialect::Mysql, Dialect::Postgresql]
                .iter()
                .any(|&d| crypto_function(f, d).is_some());
            assert!(known, "{f}");
            names.push(f.to_string());
        }
        for name in names {
            for word in [name.clone(), name.to_ascii_uppercase()] {
                for pad in 0..70 {
                    let sql = format!("SELECT {} x{word}y FROM t", "a".repeat(pad));
                    assert!(!inert(&sql), "{sql}");
                }
            }
        }
        assert!(inert(
            "SELECT a FROM t WHERE b = '[EMAIL_REDACTED]' AND c IN (1, 2)"
        ));
        assert!(!inert("SELECT '[1]'") && !inert("SELECT '{}'") && !inert("SELECT ["));
    }

    fn fragment() -> impl Strategy<Value = &'static str> {
        // Statements, literals, comments and placeholders, without the words [`RULE_WORDS`] lists
        // or a JSON document: text the rules must leave as it is.
        const FRAGMENTS: &[&str] = &[
            "SELECT ",
            "INSERT INTO t (name, value) VALUES ",
            "UPDATE t SET value = ",
            "ROW(",
            "JSON_OBJECT(",
            "set_config(",
            "hstore(",
            "WHERE ",
            "name",
            "value",
            "option_name",
            "meta_value",
            " = ",
            " IN ",
            "->>",
            ", ",
            "(",
            ")",
            ";",
            " ",
            "'x'",
            "'a=b c: d'",
            "'[EMAIL_REDACTED]'",
            "'[IP_REDACTED] x'",
            "[PHONE_REDACTED]",
            "'[A'",
            "\"dq\"",
            "`q`",
            "$$x$$",
            "E'\\''",
            "'it''s'",
            "/* c=1 */",
            "-- c: 2\n",
            "# c\n",
            "'",
            "\"",
            "ann@example.com",
            "4111111111111111",
            "$1",
            "?",
            "x'0A'",
            "::text",
        ];
        prop::sample::select(FRAGMENTS)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// What [`inert`] lets skip the lexer and the marker is left as it is by them.
        #[test]
        fn the_structure_leaves_inert_text_alone(
            parts in prop::collection::vec(fragment(), 0..40),
            postgres in any::<bool>(),
        ) {
            let sql = parts.concat();
            let d = if postgres { Dialect::Postgresql } else { Dialect::Mysql };
            prop_assume!(inert(&sql));
            prop_assert_eq!(rewrite(&sql, d), sql);
        }
    }
}
