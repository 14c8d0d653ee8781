//! Black-box tests of the `dbpower` binary, as a new user would run it.

mod serve;
mod tidy;
