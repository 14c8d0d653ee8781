//! Personal-data detectors, in one pass over the bytes: emails, IPv4 and IPv6 addresses, payment card
//! numbers (13-19 digits, space or dash separators, Luhn-valid), US social security numbers and phone
//! numbers. Found anywhere: inside or outside quotes, comments, identifiers.

use std::borrow::Cow;

pub const EMAIL: &str = "[EMAIL_REDACTED]";
pub const IP: &str = "[IP_REDACTED]";
pub const CARD: &str = "[CREDIT_CARD_REDACTED]";
pub const SSN: &str = "[SSN_REDACTED]";
pub const PHONE: &str = "[PHONE_REDACTED]";

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// The email around the `@` at `at`, as a byte span.
fn email_at(b: &[u8], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 && is_local(b[start - 1]) {
        start -= 1;
    }
    // A local part does not start with a dot.
    while start < at && b[start] == b'.' {
        start += 1;
    }
    if start == at {
        return None;
    }
    let mut end = at + 1;
    let mut last_dot = None;
    while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'-' || b[end] == b'.') {
        if b[end] == b'.' {
            last_dot = Some(end);
        }
        end += 1;
    }
    // Trailing dots belong to the sentence, not the domain.
    while end > at + 1 && b[end - 1] == b'.' {
        end -= 1;
        last_dot = b[at + 1..end]
            .iter()
            .rposition(|&c| c == b'.')
            .map(|p| at + 1 + p);
    }
    let dot = last_dot?;
    let tld = &b[dot + 1..end];
    (dot > at + 1 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic))
        .then_some((start, end))
}

fn ipv4_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        let s = j;
        while j < b.len() && b[j].is_ascii_digit() && j - s < 3 {
            j += 1;
        }
        if j == s || j < b.len() && b[j].is_ascii_digit() {
            return None;
        }
        let n = b[s..j]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        if n > 255 {
            return None;
        }
        if part < 3 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    if b.get(j).is_some_and(|&c| is_word(c))
        || (b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(u8::is_ascii_digit))
    {
        return None;
    }
    Some(j)
}

fn ipv6_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':') {
        j += 1;
    }
    // An embedded IPv4 tail (::ffff:10.0.0.1).
    let mut end = j;
    if b.get(j) == Some(&b'.') {
        let tail_start = b[i..j]
            .iter()
            .rposition(|&c| c == b':')
            .map(|p| i + p + 1)?;
        end = ipv4_at(b, tail_start)?;
        j = tail_start;
    }
    if b.get(end).is_some_and(|&c| is_word(c) || c == b':') {
        return None;
    }
    let run = &b[i..j];
    let colons = run.iter().filter(|&&c| c == b':').count();
    let double = run.windows(2).filter(|w| w == b"::").count();
    if colons < 2 || double > 1 || !(double == 1 || colons == 7 || (colons == 6 && end != j)) {
        return None;
    }
    if !b[i..end].iter().any(u8::is_ascii_hexdigit) || run.windows(3).any(|w| w == b":::") {
        return None;
    }
    if run.split(|&c| c == b':').any(|g| g.len() > 4) {
        return None;
    }
    Some(end)
}

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Digits with single separators from `seps` starting at `i`: (end, digit count, digits). At most
/// `max_digits` (<= 19) are kept; a longer run reports a count above the maximum.
fn digit_run(b: &[u8], i: usize, seps: &[u8], max_digits: usize) -> (usize, usize, [u8; 20]) {
    let mut j = i;
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut end = i;
    while j < b.len() && n <= max_digits {
        if b[j].is_ascii_digit() {
            if n < digits.len() {
                digits[n] = b[j];
            }
            n += 1;
            j += 1;
            end = j;
        } else if seps.contains(&b[j]) && b.get(j + 1).is_some_and(u8::is_ascii_digit) && n > 0 {
            j += 1;
        } else {
            break;
        }
    }
    (end, n, digits)
}

fn card_at(b: &[u8], i: usize) -> Option<usize> {
    let (end, n, digits) = digit_run(b, i, b" -", 19);
    if !(13..=19).contains(&n) || b.get(end).is_some_and(|&c| is_word(c)) || !luhn(&digits[..n]) {
        return None;
    }
    Some(end)
}

fn ssn_at(b: &[u8], i: usize) -> Option<usize> {
    let s = b.get(i..i + 11)?;
    let shape = s.iter().enumerate().all(|(k, &c)| {
        if k == 3 || k == 6 {
            c == b'-'
        } else {
            c.is_ascii_digit()
        }
    });
    if !shape || b.get(i + 11).is_some_and(|&c| is_word(c) || c == b'-') {
        return None;
    }
    let (area, group, serial) = (&s[0..3], &s[4..6], &s[7..11]);
    let valid =
        area != b"000" && area != b"666" && area[0] != b'9' && group != b"00" && serial != b"0000";
    valid.then_some(i + 11)
}

fn phone_at(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'+' {
        let (end, n, _) = digit_run(b, i + 1, b" -.", 15);
        return ((8..=15).contains(&n) && !b.get(end).is_some_and(|&c| is_word(c))).then_some(end);
    }
    // US shapes: (555) 123-4567, 555-123-4567, 555.123.4567.
    let (j, area_ok) = if b[i] == b'(' {
        let ok = b
            .get(i + 1..i + 4)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && b.get(i + 4) == Some(&b')');
        let mut j = i + 5;
        if b.get(j) == Some(&b' ') {
            j += 1;
        }
        (j, ok)
    } else {
        let ok = b
            .get(i..i + 3)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && matches!(b.get(i + 3), Some(b'-' | b'.'));
        (i + 4, ok)
    };
    if !area_ok {
        return None;
    }
    let sep = if b[i] == b'(' { b'-' } else { b[i + 3] };
    let mid = b.get(j..j + 3)?;
    let ok = mid.iter().all(u8::is_ascii_digit)
        && b.get(j + 3) == Some(&sep)
        && b.get(j + 4..j + 8)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    (ok && !b.get(j + 8).is_some_and(|&c| is_word(c) || c == sep)).then_some(j + 8)
}

/// Replaces every recognised piece of personal data; borrows when there is none.
pub fn redact(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut spans: Vec<(usize, usize, &'static str)> = Vec::new();
    // Emails first (they contain dots and digits the other detectors would also like).
    let mut from = 0;
    while let Some(p) = b[from..].iter().position(|&c| c == b'@') {
        let at = from + p;
        match email_at(b, at) {
            Some((s, e)) => {
                spans.push((s, e, EMAIL));
                from = e;
            }
            None => from = at + 1,
        }
    }
    let mut out: Option<String> = None;
    let mut last = 0;
    let mut next_email = 0;
    let mut i = 0;
    while i < b.len() {
        if let Some(&(s, e, tag)) = spans.get(next_email)
            && i >= s
        {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[last..s]);
            o.push_str(tag);
            last = e;
            i = e;
            next_email += 1;
            continue;
        }
        let c = b[i];
        let prev_word = i > 0 && (is_word(b[i - 1]) || b[i - 1] == b'.');
        let found = if prev_word {
            None
        } else if c.is_ascii_digit() {
            ipv4_at(b, i)
                .map(|e| (e, IP))
                .or_else(|| ssn_at(b, i).map(|e| (e, SSN)))
                .or_else(|| card_at(b, i).map(|e| (e, CARD)))
                .or_else(|| phone_at(b, i).map(|e| (e, PHONE)))
                .or_else(|| ipv6_at(b, i).map(|e| (e, IP)))
        } else if c == b'+' || c == b'(' {
            phone_at(b, i).map(|e| (e, PHONE))
        } else if c.is_ascii_hexdigit() || c == b':' {
            if i > 0 && b[i - 1] == b':' {
                None
            } else {
                ipv6_at(b, i).map(|e| (e, IP))
            }
        } else {
            None
        };
        match found {
            Some((end, tag)) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                o.push_str(&text[last..i]);
                o.push_str(tag);
                last = end;
                i = end;
            }
            None => {
                // Skip the rest of a word: detectors only start at a boundary.
                i += 1;
                while i < b.len()
                    && is_word(b[i])
                    && is_word(b[i - 1])
                    && spans.get(next_email).is_none_or(|s| i < s.0)
                {
                    i += 1;
                }
            }
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[last..]);
            Cow::Owned(o)
        }
    }
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
}
