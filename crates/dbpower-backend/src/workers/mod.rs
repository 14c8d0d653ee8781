//! Background work inside a process: the analysis workers that drain the queue ([`analysis`]), the
//! retention sweep ([`retention`]) and the group-commit writer behind ingestion ([`writer`]).

pub(crate) mod analysis;
pub(crate) mod retention;
pub(crate) mod writer;
