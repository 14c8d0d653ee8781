//! dbpower-sql integration tests: agreement with pt-fingerprint, and properties over generated input.

mod properties;
mod pt;
