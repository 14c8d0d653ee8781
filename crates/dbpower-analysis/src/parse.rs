//! From statement text to what the rules walk: the parsed statement, a utility statement the rules have
//! nothing to check in, or the parser's error (then only the token-level checks run).
//!
//! The text is the scrubbed statement as stored (`?` placeholders on MySQL, `$n` on PostgreSQL, in
//! every position a literal was) and is given to sqlparser (the copy under `vendor/sqlparser`, see its
//! README for what it adds) unchanged. When it does not parse, two placeholder positions the grammar
//! has no room for are rewritten and the text is parsed again ([`prepass`]); neither changes a table, a
//! column or a predicate. When it still does not parse, it is matched against the utility statements
//! below, by its leading words.

use dbpower_sql::Dialect;
use dbpower_sql::lexer::{Kind, Lexer};
use sqlparser::ast::Statement;
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use crate::MAX_PARSE_BYTES;

pub(crate) enum Parsed {
    Statement(Box<Statement>),
    /// A statement with nothing for the rules (no query, no predicate): what it is.
    Utility(&'static str),
    Failed(String),
}

/// A utility statement: the dialects it is for, the leading words that make it one (after `CREATE [OR
/// REPLACE] [DEFINER = ...]` when the first word is `CREATE`), and what the report says it is.
struct Utility {
    dialects: &'static [Dialect],
    leads: &'static [&'static [&'static str]],
    what: &'static str,
}

const UTILITY: &[Utility] = &[
    Utility {
        dialects: &[Dialect::Postgresql, Dialect::Mysql],
        leads: &[&["ALTER", "SEQUENCE"]],
        what: "ALTER SEQUENCE changes a sequence's settings and reads no table",
    },
    Utility {
        dialects: &[Dialect::Mysql],
        leads: &[
            &["CREATE", "PROCEDURE"],
            &["CREATE", "FUNCTION"],
            &["CREATE", "TRIGGER"],
            &["CREATE", "EVENT"],
        ],
        what: "it defines a stored program (procedure, function, trigger or event), whose statements are analysed when they run",
    },
];

/// How many leading words are looked at to recognise a utility statement (`CREATE OR REPLACE DEFINER =
/// 'user'@'host' PROCEDURE` is nine tokens).
const UTILITY_LOOKAHEAD: usize = 16;

pub(crate) fn parse(sql: &str, dialect: Dialect) -> Parsed {
    if sql.len() > MAX_PARSE_BYTES {
        return Parsed::Failed(format!("statement longer than {MAX_PARSE_BYTES} bytes"));
    }
    let err = match sqlparser_parse(sql, dialect) {
        Ok(mut stmts) if !stmts.is_empty() => {
            return Parsed::Statement(Box::new(stmts.swap_remove(0)));
        }
        Ok(_) => return Parsed::Failed("no statement".into()),
        Err(e) => e.to_string(),
    };
    if let Some(rewritten) = prepass(sql, dialect)
        && let Ok(mut stmts) = sqlparser_parse(&rewritten, dialect)
        && !stmts.is_empty()
    {
        return Parsed::Statement(Box::new(stmts.swap_remove(0)));
    }
    match utility(sql, dialect) {
        Some(what) => Parsed::Utility(what),
        None => Parsed::Failed(err),
    }
}

fn sqlparser_parse(
    sql: &str,
    dialect: Dialect,
) -> Result<Vec<Statement>, sqlparser::parser::ParserError> {
    match dialect {
        Dialect::Mysql => Parser::parse_sql(&MySqlDialect {}, sql),
        Dialect::Postgresql => Parser::parse_sql(&PostgreSqlDialect {}, sql),
    }
}

/// Type names whose length or precision scrubbing turns into placeholders (`varchar(?)`,
/// `numeric($1, $2)`, `datetime(?)`).
const TYPE_WORDS: &[&str] = &[
    "VARCHAR",
    "NVARCHAR",
    "VARYING",
    "CHAR",
    "NCHAR",
    "CHARACTER",
    "VARBINARY",
    "BINARY",
    "BIT",
    "VARBIT",
    "NUMERIC",
    "DECIMAL",
    "DEC",
    "FLOAT",
    "DOUBLE",
    "REAL",
    "INT",
    "INTEGER",
    "TINYINT",
    "SMALLINT",
    "MEDIUMINT",
    "BIGINT",
    "DATETIME",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "TIME",
    "TIMETZ",
    "YEAR",
    "TEXT",
    "BLOB",
];

/// Words after which a type name in DDL is a function call instead (`DEFAULT YEAR(?)`).
const NOT_BEFORE_A_TYPE: &[&str] = &[
    "DEFAULT", "CHECK", "AND", "OR", "NOT", "WHEN", "THEN", "ELSE", "SELECT", "WHERE", "ON", "BY",
    "IN", "IS", "RETURN", "SET", "USING", "VALUES",
];

/// The statement with the placeholders the grammar has no room for taken out, or `None` when there are
/// none:
/// - a type's length or precision (`varchar(?)` becomes `varchar`), where a type is written: after
///   `AS` (a cast), `::`, `TYPE`, or a column name in `CREATE` / `ALTER`; and an array type's size
///   (`double precision[$1]` becomes `double precision[]`);
/// - MySQL's character set introducer before a placeholder (`_binary ?` becomes `?`).
///
/// Both only drop what the rules never look at (a type's size, a literal's character set).
fn prepass(sql: &str, dialect: Dialect) -> Option<String> {
    let tokens: Vec<_> = Lexer::new(sql, dialect).collect();
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].kind, Kind::Whitespace | Kind::Comment))
        .collect();
    let text = |k: usize| significant.get(k).map(|&i| tokens[i].text).unwrap_or("");
    let kind = |k: usize| significant.get(k).map(|&i| tokens[i].kind);
    let is_word = |k: usize, words: &[&str]| {
        kind(k) == Some(Kind::Word) && words.iter().any(|w| text(k).eq_ignore_ascii_case(w))
    };
    let ddl = is_word(0, &["CREATE", "ALTER"]);
    let mut drop = vec![false; tokens.len()];
    let mut changed = false;
    // Where the last type modifier dropped ended, for an array size after it (`varchar(?)[?]`).
    let mut modifier_end = None;
    for k in 0..significant.len() {
        // An array type's size: `type[param]` becomes `type[]`.
        if text(k) == "["
            && kind(k + 1) == Some(Kind::Param)
            && text(k + 2) == "]"
            && k > 0
            && (is_word(k - 1, TYPE_WORDS)
                || is_word(k - 1, &["PRECISION"])
                || modifier_end == Some(k - 1))
        {
            drop[significant[k + 1]] = true;
            changed = true;
        }
        // A type with placeholder modifiers: `word ( param [, param]* )`.
        if is_word(k, TYPE_WORDS) && text(k + 1) == "(" && kind(k + 2) == Some(Kind::Param) {
            let mut end = k + 3;
            while text(end) == "," && kind(end + 1) == Some(Kind::Param) {
                end += 2;
            }
            let typed_here = k > 0
                && (is_word(k - 1, &["AS", "TYPE"])
                    || matches!(kind(k - 1), Some(Kind::Cast | Kind::QuotedIdent))
                    || (ddl
                        && kind(k - 1) == Some(Kind::Word)
                        && !is_word(k - 1, NOT_BEFORE_A_TYPE)));
            if text(end) == ")" && typed_here {
                let (from, to) = (significant[k + 1], significant[end]);
                drop[from..=to].iter_mut().for_each(|d| *d = true);
                modifier_end = Some(end);
                changed = true;
            }
        }
        // `_charset ?` on MySQL.
        if dialect == Dialect::Mysql
            && kind(k) == Some(Kind::Word)
            && text(k).len() > 1
            && text(k).starts_with('_')
            && kind(k + 1) == Some(Kind::Param)
        {
            let (from, to) = (significant[k], significant[k + 1]);
            drop[from..to].iter_mut().for_each(|d| *d = true);
            changed = true;
        }
    }
    changed.then(|| {
        tokens
            .iter()
            .zip(&drop)
            .filter(|(_, d)| !**d)
            .map(|(t, _)| t.text)
            .collect()
    })
}

/// The utility statement `sql` starts with, if any.
fn utility(sql: &str, dialect: Dialect) -> Option<&'static str> {
    let words: Vec<String> = Lexer::new(sql, dialect)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .take(UTILITY_LOOKAHEAD)
        .map(|t| t.text.to_ascii_uppercase())
        .collect();
    let lead = leading_words(&words);
    UTILITY
        .iter()
        .find(|u| {
            u.dialects.contains(&dialect)
                && u.leads.iter().any(|words| {
                    lead.len() >= words.len() && words.iter().zip(&lead).all(|(w, l)| w == l)
                })
        })
        .map(|u| u.what)
}

/// The statement's words with `OR REPLACE`, `DEFINER = <user>` and `AGGREGATE` left out after
/// `CREATE`, so the object kind follows `CREATE` directly.
fn leading_words(words: &[String]) -> Vec<&str> {
    let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
    if w.first() != Some(&"CREATE") {
        return w;
    }
    let mut i = 1;
    if w.get(1..3) == Some(&["OR", "REPLACE"][..]) {
        i = 3;
    }
    if w.get(i) == Some(&"DEFINER") {
        // The user is `name`, 'name'@'host', CURRENT_USER or CURRENT_USER(): it ends where a
        // stored-program kind starts.
        match w[i..]
            .iter()
            .position(|x| ["PROCEDURE", "FUNCTION", "TRIGGER", "EVENT"].contains(x))
        {
            Some(k) => i += k,
            None => return w,
        }
    }
    if w.get(i) == Some(&"AGGREGATE") {
        i += 1;
    }
    w.drain(1..i);
    w
}
