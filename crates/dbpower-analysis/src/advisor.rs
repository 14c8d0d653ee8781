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
    /// The schema (PostgreSQL) or database (MySQL) the statement names the table in.
    pub schema: Option<String>,
    /// How many leading `columns` the statement compares for equality (their order is free).
    pub equality: usize,
    pub columns: Vec<String>,
    /// An expression key instead of columns (e.g. `lower(email)`).
    pub expression: Option<String>,
    pub ddl: String,
    pub rows: Option<i64>,
    /// Whether a schema snapshot confirmed that no index serves this.
    pub verified: bool,
    /// The filter wraps the column in an expression the engine cannot index (see [`expression_key`]):
    /// this advice indexes the bare column, for the predicate rewritten as a range or comparison on it.
    pub rewrite: Option<String>,
    /// The column is one branch of an OR over several columns: each branch needs its own index.
    pub or_branch: bool,
    /// The last columns are there only to be read: the index alone answers the query.
    pub covering: bool,
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

pub(crate) fn index_name(table: &str, parts: &[String]) -> String {
    let mut name = format!("idx_{table}");
    for p in parts {
        let clean = word_chars(p);
        name.push('_');
        name.push_str(clean.trim_matches('_'));
    }
    while name.contains("__") {
        name = name.replace("__", "_");
    }
    // PostgreSQL truncates names at 63 bytes, MySQL refuses more than 64: a longer name is cut and
    // ends with a hash of the whole, so that two long keys on one table keep two names.
    if name.len() <= 63 {
        return name;
    }
    let hash = dbpower_sql::fingerprint::query_id(&name);
    let mut cut = 54;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], hash[..8].to_ascii_lowercase())
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

/// Without a schema, whether `col` is by its name the primary key of `table`: `id`, `pk`, `uuid`,
/// `<table>_id` (singular or plural, after a prefix such as `pgbench_`), or the table's initial and
/// `id` (`aid` for `accounts`). Advice on such a column alone would most likely duplicate the key.
pub fn obvious_key(table: &str, col: &str) -> bool {
    let col = col.to_ascii_lowercase();
    let table = table.to_ascii_lowercase();
    let base = table.rsplit('_').next().unwrap_or(&table);
    let singular = base.strip_suffix('s').unwrap_or(base);
    let initial = base.chars().next().map(|c| format!("{c}id"));
    ["id", "pk", "uuid"].contains(&col.as_str())
        || [base, singular, table.as_str()]
            .iter()
            .any(|b| col == format!("{b}_id") || col == format!("{b}id"))
        || initial.is_some_and(|i| col == i)
}

/// Functions PostgreSQL marks IMMUTABLE for every argument type they take.
const PG_IMMUTABLE: &[&str] = &[
    "lower",
    "upper",
    "btrim",
    "ltrim",
    "rtrim",
    "trim",
    "md5",
    "abs",
    "length",
    "char_length",
    "character_length",
    "octet_length",
    "left",
    "right",
    "substr",
    "substring",
    "coalesce",
    "nullif",
    "round",
    "floor",
    "ceil",
    "ceiling",
    "trunc",
    "lpad",
    "rpad",
    "replace",
    "reverse",
    "split_part",
    "greatest",
    "least",
    "jsonb_extract_path_text",
    "jsonb_extract_path",
    "json_extract_path_text",
    "array_length",
    "cardinality",
    "initcap",
    "strpos",
    "sign",
    "mod",
];

/// Date and time functions that are IMMUTABLE only on `date` and `timestamp` without time zone
/// (on `timestamptz` they depend on the session's TimeZone, so PostgreSQL refuses to index them).
const PG_ZONE_DEPENDENT: &[&str] = &["date_trunc", "date_part", "extract"];

/// Whether the engine can index `expr`, a function of one column whose declared type is `col_type`
/// (when a schema says it). MySQL/MariaDB: never; MariaDB has no functional key parts, and MySQL
/// 8.0.13+ is the only version that does; a generated column needs its type and a query that
/// names it, so the bare column is indexed for a rewritten predicate instead. PostgreSQL: only
/// expressions it can prove IMMUTABLE: the functions above, and date/time functions and casts on a
/// column known to be `date` or `timestamp` without time zone (`to_char`, `now()`, `age()` and
/// anything unknown are refused, as is a cast of a column whose type is not known).
pub fn expression_key(dialect: Dialect, expr: &str, col_type: Option<&str>) -> bool {
    use dbpower_sql::lexer::{Kind, Lexer};
    if dialect == Dialect::Mysql {
        return false;
    }
    let ty = col_type.map(str::to_ascii_lowercase);
    let temporal = |t: &str| ["date", "time", "interval"].iter().any(|w| t.contains(w));
    let zoned = |t: &str| t.contains("with time zone") || t.ends_with("tz");
    // date/time work is immutable only on a known, zone-free date or timestamp column.
    let zone_free = ty.as_deref().is_some_and(|t| temporal(t) && !zoned(t));
    let toks: Vec<_> = Lexer::new(expr, dialect)
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .collect();
    let mut cast_target = false;
    for (i, t) in toks.iter().enumerate() {
        let next = toks.get(i + 1).map(|t| t.text);
        // A placeholder (a JSON key or constant scrubbing erased) cannot be part of an index's DDL.
        if t.kind == Kind::Param {
            return false;
        }
        if t.kind == Kind::Cast || (t.kind == Kind::Word && t.text.eq_ignore_ascii_case("as")) {
            cast_target = true;
            continue;
        }
        if t.kind != Kind::Word {
            continue;
        }
        let word = t.text.to_ascii_lowercase();
        if std::mem::take(&mut cast_target) {
            let ok = match ty.as_deref() {
                None => false,
                Some(_) if temporal(&word) => zone_free && !zoned(&word),
                Some(source) => !temporal(source),
            };
            if !ok {
                return false;
            }
            continue;
        }
        if word == "select" {
            return false;
        }
        if next == Some("(") && word != "cast" {
            let ok = PG_IMMUTABLE.contains(&word.as_str())
                || (PG_ZONE_DEPENDENT.contains(&word.as_str()) && zone_free);
            if !ok {
                return false;
            }
        }
    }
    true
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
            // A correlated subquery runs once per outer row with its correlation key fixed: that key
            // leads, then the block's own equality filters.
            let mut eq = Vec::new();
            for c in cols_of(&block.correlated) {
                push_unique(&mut eq, &c);
            }
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
                        table: Some(t.name.clone()),
                    });
                }
            }

            let mut key_cols = eq.clone();
            key_cols.extend(tail.iter().cloned());
            // An aggregate or a range over one table that reads only a few more columns: with them
            // in the index, the index alone answers it (an index-only read).
            // InnoDB's secondary indexes already hold the primary key.
            let in_primary = |c: &str| {
                dialect == Dialect::Mysql
                    && match known {
                        Some(k) => k.indexes.iter().any(|ix| {
                            ix.name.eq_ignore_ascii_case("PRIMARY")
                                && ix.columns.iter().any(|p| p.eq_ignore_ascii_case(c))
                        }),
                        None => obvious_key(&t.name, c),
                    }
            };
            let extra: Vec<String> = cols_of(&block.output)
                .into_iter()
                .filter(|c| !key_cols.contains(c) && !in_primary(c))
                .collect();
            let ranged = !range.is_empty() || block.aggregate;
            let covering = ranged
                && !key_cols.is_empty()
                && !block.output.is_empty()
                && block.tables.iter().filter(|t| t.base).count() == 1
                && !extra.is_empty()
                && extra.len() <= 3
                && key_cols.len() + extra.len() <= MAX_COLUMNS;
            if covering {
                key_cols.extend(extra);
            }
            let only_pk_guess =
                known.is_none() && key_cols.len() == 1 && obvious_key(&t.name, &key_cols[0]);
            let small = rows.is_some_and(|r| r < SMALL_TABLE_ROWS);
            let already = known.is_some_and(|k| covered(k, &eq, &tail));
            if !key_cols.is_empty() && !only_pk_guess && !small && !already {
                let name = index_name(&t.name, &key_cols);
                let key: Vec<String> = key_cols.iter().map(|c| quote(dialect, c)).collect();
                let advice = Advice {
                    table: t.name.clone(),
                    schema: t.schema.clone(),
                    equality: eq.len(),
                    ddl: ddl(dialect, t, &name, &key.join(", ")),
                    columns: key_cols,
                    expression: None,
                    rows,
                    verified: known.is_some(),
                    rewrite: None,
                    or_branch: false,
                    covering,
                };
                if !out.advice.iter().any(|a| a.ddl == advice.ddl) {
                    out.advice.push(advice);
                }
            }
            // An OR over columns: every branch whose column no index leads with gets its own.
            for col in block.or_columns.iter().flatten().filter(|(x, _)| *x == ti) {
                let led = known.is_some_and(|k| {
                    k.indexes.iter().any(|ix| {
                        ix.columns
                            .first()
                            .is_some_and(|c| c.eq_ignore_ascii_case(&col.1))
                    })
                });
                if small || led || (known.is_none() && obvious_key(&t.name, &col.1)) {
                    continue;
                }
                let name = index_name(&t.name, std::slice::from_ref(&col.1));
                let advice = Advice {
                    table: t.name.clone(),
                    schema: t.schema.clone(),
                    equality: 1,
                    columns: vec![col.1.clone()],
                    ddl: ddl(dialect, t, &name, &quote(dialect, &col.1)),
                    expression: None,
                    rows,
                    verified: known.is_some(),
                    rewrite: None,
                    or_branch: true,
                    covering: false,
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
                let col_type = known.and_then(|k| {
                    k.columns
                        .iter()
                        .find(|c| c.name.eq_ignore_ascii_case(col))
                        .map(|c| c.data_type.as_str())
                });
                let indexable = expression_key(dialect, &key, col_type);
                // An expression the engine cannot index: the bare column, for a rewritten predicate.
                let (part, expression, rewrite) = if indexable {
                    (format!("({key})"), Some(key.clone()), None)
                } else if key.to_ascii_lowercase().contains("select")
                    || dbpower_sql::lexer::Lexer::new(&key, dialect)
                        .any(|t| t.kind == dbpower_sql::lexer::Kind::Param)
                {
                    // A subquery, or a constant scrubbing erased (`data->>$1` without its key's
                    // hint): neither an index key nor a bare column to index instead.
                    continue;
                } else {
                    (quote(dialect, col), None, Some(key.clone()))
                };
                let lead = expression.as_deref().unwrap_or(col).replace(' ', "");
                let already = known.is_some_and(|k| {
                    k.indexes.iter().any(|ix| {
                        ix.columns
                            .first()
                            .is_some_and(|c| c.replace(' ', "").eq_ignore_ascii_case(&lead))
                    })
                });
                if already {
                    continue;
                }
                let name = index_name(
                    &t.name,
                    std::slice::from_ref(expression.as_ref().unwrap_or(col)),
                );
                let advice = Advice {
                    table: t.name.clone(),
                    schema: t.schema.clone(),
                    equality: 1,
                    columns: vec![col.clone()],
                    ddl: ddl(dialect, t, &name, &part),
                    expression,
                    rows,
                    verified: known.is_some(),
                    rewrite,
                    or_branch: false,
                    covering: false,
                };
                if !out.advice.iter().any(|a| a.ddl == advice.ddl) {
                    out.advice.push(advice);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{expression_key, index_name};
    use dbpower_sql::Dialect;

    #[test]
    fn long_index_names_are_cut_and_stay_apart() {
        let cols = |last: &str| -> Vec<String> {
            [
                "customer_identifier",
                "warehouse_location_code",
                "fulfilment_status",
                last,
            ]
            .iter()
            .map(|c| c.to_string())
            .collect()
        };
        let a = index_name("order_lines", &cols("created_at"));
        let b = index_name("order_lines", &cols("updated_at"));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.starts_with("idx_order_lines_customer_identifier_"), "{a}");
        let short = index_name("orders", &["email".to_string()]);
        assert_eq!(short, "idx_orders_email");
        let wide = index_name(&"é".repeat(40), &cols("x"));
        assert!(wide.len() <= 63, "{wide}");
    }

    #[test]
    fn obvious_keys_are_recognised_by_name() {
        use super::obvious_key;
        for (t, c) in [
            ("users", "id"),
            ("pgbench_accounts", "aid"),
            ("pgbench_branches", "bid"),
            ("orders", "order_id"),
            ("orders", "orders_id"),
            ("invoice", "invoiceid"),
            ("events", "uuid"),
        ] {
            assert!(obvious_key(t, c), "{t}.{c}");
        }
        for (t, c) in [
            ("orders", "user_id"),
            ("accounts", "bid"),
            ("users", "email"),
        ] {
            assert!(!obvious_key(t, c), "{t}.{c}");
        }
    }

    #[test]
    fn only_expressions_the_engine_can_index_get_an_expression_key() {
        let pg = |e: &str, t: Option<&str>| expression_key(Dialect::Postgresql, e, t);
        let tz = Some("timestamp with time zone");
        let plain = Some("timestamp without time zone");
        assert!(pg("lower(email)", None));
        assert!(pg("coalesce(deleted, 0)", Some("integer")));
        assert!(pg("date_trunc('day', created_at)", plain));
        assert!(pg("created_at::date", plain));
        assert!(pg("EXTRACT(YEAR FROM created_at)", Some("date")));
        assert!(pg("email::text", Some("character varying(255)")));
        // Zone-dependent on timestamptz, always stable, unknown, or a cast of an unknown type.
        assert!(!pg("date_trunc('day', created_at)", tz));
        assert!(!pg("created_at::date", tz));
        assert!(!pg("CAST(created_at AS date)", tz));
        assert!(!pg("date_trunc('day', created_at)", None));
        assert!(!pg("to_char(created_at, 'YYYY')", plain));
        assert!(!pg("my_func(email)", None));
        assert!(!pg("email::text", None));
        assert!(!pg("created_at::timestamptz", plain));
        assert!(!pg("created_at::text", tz));
        assert!(!pg("coalesce(x, (select 1))", Some("integer")));
        // MariaDB has no functional key parts.
        assert!(!expression_key(Dialect::Mysql, "LOWER(email)", None));
    }
}
