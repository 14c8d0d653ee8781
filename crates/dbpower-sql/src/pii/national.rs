//! National identity numbers: US SSN, UK National Insurance number, Spanish DNI and NIE, Brazilian CPF.
//! Each has a fixed shape and, where the number carries one, a verified check character, so plain digit
//! runs never match.

use super::is_word;

fn digits(b: &[u8], from: usize, n: usize) -> Option<&[u8]> {
    b.get(from..from + n)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
}

fn value(d: &[u8]) -> u32 {
    d.iter().fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'))
}

fn ends_word(b: &[u8], end: usize) -> bool {
    !b.get(end).is_some_and(|&c| is_word(c))
}

pub(super) fn ssn_at(b: &[u8], i: usize) -> Option<usize> {
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

/// UK National Insurance number: two prefix letters (not D, F, I, Q, U, V; the second not O; not BG, GB,
/// KN, NK, NT, TN, ZZ), six digits, a suffix A-D; compact or as `AB 12 34 56 C`.
pub(super) fn nino_at(b: &[u8], i: usize) -> Option<usize> {
    // Digits or a space follow the prefix.
    if !b
        .get(i + 2)
        .is_some_and(|&c| c == b' ' || c.is_ascii_digit())
    {
        return None;
    }
    let (p1, p2) = (*b.get(i)?, *b.get(i + 1)?);
    let first_ok = p1.is_ascii_uppercase() && !b"DFIQUV".contains(&p1);
    let second_ok = p2.is_ascii_uppercase() && !b"DFIOQUV".contains(&p2);
    let pair = [p1, p2];
    if !first_ok || !second_ok || [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"].contains(&&pair)
    {
        return None;
    }
    let suffix_at = if b.get(i + 2) == Some(&b' ') {
        // AB 12 34 56 C
        for k in 0..3 {
            digits(b, i + 3 + 3 * k, 2)?;
            if b.get(i + 5 + 3 * k) != Some(&b' ') {
                return None;
            }
        }
        i + 12
    } else {
        digits(b, i + 2, 6)?;
        i + 8
    };
    let suffix = *b.get(suffix_at)?;
    (matches!(suffix, b'A'..=b'D') && ends_word(b, suffix_at + 1)).then_some(suffix_at + 1)
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// The control letter after `number` (optionally after a dash) at `at`, when it is the right one.
fn dni_letter(b: &[u8], at: usize, number: u32) -> Option<usize> {
    let at = if b.get(at) == Some(&b'-') { at + 1 } else { at };
    let letter = *b.get(at)?;
    (letter == DNI_LETTERS[(number % 23) as usize] && ends_word(b, at + 1)).then_some(at + 1)
}

/// Spanish DNI: eight digits and the control letter (`12345678Z`, `12345678-Z`).
pub(super) fn dni_at(b: &[u8], i: usize) -> Option<usize> {
    let d = digits(b, i, 8)?;
    if b.get(i + 8).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    dni_letter(b, i + 8, value(d))
}

/// Spanish NIE: X, Y or Z (0, 1, 2), seven digits and the control letter (`X1234567L`).
pub(super) fn nie_at(b: &[u8], i: usize) -> Option<usize> {
    let lead = match b[i] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        _ => return None,
    };
    let start = if b.get(i + 1) == Some(&b'-') {
        i + 2
    } else {
        i + 1
    };
    let d = digits(b, start, 7)?;
    if b.get(start + 7).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    dni_letter(b, start + 7, lead * 10_000_000 + value(d))
}

/// Brazilian CPF in its written form `123.456.789-09`, both check digits verified.
pub(super) fn cpf_at(b: &[u8], i: usize) -> Option<usize> {
    let s = b.get(i..i + 14)?;
    let mut d = [0u32; 11];
    let mut n = 0;
    for (k, &c) in s.iter().enumerate() {
        match k {
            3 | 7 if c == b'.' => {}
            11 if c == b'-' => {}
            3 | 7 | 11 => return None,
            _ if c.is_ascii_digit() => {
                d[n] = u32::from(c - b'0');
                n += 1;
            }
            _ => return None,
        }
    }
    if !ends_word(b, i + 14)
        || b.get(i + 14) == Some(&b'.') && b.get(i + 15).is_some_and(u8::is_ascii_digit)
    {
        return None;
    }
    if d.iter().all(|&x| x == d[0]) {
        return None;
    }
    let check = |len: usize| {
        let sum: u32 = (0..len).map(|k| d[k] * (len as u32 + 1 - k as u32)).sum();
        (sum * 10 % 11) % 10
    };
    (check(9) == d[9] && check(10) == d[10]).then_some(i + 14)
}
