//! Schema snapshots: the tables a query touches, with columns, indexes and row estimates. The agent ships
//! them beside slow queries; the analyzer, the `dbpower analyze` command and `POST /analyzer/analyze` read
//! them to give schema-aware advice. Unknown keys are allowed so newer agents can add facts.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SchemaSnapshot {
    #[serde(default)]
    pub tables: Vec<TableSchema>,
    /// Server settings the advice depends on, by name as the server spells it (`work_mem`,
    /// `synchronous_commit`, `innodb_flush_log_at_trx_commit`, ...), with their values as text: at most
    /// [`MAX_SETTINGS`], names of at most 64 bytes, values of at most 256.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub settings: std::collections::BTreeMap<String, String>,
    /// When the agent read the catalog (the statement it comes with may be older: a log read late). The
    /// platform dates applied index advice by it (never later than the ingestion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub described_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The most server settings one snapshot carries.
pub const MAX_SETTINGS: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TableSchema {
    pub name: String,
    /// The schema (PostgreSQL) or database (MySQL) the table lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Estimated row count (`pg_class.reltuples`, `information_schema.TABLES.TABLE_ROWS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    #[serde(default)]
    pub columns: Vec<ColumnSchema>,
    #[serde(default)]
    pub indexes: Vec<IndexSchema>,
    /// Since when the indexes' `scans` are counted (PostgreSQL: the database's statistics reset;
    /// MySQL/MariaDB: the server's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_since: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ColumnSchema {
    pub name: String,
    /// The declared type as the database prints it (`bigint`, `varchar(255)`, `timestamp with time zone`).
    #[serde(rename = "type")]
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IndexSchema {
    pub name: String,
    /// Key columns in index order; an expression key part is given as its text.
    pub columns: Vec<String>,
    #[serde(default)]
    pub unique: bool,
    /// The table's primary key (never proposed for dropping).
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary: bool,
    /// Backs a foreign key: its leading columns are a foreign key's columns (never proposed for
    /// dropping).
    #[serde(default, skip_serializing_if = "is_false")]
    pub foreign_key: bool,
    /// Scans of the index since the table's `usage_since` (`pg_stat_user_indexes.idx_scan`,
    /// `performance_schema.table_io_waits_summary_by_index_usage.COUNT_STAR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scans: Option<i64>,
    /// The access method when it is not a B-tree (`gin`, `gist`, `hash`, `FULLTEXT`, `SPATIAL`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A partial index (PostgreSQL `WHERE`): it serves only some rows.
    #[serde(default, skip_serializing_if = "is_false")]
    pub partial: bool,
}

impl IndexSchema {
    /// A B-tree over every row: what index advice builds and what can serve or replace it.
    pub fn plain(&self) -> bool {
        !self.partial
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case("btree"))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl SchemaSnapshot {
    /// The table named `name` (case-insensitive), preferring one in `schema` when given.
    pub fn table(&self, schema: Option<&str>, name: &str) -> Option<&TableSchema> {
        let mut found = self
            .tables
            .iter()
            .filter(|t| t.name.eq_ignore_ascii_case(name));
        match schema {
            Some(s) => {
                let all: Vec<&TableSchema> = found.collect();
                all.iter()
                    .find(|t| {
                        t.schema
                            .as_deref()
                            .is_some_and(|x| x.eq_ignore_ascii_case(s))
                    })
                    .or(all.first())
                    .copied()
            }
            None => found.next(),
        }
    }
}

impl TableSchema {
    pub fn column(&self, name: &str) -> Option<&ColumnSchema> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }
}
