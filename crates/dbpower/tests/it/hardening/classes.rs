//! Query classes shared by teams, over the HTTP API of a running `dbpower serve`: a TEAM_LEAD and a USER
//! see their own sample, databases and numbers of a class another team also sends, never the other
//! team's statement, database names or the organization's totals, and the class's analysis only when
//! the class is wholly theirs. The ORG_ADMIN keeps the organization's view.

use std::time::Duration;

use reqwest::Method as M;
use serde_json::{Value, json};

use super::tenants::Env;
use crate::support::post_signed_batch;

/// Sends `statements` as `(sql, execution_time_ms)` from `database` with `key`.
async fn send(
    env: &Env,
    key: &Value,
    request_id: &str,
    database: &str,
    statements: &[(&str, f64)],
) {
    let queries: Vec<Value> = statements
        .iter()
        .map(|(sql, ms)| {
            json!({"sql_text": sql, "execution_time_ms": ms, "database_type": "postgresql",
                "database_name": database})
        })
        .collect();
    let r = post_signed_batch(
        &reqwest::Client::new(),
        env.c.base(),
        key,
        request_id,
        &json!({ "queries": queries }),
    )
    .await;
    assert_eq!(r.status().as_u16(), 202, "{request_id}");
}

async fn get(env: &Env, path: &str, tok: &str) -> Value {
    let (s, b) = env.c.call(M::GET, path, Some(tok), None).await;
    assert_eq!(s.as_u16(), 200, "{path}: {b}");
    b
}

/// The class with `query_id` in a class list.
fn class_in(list: &Value, query_id: &str) -> Value {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["query_id"] == query_id)
        .cloned()
        .unwrap_or_else(|| panic!("class {query_id} in {list}"))
}

/// Waits until the ORG_ADMIN sees an analysis of the class `query_id`.
async fn analyzed(env: &Env, oa: &str, query_id: &str) -> Value {
    for _ in 0..300 {
        let d = get(env, &format!("/api/v1/query-classes/{query_id}"), oa).await;
        if d["analysis"].is_object() {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("class {query_id} was never analyzed");
}

/// What one caller of team A is shown of the shared class, wherever it appears: its own sample, database
/// and numbers, nothing of team B's, and no analysis.
fn assert_own_part(who: &str, c: &Value) {
    assert!(
        c["sample_sql"]
            .as_str()
            .is_some_and(|s| s.contains("id = 1")),
        "{who}: {c}"
    );
    assert_eq!(c["databases"], json!(["shop_a"]), "{who}: {c}");
    assert_eq!(c["count"], 2, "{who}: {c}");
    assert_eq!(c["total_time_ms"].as_f64(), Some(40.0), "{who}: {c}");
    assert_eq!(c["avg_time_ms"].as_f64(), Some(20.0), "{who}: {c}");
    assert_eq!(c["max_time_ms"].as_f64(), Some(30.0), "{who}: {c}");
    for kept_per_class in [
        "min_time_ms",
        "p95_time_ms",
        "p99_time_ms",
        "lock_time_ms",
        "rows_examined",
        "rows_sent",
        "rows_ratio",
        "severity",
    ] {
        assert!(
            c[kept_per_class].is_null(),
            "{who}: {kept_per_class} in {c}"
        );
    }
}

/// Nothing of team B's statement, database or the organization's count anywhere in `body`.
fn assert_no_leak(who: &str, body: &Value) {
    let text = body.to_string();
    for leak in ["secret_b_db", "id = 2", "\"count\":7"] {
        assert!(!text.contains(leak), "{who} sees {leak}: {text}");
    }
}

/// A class two teams share in one organization: team B's statement first (so the organization-wide
/// sample is B's), team A's twice, and one class of A's own; the ORG_ADMIN's, the TEAM_LEAD's and the
/// USER's tokens.
struct Shared {
    oa: String,
    lead: String,
    user: String,
}

/// The organization's view of the two classes.
struct OrgView {
    shared_id: String,
    own_id: String,
    org_shared: Value,
    org_own: Value,
    own_issues: i64,
}

async fn two_teams_send_one_statement_shape(env: &Env) -> Shared {
    let (org, oa) = env.org("Shared").await;
    env.pii_only(org, &oa).await;
    let mut teams = Vec::new();
    for name in ["A", "B"] {
        let team = env
            .ok(M::POST, "/api/v1/teams", &oa, json!({"name": name}), 201)
            .await["id"]
            .clone();
        let identity = env
            .ok(
                M::POST,
                "/api/v1/identities",
                &oa,
                json!({"team_id": team, "name": format!("svc-{name}")}),
                201,
            )
            .await["id"]
            .clone();
        let key = env
            .ok(
                M::POST,
                "/api/v1/api-keys",
                &oa,
                json!({"name": name, "team_id": team, "identity_id": identity}),
                201,
            )
            .await;
        teams.push((team, identity, key));
    }
    let (team_a, identity_a, key_a) = teams.remove(0);
    let (_, _, key_b) = teams.remove(0);
    env.ok(M::POST, "/api/v1/users", &oa, json!({"email": "lead@a.test", "password": "lead-password-1", "role": "TEAM_LEAD", "team_id": team_a}), 201).await;
    env.ok(M::POST, "/api/v1/users", &oa, json!({"email": "user@a.test", "password": "user-password-1", "role": "USER", "identity_id": identity_a}), 201).await;
    let lead = env
        .c
        .login_in("Shared", "lead@a.test", "lead-password-1")
        .await;
    let user = env
        .c
        .login_in("Shared", "user@a.test", "user-password-1")
        .await;

    // Team B sends first, so the class's organization-wide sample is B's statement; team A then sends
    // the same statement shape twice, and one statement of its own.
    send(
        env,
        &key_b,
        "b-1",
        "secret_b_db",
        &[("SELECT * FROM orders WHERE id = 2", 500.0); 5],
    )
    .await;
    send(
        env,
        &key_a,
        "a-1",
        "shop_a",
        &[
            ("SELECT * FROM orders WHERE id = 1", 10.0),
            ("SELECT * FROM orders WHERE id = 1", 30.0),
            ("SELECT * FROM invoices WHERE id = 5", 15.0),
        ],
    )
    .await;

    Shared { oa, lead, user }
}

/// The ORG_ADMIN sees the organization's class: every execution, both databases, B's sample; both
/// classes get analyzed, and the ORG_ADMIN sees both analyses.
async fn the_org_admin_sees_the_whole_class(env: &Env, oa: &str) -> OrgView {
    // The ORG_ADMIN sees the organization's class: every execution, both databases, B's sample.
    let org_list = get(env, "/api/v1/query-classes?per_page=100", oa).await;
    assert_eq!(org_list["total"], 2, "{org_list}");
    let shared_id = org_list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["count"] == 7)
        .and_then(|c| c["query_id"].as_str())
        .unwrap_or_else(|| panic!("the shared class: {org_list}"))
        .to_string();
    let own_id = org_list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|c| c["count"] == 1)
        .and_then(|c| c["query_id"].as_str())
        .unwrap_or_else(|| panic!("team A's own class: {org_list}"))
        .to_string();
    let shared = class_in(&org_list, &shared_id);
    assert_eq!(
        shared["databases"],
        json!(["secret_b_db", "shop_a"]),
        "{shared}"
    );
    assert!(
        shared["sample_sql"]
            .as_str()
            .is_some_and(|s| s.contains("id = 2")),
        "{shared}"
    );
    assert_eq!(shared["total_time_ms"].as_f64(), Some(2540.0), "{shared}");
    assert_eq!(shared["min_time_ms"].as_f64(), Some(10.0), "{shared}");
    assert!(shared["p95_time_ms"].is_number(), "{shared}");
    // Both classes get analyzed; the ORG_ADMIN sees both analyses.
    let org_shared = analyzed(env, oa, &shared_id).await;
    assert_eq!(org_shared["count"], 7, "{org_shared}");
    let org_own = analyzed(env, oa, &own_id).await;
    let own_issues = i64::from(
        org_own["analysis"]["issues"]
            .as_array()
            .is_some_and(|i| !i.is_empty()),
    );

    OrgView {
        shared_id,
        own_id,
        org_shared,
        org_own,
        own_issues,
    }
}

/// Lists and every sort show both classes, the shared one with the member's part only; the sorts rank by
/// the member's own totals.
async fn lists_and_sorts_show_their_part(env: &Env, who: &str, tok: &str, v: &OrgView) {
    let OrgView {
        shared_id,
        own_id,
        org_own,
        ..
    } = v;
    // The list: both classes, the shared one with A's part only.
    let list = get(env, "/api/v1/query-classes?per_page=100", tok).await;
    assert_eq!(list["total"], 2, "{who}: {list}");
    assert_no_leak(who, &list);
    assert_own_part(who, &class_in(&list, shared_id));
    let own = class_in(&list, own_id);
    assert_eq!(
        (own["count"].clone(), own["databases"].clone()),
        (json!(1), json!(["shop_a"])),
        "{who}: {own}"
    );
    assert_eq!(
        own["severity"], org_own["severity"],
        "{who}: a class wholly the team's own keeps its severity: {own}"
    );

    // Sorts rank by the scope's own totals: A's shared part (40 ms, 2) before its own class (15 ms, 1).
    for sort in [
        "total_time",
        "count",
        "max_time",
        "avg_time",
        "p95",
        "rows_ratio",
    ] {
        let sorted = get(
            env,
            &format!("/api/v1/query-classes?sort={sort}&per_page=100"),
            tok,
        )
        .await;
        assert_eq!(sorted["total"], 2, "{who} {sort}: {sorted}");
        assert_no_leak(who, &sorted);
        if sort != "p95" && sort != "rows_ratio" {
            assert_eq!(
                sorted["items"][0]["query_id"], *shared_id,
                "{who} {sort}: {sorted}"
            );
        }
    }
}

/// Filters apply to what the member is shown: B's text finds nothing, A's own finds the class; the
/// shared class's analysis is not theirs, so it counts as unanalyzed.
async fn filters_apply_to_what_they_are_shown(env: &Env, who: &str, tok: &str, v: &OrgView) {
    let OrgView {
        shared_id, own_id, ..
    } = v;
    // Filters apply to what the caller is shown: B's text finds nothing, A's own finds the class;
    // the shared class's analysis is not theirs, so it counts as unanalyzed.
    let by_b = get(env, "/api/v1/query-classes?q=id%20%3D%202", tok).await;
    assert_eq!(by_b["total"], 0, "{who}: {by_b}");
    let by_a = get(env, "/api/v1/query-classes?q=id%20%3D%201", tok).await;
    assert_eq!(by_a["total"], 1, "{who}: {by_a}");
    assert_eq!(by_a["items"][0]["query_id"], *shared_id, "{who}: {by_a}");
    let unanalyzed = get(env, "/api/v1/query-classes?status=unanalyzed", tok).await;
    assert_eq!(unanalyzed["total"], 1, "{who}: {unanalyzed}");
    assert_eq!(
        unanalyzed["items"][0]["query_id"], *shared_id,
        "{who}: {unanalyzed}"
    );
    let analyzed_list = get(env, "/api/v1/query-classes?status=analyzed", tok).await;
    assert_eq!(analyzed_list["total"], 1, "{who}: {analyzed_list}");
    assert_eq!(
        analyzed_list["items"][0]["query_id"], *own_id,
        "{who}: {analyzed_list}"
    );
}

/// A class's detail and a slow query's class are the member's part, with no analysis of B's sample; a
/// class wholly theirs keeps its analysis.
async fn details_show_their_part(env: &Env, who: &str, tok: &str, v: &OrgView) {
    let OrgView {
        shared_id,
        own_id,
        org_own,
        ..
    } = v;
    // The detail: A's part, A's series, no analysis of B's sample.
    let detail = get(env, &format!("/api/v1/query-classes/{shared_id}"), tok).await;
    assert_no_leak(who, &detail);
    assert_own_part(who, &detail);
    assert!(detail["analysis"].is_null(), "{who}: {detail}");
    let series: i64 = detail["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|p| p["count"].as_i64())
        .sum();
    assert_eq!(series, 2, "{who}: {detail}");
    // The class wholly A's own keeps its analysis.
    let own_detail = get(env, &format!("/api/v1/query-classes/{own_id}"), tok).await;
    assert_eq!(
        own_detail["analysis"], org_own["analysis"],
        "{who}: {own_detail}"
    );

    // The class inside a slow query's detail is the same part.
    let queries = get(env, "/api/v1/slow-queries?per_page=100", tok).await;
    assert_eq!(queries["total"], 3, "{who}: {queries}");
    assert_no_leak(who, &queries);
    let mine = queries["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|q| q["query_id"] == shared_id.as_str())
        .unwrap_or_else(|| panic!("{who}: {queries}"))
        .clone();
    assert!(mine["severity"].is_null(), "{who}: {mine}");
    let q = get(env, &format!("/api/v1/slow-queries/{}", mine["id"]), tok).await;
    assert_no_leak(who, &q);
    assert_own_part(who, &q["class"]);
    assert!(q["analysis"].is_null(), "{who}: {q}");
}

/// The dashboard counts issues of the classes wholly theirs only.
async fn the_dashboard_counts_their_own_classes(env: &Env, who: &str, tok: &str, v: &OrgView) {
    // The dashboard counts issues of the classes wholly theirs only.
    let dash = get(env, "/api/v1/stats/dashboard", tok).await;
    assert_eq!(dash["total_queries"], 3, "{who}: {dash}");
    assert_eq!(
        dash["total_issues"].as_i64(),
        Some(v.own_issues),
        "{who}: {dash}"
    );
}

/// The ORG_ADMIN's view is unchanged by the members' reads.
async fn the_org_admin_view_is_unchanged(env: &Env, oa: &str, v: &OrgView) {
    let OrgView {
        shared_id,
        org_shared,
        ..
    } = v;
    let again = get(env, &format!("/api/v1/query-classes/{shared_id}"), oa).await;
    assert_eq!(
        (again["count"].clone(), again["databases"].clone()),
        (json!(7), json!(["secret_b_db", "shop_a"])),
        "{again}"
    );
    assert_eq!(again["analysis"], org_shared["analysis"], "{again}");
}

/// Team members see only their part of a class they share with another team, chapter by chapter: a
/// failure names the chapter that broke.
async fn team_members_see_only_their_part_of_a_shared_class(env: Env) {
    let w = two_teams_send_one_statement_shape(&env).await;
    let v = the_org_admin_sees_the_whole_class(&env, &w.oa).await;
    for (who, tok) in [("TEAM_LEAD", &w.lead), ("USER", &w.user)] {
        lists_and_sorts_show_their_part(&env, who, tok, &v).await;
        filters_apply_to_what_they_are_shown(&env, who, tok, &v).await;
        details_show_their_part(&env, who, tok, &v).await;
        the_dashboard_counts_their_own_classes(&env, who, tok, &v).await;
    }
    the_org_admin_view_is_unchanged(&env, &w.oa, &v).await;
}

on_both_stores!(team_members_see_only_their_part_of_a_shared_class, Env);
