//! The conformance story: the same sequence of operations and expectations on every backend.

use dbpower_core::{OrgId, Principal, Scope};
use dbpower_store::*;
use dbpower_testkit::TestDb;
use dbpower_types::{AuditLogQuery, OrgSettings, OrganizationView, Role, TeamView};

const PAGE: PageRequest = PageRequest {
    page: 1,
    per_page: 50,
};

fn principal(u: &UserRecord) -> Principal {
    Principal::from(&u.view)
}

fn new_user(
    email: &str,
    role: Role,
    org: Option<i64>,
    team: Option<i64>,
    identity: Option<i64>,
) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "$2b$04$notarealhashnotarealhashnotarealhashnotarealhashnotre".into(),
        full_name: None,
        role,
        organization_id: org,
        team_id: team,
        identity_id: identity,
    }
}

fn audit(org: Option<i64>, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        organization_id: org,
        actor_user_id: Some(1),
        actor_email: Some("a@x.example".into()),
        action: action.into(),
        resource_type: "team".into(),
        resource_id: Some("1".into()),
        outcome: "success".into(),
        request_id: Some("req-1".into()),
        ip: Some("127.0.0.1".into()),
        details: serde_json::json!({"n": 1, "s": "x"}),
    }
}

/// Who the story's chapters act as and on: two organizations, their teams, an identity and three users.
struct World {
    a: OrganizationView,
    b: OrganizationView,
    oa: OrgId,
    ob: OrgId,
    ta: TeamView,
    tb: TeamView,
    admin_a: UserRecord,
    user_a: UserRecord,
    admin_b: UserRecord,
}

impl World {
    /// The scopes of Acme's ORG_ADMIN, Globex's ORG_ADMIN and Acme's USER.
    fn scopes(&self) -> (Scope, Scope, Scope) {
        (
            Scope::of(&principal(&self.admin_a)),
            Scope::of(&principal(&self.admin_b)),
            Scope::of(&principal(&self.user_a)),
        )
    }
}

/// The conformance story, chapter by chapter: a failure names the chapter that broke.
async fn story(store: &dyn Store) {
    let w = organizations_teams_and_users(store).await;
    scopes_confine_reads(store, &w).await;
    updates_are_scoped(store, &w).await;
    api_keys_are_scoped(store, &w).await;
    refresh_tokens_rotate_and_catch_reuse(store, &w).await;
    audit_chains_verify_per_organization(store, &w).await;
    deleting_an_organization_cascades(store, &w).await;
}

/// Organizations, teams, identities and users, with names unique where they must be and cross-tenant
/// references refused.
async fn organizations_teams_and_users(store: &dyn Store) -> World {
    store.ping().await.expect("ping");
    let org = |name: &str| NewOrganization {
        name: name.into(),
        settings: OrgSettings::default(),
        retention_days: 90,
    };
    let a = store
        .insert_organization(&org("Acme"))
        .await
        .expect("org a");
    let b = store
        .insert_organization(&org("Globex"))
        .await
        .expect("org b");
    assert!(matches!(
        store.insert_organization(&org("Acme")).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(a.retention_days, 90);
    let (oa, ob) = (OrgId::from_credential(a.id), OrgId::from_credential(b.id));

    // Teams and identities, with cross-tenant references refused.
    let ta = store
        .insert_team(oa, "Core", Some("core team"))
        .await
        .expect("team a");
    let tb = store
        .insert_team(ob, "Core", None)
        .await
        .expect("same name in another org is fine");
    assert!(matches!(
        store.insert_team(oa, "Core", None).await,
        Err(StoreError::Conflict(_))
    ));
    let ia = store
        .insert_identity(oa, ta.id, "billing-db")
        .await
        .expect("identity a");
    assert!(matches!(
        store.insert_identity(oa, tb.id, "x").await,
        Err(StoreError::InvalidReference(_))
    ));

    // Users: unique email, foreign team refused.
    let admin_a = store
        .insert_user(&new_user(
            "admin@acme.example",
            Role::OrgAdmin,
            Some(a.id),
            None,
            None,
        ))
        .await
        .expect("admin a");
    let user_a = store
        .insert_user(&new_user(
            "user@acme.example",
            Role::User,
            Some(a.id),
            Some(ta.id),
            Some(ia.id),
        ))
        .await
        .expect("user a");
    let admin_b = store
        .insert_user(&new_user(
            "admin@globex.example",
            Role::OrgAdmin,
            Some(b.id),
            None,
            None,
        ))
        .await
        .expect("admin b");
    assert!(matches!(
        store
            .insert_user(&new_user(
                "admin@acme.example",
                Role::User,
                Some(a.id),
                None,
                None
            ))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .insert_user(&new_user(
                "x@acme.example",
                Role::User,
                Some(a.id),
                Some(tb.id),
                None
            ))
            .await,
        Err(StoreError::InvalidReference(_))
    ));
    assert_eq!(store.count_users().await.expect("count"), 3);
    assert_eq!(
        store
            .user_for_login("user@acme.example", Some(&a.name))
            .await
            .expect("login lookup")
            .view
            .id,
        user_a.view.id
    );
    // An organization's account is named by its organization: not by another's, not as a platform one.
    for org in [Some(b.name.as_str()), None] {
        assert!(matches!(
            store.user_for_login("user@acme.example", org).await,
            Err(StoreError::NotFound)
        ));
    }

    World {
        a,
        b,
        oa,
        ob,
        ta,
        tb,
        admin_a,
        user_a,
        admin_b,
    }
}

/// Scopes: an org admin sees its org only; another org's rows are NotFound.
async fn scopes_confine_reads(store: &dyn Store, w: &World) {
    let (sa, sb, su) = w.scopes();
    let (teams, total) = store.list_teams(&sa, PAGE).await.expect("teams");
    assert_eq!((teams.len(), total), (1, 1));
    assert!(matches!(
        store.team_by_id(&sb, w.ta.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.user_by_id(&sb, w.user_a.view.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_team(&sb, w.ta.id).await,
        Err(StoreError::NotFound)
    ));
    let (users, total) = store.list_users(&su, PAGE).await.expect("users as USER");
    assert_eq!((users.len(), total), (1, 1), "w.a USER sees only itself");
    assert_eq!(
        store
            .list_users(&Scope::platform(), PAGE)
            .await
            .expect("all")
            .1,
        3
    );
    let (orgs, _) = store.list_organizations(&sa, PAGE).await.expect("orgs");
    assert_eq!(orgs.iter().map(|o| o.id).collect::<Vec<_>>(), vec![w.a.id]);
}

/// Updates are scoped as well.
async fn updates_are_scoped(store: &dyn Store, w: &World) {
    let (sa, sb, _) = w.scopes();
    let patched = store
        .update_user(
            &sa,
            w.user_a.view.id,
            &UserPatch {
                is_active: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("disable");
    assert!(!patched.view.is_active);
    assert!(matches!(
        store
            .update_user(
                &sb,
                w.user_a.view.id,
                &UserPatch {
                    is_active: Some(true),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_user(
                &sa,
                w.user_a.view.id,
                &UserPatch {
                    team_id: Some(w.tb.id),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::InvalidReference(_))
    ));
    let renamed = store
        .update_team(
            &sa,
            w.ta.id,
            &TeamPatch {
                name: Some("Platform".into()),
                description: None,
            },
        )
        .await
        .expect("rename");
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_deref()),
        ("Platform", Some("core team"))
    );
    let upd = store
        .update_organization(
            w.oa,
            &OrganizationPatch {
                retention_days: Some(30),
                ..Default::default()
            },
        )
        .await
        .expect("org patch");
    assert_eq!(upd.retention_days, 30);
}

/// Api keys.
async fn api_keys_are_scoped(store: &dyn Store, w: &World) {
    let (sa, sb, _) = w.scopes();
    let key = store
        .insert_api_key(
            w.oa,
            &NewApiKey {
                key_id: "dbpk_test".into(),
                name: "agent".into(),
                secret_ciphertext: "ct".into(),
                team_id: Some(w.ta.id),
                identity_id: None,
                created_by: Some(w.admin_a.view.id),
            },
        )
        .await
        .expect("key");
    assert_eq!(
        store
            .api_key_by_key_id("dbpk_test")
            .await
            .expect("by key id")
            .view
            .id,
        key.view.id
    );
    assert!(matches!(
        store.revoke_api_key(&sb, key.view.id).await,
        Err(StoreError::NotFound)
    ));
    let revoked = store
        .revoke_api_key(&sa, key.view.id)
        .await
        .expect("revoke");
    assert!(revoked.view.revoked_at.is_some());
    assert_eq!(store.list_api_keys(&sb, PAGE).await.expect("keys w.b").1, 0);
}

/// Refresh tokens: rotate once; a second use is a replay that revokes the family.
async fn refresh_tokens_rotate_and_catch_reuse(store: &dyn Store, w: &World) {
    let now = chrono::Utc::now();
    let t = |jti: &str| NewRefreshToken {
        jti: jti.into(),
        family_id: "fam-1".into(),
        user_id: w.admin_a.view.id,
        issued_at: now,
        expires_at: now + chrono::Duration::days(7),
    };
    store.insert_refresh_token(&t("r1")).await.expect("r1");
    assert!(matches!(
        store.use_refresh_token("r1").await.expect("use"),
        RefreshUse::Rotated { .. }
    ));
    store.insert_refresh_token(&t("r2")).await.expect("r2");
    assert!(matches!(
        store.use_refresh_token("r1").await.expect("reuse"),
        RefreshUse::Reused { .. }
    ));
    assert_eq!(
        store.use_refresh_token("r2").await.expect("r2 after reuse"),
        RefreshUse::Invalid
    );
    assert_eq!(
        store.use_refresh_token("nope").await.expect("unknown"),
        RefreshUse::Invalid
    );
}

/// Audit: chains per org verify; filters work; tenants do not see each other's entries.
async fn audit_chains_verify_per_organization(store: &dyn Store, w: &World) {
    let (sa, _, su) = w.scopes();
    for action in ["auth.login", "team.create", "team.update"] {
        store
            .append_audit(&audit(Some(w.a.id), action))
            .await
            .expect("append w.a");
    }
    store
        .append_audit(&audit(Some(w.b.id), "auth.login"))
        .await
        .expect("append w.b");
    store
        .append_audit(&audit(None, "organization.create"))
        .await
        .expect("append platform");
    let v = store
        .verify_audit_chain(Some(w.a.id))
        .await
        .expect("verify w.a");
    assert!(v.valid && v.entries == 3, "{v:?}");
    assert!(
        store
            .verify_audit_chain(None)
            .await
            .expect("verify platform")
            .valid
    );
    let q = AuditLogQuery {
        action: Some("auth.login".into()),
        ..Default::default()
    };
    let (rows, total) = store.list_audit(&sa, &q, PAGE).await.expect("audit w.a");
    assert_eq!((rows.len(), total), (1, 1));
    assert_eq!(rows[0].organization_id, Some(w.a.id));
    assert_eq!(
        store
            .list_audit(&su, &AuditLogQuery::default(), PAGE)
            .await
            .expect("audit as user")
            .1,
        0
    );
}

/// Deleting an organization cascades to its teams and users.
async fn deleting_an_organization_cascades(store: &dyn Store, w: &World) {
    store.delete_organization(w.ob).await.expect("delete w.b");
    assert!(matches!(
        store
            .user_by_id(&Scope::platform(), w.admin_b.view.id)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_organization(w.ob).await,
        Err(StoreError::NotFound)
    ));
}

/// Overwrites one stored audit entry under the append-only trigger, as an attacker with database access
/// would, and checks that verification points at it.
/// An attacker with the table's rights, through `exec` on a second connection, changes one entry: the
/// append-only trigger refuses until `unguard` turns it off, and then the chain shows the break.
async fn tamper_is_detected(db: &TestDb, unguard: &str) {
    let store = db.store().as_ref();
    let org = store
        .insert_organization(&NewOrganization {
            name: "Tamper".into(),
            settings: OrgSettings::default(),
            retention_days: 90,
        })
        .await
        .expect("org");
    let first = store
        .append_audit(&audit(Some(org.id), "a"))
        .await
        .expect("a");
    let second = store
        .append_audit(&audit(Some(org.id), "b"))
        .await
        .expect("b");
    store
        .append_audit(&audit(Some(org.id), "c"))
        .await
        .expect("c");
    assert!(
        store
            .verify_audit_chain(Some(org.id))
            .await
            .expect("verify")
            .valid
    );
    let _ = first;
    let upd = format!(
        "UPDATE audit_logs SET action = 'x' WHERE id = {}",
        second.id
    );
    let refused = db.execute_elsewhere(&upd).await;
    assert!(
        refused.is_err(),
        "the append-only trigger must refuse updates"
    );
    db.execute_elsewhere(unguard)
        .await
        .expect("turn the trigger off");
    db.execute_elsewhere(&upd).await.expect("tamper");
    let v = store
        .verify_audit_chain(Some(org.id))
        .await
        .expect("verify after tamper");
    assert!(!v.valid);
    assert_eq!(v.first_invalid_id, Some(second.id));
}

#[tokio::test]
async fn story_on_sqlite() {
    let mut db = TestDb::sqlite().await;
    db.checks()
        .allow_broken_audit_chain("the story tampers with an entry to see the break found");
    story(db.store().as_ref()).await;
    tamper_is_detected(&db, "DROP TRIGGER audit_logs_no_update").await;
}

#[tokio::test]
async fn story_on_postgres() {
    let Some(mut db) = TestDb::postgres_if_set().await else {
        return;
    };
    db.checks()
        .allow_broken_audit_chain("the story tampers with an entry to see the break found");
    story(db.store().as_ref()).await;
    let unguard = "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update";
    tamper_is_detected(&db, unguard).await;
}

#[tokio::test]
async fn concurrent_audit_appends_keep_one_chain() {
    let mut dbs = vec![TestDb::sqlite().await];
    if let Some(pg) = TestDb::postgres_if_set().await {
        dbs.push(pg);
    }
    for db in dbs {
        let org = db
            .store()
            .insert_organization(&NewOrganization {
                name: "Busy".into(),
                settings: OrgSettings::default(),
                retention_days: 90,
            })
            .await
            .expect("org");
        let mut tasks = Vec::new();
        for i in 0..40 {
            let s = db.store().clone();
            tasks.push(tokio::spawn(async move {
                s.append_audit(&audit(Some(org.id), &format!("e{i}"))).await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("append");
        }
        let v = db
            .store()
            .verify_audit_chain(Some(org.id))
            .await
            .expect("verify");
        assert!(
            v.valid && v.entries == 40,
            "{}: {v:?}",
            db.store().backend()
        );
    }
}
