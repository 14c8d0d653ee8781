import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Schemas } from "../api/types";
import { json } from "../test/fakeApi";
import { EMPTY_PAGE, loggedInAs, renderAt } from "../test/app";

const CREATE_DDL = "CREATE INDEX CONCURRENTLY orders_customer_id_created_at_idx ON orders (customer_id, created_at)";
const DROP_DDL = "DROP INDEX CONCURRENTLY orders_legacy_idx";
const REJECTED_DDL = "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status)";

function ordersAdvice(): Schemas["TableAdvice"] {
  return {
    database_type: "postgresql",
    database_name: "shop",
    table: "orders",
    rows: 1_200_000,
    writes: 3400,
    existing_indexes: 4,
    create: [
      {
        columns: ["customer_id", "created_at"],
        ddl: CREATE_DDL,
        replaces: 3,
        trade: "Speeds up 9,000 executions a day against 3,400 writes that must maintain it.",
        serves: [
          { query_id: "AAAA000000000001", executions: 5000, total_time_ms: 120_000 },
          { query_id: "AAAA000000000002", executions: 3000, total_time_ms: 45_000 },
          { query_id: "AAAA000000000003", executions: 1000, total_time_ms: 900 },
        ],
        validation: {
          status: "validated",
          method: "hypopg",
          cost_before: 35000,
          cost_after: 8.1,
          uses_index: true,
          checked_at: "2026-12-01T09:00:00Z",
        },
      },
    ],
    drop: [
      {
        index: "orders_legacy_idx",
        columns: ["legacy_ref"],
        reason: "unused",
        detail: "Not scanned since statistics were reset 45 days ago.",
        ddl: DROP_DDL,
        scans: 0,
      },
    ],
    served_by_existing: [{ query_id: "BBBB000000000001", index: "orders_pkey" }],
    rejected: [
      {
        query_id: "CCCC000000000001",
        ddl: REJECTED_DDL,
        validation: { status: "rejected", method: "hypopg", cost_before: 100, cost_after: 100, uses_index: false, reason: "the planner keeps the sequential scan" },
      },
    ],
  };
}

function report(tables: Schemas["TableAdvice"][] = [ordersAdvice()]): Schemas["IndexAdviceReport"] {
  return { unused_days: 30, recommendations: 5, proposed: 1, tables };
}

function adviceApi(answer: (req: Request) => unknown = () => report()) {
  return loggedInAs("ORG_ADMIN", { "GET /api/v1/index-advice": answer });
}

const asked = (fake: ReturnType<typeof adviceApi>) =>
  fake.calls.filter((c) => c.path.startsWith("/api/v1/index-advice")).map((c) => new URL(c.path, "http://x").searchParams);

describe("the index advice page", () => {
  it("is in the navigation", async () => {
    adviceApi();
    renderAt("/");
    const nav = await screen.findByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Index advice" })).toHaveAttribute("href", "/index-advice");
  });

  it("shows a table's index to create, serving three classes, and its index to drop", async () => {
    const fake = adviceApi();
    renderAt("/index-advice");
    const section = await screen.findByTestId("index-advice-table");
    expect(screen.getByTestId("index-advice-page")).toContainElement(section);
    expect(screen.getAllByTestId("index-advice-table")).toHaveLength(1);
    expect(within(section).getByRole("heading", { name: "orders" })).toBeInTheDocument();
    expect(section).toHaveTextContent(/PostgreSQL · shop · 1,200,000 rows · 3,400 writes · 4 existing indexes/);
    expect(screen.getByTestId("index-advice-summary")).toHaveTextContent(
      "5 single-query recommendations considered, 1 index proposed. An index not scanned for 30 days is proposed for dropping.",
    );

    const creates = within(section).getAllByTestId("index-create");
    expect(creates).toHaveLength(1);
    const create = creates[0] as HTMLElement;
    expect(create).toHaveTextContent("Index on (customer_id, created_at)");
    expect(create).toHaveTextContent("stands for 3 single-query recommendations");
    expect(create).toHaveTextContent("Speeds up 9,000 executions a day against 3,400 writes that must maintain it.");
    expect(within(create).getByText(CREATE_DDL)).toBeInTheDocument();
    expect(within(create).getByRole("button", { name: "Copy DDL" })).toBeInTheDocument();
    expect(within(create).getByTestId("index-validation")).toHaveTextContent("Validated (hypopg): cost 35,000 → 8.1 (4,321× cheaper)");
    expect(create).toHaveTextContent("Serves 3 classes");
    const rows = within(create).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toHaveTextContent(/AAAA000000000001\s*5,000\s*2\.0 min/);
    expect(rows[2]).toHaveTextContent(/AAAA000000000003\s*1,000\s*900 ms/);
    // Each class links to its queries, with the engine (a MySQL and a PostgreSQL class may share an id).
    expect(within(create).getByRole("link", { name: "AAAA000000000002" })).toHaveAttribute(
      "href",
      "/queries?query_id=AAAA000000000002&database_type=postgresql",
    );

    const drops = within(section).getAllByTestId("index-drop");
    expect(drops).toHaveLength(1);
    const drop = drops[0] as HTMLElement;
    expect(drop).toHaveTextContent("orders_legacy_idx");
    expect(drop).toHaveTextContent("(legacy_ref)");
    expect(drop).toHaveTextContent("Unused");
    expect(drop).toHaveTextContent("Not scanned since statistics were reset 45 days ago.");
    expect(drop).toHaveTextContent("0 scans");
    expect(within(drop).getByText(DROP_DDL)).toBeInTheDocument();

    const served = within(section).getByRole("list", { name: "Recommendations an existing index on orders serves" });
    expect(served).toHaveTextContent("BBBB000000000001 → orders_pkey");

    // The default window, and no database or table filter.
    const params = asked(fake)[0];
    expect(params?.get("unused_days")).toBe("30");
    expect(params?.has("database")).toBe(false);
    expect(params?.has("table")).toBe(false);
  });

  it("hides the advice a validation rejected until asked", async () => {
    adviceApi();
    renderAt("/index-advice");
    const section = await screen.findByTestId("index-advice-table");
    expect(within(section).queryByText(REJECTED_DDL)).toBeNull();
    expect(within(section).queryByText("CCCC000000000001")).toBeNull();
    const toggle = within(section).getByTestId("index-rejected-toggle");
    expect(toggle).toHaveTextContent("Show 1 rejected by validation");
    expect(toggle).toHaveAttribute("aria-expanded", "false");

    const user = userEvent.setup();
    await user.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(toggle).toHaveTextContent("Hide 1 rejected by validation");
    const rejected = within(section).getByTestId("index-rejected");
    expect(rejected).toHaveTextContent("CCCC000000000001");
    expect(within(rejected).getByText(REJECTED_DDL)).toBeInTheDocument();
    expect(rejected).toHaveTextContent("Rejected (hypopg): the planner keeps the sequential scan");
    // Rejected advice is never among the indexes to create.
    expect(within(section).getAllByTestId("index-create")).toHaveLength(1);

    await user.click(toggle);
    expect(within(section).queryByText(REJECTED_DDL)).toBeNull();
  });

  it("shows a pending and an unavailable validation in words", async () => {
    const pending = ordersAdvice();
    const unavailable = { ...ordersAdvice(), table: "customers", drop: [], served_by_existing: [], rejected: [] };
    pending.create[0]!.validation = { status: "pending" };
    unavailable.create[0]!.validation = { status: "unavailable", reason: "no agent can run hypopg on this database" };
    adviceApi(() => report([pending, unavailable]));
    renderAt("/index-advice");
    const badges = await screen.findAllByTestId("index-validation");
    expect(badges[0]).toHaveTextContent("Validation pending waiting for an agent with whatif");
    expect(badges[1]).toHaveTextContent("Not validated: no agent can run hypopg on this database");
    expect(screen.getAllByTestId("index-advice-table")).toHaveLength(2);
    // Only the first table has rejected advice.
    expect(screen.getAllByTestId("index-rejected-toggle")).toHaveLength(1);
  });

  it("sends the filters, and refuses a number of days out of bounds without asking", async () => {
    const fake = adviceApi();
    renderAt("/index-advice");
    await screen.findByTestId("index-advice-table");
    const user = userEvent.setup();
    const form = screen.getByRole("search", { name: "Filter advice" });
    const days = within(form).getByRole("spinbutton", { name: "Unused for (days)" });

    await user.clear(days);
    await user.type(days, "0");
    await user.click(within(form).getByRole("button", { name: "Apply" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("a whole number of days from 1 to 3,650");
    expect(asked(fake)).toHaveLength(1);

    await user.clear(days);
    await user.type(days, "90");
    await user.type(within(form).getByRole("textbox", { name: "Database" }), "shop");
    await user.type(within(form).getByRole("textbox", { name: "Table" }), "orders");
    await user.click(within(form).getByRole("button", { name: "Apply" }));
    await waitFor(() => expect(asked(fake)).toHaveLength(2));
    const params = asked(fake)[1];
    expect(params?.get("unused_days")).toBe("90");
    expect(params?.get("database")).toBe("shop");
    expect(params?.get("table")).toBe("orders");
    expect(window.location.search).toBe("?unused_days=90&database=shop&table=orders");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("says when there is no advice yet", async () => {
    adviceApi(() => report([]));
    renderAt("/index-advice");
    expect(await screen.findByRole("heading", { name: "No index advice yet" })).toBeInTheDocument();
    expect(screen.getByText("Advice appears once classes are analysed and agents describe their tables.")).toBeInTheDocument();
    expect(screen.queryByTestId("index-advice-table")).toBeNull();
  });

  it("shows the API's error", async () => {
    adviceApi(() =>
      json(422, { error: { code: "validation_failed", field: "unused_days", message: "must be from 1 to 3650", request_id: "r" } }),
    );
    renderAt("/index-advice?unused_days=30");
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Something went wrong.");
    expect(alert).toHaveTextContent("unused_days: must be from 1 to 3650");
  });
});

const QUERY_ID = "ABCDEF0123456789";

function recommendation(
  title: string,
  validation?: Schemas["IndexValidation"],
  sql = `CREATE INDEX CONCURRENTLY ${title.replace(/\W+/g, "_")} ON orders (email)`,
): Schemas["Recommendation"] {
  return { kind: "index", title, rationale: `why ${title}`, estimated_impact: "high", sql, validation };
}

function detailApi(recommendations: Schemas["Recommendation"][], applied: Schemas["AppliedAdvice"][] = []) {
  const cls: Schemas["QueryClassView"] = {
    query_id: QUERY_ID,
    database_type: "postgresql",
    fingerprint: "select * from orders where email = ?",
    fingerprint_version: 1,
    sample_sql: "SELECT * FROM orders WHERE email = $1",
    count: 2,
    total_time_ms: 1210,
    avg_time_ms: 605,
    max_time_ms: 1200,
    databases: [],
    first_seen: "2026-11-30T09:00:00Z",
    last_seen: "2026-12-01T09:00:00Z",
  };
  return loggedInAs("ORG_ADMIN", {
    "GET /api/v1/slow-queries": () => EMPTY_PAGE,
    "GET /api/v1/slow-queries/42": () => ({
      id: 42,
      query_id: QUERY_ID,
      sql_text: "SELECT * FROM orders WHERE email = $1",
      database_type: "postgresql",
      execution_time_ms: 600,
      calls: 1,
      observed_at: "2026-12-01T09:00:00Z",
      created_at: "2026-12-01T09:00:00Z",
      class: cls,
      analysis: {
        severity: "HIGH",
        summary: "a sequential scan of orders",
        issues: [],
        recommendations,
        engine: ["rules"],
        parse_ok: true,
        analyzed_at: "2026-12-01T10:00:00Z",
        applied,
      },
    }),
    [`GET /api/v1/query-classes/${QUERY_ID}`]: () => ({ ...cls, series: [] }),
    [`GET /api/v1/query-classes/${QUERY_ID}/plans`]: () => [],
  });
}

describe("a class analysis's recommendations and their validation", () => {
  it("badges each recommendation's validation", async () => {
    detailApi([
      recommendation("Index orders by email", {
        status: "validated",
        method: "hypopg",
        cost_before: 35000,
        cost_after: 8.1,
        time_before_ms: 1200,
        time_after_ms: 10,
        uses_index: true,
      }),
      recommendation("Index orders by status", { status: "pending" }),
      recommendation("Index orders by lower(email)", { status: "unavailable", reason: "hypopg is not installed" }),
      recommendation("Rewrite the OR as a UNION"),
    ]);
    renderAt("/queries?selected=42");
    const list = await screen.findByRole("list", { name: "Recommendations" });
    const items = within(list).getAllByRole("listitem");
    expect(items).toHaveLength(4);
    expect(within(items[0] as HTMLElement).getByTestId("rec-validation")).toHaveTextContent(
      "Validated (hypopg): cost 35,000 → 8.1 (4,321× cheaper), time 1.20 s → 10 ms",
    );
    expect(within(items[1] as HTMLElement).getByTestId("rec-validation")).toHaveTextContent("Validation pending");
    expect(within(items[2] as HTMLElement).getByTestId("rec-validation")).toHaveTextContent("Not validated: hypopg is not installed");
    expect(within(items[3] as HTMLElement).queryByTestId("rec-validation")).toBeNull();
    expect(screen.queryByTestId("rec-rejected-toggle")).toBeNull();
  });

  it("shows applied advice with its measured effect", async () => {
    const ddl = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_orders_email ON orders (email);";
    detailApi(
      [],
      [
        {
          ddl,
          index: "orders_email_idx",
          since: "2026-12-01T08:30:00Z",
          calls_before: 1200,
          calls_after: 340,
          p95_before_ms: 1800,
          p95_after_ms: 12,
          summary: "p95 1.8 s -> 12 ms since 2026-12-01 (orders_email_idx)",
        },
      ],
    );
    renderAt("/queries?selected=42");
    const list = await screen.findByRole("list", { name: "Applied advice" });
    const item = within(list).getByTestId("applied-advice");
    expect(item).toHaveTextContent("p95 1.8 s -> 12 ms since 2026-12-01 (orders_email_idx)");
    expect(item).toHaveTextContent("1,200 executions measured in the week before");
    expect(item).toHaveTextContent("340 from the hour after");
    expect(within(item).getByText(ddl)).toBeInTheDocument();
    expect(screen.queryByRole("list", { name: "Recommendations" })).toBeNull();
  });

  it("does not list a rejected recommendation as advice, but shows it with the reason on request", async () => {
    detailApi([
      recommendation("Index orders by email", { status: "validated", method: "hypopg", cost_before: 35000, cost_after: 8.1 }),
      recommendation("Index orders by status", {
        status: "rejected",
        method: "hypopg",
        cost_before: 1000,
        cost_after: 1000,
        uses_index: false,
        reason: "the plan does not read the index",
      }),
    ]);
    renderAt("/queries?selected=42");
    const list = await screen.findByRole("list", { name: "Recommendations" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(1);
    expect(list).toHaveTextContent("Index orders by email");
    expect(screen.queryByText("Index orders by status")).toBeNull();
    expect(screen.queryByText(/the plan does not read the index/)).toBeNull();

    const toggle = screen.getByTestId("rec-rejected-toggle");
    expect(toggle).toHaveTextContent("1 recommendation rejected by validation");
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    const user = userEvent.setup();
    await user.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    const rejected = screen.getByRole("list", { name: "Recommendations rejected by validation" });
    expect(rejected).toHaveTextContent("Index orders by status");
    expect(within(rejected).getByTestId("rec-validation")).toHaveTextContent("Rejected (hypopg): the plan does not read the index");
    // Still not among the advice.
    expect(within(list).getAllByRole("listitem")).toHaveLength(1);
  });

  it("says so when every recommendation was rejected", async () => {
    detailApi([
      recommendation("Index orders by status", { status: "rejected", reason: "no cheaper" }),
      recommendation("Index orders by state", { status: "rejected", reason: "no cheaper" }),
    ]);
    renderAt("/queries?selected=42");
    expect(await screen.findByText("No recommendation passed validation.")).toBeInTheDocument();
    expect(screen.queryByRole("list", { name: "Recommendations" })).toBeNull();
    expect(screen.getByTestId("rec-rejected-toggle")).toHaveTextContent("2 recommendations rejected by validation");
  });
});
