//! Login, refresh rotation with reuse detection, logout, disabled accounts and login throttling.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Settings, on_all_backends, on_all_backends_with};
use dbpower_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn login_me_and_token_types() {
    on_all_backends(async |app| {
        let r = app.try_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["token_type"], "bearer");
        assert_eq!(r.body["expires_in"], 1800);
        assert_eq!(r.body["user"]["role"], "SUPER_ADMIN");
        assert!(r.body["user"].get("password_hash").is_none());
        let access = r.body["access_token"].as_str().expect("access");
        let refresh = r.body["refresh_token"].as_str().expect("refresh");

        let me = app.get("/api/v1/auth/me", access).await;
        assert_eq!(
            (me.status, me.body["email"].as_str()),
            (StatusCode::OK, Some(ADMIN_EMAIL))
        );
        // A refresh token is never an access token.
        let r = app.get("/api/v1/auth/me", refresh).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token"))
        );
        assert_eq!(
            r.headers.get("www-authenticate").map(|v| v.to_str().ok()),
            Some(Some("Bearer"))
        );
        let r = app.get("/api/v1/auth/me", "garbage").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        // Wrong password and unknown account look the same.
        let a = app.try_login(ADMIN_EMAIL, "wrong-password-1").await;
        let b = app
            .try_login("nobody@dbpower.test", "wrong-password-1")
            .await;
        assert_eq!(
            (a.status, b.status),
            (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(a.body["error"]["code"], b.body["error"]["code"]);
        assert_eq!(a.body["error"]["message"], b.body["error"]["message"]);
        // Emails are case-insensitive.
        app.login(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD).await;
    })
    .await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    on_all_backends(async |app| {
        let first = app.try_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let r0 = first.body["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_string();
        let other_login = app.try_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let other_refresh = other_login.body["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_string();

        let refresh = async |t: &str| {
            app.request(
                Method::POST,
                "/api/v1/auth/refresh",
                None,
                Some(json!({"refresh_token": t})),
            )
            .await
        };
        let second = refresh(&r0).await;
        assert_eq!(second.status, StatusCode::OK, "{second:?}");
        let r1 = second.body["refresh_token"]
            .as_str()
            .expect("r1")
            .to_string();
        assert_ne!(r0, r1);
        let new_access = second.body["access_token"].as_str().expect("access");
        assert_eq!(
            app.get("/api/v1/auth/me", new_access).await.status,
            StatusCode::OK
        );

        // Replaying the spent token is detected and revokes every token of that login (r1 included)...
        let replay = refresh(&r0).await;
        assert_eq!(
            (replay.status, replay.body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("token_reused"))
        );
        let r = refresh(&r1).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_token"))
        );
        // ...but not the tokens of another login.
        assert_eq!(refresh(&other_refresh).await.status, StatusCode::OK);
        // An access token is never a refresh token.
        let r = refresh(new_access).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        // Logout revokes.
        let login = app.try_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let access = login.body["access_token"].as_str().expect("a");
        let rt = login.body["refresh_token"].as_str().expect("r");
        let out = app
            .request(
                Method::POST,
                "/api/v1/auth/logout",
                Some(access),
                Some(json!({"refresh_token": rt})),
            )
            .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT, "{out:?}");
        assert_eq!(refresh(rt).await.status, StatusCode::UNAUTHORIZED);

        let audit = app
            .get(
                "/api/v1/audit-logs?action=auth.refresh_reuse",
                &app.admin().await,
            )
            .await;
        assert_eq!(audit.body["total"], 1, "{audit:?}");
    })
    .await;
}

#[tokio::test]
async fn disabled_users_cannot_log_in_refresh_or_use_tokens() {
    on_all_backends(async |app| {
        let admin = app.admin().await;
        let org = app.create("/api/v1/organizations", &admin, json!({"name": "Acme"})).await;
        let uid = app
            .create("/api/v1/users", &admin, json!({"email": "u@acme.test", "password": "user-password-1", "role": "USER", "organization_id": org}))
            .await;
        let login = app.try_login_in("Acme", "u@acme.test", "user-password-1").await;
        let access = login.body["access_token"].as_str().expect("a").to_string();
        let rt = login.body["refresh_token"].as_str().expect("r").to_string();
        let r = app.patch(&format!("/api/v1/users/{uid}"), &admin, json!({"is_active": false})).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(app.get("/api/v1/auth/me", &access).await.body["error"]["code"], "account_disabled");
        assert_eq!(app.try_login_in("Acme", "u@acme.test", "user-password-1").await.body["error"]["code"], "account_disabled");
        let r = app.request(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": rt}))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        // Re-enabled, a fresh login works again.
        app.patch(&format!("/api/v1/users/{uid}"), &admin, json!({"is_active": true})).await;
        app.login_in("Acme", "u@acme.test", "user-password-1").await;
    })
    .await;
}

#[tokio::test]
async fn failed_logins_are_throttled_before_hashing() {
    let settings = |s: &mut Settings| {
        s.login.max_failures_per_account = 3;
        s.login.window_secs = 600;
    };
    on_all_backends_with(settings, async |app| {
        for _ in 0..3 {
            assert_eq!(
                app.try_login(ADMIN_EMAIL, "wrong-password-1").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // Even the right password is refused while the account is locked.
        let r = app.try_login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (
                StatusCode::TOO_MANY_REQUESTS,
                Some("too_many_login_attempts")
            )
        );
        let retry: u64 = r
            .headers
            .get("retry-after")
            .expect("Retry-After")
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=600).contains(&retry));
    })
    .await;
}
