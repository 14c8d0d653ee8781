//! The DBPower collector agent (`dbpower agent`): runs next to the customer's databases, collects slow
//! queries from MySQL/MariaDB and PostgreSQL, scrubs them before anything leaves the host, spools them
//! to disk and ships them signed. It depends on the pure SQL crate, the wire types and the signing
//! scheme only: never on the server's store, axum or redis.

mod changes;
mod check;
mod collect;
mod config;
mod enrich;
mod metrics;
mod mysql;
mod postgres;
mod runner;
mod sandbox;
mod ship;
mod source;
mod spool;
mod state;
mod tail;
mod whatif;

pub use check::run as check;
pub use config::AgentConfig;
pub use runner::run;
