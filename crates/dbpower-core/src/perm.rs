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
    /// Alert rules and channels of the organization.
    ManageAlerts,
    /// Acknowledge and resolve the alerts one sees, mute one's own classes.
    HandleAlerts,
}

/// Whether the caller's role allows the action at all (the scope then limits where).
pub fn allows(p: &Principal, action: Action) -> bool {
    use Action::*;
    match p.role {
        Role::SuperAdmin => true,
        Role::OrgAdmin => !matches!(action, CreateOrganization | DeleteOrganization),
        Role::TeamLead => matches!(action, ManageUsers | HandleAlerts),
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

/// A change to a user account, as the rules below see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserEdit {
    /// Create an account with this role.
    Create {
        role: Role,
    },
    /// Update an account: a new role, and whether any administrative field changes (role, team,
    /// identity or active state; the password and name are not administrative).
    Update {
        role: Option<Role>,
        admin_fields: bool,
    },
    Delete,
}

/// Why a change to a user account is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRefusal {
    /// Nobody changes their own role, team, identity or active state.
    OwnAdministration,
    /// Nobody deletes themselves.
    DeleteSelf,
    /// The caller's role ranks below the account's (or may not manage users).
    Outranked { caller: Role, subject: Role },
    /// The caller may not give this role.
    CannotGrant { caller: Role, role: Role },
    /// Super admins are created, never promoted or demoted.
    SuperAdminChange,
    /// A team lead works inside its own team only.
    OtherTeam,
}

/// The rules for changing a user account `subject` (its id and current role; `None` when creating).
pub fn check_user_edit(
    p: &Principal,
    subject: Option<(i64, Role)>,
    edit: UserEdit,
) -> Result<(), UserRefusal> {
    let is_self = subject.is_some_and(|(id, _)| id == p.user_id);
    let caller = p.role;
    let grant = |role: Role| {
        let refusal = UserRefusal::CannotGrant { caller, role };
        may_grant(p, role).then_some(()).ok_or(refusal)
    };
    let manage = |subject: Role| {
        let refusal = UserRefusal::Outranked { caller, subject };
        may_manage_user(p, subject).then_some(()).ok_or(refusal)
    };
    match (edit, subject) {
        (UserEdit::Create { role }, _) => grant(role),
        (UserEdit::Update { .. } | UserEdit::Delete, None) => Ok(()),
        (UserEdit::Delete, Some((_, current))) => {
            if is_self {
                return Err(UserRefusal::DeleteSelf);
            }
            manage(current)
        }
        (UserEdit::Update { role, admin_fields }, Some((_, current))) => {
            if admin_fields && is_self {
                return Err(UserRefusal::OwnAdministration);
            }
            if admin_fields || !is_self {
                manage(current)?;
            }
            if let Some(role) = role {
                grant(role)?;
                if role == Role::SuperAdmin || current == Role::SuperAdmin {
                    return Err(UserRefusal::SuperAdminChange);
                }
            }
            Ok(())
        }
    }
}

/// The team a user created or moved by `p` lands in: a team lead's own team only (its own when none is
/// asked for); any requested team for the others.
pub fn team_for_user(p: &Principal, requested: Option<i64>) -> Result<Option<i64>, UserRefusal> {
    if p.role != Role::TeamLead {
        return Ok(requested);
    }
    match (p.team_id, requested) {
        (Some(own), None) => Ok(Some(own)),
        (Some(own), Some(t)) if t == own => Ok(Some(own)),
        _ => Err(UserRefusal::OtherTeam),
    }
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
        // Allowed for SUPER_ADMIN, ORG_ADMIN, TEAM_LEAD, USER.
        let table = [
            (CreateOrganization, [true, false, false, false]),
            (DeleteOrganization, [true, false, false, false]),
            (UpdateOrganization, [true, true, false, false]),
            (ManageTeams, [true, true, false, false]),
            (ManageIdentities, [true, true, false, false]),
            (ManageUsers, [true, true, true, false]),
            (ManageApiKeys, [true, true, false, false]),
            (ReadAuditLog, [true, true, false, false]),
        ];
        let roles = [Role::SuperAdmin, Role::OrgAdmin, Role::TeamLead, Role::User];
        for (action, allowed) in table {
            for (role, want) in roles.into_iter().zip(allowed) {
                assert_eq!(allows(&p(role), action), want, "{role:?} {action:?}");
            }
        }
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

    #[test]
    fn the_user_rules_as_a_table() {
        use Role::*;
        use UserEdit::*;
        use UserRefusal::*;
        let me = |role: Role| Principal {
            user_id: 7,
            ..p(role)
        };
        let other = |role: Role| Some((8, role));
        let own = |role: Role| Some((7, role));
        let admin = |role: Option<Role>| Update {
            role,
            admin_fields: true,
        };
        let profile = Update {
            role: None,
            admin_fields: false,
        };
        type Case = (Role, Option<(i64, Role)>, UserEdit, Result<(), UserRefusal>);
        let cases: &[Case] = &[
            (OrgAdmin, None, Create { role: User }, Ok(())),
            (OrgAdmin, None, Create { role: OrgAdmin }, Ok(())),
            (
                OrgAdmin,
                None,
                Create { role: SuperAdmin },
                Err(CannotGrant {
                    caller: OrgAdmin,
                    role: SuperAdmin,
                }),
            ),
            (
                TeamLead,
                None,
                Create { role: OrgAdmin },
                Err(CannotGrant {
                    caller: TeamLead,
                    role: OrgAdmin,
                }),
            ),
            (TeamLead, None, Create { role: User }, Ok(())),
            (
                User,
                None,
                Create { role: User },
                Err(CannotGrant {
                    caller: User,
                    role: User,
                }),
            ),
            (SuperAdmin, None, Create { role: SuperAdmin }, Ok(())),
            // Oneself: the profile, never the administrative fields, never deletion.
            (User, own(User), profile, Ok(())),
            (
                OrgAdmin,
                own(OrgAdmin),
                admin(Some(User)),
                Err(OwnAdministration),
            ),
            (OrgAdmin, own(OrgAdmin), admin(None), Err(OwnAdministration)),
            (OrgAdmin, own(OrgAdmin), Delete, Err(DeleteSelf)),
            // Others: only at or below one's rank.
            (
                User,
                other(User),
                profile,
                Err(Outranked {
                    caller: User,
                    subject: User,
                }),
            ),
            (TeamLead, other(User), admin(Some(TeamLead)), Ok(())),
            (
                TeamLead,
                other(OrgAdmin),
                profile,
                Err(Outranked {
                    caller: TeamLead,
                    subject: OrgAdmin,
                }),
            ),
            (
                TeamLead,
                other(User),
                admin(Some(OrgAdmin)),
                Err(CannotGrant {
                    caller: TeamLead,
                    role: OrgAdmin,
                }),
            ),
            (OrgAdmin, other(TeamLead), Delete, Ok(())),
            (
                OrgAdmin,
                other(SuperAdmin),
                Delete,
                Err(Outranked {
                    caller: OrgAdmin,
                    subject: SuperAdmin,
                }),
            ),
            // Super admins are created, not promoted or demoted.
            (
                SuperAdmin,
                other(OrgAdmin),
                admin(Some(SuperAdmin)),
                Err(SuperAdminChange),
            ),
            (
                SuperAdmin,
                other(SuperAdmin),
                admin(Some(OrgAdmin)),
                Err(SuperAdminChange),
            ),
            (SuperAdmin, other(SuperAdmin), profile, Ok(())),
        ];
        for (caller, subject, edit, want) in cases {
            assert_eq!(
                check_user_edit(&me(*caller), *subject, *edit),
                *want,
                "{caller:?} on {subject:?}: {edit:?}"
            );
        }
        let lead = me(TeamLead);
        assert_eq!(team_for_user(&lead, None), Ok(Some(1)));
        assert_eq!(team_for_user(&lead, Some(1)), Ok(Some(1)));
        assert_eq!(team_for_user(&lead, Some(2)), Err(OtherTeam));
        assert_eq!(team_for_user(&me(OrgAdmin), Some(2)), Ok(Some(2)));
        let lost = Principal {
            team_id: None,
            ..me(TeamLead)
        };
        assert_eq!(team_for_user(&lost, None), Err(OtherTeam));
    }
}
