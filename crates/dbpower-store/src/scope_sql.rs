//! Turns a [`Scope`] into the SQL predicate that confines a statement to the caller's tenant.
//! The values are integers from the scope itself, so they are inlined (no injection surface).

use dbpower_core::{Scope, ScopeFilter};

/// Which tenant columns a table has.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Table {
    Organizations,
    Teams,
    Identities,
    Users,
    ApiKeys,
    AuditLogs,
    /// Records of prompts sent to LLM providers: organization level only.
    LlmCalls,
    /// Alert rules and channels: organization level only.
    AlertSettings,
    /// Query classes: organization level (who sees a class's parts is decided by `class_is_own`).
    Classes,
    /// Rows owned through `team_id` / `identity_id` columns: slow queries and rollups.
    Owned,
}

/// The predicate (without `WHERE`) for rows of `table` visible in `scope`.
pub(crate) fn predicate(scope: &Scope, table: Table) -> String {
    predicate_on(scope, table, "")
}

/// The same, with columns qualified by `alias` (e.g. `"s."`).
pub(crate) fn predicate_on(scope: &Scope, table: Table, a: &str) -> String {
    use ScopeFilter as F;
    use Table as T;
    match (scope.filter(), table) {
        (F::All, _) => "1=1".into(),
        (F::Nothing, _) => "1=0".into(),
        (F::Org { org } | F::Team { org, .. } | F::Identity { org, .. }, T::Organizations) => {
            format!("{a}id = {org}")
        }
        (F::Org { org }, _) => format!("{a}organization_id = {org}"),
        (F::Team { org, .. } | F::Identity { org, .. }, T::Classes) => {
            format!("{a}organization_id = {org}")
        }
        (F::Team { org, team }, T::Teams) => {
            format!("{a}organization_id = {org} AND {a}id = {team}")
        }
        (F::Team { org, team }, T::Identities | T::Users | T::ApiKeys | T::Owned) => {
            format!("{a}organization_id = {org} AND {a}team_id = {team}")
        }
        (F::Team { .. }, T::AuditLogs | T::LlmCalls | T::AlertSettings) => "1=0".into(),
        (
            F::Identity {
                org,
                identity,
                user,
            },
            t,
        ) => match (t, identity) {
            (T::Users, _) => format!("{a}organization_id = {org} AND {a}id = {user}"),
            (T::Identities, Some(i)) => format!("{a}organization_id = {org} AND {a}id = {i}"),
            (T::Owned, Some(i)) => format!("{a}organization_id = {org} AND {a}identity_id = {i}"),
            (T::Teams, Some(i)) => format!(
                "{a}organization_id = {org} AND {a}id IN (SELECT team_id FROM identities \
                 WHERE id = {i})"
            ),
            _ => "1=0".into(),
        },
    }
}

/// Whether `scope` sees query classes organization-wide: their shared sample, databases, statistics and
/// analysis. A team or an identity sees only its own part of a class (see `reads.rs`).
pub(crate) fn sees_whole_classes(scope: &Scope) -> bool {
    matches!(scope.filter(), ScopeFilter::All | ScopeFilter::Org { .. })
}

/// The condition that the class `class_id` (an SQL expression) is wholly the scope's own: it has rows in
/// `scope` and none of another owner. Only then does a team or an identity see what was derived from the
/// class's shared sample (its analysis and severity). Always true for organization-wide scopes.
pub(crate) fn class_is_own(scope: &Scope, class_id: &str) -> String {
    if sees_whole_classes(scope) {
        return "1=1".into();
    }
    let own = predicate_on(scope, Table::Owned, "xr.");
    format!(
        "(EXISTS (SELECT 1 FROM query_rollups xr WHERE xr.class_id = {class_id} AND {own}) \
         AND NOT EXISTS (SELECT 1 FROM query_rollups xr WHERE xr.class_id = {class_id} \
         AND NOT ({own})))"
    )
}

/// The severity of the class aliased `c` as `scope` may see it: null for a class shared with another
/// owner when the scope is not organization-wide.
pub(crate) fn class_severity(scope: &Scope, c: &str) -> String {
    if sees_whole_classes(scope) {
        return format!("{c}.severity");
    }
    format!(
        "CASE WHEN {} THEN {c}.severity END",
        class_is_own(scope, &format!("{c}.id"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbpower_core::{OrgId, Principal};
    use dbpower_types::Role;

    #[test]
    fn predicates_confine_to_the_tenant() {
        let user = Principal {
            user_id: 9,
            email: "u@x.example".into(),
            role: Role::User,
            organization_id: Some(2),
            team_id: Some(3),
            identity_id: Some(4),
        };
        let s = Scope::of(&user);
        assert_eq!(
            predicate(&s, Table::Users),
            "organization_id = 2 AND id = 9"
        );
        assert_eq!(
            predicate(&s, Table::Identities),
            "organization_id = 2 AND id = 4"
        );
        assert_eq!(predicate(&s, Table::ApiKeys), "1=0");
        assert_eq!(
            predicate_on(&s, Table::Owned, "s."),
            "s.organization_id = 2 AND s.identity_id = 4"
        );
        let org = Scope::org(OrgId::from_credential(5));
        assert_eq!(predicate(&org, Table::Teams), "organization_id = 5");
        assert_eq!(predicate(&org, Table::Organizations), "id = 5");
        assert_eq!(predicate(&Scope::platform(), Table::AuditLogs), "1=1");
        assert_eq!(predicate(&org, Table::LlmCalls), "organization_id = 5");
        assert_eq!(predicate(&s, Table::LlmCalls), "1=0");
        assert!(!sees_whole_classes(&s));
        assert!(sees_whole_classes(&org) && sees_whole_classes(&Scope::platform()));
        assert_eq!(class_severity(&org, "c"), "c.severity");
        assert_eq!(class_is_own(&org, "c.id"), "1=1");
        let own = class_is_own(&s, "c.id");
        assert!(
            own.contains("NOT (xr.organization_id = 2 AND xr.identity_id = 4)"),
            "{own}"
        );
        assert!(class_severity(&s, "c").starts_with("CASE WHEN "));
    }
}
