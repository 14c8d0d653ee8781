//! A single-pass, allocation-free SQL lexer for MySQL and PostgreSQL. It knows comments (including
//! MySQL `#` and nested PostgreSQL block comments), backslash escapes and doubled quotes, backticks,
//! double-quoted identifiers (PostgreSQL) versus double-quoted strings (MySQL), dollar quotes, E'' strings,
//! `::` casts and `$n` / `?` parameters. Unterminated constructs run to the end of the input and are
//! flagged ([`Token::unterminated`]).

use crate::Dialect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Whitespace,
    Comment,
    /// A string literal of any form ('', "", E'', X'', B'', N'', $tag$...$tag$).
    String,
    Number,
    /// `?` (MySQL) or `$1` (PostgreSQL).
    Param,
    /// An unquoted word: keyword or identifier.
    Word,
    /// A quoted identifier: `name` (MySQL) or "name" (PostgreSQL).
    QuotedIdent,
    /// `::`
    Cast,
    /// Any other single character.
    Punct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    /// A string, quoted identifier or block comment that runs to the end of the input without its
    /// closing delimiter.
    pub unterminated: bool,
}

#[derive(Clone)]
pub struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    dialect: Dialect,
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str, dialect: Dialect) -> Lexer<'a> {
        Lexer {
            src,
            b: src.as_bytes(),
            pos: 0,
            dialect,
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.b.get(i).copied().unwrap_or(0)
    }

    /// Moves `end` forward to a char boundary so slices stay valid UTF-8.
    fn boundary(&self, mut end: usize) -> usize {
        end = end.min(self.b.len());
        while end < self.b.len() && !self.src.is_char_boundary(end) {
            end += 1;
        }
        end
    }

    /// Scans a quoted run starting at `start` (the opening quote), honouring doubled quotes and, when
    /// `backslash` is set, backslash escapes. Returns the end (exclusive) and whether the closing quote
    /// was found.
    fn quoted(&self, start: usize, quote: u8, backslash: bool) -> (usize, bool) {
        let mut i = start + 1;
        while i < self.b.len() {
            let c = self.b[i];
            if backslash && c == b'\\' {
                i += 2;
                continue;
            }
            if c == quote {
                if self.at(i + 1) == quote {
                    i += 2;
                    continue;
                }
                return (i + 1, true);
            }
            i += 1;
        }
        (self.b.len(), false)
    }

    /// `$tag$` at `start`, if it opens a dollar quote: returns the tag length including both `$`. A tag
    /// is an identifier without `$`: letters (non-ASCII ones too), digits after the first, `_`.
    fn dollar_tag(&self, start: usize) -> Option<usize> {
        let mut i = start + 1;
        if self.at(i) == b'$' {
            return Some(2);
        }
        let c = self.at(i);
        if !(c.is_ascii_alphabetic() || c == b'_' || c >= 0x80) {
            return None;
        }
        while self.at(i).is_ascii_alphanumeric() || self.at(i) == b'_' || self.at(i) >= 0x80 {
            i += 1;
        }
        (self.at(i) == b'$').then_some(i + 1 - start)
    }

    fn number_end(&self, start: usize) -> usize {
        let b = self.b;
        let mut i = start;
        if self.at(i) == b'0'
            && matches!(self.at(i + 1), b'x' | b'X' | b'b' | b'B')
            && self.at(i + 2).is_ascii_hexdigit()
        {
            i += 2;
            while self.at(i).is_ascii_hexdigit() || self.at(i) == b'_' {
                i += 1;
            }
            return i;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        if self.at(i) == b'.' && self.at(i + 1) != b'.' {
            i += 1;
            while self.at(i).is_ascii_digit() {
                i += 1;
            }
        }
        if matches!(self.at(i), b'e' | b'E') {
            let mut j = i + 1;
            if matches!(self.at(j), b'+' | b'-') {
                j += 1;
            }
            if self.at(j).is_ascii_digit() {
                i = j;
                while self.at(i).is_ascii_digit() {
                    i += 1;
                }
            }
        }
        i
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.b;
        let start = self.pos;
        if start >= b.len() {
            return None;
        }
        let c = b[start];
        let pg = self.dialect == Dialect::Postgresql;
        let closed = std::cell::Cell::new(true);
        let quoted = |from: usize, quote: u8, backslash: bool| {
            let (end, ok) = self.quoted(from, quote, backslash);
            closed.set(ok);
            end
        };
        let (kind, end) = match c {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                let mut i = start;
                while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
                    i += 1;
                }
                (Kind::Whitespace, i)
            }
            // MySQL wants whitespace or a control character after `--` (or the end of the input).
            b'-' if self.at(start + 1) == b'-'
                && (pg || self.at(start + 2) <= b' ' || self.at(start + 2) == 0x7f) =>
            {
                let i = b[start..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| start + p);
                (Kind::Comment, i)
            }
            b'#' if !pg => {
                let i = b[start..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| start + p);
                (Kind::Comment, i)
            }
            b'/' if self.at(start + 1) == b'*' => {
                let mut depth = 1;
                let mut i = start + 2;
                while i < b.len() && depth > 0 {
                    if b[i] == b'*' && self.at(i + 1) == b'/' {
                        depth -= 1;
                        i += 2;
                    } else if pg && b[i] == b'/' && self.at(i + 1) == b'*' {
                        depth += 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                closed.set(depth == 0);
                (Kind::Comment, i.min(b.len()))
            }
            b'\'' => (Kind::String, quoted(start, b'\'', !pg)),
            b'"' if pg => (Kind::QuotedIdent, quoted(start, b'"', false)),
            b'"' => (Kind::String, quoted(start, b'"', true)),
            b'`' if !pg => (Kind::QuotedIdent, quoted(start, b'`', false)),
            // Prefixed strings: E'..' (escapes), B'..', X'..', N'..', U&'..'.
            b'e' | b'E' if self.at(start + 1) == b'\'' => {
                (Kind::String, quoted(start + 1, b'\'', true))
            }
            b'b' | b'B' | b'x' | b'X' | b'n' | b'N' if self.at(start + 1) == b'\'' => {
                (Kind::String, quoted(start + 1, b'\'', !pg))
            }
            b'u' | b'U' if pg && self.at(start + 1) == b'&' && self.at(start + 2) == b'\'' => {
                (Kind::String, quoted(start + 2, b'\'', false))
            }
            b'$' if pg && self.at(start + 1).is_ascii_digit() => {
                let mut i = start + 1;
                while self.at(i).is_ascii_digit() {
                    i += 1;
                }
                (Kind::Param, i)
            }
            b'$' if pg && self.dollar_tag(start).is_some() => {
                let tag_len = self.dollar_tag(start).unwrap_or(2);
                let tag = &b[start..start + tag_len];
                let body = start + tag_len;
                let end = b[body..]
                    .windows(tag_len)
                    .position(|w| w == tag)
                    .map(|p| body + p + tag_len);
                closed.set(end.is_some());
                (Kind::String, end.unwrap_or(b.len()))
            }
            b'?' if !pg => (Kind::Param, start + 1),
            b':' if self.at(start + 1) == b':' => (Kind::Cast, start + 2),
            b'0'..=b'9' => (Kind::Number, self.number_end(start)),
            b'.' if self.at(start + 1).is_ascii_digit() => (Kind::Number, self.number_end(start)),
            c if is_word_start(c) => {
                let mut i = start + 1;
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                (Kind::Word, i)
            }
            _ => (Kind::Punct, start + 1),
        };
        let end = self.boundary(end.max(start + 1));
        self.pos = end;
        Some(Token {
            kind,
            text: &self.src[start..end],
            unterminated: !closed.get(),
        })
    }
}

/// Whether `sql` is only a commit: `COMMIT`, `END` (PostgreSQL), with `WORK`/`TRANSACTION` or
/// `AND [NO] CHAIN`/`[NO] RELEASE` (not `COMMIT PREPARED`, which finishes a two-phase transaction).
pub fn is_commit(sql: &str, dialect: Dialect) -> bool {
    let mut words = Lexer::new(sql, dialect)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .filter(|t| !(t.kind == Kind::Punct && t.text == ";"))
        .map(|t| (t.kind, t.text.to_ascii_uppercase()));
    let first = words.next();
    matches!(&first, Some((Kind::Word, w)) if w == "COMMIT" || w == "END")
        && words.all(|(k, w)| {
            k == Kind::Word
                && ["WORK", "TRANSACTION", "AND", "NO", "CHAIN", "RELEASE"].contains(&w.as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str, d: Dialect) -> Vec<(Kind, &str)> {
        Lexer::new(sql, d)
            .filter(|t| t.kind != Kind::Whitespace)
            .map(|t| (t.kind, t.text))
            .collect()
    }

    #[test]
    fn mysql_lexing() {
        let t = kinds(
            r#"SELECT `a``b`, 'it''s', 'x\'y', "dq" # c"#,
            Dialect::Mysql,
        );
        assert_eq!(
            t,
            vec![
                (Kind::Word, "SELECT"),
                (Kind::QuotedIdent, "`a``b`"),
                (Kind::Punct, ","),
                (Kind::String, "'it''s'"),
                (Kind::Punct, ","),
                (Kind::String, r"'x\'y'"),
                (Kind::Punct, ","),
                (Kind::String, "\"dq\""),
                (Kind::Comment, "# c"),
            ]
        );
        assert_eq!(
            kinds("a--b", Dialect::Mysql).len(),
            4,
            "MySQL needs a space after --"
        );
        assert_eq!(
            kinds("x = ? /* c */", Dialect::Mysql)[2],
            (Kind::Param, "?")
        );
    }

    #[test]
    fn postgres_lexing() {
        let t = kinds(
            r#"SELECT "Col", E'a\'b', $fn$ body ' $fn$, $1::int, 1.5e3 /* a /* nested */ b */"#,
            Dialect::Postgresql,
        );
        assert_eq!(
            t,
            vec![
                (Kind::Word, "SELECT"),
                (Kind::QuotedIdent, "\"Col\""),
                (Kind::Punct, ","),
                (Kind::String, r"E'a\'b'"),
                (Kind::Punct, ","),
                (Kind::String, "$fn$ body ' $fn$"),
                (Kind::Punct, ","),
                (Kind::Param, "$1"),
                (Kind::Cast, "::"),
                (Kind::Word, "int"),
                (Kind::Punct, ","),
                (Kind::Number, "1.5e3"),
                (Kind::Comment, "/* a /* nested */ b */"),
            ]
        );
        assert_eq!(
            kinds("'a\\'", Dialect::Postgresql),
            vec![(Kind::String, "'a\\'")],
            "no backslash escapes in standard strings"
        );
    }

    #[test]
    fn open_constructs_are_flagged() {
        fn open(sql: &str, d: Dialect) -> Vec<(Kind, &str)> {
            Lexer::new(sql, d)
                .filter(|t| t.unterminated)
                .map(|t| (t.kind, t.text))
                .collect()
        }
        assert_eq!(
            open("SELECT 'a', 'b\\' x", Dialect::Mysql),
            vec![(Kind::String, "'b\\' x")]
        );
        assert_eq!(
            open("SELECT `a` FROM `t", Dialect::Mysql),
            vec![(Kind::QuotedIdent, "`t")]
        );
        assert_eq!(
            open("/* a /* b */ c", Dialect::Postgresql),
            vec![(Kind::Comment, "/* a /* b */ c")]
        );
        assert_eq!(
            open("/* a /* b */ c", Dialect::Mysql),
            Vec::<(Kind, &str)>::new()
        );
        assert_eq!(
            open("SELECT $x$ a $y$, \"b\" FROM t", Dialect::Postgresql),
            vec![(Kind::String, "$x$ a $y$, \"b\" FROM t")]
        );
        assert_eq!(
            open("SELECT 'a', $$b$$, E'c\\'d', \"e\"", Dialect::Postgresql),
            Vec::<(Kind, &str)>::new()
        );
    }

    #[test]
    fn mysql_dash_comments_and_postgres_dollar_tags() {
        // `--` then any control character (or the end) opens a MySQL comment.
        assert_eq!(
            kinds("a --\u{1}x\nb --", Dialect::Mysql),
            vec![
                (Kind::Word, "a"),
                (Kind::Comment, "--\u{1}x"),
                (Kind::Word, "b"),
                (Kind::Comment, "--"),
            ]
        );
        assert_eq!(
            kinds("SELECT $é$ x $é$", Dialect::Postgresql),
            vec![(Kind::Word, "SELECT"), (Kind::String, "$é$ x $é$")]
        );
    }

    #[test]
    fn tokens_cover_the_input_exactly() {
        for s in [
            "select 'unterminated",
            "/* open",
            "é'ü`x",
            "$$ never closed",
            "\u{0}\u{1}",
        ] {
            for d in [Dialect::Mysql, Dialect::Postgresql] {
                let joined: String = Lexer::new(s, d).map(|t| t.text).collect();
                assert_eq!(joined, s);
            }
        }
    }
}
