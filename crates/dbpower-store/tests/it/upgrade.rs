//! Upgrading a database that holds data. The migration that made e-mail addresses unique per
//! organization rebuilds the users table on SQLite; every row, and every foreign key into the table,
//! must survive it on both backends.

use std::str::FromStr;

use dbpower_core::{OrgId, Scope};
use dbpower_store::{NewOrganization, NewUser, StoreError};
use dbpower_testkit::{TestDb, execute_on, postgres_server};
use dbpower_types::{OrgSettings, Role};
use sqlx::Connection;

/// The last migration before e-mail addresses became unique per organization.
const BEFORE: i64 = 7;

/// An organization with an administrator who made an api key and holds a refresh token, and a
/// platform administrator: written with the schema as it was at [`BEFORE`].
const PEOPLE: &str = "\
INSERT INTO organizations (name, settings, retention_days, created_at, updated_at) \
VALUES ('Acme', '{}', 90, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO users (email, password_hash, role, organization_id, created_at, updated_at, token_version) \
VALUES ('root@upgrade.test', 'hash-root', 'SUPER_ADMIN', NULL, '2026-01-01T00:00:00Z', \
'2026-01-01T00:00:00Z', 3), \
('oa@acme.test', 'hash-oa', 'ORG_ADMIN', (SELECT id FROM organizations WHERE name = 'Acme'), \
'2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z', 0);
INSERT INTO api_keys (organization_id, key_id, name, secret_ciphertext, created_by, created_at) \
VALUES ((SELECT id FROM organizations WHERE name = 'Acme'), 'dbp_upgrade', 'agent', 'ciphertext', \
(SELECT id FROM users WHERE email = 'oa@acme.test'), '2026-01-03T00:00:00Z');
INSERT INTO refresh_tokens (jti, family_id, user_id, issued_at, expires_at) \
VALUES ('jti-1', 'family-1', (SELECT id FROM users WHERE email = 'oa@acme.test'), \
'2026-01-03T00:00:00Z', '2099-01-01T00:00:00Z');";

#[tokio::test]
async fn sqlite_keeps_people_and_their_references() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite:{}", dir.path().join("old.db").display());
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
        .expect("url")
        .create_if_missing(true)
        .foreign_keys(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open");
    let old = sqlx::migrate!("./migrations/sqlite");
    old.run_to(BEFORE, &mut conn).await.expect("the old schema");
    conn.close().await.expect("close");
    upgrade_and_check(&url).await;
}

#[tokio::test]
async fn postgres_keeps_people_and_their_references() {
    let Some(server) = postgres_server() else {
        return;
    };
    let db = TestDb::empty_postgres(&server).await;
    let url = db.url().to_string();
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    let old = sqlx::migrate!("./migrations/postgres");
    old.run_to(BEFORE, &mut conn).await.expect("the old schema");
    conn.close().await.expect("close");
    upgrade_and_check(&url).await;
}

fn person(email: &str, role: Role, org: Option<i64>) -> NewUser {
    NewUser {
        email: email.into(),
        password_hash: "hash-new".into(),
        full_name: None,
        role,
        organization_id: org,
        team_id: None,
        identity_id: None,
    }
}

/// Writes [`PEOPLE`] into the database at `url`, which has the schema of [`BEFORE`], then upgrades it
/// and checks that everyone and every reference is still there.
async fn upgrade_and_check(url: &str) {
    execute_on(url, PEOPLE).await.expect("rows");
    let store = dbpower_store::connect(url).await.expect("open");
    store.migrate().await.expect("upgrade");

    // Every row is still there, as it was.
    let root = store
        .user_for_login("root@upgrade.test", None)
        .await
        .expect("platform account");
    assert_eq!(
        (
            root.password_hash.as_str(),
            root.view.role,
            root.token_version
        ),
        ("hash-root", Role::SuperAdmin, 3)
    );
    let oa = store
        .user_for_login("oa@acme.test", Some("Acme"))
        .await
        .expect("organization account");
    let acme = oa.view.organization_id.expect("organization");
    let keys = store
        .list_api_keys(&Scope::platform(), page())
        .await
        .expect("keys")
        .0;
    assert_eq!(
        keys.iter().map(|k| k.view.created_by).collect::<Vec<_>>(),
        vec![Some(oa.view.id)],
        "the api key still names its creator"
    );

    // Addresses are unique per organization now, and among platform accounts.
    let globex = store
        .insert_organization(&NewOrganization {
            name: "Globex".into(),
            settings: OrgSettings::default(),
            retention_days: 90,
        })
        .await
        .expect("organization");
    let twin = store
        .insert_user(&person("oa@acme.test", Role::OrgAdmin, Some(globex.id)))
        .await
        .expect("the same address in another organization");
    assert_ne!(twin.view.id, oa.view.id);
    for (org, role) in [(Some(acme), Role::User), (None, Role::SuperAdmin)] {
        let email = if org.is_some() {
            "oa@acme.test"
        } else {
            "root@upgrade.test"
        };
        assert!(matches!(
            store.insert_user(&person(email, role, org)).await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert_eq!(
        store
            .user_for_login("oa@acme.test", Some("Globex"))
            .await
            .expect("twin")
            .view
            .id,
        twin.view.id
    );

    // The foreign keys into the rebuilt table still act: deleting the organization removes its people,
    // and with them their refresh tokens and api keys; the platform account and the twin stay.
    store
        .delete_organization(OrgId::from_credential(acme))
        .await
        .expect("delete");
    assert!(matches!(
        store.user_for_login("oa@acme.test", Some("Acme")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.use_refresh_token("jti-1").await,
        Ok(dbpower_store::RefreshUse::Invalid)
    ));
    assert_eq!(store.count_users().await.expect("count"), 2);
}

fn page() -> dbpower_store::PageRequest {
    dbpower_store::PageRequest {
        page: 1,
        per_page: 50,
    }
}
