//! Black-box tests of the `dbpower` binary, as a new user would run it.

mod digest;
mod serve;
mod tidy;
