//! Properties over generated input: total (never panics), idempotent, literal-invariant, and scrubbed
//! output free of the personal data that went in.

use dbpower_sql::{Dialect, ScrubLevel, fingerprint, fingerprint_and_id, query_id, scrub};
use proptest::prelude::*;

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![Just(Dialect::Mysql), Just(Dialect::Postgresql)]
}

/// A literal as SQL text: numbers, quoted strings (with escapes), booleans.
fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..100_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        "[a-zA-Z0-9 %_.-]{0,20}".prop_map(|s| format!("'{s}'")),
    ]
}

/// Statement templates with literal holes.
fn template() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("SELECT * FROM orders WHERE id = {} AND status = {}"),
        Just("UPDATE accounts SET balance = {} WHERE owner = {}"),
        Just("SELECT a, b FROM t WHERE a IN ({}, {}) ORDER BY b LIMIT 10"),
        Just("DELETE FROM sessions WHERE expires < {} AND note = {}"),
        Just("INSERT INTO log (a, b) VALUES ({}, {})"),
    ]
}

fn fill(t: &str, a: &str, b: &str) -> String {
    t.replacen("{}", a, 1).replacen("{}", b, 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn total_on_any_input(s in any::<String>(), d in dialect()) {
        let f = fingerprint(&s, d);
        let _ = query_id(&f);
        let _ = scrub(&s, d, ScrubLevel::Strict);
        let _ = scrub(&s, d, ScrubLevel::PiiOnly);
    }

    #[test]
    fn total_on_sql_shaped_bytes(s in "[ -~\n\t]{0,200}", d in dialect()) {
        let _ = fingerprint(&s, d);
        let _ = scrub(&s, d, ScrubLevel::Strict);
    }

    #[test]
    fn postgres_fingerprints_are_idempotent(s in "[ -~\n]{0,120}") {
        let once = fingerprint(&s, Dialect::Postgresql);
        prop_assert_eq!(fingerprint(&once, Dialect::Postgresql), once.clone(), "input {:?}", s);
    }

    /// The shown fingerprint reads comments and quotes with the lexer before pt's rules run, so it is
    /// idempotent on any text, comment markers and lone quotes included.
    #[test]
    fn mysql_fingerprints_are_idempotent(s in "[ -~\n]{0,120}") {
        let once = fingerprint(&s, Dialect::Mysql);
        prop_assert_eq!(fingerprint(&once, Dialect::Mysql), once.clone(), "input {:?}", s);
    }

    #[test]
    fn fingerprints_ignore_literal_values(t in template(), a in literal(), b in literal(), c in literal(), e in literal(), d in dialect()) {
        let x = fill(t, &a, &b);
        let y = fill(t, &c, &e);
        prop_assert_eq!(fingerprint(&x, d), fingerprint(&y, d));
    }

    /// The platform computes the id from the text the agent scrubbed: scrubbing must not change it,
    /// whatever the literals (signed numbers included).
    #[test]
    fn strict_scrubbing_keeps_the_query_id(t in template(), a in literal(), b in literal(), d in dialect()) {
        let x = fill(t, &a, &b);
        let s = scrub(&x, d, ScrubLevel::Strict);
        prop_assert_eq!(fingerprint_and_id(&s, d), fingerprint_and_id(&x, d), "{} scrubbed as {}", x, s);
    }

    #[test]
    fn strict_scrubbing_preserves_the_fingerprint_and_drops_pii(t in template(), user in "[a-z]{1,8}", host in "[a-z]{2,8}", d in dialect()) {
        let x = fill(t, &format!("'{user}@{host}.com'"), "'10.20.30.40'");
        let s = scrub(&x, d, ScrubLevel::Strict);
        prop_assert!(!s.contains('@') && !s.contains("10.20.30.40"), "{}", s);
        prop_assert_eq!(fingerprint(&s, d), fingerprint(&x, d));
        let p = scrub(&x, d, ScrubLevel::PiiOnly);
        prop_assert!(p.contains("[EMAIL_REDACTED]") && p.contains("[IP_REDACTED]"), "{}", p);
        prop_assert_eq!(scrub(&s, d, ScrubLevel::Strict), s.clone(), "strict scrubbing is idempotent");
    }
}

/// The marker every generated secret carries; checked case-insensitively (MySQL fingerprints lower-case
/// text and turn digits into `?`).
const MARK: &str = "zqxSECRET123";

fn holds_marker(s: &str) -> bool {
    s.to_ascii_lowercase().contains("zqxsecret")
}

/// Text for inside a literal or comment: the marker, quotes, escapes, comment markers, e-mails, non-ASCII.
fn piece() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(MARK),
        Just(" zqx.user@example.com "),
        Just(" "),
        Just("'"),
        Just("\""),
        Just("`"),
        Just("\\"),
        Just("--"),
        Just("#"),
        Just("/*"),
        Just("*/"),
        Just("/*!"),
        Just("$"),
        Just("$$"),
        Just("?"),
        Just("%"),
        Just("\n"),
        Just("é"),
        Just("用户"),
        Just("0"),
        Just("{\"k\": \"v\"}"),
    ]
}

fn pieces() -> impl Strategy<Value = Vec<&'static str>> {
    prop::collection::vec(piece(), 0..6)
}

/// A string literal holding the marker, quoted and escaped so the dialect reads all of it as one literal
/// (or, when `open`, as a literal left unterminated, which runs to the end of the statement).
fn marked_literal(d: Dialect, body: &[&str], style: u8, open: bool) -> String {
    let mut content: String = body.concat();
    content.push_str(MARK);
    let (head, tail) = match (d, style % 6) {
        (Dialect::Mysql, 0) => ("'", content.replace('\\', "\\\\").replace('\'', "''")),
        (Dialect::Mysql, 1) => ("'", content.replace('\\', "\\\\").replace('\'', "\\'")),
        (Dialect::Mysql, 2) => ("\"", content.replace('\\', "\\\\").replace('"', "\"\"")),
        (Dialect::Mysql, 3) => ("N'", content.replace('\\', "\\\\").replace('\'', "\\'")),
        (Dialect::Mysql, 4) => (
            "_utf8mb4'",
            content.replace('\\', "\\\\").replace('\'', "''"),
        ),
        (Dialect::Mysql, _) => ("\"", content.replace('\\', "\\\\").replace('"', "\\\"")),
        // Standard strings: a backslash is doubled so the literal ends at the same quote whether or not
        // backslashes escape.
        (Dialect::Postgresql, 0) => ("'", content.replace('\\', "\\\\").replace('\'', "''")),
        (Dialect::Postgresql, 1) => ("E'", content.replace('\\', "\\\\").replace('\'', "\\'")),
        (Dialect::Postgresql, 2) => ("e'", content.replace('\\', "\\\\").replace('\'', "''")),
        (Dialect::Postgresql, 3) => ("$$", content.replace('$', "")),
        (Dialect::Postgresql, 4) => ("$t1$", content.replace('$', "")),
        (Dialect::Postgresql, _) => ("U&'", content.replace('\\', "\\\\").replace('\'', "''")),
    };
    let close = match head {
        "$$" => "$$",
        "$t1$" => "$t1$",
        h if h.ends_with('"') => "\"",
        _ => "'",
    };
    if open {
        format!("{head}{tail}")
    } else {
        format!("{head}{tail}{close}")
    }
}

/// A comment holding the marker, in a form the dialect reads as one comment to its end.
fn comment(d: Dialect, body: &[&str], style: u8) -> String {
    let content: String = body.concat();
    let line = content.replace('\n', " ");
    // PostgreSQL nests block comments: neither an opener nor a closer may appear inside.
    let block = content.replace("*/", "* /").replace("/*", "/ *");
    match (d, style % 6) {
        (_, 0) => format!("-- {line} {MARK}\n"),
        (_, 1) => format!("/* {block} {MARK} */"),
        (_, 2) => format!("/*+ {MARK} {block} */"),
        (Dialect::Mysql, 3) => format!("# {line}{MARK}\n"),
        (Dialect::Mysql, 4) => format!("/*!40101 {MARK} {block} */"),
        (Dialect::Mysql, _) => format!("/*M!100301 {block}{MARK} */"),
        // Nested comments: inner ones closed, the outer one possibly left open.
        (Dialect::Postgresql, 3) => format!("/* a /* {block} {MARK} */ {MARK} */"),
        (Dialect::Postgresql, 4) => format!("/* /* /* {MARK} */ */ */"),
        (Dialect::Postgresql, _) => format!("--{line}{MARK}\n"),
    }
}

/// Statement text around the literals and comments: keywords, names, quoted names, numbers, operators.
fn code(d: Dialect) -> impl Strategy<Value = String> {
    let quoted = match d {
        Dialect::Mysql => prop_oneof![
            Just("`a``b`"),
            Just("`it's`"),
            Just("`x\"y`"),
            Just("`t 1`")
        ]
        .boxed(),
        Dialect::Postgresql => prop_oneof![
            Just("\"a\"\"b\""),
            Just("\"it's\""),
            Just("\"Col\""),
            Just("\"x--y\"")
        ]
        .boxed(),
    };
    prop_oneof![
        prop_oneof![
            Just("SELECT"),
            Just("FROM t"),
            Just("WHERE"),
            Just("AND"),
            Just("OR"),
            Just("INSERT INTO users (email, password) VALUES"),
            Just("UPDATE t SET"),
            Just("password ="),
            Just("token IN ("),
            Just("IDENTIFIED BY"),
            Just("SET PASSWORD ="),
            Just("PASSWORD"),
            Just("CALL p("),
            Just("LIKE"),
            Just("UNION ALL SELECT"),
            Just("LIMIT 10"),
            Just("NULL"),
            Just("users_2009"),
            Just("é_col"),
        ]
        .prop_map(String::from),
        quoted.prop_map(String::from),
        prop_oneof![
            Just("="),
            Just("("),
            Just(")"),
            Just(","),
            Just(";"),
            Just("-"),
            Just("+"),
            Just("*"),
            Just("."),
            Just("?"),
            Just("\\"),
            Just("@"),
            Just("::"),
            Just("$1"),
        ]
        .prop_map(String::from),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..1000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}e-3")),
        Just("0x1F".to_string()),
    ]
}

/// One fragment: code, a literal or a comment with the marker.
fn fragment(d: Dialect) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => code(d),
        2 => (pieces(), any::<u8>()).prop_map(move |(b, style)| marked_literal(d, &b, style, false)),
        1 => (pieces(), any::<u8>()).prop_map(move |(b, style)| comment(d, &b, style)),
    ]
}

/// What may end a statement: nothing, or a literal, block comment or quoted name left open (each runs
/// to the end of the text, so it can only come last).
fn open_tail(d: Dialect) -> impl Strategy<Value = String> {
    let (name, quote) = match d {
        Dialect::Mysql => ("`name ", '`'),
        Dialect::Postgresql => ("\"name ", '"'),
    };
    prop_oneof![
        3 => Just(String::new()),
        1 => (pieces(), any::<u8>()).prop_map(move |(b, style)| marked_literal(d, &b, style, true)),
        1 => pieces().prop_map(move |b| format!("/* {} {MARK}", b.concat().replace("*/", "* /").replace("/*", "/ *"))),
        1 => (pieces(), any::<u8>()).prop_map(move |(b, style)| {
            // Nothing after the open name may close it.
            format!("{name}{}", marked_literal(d, &b, style, false).replace(quote, ""))
        }),
    ]
}

/// A dialect and a statement of fragments joined by whitespace.
fn adversarial() -> impl Strategy<Value = (Dialect, String)> {
    dialect().prop_flat_map(|d| {
        (
            prop::collection::vec(
                (
                    fragment(d),
                    prop_oneof![Just(" "), Just("\n"), Just("\t"), Just("  ")],
                ),
                1..14,
            ),
            open_tail(d),
        )
            .prop_map(move |(parts, tail)| {
                let mut sql: String = parts
                    .iter()
                    .flat_map(|(f, sep)| [f.as_str(), sep])
                    .collect();
                sql.push_str(&tail);
                (d, sql)
            })
    })
}

/// Output may grow (placeholders are longer than short literals) but only by a bounded factor.
fn bounded(input: &str, output: &str) -> bool {
    output.len() <= 8 * input.len() + 64
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// Strict scrubbing and fingerprints keep no literal or comment text, whatever the quoting and
    /// comments around it.
    #[test]
    fn strict_output_and_fingerprints_hold_no_literal_or_comment_text((d, sql) in adversarial()) {
        let strict = scrub(&sql, d, ScrubLevel::Strict);
        prop_assert!(!holds_marker(&strict), "strict {:?}\n  from {:?}", strict, sql);
        let fp = fingerprint(&sql, d);
        prop_assert!(!holds_marker(&fp), "fingerprint {:?}\n  from {:?}", fp, sql);
        let (fp2, id) = fingerprint_and_id(&sql, d);
        prop_assert_eq!(&fp2, &fp);
        prop_assert_eq!(id.len(), 16);
        // The fingerprint of the scrubbed statement holds nothing either.
        prop_assert!(!holds_marker(&fingerprint(&strict, d)));
    }

    /// Scrubbing (both levels) and fingerprinting are idempotent, bounded and never mangle characters;
    /// e-mails in literals and comments never survive either scrubbing level.
    #[test]
    fn scrubbing_is_idempotent_and_bounded((d, sql) in adversarial()) {
        let strict = scrub(&sql, d, ScrubLevel::Strict);
        prop_assert_eq!(&scrub(&strict, d, ScrubLevel::Strict), &strict, "strict, from {:?}", sql);
        let pii = scrub(&sql, d, ScrubLevel::PiiOnly);
        prop_assert_eq!(&scrub(&pii, d, ScrubLevel::PiiOnly), &pii, "pii_only, from {:?}", sql);
        let fp = fingerprint(&sql, d);
        prop_assert_eq!(&fingerprint(&fp, d), &fp, "fingerprint, from {:?}", sql);
        for out in [&strict, &pii, &fp] {
            prop_assert!(bounded(&sql, out), "{} bytes from {}", out.len(), sql.len());
            prop_assert!(!out.contains('\u{FFFD}'), "{:?}", out.as_str());
        }
        prop_assert!(!strict.contains("@example.com") && !pii.contains("@example.com"), "{:?}\n{:?}", strict, pii);
    }

    /// Arbitrary text, including lone quotes and comment openers, never panics and stays bounded.
    #[test]
    fn scrubbing_any_text_is_total_and_bounded(s in "(?s).{0,160}", d in dialect()) {
        for level in [ScrubLevel::Strict, ScrubLevel::PiiOnly] {
            let out = scrub(&s, d, level);
            prop_assert!(bounded(&s, &out));
        }
        let fp = fingerprint(&s, d);
        prop_assert!(bounded(&s, &fp));
        prop_assert!(!fp.contains('\u{FFFD}') || s.contains('\u{FFFD}'), "{:?}", fp);
    }
}

/// Personal data and secrets, and what may touch them.
fn personal() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("ann@example.com"),
        Just("josé@exämple.com"),
        Just("user%40example.com"),
        Just("+44 20 7946 0958"),
        Just("(415) 555-2671"),
        Just("DE89370400440532013000"),
        Just("GB29 NWBK 6016 1331 9268 19"),
        Just("4111111111111111"),
        Just("4111 1111 1111 1111"),
        Just("123-45-6789"),
        Just("AB123456C"),
        Just("12345678Z"),
        Just("529.982.247-25"),
        Just("10.0.0.1"),
        Just("fe80::1"),
        Just("AKIAIOSFODNN7EXAMPLE"),
        Just("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIx"),
        Just(".sig"),
        Just("Bearer "),
        Just("abcdef0123456789abcd"),
        Just("$2b$12$"),
        Just("*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9"),
        Just("md5"),
        Just("-----BEGIN RSA PRIVATE KEY-----"),
        Just("-----END RSA PRIVATE KEY-----"),
        Just("%2540"),
        Just("password="),
        Just("token: "),
        Just("https://u:p@h/"),
        Just("{\"password\": \"x\", \"n\": [1, \"ann@example.com\"]}"),
        Just("password = "),
        Just("IDENTIFIED BY "),
        Just("INSERT INTO t (a, pwd) VALUES ("),
        Just("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        Just("da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        Just("AES_ENCRYPT(x, "),
        Just("pgp_sym_encrypt("),
        Just("('smtp_password', "),
        Just("UPDATE c SET value = 'v' WHERE name = 'api_token'"),
        Just("INSERT INTO s (name, value) VALUES ("),
        Just("@"),
        Just("."),
        Just(" "),
        Just("-"),
        Just("+"),
        Just("("),
        Just(")"),
        Just("'"),
        Just("\""),
        Just("1"),
        Just("1234"),
        Just("é"),
        Just("AB"),
        Just("="),
        Just(":"),
        Just(","),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    /// Both scrubbing levels and the fingerprint are idempotent on printable text.
    #[test]
    fn idempotent_on_printable_text(s in "[ -~\n]{0,120}", d in dialect()) {
        for level in [ScrubLevel::Strict, ScrubLevel::PiiOnly] {
            let once = scrub(&s, d, level);
            prop_assert_eq!(&scrub(&once, d, level), &once, "{:?} {:?}", level, s);
        }
        let fp = fingerprint(&s, d);
        prop_assert_eq!(&fingerprint(&fp, d), &fp, "{:?}", s);
    }

    /// Personal data glued to other personal data, quotes and keywords: scrubbing stays idempotent
    /// (a finding that depends on its neighbours is settled in one call) and bounded.
    #[test]
    fn idempotent_around_adjacent_personal_data(v in prop::collection::vec(personal(), 0..12), d in dialect()) {
        let s = v.concat();
        for level in [ScrubLevel::Strict, ScrubLevel::PiiOnly] {
            let once = scrub(&s, d, level);
            prop_assert_eq!(&scrub(&once, d, level), &once, "{:?} {:?}", level, s);
            prop_assert!(bounded(&s, &once));
        }
        let fp = fingerprint(&s, d);
        prop_assert_eq!(&fingerprint(&fp, d), &fp, "{:?}", s);
    }
}

/// A word that makes a setting's name a secret.
fn secret_word() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("password"),
        Just("passwd"),
        Just("secret"),
        Just("token"),
        Just("api_key"),
        Just("apikey"),
        Just("access_key"),
        Just("private_key"),
        Just("credential"),
    ]
}

/// Where a secret value sits: `{k}` is the setting's name, `{v}` the value.
fn secret_place() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("INSERT INTO settings (name, value) VALUES ('{k}', '{v}')"),
        Just("INSERT INTO settings VALUES (1, '{k}', '{v}')"),
        Just("INSERT INTO settings (value, name) VALUES ('{v}', '{k}')"),
        Just("UPDATE config SET value = '{v}' WHERE name = '{k}'"),
        Just("SELECT id FROM config WHERE name = '{k}' AND value = '{v}'"),
        Just("SELECT AES_ENCRYPT(card, '{v}') FROM t WHERE note = '{k}'"),
        Just("SELECT AES_DECRYPT(card, '{v}'), DES_ENCRYPT(x, '{v}') FROM t"),
        Just("SELECT pgp_sym_encrypt(data, '{v}'), hmac(d, '{v}', 'sha256')"),
        Just("SELECT encrypt(data, '{v}', 'aes'), decrypt(data, '{v}', 'aes')"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Values of settings named as secrets, and encryption keys, never survive `pii_only`.
    #[test]
    fn key_value_and_encryption_key_secrets_never_survive(
        place in secret_place(),
        prefix in "(smtp_|app\\.|db-|)",
        word in secret_word(),
        value in "Zq[A-Za-z0-9!#%^*]{4,16}",
        d in dialect(),
    ) {
        let sql = place.replace("{k}", &format!("{prefix}{word}")).replace("{v}", &value);
        let out = scrub(&sql, d, ScrubLevel::PiiOnly);
        prop_assert!(!out.contains(&value), "{:?} -> {:?}", sql, out);
    }

    /// 40 characters of upper and lower case letters, digits, `/` and `+` without lower-case words: an
    /// AWS secret access key, redacted wherever it stands.
    #[test]
    fn aws_secret_keys_are_redacted(key in "[A-Z][a-z][0-9]([A-Z0-9/+][a-z]{0,3}){40}", d in dialect()) {
        let key: String = key.chars().take(40).collect();
        let sql = format!("SELECT * FROM t WHERE note = 'aws {key}' /* {key} */");
        let out = scrub(&sql, d, ScrubLevel::PiiOnly);
        prop_assert!(!out.contains(&key), "{:?}", out);
    }

    /// Hex digests (any case, SHA-1 is 40 digits), UUIDs and timestamps are ordinary literals.
    #[test]
    fn digests_uuids_and_timestamps_are_kept(
        hex in "[0-9a-fA-F]{40}",
        uuid in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        ts in "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{6}Z",
        d in dialect(),
    ) {
        let sql = format!("SELECT * FROM t WHERE sha = '{hex}' AND id = '{uuid}' AND ts > '{ts}'");
        prop_assert_eq!(scrub(&sql, d, ScrubLevel::PiiOnly), sql);
    }
}
