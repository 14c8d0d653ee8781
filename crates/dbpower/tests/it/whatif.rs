//! What-if validation end to end, on a private PostgreSQL 15 cluster with HypoPG and a table of a
//! million rows: the agent (`whatif = true`) ships pg_stat_statements' `$n` texts, the platform
//! analyses them and asks the agent to validate its index advice, and the agent plans each statement
//! with and without a hypothetical index. A selective column's index is validated (the planner's cost
//! drops more than tenfold and the plan reads it), a low-selectivity column's is rejected, and a
//! statement with its literal (an organization on `pii_only`) is validated without the generic-plan
//! path. The database's catalog is the same before and after. Runs when `DBPOWER_TEST_POSTGRES_URL` is
//! set; fails when the private cluster cannot start.

use reqwest::Method as M;
use serde_json::{Value, json};

use crate::agent::{Platform, agent, ok, write_config};
use crate::agentpg::{Cluster, agent_role};

/// The catalog's relations and indexes, as a text to compare.
fn catalog(cluster: &Cluster) -> String {
    cluster.sql(
        "shop",
        "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_index), \
         (SELECT max(oid::bigint) FROM pg_class)",
    )
}

/// The class whose sample holds `needle`, once its analysis is stored (at most 30 s).
async fn analysed(platform: &Platform, oa: &str, needle: &str) -> Value {
    let c = platform.client();
    for _ in 0..300 {
        let (_, page) = c
            .call(M::GET, "/api/v1/query-classes?per_page=100", Some(oa), None)
            .await;
        let found = page["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|i| i["sample_sql"].as_str().is_some_and(|s| s.contains(needle)))
                .cloned()
        });
        if let Some(class) = found {
            let path = format!(
                "/api/v1/query-classes/{}",
                class["query_id"].as_str().unwrap_or("")
            );
            let (_, detail) = c.call(M::GET, &path, Some(oa), None).await;
            if detail["analysis"].is_object() {
                return detail;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no analysed class holds {needle:?}");
}

/// The analysed class holding `needle` once its index advice is no longer pending: the agent's
/// round claims the validations the platform asked for by then (at most three rounds).
async fn settled(platform: &Platform, oa: &str, config: &std::path::Path, needle: &str) -> Value {
    for _ in 0..3 {
        let detail = analysed(platform, oa, needle).await;
        if index_advice(&detail)["validation"]["status"] != "pending" {
            return detail;
        }
        ok(&agent(config, &["--once"]));
    }
    let detail = analysed(platform, oa, needle).await;
    assert_ne!(
        index_advice(&detail)["validation"]["status"],
        "pending",
        "{detail}"
    );
    detail
}

/// The index recommendation of a class detail, with its validation.
fn index_advice(detail: &Value) -> Value {
    detail["analysis"]["recommendations"]
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["kind"] == "index" && r["index"].is_object())
        })
        .cloned()
        .unwrap_or_else(|| panic!("no index recommendation: {detail}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn hypothetical_indexes_validate_useful_advice_reject_useless_advice_and_write_nothing() {
    if std::env::var("DBPOWER_TEST_POSTGRES_URL").is_err() {
        return;
    }
    let cluster = Cluster::start();
    cluster.sql("postgres", &agent_role());
    cluster.sql("postgres", "CREATE DATABASE shop");
    cluster.sql(
        "shop",
        "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg; \
         CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status int NOT NULL, note text); \
         INSERT INTO orders SELECT g, g % 200000, g % 2, 'note ' || g FROM generate_series(1, 1000000) g; \
         ANALYZE orders; GRANT SELECT ON ALL TABLES IN SCHEMA public TO dbpower_agent",
    );
    let before = catalog(&cluster);

    let platform = Platform::start();
    let key = platform.key("Whatif Shop").await;
    let work = tempfile::tempdir().expect("tmp");
    let source = format!(
        "[[source]]\nname = \"pg\"\nkind = \"postgresql\"\nurl = \"{}\"\nmethods = [\"pg_stat_statements\"]\nmin_duration_ms = 0\nwhatif = true\n",
        cluster.url("dbpower_agent", "shop"),
    );
    let config = write_config(work.path(), &platform, &key, &source);
    let check = agent(&config, &["--check"]);
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("whatif: HypoPG 1."), "{text}");

    // A baseline round, then the workload: a selective filter and a low-selectivity one.
    cluster.sql("shop", "SELECT pg_stat_statements_reset()");
    ok(&agent(&config, &["--once"]));
    for k in [4242, 4243, 4244] {
        cluster.workload(
            "shop",
            &format!("SELECT note FROM orders WHERE customer_id = {k}"),
        );
    }
    cluster.workload("shop", "SELECT count(note) FROM orders WHERE status = 1");
    ok(&agent(&config, &["--once"]));

    let oa = platform.org_admin(&key.0).await;
    settled(&platform, &oa, &config, "WHERE status = $1").await;
    let selective = settled(&platform, &oa, &config, "WHERE customer_id = $1").await;
    let v = &index_advice(&selective)["validation"];
    assert_eq!(v["status"], "validated", "{selective}");
    assert_eq!(v["method"], "hypopg", "{v}");
    assert_eq!(v["uses_index"], true, "{v}");
    let (b, a) = (
        v["cost_before"].as_f64().expect("cost_before"),
        v["cost_after"].as_f64().expect("cost_after"),
    );
    assert!(b >= 10.0 * a, "planner cost {b} -> {a}");
    let broad = analysed(&platform, &oa, "WHERE status = $1").await;
    assert_eq!(
        index_advice(&broad)["index"]["columns"][0],
        "status",
        "{broad}"
    );
    let v = &index_advice(&broad)["validation"];
    assert_eq!(v["status"], "rejected", "{broad}");
    assert_eq!(v["uses_index"], false, "{v}");
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("does not use")),
        "{v}"
    );

    // A statement with its literal: the organization keeps literals, the agent plans it as sent.
    let c = platform.client();
    let (s, org) = c
        .call(M::GET, "/api/v1/organizations", Some(&oa), None)
        .await;
    assert_eq!(s.as_u16(), 200, "{org}");
    let org_id = org["items"][0]["id"].clone();
    let (s, patched) = c
        .call(
            M::PATCH,
            &format!("/api/v1/organizations/{org_id}"),
            Some(&oa),
            Some(json!({"settings": {"scrub_level": "pii_only"}})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{patched}");
    let api_key = dbpower_testkit::ApiKey {
        id: 0,
        key_id: key.1.clone(),
        secret: key.2.clone(),
    };
    let sql = "SELECT note FROM orders WHERE customer_id = 777 AND id > 5";
    let r = c
        .ingest(
            &api_key,
            "whatif-literal",
            &json!({"queries": [{"sql_text": sql, "execution_time_ms": 180.0,
                "database_type": "postgresql", "database_name": "shop", "source": "pg:postgres_log"}]}),
        )
        .await;
    assert!(r.status.is_success(), "{r:?}");
    let literal = analysed(&platform, &oa, "customer_id = 777").await;
    assert_eq!(literal["sample_sql"], sql, "{literal}");
    let literal = settled(&platform, &oa, &config, "customer_id = 777").await;
    let v = &index_advice(&literal)["validation"];
    assert_eq!(v["status"], "validated", "{literal}");
    assert_eq!(v["uses_index"], true, "{v}");

    // The workload view: the two customer_id recommendations are one index, validated; the
    // rejected one is not advice.
    let (s, advice) = c
        .call(M::GET, "/api/v1/index-advice", Some(&oa), None)
        .await;
    assert_eq!(s.as_u16(), 200, "{advice}");
    let tables = advice["tables"].as_array().expect("tables");
    let orders = tables
        .iter()
        .find(|t| t["table"].as_str().is_some_and(|n| n.ends_with("orders")))
        .unwrap_or_else(|| panic!("{advice}"));
    let create = orders["create"].as_array().expect("create");
    assert!(
        create.iter().all(|p| p["columns"][0] == "customer_id"),
        "{orders}"
    );
    assert_eq!(
        orders["rejected"].as_array().map(Vec::len),
        Some(1),
        "{orders}"
    );

    // Nothing was created in the customer's database.
    assert_eq!(catalog(&cluster), before);
}
