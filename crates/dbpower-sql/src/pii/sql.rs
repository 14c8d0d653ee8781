//! The `pii_only` scrubbing of a statement: passwords and secrets found by the statement's structure
//! (read with the dialect's lexer), JSON documents in literals, then every detector over the result.

use crate::Dialect;
use crate::lexer::{Kind, Lexer};

use super::json::document_edits;
use super::{PASSWORD, redact, sensitive_name};

#[derive(Debug, Clone, Copy)]
struct Tok<'a> {
    kind: Kind,
    text: &'a str,
    unterminated: bool,
}

/// Scrubs `sql` for `pii_only`: literals stay, except the personal data and secrets in them (see the
/// module docs of [`super`]). Scrubbing the result again changes nothing.
pub fn redact_sql(sql: &str, dialect: Dialect) -> String {
    let (mut out, mut detected) = redact_sql_once(sql, dialect);
    // A placeholder from the detectors can swallow what the structure was read from (a keyword, a
    // comment opener): read the result again until nothing changes.
    for _ in 0..4 {
        if !detected {
            break;
        }
        let (next, again) = redact_sql_once(&out, dialect);
        if next == out {
            break;
        }
        (out, detected) = (next, again);
    }
    out
}

/// One pass: the structure, then the detectors. Also says whether the detectors found anything.
fn redact_sql_once(sql: &str, dialect: Dialect) -> (String, bool) {
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
    let mut m = Marker {
        all: &all,
        sig: &sig,
        tags: vec![None; all.len()],
    };
    m.passwords();
    m.columns();
    m.inserts();
    let mut out = String::with_capacity(sql.len() + 16);
    for (k, t) in all.iter().enumerate() {
        match t.kind {
            Kind::String => rewrite_literal(t, m.tags[k], dialect, &mut out),
            Kind::Comment => push_without_pairs(t.text, &mut out),
            _ => out.push_str(t.text),
        }
    }
    match redact(&out) {
        std::borrow::Cow::Borrowed(_) => (out, false),
        std::borrow::Cow::Owned(o) => (o, true),
    }
}

/// `key=value` / `key: value` pairs with a sensitive key (`password=...`, `api_key: ...`) in free text:
/// the byte ranges of the values and their placeholders.
pub(super) fn credential_pairs(text: &str) -> Vec<(usize, usize, &'static str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !matches!(b[i], b'=' | b':')
            || b[i + 1..].starts_with(b"//")
            || b[i + 1..].starts_with(b"=")
        {
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
        let mut last = 0;
        for (s, e, replacement) in edits {
            out.push_str(&body[last..s]);
            out.push_str(&replacement);
            last = e;
        }
        out.push_str(&body[last..]);
    } else {
        push_without_pairs(body, out);
    }
    out.push_str(&text[body_end..]);
}

/// The literal's content decoded (doubled quotes, backslash escapes), with the raw offset of every
/// decoded byte (and of the end).
fn decode(body: &str, quote: u8, backslash: bool) -> (String, Vec<usize>) {
    let b = body.as_bytes();
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
    (out, map)
}

/// When the literal's content is a JSON document: the raw replacements that redact it.
fn json_edits(body: &str, quote: u8, backslash: bool) -> Option<Vec<(usize, usize, String)>> {
    let first = body.trim_start().as_bytes().first()?;
    if !matches!(first, b'{' | b'[') {
        return None;
    }
    let (content, map) = decode(body, quote, backslash);
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
                (map[e.start], map[e.end], replacement)
            })
            .collect(),
    )
}

/// Decides, token by token, which string literals are passwords or secrets.
struct Marker<'t, 'a> {
    all: &'t [Tok<'a>],
    sig: &'t [usize],
    tags: Vec<Option<&'static str>>,
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
        self.sig.get(p).map(|&k| &self.all[k])
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
        if let Some(&k) = self.sig.get(p)
            && self.all[k].kind == Kind::String
            && self.tags[k].is_none()
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
            let mut op = String::new();
            let mut q = p;
            while op.len() < 3
                && let Some(u) = self.tok(q)
                && u.kind == Kind::Punct
                && matches!(u.text, "=" | "!" | "<" | ">" | ":")
            {
                op.push_str(u.text);
                if !self.touching(q) {
                    break;
                }
                q += 1;
            }
            return match op.as_str() {
                "<=>" => Some(3),
                "!=" | "<>" => Some(2),
                ":=" if !equality_only => Some(2),
                "=" => Some(1),
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
            q += 1;
            loop {
                match self.tok(q) {
                    Some(t) if t.kind == Kind::Punct && t.text == ")" => break,
                    Some(t) if t.kind == Kind::Punct && t.text == "," => cols.push(None),
                    Some(t) if matches!(t.kind, Kind::Word | Kind::QuotedIdent) => {
                        if let Some(last) = cols.last_mut() {
                            *last = self.name_tag(q);
                        }
                    }
                    Some(_) => {}
                    None => break,
                }
                q += 1;
            }
            q += 1;
            if cols.iter().all(Option::is_none) {
                continue;
            }
            if self.is_kw(q, "select") {
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
}
