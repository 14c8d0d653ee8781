//! dbpower-sql integration tests: agreement with pt-fingerprint, `pii_only` redaction by category, strict
//! fingerprints, and properties over generated input.

mod fingerprints;
mod pii;
mod properties;
mod pt;
