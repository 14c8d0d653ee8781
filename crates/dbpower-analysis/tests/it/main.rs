//! Integration tests of the analysis engine: the labelled rule corpus, parsing of ORM statement shapes
//! and end-to-end reports.

mod corpus;
mod ddl;
mod detection;
mod measured;
mod parsing;
mod plans;
mod reports;
