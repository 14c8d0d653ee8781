//! DBPower domain rules with no IO: who is calling ([`Principal`]), what they may see ([`Scope`]),
//! what they may do ([`perm`]), and validated input ([`validate`]).

pub mod perm;
pub mod scope;
pub mod signing;
pub mod validate;

pub use scope::{OrgId, Principal, Scope, ScopeFilter};
