//! What the platform stores and shows, through the HTTP API: `pii_only` keeps ordinary literals but no
//! password, key, token, hash, IBAN, national id or e-mail; `strict` keeps no literal or comment text
//! anywhere, the class fingerprint included.

use reqwest::Method as M;
use serde_json::{Value, json};

use super::tenants::Env;
use crate::support::post_signed_batch;

async fn ingest(env: &Env, oa: &str, db: &str, statements: &[&str]) -> Vec<Value> {
    let key = env.key(oa).await;
    let queries: Vec<Value> = statements
        .iter()
        .map(|s| json!({"sql_text": s, "execution_time_ms": 12.0, "database_type": db}))
        .collect();
    let r = post_signed_batch(
        &reqwest::Client::new(),
        env.c.base(),
        &key,
        &format!("scrub-{}", uuid::Uuid::new_v4()),
        &json!({ "queries": queries }),
    )
    .await;
    assert_eq!(r.status().as_u16(), 202);
    let (_, list) = env
        .c
        .call(M::GET, "/api/v1/slow-queries?per_page=100", Some(oa), None)
        .await;
    let (_, classes) = env
        .c
        .call(M::GET, "/api/v1/query-classes?per_page=100", Some(oa), None)
        .await;
    let mut out = list["items"].as_array().cloned().unwrap_or_default();
    out.extend(classes["items"].as_array().cloned().unwrap_or_default());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn pii_only_keeps_no_secret_and_every_ordinary_literal() {
    let env = Env::sqlite().await;
    let (org, oa) = env.org("Lenient").await;
    env.pii_only(org, &oa).await;
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let stored = ingest(
        &env,
        &oa,
        "mysql",
        &[
            "CREATE USER 'app'@'%' IDENTIFIED BY 'Zq-hunter2-pw'",
            "ALTER USER 'app'@'%' IDENTIFIED BY 'Zq-hunter3-pw'",
            "SET PASSWORD FOR 'app'@'%' = 'Zq-hunter4-pw'",
            "UPDATE users SET password_hash = '$2b$12$ZqZqZqZqZqZqZqZqZqZqZu1234567890abcdefghijABCDEFGHIJ' WHERE id = 7",
            "SELECT * FROM creds WHERE aws_key = 'AKIAZQZQZQZQZQZQZQZQ' AND note = 'sk_live_ZqZqZqZqZqZqZqZqZqZqZq12'",
            &format!("SELECT * FROM sessions WHERE token = '{jwt}'"),
            "SELECT * FROM payouts WHERE iban = 'GB82 WEST 1234 5698 7654 32'",
            "SELECT * FROM people WHERE ni = 'JG103759A' AND email = 'jos%C3%A9%40example.com'",
            "INSERT INTO events (payload) VALUES ('{\"user\": {\"email\": \"zq.person@example.com\", \"plan\": \"gold\"}}')",
            "SELECT * FROM orders WHERE order_id = 1234567 AND created_at > '2026-12-06 10:00:00' AND ref = '550e8400-e29b-41d4-a716-446655440000'",
            "INSERT INTO settings (name, value) VALUES ('smtp_password', 'Zq-hunter5-pw')",
            "UPDATE config SET value = 'Zq-hunter6-tk' WHERE `key` = 'api_token'",
            "SELECT AES_DECRYPT(card, 'Zq-hunter7-key') FROM wallets WHERE sha = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'",
            "SELECT * FROM creds WHERE note = 'rotated ZqZqrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'",
        ],
    )
    .await;
    let text = serde_json::to_string(&stored).expect("json");
    for secret in [
        "hunter",
        "$2b$12$Zq",
        "AKIAZQ",
        "sk_live_Zq",
        jwt,
        "WEST 1234",
        "JG103759A",
        "jos%C3",
        "zq.person",
        "ZqZqrXUtn",
    ] {
        assert!(!text.contains(secret), "{secret} was stored: {text}");
    }
    for kept in [
        "1234567",
        "2026-12-06 10:00:00",
        "550e8400-e29b-41d4-a716-446655440000",
        "gold",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "smtp_password",
    ] {
        assert!(
            text.contains(kept),
            "{kept} is an ordinary literal and stays"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_mode_stores_no_comment_or_literal_text_anywhere() {
    let env = Env::sqlite().await;
    let (_, oa) = env.org("Strict").await;
    let stored = ingest(
        &env,
        &oa,
        "mysql",
        &[
            "SELECT * FROM t WHERE a = 1 /*! AND zqxexec = 1 */",
            "SELECT * FROM t WHERE b = 2 -- zqx 'comment with a quote\n",
            "SELECT * FROM t WHERE c = 3 # zqx's hash comment",
            "SELECT * FROM t WHERE d = 'zqx baker street, london",
            "SELECT * FROM t WHERE e = \"zqx double\" /*M!100000 zqxmaria */",
        ],
    )
    .await;
    let pg = ingest(
        &env,
        &oa,
        "postgresql",
        &[
            "SELECT * FROM t WHERE a = 1 /* zqx /* nested */ still zqx */",
            "SELECT * FROM t WHERE b = E'zqx\\'s escape'",
            "SELECT * FROM t WHERE c = $zq$ zqx dollar",
        ],
    )
    .await;
    let text = serde_json::to_string(&(stored, pg)).expect("json");
    assert!(text.contains("fingerprint"), "classes were listed");
    assert!(
        !text.to_lowercase().contains("zqx"),
        "literal or comment text stored or shown: {text}"
    );
}
