//! MySQL fingerprints: pt-fingerprint's rules in one pass over the bytes plus short passes over the result.

use crate::Dialect;
use crate::lexer::{Kind, Lexer};

pub(super) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn starts_with_ci(b: &[u8], at: usize, word: &[u8]) -> bool {
    b.len() >= at + word.len() && b[at..at + word.len()].eq_ignore_ascii_case(word)
}

/// `CALL name(`: pt returns `call name` lower-cased.
fn call_prefix(q: &str) -> Option<String> {
    let t = q.trim_start();
    let b = t.as_bytes();
    if !starts_with_ci(b, 0, b"call") || !b.get(4).is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let mut i = 4;
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && !b[i].is_ascii_whitespace() {
        i += 1;
    }
    // \S+ then `(`: the last `(` inside the non-space run.
    let run = &t[name_start..i];
    let paren = run.rfind('(')?;
    (paren > 0).then(|| t[..name_start + paren].to_ascii_lowercase())
}

/// pt keeps only the first tuple of a multi-row INSERT/REPLACE (and drops what follows the list).
fn truncate_multi_insert(q: &str) -> &str {
    let b = q.as_bytes();
    let head = if starts_with_ci(b, 0, b"insert") {
        6
    } else if starts_with_ci(b, 0, b"replace") {
        7
    } else {
        return q;
    };
    let mut i = head;
    if starts_with_ci(b, i, b" ignore") {
        i += 7;
    }
    let ws = i;
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if i == ws || !starts_with_ci(b, i, b"into") {
        return q;
    }
    // `.+?VALUES`: the first VALUES after at least one character.
    let Some(v) = (i + 5..b.len()).find(|&k| starts_with_ci(b, k, b"values")) else {
        return q;
    };
    let mut j = v + 6;
    while b.get(j).is_some_and(u8::is_ascii_whitespace) {
        j += 1;
    }
    if b.get(j) != Some(&b'(') {
        return q;
    }
    // `\(.*?\)\s*,\s*\(`: the first `)` that is followed by `, (`.
    for close in (j + 1..b.len()).filter(|&k| b[k] == b')') {
        let mut k = close + 1;
        while b.get(k).is_some_and(u8::is_ascii_whitespace) {
            k += 1;
        }
        if b.get(k) != Some(&b',') {
            continue;
        }
        k += 1;
        while b.get(k).is_some_and(u8::is_ascii_whitespace) {
            k += 1;
        }
        if b.get(k) == Some(&b'(') {
            return &q[..close + 1];
        }
    }
    q
}

/// `/*word.word:N/N*/`, the marker of Percona Toolkit's own queries.
fn has_toolkit_marker(b: &[u8]) -> bool {
    b.windows(2).enumerate().any(|(i, w)| {
        if w != b"/*" {
            return false;
        }
        let rest = &b[i + 2..];
        let word = |s: &[u8]| s.iter().take_while(|c| is_word(**c)).count();
        let a = word(rest);
        if a == 0 || rest.get(a) != Some(&b'.') {
            return false;
        }
        let r2 = &rest[a + 1..];
        let c = word(r2);
        c > 0
            && r2.len() >= c + 6
            && r2[c] == b':'
            && r2[c + 1].is_ascii_digit()
            && r2[c + 2] == b'/'
            && r2[c + 3].is_ascii_digit()
            && &r2[c + 4..c + 6] == b"*/"
    })
}

/// `use db`: pt abstracts the database name.
fn is_use(q: &str) -> bool {
    let b = q.as_bytes();
    starts_with_ci(b, 0, b"use ") && b.len() > 4 && !b[4..].iter().any(u8::is_ascii_whitespace)
}

/// pt's whole-statement answers: mysqldump's and Percona Toolkit's own queries.
fn special(q: &str) -> Option<&'static str> {
    if q.starts_with("SELECT /*!40001 SQL_NO_CACHE */ * FROM `") {
        return Some("mysqldump");
    }
    has_toolkit_marker(q.as_bytes()).then_some("percona-toolkit")
}

/// The markers [`collapse_unions`] writes: kept when fingerprinting a fingerprint.
const REPEAT_MARKERS: [&str; 2] = ["/*repeat union*/", "/*repeat union all*/"];

/// The statement as the shown fingerprint reads it, by the lexer: every comment becomes a space (except
/// a `/*repeat ...*/` marker this module wrote), every string literal becomes empty (prefix and quotes
/// kept, so pt's rules still see a literal), an unterminated literal or quoted identifier becomes an
/// empty literal, and two touching minus signs are spaced. pt's rules then have no comment or literal
/// text left to keep, and read the statement as MySQL does.
fn without_comments_and_literals(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for t in Lexer::new(q, Dialect::Mysql) {
        match t.kind {
            Kind::Comment if REPEAT_MARKERS.contains(&t.text) => out.push_str(t.text),
            Kind::Comment => out.push(' '),
            Kind::String => {
                let quote = t.text.find(['\'', '"']).unwrap_or(0);
                let prefix = &t.text[..quote];
                let empty = if t.text[quote..].starts_with('"') {
                    "\"\""
                } else {
                    "''"
                };
                out.push_str(prefix);
                out.push_str(empty);
            }
            Kind::QuotedIdent if t.unterminated => out.push_str("''"),
            // `--` without a space after it is two minus signs to MySQL; pt's rules would drop the
            // rest of the line as a comment.
            Kind::Punct if t.text == "-" && out.ends_with('-') => out.push_str(" -"),
            _ => out.push_str(t.text),
        }
    }
    out
}

/// The fingerprint to show and store: pt's rules over [`without_comments_and_literals`].
pub(super) fn shown(q: &str) -> String {
    match special(q) {
        Some(s) => s.to_string(),
        None => fingerprint_mysql(&without_comments_and_literals(q)),
    }
}

/// pt-fingerprint, fused into one pass plus short passes over the (smaller) result. This is the text the
/// query id hashes; it may keep comment and literal text (see [`super::fingerprint_and_id`]).
pub fn fingerprint_mysql(q: &str) -> String {
    if let Some(s) = special(q) {
        return s.into();
    }
    if q.starts_with("administrator command: ") {
        return q.to_string();
    }
    if let Some(call) = call_prefix(q) {
        return call;
    }
    if is_use(q) {
        return "use ?".into();
    }
    let q = truncate_multi_insert(q);
    let b = q.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut in_backtick = false;
    // Whether the last byte pushed was, in the original text, one of pt's clean-up bytes `[xb.+-]`
    // (case-sensitive: pt cleans up before lower-casing).
    let mut cleanable = false;
    // Where the last run of only `+`/`-` signs ended: a `?` right there stands for the number the sign
    // belonged to (scrubbed `x = -?` is the `x = -1` pt reads as one number).
    let mut signs_end = usize::MAX;
    // Pushes a `?` for a literal, applying pt's clean-up `[xb.+-]\?` -> `?` to the byte before it.
    fn push_placeholder(out: &mut Vec<u8>, cleanable: &mut bool) {
        if *cleanable {
            out.pop();
        }
        out.push(b'?');
        *cleanable = false;
    }
    while i < b.len() {
        let c = b[i];
        if in_backtick {
            if c == b'`' {
                in_backtick = false;
                out.push(c);
                cleanable = false;
                i += 1;
                continue;
            }
        } else {
            // Block comments, except /*! version comments (kept, like pt).
            // A `/*repeat` marker is this function's own output and is kept, so fingerprints are idempotent.
            if c == b'/'
                && b.get(i + 1) == Some(&b'*')
                && b.get(i + 2).is_some_and(|&n| n != b'!')
                && !b[i..].starts_with(b"/*repeat ")
                && let Some(end) = b[i + 3..].windows(2).position(|w| w == b"*/")
            {
                i += 3 + end + 2;
                continue;
            }
            // `--` and `#` comments run to the end of the line unless a quote comes first.
            if c == b'#' || (c == b'-' && b.get(i + 1) == Some(&b'-')) {
                let eol = b[i..]
                    .iter()
                    .position(|&x| x == b'\r' || x == b'\n')
                    .map_or(b.len(), |p| i + p);
                if !b[i..eol].iter().any(|&x| x == b'\'' || x == b'"') {
                    i = eol;
                    continue;
                }
            }
            if c == b'\'' || c == b'"' {
                let mut j = i + 1;
                while j < b.len() {
                    if b[j] == b'\\' {
                        j += 2;
                        continue;
                    }
                    if b[j] == c {
                        if b.get(j + 1) == Some(&c) {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                if j >= b.len() {
                    // Unterminated: pt leaves it as text, and so does this.
                    out.push(c);
                    cleanable = false;
                    i += 1;
                    continue;
                }
                push_placeholder(&mut out, &mut cleanable);
                i = j + 1;
                continue;
            }
            if c == b'`' {
                in_backtick = true;
                out.push(c);
                cleanable = false;
                i += 1;
                continue;
            }
        }
        if c.is_ascii_digit() || c == b'+' || c == b'-' {
            let start = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || matches!(b[i], b'a'..=b'f' | b'.' | b'x' | b'+' | b'-'))
            {
                i += 1;
            }
            if b[start..i].iter().all(|&s| s == b'+' || s == b'-') {
                signs_end = i;
            }
            push_placeholder(&mut out, &mut cleanable);
            continue;
        }
        if c == b'?' && signs_end == i {
            // A placeholder glued to signs: one number, as pt reads the literal it replaced.
            i += 1;
            continue;
        }
        if c == b'?' {
            // Any other `?` already in the text is left alone (keeps fingerprints idempotent).
            out.push(b'?');
            cleanable = false;
            i += 1;
            continue;
        }
        // `\btrue\b` and `\bfalse\b`: pt-query-digest reads boolean values as values (before numbers,
        // so `true1` is a name).
        if !in_backtick
            && matches!(c, b't' | b'T' | b'f' | b'F')
            && !(i > 0 && is_word(b[i - 1]))
            && let Some(len) = [&b"true"[..], &b"false"[..]]
                .iter()
                .find(|w| starts_with_ci(b, i, w))
                .map(|w| w.len())
            && !b.get(i + len).is_some_and(|&n| is_word(n))
        {
            out.push(b'?');
            cleanable = false;
            i += len;
            continue;
        }
        // `\bnull\b` (after numbers became `?`, which is not a word character).
        if !in_backtick
            && (c == b'n' || c == b'N')
            && !out.last().is_some_and(|&p| is_word(p))
            && starts_with_ci(b, i, b"null")
            && !b
                .get(i + 4)
                .is_some_and(|&n| n.is_ascii_alphabetic() || n == b'_')
        {
            out.push(b'?');
            cleanable = false;
            i += 4;
            continue;
        }
        match c {
            b' ' | b'\n' | b'\t' | b'\r' | 0x0c => {
                if !out.is_empty() && out.last() != Some(&b' ') {
                    out.push(b' ');
                }
                cleanable = false;
            }
            _ => {
                out.push(c.to_ascii_lowercase());
                cleanable = matches!(c, b'x' | b'b' | b'.' | b'+' | b'-');
            }
        }
        i += 1;
    }
    // Like pt, a trailing space (left by a removed trailing comment) is kept: it is part of the id.
    let s = String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let s = collapse_lists(s);
    let s = collapse_unions(s);
    let s = collapse_limit(s);
    drop_order_by_asc(s)
}

/// Where a run of parenthesised groups starting at `from` ends: each group may follow spaces and
/// commas, and holds only bytes that `inner` accepts (at least one, unless `empty_ok`). `None` when
/// no group follows.
pub(super) fn groups_end(
    b: &[u8],
    from: usize,
    inner: impl Fn(u8) -> bool,
    empty_ok: bool,
) -> Option<usize> {
    let mut end = None;
    let mut k = from;
    loop {
        while b.get(k).is_some_and(|&c| c == b' ' || c == b',') {
            k += 1;
        }
        if b.get(k) != Some(&b'(') {
            return end;
        }
        k += 1;
        let inner_start = k;
        while b.get(k).is_some_and(|&c| inner(c)) {
            k += 1;
        }
        if b.get(k) != Some(&b')') || (!empty_ok && k == inner_start) {
            return end;
        }
        k += 1;
        end = Some(k);
    }
}

/// `\b(in|values?)(?:[\s,]*\([\s?,]*\))+` -> `$1(?+)`
fn collapse_lists(s: String) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !is_word(b[i - 1]);
        let kw = if !boundary {
            0
        } else if b[i..].starts_with(b"values") {
            6
        } else if b[i..].starts_with(b"value") {
            5
        } else if b[i..].starts_with(b"in") {
            2
        } else {
            0
        };
        if kw == 0 {
            i += 1;
            continue;
        }
        let placeholders = |c: u8| c == b' ' || c == b',' || c == b'?';
        match groups_end(b, i + kw, placeholders, true) {
            Some(end) => {
                out.push_str(&s[last..i + kw]);
                out.push_str("(?+)");
                last = end;
                i = end;
            }
            None => i += kw,
        }
    }
    if last == 0 {
        return s;
    }
    out.push_str(&s[last..]);
    out
}

/// `\b(select\s.*?)(?:(\sunion(?:\sall)?)\s\1)+` -> `$1 /*repeat$2*/`
fn collapse_unions(s: String) -> String {
    if !s.contains(" union ") {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    'outer: loop {
        let mut search = 0;
        while let Some(p) = rest[search..].find("select ") {
            let start = search + p;
            if start > 0 && is_word(rest.as_bytes()[start - 1]) {
                search = start + 1;
                continue;
            }
            let mut from = start + 7;
            while let Some(u) = rest[from..].find(" union") {
                let u = from + u;
                let prefix = &rest[start..u];
                let sep = if rest[u..].starts_with(" union all ") {
                    " union all"
                } else {
                    " union"
                };
                let mut end = u;
                let mut reps = 0;
                while rest[end..].starts_with(sep)
                    && rest[end + sep.len()..].starts_with(' ')
                    && rest[end + sep.len() + 1..].starts_with(prefix)
                {
                    end += sep.len() + 1 + prefix.len();
                    reps += 1;
                }
                if reps > 0 {
                    out.push_str(&rest[..u]);
                    out.push_str(" /*repeat");
                    out.push_str(sep);
                    out.push_str("*/");
                    rest = &rest[end..];
                    continue 'outer;
                }
                from = u + 1;
            }
            search = start + 1;
        }
        out.push_str(rest);
        return out;
    }
}

/// `\blimit \?(?:, ?\?| offset \?)?` -> `limit ?` (first occurrence).
fn collapse_limit(s: String) -> String {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(p) = s[from..].find("limit ?") {
        let at = from + p;
        if at > 0 && is_word(b[at - 1]) {
            from = at + 1;
            continue;
        }
        let mut end = at + 7;
        for tail in [", ?", ",?", " offset ?"] {
            if s[end..].starts_with(tail) {
                end += tail.len();
                break;
            }
        }
        return format!("{}limit ?{}", &s[..at], &s[end..]);
    }
    s
}

/// After the first `order by `, every ` asc` is dropped (pt's rule, including its looseness).
fn drop_order_by_asc(s: String) -> String {
    let Some(p) = s.find("order by ") else {
        return s;
    };
    let anchor = p + 9;
    if !s[anchor..].contains(" asc") {
        return s;
    }
    let (head, tail) = s.split_at(anchor);
    let mut out = String::with_capacity(s.len());
    out.push_str(head);
    let mut rest = tail;
    while let Some(q) = rest.find(" asc") {
        if q == 0 && out.len() == anchor {
            // `.+?` needs at least one character before the match.
            out.push_str(&rest[..1]);
            rest = &rest[1..];
            continue;
        }
        out.push_str(&rest[..q]);
        rest = &rest[q + 4..];
    }
    out.push_str(rest);
    out
}
