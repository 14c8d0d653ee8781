import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Schemas } from "../api/types";
import { EMPTY_PAGE, loggedInAs, renderAt } from "../test/app";
import { pgLookup } from "../test/plans";

const QUERY_ID = "ABCDEF0123456789";

function pgClass(): Schemas["QueryClassView"] {
  return {
    query_id: QUERY_ID,
    database_type: "postgresql",
    fingerprint: "select * from orders where email = ? limit ?",
    fingerprint_version: 1,
    sample_sql: "SELECT * FROM orders WHERE email = $1 LIMIT 1",
    count: 2,
    total_time_ms: 1210,
    avg_time_ms: 605,
    max_time_ms: 1200,
    rows_examined: null,
    rows_sent: 2,
    rows_ratio: null,
    databases: [],
    first_seen: "2026-11-30T09:00:00Z",
    last_seen: "2026-12-01T09:00:00Z",
  };
}

/** Newest first, as the API lists them: the index scan now, the sequential scan a day before. */
const PLANS = [
  {
    shape: "0F1E2D3C4B5A6978",
    summary: "orders: Index Scan using orders_email_idx",
    executions: 1,
    total_time_ms: 10,
    mean_ms: 10,
    first_seen: "2026-12-01T09:00:00Z",
    last_seen: "2026-12-01T09:00:00Z",
    plan: pgLookup("orders_email_idx"),
  },
  {
    shape: "8796A5B4C3D2E1F0",
    summary: "orders: Seq Scan",
    executions: 3,
    total_time_ms: 3600,
    mean_ms: 1200,
    first_seen: "2026-11-30T09:00:00Z",
    last_seen: "2026-11-30T10:00:00Z",
    plan: pgLookup(null),
  },
];

function classApi(plans: unknown[] = PLANS) {
  return loggedInAs("ORG_ADMIN", {
    "GET /api/v1/slow-queries": () => EMPTY_PAGE,
    "GET /api/v1/slow-queries/42": () => ({
      id: 42,
      query_id: QUERY_ID,
      sql_text: "SELECT * FROM orders WHERE email = $1 LIMIT 1",
      database_type: "postgresql",
      execution_time_ms: 10,
      calls: 1,
      observed_at: "2026-12-01T09:00:00Z",
      created_at: "2026-12-01T09:00:00Z",
      class: pgClass(),
      analysis: null,
    }),
    [`GET /api/v1/query-classes/${QUERY_ID}`]: () => ({ ...pgClass(), series: [] }),
    [`GET /api/v1/query-classes/${QUERY_ID}/plans`]: () => plans,
  });
}

const plansSection = () => screen.getByRole("region", { name: "Plans" });
const selectButton = (summary: string) => within(plansSection()).getByRole("button", { name: `Select plan ${summary}` });

describe("a query class's plans in the query detail", () => {
  it("lists the class's plans newest first, the newest marked current, asking for the class's engine", async () => {
    const fake = classApi();
    renderAt(`/queries?selected=42`);
    const list = await screen.findByRole("list", { name: "Plan shapes, newest first" });
    const items = within(list).getAllByRole("listitem");
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveTextContent("orders: Index Scan using orders_email_idx");
    expect(items[0]).toHaveTextContent("current");
    expect(items[0]).toHaveTextContent(/1 execution · mean 10 ms/);
    expect(items[1]).toHaveTextContent("orders: Seq Scan");
    expect(items[1]).not.toHaveTextContent("current");
    expect(items[1]).toHaveTextContent(/3 executions · mean 1\.20 s · first seen .* · last seen /);
    const asked = fake.calls.find((c) => c.path.startsWith(`/api/v1/query-classes/${QUERY_ID}/plans`));
    expect(new URL(asked?.path ?? "", "http://x").searchParams.get("database_type")).toBe("postgresql");
    // Nothing selected yet: no tree.
    expect(within(plansSection()).queryByRole("heading", { name: "Plan tree" })).toBeNull();
  });

  it("shows one selected plan as a tree, and two side by side with the changed node highlighted", async () => {
    classApi();
    renderAt(`/queries?selected=42`);
    const user = userEvent.setup();
    await screen.findByRole("list", { name: "Plan shapes, newest first" });

    await user.click(selectButton("orders: Seq Scan"));
    expect(selectButton("orders: Seq Scan")).toHaveAttribute("aria-pressed", "true");
    expect(within(plansSection()).getByRole("heading", { name: "Plan tree" })).toBeInTheDocument();
    const tree = within(plansSection()).getByRole("list", { name: "Plan tree: orders: Seq Scan" });
    expect(within(tree).getByText("Seq Scan")).toBeInTheDocument();
    expect(within(tree).getByText("Limit")).toBeInTheDocument();

    await user.click(selectButton("orders: Index Scan using orders_email_idx"));
    expect(within(plansSection()).queryByRole("heading", { name: "Plan tree" })).toBeNull();
    expect(within(plansSection()).getByRole("heading", { name: "Plan comparison" })).toBeInTheDocument();
    // The older plan on the left, whichever was selected first.
    const older = screen.getByRole("region", { name: "Older: orders: Seq Scan" });
    const newer = screen.getByRole("region", { name: "Newer: orders: Index Scan using orders_email_idx" });
    expect(older.compareDocumentPosition(newer) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    const changed = newer.querySelectorAll(".plan-node-changed");
    expect(changed).toHaveLength(1);
    expect(changed[0]).toHaveTextContent(/Index Scan on orders using orders_email_idx/);
    expect(within(changed[0] as HTMLElement).getByText("changed")).toBeInTheDocument();
    expect(older.querySelectorAll(".plan-node-changed")).toHaveLength(1);
    expect(screen.getByText("1 node changed.")).toBeInTheDocument();

    // Unselecting one goes back to the other's tree.
    await user.click(selectButton("orders: Seq Scan"));
    expect(selectButton("orders: Seq Scan")).toHaveAttribute("aria-pressed", "false");
    await waitFor(() => expect(within(plansSection()).queryByRole("heading", { name: "Plan comparison" })).toBeNull());
    expect(
      within(plansSection()).getByRole("list", { name: "Plan tree: orders: Index Scan using orders_email_idx" }),
    ).toBeInTheDocument();
  });

  it("says when a class has no plan yet", async () => {
    classApi([]);
    renderAt(`/queries?selected=42`);
    expect(await screen.findByText(/No plan recorded for this class yet/)).toBeInTheDocument();
    expect(within(plansSection()).queryByRole("list")).toBeNull();
  });
});
