//! The DBPower collector agent (`dbpower agent`): runs next to the customer's databases, collects slow
//! queries from MySQL/MariaDB and PostgreSQL, scrubs them before anything leaves the host, spools them
//! to disk and ships them signed. It depends on the pure SQL crate, the wire types and the signing
//! scheme only: never on the server's store, axum or redis.

pub mod check;
pub mod collect;
pub mod config;
pub mod enrich;
pub mod metrics;
pub mod mysql;
pub mod postgres;
pub mod runner;
pub mod ship;
pub mod source;
pub mod spool;
pub mod state;
pub mod tail;

pub use runner::run;
