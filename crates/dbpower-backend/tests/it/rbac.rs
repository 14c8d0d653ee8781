//! Tenants, roles and the audit trail: the path a new organization takes, and every way across a
//! tenant or role boundary that must be closed.

use reqwest::StatusCode;
use serde_json::json;

use crate::on_all_backends;

#[tokio::test]
async fn a_new_organization_end_to_end() {
    on_all_backends(async |app| {
        let sa = app.admin().await;
        let acme = app.create("/api/v1/organizations", &sa, json!({"name": "Acme", "retention_days": 30})).await;
        let globex = app.create("/api/v1/organizations", &sa, json!({"name": "Globex"})).await;
        assert_eq!(app.post("/api/v1/organizations", &sa, json!({"name": "Acme"})).await.status, StatusCode::CONFLICT);

        let team = app.create("/api/v1/teams", &sa, json!({"name": "Payments", "organization_id": acme})).await;
        let identity = app.create("/api/v1/identities", &sa, json!({"name": "payments-db", "team_id": team})).await;
        let org_admin = json!({"email": "boss@acme.test", "password": "boss-password-1", "role": "ORG_ADMIN", "organization_id": acme});
        app.create("/api/v1/users", &sa, org_admin).await;
        let oa = app.login_in("Acme", "boss@acme.test", "boss-password-1").await;

        // The org admin works inside its own organization without naming it.
        let user = json!({"email": "dev@acme.test", "password": "dev-password-1", "role": "USER", "team_id": team, "identity_id": identity});
        let dev_id = app.create("/api/v1/users", &oa, user).await;
        let lead = json!({"email": "lead@acme.test", "password": "lead-password-1", "role": "TEAM_LEAD", "team_id": team});
        app.create("/api/v1/users", &oa, lead).await;
        let g_admin = json!({"email": "boss@globex.test", "password": "boss-password-1", "role": "ORG_ADMIN", "organization_id": globex});
        let globex_admin_id = app.create("/api/v1/users", &sa, g_admin).await;
        let globex_team = app.create("/api/v1/teams", &sa, json!({"name": "Ops", "organization_id": globex})).await;

        let dev = app.login_in("Acme", "dev@acme.test", "dev-password-1").await;
        // A USER cannot create users...
        let r = app.post("/api/v1/users", &dev, json!({"email": "x@acme.test", "password": "x-password-12", "role": "USER"})).await;
        assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
        // ...sees only itself among users, and nothing of another organization.
        let users = app.get("/api/v1/users", &dev).await;
        assert_eq!(users.body["total"], 1, "{users:?}");
        assert_eq!(users.body["items"][0]["email"], "dev@acme.test");
        assert_eq!(app.get(&format!("/api/v1/users/{globex_admin_id}"), &dev).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/v1/organizations/{globex}"), &dev).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/api-keys", &dev).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get("/api/v1/audit-logs", &dev).await.status, StatusCode::FORBIDDEN);

        // The org admin cannot reach the other organization either: 404, never 403.
        for path in [format!("/api/v1/users/{globex_admin_id}"), format!("/api/v1/teams/{globex_team}"), format!("/api/v1/organizations/{globex}")] {
            assert_eq!(app.get(&path, &oa).await.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(app.delete(&path, &oa).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        let r = app.post("/api/v1/teams", &oa, json!({"name": "Sneaky", "organization_id": globex})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
        let r = app.post("/api/v1/identities", &oa, json!({"name": "sneaky", "team_id": globex_team})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
        let orgs = app.get("/api/v1/organizations", &oa).await;
        assert_eq!(orgs.body["total"], 1);
        assert_eq!(orgs.body["items"][0]["retention_days"], 30);

        // Nobody grants above their own role.
        let r = app.post("/api/v1/users", &oa, json!({"email": "sa@acme.test", "password": "sa-password-12", "role": "SUPER_ADMIN"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let tl = app.login_in("Acme", "lead@acme.test", "lead-password-1").await;
        let r = app.post("/api/v1/users", &tl, json!({"email": "oa2@acme.test", "password": "oa-password-12", "role": "ORG_ADMIN"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // A team lead adds users to its own team, and sees its team's users.
        let added = app.post("/api/v1/users", &tl, json!({"email": "new@acme.test", "password": "new-password-1", "role": "USER"})).await;
        assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
        assert_eq!(added.body["team_id"], team);
        assert_eq!(app.get("/api/v1/users", &tl).await.body["total"], 3);
        let r = app.patch(&format!("/api/v1/users/{dev_id}"), &tl, json!({"role": "TEAM_LEAD"})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        // A user cannot promote itself.
        let r = app.patch(&format!("/api/v1/users/{dev_id}"), &dev, json!({"role": "ORG_ADMIN"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // Api keys: the secret once, never again; revoke.
        let created = app.post("/api/v1/api-keys", &oa, json!({"name": "agent-1", "team_id": team})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        let secret = created.body["secret"].as_str().expect("secret").to_string();
        assert!(secret.starts_with("dbps_") && secret.len() > 40);
        let key_id = created.body["id"].as_i64().expect("id");
        let list = app.get("/api/v1/api-keys", &oa).await;
        assert_eq!(list.body["total"], 1);
        assert!(!list.body.to_string().contains(&secret), "the list never shows the secret");
        assert!(!app.get(&format!("/api/v1/api-keys/{key_id}"), &oa).await.body.to_string().contains(&secret));
        assert_eq!(app.delete(&format!("/api/v1/api-keys/{key_id}"), &oa).await.status, StatusCode::NO_CONTENT);
        assert!(app.get(&format!("/api/v1/api-keys/{key_id}"), &oa).await.body["revoked_at"].is_string());
        let g = app.login_in("Globex", "boss@globex.test", "boss-password-1").await;
        assert_eq!(app.delete(&format!("/api/v1/api-keys/{key_id}"), &g).await.status, StatusCode::NOT_FOUND);

        // The audit log lists each step for the organization, and its chain verifies.
        let audit = app.get("/api/v1/audit-logs?per_page=200", &oa).await;
        let actions: Vec<&str> = audit.body["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).collect();
        for want in ["team.create", "identity.create", "user.create", "user.update", "api_key.create", "api_key.revoke", "auth.login"] {
            assert!(actions.contains(&want), "{want} missing from {actions:?}");
        }
        assert!(audit.body["items"].as_array().expect("items").iter().all(|e| e["organization_id"] == acme));
        let logins = app.get("/api/v1/audit-logs?action=auth.login&resource=user", &oa).await;
        assert!(logins.body["total"].as_i64().expect("total") >= 3);
        let verify = app.get("/api/v1/audit-logs/verify", &oa).await;
        assert_eq!((verify.body["valid"].as_bool(), verify.body["organization_id"].as_i64()), (Some(true), Some(acme)), "{verify:?}");
        assert!(verify.body["entries"].as_i64().expect("entries") >= 8);
        assert_eq!(app.get(&format!("/api/v1/audit-logs/verify?organization_id={globex}"), &oa).await.status, StatusCode::NOT_FOUND);
        let platform = app.get("/api/v1/audit-logs/verify", &sa).await;
        assert_eq!(platform.body["valid"], true);

        // Deleting the organization removes its people; the super admin's view shrinks.
        assert_eq!(app.delete(&format!("/api/v1/organizations/{globex}"), &oa).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.delete(&format!("/api/v1/organizations/{globex}"), &sa).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.try_login_in("Globex", "boss@globex.test", "boss-password-1").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.get("/api/v1/auth/me", &g).await.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn updates_and_deletes_follow_the_rules() {
    on_all_backends(async |app| {
        let sa = app.admin().await;
        let org = app.create("/api/v1/organizations", &sa, json!({"name": "Initech"})).await;
        app.create("/api/v1/users", &sa, json!({"email": "a@initech.test", "password": "admin-password1", "role": "ORG_ADMIN", "organization_id": org})).await;
        let oa = app.login_in("Initech", "a@initech.test", "admin-password1").await;
        let team = app.create("/api/v1/teams", &oa, json!({"name": "T1"})).await;
        let r = app.patch(&format!("/api/v1/teams/{team}"), &oa, json!({"description": "first team"})).await;
        assert_eq!((r.status, r.body["name"].as_str(), r.body["description"].as_str()), (StatusCode::OK, Some("T1"), Some("first team")));
        let r = app.patch(&format!("/api/v1/organizations/{org}"), &oa, json!({"settings": {"scrub_level": "pii_only"}})).await;
        assert_eq!((r.status, r.body["settings"]["scrub_level"].as_str()), (StatusCode::OK, Some("pii_only")), "{r:?}");
        let r = app.patch(&format!("/api/v1/organizations/{org}"), &oa, json!({"settings": {"scrub_levle": "x"}})).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "unknown settings keys are refused: {r:?}");
        let r = app.patch(&format!("/api/v1/organizations/{org}"), &oa, json!({"retention_days": 0})).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("retention_days")));
        // Self-service: own password, not own role or state; nobody deletes themselves.
        let me = app.get("/api/v1/auth/me", &oa).await.body["id"].as_i64().expect("id");
        let r = app.patch(&format!("/api/v1/users/{me}"), &oa, json!({"password": "a-new-password1"})).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password")), "the current password is needed");
        let r = app.patch(&format!("/api/v1/users/{me}"), &oa, json!({"password": "a-new-password1", "current_password": "admin-password1"})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(app.get("/api/v1/auth/me", &oa).await.status, StatusCode::UNAUTHORIZED, "the old session ended");
        let oa = app.login_in("Initech", "a@initech.test", "a-new-password1").await;
        assert_eq!(app.patch(&format!("/api/v1/users/{me}"), &oa, json!({"is_active": false})).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.delete(&format!("/api/v1/users/{me}"), &oa).await.status, StatusCode::FORBIDDEN);
        let ident = app.create("/api/v1/identities", &oa, json!({"name": "app", "team_id": team})).await;
        assert_eq!(app.patch(&format!("/api/v1/identities/{ident}"), &oa, json!({"name": "app-2"})).await.body["name"], "app-2");
        assert_eq!(app.delete(&format!("/api/v1/identities/{ident}"), &oa).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("/api/v1/teams/{team}"), &oa).await.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/teams/{team}"), &oa).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.post("/api/v1/organizations", &oa, json!({"name": "Mine"})).await.status, StatusCode::FORBIDDEN);
        let page = app.get("/api/v1/users?page=2&per_page=1", &sa).await;
        assert_eq!((page.body["page"].as_u64(), page.body["per_page"].as_u64(), page.body["items"].as_array().map(Vec::len)), (Some(2), Some(1), Some(1)));
    })
    .await;
}
