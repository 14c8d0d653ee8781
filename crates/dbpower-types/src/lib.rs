//! Wire vocabulary of the DBPower API: every request and response body, roles, error codes and pages.
//!
//! This crate has no IO. The server, the typed client and the agent all speak these types, and the
//! OpenAPI document is generated from them.

pub mod advice;
pub mod agent;
pub mod alerts;
pub mod analysis;
pub mod audit;
pub mod auth;
pub mod error;
pub mod ingest;
pub mod org;
pub mod page;
pub mod schema;

pub use advice::*;
pub use agent::*;
pub use alerts::*;
pub use analysis::*;
pub use audit::*;
pub use auth::*;
pub use error::*;
pub use ingest::*;
pub use org::*;
pub use page::*;
pub use schema::*;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's role. Ordered: a higher rank includes every permission of the lower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    SuperAdmin,
    OrgAdmin,
    TeamLead,
    User,
}

impl Role {
    /// Higher is more powerful. Used for "nobody grants a role above their own".
    pub fn rank(self) -> u8 {
        match self {
            Role::SuperAdmin => 4,
            Role::OrgAdmin => 3,
            Role::TeamLead => 2,
            Role::User => 1,
        }
    }

    /// The spelling used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "SUPER_ADMIN",
            Role::OrgAdmin => "ORG_ADMIN",
            Role::TeamLead => "TEAM_LEAD",
            Role::User => "USER",
        }
    }

    /// Parses the wire spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::SuperAdmin, Role::OrgAdmin, Role::TeamLead, Role::User]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_spelling_round_trips_and_ranks_are_strict() {
        let all = [Role::SuperAdmin, Role::OrgAdmin, Role::TeamLead, Role::User];
        for r in all {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).expect("serialize");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert!(all.windows(2).all(|w| w[0].rank() > w[1].rank()));
        assert_eq!(Role::parse("root"), None);
    }
}
