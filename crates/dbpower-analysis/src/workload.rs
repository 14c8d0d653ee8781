//! Index advice for the workload: per database and table, the classes' single-query recommendations
//! consolidated into few indexes (an index serves a recommendation when its leading columns hold the
//! recommendation's equality columns in any order, followed by its other columns in order; prefix
//! subsumption is the case of one equality column), indexes that already exist counted, each weighed
//! against the table's writes; and the indexes to drop: never scanned for a given period, duplicates and
//! left-prefix redundancies (pt-duplicate-key-checker's rules), never a primary key, a unique index or
//! one whose leading columns are a foreign key's.

use std::collections::BTreeMap;

use dbpower_sql::Dialect;
use dbpower_types::{
    ClassIndexAdvice, DatabaseType, DropProposal, DropReason, IndexTarget, ProposedIndex,
    RejectedAdvice, ServedByExisting, ServedClass, TableAdvice, TableSchema, TableSnapshot,
    ValidationStatus, WritingClass,
};

use crate::advisor::quote;

pub struct Workload<'a> {
    pub advice: &'a [ClassIndexAdvice],
    pub writers: &'a [WritingClass],
    pub tables: &'a [TableSnapshot],
    pub unused_days: i64,
}

/// Recommendations of one table that are consolidated (the most time first).
const MAX_PER_TABLE: usize = 200;
/// A table with more indexes than this gets no drop proposals (its description is not trusted).
const MAX_INDEXES: usize = 64;
/// Key parts of an index that is compared.
const MAX_KEY: usize = 32;

/// `(database type, database, table key)`: the table key is `schema.name` lower-cased.
type TableKey = (DatabaseType, String, String);

fn dialect(t: DatabaseType) -> Dialect {
    match t {
        DatabaseType::Mysql => Dialect::Mysql,
        DatabaseType::Postgresql => Dialect::Postgresql,
    }
}

/// The key of a table a statement names as `name` or `schema.name`, in `database`: an unqualified name
/// is looked for among the described tables of that database (PostgreSQL: `public` first; MySQL: the
/// statement's database).
fn key_of<V>(
    t: DatabaseType,
    database: &str,
    named: &str,
    described: &BTreeMap<TableKey, V>,
) -> TableKey {
    let named = named.to_lowercase();
    if named.contains('.') {
        return (t, database.to_string(), named);
    }
    let preferred = match t {
        DatabaseType::Postgresql => format!("public.{named}"),
        DatabaseType::Mysql => format!("{}.{named}", database.to_lowercase()),
    };
    let candidates: Vec<&TableKey> = described
        .keys()
        .filter(|(dt, db, k)| {
            *dt == t && db == database && k.rsplit('.').next() == Some(named.as_str())
        })
        .collect();
    if candidates.iter().any(|k| k.2 == preferred) || candidates.is_empty() {
        return (t, database.to_string(), preferred);
    }
    candidates[0].clone()
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether an index keyed `key` serves `want` (see [`IndexTarget::served_by`]).
pub fn serves(key: &[String], want: &IndexTarget) -> bool {
    want.served_by(key)
}

/// The table a writing statement's fingerprint names (`insert into t`, `update t`, `delete from t`,
/// `replace into t`), lower-cased and unquoted.
pub fn written_table(fingerprint: &str) -> Option<String> {
    let words: Vec<&str> = fingerprint.split_whitespace().take(4).collect();
    let name = match words.as_slice() {
        [w, "into", t, ..]
            if w.eq_ignore_ascii_case("insert") || w.eq_ignore_ascii_case("replace") =>
        {
            t
        }
        [w, "from", t, ..] if w.eq_ignore_ascii_case("delete") => t,
        [w, t, ..] if w.eq_ignore_ascii_case("update") => t,
        _ => return None,
    };
    let name: String = name
        .split('(')
        .next()?
        .chars()
        .filter(|c| !matches!(c, '`' | '"'))
        .collect();
    (!name.is_empty()).then(|| name.to_lowercase())
}

/// The advice per table, tables with the most time to gain first; each organization's apart (the
/// platform scope reads several).
pub fn workload(w: &Workload<'_>) -> Vec<TableAdvice> {
    let mut orgs: Vec<i64> = w.advice.iter().map(|a| a.organization_id).collect();
    orgs.extend(w.writers.iter().map(|x| x.organization_id));
    orgs.extend(w.tables.iter().map(|t| t.organization_id));
    orgs.sort_unstable();
    orgs.dedup();
    if orgs.len() <= 1 {
        return one_organization(w);
    }
    let mut out: Vec<TableAdvice> = Vec::new();
    for org in orgs {
        let advice: Vec<ClassIndexAdvice> = w
            .advice
            .iter()
            .filter(|a| a.organization_id == org)
            .cloned()
            .collect();
        let writers: Vec<WritingClass> = w
            .writers
            .iter()
            .filter(|x| x.organization_id == org)
            .cloned()
            .collect();
        let tables: Vec<TableSnapshot> = w
            .tables
            .iter()
            .filter(|t| t.organization_id == org)
            .cloned()
            .collect();
        out.extend(one_organization(&Workload {
            advice: &advice,
            writers: &writers,
            tables: &tables,
            unused_days: w.unused_days,
        }));
    }
    out.sort_by(|a, b| gain(b).total_cmp(&gain(a)));
    out
}

/// The time a table's proposed indexes would speed up.
fn gain(t: &TableAdvice) -> f64 {
    t.create
        .iter()
        .flat_map(|p| &p.serves)
        .map(|s| s.total_time_ms)
        .sum()
}

fn one_organization(w: &Workload<'_>) -> Vec<TableAdvice> {
    let mut seen: BTreeMap<TableKey, Vec<&TableSnapshot>> = BTreeMap::new();
    for d in w.tables {
        let key = match &d.table.schema {
            Some(s) => format!("{}.{}", s.to_lowercase(), d.table.name.to_lowercase()),
            None => d.table.name.to_lowercase(),
        };
        seen.entry((d.database_type, d.database_name.clone(), key))
            .or_default()
            .push(d);
    }
    let described: BTreeMap<TableKey, (TableSchema, Option<i64>)> =
        seen.into_iter().map(|(k, v)| (k, merge(&v))).collect();
    let mut groups: BTreeMap<TableKey, Vec<&ClassIndexAdvice>> = BTreeMap::new();
    for a in w.advice {
        let db = a.database_name.clone().unwrap_or_default();
        let key = key_of(a.database_type, &db, &a.target.table, &described);
        groups.entry(key).or_default().push(a);
    }
    let mut writes: BTreeMap<TableKey, i64> = BTreeMap::new();
    for wr in w.writers {
        let Some(t) = written_table(&wr.fingerprint) else {
            continue;
        };
        let db = wr.database_name.clone().unwrap_or_default();
        let key = key_of(wr.database_type, &db, &t, &described);
        let n = writes.entry(key).or_default();
        *n = n.saturating_add(wr.executions.max(0));
    }
    let mut keys: Vec<TableKey> = groups.keys().cloned().collect();
    keys.extend(described.keys().cloned());
    keys.sort();
    keys.dedup();
    let mut out: Vec<(f64, TableAdvice)> = Vec::new();
    for key in keys {
        let members = groups.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        let table = described.get(&key);
        let advice = table_advice(
            &key,
            members,
            table,
            writes.get(&key).copied().unwrap_or(0),
            w,
        );
        if advice.create.is_empty() && advice.drop.is_empty() && advice.rejected.is_empty() {
            continue;
        }
        out.push((gain(&advice), advice));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter().map(|(_, a)| a).collect()
}

fn table_advice(
    key: &TableKey,
    members: &[&ClassIndexAdvice],
    described: Option<&(TableSchema, Option<i64>)>,
    writes: i64,
    w: &Workload<'_>,
) -> TableAdvice {
    let (t, db, name) = key;
    let table = described.map(|(t, _)| t);
    let age_days = described.and_then(|(_, a)| *a);
    // The most expensive recommendations of a table are consolidated, at most this many.
    let mut members = members.to_vec();
    members.sort_by(|a, b| b.total_time_ms.total_cmp(&a.total_time_ms));
    members.truncate(MAX_PER_TABLE);
    let mut rejected = Vec::new();
    let mut served_by_existing = Vec::new();
    let mut open: Vec<&ClassIndexAdvice> = Vec::new();
    for m in members {
        if let Some(v) = m
            .validation
            .as_ref()
            .filter(|v| v.status == ValidationStatus::Rejected)
        {
            rejected.push(RejectedAdvice {
                query_id: m.query_id.clone(),
                ddl: m.ddl.clone(),
                validation: v.clone(),
            });
            continue;
        }
        let existing = table.and_then(|t| {
            t.indexes
                .iter()
                .find(|ix| ix.plain() && serves(&ix.columns, &m.target))
        });
        match existing {
            Some(ix) => served_by_existing.push(ServedByExisting {
                query_id: m.query_id.clone(),
                index: ix.name.clone(),
            }),
            None => open.push(m),
        }
    }
    let existing_indexes = table.map_or(0, |t| t.indexes.len());
    let create = consolidate(&open, writes, existing_indexes);
    let drop = table
        .map(|tb| drops(dialect(*t), tb, w.unused_days, age_days))
        .unwrap_or_default();
    TableAdvice {
        database_type: *t,
        database_name: (!db.is_empty()).then(|| db.clone()),
        table: table.map_or_else(
            || name.clone(),
            |tb| match &tb.schema {
                Some(s) => format!("{s}.{}", tb.name),
                None => tb.name.clone(),
            },
        ),
        rows: table.and_then(|t| t.rows),
        writes,
        existing_indexes,
        create,
        drop,
        served_by_existing,
        rejected,
    }
}

/// The keys a recommendation could be built as: its own, and its equality columns reordered so that
/// the recommendations whose equality columns nest inside its own (smallest first) lead.
fn orderings(r: &ClassIndexAdvice, members: &[&ClassIndexAdvice]) -> Vec<Vec<String>> {
    let own = key_columns(&r.target);
    if r.target.expression.is_some() {
        return vec![own];
    }
    let e = r.target.equality.min(r.target.columns.len());
    let eq = &r.target.columns[..e];
    let inside = |c: &String| eq.iter().any(|x| same(x, c));
    let mut nested: Vec<&[String]> = members
        .iter()
        .filter(|m| m.target.expression.is_none())
        .map(|m| &m.target.columns[..m.target.equality.min(m.target.columns.len())])
        .filter(|s| !s.is_empty() && s.len() < e && s.iter().all(inside))
        .collect();
    nested.sort_by_key(|s| s.len());
    let mut prefix: Vec<String> = Vec::new();
    for s in nested {
        // Only a chain nests: what leads so far must be inside this set.
        if prefix.iter().all(|p| s.iter().any(|x| same(x, p))) {
            for c in s {
                if !prefix.iter().any(|p| same(p, c)) {
                    prefix.push(c.clone());
                }
            }
        }
    }
    for c in eq {
        if !prefix.iter().any(|p| same(p, c)) {
            prefix.push(c.clone());
        }
    }
    prefix.extend(r.target.columns[e..].iter().cloned());
    if prefix == own {
        vec![own]
    } else {
        vec![own, prefix]
    }
}

/// The DDL of `key` on the table `r`'s recommendation names, in its dialect.
fn create_ddl(r: &ClassIndexAdvice, key: &[String]) -> String {
    let d = dialect(r.database_type);
    let table: Vec<String> = r.target.table.split('.').map(|p| quote(d, p)).collect();
    let table = table.join(".");
    let bare = r.target.table.rsplit('.').next().unwrap_or(&r.target.table);
    let name = quote(d, &crate::advisor::index_name(bare, key));
    let cols: Vec<String> = key.iter().map(|c| quote(d, c)).collect();
    match d {
        Dialect::Postgresql => format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({});",
            cols.join(", ")
        ),
        Dialect::Mysql => format!(
            "ALTER TABLE {table} ADD INDEX {name} ({}), ALGORITHM=INPLACE, LOCK=NONE;",
            cols.join(", ")
        ),
    }
}

/// Greedy cover: the candidate key (a recommendation's own, or its equality columns reordered) that
/// serves the most recommendations not yet served (then the most time, then the shortest key), until
/// all are served.
fn consolidate(open: &[&ClassIndexAdvice], writes: i64, existing: usize) -> Vec<ProposedIndex> {
    let candidates: Vec<(usize, Vec<String>)> = open
        .iter()
        .enumerate()
        .flat_map(|(i, r)| orderings(r, open).into_iter().map(move |k| (i, k)))
        .collect();
    let mut served = vec![false; open.len()];
    let mut out = Vec::new();
    while served.iter().any(|s| !s) {
        let mut best: Option<(usize, usize, f64)> = None;
        for (ci, (_, key)) in candidates.iter().enumerate() {
            let (n, time) = open
                .iter()
                .enumerate()
                .filter(|(i, m)| !served[*i] && serves(key, &m.target))
                .fold((0usize, 0.0f64), |(n, t), (_, m)| {
                    (n + 1, t + m.total_time_ms)
                });
            let better = match best {
                None => n > 0,
                Some((bi, bn, bt)) => {
                    (n, time) > (bn, bt)
                        || (n == bn && time == bt && key.len() < candidates[bi].1.len())
                }
            };
            if better {
                best = Some((ci, n, time));
            }
        }
        let Some((ci, _, _)) = best else {
            break;
        };
        let (owner, key) = &candidates[ci];
        let chosen = open[*owner];
        let own_key = key_columns(&chosen.target) == *key;
        let ddl = if own_key {
            chosen.ddl.clone()
        } else {
            create_ddl(chosen, key)
        };
        let mut serves_list: Vec<ServedClass> = Vec::new();
        let mut replaces = 0;
        let mut validation = None;
        for (i, m) in open.iter().enumerate() {
            if served[i] || !serves(key, &m.target) {
                continue;
            }
            served[i] = true;
            replaces += 1;
            if m.ddl == ddl && validation.is_none() {
                validation = m.validation.clone();
            }
            match serves_list.iter_mut().find(|s| s.query_id == m.query_id) {
                Some(_) => {}
                None => serves_list.push(ServedClass {
                    query_id: m.query_id.clone(),
                    executions: m.executions,
                    total_time_ms: m.total_time_ms,
                }),
            }
        }
        serves_list.sort_by(|a, b| b.total_time_ms.total_cmp(&a.total_time_ms));
        let reads: i64 = serves_list
            .iter()
            .fold(0i64, |n, s| n.saturating_add(s.executions.max(0)));
        out.push(ProposedIndex {
            columns: if chosen.target.expression.is_some() {
                chosen.target.columns.clone()
            } else {
                key.clone()
            },
            expression: chosen.target.expression.clone(),
            ddl,
            trade: trade(reads, writes, existing, serves_list.len()),
            serves: serves_list,
            replaces,
            validation,
        });
    }
    out
}

fn key_columns(t: &IndexTarget) -> Vec<String> {
    match &t.expression {
        Some(e) => vec![format!("({e})")],
        None => t.columns.clone(),
    }
}

/// The read/write trade of one index, in words.
fn trade(reads: i64, writes: i64, existing: usize, classes: usize) -> String {
    let served = format!("Speeds up {classes} class(es), {reads} execution(s)");
    if writes == 0 {
        return format!("{served}; no writes to the table were seen, so it costs only its space.");
    }
    let per = if existing > 0 {
        format!(" (the table has {existing} index(es) already)")
    } else {
        String::new()
    };
    if writes > reads.saturating_mul(10) {
        format!(
            "{served}, against {writes} write(s) that would each maintain it too{per}: writes outnumber these reads more than 10 to 1, so weigh it before creating."
        )
    } else {
        format!("{served}, against {writes} write(s) that would each maintain it too{per}.")
    }
}

fn drop_ddl(d: Dialect, table: &TableSchema, index: &str) -> String {
    let qualified = |name: &str| match &table.schema {
        Some(s) => format!("{}.{}", quote(d, s), quote(d, name)),
        None => quote(d, name),
    };
    match d {
        Dialect::Postgresql => {
            format!("DROP INDEX CONCURRENTLY IF EXISTS {};", qualified(index))
        }
        Dialect::Mysql => format!(
            "ALTER TABLE {} DROP INDEX {}, ALGORITHM=INPLACE, LOCK=NONE;",
            qualified(&table.name),
            quote(d, index)
        ),
    }
}

/// Indexes to drop: duplicates and left-prefix redundancies, then indexes never scanned for at least
/// `unused_days` (when the table says since when it counts). Primary keys, unique indexes and indexes
/// backing a foreign key are never proposed.
pub fn drops(
    d: Dialect,
    table: &TableSchema,
    unused_days: i64,
    age_days: Option<i64>,
) -> Vec<DropProposal> {
    if table.indexes.len() > MAX_INDEXES {
        return Vec::new();
    }
    // Only plain B-trees over every row are compared: a GIN or a partial index on the same columns
    // serves other reads.
    let keep =
        |ix: &dbpower_types::IndexSchema| ix.primary || ix.unique || ix.foreign_key || !ix.plain();
    let eq_cols =
        |a: &[String], b: &[String]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y));
    let mut out: Vec<DropProposal> = Vec::new();
    for (i, ix) in table.indexes.iter().enumerate() {
        if keep(ix) || ix.columns.is_empty() || ix.columns.len() > MAX_KEY {
            continue;
        }
        // Another index with the same key that is kept: for a constraint, or the most scanned, or the
        // first of equals.
        let scans = |x: &dbpower_types::IndexSchema| x.scans.unwrap_or(i64::MAX);
        let duplicate = table.indexes.iter().enumerate().find(|(j, o)| {
            *j != i
                && o.plain()
                && eq_cols(&o.columns, &ix.columns)
                && (keep(o) || scans(o) > scans(ix) || (scans(o) == scans(ix) && *j < i))
        });
        let longer = table.indexes.iter().find(|o| {
            o.plain()
                && o.columns.len() > ix.columns.len()
                && eq_cols(&o.columns[..ix.columns.len()], &ix.columns)
        });
        let (reason, covered_by, detail) = if let Some((_, o)) = duplicate {
            (
                DropReason::Duplicate,
                Some(o.name.clone()),
                format!("{} has the same key ({})", o.name, o.columns.join(", ")),
            )
        } else if let Some(o) = longer {
            (
                DropReason::RedundantPrefix,
                Some(o.name.clone()),
                format!(
                    "its key ({}) is a left prefix of {} ({}), which serves every read it serves",
                    ix.columns.join(", "),
                    o.name,
                    o.columns.join(", ")
                ),
            )
        } else if let (Some(0), Some(days)) = (ix.scans, age_days) {
            if days < unused_days {
                continue;
            }
            (
                DropReason::Unused,
                None,
                format!("never scanned in the {days} days its use has been counted"),
            )
        } else {
            continue;
        };
        out.push(DropProposal {
            index: ix.name.clone(),
            columns: ix.columns.clone(),
            reason,
            detail,
            covered_by,
            scans: ix.scans,
            ddl: drop_ddl(d, table, &ix.name),
        });
    }
    // An index another proposal relies on stays: dropping both would lose what they served.
    let dropped: Vec<String> = out.iter().map(|p| p.index.clone()).collect();
    out.retain(|p| {
        p.covered_by
            .as_ref()
            .is_none_or(|c| !dropped.iter().any(|d| same(d, c)))
    });
    out
}

/// One table as several agents described it (a primary and its replicas count their scans apart): the
/// newest description, each index's scans summed over all of them (unknown when one lacks it), and for how
/// many days they have all been counting (the shortest).
fn merge(seen: &[&TableSnapshot]) -> (TableSchema, Option<i64>) {
    let newest = seen
        .iter()
        .max_by_key(|s| s.seen_at)
        .map(|s| s.table.clone())
        .unwrap_or_else(|| TableSchema {
            name: String::new(),
            schema: None,
            rows: None,
            columns: Vec::new(),
            indexes: Vec::new(),
            usage_since: None,
        });
    let mut table = newest;
    for ix in &mut table.indexes {
        ix.scans = seen.iter().try_fold(0i64, |sum, s| {
            let n = s
                .table
                .indexes
                .iter()
                .find(|o| same(&o.name, &ix.name))?
                .scans?;
            Some(sum.saturating_add(n.max(0)))
        });
    }
    let age = seen
        .iter()
        .map(|s| {
            s.table
                .usage_since
                .map(|since| (s.seen_at - since).num_days())
        })
        .collect::<Option<Vec<i64>>>()
        .and_then(|ages| ages.into_iter().min());
    (table, age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use dbpower_types::{IndexSchema, IndexValidation};

    fn target(cols: &[&str], equality: usize) -> IndexTarget {
        IndexTarget {
            table: "orders".into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            equality,
            expression: None,
        }
    }

    fn advice(q: &str, cols: &[&str], equality: usize, time: f64) -> ClassIndexAdvice {
        ClassIndexAdvice {
            organization_id: 1,
            class_id: 1,
            query_id: q.into(),
            database_type: DatabaseType::Postgresql,
            database_name: Some("shop".into()),
            ddl: format!("CREATE INDEX ON orders ({})", cols.join(", ")),
            target: target(cols, equality),
            executions: 10,
            total_time_ms: time,
            validation: None,
        }
    }

    fn index(name: &str, cols: &[&str]) -> IndexSchema {
        IndexSchema {
            name: name.into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            unique: false,
            primary: false,
            foreign_key: false,
            scans: Some(5),
            method: None,
            partial: false,
        }
    }

    fn table(indexes: Vec<IndexSchema>, since_days: i64) -> TableSnapshot {
        TableSnapshot {
            organization_id: 1,
            database_type: DatabaseType::Postgresql,
            database_name: "shop".into(),
            table: TableSchema {
                name: "orders".into(),
                schema: Some("public".into()),
                rows: Some(1_000_000),
                columns: Vec::new(),
                indexes,
                usage_since: Some(Utc::now() - chrono::Duration::days(since_days)),
            },
            seen_at: Utc::now(),
        }
    }

    #[test]
    fn two_organizations_tables_of_one_name_stay_apart() {
        let mine = advice("q1", &["customer_id"], 1, 100.0);
        let mut theirs = advice("q2", &["status"], 1, 50.0);
        theirs.organization_id = 2;
        let out = workload(&Workload {
            advice: &[mine, theirs],
            writers: &[],
            tables: &[],
            unused_days: 30,
        });
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out.iter().all(|t| t.create.len() == 1), "{out:?}");
    }

    #[test]
    fn equality_columns_serve_in_any_order_and_the_rest_in_order() {
        let key: Vec<String> = ["b", "a", "c"].iter().map(|s| s.to_string()).collect();
        assert!(serves(&key, &target(&["a", "b"], 2)));
        assert!(serves(&key, &target(&["b"], 1)));
        assert!(serves(&key, &target(&["a", "b", "c"], 2)));
        assert!(
            !serves(&key, &target(&["a"], 1)),
            "a is not the leading column"
        );
        assert!(!serves(&key, &target(&["b", "c"], 1)), "c is not second");
        assert!(!serves(&key, &target(&["a", "b", "c", "d"], 2)));
    }

    #[test]
    fn five_recommendations_on_one_table_become_two_indexes_naming_their_classes() {
        let advice = vec![
            advice("q1", &["customer_id"], 1, 100.0),
            advice("q2", &["customer_id", "status"], 2, 90.0),
            advice("q3", &["status", "customer_id", "created_at"], 2, 80.0),
            advice("q4", &["created_at"], 0, 70.0),
            advice("q5", &["created_at", "total"], 1, 60.0),
        ];
        let tables = [table(vec![index("orders_pkey", &["id"])], 60)];
        let out = workload(&Workload {
            advice: &advice,
            writers: &[WritingClass {
                organization_id: 1,
                database_type: DatabaseType::Postgresql,
                database_name: Some("shop".into()),
                fingerprint: "insert into orders (a) values (?)".into(),
                executions: 5000,
            }],
            tables: &tables,
            unused_days: 30,
        });
        assert_eq!(out.len(), 1, "{out:?}");
        let t = &out[0];
        assert_eq!(t.table, "public.orders");
        assert!(t.create.len() <= 2, "{:?}", t.create);
        let served: usize = t.create.iter().map(|p| p.replaces).sum();
        assert_eq!(served, 5, "{:?}", t.create);
        let first = &t.create[0];
        assert_eq!(first.columns, ["customer_id", "status", "created_at"]);
        assert_eq!(
            first.ddl,
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_customer_id_status_created_at ON orders (customer_id, status, created_at);"
        );
        let names: Vec<&str> = first.serves.iter().map(|s| s.query_id.as_str()).collect();
        assert_eq!(names, ["q1", "q2", "q3"]);
        assert_eq!(t.writes, 5000);
        assert!(
            t.create[0].trade.contains("5000 write(s)"),
            "{}",
            t.create[0].trade
        );
        assert!(
            t.create[0].trade.contains("weigh it"),
            "{}",
            t.create[0].trade
        );
    }

    #[test]
    fn an_existing_index_serves_advice_and_rejected_advice_is_kept_apart() {
        let mut rejected = advice("q2", &["status"], 1, 50.0);
        rejected.validation = Some(IndexValidation {
            status: ValidationStatus::Rejected,
            method: Some(dbpower_types::ValidationMethod::Hypopg),
            cost_before: Some(100.0),
            cost_after: Some(100.0),
            time_before_ms: None,
            time_after_ms: None,
            uses_index: Some(false),
            reason: Some("the planner does not use it".into()),
            checked_at: None,
        });
        let advice = vec![advice("q1", &["customer_id"], 1, 100.0), rejected];
        let tables = [table(
            vec![index("orders_customer_idx", &["customer_id", "x"])],
            1,
        )];
        let out = workload(&Workload {
            advice: &advice,
            writers: &[],
            tables: &tables,
            unused_days: 30,
        });
        let t = &out[0];
        assert!(t.create.is_empty(), "{:?}", t.create);
        assert_eq!(t.served_by_existing[0].index, "orders_customer_idx");
        assert_eq!(t.rejected.len(), 1);
    }

    #[test]
    fn drops_unused_and_left_prefix_indexes_never_keys_or_foreign_keys() {
        let mut pk = index("orders_pkey", &["id"]);
        pk.primary = true;
        pk.unique = true;
        pk.scans = Some(0);
        let mut fk = index("orders_customer_fk_idx", &["customer_id"]);
        fk.foreign_key = true;
        fk.scans = Some(0);
        let mut unused = index("orders_note_idx", &["note"]);
        unused.scans = Some(0);
        let prefix = index("orders_status_idx", &["status"]);
        let longer = index("orders_status_created_idx", &["status", "created_at"]);
        let mut unique_prefix = index("orders_code_key", &["code"]);
        unique_prefix.unique = true;
        let code_longer = index("orders_code_total_idx", &["code", "total"]);
        let fk_longer = index("orders_customer_status_idx", &["customer_id", "status"]);
        let t = table(
            vec![
                pk,
                fk,
                unused,
                prefix,
                longer,
                unique_prefix,
                code_longer,
                fk_longer,
            ],
            45,
        );
        let out = drops(Dialect::Postgresql, &t.table, 30, Some(45));
        let by_name: BTreeMap<&str, DropReason> =
            out.iter().map(|d| (d.index.as_str(), d.reason)).collect();
        assert_eq!(
            by_name,
            BTreeMap::from([
                ("orders_note_idx", DropReason::Unused),
                ("orders_status_idx", DropReason::RedundantPrefix),
            ]),
            "{out:?}"
        );
        let prefix = out
            .iter()
            .find(|d| d.index == "orders_status_idx")
            .expect("prefix");
        assert_eq!(
            prefix.covered_by.as_deref(),
            Some("orders_status_created_idx")
        );
        assert_eq!(
            prefix.ddl,
            "DROP INDEX CONCURRENTLY IF EXISTS public.orders_status_idx;"
        );
        // Counted for less than the period: not proposed as unused.
        let young = drops(Dialect::Postgresql, &t.table, 60, Some(45));
        assert!(
            young.iter().all(|d| d.reason != DropReason::Unused),
            "{young:?}"
        );
    }

    #[test]
    fn gin_and_partial_indexes_are_neither_duplicates_nor_cover() {
        let mut gin = index("t_tags_gin", &["tags"]);
        gin.method = Some("gin".into());
        gin.scans = Some(0);
        let btree = index("t_tags_idx", &["tags"]);
        let mut partial = index("t_status_open_idx", &["status"]);
        partial.partial = true;
        partial.scans = Some(0);
        let longer_partial = {
            let mut p = index("t_status_created_idx", &["status", "created_at"]);
            p.partial = true;
            p
        };
        let status = index("t_status_idx", &["status"]);
        let t = table(vec![gin, btree, partial, longer_partial, status], 90);
        let out = drops(Dialect::Postgresql, &t.table, 30, Some(90));
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn the_index_in_use_stays_and_replicas_count_their_scans_together() {
        // Duplicates: the scanned one is kept. A used prefix of an unused index: the unused one goes.
        let mut a1 = index("t_a1", &["a"]);
        a1.scans = Some(0);
        let mut a2 = index("t_a2", &["a"]);
        a2.scans = Some(100);
        let p = index("t_p", &["p"]);
        let mut pq = index("t_pq", &["p", "q"]);
        pq.scans = Some(0);
        let t = table(vec![a1, a2, p, pq], 40);
        let out = drops(Dialect::Postgresql, &t.table, 30, Some(40));
        let got: Vec<(&str, DropReason)> =
            out.iter().map(|d| (d.index.as_str(), d.reason)).collect();
        assert_eq!(
            got,
            [
                ("t_a1", DropReason::Duplicate),
                ("t_pq", DropReason::Unused)
            ],
            "{out:?}"
        );
        // Unused on the primary, scanned on a replica: not unused.
        let mut n = index("t_note", &["note"]);
        n.scans = Some(0);
        let primary = table(vec![n.clone()], 40);
        let mut replica = table(vec![n], 40);
        replica.table.indexes[0].scans = Some(7);
        let (merged, age) = merge(&[&primary, &replica]);
        assert_eq!((merged.indexes[0].scans, age), (Some(7), Some(40)));
        let (_, young) = merge(&[&primary, &table(Vec::new(), 3)]);
        assert_eq!(young, Some(3));
    }

    #[test]
    fn duplicates_keep_the_constraint_or_the_first() {
        let mut uniq = index("t_a_key", &["a"]);
        uniq.unique = true;
        let dup = index("t_a_idx", &["A"]);
        let t = table(vec![dup, uniq], 1);
        let out = drops(Dialect::Mysql, &t.table, 30, Some(1));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].reason, DropReason::Duplicate);
        assert_eq!(out[0].covered_by.as_deref(), Some("t_a_key"));
        assert_eq!(
            out[0].ddl,
            "ALTER TABLE public.orders DROP INDEX t_a_idx, ALGORITHM=INPLACE, LOCK=NONE;"
        );
    }

    #[test]
    fn written_tables_come_from_fingerprints() {
        assert_eq!(
            written_table("insert into orders (a) values(?+)").as_deref(),
            Some("orders")
        );
        assert_eq!(
            written_table("UPDATE `shop`.`orders` set a=?").as_deref(),
            Some("shop.orders")
        );
        assert_eq!(
            written_table("delete from \"Orders\" where id=?").as_deref(),
            Some("orders")
        );
        assert_eq!(
            written_table("replace into t(a) values(?)").as_deref(),
            Some("t")
        );
        assert_eq!(written_table("select 1"), None);
    }
}
