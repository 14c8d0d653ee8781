//! Starts the real binary on a temporary data directory and walks the platform's first steps over HTTP:
//! the accounts a new user sets up, what a USER may not do, refresh-token rotation, and an audit log that
//! records each step and verifies, over HTTP and from the command line; on SQLite and on PostgreSQL.

use dbpower_testkit::{Client, Proc, TestDb};
use reqwest::Method as M;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{bin, serve_as, token};

const OWNER: (&str, &str) = ("owner@example.com", "owner-password-1");

/// A platform on its own data directory, with what the walk-through sets up: Acme Corp (a team, an
/// identity, an ORG_ADMIN and a USER of the team) and Other Corp with one user.
struct Walk {
    server: Proc,
    dir: tempfile::TempDir,
    c: Client,
    org_id: i64,
    other_user_id: i64,
    /// The ORG_ADMIN's access token; the USER's login answer (with its refresh token).
    oa: String,
    dev_login: Value,
}

impl Walk {
    async fn sqlite() -> Walk {
        let dir = tempfile::tempdir().expect("tmp");
        let db = TestDb::in_data_dir(&dir.path().join("data"));
        Walk::set_up(dir, db).await
    }

    async fn postgres(server: &str) -> Walk {
        let db = TestDb::empty_postgres(server).await;
        Walk::set_up(tempfile::tempdir().expect("tmp"), db).await
    }

    async fn set_up(dir: tempfile::TempDir, db: TestDb) -> Walk {
        let server = serve_as(OWNER)
            .in_dir(dir.path())
            .args(&["--data-dir", "data"])
            .database(db)
            .spawn();
        assert!(
            server
                .output()
                .iter()
                .any(|l| l.contains("Log in as owner@example.com")),
            "{:?}",
            server.output()
        );
        let c = server.client();
        let sa = c.login(OWNER.0, OWNER.1).await;
        let org_id = c
            .create("/api/v1/organizations", &sa, json!({"name": "Acme Corp"}))
            .await;
        let other_id = c
            .create("/api/v1/organizations", &sa, json!({"name": "Other Corp"}))
            .await;
        let team_id = c
            .create(
                "/api/v1/teams",
                &sa,
                json!({"name": "DBA", "organization_id": org_id}),
            )
            .await;
        let ident_id = c
            .create(
                "/api/v1/identities",
                &sa,
                json!({"name": "orders-db", "team_id": team_id}),
            )
            .await;
        c.create("/api/v1/users", &sa, json!({"email": "admin@acme.example", "password": "admin-password-1", "role": "ORG_ADMIN", "organization_id": org_id})).await;
        let oa = c
            .login_in("Acme Corp", "admin@acme.example", "admin-password-1")
            .await;
        c.create("/api/v1/users", &oa, json!({"email": "dev@acme.example", "password": "dev-password-12", "role": "USER", "team_id": team_id, "identity_id": ident_id})).await;
        let other_user_id = c
            .create("/api/v1/users", &sa, json!({"email": "x@other.example", "password": "x-password-123", "role": "USER", "organization_id": other_id}))
            .await;
        let dev_login = c
            .try_login_in("Acme Corp", "dev@acme.example", "dev-password-12")
            .await;
        assert_eq!(dev_login.status, StatusCode::OK, "{dev_login:?}");
        Walk {
            server,
            dir,
            c,
            org_id,
            other_user_id,
            oa,
            dev_login: dev_login.body,
        }
    }
}

/// A USER lists only the users of their organization, finds none of another, and creates none.
async fn a_user_stays_inside_their_organization(w: &Walk) {
    let dev = token(&w.dev_login);
    let users = w.c.get("/api/v1/users", &dev).await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(
        users.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|u| u["organization_id"] == w.org_id),
        "{users:?}"
    );
    let other = format!("/api/v1/users/{}", w.other_user_id);
    assert_eq!(w.c.get(&other, &dev).await.status, StatusCode::NOT_FOUND);
    let r =
        w.c.post(
            "/api/v1/users",
            &dev,
            json!({"email": "y@acme.example", "password": "y-password-123", "role": "USER"}),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
}

/// A refresh token rotates; spending a spent one is reuse, which revokes the whole family.
async fn refresh_rotates_and_reuse_revokes_the_family(w: &Walk) {
    let refresh = |rt: Value| {
        w.c.request(
            M::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": rt})),
        )
    };
    let rt0 = w.dev_login["refresh_token"].clone();
    let rotated = refresh(rt0.clone()).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let rt1 = rotated.body["refresh_token"].clone();
    let reused = refresh(rt0).await;
    assert_eq!(
        (reused.status, reused.error_code()),
        (StatusCode::UNAUTHORIZED, Some("token_reused"))
    );
    assert_eq!(
        refresh(rt1).await.status,
        StatusCode::UNAUTHORIZED,
        "the whole family is revoked"
    );
}

/// The audit log lists each step of the walk-through and verifies over HTTP, and the same verification
/// passes from the command line once the server is stopped.
async fn the_audit_log_lists_each_step_and_verifies(w: Walk) {
    refresh_rotates_and_reuse_revokes_the_family(&w).await;
    let audit = w.c.get("/api/v1/audit-logs?per_page=100", &w.oa).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for want in [
        "team.create",
        "identity.create",
        "user.create",
        "auth.login",
        "auth.refresh",
        "auth.refresh_reuse",
    ] {
        assert!(actions.contains(&want), "{want} not in {actions:?}");
    }
    let verify = w.c.get("/api/v1/audit-logs/verify", &w.oa).await;
    assert_eq!(verify.body["valid"], true, "{verify:?}");
    let Walk {
        server,
        dir,
        org_id,
        ..
    } = w;
    let db = server.stop().expect("the walk's database");

    let mut cmd = bin().command();
    cmd.args(["audit", "verify", "--data-dir", "data"])
        .current_dir(dir.path());
    if let Some(url) = db.database_url() {
        cmd.env("DBPOWER_DATABASE_URL", url);
    }
    let out = cmd.output().expect("audit verify");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok      platform")
            && text.contains(&format!("ok      organization {org_id}")),
        "{text}"
    );
}

on_both_stores!(a_user_stays_inside_their_organization, &Walk);

on_both_stores!(refresh_rotates_and_reuse_revokes_the_family, &Walk);

on_both_stores!(the_audit_log_lists_each_step_and_verifies, Walk);

#[tokio::test]
async fn zero_configuration_start_prints_credentials_once() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = bin().serve().in_dir(dir.path()).spawn();
    let banner = server.output().join("\n");
    assert!(server.base.starts_with("http://127.0.0.1:"), "{banner}");
    let password = server.generated_password();
    let file = dir.path().join("dbpower-data/bootstrap-admin.txt");
    let saved = std::fs::read_to_string(&file).expect("credentials file");
    assert!(saved.contains(&password));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        dir.path().join("dbpower-data/dbpower.db").exists(),
        "SQLite file in the default data dir"
    );
    let c = server.client();
    let t = c.login("admin@dbpower.local", &password).await;
    let orgs = c.get("/api/v1/organizations", &t).await.body;
    assert_eq!(orgs["items"][0]["name"], "Demo Organization", "{orgs}");
    // The demo organization's dashboard is alive: a week of slow queries in about 20 classes.
    let dash = c.get("/api/v1/stats/dashboard", &t).await.body;
    assert!(dash["total_queries"].as_i64().unwrap_or(0) >= 200, "{dash}");
    let days = dash["chart_data"].as_array().expect("chart");
    assert_eq!(days.len(), 7);
    assert!(
        days.iter().all(|d| d["queries"].as_i64().unwrap_or(0) > 0),
        "every day has data: {dash}"
    );
    let classes = c.get("/api/v1/query-classes?per_page=100", &t).await.body;
    assert_eq!(classes["total"], 20, "{classes}");
    let dump = classes.to_string();
    for pii in ["@example.com", "4532-0151", "192.168.", "+1 415"] {
        assert!(
            !dump.contains(pii),
            "demo data is scrubbed like any other: {pii}"
        );
    }
    drop(server);

    // A restart neither re-prints the password nor creates a second demo organization.
    let again = bin().serve().in_dir(dir.path()).spawn();
    let banner = again.output().join("\n");
    assert!(!banner.contains(&password), "{banner}");
    assert!(banner.contains("bootstrap-admin.txt"), "{banner}");
    let c = again.client();
    let t = c.login("admin@dbpower.local", &password).await;
    let orgs = c.get("/api/v1/organizations", &t).await.body;
    assert_eq!(orgs["total"], 1);
}

#[test]
fn production_mode_refuses_unsafe_defaults() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = bin()
        .command()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("DBPOWER_ENV", "production")
        .env("DBPOWER_JWT_SECRET", "changeme")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DBPOWER_JWT_SECRET")
            && err.contains("DBPOWER_DATABASE_URL")
            && err.contains("DBPOWER_MASTER_KEY"),
        "{err}"
    );
    assert!(
        !dir.path().join("dbpower-data").exists(),
        "nothing written when refusing to start"
    );
}
