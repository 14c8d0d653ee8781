//! Tenant scope as a type: the store takes a [`Scope`] for every tenant read and an [`OrgId`] for every
//! tenant write, and neither can be made from a bare integer outside this crate's named constructors.

use dbpower_types::{Role, UserView};

/// The authenticated caller, as loaded from the store for this request (never only from token claims,
/// so a disabled or moved user loses access at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub team_id: Option<i64>,
    pub identity_id: Option<i64>,
}

impl From<&UserView> for Principal {
    fn from(u: &UserView) -> Self {
        Principal {
            user_id: u.id,
            email: u.email.clone(),
            role: u.role,
            organization_id: u.organization_id,
            team_id: u.team_id,
            identity_id: u.identity_id,
        }
    }
}

/// An organization id that the caller is allowed to write into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(i64);

impl OrgId {
    pub fn get(self) -> i64 {
        self.0
    }

    /// For ids that come from an authenticated credential rather than from a user's session: an agent's
    /// api key, or a platform job (retention, demo seeding) iterating over organizations.
    pub fn from_credential(id: i64) -> OrgId {
        OrgId(id)
    }
}

/// What a caller may read. Built from a [`Principal`] (or, for system jobs, from an [`OrgId`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    filter: ScopeFilter,
}

/// The shape of a scope, for the store to turn into a `WHERE` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeFilter {
    /// Everything (SUPER_ADMIN).
    All,
    /// One organization (ORG_ADMIN, system jobs).
    Org { org: i64 },
    /// One team of an organization (TEAM_LEAD).
    Team { org: i64, team: i64 },
    /// What one identity owns, plus the user's own record (USER). `identity` may be absent.
    Identity {
        org: i64,
        identity: Option<i64>,
        user: i64,
    },
    /// Nothing at all (a non-super-admin without an organization).
    Nothing,
}

impl Scope {
    /// The read scope of an authenticated caller.
    pub fn of(p: &Principal) -> Scope {
        let filter = match (p.role, p.organization_id) {
            (Role::SuperAdmin, _) => ScopeFilter::All,
            (_, None) => ScopeFilter::Nothing,
            (Role::OrgAdmin, Some(org)) => ScopeFilter::Org { org },
            (Role::TeamLead, Some(org)) => match p.team_id {
                Some(team) => ScopeFilter::Team { org, team },
                None => ScopeFilter::Identity {
                    org,
                    identity: p.identity_id,
                    user: p.user_id,
                },
            },
            (Role::User, Some(org)) => ScopeFilter::Identity {
                org,
                identity: p.identity_id,
                user: p.user_id,
            },
        };
        Scope { filter }
    }

    /// The whole platform: for start-up tasks (bootstrap, retention sweeps) that act for no user.
    pub fn platform() -> Scope {
        Scope {
            filter: ScopeFilter::All,
        }
    }

    /// One organization, for work done on behalf of an authenticated credential of that organization.
    pub fn org(org: OrgId) -> Scope {
        Scope {
            filter: ScopeFilter::Org { org: org.0 },
        }
    }

    /// One team of an organization, for work done for that team by a system job (its weekly report).
    pub fn team(org: OrgId, team: i64) -> Scope {
        Scope {
            filter: ScopeFilter::Team { org: org.0, team },
        }
    }

    pub fn filter(&self) -> ScopeFilter {
        self.filter
    }

    /// The organization this scope is confined to, if any.
    pub fn org_id(&self) -> Option<i64> {
        match self.filter {
            ScopeFilter::All | ScopeFilter::Nothing => None,
            ScopeFilter::Org { org }
            | ScopeFilter::Team { org, .. }
            | ScopeFilter::Identity { org, .. } => Some(org),
        }
    }

    pub fn is_all(&self) -> bool {
        self.filter == ScopeFilter::All
    }

    /// Resolves the organization a write goes to: a super admin names it; everyone else writes into their
    /// own organization, and naming another one is answered as "not found" (no existence leak).
    pub fn write_org(&self, requested: Option<i64>) -> Result<OrgId, ScopeError> {
        match (self.filter, requested) {
            (ScopeFilter::All, Some(id)) => Ok(OrgId(id)),
            (ScopeFilter::All, None) => Err(ScopeError::OrganizationRequired),
            (ScopeFilter::Nothing, _) => Err(ScopeError::NotFound),
            (_, requested) => {
                let own = self.org_id().ok_or(ScopeError::NotFound)?;
                match requested {
                    Some(id) if id != own => Err(ScopeError::NotFound),
                    _ => Ok(OrgId(own)),
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("organization_id is required for this caller")]
    OrganizationRequired,
    #[error("organization not found")]
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(
        role: Role,
        org: Option<i64>,
        team: Option<i64>,
        identity: Option<i64>,
    ) -> Principal {
        Principal {
            user_id: 7,
            email: "a@b.example".into(),
            role,
            organization_id: org,
            team_id: team,
            identity_id: identity,
        }
    }

    #[test]
    fn scope_follows_role() {
        let cases = [
            (
                principal(Role::SuperAdmin, None, None, None),
                ScopeFilter::All,
            ),
            (
                principal(Role::OrgAdmin, Some(1), None, None),
                ScopeFilter::Org { org: 1 },
            ),
            (
                principal(Role::TeamLead, Some(1), Some(2), None),
                ScopeFilter::Team { org: 1, team: 2 },
            ),
            (
                principal(Role::User, Some(1), Some(2), Some(3)),
                ScopeFilter::Identity {
                    org: 1,
                    identity: Some(3),
                    user: 7,
                },
            ),
            (
                principal(Role::User, None, None, None),
                ScopeFilter::Nothing,
            ),
        ];
        for (p, want) in cases {
            assert_eq!(Scope::of(&p).filter(), want, "{p:?}");
        }
    }

    #[test]
    fn write_org_never_crosses_tenants() {
        let admin = Scope::of(&principal(Role::OrgAdmin, Some(1), None, None));
        assert_eq!(admin.write_org(None), Ok(OrgId(1)));
        assert_eq!(admin.write_org(Some(1)), Ok(OrgId(1)));
        assert_eq!(admin.write_org(Some(2)), Err(ScopeError::NotFound));
        let sa = Scope::of(&principal(Role::SuperAdmin, None, None, None));
        assert_eq!(sa.write_org(Some(2)), Ok(OrgId(2)));
        assert_eq!(sa.write_org(None), Err(ScopeError::OrganizationRequired));
        let orphan = Scope::of(&principal(Role::User, None, None, None));
        assert_eq!(orphan.write_org(None), Err(ScopeError::NotFound));
    }
}
