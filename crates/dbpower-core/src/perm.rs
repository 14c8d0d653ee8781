//! The RBAC table, enforced server-side. Every mutation handler asks one of these functions.
//!
//! | role        | may                                                                     |
//! |-------------|-------------------------------------------------------------------------|
//! | SUPER_ADMIN | everything, including creating and deleting organizations               |
//! | ORG_ADMIN   | its organization: settings, teams, identities, users, api keys, audit   |
//! | TEAM_LEAD   | reads its team's data; manages the users of its team (up to TEAM_LEAD)  |
//! | USER        | reads what its identity owns, and its own user record                   |

use dbpower_types::Role;

use crate::Principal;

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateOrganization,
    DeleteOrganization,
    UpdateOrganization,
    ManageTeams,
    ManageIdentities,
    ManageUsers,
    ManageApiKeys,
    ReadAuditLog,
}

/// Whether the caller's role allows the action at all (the scope then limits where).
pub fn allows(p: &Principal, action: Action) -> bool {
    use Action::*;
    match p.role {
        Role::SuperAdmin => true,
        Role::OrgAdmin => !matches!(action, CreateOrganization | DeleteOrganization),
        Role::TeamLead => matches!(action, ManageUsers),
        Role::User => false,
    }
}

/// "Nobody can grant a role above their own": the caller may give `target` to someone only when its own
/// rank is at least as high, and only a super admin makes super admins.
pub fn may_grant(p: &Principal, target: Role) -> bool {
    match target {
        Role::SuperAdmin => p.role == Role::SuperAdmin,
        _ => p.role.rank() >= target.rank() && allows(p, Action::ManageUsers),
    }
}

/// Whether the caller may change or delete an existing user with role `subject`.
/// Nobody manages someone ranked above themselves; team leads manage only ranks below or equal theirs.
pub fn may_manage_user(p: &Principal, subject: Role) -> bool {
    allows(p, Action::ManageUsers) && p.role.rank() >= subject.rank()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role) -> Principal {
        Principal {
            user_id: 1,
            email: "x@y.example".into(),
            role,
            organization_id: Some(1),
            team_id: Some(1),
            identity_id: None,
        }
    }

    #[test]
    fn the_rbac_table() {
        use Action::*;
        let all = [
            CreateOrganization,
            DeleteOrganization,
            UpdateOrganization,
            ManageTeams,
            ManageIdentities,
            ManageUsers,
            ManageApiKeys,
            ReadAuditLog,
        ];
        assert!(all.iter().all(|a| allows(&p(Role::SuperAdmin), *a)));
        assert!(!allows(&p(Role::OrgAdmin), CreateOrganization));
        assert!(allows(&p(Role::OrgAdmin), ManageApiKeys));
        assert!(allows(&p(Role::TeamLead), ManageUsers));
        assert!(!allows(&p(Role::TeamLead), ManageTeams));
        assert!(all.iter().all(|a| !allows(&p(Role::User), *a)));
    }

    #[test]
    fn nobody_grants_above_their_own_role() {
        assert!(may_grant(&p(Role::SuperAdmin), Role::SuperAdmin));
        assert!(!may_grant(&p(Role::OrgAdmin), Role::SuperAdmin));
        assert!(may_grant(&p(Role::OrgAdmin), Role::OrgAdmin));
        assert!(!may_grant(&p(Role::TeamLead), Role::OrgAdmin));
        assert!(may_grant(&p(Role::TeamLead), Role::User));
        assert!(!may_grant(&p(Role::User), Role::User));
        assert!(!may_manage_user(&p(Role::TeamLead), Role::OrgAdmin));
        assert!(may_manage_user(&p(Role::OrgAdmin), Role::TeamLead));
    }
}
