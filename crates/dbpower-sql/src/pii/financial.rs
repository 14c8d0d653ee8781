//! Payment card numbers and IBANs.

use super::is_word;

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

/// Whether the digits start like a card of a network that issues that length (Visa, Mastercard,
/// American Express, Diners, JCB, Discover, UnionPay, Maestro). Numbers starting with 0, 1, 7, 8 or 9
/// (unix epochs, most order numbers) are not cards.
fn card_network(d: &[u8]) -> bool {
    let n = d.len();
    let num = |k: usize| {
        d[..k]
            .iter()
            .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'))
    };
    match d[0] {
        b'2' => n == 16 && (2221..=2720).contains(&num(4)),
        b'3' => match num(2) {
            34 | 37 => n == 15,
            30 | 36 | 38 | 39 => (14..=19).contains(&n),
            35 => (16..=19).contains(&n),
            _ => false,
        },
        b'4' => matches!(n, 13 | 16 | 19),
        b'5' | b'6' => (16..=19).contains(&n),
        _ => false,
    }
}

/// A card number at `i`: grouped with spaces or dashes, or (when the groups run on too long, as in a
/// list of numbers) the first group alone.
pub(super) fn card_at(b: &[u8], i: usize) -> Option<usize> {
    let card = |seps: &[u8]| {
        let (end, n, digits) = digit_run(b, i, seps, 19);
        ((13..=19).contains(&n)
            && !b.get(end).is_some_and(|&c| is_word(c))
            && card_network(&digits[..n])
            && luhn(&digits[..n]))
        .then_some(end)
    };
    card(b" -").or_else(|| card(b""))
}

/// IBAN lengths by country (the SWIFT IBAN registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// ISO 13616: the country code and check digits moved to the end, letters as 10..35, mod 97 is 1.
fn iban_checksum(iban: &[u8]) -> bool {
    let (head, rest) = iban.split_at(4);
    let mut r = 0u32;
    for &c in rest.iter().chain(head) {
        r = if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97
        };
    }
    r == 1
}

/// An IBAN at `i`: compact (`DE89370400440532013000`) or in groups of four (`DE89 3704 0044 0532 0130 00`).
pub(super) fn iban_at(b: &[u8], i: usize) -> Option<usize> {
    let cc = b.get(i..i + 2)?;
    // The shape first: upper-case keywords (`AND`, `BETWEEN`) never reach the table.
    if !cc.iter().all(u8::is_ascii_uppercase)
        || !b.get(i + 2..i + 4)?.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let &(_, len) = IBAN_LENGTHS.iter().find(|(c, _)| c[..] == *cc)?;
    let mut chars = [0u8; 34];
    chars[..4].copy_from_slice(&b[i..i + 4]);
    let grouped = b.get(i + 4) == Some(&b' ');
    let mut n = 4;
    let mut j = i + 4;
    while n < len {
        if grouped && n % 4 == 0 {
            if b.get(j) != Some(&b' ') {
                return None;
            }
            j += 1;
        }
        let c = *b.get(j)?;
        if !c.is_ascii_alphanumeric() {
            return None;
        }
        chars[n] = c;
        n += 1;
        j += 1;
    }
    if b.get(j).is_some_and(|&c| is_word(c)) {
        return None;
    }
    iban_checksum(&chars[..len]).then_some(j)
}
