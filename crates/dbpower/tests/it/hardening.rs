//! Regression tests for the security review's findings, each reproducing the attack black-box: through
//! the binary (`dbpower agent`) or the HTTP API of a running `dbpower serve`.

mod accounts;
mod agent_spool;
mod agent_sql;
mod classes;
mod repair;
mod requests;
mod scrubbing;
mod tenants;
mod workers;
