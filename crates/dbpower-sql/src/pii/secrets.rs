//! Secrets: private keys, password hashes, API keys and tokens, JWTs, URL passwords.

use super::{API_KEY, JWT, PASSWORD, PASSWORD_HASH, Span, is_word};

fn starts_with_ci(b: &[u8], at: usize, word: &[u8]) -> bool {
    b.len() >= at + word.len() && b[at..at + word.len()].eq_ignore_ascii_case(word)
}

/// Bytes from `from` while `ok`, at most `max`: the end.
fn run(b: &[u8], from: usize, max: usize, ok: impl Fn(u8) -> bool) -> usize {
    let mut j = from;
    while j < b.len() && j - from < max && ok(b[j]) {
        j += 1;
    }
    j
}

fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn is_crypt64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'/'
}

fn is_b64(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'='
}

/// A PEM armour label (`RSA PRIVATE KEY`) at `from` followed by `-----`: the end of the dashes.
fn pem_label(b: &[u8], from: usize) -> Option<usize> {
    let end = run(b, from, 64, |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == b' '
    });
    let label = &b[from..end];
    (b[end..].starts_with(b"-----") && label.windows(11).any(|w| w == b"PRIVATE KEY"))
        .then_some(end + 5)
}

/// `-----BEGIN ... PRIVATE KEY-----` through the END line; unterminated, to the end of the enclosing
/// string (the first quote or `$`, which no PEM body holds) or of the text.
pub(super) fn private_key_at(b: &[u8], i: usize) -> Option<usize> {
    if !b[i..].starts_with(b"-----BEGIN ") {
        return None;
    }
    let body = pem_label(b, i + 11)?;
    let limit = b[body..]
        .iter()
        .position(|&c| matches!(c, b'\'' | b'"' | b'`' | b'$'))
        .map_or(b.len(), |p| body + p);
    let mut from = body;
    while let Some(p) = b[from..limit].windows(9).position(|w| w == b"-----END ") {
        let at = from + p;
        if let Some(end) = pem_label(&b[..limit], at + 9) {
            return Some(end);
        }
        from = at + 9;
    }
    Some(limit)
}

/// Modular crypt hashes: bcrypt `$2a$`/`$2b$`/`$2x$`/`$2y$`, argon2 `$argon2id$`/`$argon2i$`/`$argon2d$`,
/// `$1$` MD5-crypt, `$5$` SHA-256-crypt, `$6$` SHA-512-crypt, `$y$` yescrypt.
pub(super) fn crypt_hash_at(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    if rest.len() >= 7
        && rest.starts_with(b"$2")
        && matches!(rest[2], b'a' | b'b' | b'x' | b'y')
        && rest[3] == b'$'
        && rest[4].is_ascii_digit()
        && rest[5].is_ascii_digit()
        && rest[6] == b'$'
    {
        let end = run(b, i + 7, 60, is_crypt64);
        return (end - (i + 7) == 53 && !b.get(end).is_some_and(|&c| is_crypt64(c))).then_some(end);
    }
    for prefix in [&b"$argon2id$"[..], b"$argon2i$", b"$argon2d$", b"$y$"] {
        if rest.starts_with(prefix) {
            let end = run(b, i + prefix.len(), 512, |c| {
                is_b64(c) || matches!(c, b'$' | b',' | b'.')
            });
            let tail = &b[i + prefix.len()..end];
            let dollars = tail.iter().filter(|&&c| c == b'$').count();
            return (dollars >= 2 && tail.len() >= 30).then_some(end);
        }
    }
    let hash_len = match rest.get(..3) {
        Some(b"$1$") => 22,
        Some(b"$5$") => 43,
        Some(b"$6$") => 86,
        _ => return None,
    };
    let mut j = i + 3;
    if starts_with_ci(b, j, b"rounds=") {
        j = run(b, j + 7, 10, |c| c.is_ascii_digit());
        if b.get(j) != Some(&b'$') {
            return None;
        }
        j += 1;
    }
    let salt_end = run(b, j, 16, is_crypt64);
    if salt_end == j || b.get(salt_end) != Some(&b'$') {
        return None;
    }
    let end = run(b, salt_end + 1, hash_len + 1, is_crypt64);
    (end - (salt_end + 1) == hash_len).then_some(end)
}

/// MySQL `mysql_native_password` hash: `*` and 40 hex digits.
pub(super) fn mysql_hash_at(b: &[u8], i: usize) -> Option<usize> {
    let end = run(b, i + 1, 41, |c| c.is_ascii_hexdigit());
    (end - (i + 1) == 40 && !b.get(end).is_some_and(|&c| is_word(c))).then_some(end)
}

/// Longer parts are not read (keeps the scan linear); what lies beyond is still scanned on its own.
const MAX_JWT_HEADER: usize = 2048;
const MAX_JWT_PART: usize = 16 * 1024;

fn jwt_at(b: &[u8], i: usize) -> Option<usize> {
    if !b[i..].starts_with(b"eyJ") {
        return None;
    }
    let header = run(b, i, MAX_JWT_HEADER, is_b64url);
    if header - i < 10 || b.get(header) != Some(&b'.') {
        return None;
    }
    let payload = run(b, header + 1, MAX_JWT_PART, is_b64url);
    if payload - (header + 1) < 2 || b.get(payload) != Some(&b'.') {
        return None;
    }
    // The signature (empty for `alg: none`), and the two more parts of an encrypted token.
    let mut end = run(b, payload + 1, MAX_JWT_PART, is_b64url);
    while b.get(end) == Some(&b'.') && b.get(end + 1).is_some_and(|&c| is_b64url(c)) {
        end = run(b, end + 1, MAX_JWT_PART, is_b64url);
    }
    Some(end)
}

/// `prefix` then at least `min` bytes that satisfy `ok`, not followed by another such byte.
fn prefixed(
    b: &[u8],
    i: usize,
    prefix: &[u8],
    min: usize,
    ok: impl Fn(u8) -> bool,
) -> Option<usize> {
    if !b[i..].starts_with(prefix) {
        return None;
    }
    let end = run(b, i + prefix.len(), 1024, &ok);
    (end - (i + prefix.len()) >= min && !b.get(end).is_some_and(|&c| ok(c))).then_some(end)
}

/// A token after `Bearer `: 12+ token characters with a digit, or 32+.
fn bearer_at(b: &[u8], i: usize) -> Option<Span> {
    if !starts_with_ci(b, i, b"bearer") || !matches!(b.get(i + 6), Some(b' ' | b'\t')) {
        return None;
    }
    let start = run(b, i + 6, 8, |c| c == b' ' || c == b'\t');
    if let Some(end) = jwt_at(b, start) {
        return Some(Span {
            start,
            end,
            tag: JWT,
        });
    }
    let end = run(b, start, 4096, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'+' | b'/' | b'=' | b'-')
    });
    let token = &b[start..end];
    let strong = token.len() >= 32 || (token.len() >= 12 && token.iter().any(u8::is_ascii_digit));
    strong.then_some(Span {
        start,
        end,
        tag: API_KEY,
    })
}

/// `scheme://user:password@`: the password.
fn url_password_at(b: &[u8], i: usize) -> Option<Span> {
    let scheme = run(b, i, 32, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-')
    });
    if !b[scheme..].starts_with(b"://") {
        return None;
    }
    let userinfo = |c: u8| {
        !(c.is_ascii_whitespace() || matches!(c, b':' | b'@' | b'/' | b'\'' | b'"' | b'?' | b'#'))
    };
    let user_end = run(b, scheme + 3, 256, userinfo);
    if b.get(user_end) != Some(&b':') {
        return None;
    }
    let pass_end = run(b, user_end + 1, 256, userinfo);
    (pass_end > user_end + 1 && b.get(pass_end) == Some(&b'@')).then_some(Span {
        start: user_end + 1,
        end: pass_end,
        tag: PASSWORD,
    })
}

/// [`url_password_at`] for a word that can start a URL's scheme: it starts with a letter, and its
/// letters and digits end at the scheme's `:` or at one of `+ . -` (so a word that ends elsewhere or
/// holds `_` is none).
fn scheme_url_at(b: &[u8], i: usize, word: usize) -> Option<Span> {
    let scheme =
        b[i].is_ascii_alphabetic() && matches!(b.get(word), Some(b':' | b'+' | b'.' | b'-'));
    if scheme { url_password_at(b, i) } else { None }
}

/// Secrets that start with a letter or `_` at the boundary `i`, whose word (letters, digits, `_`) ends
/// at `word`.
pub(super) fn word_at(b: &[u8], i: usize, word: usize) -> Option<Span> {
    let span = |end: usize, tag: &'static str| Span { start: i, end, tag };
    let url = || scheme_url_at(b, i, word);
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let hash = |end: usize| span(end, PASSWORD_HASH);
    let key = |end: usize| span(end, API_KEY);
    match b[i] {
        b'e' => jwt_at(b, i).map(|e| span(e, JWT)),
        b'm' if b[i..].starts_with(b"md5") => {
            let end = run(b, i + 3, 33, |c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
            (end - (i + 3) == 32 && !b.get(end).is_some_and(|&c| is_word(c))).then(|| hash(end))
        }
        b'S' => prefixed(b, i, b"SCRAM-SHA-256$", 20, |c| {
            is_b64(c) || matches!(c, b':' | b'$')
        })
        .map(hash),
        b'p' if b[i..].starts_with(b"pbkdf2_sha") => {
            let start = run(b, i + 10, 3, |c| c.is_ascii_digit());
            let end = prefixed(b, start, b"$", 20, |c| is_b64(c) || c == b'$')?;
            (b[start + 1..end].iter().filter(|&&c| c == b'$').count() >= 2).then(|| hash(end))
        }
        b'A' => prefixed(b, i, b"AKIA", 16, |c| {
            c.is_ascii_uppercase() || c.is_ascii_digit()
        })
        .or_else(|| {
            prefixed(b, i, b"ASIA", 16, |c| {
                c.is_ascii_uppercase() || c.is_ascii_digit()
            })
        })
        .filter(|&e| e - i == 20)
        .or_else(|| prefixed(b, i, b"AIza", 35, is_b64url).filter(|&e| e - i == 39))
        .map(key),
        b's' | b'r' | b'p' => [
            &b"sk_live_"[..],
            b"sk_test_",
            b"rk_live_",
            b"rk_test_",
            b"pk_live_",
            b"pk_test_",
        ]
        .iter()
        .find_map(|p| prefixed(b, i, p, 16, alnum))
        .map(key),
        b'g' => [&b"ghp_"[..], b"gho_", b"ghu_", b"ghs_", b"ghr_"]
            .iter()
            .find_map(|p| prefixed(b, i, p, 36, alnum))
            .or_else(|| {
                prefixed(b, i, b"github_pat_", 22, |c| {
                    c.is_ascii_alphanumeric() || c == b'_'
                })
            })
            .map(key),
        b'x' => [&b"xoxb-"[..], b"xoxp-", b"xoxa-", b"xoxr-", b"xoxs-"]
            .iter()
            .find_map(|p| prefixed(b, i, p, 10, |c| c.is_ascii_alphanumeric() || c == b'-'))
            .map(key),
        b'h' => {
            let after = if b[i..].starts_with(b"https://") {
                i + 8
            } else if b[i..].starts_with(b"http://") {
                i + 7
            } else {
                return url();
            };
            if b[after..].starts_with(b"hooks.slack.com/") {
                let end = run(b, after + 16, 512, |c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-')
                });
                return (end - (after + 16) >= 8).then(|| key(end));
            }
            url()
        }
        b'B' | b'b' => bearer_at(b, i),
        _ => None,
    }
    .or_else(url)
}

/// Lower-case letters in runs of four or more, at or above which 40 characters read as words
/// (`getUserAccountPreferencesForTenant2Admin`) rather than a random key. A random key reaches it about
/// once in fifty.
const WORDY: usize = 12;

/// Whether 40 bytes of `A-Za-z0-9/+` look like an AWS secret access key: upper and lower case letters,
/// a digit, `/` or `+`, not hex only (a SHA-1 digest), and not mostly runs of lower-case letters.
fn aws_secret_shape(key: &[u8]) -> bool {
    let has = |f: fn(&u8) -> bool| key.iter().any(f);
    if !has(u8::is_ascii_uppercase)
        || !has(u8::is_ascii_lowercase)
        || !has(|&c| c.is_ascii_digit() || c == b'/' || c == b'+')
        || key.iter().all(u8::is_ascii_hexdigit)
    {
        return false;
    }
    let mut wordy = 0;
    let mut run = 0;
    for &c in key.iter().chain(std::iter::once(&b' ')) {
        if c.is_ascii_lowercase() {
            run += 1;
        } else {
            if run >= 4 {
                wordy += run;
            }
            run = 0;
        }
    }
    wordy < WORDY
}

/// AWS secret access keys: exactly 40 of `A-Za-z0-9/+` at a word boundary, not inside a longer run of
/// such characters, a path (`/` before) or a name (`_`, `-` or `.` and more after), nor base64 padding
/// (`=` after). Pushed as [`API_KEY`] findings.
pub(super) fn aws_secret_keys(b: &[u8], spans: &mut Vec<Span>) {
    let ok = |c: u8| c.is_ascii_alphanumeric() || c == b'/' || c == b'+';
    // `i` is 0 or follows a byte outside runs.
    let mut i = 0;
    while i + 40 <= b.len() {
        // A run of 40 starting in `i..=k` would hold the last byte `k` of the window that is not in
        // one: none does, and the next run starts after it. Most windows end in such a byte, so the
        // scan moves about 40 bytes at a time.
        if let Some(k) = (i..i + 40).rev().find(|&k| !ok(b[k])) {
            i = k + 1;
            continue;
        }
        // A maximal run of at least 40: keys are whole runs.
        let end = run(b, i, usize::MAX, ok);
        let before = i.checked_sub(1).map(|k| b[k]);
        let after = b.get(end).copied();
        let bounded_before = !before.is_some_and(|c| is_word(c) || c == b'.');
        let bounded_after = match after {
            Some(c) if is_word(c) || matches!(c, b'=' | b'-') => false,
            Some(b'.') => !b.get(end + 1).is_some_and(|c| c.is_ascii_alphanumeric()),
            _ => true,
        };
        if end - i == 40 && bounded_before && bounded_after && aws_secret_shape(&b[i..end]) {
            spans.push(Span {
                start: i,
                end,
                tag: API_KEY,
            });
        }
        i = end;
    }
}
