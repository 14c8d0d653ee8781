//! The few places where the SQL of SQLite and PostgreSQL differs, as text each statement splices in.
//! Everything else is written once in `sql/` (placeholders are `$n`, which SQLite accepts too).

/// One database's spelling of the differing fragments.
pub(crate) struct Dialect {
    /// `"sqlite"` or `"postgres"` (see [`crate::Store::backend`]).
    pub backend: &'static str,
    /// Appended to a `SELECT` that must lock the rows it reads until the transaction ends.
    pub for_update: &'static str,
    /// Appended to a `SELECT` of queue rows: concurrent workers skip each other's rows instead of
    /// waiting on them.
    pub skip_locked: &'static str,
    /// The two-argument minimum and maximum functions.
    pub least: &'static str,
    pub greatest: &'static str,
    /// Case-insensitive `LIKE`.
    pub ilike: &'static str,
    /// The UTC day (`YYYY-MM-DD`) of the rollup hour `r.hour`.
    pub day_of_hour: &'static str,
    /// A subquery (alias `j`, integer column `v`) of the elements of a JSON array of integers.
    pub json_ints: &'static str,
}

impl Dialect {
    /// `json_ints` for the JSON array `list` (a placeholder).
    pub(crate) fn json_int_elements(&self, list: &str) -> String {
        self.json_ints.replace("{list}", list)
    }
}

/// SQLite: one writer at a time (serialized by the store's write lock), so no row locks.
pub(crate) const SQLITE: Dialect = Dialect {
    backend: "sqlite",
    for_update: "",
    skip_locked: "",
    least: "min",
    greatest: "max",
    // SQLite's LIKE is case-insensitive for ASCII already.
    ilike: "LIKE",
    day_of_hour: "substr(r.hour, 1, 10)",
    json_ints: "(SELECT CAST(value AS INTEGER) AS v FROM json_each({list})) j",
};

pub(crate) const POSTGRES: Dialect = Dialect {
    backend: "postgres",
    for_update: " FOR UPDATE",
    skip_locked: " FOR UPDATE SKIP LOCKED",
    least: "LEAST",
    greatest: "GREATEST",
    ilike: "ILIKE",
    day_of_hour: "to_char(r.hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    json_ints: "(SELECT CAST(value AS BIGINT) AS v FROM jsonb_array_elements_text(CAST({list} AS JSONB))) j",
};
