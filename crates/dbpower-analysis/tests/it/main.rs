//! Integration tests of the analysis engine: the labelled rule corpus and end-to-end reports.

mod corpus;
mod reports;
