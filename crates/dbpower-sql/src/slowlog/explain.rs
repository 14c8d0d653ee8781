//! MariaDB's slow-log plans (`log_slow_verbosity = explain`): the `# explain:` lines of an entry are the
//! tab-separated `EXPLAIN` (or `ANALYZE`, with `r_rows` and `r_filtered`) table of the logged statement.
//! They are read into the shape of MariaDB's `EXPLAIN FORMAT=JSON`, so that plan history, the analysis
//! and the panel read them as they read a plan the agent asked for: the rows of the lowest `select_id`
//! are the query block (one `table`, or a `nested_loop` of them in join order), the other select ids its
//! `subqueries`. The table carries no literal: `ref` names columns or `const`, `Extra` names operations.

use serde_json::{Map, Value, json};

/// Rows read per entry (a plan of more is cut there).
pub(super) const MAX_ROWS: usize = 64;
/// Bytes of one `# explain:` line.
pub(super) const MAX_ROW_BYTES: usize = 4096;
/// Cells read per line, and names per `possible_keys` or `ref` list.
const MAX_CELLS: usize = 64;

/// The plan of an entry's `# explain:` lines (the first names the columns), or `None` when they do not
/// form one.
pub(super) fn plan(rows: &[String]) -> Option<Value> {
    let (head, rows) = rows.split_first()?;
    let columns: Vec<&str> = head.split('\t').take(MAX_CELLS).map(str::trim).collect();
    if !columns.contains(&"table") || !columns.contains(&"id") || rows.is_empty() {
        return None;
    }
    let mut blocks: Vec<(u64, Vec<Value>)> = Vec::new();
    for row in rows {
        let cells: Vec<&str> = row.split('\t').take(MAX_CELLS).map(str::trim).collect();
        let cell = |name: &str| {
            columns
                .iter()
                .position(|c| *c == name)
                .and_then(|i| cells.get(i).copied())
                .filter(|v| !v.is_empty() && *v != "NULL")
        };
        let Some(id) = cell("id").and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let table = table(&cell);
        match blocks.iter_mut().find(|(b, _)| *b == id) {
            Some((_, tables)) => tables.push(table),
            None => blocks.push((id, vec![table])),
        }
    }
    blocks.sort_by_key(|(id, _)| *id);
    let mut blocks = blocks.into_iter().map(|(id, tables)| block(id, tables));
    let mut top = blocks.next()?;
    let subqueries: Vec<Value> = blocks.map(|b| json!({ "query_block": b })).collect();
    if !subqueries.is_empty() {
        top.insert("subqueries".into(), Value::Array(subqueries));
    }
    Some(json!({ "query_block": top }))
}

fn block(id: u64, mut tables: Vec<Value>) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("select_id".into(), id.into());
    if tables.len() == 1 {
        b.insert("table".into(), tables.remove(0));
    } else {
        let loops = tables.into_iter().map(|t| json!({ "table": t })).collect();
        b.insert("nested_loop".into(), Value::Array(loops));
    }
    b
}

/// One row as a `table` object with MariaDB's JSON names.
fn table<'a>(cell: &dyn Fn(&str) -> Option<&'a str>) -> Value {
    let mut t = Map::new();
    let text = |t: &mut Map<String, Value>, key: &str, v: Option<&str>| {
        if let Some(v) = v {
            t.insert(key.into(), v.into());
        }
    };
    let list = |v: Option<&str>| -> Option<Value> {
        v.map(|v| {
            v.split(',')
                .take(MAX_CELLS)
                .map(|s| Value::from(s.trim()))
                .collect()
        })
    };
    let number = |v: Option<&str>| -> Option<Value> {
        let n = v?.parse::<f64>().ok().filter(|n| n.is_finite())?;
        serde_json::Number::from_f64(n).map(Value::Number)
    };
    text(&mut t, "table_name", cell("table"));
    text(&mut t, "select_type", cell("select_type"));
    text(&mut t, "access_type", cell("type"));
    if let Some(v) = list(cell("possible_keys")) {
        t.insert("possible_keys".into(), v);
    }
    text(&mut t, "key", cell("key"));
    text(&mut t, "key_length", cell("key_len"));
    if let Some(v) = list(cell("ref")) {
        t.insert("ref".into(), v);
    }
    for (key, column) in [
        ("rows", "rows"),
        ("r_rows", "r_rows"),
        ("filtered", "filtered"),
        ("r_filtered", "r_filtered"),
    ] {
        if let Some(v) = number(cell(column)) {
            t.insert(key.into(), v);
        }
    }
    if let Some(extra) = cell("Extra") {
        let notes: Vec<&str> = extra.split(';').map(str::trim).collect();
        let flags = [
            ("Using index", "using_index"),
            ("Using filesort", "using_filesort"),
            ("Using temporary", "using_temporary_table"),
        ];
        for (note, key) in flags {
            if notes.contains(&note) {
                t.insert(key.into(), true.into());
            }
        }
        t.insert("extra".into(), extra.into());
    }
    Value::Object(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    const HEAD: &str = "id\tselect_type\ttable\ttype\tpossible_keys\tkey\tkey_len\tref\trows\tr_rows\tfiltered\tr_filtered\tExtra";

    #[test]
    fn one_table_reads_as_mariadb_json() {
        let p = plan(&rows(&format!(
            "{HEAD}\n1\tSIMPLE\tt\tALL\tNULL\tNULL\tNULL\tNULL\t1000\t1000.00\t100.00\t0.10\tUsing where"
        )))
        .expect("plan");
        let t = &p["query_block"]["table"];
        assert_eq!(p["query_block"]["select_id"], 1);
        assert_eq!(
            (
                &t["table_name"],
                &t["access_type"],
                &t["rows"],
                &t["r_filtered"]
            ),
            (&json!("t"), &json!("ALL"), &json!(1000.0), &json!(0.1))
        );
        assert!(t.get("key").is_none() && t.get("possible_keys").is_none());
    }

    #[test]
    fn joins_and_subqueries() {
        let p = plan(&rows(&format!(
            "{HEAD}\n1\tSIMPLE\tt2\tconst\tPRIMARY\tPRIMARY\t4\tconst\t1\tNULL\t100.00\tNULL\tUsing index\n\
             1\tSIMPLE\tt\tref\ta,b\ta\t5\tconst\t100\t100.00\t100.00\t100.00\tUsing where; Using filesort\n\
             2\tMATERIALIZED\tu\tALL\ta\tNULL\tNULL\tNULL\t1000\t1000.00\t100.00\t11.20\tUsing where"
        )))
        .expect("plan");
        let loops = p["query_block"]["nested_loop"].as_array().expect("loop");
        assert_eq!(loops.len(), 2);
        assert_eq!(loops[0]["table"]["using_index"], true);
        assert_eq!(loops[1]["table"]["using_filesort"], true);
        assert_eq!(loops[1]["table"]["possible_keys"], json!(["a", "b"]));
        let sub = &p["query_block"]["subqueries"][0]["query_block"];
        assert_eq!(
            (&sub["select_id"], &sub["table"]["table_name"]),
            (&json!(2), &json!("u"))
        );
    }

    #[test]
    fn a_hostile_row_stays_bounded() {
        let commas = ",".repeat(4000);
        let p = plan(&rows(&format!(
            "{HEAD}\n1\tSIMPLE\tt\tALL\t{commas}\tNULL\tNULL\t{commas}\t1\t1\t1\t1\t{}",
            "\t".repeat(4000)
        )))
        .expect("plan");
        let t = &p["query_block"]["table"];
        assert_eq!(t["possible_keys"].as_array().map(Vec::len), Some(MAX_CELLS));
        assert_eq!(t["ref"].as_array().map(Vec::len), Some(MAX_CELLS));
    }

    #[test]
    fn what_is_not_a_plan() {
        assert_eq!(plan(&[]), None);
        assert_eq!(plan(&rows(HEAD)), None);
        assert_eq!(plan(&rows("a\tb\n1\t2")), None);
        assert_eq!(plan(&rows(&format!("{HEAD}\nx\ty"))), None);
    }
}
