//! Personal-data and secret detectors.
//!
//! [`redact`] works on any text (statements, comments, identifiers, user names, plan values) in one pass
//! over the bytes, and replaces each finding with the placeholder of its category:
//!
//! | category | placeholder | what |
//! |---|---|---|
//! | e-mail | [`EMAIL`] | `ann@example.com`, internationalized (`josé@exämple.com`, `xn--` domains), URL-encoded (`ann%40example.com`, `ann%2540example.com`) |
//! | IP address | [`IP`] | IPv4, IPv6 (with an embedded IPv4 tail) |
//! | payment card | [`CARD`] | 13-19 digits (space or dash separators) with a card network prefix and a valid Luhn digit |
//! | US social security number | [`SSN`] | `123-45-6789` outside the never-issued ranges |
//! | national id | [`NATIONAL_ID`] | UK National Insurance numbers (`AB123456C`, `AB 12 34 56 C`, valid prefixes only), Spanish DNI and NIE (control letter checked), Brazilian CPF (`123.456.789-09`, check digits checked) |
//! | phone | [`PHONE`] | international (`+` country code and number, 8-15 digits, spaces, dots, dashes, `(0)` or `(415)` groups), US shapes |
//! | IBAN | [`IBAN`] | country code with its registered length, check digits valid (ISO 13616 mod 97), compact or in groups of four |
//! | password hash | [`PASSWORD_HASH`] | bcrypt, argon2, `$1$`/`$5$`/`$6$`/`$y$` crypt, Django pbkdf2, `SCRAM-SHA-256$`, MySQL `*` + 40 hex, PostgreSQL `md5` + 32 hex |
//! | API key or token | [`API_KEY`] | AWS access key ids (`AKIA`, `ASIA`), AWS secret access keys (40 of `A-Za-z0-9/+`, in `pii_only` only: see below), Stripe (`sk_`, `rk_`, `pk_` live/test), GitHub (`ghp_` ... `ghr_`, `github_pat_`), Slack tokens (`xoxb-` ...) and webhook URLs, Google API keys (`AIza`), the token after `Bearer` |
//! | JWT | [`JWT`] | `eyJ...` header, payload and signature (and the two more parts of a JWE) |
//! | private key | [`PRIVATE_KEY`] | `-----BEGIN ... PRIVATE KEY-----` through its END line, or to the end of the enclosing string (first quote or `$`) or text when unterminated |
//! | password | [`PASSWORD`] | the password of `scheme://user:password@host` URLs |
//!
//! Ordinary ids and timestamps are left alone: UUIDs, dates and ISO timestamps with offsets, unix
//! epochs, order numbers, version strings, hex digests in names, `$1` parameters, decimal amounts.
//! Detectors only start at a word boundary; overlapping findings merge into one placeholder (so nothing
//! is left half-visible).
//!
//! [`redact_sql`] is the `pii_only` scrubbing of a statement. It reads the statement with the dialect's
//! lexer and additionally replaces, inside string literals (quotes and prefixes are kept):
//! - passwords given to `CREATE USER`/`ALTER USER`/`GRANT ... IDENTIFIED BY|AS|USING '...'` (and the
//!   `REPLACE '...'` current password), `SET PASSWORD [FOR u] = '...'`/`= PASSWORD('...')`, PostgreSQL
//!   `CREATE|ALTER ROLE|USER ... [WITH] [ENCRYPTED] PASSWORD '...'`, and any literal right after the word
//!   `PASSWORD` or as the argument of `PASSWORD(...)`: [`PASSWORD`];
//! - literals compared to or assigned to a column whose name contains `password`, `passwd`, `pwd` or
//!   `passphrase` ([`PASSWORD`]), or `secret`, `token`, `api_key`/`apikey`, `private_key`,
//!   `access_key`, `encryption_key`, `signing_key`, `master_key`, `authorization` or `credential`
//!   ([`SECRET`]): `WHERE password = 'x'`, `'x' = u.pwd`,
//!   `SET password_hash = '...'`, `token IN ('a', 'b')`, `data->>'api_key' = '...'`, and the value at
//!   the column's position in `INSERT ... (cols) VALUES (...), (...)` or `INSERT ... (cols) SELECT ...`.
//!   Names ending in a part that says the value is not the secret itself (`_at`, `_date`, `_count`,
//!   `_type`, `_id`, `_expires`, `_changed`, ...) are not sensitive: `password_changed_at` is a date;
//! - `key=value` and `key: value` pairs with a sensitive key inside literals and comments (connection
//!   strings, query strings): `'host=db password=s3cret'`;
//! - JSON documents: a literal whose content parses as a JSON object or array keeps its structure and
//!   its keys; each string or number value is checked with the same detectors and replaced as a whole by
//!   the placeholder of what it holds, and every value under a sensitive key (at any depth) becomes
//!   [`PASSWORD`] or [`SECRET`]. A string value that is itself a JSON document is replaced whole when
//!   anything inside it is personal. Keys are kept unless they hold personal data themselves.
//!
//! - key/value tables: a literal whose content is a sensitive name (`'smtp_password'`)
//!   makes its value a secret: under the value columns (`value`, `option_value`, ...) of an `INSERT` row
//!   whose key column (`name`, `option_name`, ...) holds it, else the element after it (before it when
//!   last) in `VALUES` rows, row constructors and `JSON_OBJECT`/`json_build_object`/`set_config`/`hstore`;
//!   in a statement with such a name, or one compared with a key column (`WHERE key = 'api_token'`), the
//!   literals assigned to or compared with value columns (`SET value = '...'`);
//! - the key arguments of encryption functions (`AES_ENCRYPT(x, 'k')`, `DES_ENCRYPT`, MySQL
//!   `ENCODE`/`DECODE`/`ENCRYPT`, `pgp_sym_encrypt(x, 'k')`, `pgp_pub_decrypt`, `encrypt`, `decrypt`,
//!   `hmac`, ...) and the password given to `crypt()` and MySQL's `ENCRYPT()`.
//!
//! Then [`redact`] runs over the whole result, with the detectors that recognise a secret by its shape
//! alone (AWS secret access keys), which `strict` output never needs.

mod contact;
mod financial;
mod json;
mod national;
mod secrets;
mod sql;

use std::borrow::Cow;

pub use sql::redact_sql;

pub const EMAIL: &str = "[EMAIL_REDACTED]";
pub const IP: &str = "[IP_REDACTED]";
pub const CARD: &str = "[CREDIT_CARD_REDACTED]";
pub const SSN: &str = "[SSN_REDACTED]";
pub const PHONE: &str = "[PHONE_REDACTED]";
/// A password: from a `CREATE USER`/`SET PASSWORD` statement, a password column or key, a URL.
pub const PASSWORD: &str = "[PASSWORD_REDACTED]";
/// The value of a secret, token, API-key or credential column or key.
pub const SECRET: &str = "[SECRET_REDACTED]";
pub const PASSWORD_HASH: &str = "[PASSWORD_HASH_REDACTED]";
/// A cloud or service API key, access token or webhook URL.
pub const API_KEY: &str = "[API_KEY_REDACTED]";
pub const JWT: &str = "[JWT_REDACTED]";
pub const PRIVATE_KEY: &str = "[PRIVATE_KEY_REDACTED]";
pub const IBAN: &str = "[IBAN_REDACTED]";
/// A national identity number other than a US SSN.
pub const NATIONAL_ID: &str = "[NATIONAL_ID_REDACTED]";

/// A finding: the byte range it covers and its placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    tag: &'static str,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The first position at or after `from` whose byte `hit` accepts. Reads 16 bytes at a time without
/// stopping inside them, which the compiler turns into vector compares.
fn next_byte(b: &[u8], from: usize, hit: impl Fn(u8) -> bool) -> Option<usize> {
    let mut i = from.min(b.len());
    while b.len() - i >= 16 && !b[i..i + 16].iter().fold(false, |any, &c| any | hit(c)) {
        i += 16;
    }
    b[i..].iter().position(|&c| hit(c)).map(|p| i + p)
}

/// Replaces every recognised piece of personal data; borrows when there is none. Redacting the result
/// again changes nothing.
pub fn redact(text: &str) -> Cow<'_, str> {
    redact_with(text, Shapes::Marked)
}

/// Which detectors run: [`Shapes::Marked`], the ones that need a prefix, a structure or a check digit
/// (every level), or also [`Shapes::Bare`], the ones that recognise a secret by its shape alone (AWS
/// secret access keys), which `pii_only` adds for the literals it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shapes {
    Marked,
    Bare,
}

/// [`redact`], with the bare-shape detectors when `shapes` says so.
pub(crate) fn redact_with(text: &str, shapes: Shapes) -> Cow<'_, str> {
    redact_settled(text, shapes).0
}

/// [`redact_with`], and whether the detectors are known to find nothing in the result (they found
/// nothing in it before the rounds ran out).
pub(crate) fn redact_settled(text: &str, shapes: Shapes) -> (Cow<'_, str>, bool) {
    let Some(mut out) = redact_once(text, shapes) else {
        return (Cow::Borrowed(text), true);
    };
    // A finding can depend on what follows it (a phone number is not one when more digits run on), and
    // what follows may have just become a placeholder: repeat until nothing changes.
    for _ in 0..4 {
        match redact_once(&out, shapes) {
            Some(next) => out = next,
            None => return (Cow::Owned(out), true),
        }
    }
    (Cow::Owned(out), false)
}

fn redact_once(text: &str, shapes: Shapes) -> Option<String> {
    let spans = find(text, shapes);
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for s in spans {
        out.push_str(&text[last..s.start]);
        out.push_str(s.tag);
        last = s.end;
    }
    out.push_str(&text[last..]);
    Some(out)
}

/// The placeholder of the first finding in `text`, if any (JSON values: `pii_only` only, so with the
/// bare-shape detectors).
fn first_tag(text: &str) -> Option<&'static str> {
    find(text, Shapes::Bare).first().map(|s| s.tag)
}

/// Every finding, sorted and without overlaps.
fn find(text: &str, shapes: Shapes) -> Vec<Span> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    // E-mails first: they extend backwards from the `@` over text the scan below has passed.
    contact::emails(text, &mut spans);
    let mut i = 0;
    while i < b.len() {
        // The end of the word at `i`, or the next byte when `i` holds none.
        let next = if is_word(b[i]) {
            word_end(b, i + 1)
        } else {
            i + 1
        };
        let boundary = i == 0 || !(is_word(b[i - 1]) || b[i - 1] == b'.');
        let found = if boundary {
            detect_at(b, i, next)
        } else {
            None
        };
        match found {
            Some(s) => {
                i = s.end.max(i + 1);
                spans.push(s);
            }
            // Detectors only start at a boundary: skip the rest of a word.
            None => i = next,
        }
    }
    if shapes == Shapes::Bare {
        secrets::aws_secret_keys(b, &mut spans);
    }
    // Stable: at one start an e-mail (pushed first) wins; an overlapping finding widens the one before
    // it instead of being dropped, so no part of either stays visible.
    spans.sort_by_key(|s| s.start);
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match merged.last_mut() {
            Some(last) if s.start < last.end => last.end = last.end.max(s.end),
            _ => merged.push(s),
        }
    }
    merged
}

/// The end of the word bytes that start at `i`, found 8 bytes at a time.
fn word_end(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let words = chunk
            .iter()
            .enumerate()
            .fold(0u32, |mask, (k, &c)| mask | (u32::from(is_word(c)) << k));
        if words != 0xff {
            return i + (!words).trailing_zeros() as usize;
        }
        i += 8;
    }
    i + b[i..].iter().take_while(|&&c| is_word(c)).count()
}

/// The finding that starts at the boundary `i`, if any. It may start later than `i` (the token after
/// `Bearer`, the password inside a URL), never earlier.
fn detect_at(b: &[u8], i: usize, word: usize) -> Option<Span> {
    let span = |end: usize, tag: &'static str| Span { start: i, end, tag };
    match b[i] {
        b'-' => secrets::private_key_at(b, i).map(|e| span(e, PRIVATE_KEY)),
        b'$' => secrets::crypt_hash_at(b, i).map(|e| span(e, PASSWORD_HASH)),
        b'*' => secrets::mysql_hash_at(b, i).map(|e| span(e, PASSWORD_HASH)),
        b'+' | b'(' => contact::phone_at(b, i).map(|e| span(e, PHONE)),
        b'0'..=b'9' => digits_at(b, i),
        c if c.is_ascii_alphabetic() || c == b'_' => letters_at(b, i, word),
        b':' if i == 0 || b[i - 1] != b':' => contact::ipv6_at(b, i).map(|e| span(e, IP)),
        _ => None,
    }
}

/// Runs `at` when `shape` says it can find something at `i`, with `tag` on what it finds.
fn when(
    b: &[u8],
    i: usize,
    shape: bool,
    at: fn(&[u8], usize) -> Option<usize>,
    tag: &'static str,
) -> Option<Span> {
    if !shape {
        return None;
    }
    at(b, i).map(|end| Span { start: i, end, tag })
}

/// The finding that starts with the letter or `_` at the boundary `i`, whose word ends at `word`. IBANs
/// and National Insurance numbers start with two capitals, NIEs with X, Y or Z, IPv6 addresses with a
/// hex digit.
fn letters_at(b: &[u8], i: usize, word: usize) -> Option<Span> {
    let c = b[i];
    let capitals = c.is_ascii_uppercase() && b.get(i + 1).is_some_and(u8::is_ascii_uppercase);
    secrets::word_at(b, i, word)
        .or_else(|| when(b, i, capitals, financial::iban_at, IBAN))
        .or_else(|| when(b, i, capitals, national::nino_at, NATIONAL_ID))
        .or_else(|| {
            when(
                b,
                i,
                matches!(c, b'X' | b'Y' | b'Z'),
                national::nie_at,
                NATIONAL_ID,
            )
        })
        .or_else(|| when(b, i, c.is_ascii_hexdigit(), contact::ipv6_at, IP))
}

/// The finding that starts with the digit at the boundary `i`. Most numbers cannot start any of them:
/// each detector runs only when the digits and the byte after them have the shape it needs (its own
/// checks decide), so a plain number costs one look at its digits.
fn digits_at(b: &[u8], i: usize) -> Option<Span> {
    let digits = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let hex = digits
        + b[digits..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
    let (n, after) = (digits - i, b.get(digits).copied());
    let when = |shape: bool, at: fn(&[u8], usize) -> Option<usize>, tag: &'static str| {
        when(b, i, shape, at, tag)
    };
    // A card's digits run on (13 or more) or continue after a single space or dash.
    let card = n >= 13
        || (matches!(after, Some(b' ' | b'-'))
            && b.get(digits + 1).is_some_and(u8::is_ascii_digit));
    when(n <= 3 && after == Some(b'.'), contact::ipv4_at, IP)
        .or_else(|| when(n == 3 && after == Some(b'-'), national::ssn_at, SSN))
        .or_else(|| when(n == 3 && after == Some(b'.'), national::cpf_at, NATIONAL_ID))
        .or_else(|| when(n == 8, national::dni_at, NATIONAL_ID))
        .or_else(|| when(card, financial::card_at, CARD))
        .or_else(|| {
            when(
                n == 3 && matches!(after, Some(b'-' | b'.')),
                contact::phone_at,
                PHONE,
            )
        })
        // An IPv6 address has its first `:` right after its first hex digits.
        .or_else(|| when(b.get(hex) == Some(&b':'), contact::ipv6_at, IP))
}

/// A name in lower case with its parts joined by `_`, and its last part. Parts are split at
/// `_ . - $ space` and at lower-to-upper case changes (`passwordChangedAt`).
pub(crate) fn name_parts(name: &str) -> (String, String) {
    let mut norm = String::with_capacity(name.len() + 8);
    let mut last_part = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let sep = matches!(c, '_' | '.' | '-' | '$' | ' ');
        if sep || (prev_lower && c.is_uppercase()) {
            norm.push('_');
            last_part.clear();
        }
        if !sep {
            let l = c.to_ascii_lowercase();
            norm.push(l);
            last_part.push(l);
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
    }
    (norm, last_part)
}

/// Words (in any case) one of which every sensitive name holds: a text without them holds no sensitive
/// name.
const NAME_HINTS: Words = Words::new(&[
    b"pass",
    b"pwd",
    b"secret",
    b"token",
    b"key",
    b"auth",
    b"credential",
]);

/// A set of lower-case ASCII words to look for in a text, in any case.
struct Words {
    words: &'static [&'static [u8]],
    /// The bytes a word starts with, in both cases.
    first: [bool; 256],
}

impl Words {
    const fn new(words: &'static [&'static [u8]]) -> Words {
        let mut first = [false; 256];
        let mut k = 0;
        while k < words.len() {
            let c = words[k][0];
            first[c as usize] = true;
            first[c.to_ascii_uppercase() as usize] = true;
            k += 1;
        }
        Words { words, first }
    }

    /// Whether `text` holds one of the words.
    fn in_text(&self, text: &[u8]) -> bool {
        (0..text.len()).any(|i| self.first[usize::from(text[i])] && self.at(text, i))
    }

    /// Whether one of the words starts at `i`.
    fn at(&self, text: &[u8], i: usize) -> bool {
        let rest = &text[i..];
        self.words
            .iter()
            .any(|w| rest.len() >= w.len() && rest[..w.len()].eq_ignore_ascii_case(w))
    }
}

/// How sensitive a column, variable or key name is: [`PASSWORD`] for password-like names, [`SECRET`]
/// for secret, token, API-key and credential names, `None` otherwise (and for names whose last part
/// says they hold something about the secret rather than the secret: `password_changed_at`).
pub(crate) fn sensitive_name(name: &str) -> Option<&'static str> {
    // Most names hold none of the words: answer those without allocating.
    if name.len() > 128 || !NAME_HINTS.in_text(name.as_bytes()) {
        return None;
    }
    let (norm, last_part) = name_parts(name);
    const NOT_THE_SECRET: &[&str] = &[
        "at",
        "on",
        "date",
        "time",
        "ts",
        "timestamp",
        "count",
        "cnt",
        "type",
        "len",
        "length",
        "expires",
        "expiry",
        "expiration",
        "changed",
        "updated",
        "created",
        "id",
        "ids",
        "version",
        "policy",
        "required",
        "enabled",
        "attempts",
        "strength",
        "algorithm",
        "algo",
        "method",
        "format",
    ];
    if NOT_THE_SECRET.contains(&last_part.as_str()) {
        return None;
    }
    if ["password", "passwd", "pwd", "passphrase"]
        .iter()
        .any(|w| norm.contains(w))
    {
        return Some(PASSWORD);
    }
    [
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "access_key",
        "encryption_key",
        "signing_key",
        "master_key",
        "authorization",
        "credential",
    ]
    .iter()
    .any(|w| norm.contains(w))
    .then_some(SECRET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_personal_data_anywhere() {
        let cases = [
            (
                "WHERE email = 'ann.lee+x@mail.example.com'",
                "WHERE email = '[EMAIL_REDACTED]'",
            ),
            (
                "WHERE email = ann@example.org AND 1=1",
                "WHERE email = [EMAIL_REDACTED] AND 1=1",
            ),
            (
                "ip = '192.168.1.1' or ip=10.0.0.255",
                "ip = '[IP_REDACTED]' or ip=[IP_REDACTED]",
            ),
            (
                "ip6 = '2001:db8::8a2e:370:7334', lo='::1'",
                "ip6 = '[IP_REDACTED]', lo='[IP_REDACTED]'",
            ),
            (
                "full = 'fe80:0:0:0:202:b3ff:fe1e:8329'",
                "full = '[IP_REDACTED]'",
            ),
            (
                "card = '4532-0151-1283-0366' or c=4111111111111111",
                "card = '[CREDIT_CARD_REDACTED]' or c=[CREDIT_CARD_REDACTED]",
            ),
            (
                "card = '4532 0151 1283 0366'",
                "card = '[CREDIT_CARD_REDACTED]'",
            ),
            ("ssn = '123-45-6789'", "ssn = '[SSN_REDACTED]'"),
            (
                "tel in ('+1 415 555 2671', '(415) 555-2671', '415-555-2671')",
                "tel in ('[PHONE_REDACTED]', '[PHONE_REDACTED]', '[PHONE_REDACTED]')",
            ),
            (
                "/* user bob@corp.io from 172.16.0.9 */ SELECT 1",
                "/* user [EMAIL_REDACTED] from [IP_REDACTED] */ SELECT 1",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn leaves_ordinary_sql_alone() {
        for s in [
            "SELECT a::int, b::date FROM t WHERE ts > '2024-01-15 10:30:00' AND v = 1.2.3",
            "SELECT * FROM users_2009 WHERE id = 4532015112830367 LIMIT 10, 20",
            "SELECT '12:30:45', 'x@y', 'a@b.c', 3.14159, 1234567890123, version '10.0.0'",
            "select 999-99-9999, 000-12-3456, count(*) from t",
        ] {
            assert_eq!(redact(s), s, "{s}");
        }
    }

    #[test]
    fn sensitive_names() {
        for (name, want) in [
            ("password", Some(PASSWORD)),
            ("PASSWORD_HASH", Some(PASSWORD)),
            ("user_pwd", Some(PASSWORD)),
            ("newPasswd", Some(PASSWORD)),
            ("api_key", Some(SECRET)),
            ("x-api-key", Some(SECRET)),
            ("ApiKey", Some(SECRET)),
            ("refresh_token", Some(SECRET)),
            ("client_secret", Some(SECRET)),
            ("password_changed_at", None),
            ("passwordChangedAt", None),
            ("token_count", None),
            ("api_key_id", None),
            ("email", None),
            ("passenger", None),
        ] {
            assert_eq!(sensitive_name(name), want, "{name}");
        }
    }
}
