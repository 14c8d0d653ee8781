//! Background work inside a process: the analysis workers that drain the queue ([`analysis`]), the
//! retention sweep ([`retention`]), the group-commit writer behind ingestion ([`writer`]), and the alert
//! evaluator and deliverer ([`alerts`], sending through [`channels`]) with the weekly team reports
//! ([`reports`]).

pub(crate) mod alerts;
pub(crate) mod analysis;
pub(crate) mod channels;
pub(crate) mod reports;
pub(crate) mod retention;
pub(crate) mod writer;
