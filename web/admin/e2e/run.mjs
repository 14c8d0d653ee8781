// End-to-end tests of the admin panel in Debian's Chromium, driven by playwright-core.
// Started by `cargo test -p dbpower --test it panel` (which starts `dbpower serve`, creates an ORG_ADMIN
// and ingests a signed batch), or by hand against a running server:
//   E2E_BASE_URL=http://127.0.0.1:8080 E2E_CHROMIUM=/usr/bin/chromium E2E_SUPER_EMAIL=... \
//   E2E_SUPER_PASSWORD=... E2E_ADMIN_EMAIL=... E2E_ADMIN_PASSWORD=... E2E_ADMIN_ORGANIZATION=... \
//   E2E_AGENT_KEY_ID=... E2E_AGENT_SECRET=... node e2e/run.mjs
// E2E_AGENT_KEY_ID / E2E_AGENT_SECRET: an api key of the ORG_ADMIN's organization, whose signed batch
// opens a new-class alert while the dashboard is open (the server should evaluate alerts every second).
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { createHash, createHmac, randomUUID } from "node:crypto";
import { chromium } from "playwright-core";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("E2E_BASE_URL");
const ARTIFACTS = env("E2E_ARTIFACTS", "e2e/artifacts");
// A platform account logs in without an organization; an organization's accounts name theirs.
const SUPER = { email: env("E2E_SUPER_EMAIL"), password: env("E2E_SUPER_PASSWORD"), organization: "" };
const ADMIN = {
  email: env("E2E_ADMIN_EMAIL"),
  password: env("E2E_ADMIN_PASSWORD"),
  organization: env("E2E_ADMIN_ORGANIZATION"),
};
const NEW_USER = { email: "e2e-viewer@demo.example", password: "viewer-password-1", organization: ADMIN.organization };
const AGENT = { keyId: env("E2E_AGENT_KEY_ID"), secret: env("E2E_AGENT_SECRET") };
const MARKER = "e2e_invoices";
// A table no other run used: the class it makes is new, so the new-class rule opens an alert for it.
// Letters only: fingerprints replace digits in identifiers, and the rows show fingerprints.
const SLOW_TABLE = `refund_audit_${Array.from(Date.now().toString(36), (c) => (/[0-9]/.test(c) ? String.fromCharCode(103 + Number(c)) : c)).join("")}`;
// Plan history: a PostgreSQL and a MySQL statement, each run with two plans (letters only, as above).
const RUN_LETTERS = Array.from(Date.now().toString(36), (c) => (/[0-9]/.test(c) ? String.fromCharCode(103 + Number(c)) : c)).join("");
const PG_PLAN_TABLE = `plan_orders_${RUN_LETTERS}`;
const MY_PLAN_TABLE = `plan_invoices_${RUN_LETTERS}`;
mkdirSync(ARTIFACTS, { recursive: true });
rmSync(join(ARTIFACTS, "failure.png"), { force: true });

/** The API, called directly, to check that the panel shows what the server says. */
async function api(path, { token, method = "GET", body } = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(`${BASE}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}
async function apiLogin(who) {
  const r = await api("/api/v1/auth/login", { method: "POST", body: who });
  assert.equal(r.status, 200, `API login ${who.email}`);
  return r.body.access_token;
}
const count = (n) => new Intl.NumberFormat("en-US").format(Math.round(n));

/**
 * A request signed as an agent signs it (crates/dbpower-core/src/signing.rs): the HMAC-SHA256, in
 * lowercase hex, under the key's secret, of six lines joined by "\n" without a trailing newline:
 * DBPOWER-HMAC-SHA256, the unix timestamp, the request id, the method, the path with its query string,
 * and the lowercase hex SHA-256 of the raw body.
 */
function signature(secret, { timestamp, requestId, method, path, body }) {
  const bodyHash = createHash("sha256").update(body).digest("hex");
  const canonical = ["DBPOWER-HMAC-SHA256", String(timestamp), requestId, method, path, bodyHash].join("\n");
  return createHmac("sha256", secret).update(canonical).digest("hex");
}
// The published test vector (signing.rs): the port signs exactly as the server verifies.
assert.equal(
  signature("dbp-test-secret", {
    timestamp: 1700000000,
    requestId: "5d0c7a51-0000-4000-8000-000000000001",
    method: "POST",
    path: "/api/v1/slow-queries",
    body: Buffer.from('{"queries":[]}'),
  }),
  "dda10af8c686da66e169ad380f362fa476e7663fe27b5ac340e533399fde3f62",
);

/** `POST path` of `payload` signed with the agent's key, as `dbpower agent` sends it. */
async function signedPost(path, payload) {
  const body = Buffer.from(JSON.stringify(payload));
  const timestamp = Math.floor(Date.now() / 1000);
  const requestId = randomUUID();
  const r = await fetch(`${BASE}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-api-key": AGENT.keyId,
      "x-request-id": requestId,
      "x-timestamp": String(timestamp),
      "x-signature": signature(AGENT.secret, { timestamp, requestId, method: "POST", path, body }),
    },
    body,
  });
  return { status: r.status, text: await r.text() };
}

const browser = await chromium.launch({
  executablePath: env("E2E_CHROMIUM"),
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, baseURL: BASE });
const page = await context.newPage();
page.setDefaultTimeout(15_000);
const consoleLines = [];
const pageErrors = [];
page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => pageErrors.push(String(e)));

let step = "";
const steps = [];
async function run(name, fn) {
  step = name;
  const started = Date.now();
  await fn();
  steps.push(`ok   ${name} (${Date.now() - started} ms)`);
  console.log(`ok   ${name}`);
}
const shot = (name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

async function login(who) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Organization").fill(who.organization);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}
async function logout() {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("heading", { name: "Log in" }).waitFor();
}

try {
  await run("protected routes send an anonymous visitor to the login page", async () => {
    await page.goto("/queries");
    await page.getByRole("heading", { name: "Log in" }).waitFor();
    assert.match(page.url(), /\/login\?next=%2Fqueries$/);
    await shot("01-login");
  });

  await run("a wrong password is refused plainly", async () => {
    await page.getByLabel("Email").fill(ADMIN.email);
    await page.getByLabel("Organization").fill(ADMIN.organization);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "Wrong email, password or organization" }).waitFor();
    await shot("02-login-error");
  });

  await run("the ORG_ADMIN logs in and lands where they were going", async () => {
    await page.getByLabel("Password").fill(ADMIN.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Queries", exact: true }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/queries");
    const stored = await page.evaluate(() => ({ local: { ...localStorage }, session: { ...sessionStorage } }));
    assert.deepEqual(
      stored.local,
      { "dbpower.organization": ADMIN.organization },
      "localStorage keeps only the organization's name, for the next login",
    );
    assert.deepEqual(Object.keys(stored.session), ["dbpower.refresh_token"], "only the refresh token is kept");
  });

  const adminToken = await apiLogin(ADMIN);

  await run("the dashboard's numbers are the API's", async () => {
    await page.getByRole("link", { name: "Dashboard" }).click();
    const dash = (await api("/api/v1/stats/dashboard", { token: adminToken })).body;
    assert.ok(dash.total_queries >= 200, "demo data plus the ingested batch");
    const card = (id) => page.getByTestId(id);
    await card("stat-total-queries").filter({ hasText: count(dash.total_queries) }).waitFor();
    assert.equal(await card("stat-total-issues").innerText(), count(dash.total_issues));
    assert.equal(await card("stat-critical-issues").innerText(), count(dash.critical_issues));
    await page.locator(".recharts-bar-rectangle").first().waitFor();
    const top = (await api("/api/v1/query-classes?sort=total_time&per_page=5", { token: adminToken })).body;
    const rows = page.getByRole("region", { name: "Top query classes by total time" }).locator("tbody tr");
    assert.equal(await rows.count(), top.items.length);
    assert.equal(await rows.first().locator("a").getAttribute("title"), top.items[0].fingerprint);
    await shot("03-dashboard");
  });

  await run("queries: filters narrow the list on the server", async () => {
    await page.getByRole("link", { name: "Queries", exact: true }).click();
    await page.getByRole("search").getByLabel("Search").fill(MARKER);
    await page.waitForURL((u) => u.searchParams.get("q") === MARKER);
    const rows = page.locator("table tbody tr");
    await page.getByText("1–12 of 12").waitFor();
    const n = await rows.count();
    assert.equal(n, 12, "the twelve ingested executions");
    for (let i = 0; i < n; i++) assert.match(await rows.nth(i).innerText(), new RegExp(MARKER));
    // No literal reached the platform.
    assert.doesNotMatch(await page.locator("table").innerText(), /shop\.example/);
    await page.getByRole("group", { name: "Analysis status" }).getByRole("button", { name: "Unanalyzed" }).click();
    await page.waitForURL((u) => u.searchParams.get("status") === "unanalyzed");
    await page.getByRole("search").getByLabel("Engine").selectOption("postgresql");
    await page.getByText("No queries match these filters").waitFor();
    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.waitForURL((u) => u.search === "");
    await shot("04-queries");
  });

  await run("queries: a query's detail, then a re-analysis that updates it", async () => {
    await page.getByRole("search").getByLabel("Search").fill(MARKER);
    await page.waitForURL((u) => u.searchParams.get("q") === MARKER);
    await page.getByText("1–12 of 12").waitFor();
    await page.locator("table tbody tr .row-link").first().click();
    const panel = page.getByRole("complementary", { name: /^Query #/ });
    await panel.getByLabel("SQL").filter({ hasText: `FROM ${MARKER}` }).waitFor();
    await panel.getByRole("heading", { name: "Analysis" }).waitFor();
    // The background analysis of a new class finishes within seconds.
    await panel.locator(".analysis-summary").waitFor({ timeout: 30_000 });
    await panel.getByRole("button", { name: "Re-analyze" }).click();
    await panel.getByRole("button", { name: "Analyzing…" }).waitFor();
    // Shown only once the stored analysis's analyzed_at moved past the one shown before the click.
    await panel.getByText("Analysis updated.").waitFor({ timeout: 30_000 });
    await panel.getByRole("button", { name: "Re-analyze" }).waitFor();
    await panel.getByRole("heading", { name: "Recommendations" }).waitFor();
    await panel.getByRole("button", { name: "Copy DDL" }).first().waitFor();
    await shot("05-query-detail");
  });

  await run("on a 1280 px laptop screen the detail slides over the list; Escape closes it", async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`/queries?q=${MARKER}`);
    await page.getByText("1–12 of 12").waitFor();
    await page.locator("table tbody tr .row-link").nth(1).click();
    const panel = page.getByRole("complementary", { name: /^Query #/ });
    await panel.getByLabel("SQL", { exact: true }).waitFor();
    const box = await panel.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 1280 && box.y < 800, `panel on screen: ${JSON.stringify(box)}`);
    await shot("05b-laptop-query-detail");
    await page.keyboard.press("Escape");
    await panel.waitFor({ state: "detached" });
    assert.equal(new URL(page.url()).searchParams.get("selected"), null);
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await run("query classes rank by the chosen column", async () => {
    await page.getByRole("link", { name: "Query classes" }).click();
    await page.locator("table tbody tr").first().waitFor();
    await page.getByRole("button", { name: /^Count/ }).click();
    await page.waitForURL((u) => u.searchParams.get("sort") === "count");
    const api1 = (await api("/api/v1/query-classes?sort=count&per_page=25", { token: adminToken })).body;
    // The URL changes a render before the table asks for the new order: wait for the table to show it
    // (the assertion below then names both sides if it never does).
    await page
      .waitForFunction(
        (fp) => !document.querySelector("table.stale") && document.querySelector("table tbody tr a")?.getAttribute("title") === fp,
        api1.items[0].fingerprint,
        { timeout: 10000 },
      )
      .catch(() => {});
    assert.equal(await page.locator("table tbody tr").first().locator("a").getAttribute("title"), api1.items[0].fingerprint);
    await shot("06-query-classes");
  });

  await run("agents page", async () => {
    await page.getByRole("link", { name: "Agents" }).click();
    await page.getByRole("heading", { name: "Agents", exact: true }).waitFor();
    await shot("07-agents");
  });

  let keyId = "";
  await run("api keys: create one, see its secret once, revoke it", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("button", { name: "New key" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button", { name: "Create key" }).click();
    await dialog.getByText("must not be empty").waitFor();
    await dialog.getByLabel("Name").fill("e2e-host-7");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const secret = await dialog.getByTestId("new-key-secret").innerText();
    keyId = await dialog.getByTestId("new-key-id").innerText();
    assert.match(secret, /^dbps_[0-9a-f]{64}$/);
    const snippet = await dialog.getByTestId("agent-snippet").innerText();
    assert.ok(snippet.includes(`key_id = "${keyId}"`) && snippet.includes(`url = "${BASE}"`), snippet);
    assert.ok(!snippet.includes(secret), "the snippet never holds the secret");
    await shot("08-api-key-secret");
    await dialog.getByRole("button", { name: "I have saved the secret" }).click();
    const row = page.locator("tbody tr", { hasText: keyId });
    await row.waitFor();
    // Never shown again: not in the list, not in the API.
    assert.ok(!(await page.content()).includes(secret));
    const listed = (await api("/api/v1/api-keys?per_page=200", { token: adminToken })).body;
    assert.ok(!JSON.stringify(listed).includes(secret));
    await row.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
    await row.getByText("Revoked").waitFor();
    const key = listed.items.find((k) => k.key_id === keyId);
    const after = (await api(`/api/v1/api-keys/${key.id}`, { token: adminToken })).body;
    assert.ok(after.revoked_at, "revoked on the server");
    await shot("09-api-keys");
  });

  await run("teams and identities", async () => {
    await page.getByRole("link", { name: "Teams" }).click();
    await page.getByRole("button", { name: "New team" }).click();
    await page.getByRole("dialog").getByLabel("Name").fill("Payments");
    await page.getByRole("dialog").getByRole("button", { name: "Create team" }).click();
    await page.locator("tbody tr", { hasText: "Payments" }).waitFor();
    await shot("10-teams");
    await page.getByRole("link", { name: "Identities" }).click();
    await page.getByRole("button", { name: "New identity" }).click();
    await page.getByRole("dialog").getByLabel("Team").selectOption({ label: "Payments" });
    await page.getByRole("dialog").getByLabel("Name").fill("billing-service");
    await page.getByRole("dialog").getByRole("button", { name: "Create identity" }).click();
    await page.locator("tbody tr", { hasText: "billing-service" }).waitFor();
    await shot("10b-identities");
  });

  await run("users: the API's validation message, then a USER created by the ORG_ADMIN", async () => {
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("button", { name: "New user" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Email").fill(NEW_USER.email);
    await dialog.getByLabel("Initial password").fill("short");
    await dialog.getByLabel("Role").selectOption("USER");
    await dialog.getByRole("button", { name: "Create user" }).click();
    await dialog.getByText("must be at least 10 characters").waitFor();
    await dialog.getByLabel("Initial password").fill(NEW_USER.password);
    await dialog.getByLabel("Team").selectOption({ label: "Payments" });
    await dialog.getByLabel("Identity").selectOption({ label: "billing-service" });
    await dialog.getByRole("button", { name: "Create user" }).click();
    await page.locator("tbody tr", { hasText: NEW_USER.email }).waitFor();
    await shot("11-users");
    const users = (await api("/api/v1/users?per_page=200", { token: adminToken })).body;
    const created = users.items.find((u) => u.email === NEW_USER.email);
    assert.equal(created.role, "USER");
  });

  await run("settings: saved and read back", async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByLabel("Retention (days)").fill("45");
    await page.getByLabel("Requests per minute").fill("600");
    await page.getByRole("button", { name: "Save settings" }).click();
    await page.getByText("Saved.").waitFor();
    const me = (await api("/api/v1/auth/me", { token: adminToken })).body;
    const org = (await api(`/api/v1/organizations/${me.organization_id}`, { token: adminToken })).body;
    assert.equal(org.retention_days, 45);
    assert.equal(org.settings.rate_limit_per_minute, 600);
    await shot("12-settings");
  });

  let slowAlertId = 0;
  await run("an alert created by ingestion appears on the open dashboard without reload", async () => {
    await page.getByRole("link", { name: "Dashboard" }).click();
    const region = page.getByRole("region", { name: "Open alerts" });
    // Loaded: its rows, or its empty state.
    await region.getByTestId("open-alert-row").or(region.getByText("No open alerts")).first().waitFor();
    const before = await region.getByTestId("open-alert-row").count();
    // A reload would drop this.
    await page.evaluate(() => {
      window.__e2eSamePage = true;
    });
    const observedAt = new Date().toISOString();
    const queries = Array.from({ length: 30 }, (_, i) => ({
      sql_text: `SELECT r.id, r.amount FROM ${SLOW_TABLE} r WHERE r.order_id = ${1000 + i} AND r.state = 'pending'`,
      execution_time_ms: 800,
      database_type: "mysql",
      database_name: "billing",
      rows_examined: 90_000,
      rows_sent: 1,
      observed_at: observedAt,
    }));
    const sent = await signedPost("/api/v1/slow-queries", { queries });
    assert.equal(sent.status, 202, `signed ingestion: ${sent.text}`);
    // The evaluator opens a new-class alert; the live stream (or, failing it, polling) brings it here.
    await region.getByTestId("open-alert-row").filter({ hasText: SLOW_TABLE }).first().waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate(() => window.__e2eSamePage), true, "the page was not reloaded");
    const after = await region.getByTestId("open-alert-row").count();
    assert.ok(after >= Math.min(before + 1, 5), `open-alert rows: ${before} before, ${after} after`);
    const open = (await api("/api/v1/alerts?status=open&per_page=200", { token: adminToken })).body;
    const alert = open.items.find((a) => a.fingerprint.includes(SLOW_TABLE));
    assert.ok(alert, `the API lists the open alert of ${SLOW_TABLE}`);
    assert.equal(alert.kind, "new_class");
    slowAlertId = alert.id;
  });

  await run("acknowledging in the panel shows in the API", async () => {
    await page.getByRole("link", { name: /^Alerts/ }).click();
    await page.getByRole("heading", { name: "Alerts", exact: true }).waitFor();
    const row = page.locator("tbody tr", { hasText: SLOW_TABLE });
    await row.locator(".row-link").click();
    await page.waitForURL((u) => u.searchParams.get("selected") === String(slowAlertId));
    const panel = page.getByRole("complementary", { name: `Alert #${slowAlertId}` });
    await panel.getByRole("heading", { name: "Baseline vs window" }).waitFor();
    await panel.getByRole("button", { name: "Acknowledge" }).click();
    await panel.getByText("Acknowledged", { exact: true }).waitFor();
    await panel.getByRole("button", { name: "Acknowledge" }).waitFor({ state: "detached" });
    const after = (await api(`/api/v1/alerts/${slowAlertId}`, { token: adminToken })).body;
    assert.equal(after.status, "acknowledged");
    await row.getByText("Acknowledged", { exact: true }).waitFor();
    await shot("18-alerts");
  });

  // PostgreSQL `EXPLAIN (ANALYZE, FORMAT JSON)`: a Limit over a sequential scan, then over an index scan.
  const pgPlan = (index) => [
    {
      Plan: {
        "Node Type": "Limit",
        "Startup Cost": 0,
        "Total Cost": index ? 8.3 : 1834,
        "Plan Rows": 1,
        "Plan Width": 40,
        "Actual Total Time": index ? 0.05 : 410,
        "Actual Rows": 1,
        "Actual Loops": 1,
        Plans: [
          {
            "Node Type": index ? "Index Scan" : "Seq Scan",
            "Parent Relationship": "Outer",
            ...(index ? { "Scan Direction": "Forward", "Index Name": index } : {}),
            "Relation Name": PG_PLAN_TABLE,
            Alias: "o",
            "Startup Cost": 0,
            "Total Cost": index ? 8.3 : 1834,
            "Plan Rows": index ? 1 : 40,
            "Plan Width": 40,
            "Actual Total Time": index ? 0.04 : 409,
            "Actual Rows": 1,
            "Actual Loops": 1,
            ...(index ? { "Index Cond": "(customer_ref = 17)" } : { Filter: "(customer_ref = 17)", "Rows Removed by Filter": 99999 }),
          },
        ],
      },
      "Planning Time": 0.2,
      "Execution Time": index ? 0.06 : 410.5,
    },
  ];
  // MariaDB `EXPLAIN FORMAT=JSON`: the table read whole, then by a key.
  const mariaPlan = (key) => ({
    query_block: {
      select_id: 1,
      table: key
        ? { table_name: MY_PLAN_TABLE, access_type: "ref", possible_keys: [key], key, key_length: "8", used_key_parts: ["customer_ref"], ref: ["const"], rows: 3, filtered: 100 }
        : { table_name: MY_PLAN_TABLE, access_type: "ALL", rows: 50000, filtered: 100, attached_condition: `${MY_PLAN_TABLE}.customer_ref = 17` },
    },
  });

  await run("plan history: a signed batch brings two plans for a PostgreSQL and a MySQL statement", async () => {
    const dayAgo = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
    const now = new Date().toISOString();
    const pgSql = (n) => `SELECT o.id, o.total FROM ${PG_PLAN_TABLE} o WHERE o.customer_ref = ${n} LIMIT 1`;
    const mySql = (n) => `SELECT i.id, i.amount FROM ${MY_PLAN_TABLE} i WHERE i.customer_ref = ${n}`;
    const queries = [
      { sql_text: pgSql(17), execution_time_ms: 410, database_type: "postgresql", database_name: "shop", observed_at: dayAgo, explain: pgPlan(null) },
      { sql_text: pgSql(18), execution_time_ms: 12, database_type: "postgresql", database_name: "shop", observed_at: now, explain: pgPlan(`${PG_PLAN_TABLE}_ref_idx`) },
      { sql_text: mySql(17), execution_time_ms: 380, database_type: "mysql", database_name: "billing", observed_at: dayAgo, explain: mariaPlan(null) },
      { sql_text: mySql(18), execution_time_ms: 9, database_type: "mysql", database_name: "billing", observed_at: now, explain: mariaPlan("customer_ref_idx") },
    ];
    const sent = await signedPost("/api/v1/slow-queries", { queries });
    assert.equal(sent.status, 202, `signed ingestion: ${sent.text}`);
    // The API lists each class's two shapes, newest first.
    for (const [table, engine, newest, oldest] of [
      [PG_PLAN_TABLE, "postgresql", `${PG_PLAN_TABLE}: Index Scan using ${PG_PLAN_TABLE}_ref_idx`, `${PG_PLAN_TABLE}: Seq Scan`],
      [MY_PLAN_TABLE, "mysql", `${MY_PLAN_TABLE}: ref using customer_ref_idx`, `${MY_PLAN_TABLE}: ALL`],
    ]) {
      const classes = (await api(`/api/v1/query-classes?q=${table}&database_type=${engine}`, { token: adminToken })).body;
      assert.equal(classes.items.length, 1, `one ${engine} class of ${table}`);
      const plans = await api(`/api/v1/query-classes/${classes.items[0].query_id}/plans?database_type=${engine}`, { token: adminToken });
      assert.equal(plans.status, 200, JSON.stringify(plans.body));
      assert.deepEqual(
        plans.body.map((p) => p.summary),
        [newest, oldest],
        `${engine} plans, newest first`,
      );
    }
  });

  /**
   * A class's detail in the panel (the class page's link, then one of its queries): its Plans section
   * lists both plans, draws the older one's tree, and compares the two with the changed node marked.
   */
  async function checkPlans({ table, engine, older, newer, olderNode, newerNode, shot: name }) {
    await page.getByRole("link", { name: "Query classes" }).click();
    await page.getByRole("searchbox", { name: "Search" }).fill(table);
    await page.waitForURL((u) => u.searchParams.get("q") === table);
    await page.getByRole("link", { name: new RegExp(table) }).click();
    await page.waitForURL((u) => u.pathname === "/queries" && u.searchParams.get("database_type") === engine && u.searchParams.has("query_id"));
    await page.getByText("1–2 of 2").waitFor();
    await page.locator("table tbody tr .row-link").first().click();
    const panel = page.getByRole("complementary", { name: /^Query #/ });
    const plans = panel.getByRole("region", { name: "Plans", exact: true });
    const items = plans.getByRole("list", { name: "Plan shapes, newest first" }).getByRole("listitem");
    await items.first().waitFor();
    assert.equal(await items.count(), 2, "two plan shapes");
    assert.match(await items.nth(0).innerText(), new RegExp(`${newer}[\\s\\S]*current`));
    assert.doesNotMatch(await items.nth(1).innerText(), /current/);
    // One plan: its tree.
    await plans.getByRole("button", { name: `Select plan ${older}` }).click();
    const tree = plans.getByRole("list", { name: `Plan tree: ${older}` });
    await tree.getByText(olderNode, { exact: true }).first().waitFor();
    // Two: side by side, the node that changed marked in both.
    await plans.getByRole("button", { name: `Select plan ${newer}` }).click();
    await plans.getByRole("heading", { name: "Plan comparison" }).waitFor();
    await plans.getByText("1 node changed.").waitFor();
    const after = plans.getByRole("region", { name: `Newer: ${newer}` });
    const changed = after.locator(".plan-node-changed");
    await changed.first().waitFor();
    assert.equal(await changed.count(), 1, "exactly one changed node in the newer plan");
    await changed.getByText("changed", { exact: true }).waitFor();
    await changed.getByText(newerNode, { exact: true }).first().waitFor();
    assert.equal(await plans.getByRole("region", { name: `Older: ${older}` }).locator(".plan-node-changed").count(), 1);
    await shot(name);
  }

  await run("plan history: a PostgreSQL class's plans, one plan's tree and the two compared", async () => {
    await checkPlans({
      table: PG_PLAN_TABLE,
      engine: "postgresql",
      older: `${PG_PLAN_TABLE}: Seq Scan`,
      newer: `${PG_PLAN_TABLE}: Index Scan using ${PG_PLAN_TABLE}_ref_idx`,
      olderNode: "Seq Scan",
      newerNode: "Index Scan",
      shot: "18b-plans-postgresql",
    });
  });

  await run("plan history: a MariaDB class's plans, one plan's tree and the two compared", async () => {
    await checkPlans({
      table: MY_PLAN_TABLE,
      engine: "mysql",
      older: `${MY_PLAN_TABLE}: ALL`,
      newer: `${MY_PLAN_TABLE}: ref using customer_ref_idx`,
      olderNode: "full scan",
      newerNode: MY_PLAN_TABLE,
      shot: "18c-plans-mariadb",
    });
  });

  /**
   * Index advice for the workload: two statements on one large table whose single-query advice would
   * be two indexes, sent with the table's description (an index never scanned, one that is a left prefix
   * of another, the primary key); the page proposes one index serving both and the two drops, never the key.
   */
  await run("index advice: two recommendations become one index, an unused and a prefix index are dropped", async () => {
    const table = `advice_orders_${RUN_LETTERS}`;
    const since = new Date(Date.now() - 40 * 24 * 3600 * 1000).toISOString();
    const schema = { tables: [{ name: table, schema: "public", rows: 2000000, usage_since: since,
      columns: [{ name: "id", type: "bigint" }, { name: "customer_ref", type: "int" }, { name: "status", type: "int" }, { name: "note", type: "text" }, { name: "created_at", type: "timestamptz" }],
      indexes: [
        { name: `${table}_pkey`, columns: ["id"], unique: true, primary: true, scans: 0 },
        { name: `${table}_note_idx`, columns: ["note"], scans: 0 },
        { name: `${table}_created_idx`, columns: ["created_at"], scans: 3 },
        { name: `${table}_created_note_idx`, columns: ["created_at", "note"], scans: 9 },
      ] }] };
    const queries = [
      { sql_text: `SELECT note FROM ${table} WHERE customer_ref = $1`, execution_time_ms: 640, calls: 30, database_type: "postgresql", database_name: "shop", schema },
      { sql_text: `SELECT note FROM ${table} WHERE status = $1 AND customer_ref = $2`, execution_time_ms: 520, calls: 12, database_type: "postgresql", database_name: "shop", schema },
    ];
    const sent = await signedPost("/api/v1/slow-queries", { queries });
    assert.equal(sent.status, 202, `signed ingestion: ${sent.text}`);
    let advice;
    for (let i = 0; i < 100; i++) {
      const r = await api(`/api/v1/index-advice?table=${table}`, { token: adminToken });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      advice = r.body.tables.find((t) => t.table === `public.${table}`);
      if (advice && advice.create.length > 0 && advice.create[0].replaces === 2) break;
      await new Promise((ok) => setTimeout(ok, 200));
    }
    assert.ok(advice, "the table's advice");
    assert.equal(advice.create.length, 1, JSON.stringify(advice.create));
    assert.deepEqual(advice.create[0].columns, ["customer_ref", "status"]);
    assert.deepEqual(advice.drop.map((d) => [d.index, d.reason]), [[`${table}_note_idx`, "unused"], [`${table}_created_idx`, "redundant_prefix"]]);

    await page.getByRole("link", { name: "Index advice" }).click();
    await page.waitForURL((u) => u.pathname === "/index-advice");
    const card = page.getByTestId("index-advice-table").filter({ hasText: table });
    await card.waitFor();
    const create = card.getByTestId("index-create");
    assert.equal(await create.count(), 1, "one index to create");
    assert.match(await create.innerText(), /stands for 2 single-query recommendations/);
    assert.match(await create.innerText(), /customer_ref, status/);
    const drops = card.getByTestId("index-drop");
    assert.equal(await drops.count(), 2, "two indexes to drop");
    assert.doesNotMatch(await card.innerText(), new RegExp(`DROP INDEX[^;]*${table}_pkey`));
    await shot("18d-index-advice");
  });

  await run("compare: the previous day against the day before, and its CSV", async () => {
    await page.getByRole("link", { name: "Compare" }).click();
    await page.getByText("Choose two windows").waitFor();
    const [resp] = await Promise.all([
      page.waitForResponse((r) => r.url().includes("/api/v1/compare?") && r.request().method() === "GET"),
      page.getByRole("button", { name: "Previous day" }).click(),
    ]);
    assert.equal(resp.status(), 200, await resp.text());
    const data = await resp.json();
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("preset"), "day");
    assert.equal(Date.parse(data.b_to) - Date.parse(data.b_from), 24 * 3600 * 1000);
    assert.equal(data.a_to, data.b_from);
    assert.equal(new Date(data.b_to).getUTCMinutes(), 0, "B ends at the current hour");
    const summary = page.getByTestId("compare-summary");
    await summary.or(page.getByText("No classes ran in either window")).first().waitFor();
    if (data.total > 0) {
      await summary.filter({ hasText: `${count(data.summary.regressed)} regressed` }).waitFor();
      assert.equal(await page.locator("tbody tr").count(), data.items.length);
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Download CSV" }).click(),
      ]);
      const path = await download.path();
      const csv = readFileSync(path, "utf8");
      assert.match(csv, /^query_id,database_type,change,/);
    }
    await shot("19-compare");
  });

  await run("audit log with its chain verified", async () => {
    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByText(/^Chain verified/).waitFor();
    await page.locator("tbody tr", { hasText: "api_key.revoke" }).first().waitFor();
    await page.getByLabel("Action").fill("user.create");
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("tbody tr")];
      return rows.length > 0 && rows.every((r) => r.textContent?.includes("user.create"));
    });
    await shot("15-audit");
  });

  await run("a USER sees the data pages and no admin page", async () => {
    await logout();
    await login(NEW_USER);
    const nav = page.getByRole("navigation", { name: "Main" });
    await nav.getByRole("link", { name: "Queries" }).waitFor();
    for (const name of ["Organizations", "Teams", "Identities", "Users", "API keys", "Audit log", "Settings"]) {
      assert.equal(await nav.getByRole("link", { name, exact: true }).count(), 0, `${name} is not offered`);
    }
    await page.goto("/users");
    await page.getByText("Not available for your role").waitFor();
    await shot("16-user-denied");
    await page.goto("/");
    // Scoped to the USER's identity, which has sent nothing: not the organization's numbers.
    const userDash = (await api("/api/v1/stats/dashboard", { token: await apiLogin(NEW_USER) })).body;
    await page.getByTestId("stat-total-queries").filter({ hasText: count(userDash.total_queries) }).waitFor();
    assert.equal(userDash.total_queries, 0);
    await page.getByText("An administrator of your organization connects agents.").waitFor();
    await shot("17-user-view");
  });

  await run("the SUPER_ADMIN manages organizations", async () => {
    await logout();
    await login(SUPER);
    await page.getByRole("link", { name: "Organizations" }).click();
    await page.locator("tbody tr", { hasText: "Demo Organization" }).waitFor();
    await shot("18-organizations");
  });

  await run("a reload keeps the session (silent refresh)", async () => {
    await page.reload();
    await page.locator("tbody tr", { hasText: "Demo Organization" }).waitFor();
  });

  await run("the console shows no error, token or SQL", async () => {
    assert.deepEqual(pageErrors, [], "uncaught page errors");
    const bad = consoleLines.filter((l) => /eyJ|Bearer|dbps_|SELECT|e2e_invoices/i.test(l) || l.startsWith("error:"));
    // The refused login (401) and the two refused forms (422) are logged by the browser itself as
    // failed resources, without URL or body; nothing else may be.
    const unexpected = bad.filter((l) => !/^error: Failed to load resource: the server responded with a status of (401|422)/.test(l));
    assert.deepEqual(unexpected, [], "console lines");
  });
  console.log(`\n${steps.length} steps passed; screenshots in ${ARTIFACTS}`);
} catch (e) {
  console.error(`FAILED at step: ${step}`);
  console.error(e);
  await shot("failure").catch(() => undefined);
  console.error(consoleLines.slice(-20).join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
