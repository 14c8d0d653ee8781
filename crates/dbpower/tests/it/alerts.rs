//! Alerts end to end against the real binary: a week of backdated traffic for 20 classes, then one class
//! three times slower and one new class within the last hour. Exactly one regression alert and one
//! new-class alert reach a Standard-Webhooks receiver (signatures checked), a Slack-protocol receiver,
//! an SMTP server and a PagerDuty-protocol receiver; a receiver failing three times gets its alert on the
//! fourth attempt, once; a backend killed between send and record sends again with the same id. A team
//! that opted in gets last week's report by e-mail once, with its own classes only.

use std::time::Duration;

use chrono::{DateTime, Duration as Span, Timelike, Utc};
use dbpower_testkit::{
    ApiKey, Behaviour, Client, HttpReceiver, Proc, Received, SmtpReceiver, TestDb,
    verify_standard_webhook,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::serve_as;

const OWNER: (&str, &str) = ("alerts-owner@example.com", "alerts-owner-password-1");
const WAIT: Duration = Duration::from_secs(60);

struct AlertEnv {
    db: TestDb,
}

impl AlertEnv {
    async fn sqlite() -> AlertEnv {
        AlertEnv {
            db: TestDb::sqlite().await,
        }
    }
    async fn postgres(server: &str) -> AlertEnv {
        AlertEnv {
            db: TestDb::postgres(server).await,
        }
    }
}

/// The binary with fast alerting: evaluated every second, retries after 200 ms, short leases (a claimed
/// delivery's lease lasts its time limit and 5 s more).
fn start(db: TestDb, dir: &std::path::Path, smtp: &SmtpReceiver) -> Proc {
    start_with_timeout(db, dir, smtp, 2)
}

fn start_with_timeout(
    db: TestDb,
    dir: &std::path::Path,
    smtp: &SmtpReceiver,
    timeout: u64,
) -> Proc {
    let smtp_url = smtp.url();
    serve_as(OWNER)
        .in_dir(dir)
        .database(db)
        .with_settings(move |s| {
            s.alerts.evaluate_every_secs = 1;
            s.alerts.retry_base_ms = 200;
            s.alerts.lease_secs = 1;
            s.alerts.delivery_timeout_secs = timeout;
            s.alerts.smtp_url = Some(dbpower_testkit::secret(&smtp_url));
            s.alerts.smtp_from = "DBPower <alerts@dbpower.test>".into();
            s.alerts.public_url = Some("https://dbpower.test".into());
        })
        .spawn()
}

struct Org {
    token: String,
    id: i64,
    key: ApiKey,
}

async fn organization(c: &Client) -> Org {
    let sa = c.login(OWNER.0, OWNER.1).await;
    let org = c
        .post("/api/v1/organizations", &sa, json!({"name": "Alerting Co"}))
        .await;
    assert_eq!(org.status, StatusCode::CREATED, "{}", org.body);
    let id = org.body["id"].as_i64().expect("id");
    let key = c
        .post(
            "/api/v1/api-keys",
            &sa,
            json!({"name": "agent", "organization_id": id}),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    Org {
        token: sa,
        id,
        key: ApiKey::from_created(&key.body),
    }
}

async fn channel(c: &Client, o: &Org, name: &str, kind: &str, config: Value) -> (i64, Value) {
    let r = c
        .post(
            "/api/v1/alert-channels",
            &o.token,
            json!({"name": name, "kind": kind, "config": config, "organization_id": o.id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (r.body["channel"]["id"].as_i64().expect("id"), r.body)
}

/// The token of the ORG_ADMIN of a new organization `name`, created by `o`'s super admin.
async fn other_admin(c: &Client, o: &Org, name: &str) -> String {
    let other = c
        .post("/api/v1/organizations", &o.token, json!({ "name": name }))
        .await;
    let other_id = other.body["id"].as_i64().expect("id");
    let email = format!("admin@{}.example", other_id);
    let user = c
        .post(
            "/api/v1/users",
            &o.token,
            json!({"email": email, "password": "other-admin-password-1",
                   "role": "ORG_ADMIN", "organization_id": other_id}),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.body);
    c.login_in(name, &email, "other-admin-password-1").await
}

/// A webhook channel named `hook` (never sent to in the tests that make it).
async fn hook_channel(c: &Client, o: &Org) -> i64 {
    let url = json!({"url": "https://hooks.example.com/x"});
    channel(c, o, "hook", "webhook", url).await.0
}

/// A small deterministic noise in [-0.2, 0.2].
fn noise(i: u64) -> f64 {
    let x = i
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 33;
    (x % 4001) as f64 / 10_000.0 - 0.2
}

fn query(class: usize, ms: f64, calls: u64, at: DateTime<Utc>) -> Value {
    json!({
        "sql_text": format!("SELECT a, b FROM table_{class} WHERE id = 42"),
        "execution_time_ms": ms,
        "calls": calls,
        "database_type": "postgresql",
        "observed_at": at.to_rfc3339(),
    })
}

/// Seven days of hourly traffic for 20 classes (day/night load, +-20% latency noise) before the window,
/// then the window: every class as usual except class 7, three times slower, and a new class.
async fn ingest_traffic(c: &Client, o: &Org, window_start: DateTime<Utc>, now: DateTime<Utc>) {
    let mut items = Vec::new();
    let mut seq = 0u64;
    for h in 1..=168i64 {
        let hour = window_start - Span::hours(h);
        let load = 1.0 + 0.6 * ((hour.hour() as f64 - 14.0) / 24.0 * std::f64::consts::TAU).cos();
        for class in 0..20 {
            seq += 1;
            let base = 5.0 + class as f64 * 3.0;
            let calls = (30.0 * load).round() as u64;
            items.push(query(
                class,
                base * (1.0 + noise(seq)),
                calls,
                hour + Span::minutes(20),
            ));
        }
    }
    for class in 0..20 {
        for i in 0..30 {
            seq += 1;
            let base = 5.0 + class as f64 * 3.0;
            let slow = if class == 7 { 3.0 } else { 1.0 };
            let at = now - Span::seconds(30 + i);
            items.push(query(class, base * slow * (1.0 + noise(seq)), 1, at));
        }
    }
    for i in 0..30 {
        items.push(json!({
            "sql_text": "SELECT * FROM brand_new_report WHERE day = '2026-01-01'",
            "execution_time_ms": 250.0 + i as f64,
            "database_type": "postgresql",
            "observed_at": (now - Span::seconds(20 + i)).to_rfc3339(),
        }));
    }
    for (n, chunk) in items.chunks(500).enumerate() {
        let r = c
            .ingest(&o.key, &format!("traffic-{n}"), &json!({"queries": chunk}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    }
}

fn kinds(received: &[Received], pick: impl Fn(&Value) -> Option<String>) -> Vec<String> {
    let mut k: Vec<String> = received.iter().filter_map(|r| pick(&r.json())).collect();
    k.sort();
    k
}

async fn one_regression_and_one_new_class_reach_every_channel_once(env: AlertEnv) {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = SmtpReceiver::start();
    let hook = HttpReceiver::start(Behaviour::Ok);
    let flaky = HttpReceiver::start(Behaviour::FailFirst(3));
    let slack = HttpReceiver::start_with(Behaviour::Ok, 200, "ok");
    let pd = HttpReceiver::start_with(
        Behaviour::Ok,
        202,
        r#"{"status":"success","message":"Event processed"}"#,
    );
    let app = start(env.db, dir.path(), &smtp);
    let c = app.client();
    let o = organization(&c).await;
    let (_, created) = channel(&c, &o, "hook", "webhook", json!({"url": hook.url("/hook")})).await;
    let secret = created["secret"]
        .as_str()
        .expect("whsec secret")
        .to_string();
    assert!(secret.starts_with("whsec_"));
    let (flaky_id, flaky_created) = channel(
        &c,
        &o,
        "flaky",
        "webhook",
        json!({"url": flaky.url("/flaky")}),
    )
    .await;
    channel(
        &c,
        &o,
        "slack",
        "slack",
        json!({"url": slack.url("/services/T0/B0/x")}),
    )
    .await;
    channel(&c, &o, "mail", "email", json!({"to": ["dba@example.com"]})).await;
    channel(
        &c,
        &o,
        "pager",
        "pagerduty",
        json!({"routing_key": "R0UT1NGKEY", "url": pd.url("/v2/enqueue")}),
    )
    .await;
    // The secrets are never shown again.
    let listed = c.get("/api/v1/alert-channels", &o.token).await;
    assert!(
        !listed.body.to_string().contains("whsec_"),
        "{}",
        listed.body
    );
    assert!(!listed.body.to_string().contains("R0UT1NGKEY"));
    assert!(!listed.body.to_string().contains("/services/T0"));
    // The default rules: regressions, new classes and plan changes to every channel; the new-class
    // rule leaves the flaky receiver out, so it gets exactly one alert.
    let rules: Vec<Value> = c
        .items("/api/v1/alert-rules", &o.token)
        .await
        .into_iter()
        .filter(|r| r["organization_id"] == o.id)
        .collect();
    assert_eq!(rules.len(), 3, "{rules:?}");
    let all: Vec<i64> = c
        .items("/api/v1/alert-channels", &o.token)
        .await
        .iter()
        .filter(|ch| ch["organization_id"] == o.id)
        .filter_map(|ch| ch["id"].as_i64())
        .filter(|id| *id != flaky_id)
        .collect();
    let new_rule = rules
        .iter()
        .find(|r| r["kind"] == "new_class")
        .expect("new-class rule");
    let r = c
        .patch(
            &format!("/api/v1/alert-rules/{}", new_rule["id"]),
            &o.token,
            json!({"channel_ids": all}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // A deploy shortly before the slowdown: the alerts cite it.
    let marker = c
        .post(
            "/api/v1/events",
            &o.token,
            json!({"kind": "deploy", "title": "checkout v2.3", "organization_id": o.id,
                   "at": (Utc::now() - Span::minutes(10)).to_rfc3339()}),
        )
        .await;
    assert_eq!(marker.status, StatusCode::CREATED, "{}", marker.body);
    let now = Utc::now();
    let window_start = (now - Span::hours(1))
        .with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_minute(0))
        .expect("hour");
    ingest_traffic(&c, &o, window_start, now).await;

    let got = hook
        .wait_until_async("two alerts on the webhook", WAIT, |r| r.len() >= 2)
        .await;
    let slack_got = slack
        .wait_until_async("two Slack messages", WAIT, |r| r.len() >= 2)
        .await;
    let pd_got = pd
        .wait_until_async("two PagerDuty events", WAIT, |r| r.len() >= 2)
        .await;
    let mails = smtp
        .wait_until_async("two e-mails", WAIT, |m| m.len() >= 2)
        .await;
    let flaky_got = flaky
        .wait_until_async("the flaky receiver's fourth attempt", WAIT, |r| {
            r.len() >= 4
        })
        .await;
    // More evaluations pass: nothing is sent twice and nothing else opens.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(hook.received().len(), 2, "{:?}", hook.received());
    assert_eq!(slack.received().len(), 2);
    assert_eq!(pd.received().len(), 2);
    assert_eq!(smtp.messages().len(), 2);
    for r in &got {
        verify_standard_webhook(&secret, r).expect("a valid Standard Webhooks signature");
    }
    assert_eq!(
        kinds(&got, |b| b["data"]["alert"]["kind"]
            .as_str()
            .map(String::from)),
        ["new_class", "regression"]
    );
    let regression = got
        .iter()
        .map(|r| r.json())
        .find(|b| b["data"]["alert"]["kind"] == "regression")
        .expect("regression");
    assert!(
        regression["data"]["alert"]["fingerprint"]
            .as_str()
            .unwrap_or("")
            .contains("table_7"),
        "{regression}"
    );
    assert_eq!(regression["type"], "alert.triggered");
    let evidence = &regression["data"]["alert"]["evidence"];
    assert!(
        evidence["mean_ratio"].as_f64().expect("ratio") > 2.0,
        "{evidence}"
    );
    assert!(evidence["z"].as_f64().expect("z") >= 4.0, "{evidence}");
    assert_eq!(
        evidence["change_marker"]["title"], "checkout v2.3",
        "{evidence}"
    );
    for m in &slack_got {
        let b = m.json();
        assert!(
            b["blocks"].as_array().is_some_and(|bl| bl.len() >= 2),
            "{b}"
        );
        assert!(
            b["text"].as_str().is_some_and(|t| t.contains("query")),
            "{b}"
        );
    }
    for e in &pd_got {
        let b = e.json();
        assert_eq!(b["routing_key"], "R0UT1NGKEY");
        assert_eq!(b["event_action"], "trigger");
        assert!(
            b["dedup_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("dbpower-alert-"))
        );
        assert!(b["payload"]["summary"].is_string() && b["payload"]["source"] == "dbpower");
    }
    for m in &mails {
        assert_eq!(m.to, ["dba@example.com"]);
        assert!(m.data.contains("multipart/alternative"), "{}", m.data);
        assert!(m.data.contains("text/html"));
    }
    // The flaky receiver: three 500s, then the fourth attempt, all with the one delivery id.
    let statuses: Vec<u16> = flaky_got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    let ids: Vec<&str> = flaky_got
        .iter()
        .filter_map(|r| r.header("webhook-id"))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let flaky_secret = flaky_created["secret"].as_str().expect("secret");
    verify_standard_webhook(flaky_secret, &flaky_got[3]).expect("signed");

    // The API lists exactly the two; acknowledging shows.
    let alerts = c.items("/api/v1/alerts?status=open", &o.token).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let id = alerts[0]["id"].as_i64().expect("id");
    let ack = c
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &o.token,
            json!({}),
        )
        .await;
    assert_eq!(
        (ack.status, ack.body["status"].clone()),
        (StatusCode::OK, json!("acknowledged"))
    );
    let again = c
        .post(
            &format!("/api/v1/alerts/{id}/acknowledge"),
            &o.token,
            json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let resolved = c
        .post(&format!("/api/v1/alerts/{id}/resolve"), &o.token, json!({}))
        .await;
    assert_eq!(resolved.body["status"], "resolved");
    // A user's resolve sends PagerDuty the resolve event for the same dedup key.
    let pd_all = pd
        .wait_until_async("the resolve event", WAIT, |r| r.len() >= 3)
        .await;
    let resolve = pd_all[2].json();
    assert_eq!(resolve["event_action"], "resolve");
    assert_eq!(resolve["dedup_key"], format!("dbpower-alert-{id}"));
    // The other alert is still open: its rule cannot be deleted (its resolve messages would be lost).
    let open = c.items("/api/v1/alerts?status=open", &o.token).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let r = c
        .delete(
            &format!("/api/v1/alert-rules/{}", open[0]["rule_id"]),
            &o.token,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let audit = c.items("/api/v1/audit-logs?per_page=200", &o.token).await;
    let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    for a in [
        "alert_channel.create",
        "alert_rule.update",
        "alert.acknowledged",
        "alert.resolved",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

on_both_stores!(
    one_regression_and_one_new_class_reach_every_channel_once,
    AlertEnv
);

async fn a_backend_killed_between_send_and_record_sends_again_with_the_same_id(env: AlertEnv) {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = SmtpReceiver::start();
    let hang = HttpReceiver::start(Behaviour::HangFirst);
    // The attempt's time limit outlasts the kill, so the first process never records an outcome.
    let app = start_with_timeout(env.db, dir.path(), &smtp, 10);
    let c = app.client();
    let o = organization(&c).await;
    let (id, created) = channel(&c, &o, "hook", "webhook", json!({"url": hang.url("/h")})).await;
    let secret = created["secret"].as_str().expect("secret").to_string();
    let r = c
        .post(
            &format!("/api/v1/alert-channels/{id}/test"),
            &o.token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let delivery = r.body["delivery_id"]
        .as_str()
        .expect("delivery id")
        .to_string();
    hang.wait_until_async("the first attempt", WAIT, |r| !r.is_empty())
        .await;
    // Killed while the receiver holds the request: the send happened, its result was never recorded.
    let db = app.stop().expect("db");
    assert_eq!(
        hang.received().len(),
        1,
        "no second attempt before the kill"
    );
    let app = start_with_timeout(db, dir.path(), &smtp, 10);
    let got = hang
        .wait_until_async("the attempt after the restart", WAIT, |r| r.len() >= 2)
        .await;
    assert_eq!(got.len(), 2);
    for r in &got {
        assert_eq!(r.header("webhook-id"), Some(delivery.as_str()));
        verify_standard_webhook(&secret, r).expect("signed");
        assert_eq!(r.json()["type"], "test");
    }
    assert_eq!(got[1].status, 200);
    // The channel shows the delivery sent.
    let c = app.client();
    let token = c.login(OWNER.0, OWNER.1).await;
    let mut status = Value::Null;
    for _ in 0..50 {
        status = c
            .get(&format!("/api/v1/alert-channels/{id}"), &token)
            .await
            .body;
        if status["last_delivery_status"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status["last_delivery_status"], "sent", "{status}");
}

on_both_stores!(
    a_backend_killed_between_send_and_record_sends_again_with_the_same_id,
    AlertEnv
);

async fn alert_settings_refuse_bad_input_and_other_tenants(env: AlertEnv) {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = SmtpReceiver::start();
    let app = start(env.db, dir.path(), &smtp);
    let c = app.client();
    let o = organization(&c).await;
    let bad = [
        json!({"name": "x", "kind": "webhook", "config": {}}),
        json!({"name": "x", "kind": "webhook", "config": {"url": "ftp://x"}}),
        json!({"name": "x", "kind": "email", "config": {"to": []}}),
        json!({"name": "x", "kind": "email", "config": {"to": ["not-an-address"]}}),
        json!({"name": "x", "kind": "pagerduty", "config": {"routing_key": "has spaces"}}),
        json!({"name": "x", "kind": "slack", "config": {"url": "https://h.example", "to": ["a@b.example"]}}),
        json!({"name": "x", "kind": "sms", "config": {}}),
    ];
    for b in bad {
        let mut body = b.clone();
        body["organization_id"] = json!(o.id);
        let r = c.post("/api/v1/alert-channels", &o.token, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            r.body
        );
    }
    let bad_rules = [
        json!({"name": "r", "kind": "regression", "thresholds": {"ratio": 0.5}}),
        json!({"name": "r", "kind": "regression", "thresholds": {"min_share": 2}}),
        json!({"name": "r", "kind": "regression", "resolve_after_secs": 5}),
        json!({"name": "r", "kind": "regression", "engine": "oracle"}),
        json!({"name": "r", "kind": "regression", "channel_ids": [999999]}),
        json!({"name": "r", "kind": "nonsense"}),
    ];
    for b in bad_rules {
        let mut body = b.clone();
        body["organization_id"] = json!(o.id);
        let r = c.post("/api/v1/alert-rules", &o.token, body).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{b}: {}",
            r.body
        );
    }
    for q in ["status=closed", "kind=anything", "per_page=100000"] {
        let r = c.get(&format!("/api/v1/alerts?{q}"), &o.token).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{q}: {}",
            r.body
        );
    }
    let mute = c
        .post(
            "/api/v1/query-classes/nope/mute",
            &o.token,
            json!({"until": "2000-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        mute.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        mute.body
    );
    // Another organization's admin sees none of it: 404.
    let ch = hook_channel(&c, &o).await;
    let t = other_admin(&c, &o, "Other Co").await;
    for path in [
        format!("/api/v1/alert-channels/{ch}"),
        format!("/api/v1/alert-channels/{ch}/test"),
    ] {
        let r = if path.ends_with("/test") {
            c.post(&path, &t, json!({})).await
        } else {
            c.get(&path, &t).await
        };
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = c
        .post(
            "/api/v1/alert-rules",
            &t,
            json!({"name": "steal", "kind": "regression", "channel_ids": [ch]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(
        c.items("/api/v1/alert-rules", &t).await.len(),
        3,
        "its own defaults only"
    );
}

on_both_stores!(alert_settings_refuse_bad_input_and_other_tenants, AlertEnv);

/// The Monday (00:00 UTC) that starts the last whole week before `now`.
fn last_monday(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Datelike;
    let today = now.date_naive();
    let back = Span::days(i64::from(today.weekday().num_days_from_monday()) + 7);
    (today - back)
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
}

/// `n` executions of `sql` taking `ms` each, at `at`.
fn runs(sql: &str, ms: f64, n: usize, at: DateTime<Utc>) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"sql_text": sql, "execution_time_ms": ms * (1.0 + noise(i as u64) / 10.0),
                   "database_type": "postgresql", "observed_at": (at + Span::minutes(i as i64)).to_rfc3339()})
        })
        .collect()
}

/// E-mail text with quoted-printable soft line breaks undone.
fn unfolded(m: &dbpower_testkit::Mail) -> String {
    m.data.replace("=\r\n", "")
}

async fn a_team_that_opted_in_gets_last_weeks_report_once(env: AlertEnv) {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = SmtpReceiver::start();
    let app = start(env.db, dir.path(), &smtp);
    let c = app.client();
    let o = organization(&c).await;
    let team = |name: &str| json!({"name": name, "organization_id": o.id});
    let payments = c.create("/api/v1/teams", &o.token, team("Payments")).await;
    let search = c.create("/api/v1/teams", &o.token, team("Search")).await;
    let key_of =
        |team: i64, name: &str| json!({"name": name, "organization_id": o.id, "team_id": team});
    let pk = c
        .post("/api/v1/api-keys", &o.token, key_of(payments, "payments"))
        .await;
    let sk = c
        .post("/api/v1/api-keys", &o.token, key_of(search, "search"))
        .await;
    let (pk, sk) = (
        ApiKey::from_created(&pk.body),
        ApiKey::from_created(&sk.body),
    );
    // The week before: ledger and invoices. Last week: ledger as usual, invoices 4x slower, payouts
    // new. Search's own class has the most time of all and must not appear in Payments' report.
    let week = last_monday(Utc::now());
    let before = week - Span::days(5);
    let during = week + Span::days(2);
    let mut mine = runs(
        "SELECT * FROM ledger_entries WHERE id = 1",
        20.0,
        40,
        before,
    );
    mine.extend(runs(
        "SELECT * FROM invoices WHERE id = 1",
        10.0,
        40,
        before,
    ));
    mine.extend(runs(
        "SELECT * FROM ledger_entries WHERE id = 1",
        20.0,
        40,
        during,
    ));
    mine.extend(runs(
        "SELECT * FROM invoices WHERE id = 1",
        40.0,
        40,
        during,
    ));
    mine.extend(runs("SELECT * FROM payouts WHERE id = 1", 30.0, 40, during));
    let theirs = runs("SELECT * FROM search_terms WHERE id = 1", 900.0, 40, during);
    for (key, items, id) in [(&pk, mine, "payments-week"), (&sk, theirs, "search-week")] {
        let r = c.ingest(key, id, &json!({"queries": items})).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    }
    let path = format!("/api/v1/teams/{payments}/weekly-report");
    // Only an e-mail channel of the organization: a webhook, or nothing, is refused.
    let hook = hook_channel(&c, &o).await;
    for bad in [
        json!({"channel_id": hook}),
        json!({"channel_id": 999_999}),
        json!({}),
    ] {
        let r = c.put(&path, &o.token, bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.body
        );
    }
    let off = c.get(&path, &o.token).await;
    assert_eq!(
        (
            off.status,
            off.body["enabled"].clone(),
            off.body["channel_id"].clone()
        ),
        (StatusCode::OK, json!(false), Value::Null),
        "never opted in: off"
    );
    let (mail, _) = channel(
        &c,
        &o,
        "payments-mail",
        "email",
        json!({"to": ["payments@example.com"]}),
    )
    .await;
    let preview = c.get(&format!("{path}/preview"), &o.token).await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let ids = |section: &str| -> Vec<String> {
        preview.body[section]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["fingerprint"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let top = ids("top");
    assert_eq!(top.len(), 3, "{}", preview.body);
    assert!(top[0].contains("invoices"), "most time first: {top:?}");
    assert!(ids("new")[0].contains("payouts"), "{}", preview.body);
    assert_eq!(ids("regressed").len(), 1, "{}", preview.body);
    assert!(ids("regressed")[0].contains("invoices"));
    assert!(!preview.body.to_string().contains("search_terms"));
    assert!(smtp.messages().is_empty(), "a preview sends nothing");
    let set = c.put(&path, &o.token, json!({"channel_id": mail})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    let reports = |m: &[dbpower_testkit::Mail]| {
        m.iter()
            .filter(|m| m.data.contains("weekly report"))
            .count()
    };
    let got = smtp
        .wait_until_async("the weekly report", WAIT, |m| reports(m) >= 1)
        .await;
    let text = unfolded(&got[0]);
    assert_eq!(got[0].to, vec!["payments@example.com".to_string()]);
    for want in [
        "Payments",
        "ledger_entries",
        "payouts",
        "invoices",
        "text/html",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    assert!(!text.contains("search_terms"), "{text}");
    // Later rounds (every second) send nothing more for that week.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(reports(&smtp.messages()), 1);
    let view = c.get(&path, &o.token).await;
    assert_eq!(
        view.body["last_week"],
        json!(week.format("%Y-%m-%d").to_string()),
        "{}",
        view.body
    );
    // Another team's lead cannot see or change it; the opt-out is final.
    let lead = c
        .post(
            "/api/v1/users",
            &o.token,
            json!({"email": "lead@search.example", "password": "search-lead-password-1",
              "role": "TEAM_LEAD", "organization_id": o.id, "team_id": search}),
        )
        .await;
    assert_eq!(lead.status, StatusCode::CREATED, "{}", lead.body);
    let lt = c
        .login_in(
            "Alerting Co",
            "lead@search.example",
            "search-lead-password-1",
        )
        .await;
    // Its own lead may pick among the e-mail channels the team may use; another team's lead may not.
    let (sch, _) = channel(
        &c,
        &o,
        "search-mail",
        "email",
        json!({"to": ["search@example.com"]}),
    )
    .await;
    let options = c
        .get(
            &format!("/api/v1/teams/{search}/weekly-report/channels"),
            &lt,
        )
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let names: Vec<&str> = options
        .body
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        ["payments-mail", "search-mail"],
        "e-mail only: {}",
        options.body
    );
    let own = c
        .put(
            &format!("/api/v1/teams/{search}/weekly-report"),
            &lt,
            json!({"channel_id": sch}),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(
        c.get(&format!("{path}/channels"), &lt).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.get(&path, &lt).await.status, StatusCode::NOT_FOUND);
    // A lead without a team has no team's report to see.
    let loose = c
        .post(
            "/api/v1/users",
            &o.token,
            json!({"email": "lead@nowhere.example", "password": "loose-lead-password-1",
                   "role": "TEAM_LEAD", "organization_id": o.id}),
        )
        .await;
    assert_eq!(loose.status, StatusCode::CREATED, "{}", loose.body);
    let nt = c
        .login_in(
            "Alerting Co",
            "lead@nowhere.example",
            "loose-lead-password-1",
        )
        .await;
    for p in [
        path.clone(),
        format!("{path}/preview"),
        format!("{path}/channels"),
    ] {
        assert_eq!(c.get(&p, &nt).await.status, StatusCode::NOT_FOUND, "{p}");
    }
    assert_eq!(c.delete(&path, &lt).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.delete(&path, &o.token).await.status,
        StatusCode::NO_CONTENT
    );
    let off = c.get(&path, &o.token).await;
    assert_eq!(
        (off.body["enabled"].clone(), off.body["last_week"].clone()),
        (json!(false), json!(week.format("%Y-%m-%d").to_string())),
        "turned off, the week reported kept: {}",
        off.body
    );
    // Turned on again: the week already reported is not sent a second time.
    let again = c.put(&path, &o.token, json!({"channel_id": mail})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let to_payments = |m: &[dbpower_testkit::Mail]| {
        m.iter()
            .filter(|m| m.data.contains("weekly report") && m.to == ["payments@example.com"])
            .count()
    };
    assert_eq!(to_payments(&smtp.messages()), 1);
    let audit = c.items("/api/v1/audit-logs?per_page=100", &o.token).await;
    assert!(
        audit.iter().any(|e| e["action"] == "weekly_report.set"),
        "audited"
    );
}

on_both_stores!(a_team_that_opted_in_gets_last_weeks_report_once, AlertEnv);

/// A PostgreSQL plan of one node reading `table`: a sequential scan, or an index scan with `index`.
fn plan(table: &str, index: Option<&str>) -> Value {
    let mut node = json!({"Node Type": "Seq Scan", "Relation Name": table, "Total Cost": 1234.5, "Plan Rows": 1000});
    if let Some(i) = index {
        node = json!({"Node Type": "Index Scan", "Relation Name": table, "Index Name": i, "Total Cost": 8.3, "Plan Rows": 1});
    }
    json!([{"Plan": node}])
}

/// `n` executions of a statement on `table` taking `ms`, each with its plan, at `at`.
fn planned(table: &str, index: Option<&str>, ms: f64, n: usize, at: DateTime<Utc>) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"sql_text": format!("SELECT * FROM {table} WHERE email = 'a@b.example'"),
                   "execution_time_ms": ms * (1.0 + noise(i as u64) / 10.0), "database_type": "postgresql",
                   "observed_at": (at + Span::seconds(i as i64)).to_rfc3339(), "explain": plan(table, index)})
        })
        .collect()
}

/// Plan history: a class that moved from an index scan to a sequential scan and got slower raises one
/// plan-changed alert; one that moved the other way (and got faster) raises none. Both show their two
/// plans, newest first.
async fn a_slower_plan_change_alerts_and_a_faster_one_does_not(env: AlertEnv) {
    let dir = tempfile::tempdir().expect("dir");
    let smtp = SmtpReceiver::start();
    let app = start(env.db, dir.path(), &smtp);
    let c = app.client();
    let o = organization(&c).await;
    let now = Utc::now();
    let (before, during) = (now - Span::days(2), now - Span::minutes(10));
    let mut items = planned("planslower", Some("planslower_email_idx"), 5.0, 30, before);
    items.extend(planned("planslower", None, 60.0, 30, during));
    items.extend(planned("planfaster", None, 60.0, 30, before));
    items.extend(planned(
        "planfaster",
        Some("planfaster_email_idx"),
        5.0,
        30,
        during,
    ));
    // A class slower for another reason (same plan), with one execution on a new plan at the end:
    // too few to say the new plan is slower, so no plan-change alert.
    let rare = Some("planrare_email_idx");
    items.extend(planned("planrare", rare, 5.0, 30, before));
    items.extend(planned("planrare", rare, 60.0, 30, during));
    items.extend(planned("planrare", None, 5.0, 1, during + Span::minutes(5)));
    let r = c.ingest(&o.key, "plans", &json!({"queries": items})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let classes = c
        .items("/api/v1/query-classes?per_page=100", &o.token)
        .await;
    let qid = |table: &str| -> String {
        classes
            .iter()
            .find(|k| k["fingerprint"].as_str().unwrap_or("").contains(table))
            .and_then(|k| k["query_id"].as_str())
            .unwrap_or_else(|| panic!("no class of {table}: {classes:?}"))
            .to_string()
    };
    let (slower, faster) = (qid("planslower"), qid("planfaster"));
    for (id, newest, older) in [
        (
            &slower,
            "planslower: Seq Scan",
            "planslower: Index Scan using planslower_email_idx",
        ),
        (
            &faster,
            "planfaster: Index Scan using planfaster_email_idx",
            "planfaster: Seq Scan",
        ),
    ] {
        let plans = c
            .get(&format!("/api/v1/query-classes/{id}/plans"), &o.token)
            .await;
        assert_eq!(plans.status, StatusCode::OK, "{}", plans.body);
        let summaries: Vec<&str> = plans
            .body
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["summary"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(summaries, [newest, older], "{}", plans.body);
        assert_eq!(plans.body[0]["executions"], 30);
        assert!(plans.body[0]["plan"][0]["Plan"]["Node Type"].is_string());
    }
    let changed = |alerts: &[Value]| -> Vec<String> {
        alerts
            .iter()
            .filter_map(|a| a["query_id"].as_str().map(str::to_string))
            .collect()
    };
    let deadline = std::time::Instant::now() + WAIT;
    let alerts = loop {
        let a = c.items("/api/v1/alerts?kind=plan_changed", &o.token).await;
        if !a.is_empty() || std::time::Instant::now() > deadline {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        changed(&alerts),
        std::slice::from_ref(&slower),
        "{alerts:?}"
    );
    let summary = alerts[0]["evidence"]["summary"].as_str().unwrap_or("");
    assert!(summary.contains("planslower: Seq Scan"), "{summary}");
    // Later rounds keep the one alert and never add the faster class's.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = c.items("/api/v1/alerts?kind=plan_changed", &o.token).await;
    assert_eq!(changed(&again), [slower], "{again:?}");
    // Another organization does not see the plans.
    let t = other_admin(&c, &o, "Plans Other").await;
    let r = c
        .get(&format!("/api/v1/query-classes/{faster}/plans"), &t)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

on_both_stores!(
    a_slower_plan_change_alerts_and_a_faster_one_does_not,
    AlertEnv
);
