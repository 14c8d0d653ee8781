//! The index advisor. Per table of each query block: a composite index with the equality columns
//! first (filters, then join columns where the table is driven by a join), then one range column or
//! the ORDER BY columns. Columns wrapped in functions get an expression index instead. With a schema
//! snapshot, a suggestion that an existing index (or its prefix) already serves is dropped, and a large
//! table that no index serves at all is reported as `missing_index`. DDL is written for the dialect:
//! `CREATE INDEX CONCURRENTLY` on PostgreSQL, `ALTER TABLE ... ADD INDEX ..., ALGORITHM=INPLACE, LOCK=NONE`
//! on MySQL/MariaDB.

use dbpower_sql::Dialect;
use dbpower_types::{SchemaSnapshot, TableSchema};

use crate::statement::{Block, Finding, TableRef};

/// Tables smaller than this are read faster without an index.
pub const SMALL_TABLE_ROWS: i64 = 1_000;
/// `missing_index` is reported for tables at least this large.
pub const MISSING_INDEX_ROWS: i64 = 10_000;
const MAX_COLUMNS: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    pub table: String,
    pub columns: Vec<String>,
    /// An expression key instead of columns (e.g. `lower(email)`).
    pub expression: Option<String>,
    pub ddl: String,
    pub rows: Option<i64>,
    /// Whether a schema snapshot confirmed that no index serves this.
    pub verified: bool,
}

const RESERVED: &[&str] = &[
    "all", "and", "as", "asc", "by", "case", "check", "column", "default", "desc", "else", "end",
    "from", "group", "having", "in", "index", "is", "key", "limit", "not", "offset", "on", "or",
    "order", "primary", "select", "table", "then", "to", "user", "when", "where", "range", "rank",
    "interval", "time", "date",
];

pub fn quote(dialect: Dialect, ident: &str) -> String {
    let plain = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&ident);
    if plain {
        return ident.to_string();
    }
    match dialect {
        Dialect::Postgresql => format!("\"{}\"", ident.replace('"', "\"\"")),
        Dialect::Mysql => format!("`{}`", ident.replace('`', "``")),
    }
}

/// `s` lowercased, with every character but ASCII letters and digits turned into `_`.
pub(crate) fn word_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn index_name(table: &str, parts: &[String]) -> String {
    let mut name = format!("idx_{table}");
    for p in parts {
        let clean = word_chars(p);
        name.push('_');
        name.push_str(clean.trim_matches('_'));
    }
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    // PostgreSQL truncates names at 63 bytes, MySQL refuses more than 64.
    name.chars().take(63).collect()
}

fn qualified(dialect: Dialect, t: &TableRef) -> String {
    match &t.schema {
        Some(s) => format!("{}.{}", quote(dialect, s), quote(dialect, &t.name)),
        None => quote(dialect, &t.name),
    }
}

pub fn ddl(dialect: Dialect, t: &TableRef, name: &str, key: &str) -> String {
    match dialect {
        Dialect::Postgresql => format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} ({key});",
            quote(dialect, name),
            qualified(dialect, t)
        ),
        Dialect::Mysql => format!(
            "ALTER TABLE {} ADD INDEX {} ({key}), ALGORITHM=INPLACE, LOCK=NONE;",
            qualified(dialect, t),
            quote(dialect, name)
        ),
    }
}

/// Whether an existing index starts with these columns: the equality set in any order, then the tail in order.
fn covered(table: &TableSchema, eq: &[String], tail: &[String]) -> bool {
    table.indexes.iter().any(|ix| {
        let cols: Vec<String> = ix.columns.iter().map(|c| c.to_lowercase()).collect();
        if cols.len() < eq.len() + tail.len() {
            return false;
        }
        let mut head: Vec<&String> = cols[..eq.len()].iter().collect();
        let mut want: Vec<&String> = eq.iter().collect();
        head.sort();
        want.sort();
        head == want && cols[eq.len()..eq.len() + tail.len()] == *tail
    })
}

fn push_unique(v: &mut Vec<String>, c: &str) {
    if !v.iter().any(|x| x == c) {
        v.push(c.to_string());
    }
}

pub struct Output {
    pub advice: Vec<Advice>,
    pub findings: Vec<Finding>,
}

pub fn advise(blocks: &[Block], dialect: Dialect, schema: Option<&SchemaSnapshot>) -> Output {
    let mut out = Output {
        advice: Vec::new(),
        findings: Vec::new(),
    };
    for block in blocks {
        let first_filtered = block.eq.iter().chain(&block.range).any(|(t, _)| *t == 0);
        for (ti, t) in block.tables.iter().enumerate() {
            if !t.base || t.name.is_empty() {
                continue;
            }
            let known = schema.and_then(|s| s.table(t.schema.as_deref(), &t.name));
            let rows = known.and_then(|k| k.rows);
            let cols_of = |v: &[(usize, String)]| -> Vec<String> {
                v.iter()
                    .filter(|(x, _)| *x == ti)
                    .map(|(_, c)| c.clone())
                    .collect()
            };
            let join_cols: Vec<String> = block
                .joins
                .iter()
                .flat_map(|(a, b)| [a, b])
                .filter(|(x, _)| *x == ti)
                .map(|(_, c)| c.clone())
                .collect();
            let mut eq = Vec::new();
            for c in cols_of(&block.eq) {
                push_unique(&mut eq, &c);
            }
            // A table driven by a join is looked up by its join columns.
            if ti > 0 || !first_filtered {
                for c in &join_cols {
                    push_unique(&mut eq, c);
                }
            }
            let range: Vec<String> = cols_of(&block.range)
                .into_iter()
                .filter(|c| !eq.contains(c))
                .collect();
            let order: Vec<String> = block
                .order
                .iter()
                .filter(|(x, _)| *x == ti)
                .map(|(_, c)| c.clone())
                .filter(|c| !eq.contains(c))
                .collect();
            let tail: Vec<String> = match range.first() {
                Some(r) => vec![r.clone()],
                None if block.order.len() == order.len() => order,
                None => Vec::new(),
            };
            eq.truncate(MAX_COLUMNS);
            let tail: Vec<String> = tail.into_iter().take(MAX_COLUMNS - eq.len()).collect();

            // missing_index: a large known table whose filters no index leads with.
            if let Some(k) = known
                && k.rows.is_some_and(|r| r >= MISSING_INDEX_ROWS)
            {
                let mut filters: Vec<String> = cols_of(&block.eq);
                filters.extend(cols_of(&block.range));
                filters.extend(join_cols.iter().cloned());
                let led = k.indexes.iter().any(|ix| {
                    ix.columns
                        .first()
                        .is_some_and(|c| filters.iter().any(|f| f.eq_ignore_ascii_case(c)))
                });
                if !filters.is_empty() && !led {
                    filters.dedup();
                    out.findings.push(Finding {
                        rule: "missing_index",
                        evidence: format!(
                            "{} ({} rows): no index starts with {}",
                            t.name,
                            k.rows.unwrap_or(0),
                            filters.join(", ")
                        ),
                        severity: None,
                    });
                }
            }

            let mut key_cols = eq.clone();
            key_cols.extend(tail.iter().cloned());
            let only_pk_guess = known.is_none() && key_cols.len() == 1 && key_cols[0] == "id";
            let small = rows.is_some_and(|r| r < SMALL_TABLE_ROWS);
            let already = known.is_some_and(|k| covered(k, &eq, &tail));
            if !key_cols.is_empty() && !only_pk_guess && !small && !already {
                let name = index_name(&t.name, &key_cols);
                let key: Vec<String> = key_cols.iter().map(|c| quote(dialect, c)).collect();
                let advice = Advice {
                    table: t.name.clone(),
                    ddl: ddl(dialect, t, &name, &key.join(", ")),
                    columns: key_cols,
                    expression: None,
                    rows,
                    verified: known.is_some(),
                };
                if !out.advice.iter().any(|a| a.ddl == advice.ddl) {
                    out.advice.push(advice);
                }
            }
            for (x, col, text) in &block.funcs {
                if *x != ti || small {
                    continue;
                }
                // Keys are written without the query's table qualifiers.
                let mut key = text.clone();
                for q in [t.alias.as_deref(), Some(t.name.as_str())]
                    .into_iter()
                    .flatten()
                {
                    key = key.replace(&format!("{q}."), "");
                }
                let already = known.is_some_and(|k| {
                    k.indexes.iter().any(|ix| {
                        ix.columns.first().is_some_and(|c| {
                            c.replace(' ', "")
                                .eq_ignore_ascii_case(&key.replace(' ', ""))
                        })
                    })
                });
                if already {
                    continue;
                }
                let name = index_name(&t.name, std::slice::from_ref(&key));
                let advice = Advice {
                    table: t.name.clone(),
                    columns: vec![col.clone()],
                    ddl: ddl(dialect, t, &name, &format!("({key})")),
                    expression: Some(key),
                    rows,
                    verified: known.is_some(),
                };
                if !out.advice.iter().any(|a| a.ddl == advice.ddl) {
                    out.advice.push(advice);
                }
            }
        }
    }
    out
}
