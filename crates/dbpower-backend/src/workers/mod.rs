//! Background work inside a process: the analysis workers that drain the queue ([`analysis`]), the
//! retention sweep ([`retention`]) and the group-commit writer behind ingestion ([`writer`]).

pub mod analysis;
pub mod retention;
pub mod writer;
