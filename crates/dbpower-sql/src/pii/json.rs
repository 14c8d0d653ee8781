//! JSON documents inside string literals: their values are checked one by one (keys kept), see the
//! module docs of [`super`].

use std::borrow::Cow;

use super::{first_tag, sensitive_name, sql::credential_pairs};

/// Deeper documents are not read as JSON (the literal is then plain text to the detectors).
const MAX_DEPTH: usize = 64;

/// A replacement inside a document: the bytes `start..end` become `tag`, between double quotes when
/// `quote` (a number replaced by a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edit {
    pub start: usize,
    pub end: usize,
    pub tag: &'static str,
    pub quote: bool,
}

/// The edits that redact `doc` when it is a JSON object or array, `None` when it is not one.
pub(super) fn document_edits(doc: &str) -> Option<Vec<Edit>> {
    document_edits_at(doc, 0)
}

fn document_edits_at(doc: &str, depth: usize) -> Option<Vec<Edit>> {
    let t = doc.trim_start();
    if !(t.starts_with('{') || t.starts_with('[')) || depth > MAX_DEPTH {
        return None;
    }
    let mut p = Parser {
        s: doc,
        b: doc.as_bytes(),
        i: 0,
        depth,
        edits: Vec::new(),
    };
    p.ws();
    p.value(None)?;
    p.ws();
    (p.i == p.b.len()).then_some(p.edits)
}

/// What a decoded string value holds: the placeholder to put in its place, if any.
fn string_tag(value: &str, depth: usize) -> Option<&'static str> {
    first_tag(value)
        .or_else(|| credential_pairs(value).first().map(|e| e.2))
        .or_else(|| {
            document_edits_at(value, depth + 1).and_then(|edits| edits.first().map(|e| e.tag))
        })
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
    edits: Vec<Edit>,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// A value; `sensitive` is the placeholder every scalar inside it takes (set under a secret key).
    fn value(&mut self, sensitive: Option<&'static str>) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        match *self.b.get(self.i)? {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.eat(b'}').is_none() {
                    loop {
                        self.ws();
                        let (start, end, key) = self.string()?;
                        if let Some(tag) = first_tag(&key) {
                            self.edits.push(Edit {
                                start,
                                end,
                                tag,
                                quote: false,
                            });
                        }
                        let inner = sensitive.or_else(|| sensitive_name(&key));
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                        self.value(inner)?;
                        self.ws();
                        if self.eat(b',').is_none() {
                            self.eat(b'}')?;
                            break;
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.eat(b']').is_none() {
                    loop {
                        self.ws();
                        self.value(sensitive)?;
                        self.ws();
                        if self.eat(b',').is_none() {
                            self.eat(b']')?;
                            break;
                        }
                    }
                }
            }
            b'"' => {
                let (start, end, text) = self.string()?;
                if let Some(tag) = sensitive.or_else(|| string_tag(&text, self.depth)) {
                    self.edits.push(Edit {
                        start,
                        end,
                        tag,
                        quote: false,
                    });
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.i += 1;
                }
                let text = &self.s[start..self.i];
                if let Some(tag) = sensitive.or_else(|| first_tag(text)) {
                    self.edits.push(Edit {
                        start,
                        end: self.i,
                        tag,
                        quote: true,
                    });
                }
            }
            _ => {
                for word in ["true", "false", "null"] {
                    if self.s[self.i..].starts_with(word) {
                        self.i += word.len();
                        self.depth -= 1;
                        return Some(());
                    }
                }
                return None;
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// A string at `self.i` (on its opening quote): the byte range of its content and the decoded text.
    fn string(&mut self) -> Option<(usize, usize, Cow<'a, str>)> {
        self.eat(b'"')?;
        let start = self.i;
        // Without escapes the text is the content itself.
        if let Some(len) = self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\')
            && self.b[start + len] == b'"'
        {
            self.i = start + len + 1;
            return Some((
                start,
                start + len,
                Cow::Borrowed(&self.s[start..start + len]),
            ));
        }
        let mut out = String::new();
        loop {
            let c = *self.b.get(self.i)?;
            match c {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    return Some((start, end, Cow::Owned(out)));
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(char::from(e)),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i) == Some(&b'\\')
                                && self.b.get(self.i + 1) == Some(&b'u')
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                        }
                        _ => return None,
                    }
                }
                _ => {
                    let ch = self.s[self.i..].chars().next()?;
                    out.push(ch);
                    self.i += ch.len_utf8();
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(h, 16).ok()?;
        self.i += 4;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(doc: &str) -> Option<String> {
        let edits = document_edits(doc)?;
        let mut out = String::new();
        let mut last = 0;
        for e in edits {
            out.push_str(&doc[last..e.start]);
            if e.quote {
                out.push('"');
            }
            out.push_str(e.tag);
            if e.quote {
                out.push('"');
            }
            last = e.end;
        }
        out.push_str(&doc[last..]);
        Some(out)
    }

    #[test]
    fn values_are_redacted_and_keys_kept() {
        assert_eq!(
            apply(
                r#"{"email": "ann@example.com", "n": 3, "tags": ["a", "bob@x.org"], "ok": true}"#
            )
            .as_deref(),
            Some(
                r#"{"email": "[EMAIL_REDACTED]", "n": 3, "tags": ["a", "[EMAIL_REDACTED]"], "ok": true}"#
            )
        );
        assert_eq!(
            apply(r#"{"auth": {"password": "hunter2", "pin": 1234}, "api_key": 42, "card": 4111111111111111}"#)
                .as_deref(),
            Some(
                r#"{"auth": {"password": "[PASSWORD_REDACTED]", "pin": 1234}, "api_key": "[SECRET_REDACTED]", "card": "[CREDIT_CARD_REDACTED]"}"#
            )
        );
        assert_eq!(
            apply(r#"["ann\u0040example.com", "x"]"#).as_deref(),
            Some(r#"["[EMAIL_REDACTED]", "x"]"#),
            "escapes are decoded before the detectors run"
        );
        assert_eq!(apply("{\"a\": 1,}"), None, "not JSON");
        assert_eq!(apply("plain"), None);
        assert_eq!(apply(&"[".repeat(200)), None, "too deep");
    }
}
