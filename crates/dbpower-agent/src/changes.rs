//! Change markers the agent reports by itself (docs/AGENT.md, "Change markers"): a table's columns or
//! indexes changed, or one of the server settings the advice reads changed. The agent remembers the
//! shape of each table it has described (at most [`MAX_WATCHED`] per source) and the settings it read;
//! every `watch_every_secs` it reads them again from the catalog, and each difference becomes a `schema`
//! or `config` event with a compact diff. Events wait in the source's state file (at most
//! [`MAX_PENDING`]) until the platform has them; each keeps its request id, so a resend is stored once.
//! The first sight of a table or of the settings is remembered, never reported.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use dbpower_types::{ChangeKind, CreateEventRequest, TableSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::collect::{Ctx, cut};
use crate::enrich::{self, Conn};
use crate::state::SourceState;

/// Tables remembered per source (the most recently seen are kept).
pub(crate) const MAX_WATCHED: usize = 200;
/// Tables read again per check (the most recently seen first).
const MAX_RECHECKED: usize = 50;
/// Events waiting for the platform per source (the oldest are dropped beyond it).
pub(crate) const MAX_PENDING: usize = 50;
/// Settings listed in one event's labels (the title says how many more).
const MAX_LISTED_SETTINGS: usize = 18;

/// What the agent remembers to notice changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Watch {
    /// By [`key`]: database, schema and table.
    #[serde(default)]
    pub tables: BTreeMap<String, Shape>,
    #[serde(default)]
    pub settings: Option<BTreeMap<String, String>>,
    /// When the tables and settings were last read again (Unix seconds).
    #[serde(default)]
    pub checked_at: i64,
    #[serde(default)]
    pub pending: Vec<PendingEvent>,
}

/// A table's columns and indexes as compared (`name type [NOT NULL]`, `name (cols) [UNIQUE]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Shape {
    pub database: Option<String>,
    pub schema: Option<String>,
    pub name: String,
    pub columns: BTreeMap<String, String>,
    pub indexes: BTreeMap<String, String>,
    /// When enrichment last described it (the most recently seen are kept).
    pub seen_at: i64,
    /// When it was last read for changes (the least recently checked are read first).
    #[serde(default)]
    pub checked_at: i64,
}

/// An event not yet accepted by the platform. The request is kept as JSON, so a state file written by
/// another version still loads (the request type refuses unknown fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PendingEvent {
    pub request_id: String,
    pub event: Value,
}

impl PendingEvent {
    pub(crate) fn title(&self) -> &str {
        self.event["title"].as_str().unwrap_or("")
    }
}

/// Events are the same when their request ids are (the request type has no equality of its own).
impl PartialEq for PendingEvent {
    fn eq(&self, other: &Self) -> bool {
        self.request_id == other.request_id
    }
}

fn key(database: Option<&str>, t: &TableSchema) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{}",
        database.unwrap_or(""),
        t.schema.as_deref().unwrap_or(""),
        t.name
    )
}

fn shape(database: Option<&str>, t: &TableSchema, now: i64) -> Shape {
    Shape {
        database: database.map(str::to_string),
        schema: t.schema.clone(),
        name: t.name.clone(),
        columns: t
            .columns
            .iter()
            .map(|c| {
                let null = if c.nullable == Some(false) {
                    " NOT NULL"
                } else {
                    ""
                };
                (c.name.clone(), format!("{}{null}", c.data_type))
            })
            .collect(),
        indexes: t
            .indexes
            .iter()
            .map(|i| {
                let unique = if i.unique { " UNIQUE" } else { "" };
                (
                    i.name.clone(),
                    format!("({}){unique}", i.columns.join(", ")),
                )
            })
            .collect(),
        seen_at: now,
        checked_at: now,
    }
}

/// Names added, dropped and changed between two maps.
fn differences(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> [Vec<String>; 3] {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let (mut added, mut dropped, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for n in names {
        match (old.get(n), new.get(n)) {
            (None, Some(_)) => added.push(n.clone()),
            (Some(_), None) => dropped.push(n.clone()),
            (Some(a), Some(b)) if a != b => changed.push(n.clone()),
            _ => {}
        }
    }
    [added, dropped, changed]
}

/// `database.schema.table`; on MySQL/MariaDB, where the schema is the database, `database.table`.
fn qualified(s: &Shape) -> String {
    let database = s
        .database
        .as_deref()
        .filter(|d| Some(*d) != s.schema.as_deref());
    [database, s.schema.as_deref(), Some(s.name.as_str())]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(".")
}

fn title(s: &str) -> String {
    cut(s, 200).to_string()
}

fn event(
    source: &str,
    kind: ChangeKind,
    title_text: String,
    labels: Vec<(String, String)>,
) -> PendingEvent {
    let mut all = BTreeMap::from([("source".to_string(), cut(source, 256).to_string())]);
    for (k, v) in labels {
        all.insert(k, cut(&v, 256).to_string());
    }
    let request = CreateEventRequest {
        kind,
        title: title(&title_text),
        at: Some(Utc::now()),
        labels: Some(all),
        organization_id: None,
    };
    PendingEvent {
        request_id: uuid::Uuid::new_v4().to_string(),
        event: serde_json::to_value(&request).unwrap_or(Value::Null),
    }
}

/// The `schema` event for a table whose shape changed from `old` to `new` (`None`: it is gone).
fn table_event(source: &str, old: &Shape, new: Option<&Shape>) -> Option<PendingEvent> {
    let name = qualified(old);
    let mut labels = vec![("table".to_string(), name.clone())];
    if let Some(db) = &old.database {
        labels.push(("database".into(), db.clone()));
    }
    let Some(new) = new else {
        return Some(event(
            source,
            ChangeKind::Schema,
            format!("Table {name} dropped"),
            labels,
        ));
    };
    let mut parts = Vec::new();
    for (what, o, n) in [
        ("column", &old.columns, &new.columns),
        ("index", &old.indexes, &new.indexes),
    ] {
        let [added, dropped, changed] = differences(o, n);
        for (verb, names) in [("added", added), ("dropped", dropped), ("changed", changed)] {
            if names.is_empty() {
                continue;
            }
            let plural = if what == "index" {
                "indexes"
            } else {
                "columns"
            };
            parts.push(format!("{what} {} {verb}", names.join(", ")));
            labels.push((format!("{plural}_{verb}"), names.join(", ")));
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(event(
        source,
        ChangeKind::Schema,
        format!("Schema of {name} changed: {}", parts.join("; ")),
        labels,
    ))
}

/// The `config` event for settings that changed.
fn settings_event(
    source: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Option<PendingEvent> {
    let [added, dropped, changed] = differences(old, new);
    let all: Vec<(String, String)> = changed
        .iter()
        .map(|n| (n.clone(), format!("{} -> {}", old[n], new[n])))
        .chain(
            added
                .iter()
                .map(|n| (n.clone(), format!("(none) -> {}", new[n]))),
        )
        .chain(
            dropped
                .iter()
                .map(|n| (n.clone(), format!("{} -> (none)", old[n]))),
        )
        .collect();
    let first = all.first()?;
    let more = if all.len() > 1 {
        format!(" (+{} more)", all.len() - 1)
    } else {
        String::new()
    };
    let text = format!("Settings changed: {} {}{more}", first.0, first.1);
    let labels = all.into_iter().take(MAX_LISTED_SETTINGS).collect();
    Some(event(source, ChangeKind::Config, text, labels))
}

impl Watch {
    fn push(&mut self, e: PendingEvent) {
        tracing::info!(title = %e.title(), "change noticed");
        self.pending.push(e);
        if self.pending.len() > MAX_PENDING {
            let extra = self.pending.len() - MAX_PENDING;
            self.pending.drain(..extra);
        }
    }

    /// Compares a table just read with what was remembered of it, and remembers it; `described`: read
    /// by enrichment (it counts as seen), not by a check.
    pub(crate) fn observe_table(
        &mut self,
        source: &str,
        database: Option<&str>,
        t: &TableSchema,
        described: bool,
    ) {
        let now = Utc::now().timestamp();
        let mut new = shape(database, t, now);
        let k = key(database, t);
        if let Some(old) = self.tables.get(&k) {
            if !described {
                new.seen_at = old.seen_at;
            }
            if let Some(e) = table_event(source, old, Some(&new)) {
                self.push(e);
            }
        }
        self.tables.insert(k, new);
        while self.tables.len() > MAX_WATCHED {
            let oldest = self
                .tables
                .iter()
                .min_by_key(|(_, s)| s.seen_at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.tables.remove(&k),
                None => break,
            };
        }
    }

    /// A remembered table no longer exists.
    fn observe_gone(&mut self, source: &str, k: &str) {
        if let Some(old) = self.tables.remove(k)
            && let Some(e) = table_event(source, &old, None)
        {
            self.push(e);
        }
    }

    /// Compares the settings just read with the remembered ones, and remembers them.
    pub(crate) fn observe_settings(&mut self, source: &str, settings: &BTreeMap<String, String>) {
        if settings.is_empty() {
            return;
        }
        if let Some(old) = &self.settings
            && let Some(e) = settings_event(source, old, settings)
        {
            self.push(e);
        }
        self.settings = Some(settings.clone());
    }
}

/// Reads the remembered tables and the settings (in the source's own database: a database can override
/// them) again when `watch_every_secs` has passed. A table or the settings that cannot be read are left
/// as remembered (a failed read is not a change).
pub(crate) async fn recheck(mut conn: Conn<'_>, ctx: &Ctx<'_>, state: &mut SourceState) {
    let src = ctx.source;
    let now = Utc::now().timestamp();
    let every = i64::try_from(src.watch_every_secs).unwrap_or(i64::MAX);
    if !src.schema || !src.watch_changes || now.saturating_sub(state.watch.checked_at) < every {
        return;
    }
    state.watch.checked_at = now;
    let mut recent: Vec<(String, Shape)> = state
        .watch
        .tables
        .iter()
        .map(|(k, s)| (k.clone(), s.clone()))
        .collect();
    // The least recently checked first: every remembered table is read in turn.
    recent.sort_by_key(|(_, s)| s.checked_at);
    let (mut found, mut gone) = (0usize, Vec::new());
    for (k, s) in recent.into_iter().take(MAX_RECHECKED) {
        let db = s.database.as_deref();
        let read = match &mut conn {
            Conn::Mysql(c) => match s.schema.as_deref().or(db) {
                Some(schema) => enrich::mysql_table(c, schema, &s.name).await,
                None => Ok(None),
            },
            Conn::Postgres(p) => match p.on(db).await {
                Ok(session) => {
                    enrich::pg_table(&mut session.conn, s.schema.as_deref(), &s.name).await
                }
                Err(e) => Err(e),
            },
        };
        match read {
            Ok(Some(t)) => {
                found += 1;
                state.watch.observe_table(&src.name, db, &t, false);
            }
            Ok(None) => gone.push(k),
            Err(e) => {
                tracing::debug!(table = %s.name, error = %format!("{e:#}"), "cannot read a watched table")
            }
        }
    }
    // A role that lost its grants sees no table at all: that is not every table dropped.
    if found == 0 && gone.len() > 1 {
        tracing::warn!(
            tables = gone.len(),
            "none of the watched tables can be seen: the agent's privileges may have changed; no drop reported"
        );
    } else {
        for k in gone {
            state.watch.observe_gone(&src.name, &k);
        }
    }
    let settings = match &mut conn {
        Conn::Mysql(c) => enrich::mysql_settings(c).await,
        Conn::Postgres(p) => match p.home().await {
            Ok(session) => enrich::pg_settings(&mut session.conn).await,
            Err(e) => Err(e),
        },
    };
    match settings {
        Ok(s) => state.watch.observe_settings(&src.name, &s),
        Err(e) => tracing::debug!(error = %format!("{e:#}"), "cannot read the server settings"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbpower_types::{ColumnSchema, IndexSchema};

    fn table(columns: &[(&str, &str, bool)], indexes: &[(&str, &[&str], bool)]) -> TableSchema {
        TableSchema {
            name: "orders".into(),
            schema: Some("public".into()),
            rows: Some(10),
            columns: columns
                .iter()
                .map(|(n, t, null)| ColumnSchema {
                    name: n.to_string(),
                    data_type: t.to_string(),
                    nullable: Some(*null),
                })
                .collect(),
            indexes: indexes
                .iter()
                .map(|(n, c, u)| IndexSchema {
                    name: n.to_string(),
                    columns: c.iter().map(|s| s.to_string()).collect(),
                    unique: *u,
                    primary: false,
                    foreign_key: false,
                    scans: None,
                    method: None,
                    partial: false,
                })
                .collect(),
            usage_since: None,
        }
    }

    #[test]
    fn a_table_seen_first_is_remembered_and_a_change_is_one_compact_event() {
        let mut w = Watch::default();
        let before = table(
            &[("id", "integer", false), ("note", "text", true)],
            &[("orders_pkey", &["id"], true)],
        );
        w.observe_table("pg", Some("shop"), &before, true);
        assert!(w.pending.is_empty(), "first sight is not a change");
        w.observe_table("pg", Some("shop"), &before, false);
        assert!(w.pending.is_empty(), "the same shape is not a change");
        let after = table(
            &[("id", "bigint", false), ("email", "text", true)],
            &[
                ("orders_pkey", &["id"], true),
                ("orders_email_idx", &["email"], false),
            ],
        );
        w.observe_table("pg", Some("shop"), &after, false);
        assert_eq!(w.pending.len(), 1);
        let e = &w.pending[0].event;
        assert_eq!(e["kind"], "schema");
        assert_eq!(
            e["title"],
            "Schema of shop.public.orders changed: column email added; column note dropped; \
             column id changed; index orders_email_idx added"
        );
        let labels = &e["labels"];
        assert_eq!(labels["table"], "shop.public.orders");
        assert_eq!(labels["source"], "pg");
        assert_eq!(labels["indexes_added"], "orders_email_idx");
        assert_eq!(labels["columns_changed"], "id");
        assert!(w.pending[0].title().chars().count() <= 200);
        // A check does not make a table recently seen; a description does.
        let seen = w.tables.values().next().map(|s| s.seen_at);
        assert!(seen.is_some());
    }

    #[test]
    fn settings_changes_are_listed_with_old_and_new_values_and_bounded() {
        let mut w = Watch::default();
        let mut s: BTreeMap<String, String> = (0..30)
            .map(|i| (format!("setting_{i:02}"), "1".to_string()))
            .collect();
        w.observe_settings("db", &s);
        assert!(w.pending.is_empty());
        s.insert("setting_00".into(), "2".into());
        w.observe_settings("db", &s);
        assert_eq!(w.pending[0].title(), "Settings changed: setting_00 1 -> 2");
        let labels = |e: &PendingEvent| e.event["labels"].as_object().map(|l| l.len());
        assert_eq!(labels(&w.pending[0]), Some(2));
        for v in s.values_mut() {
            *v = "3".into();
        }
        w.observe_settings("db", &s);
        let e = &w.pending[1];
        assert!(e.title().ends_with("(+29 more)"), "{}", e.title());
        // The source and at most MAX_LISTED_SETTINGS settings: within the platform's 20 labels.
        assert_eq!(labels(e), Some(MAX_LISTED_SETTINGS + 1));
        // What is kept is what the platform takes.
        let request: CreateEventRequest =
            serde_json::from_value(e.event.clone()).expect("a request the platform takes");
        assert_eq!(request.kind, ChangeKind::Config);
        // A failed read (nothing) is not a change.
        w.observe_settings("db", &BTreeMap::new());
        assert_eq!(w.pending.len(), 2);
    }

    #[test]
    fn memory_and_pending_events_are_bounded() {
        let mut w = Watch::default();
        for i in 0..MAX_WATCHED + 20 {
            let mut t = table(&[("id", "integer", false)], &[]);
            t.name = format!("t{i}");
            w.observe_table("db", None, &t, true);
        }
        assert_eq!(w.tables.len(), MAX_WATCHED);
        for i in 0..MAX_PENDING + 5 {
            w.push(event("db", ChangeKind::Note, format!("e{i}"), Vec::new()));
        }
        assert_eq!(w.pending.len(), MAX_PENDING);
        assert_eq!(w.pending[0].title(), "e5");
        let long = "x".repeat(500);
        let e = event(
            "db",
            ChangeKind::Note,
            long.clone(),
            vec![("k".into(), long)],
        );
        assert_eq!(e.title().len(), 200);
        assert_eq!(e.event["labels"]["k"].as_str().map(str::len), Some(256));
    }
}
