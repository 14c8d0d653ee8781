//! What-if validation end to end, on a private PostgreSQL 15 cluster with HypoPG: database `shop` (a
//! table of a million rows, whose pg_stat_statements `$n` texts one source ships) and `shop_log` (300,000
//! rows, whose logged texts another source ships with their literals, agent and organization on
//! `pii_only`). The platform analyses them and asks the agent to validate its index advice; the agent
//! plans each statement with and without a hypothetical index. A selective column's index is validated
//! (the planner's cost drops more than tenfold and the plan reads it), a low-selectivity column's is
//! rejected, and the logged statement is validated without the generic-plan path. Both catalogs are the
//! same before and after. Runs when `DBPOWER_TEST_POSTGRES_URL` is set; fails when the private cluster
//! cannot start.

use reqwest::Method as M;
use serde_json::{Value, json};

use crate::agent::{OrgAdmin, Platform, agent, ok, write_config_with};
use crate::agentpg::{Cluster, agent_role};

/// The catalog's relations and indexes in `db`, as a text to compare.
fn catalog(cluster: &Cluster, db: &str) -> String {
    cluster.sql(
        db,
        "SELECT (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_index), \
         (SELECT max(oid::bigint) FROM pg_class)",
    )
}

/// The class whose sample holds `needle`, once its analysis is stored (at most 30 s).
pub(crate) async fn analysed(platform: &Platform, oa: &str, needle: &str) -> Value {
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
pub(crate) async fn settled(
    platform: &Platform,
    oa: &str,
    config: &std::path::Path,
    needle: &str,
) -> Value {
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
pub(crate) fn index_advice(detail: &Value) -> Value {
    detail["analysis"]["recommendations"]
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["kind"] == "index" && r["index"].is_object())
        })
        .cloned()
        .unwrap_or_else(|| panic!("no index recommendation: {detail}"))
}

/// An agent and an organization that keep literals (`pii_only`), so that a logged statement is
/// validated with its values: the agent's configuration, and what its `--check` printed.
pub(crate) async fn keeping_literals(
    platform: &Platform,
    key: &(OrgAdmin, String, String),
    oa: &str,
    dir: &std::path::Path,
    source: &str,
) -> (std::path::PathBuf, String) {
    let c = platform.client();
    let (s, org) = c
        .call(M::GET, "/api/v1/organizations", Some(oa), None)
        .await;
    assert_eq!(s.as_u16(), 200, "{org}");
    let org_id = org["items"][0]["id"].clone();
    let (s, patched) = c
        .call(
            M::PATCH,
            &format!("/api/v1/organizations/{org_id}"),
            Some(oa),
            Some(json!({"settings": {"scrub_level": "pii_only"}})),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{patched}");
    let config = write_config_with(dir, platform, key, "scrub = \"pii_only\"\n", source);
    let check = agent(&config, &["--check"]);
    (config, String::from_utf8_lossy(&check.stdout).into_owned())
}

/// Creates `orders` of `rows` rows in `db` with HypoPG, readable by the agent's role.
fn orders(cluster: &Cluster, db: &str, rows: u32) {
    cluster.sql("postgres", &format!("CREATE DATABASE {db}"));
    cluster.sql(
        db,
        &format!(
            "CREATE EXTENSION pg_stat_statements; CREATE EXTENSION hypopg; \
             CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, status int NOT NULL, note text); \
             INSERT INTO orders SELECT g, g % 200000, g % 2, 'note ' || g FROM generate_series(1, {rows}) g; \
             ANALYZE orders; GRANT SELECT ON ALL TABLES IN SCHEMA public TO dbpower_agent"
        ),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hypothetical_indexes_validate_useful_advice_reject_useless_advice_and_write_nothing() {
    if std::env::var("DBPOWER_TEST_POSTGRES_URL").is_err() {
        return;
    }
    let cluster = Cluster::start();
    cluster.sql("postgres", &agent_role());
    orders(&cluster, "shop", 1_000_000);
    orders(&cluster, "shop_log", 300_000);
    let before = (catalog(&cluster, "shop"), catalog(&cluster, "shop_log"));

    let platform = Platform::start();
    let key = platform.key("Whatif Shop").await;
    let oa = platform.org_admin(&key.0).await;
    let c = platform.client();
    // pg_stat_statements' `$n` texts of `shop`; the log's texts, with their literals, of `shop_log`.
    let work = tempfile::tempdir().expect("tmp");
    let source = format!(
        "[[source]]\nname = \"pg\"\nkind = \"postgresql\"\nurl = \"{}\"\nmethods = [\"pg_stat_statements\"]\nmin_duration_ms = 0\nwhatif = true\n[source.exclude]\ndatabases = [\"shop_log\"]\n\n\
         [[source]]\nname = \"pglog\"\nkind = \"postgresql\"\nurl = \"{}\"\nmethods = [\"postgres_log\"]\nlog_path = \"{}\"\nmin_duration_ms = 0\nwhatif = true\n[source.exclude]\ndatabases = [\"shop\", \"postgres\"]\n",
        cluster.url("dbpower_agent", "shop"),
        cluster.url("dbpower_agent", "shop_log"),
        cluster.log().display(),
    );
    let (config, text) = keeping_literals(&platform, &key, &oa, work.path(), &source).await;
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
    cluster.workload(
        "shop_log",
        "SELECT note FROM orders WHERE customer_id = 777 AND id > 5",
    );
    ok(&agent(&config, &["--once"]));

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
    let broad = settled(&platform, &oa, &config, "WHERE status = $1").await;
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

    // The logged statement kept its literal: planned as it ran, no generic plan.
    let literal = settled(&platform, &oa, &config, "customer_id = 777").await;
    assert_eq!(
        literal["sample_sql"], "SELECT note FROM orders WHERE customer_id = 777 AND id > 5",
        "{literal}"
    );
    let v = &index_advice(&literal)["validation"];
    assert_eq!(v["status"], "validated", "{literal}");
    assert_eq!(v["uses_index"], true, "{v}");

    // The workload view of `shop`: the rejected advice is not advice.
    let (s, advice) = c
        .call(
            M::GET,
            "/api/v1/index-advice?database=shop",
            Some(&oa),
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{advice}");
    let tables = advice["tables"].as_array().expect("tables");
    let orders = tables
        .iter()
        .find(|t| t["table"].as_str().is_some_and(|n| n.ends_with("orders")))
        .unwrap_or_else(|| panic!("{advice}"));
    let create = orders["create"].as_array().expect("create");
    assert!(
        !create.is_empty() && create.iter().all(|p| p["columns"][0] == "customer_id"),
        "{orders}"
    );
    assert_eq!(
        orders["rejected"].as_array().map(Vec::len),
        Some(1),
        "{orders}"
    );

    // Nothing was created in the customer's databases.
    assert_eq!(
        (catalog(&cluster, "shop"), catalog(&cluster, "shop_log")),
        before
    );
}
