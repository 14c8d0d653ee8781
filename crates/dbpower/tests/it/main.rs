//! Black-box tests of the `dbpower` binary, as a new user would run it.

mod analyze;
mod digest;
mod serve;
mod tidy;
