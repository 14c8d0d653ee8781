//! E-mail addresses, IP addresses and phone numbers.

use super::{EMAIL, Span, is_word, next_byte};

fn is_local_ascii(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// Every e-mail address in `text`: around an `@`, or a URL-encoded one (`%40`, `%2540`).
pub(super) fn emails(text: &str, out: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = next_byte(b, i, |c| c == b'@' || c == b'%') {
        i = at;
        let at_len = match b[i] {
            b'@' => 1,
            b'%' if b[i + 1..].starts_with(b"40") => 3,
            b'%' if b[i + 1..].starts_with(b"2540") => 5,
            _ => 0,
        };
        if at_len == 0 {
            i += 1;
            continue;
        }
        match email_around(text, i, at_len) {
            Some((start, end)) => {
                out.push(Span {
                    start,
                    end,
                    tag: EMAIL,
                });
                i = end;
            }
            None => i += at_len,
        }
    }
}

/// The e-mail around the at-sign at `at` (`at_len` bytes long), as a byte span. Local parts and domains
/// may hold non-ASCII letters and digits; the top-level domain is 2+ letters or an `xn--` label.
fn email_around(text: &str, at: usize, at_len: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    // Bounded scans keep many at-signs in one run linear: a local part is at most 64 bytes and a domain
    // 255, anything longer is not an address.
    let mut start = at;
    for (k, ch) in text[..at].char_indices().rev() {
        if at - k > 256 {
            return None;
        }
        let ok = if ch.is_ascii() {
            is_local_ascii(ch as u8)
        } else {
            ch.is_alphanumeric()
        };
        if !ok {
            break;
        }
        start = k;
    }
    // A local part does not start with a dot.
    while start < at && b[start] == b'.' {
        start += 1;
    }
    if start == at {
        return None;
    }
    let domain_start = at + at_len;
    let mut end = domain_start;
    for (k, ch) in text[domain_start..].char_indices() {
        if k > 256 {
            return None;
        }
        let ok = if ch.is_ascii() {
            ch.is_ascii_alphanumeric() || ch == '-' || ch == '.'
        } else {
            ch.is_alphanumeric()
        };
        if !ok {
            break;
        }
        end = domain_start + k + ch.len_utf8();
    }
    // Trailing dots belong to the sentence, not the domain.
    while end > domain_start && b[end - 1] == b'.' {
        end -= 1;
    }
    let domain = &text[domain_start..end];
    let dot = domain.rfind('.')?;
    if dot == 0 {
        return None;
    }
    let tld = &domain[dot + 1..];
    let letters = tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic);
    let idn = tld.len() > 4
        && tld.as_bytes()[..4].eq_ignore_ascii_case(b"xn--")
        && tld.as_bytes()[4..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-');
    (letters || idn).then_some((start, end))
}

pub(super) fn ipv4_at(b: &[u8], i: usize) -> Option<usize> {
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

pub(super) fn ipv6_at(b: &[u8], i: usize) -> Option<usize> {
    // An address has a `:` right after its first group (or starts with one).
    let group = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if b.get(i + group) != Some(&b':') {
        return None;
    }
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':') {
        j += 1;
        // The longest address is 39 characters (45 with an IPv4 tail).
        if j - i > 45 {
            return None;
        }
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

/// `+` country code and number: 8 to 15 digits in all, single spaces, dots or dashes between groups,
/// and `(0)` / `(415)` groups.
fn international_phone_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if !b.get(j).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut digits = 0usize;
    let mut end = j;
    loop {
        match b.get(j) {
            Some(c) if c.is_ascii_digit() => {
                digits += 1;
                if digits > 15 {
                    return None;
                }
                j += 1;
                end = j;
            }
            Some(b'(') => {
                let k = j + 1;
                let mut m = k;
                while b.get(m).is_some_and(u8::is_ascii_digit) && m - k < 4 {
                    m += 1;
                }
                if m == k || b.get(m) != Some(&b')') {
                    break;
                }
                digits += m - k;
                j = m + 1;
                end = j;
            }
            // One separator, then a digit or a group.
            Some(b' ' | b'-' | b'.')
                if end == j
                    && b.get(j + 1)
                        .is_some_and(|&c| c.is_ascii_digit() || c == b'(') =>
            {
                j += 1;
            }
            _ => break,
        }
    }
    ((8..=15).contains(&digits) && !b.get(end).is_some_and(|&c| is_word(c))).then_some(end)
}

pub(super) fn phone_at(b: &[u8], i: usize) -> Option<usize> {
    if b[i] == b'+' {
        return international_phone_at(b, i);
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
