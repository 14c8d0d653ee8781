import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Schemas } from "../api/types";
import { queries } from "../api/queries";
import { json } from "../test/fakeApi";
import { EMPTY_PAGE, loggedInAs, renderAt } from "../test/app";
import { instant } from "../lib/time";

type Org = Schemas["OrganizationView"];

function acme(): Org {
  return {
    id: 1,
    name: "Acme",
    retention_days: 90,
    settings: { scrub_level: "strict", ai_policy: "rules_only", rate_limit_per_minute: null, rate_limit_per_hour: null },
    created_at: "2026-12-01T00:00:00Z",
    updated_at: "2026-12-01T00:00:00Z",
  };
}

/** A fake organizations API whose organization `1` changes with each PATCH, like the server's. */
function orgApi() {
  let org = acme();
  let version = 0;
  return {
    current: () => org,
    routes: {
      "GET /api/v1/organizations": () => ({ items: [org], total: 1, page: 1, per_page: 20 }),
      "GET /api/v1/organizations/1": () => org,
      "PATCH /api/v1/organizations/1": async (req: Request) => {
        const body = (await req.json()) as Partial<Org> & { settings?: Partial<Org["settings"]> };
        version += 1;
        org = {
          ...org,
          ...body,
          settings: { ...org.settings, ...body.settings },
          updated_at: `2026-12-02T00:00:0${version}Z`,
        };
        return org;
      },
    },
  };
}

const requests = (fake: { calls: { method: string; path: string }[] }, path: string) =>
  fake.calls.filter((c) => c.method === "GET" && c.path.startsWith(`${path}?`)).map((c) => new URL(c.path, "http://x").searchParams);

describe("cached data after a change", () => {
  it("an organization saved on the Organizations page is what Settings shows next", async () => {
    const orgs = orgApi();
    loggedInAs("SUPER_ADMIN", orgs.routes);
    renderAt("/settings");
    const user = userEvent.setup();
    expect(await screen.findByLabelText("Retention (days)")).toHaveValue(90);

    await user.click(screen.getByRole("link", { name: "Organizations" }));
    const row = await screen.findByRole("row", { name: /Acme/ });
    await user.click(within(row).getByRole("button", { name: "Edit" }));
    const dialog = screen.getByRole("dialog");
    const retention = within(dialog).getByLabelText("Retention (days)");
    await user.clear(retention);
    await user.type(retention, "30");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(orgs.current().retention_days).toBe(30);

    await user.click(screen.getByRole("link", { name: "Settings" }));
    expect(await screen.findByLabelText("Retention (days)")).toHaveValue(30);
  });

  it("Settings starts again from a newer copy of the organization than the one it first showed", async () => {
    const orgs = orgApi();
    loggedInAs("SUPER_ADMIN", orgs.routes);
    const { client } = renderAt("/settings");
    expect(await screen.findByLabelText("Retention (days)")).toHaveValue(90);
    // Changed by someone else; the panel learns of it when the cached copy is refetched.
    orgs.current().retention_days = 14;
    orgs.current().updated_at = "2026-12-03T00:00:00Z";
    await client.invalidateQueries({ queryKey: queries.organizations.detail(1).queryKey });
    await waitFor(() => expect(screen.getByLabelText("Retention (days)")).toHaveValue(14));
  });

  it("Settings says Saved. after saving, and keeps the saved values", async () => {
    const orgs = orgApi();
    const fake = loggedInAs("ORG_ADMIN", orgs.routes);
    renderAt("/settings");
    const user = userEvent.setup();
    const retention = await screen.findByLabelText("Retention (days)");
    await user.clear(retention);
    await user.type(retention, "45");
    await user.selectOptions(screen.getByLabelText("Scrubbing level"), "pii_only");
    await user.click(screen.getByRole("button", { name: "Save settings" }));
    expect(await screen.findByText("Saved.")).toBeInTheDocument();
    expect(screen.getByLabelText("Retention (days)")).toHaveValue(45);
    expect(screen.getByLabelText("Scrubbing level")).toHaveValue("pii_only");
    const patch = fake.calls.find((c) => c.method === "PATCH");
    expect(JSON.parse(patch?.body ?? "{}")).toEqual({ retention_days: 45, settings: { scrub_level: "pii_only" } });
  });

  it("nothing cached outlives the session", async () => {
    loggedInAs("ORG_ADMIN");
    const { session, client } = renderAt("/");
    expect(await screen.findByTestId("stat-total-queries")).toHaveTextContent("1,234");
    expect(client.getQueryCache().getAll().length).toBeGreaterThan(0);
    session.expire();
    expect(await screen.findByText(/Your session has expired/)).toBeInTheDocument();
    expect(client.getQueryCache().getAll()).toEqual([]);
  });
});

describe("list filters in the URL", () => {
  it("the audit log reads its filters from the URL and writes typed ones back", async () => {
    const fake = loggedInAs("ORG_ADMIN", {
      "GET /api/v1/audit-logs": () => ({ ...EMPTY_PAGE, per_page: 50 }),
      "GET /api/v1/audit-logs/verify": () => json(500, { error: { code: "internal", message: "x", request_id: "r" } }),
    });
    renderAt("/audit?action=user.create&page=2");
    const user = userEvent.setup();
    expect(await screen.findByLabelText("Action")).toHaveValue("user.create");
    await waitFor(() => expect(requests(fake, "/api/v1/audit-logs").at(-1)?.get("action")).toBe("user.create"));
    expect(requests(fake, "/api/v1/audit-logs").at(-1)?.get("page")).toBe("2");
    await user.type(screen.getByLabelText("Resource"), "user");
    await waitFor(() => expect(window.location.search).toBe("?action=user.create&resource=user"));
    await waitFor(() => expect(requests(fake, "/api/v1/audit-logs").at(-1)?.get("resource")).toBe("user"));
    // The verification's states go through `Loaded` in the page's own words.
    expect(await screen.findByText("Chain not verified", {}, { timeout: 5000 })).toBeInTheDocument();
  }, 10_000);

  it("the audit log turns a picked local time into an instant, and drops what is not a time", () => {
    expect(instant("2026-12-01T10:00")).toBe(new Date("2026-12-01T10:00").toISOString());
    expect(instant("")).toBeUndefined();
    expect(instant("nonsense")).toBeUndefined();
  });

  it("the audit log sends its time range as instants, and ignores one it cannot read", async () => {
    const fake = loggedInAs("ORG_ADMIN", {
      "GET /api/v1/audit-logs": () => EMPTY_PAGE,
      "GET /api/v1/audit-logs/verify": () => ({ valid: true, entries: 3, first_invalid_id: null }),
    });
    renderAt("/audit?from=2026-12-01T10:00&to=nonsense");
    expect(await screen.findByText("Chain verified · 3 entries")).toBeInTheDocument();
    const asked = requests(fake, "/api/v1/audit-logs").at(-1);
    expect(asked?.get("from")).toBe(new Date("2026-12-01T10:00").toISOString());
    expect(asked?.has("to")).toBe(false);
  });

  it("the class search reaches the URL, back to page 1", async () => {
    const fake = loggedInAs("ORG_ADMIN");
    renderAt("/classes?page=3&sort=count");
    const user = userEvent.setup();
    await user.type(await screen.findByRole("searchbox", { name: "Search" }), "orders");
    await waitFor(() => expect(window.location.search).toBe("?sort=count&q=orders"));
    await waitFor(() => expect(requests(fake, "/api/v1/query-classes").at(-1)?.get("q")).toBe("orders"));
    expect(requests(fake, "/api/v1/query-classes").at(-1)?.get("page")).toBe("1");
  });

  it("a management list's page is in the URL", async () => {
    const team = { id: 3, name: "Payments", description: null, organization_id: 1, created_at: "2026-12-01T00:00:00Z", updated_at: "2026-12-01T00:00:00Z" };
    const fake = loggedInAs("ORG_ADMIN", { "GET /api/v1/teams": () => ({ items: [team], total: 45, page: 2, per_page: 20 }) });
    renderAt("/teams?page=2");
    const user = userEvent.setup();
    expect(await screen.findByText("Page 2 of 3")).toBeInTheDocument();
    expect(requests(fake, "/api/v1/teams").some((p) => p.get("page") === "2" && p.get("per_page") === "20")).toBe(true);
    await user.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(window.location.search).toBe("?page=3"));
    await user.click(screen.getByRole("button", { name: "Previous" }));
    await user.click(screen.getByRole("button", { name: "Previous" }));
    await waitFor(() => expect(window.location.search).toBe(""));
  });

  it("a hand-edited URL cannot send the API a value it does not have", async () => {
    const fake = loggedInAs("ORG_ADMIN", { "GET /api/v1/slow-queries": () => EMPTY_PAGE });
    renderAt("/queries?severity=BAD&sort=nonsense&status=analyzed");
    await waitFor(() => expect(requests(fake, "/api/v1/slow-queries").length).toBeGreaterThan(0));
    const asked = requests(fake, "/api/v1/slow-queries").at(-1);
    expect(asked?.has("severity")).toBe(false);
    expect(asked?.get("sort")).toBe("observed_at");
    expect(asked?.get("status")).toBe("analyzed");
  });
});

function pgClass(): Schemas["QueryClassView"] {
  return {
    query_id: "ABCDEF0123456789",
    database_type: "postgresql",
    fingerprint: "select * from orders where id = ?",
    fingerprint_version: 1,
    sample_sql: "SELECT * FROM orders WHERE id = ?",
    count: 2,
    total_time_ms: 20,
    avg_time_ms: 10,
    max_time_ms: 11,
    rows_examined: null,
    rows_sent: 40,
    rows_ratio: null,
    databases: [],
    first_seen: "2026-12-01T09:00:00Z",
    last_seen: "2026-12-01T09:00:00Z",
  };
}

describe("one query id on two engines", () => {
  it("a class links to its queries with its engine", async () => {
    loggedInAs("ORG_ADMIN", {
      "GET /api/v1/query-classes": () => ({ items: [pgClass()], total: 1, total_capped: false, page: 1, per_page: 25 }),
    });
    renderAt("/classes");
    const link = await screen.findByRole("link", { name: "select * from orders where id = ?" });
    expect(link.getAttribute("href")).toBe("/queries?query_id=ABCDEF0123456789&database_type=postgresql");
  });

  it("a query's history asks for its engine's class, and the filter names the engine", async () => {
    const fake = loggedInAs("ORG_ADMIN", {
      "GET /api/v1/slow-queries": () => EMPTY_PAGE,
      "GET /api/v1/slow-queries/42": () => ({
        id: 42, query_id: "ABCDEF0123456789", sql_text: "SELECT * FROM orders WHERE id = ?", database_type: "postgresql",
        execution_time_ms: 10, calls: 1, observed_at: "2026-12-01T09:00:00Z", created_at: "2026-12-01T09:00:00Z",
        class: pgClass(), analysis: null,
      }),
      "GET /api/v1/query-classes/ABCDEF0123456789": () => ({ ...pgClass(), series: [] }),
    });
    renderAt("/queries?query_id=ABCDEF0123456789&database_type=postgresql&selected=42");
    expect(await screen.findByText(/Showing one query class \(PostgreSQL · ABCDEF0123456789\)/)).toBeInTheDocument();
    await waitFor(() => expect(requests(fake, "/api/v1/query-classes/ABCDEF0123456789").at(-1)?.get("database_type")).toBe("postgresql"));
    const list = requests(fake, "/api/v1/slow-queries").at(-1);
    expect([list?.get("query_id"), list?.get("database_type")]).toEqual(["ABCDEF0123456789", "postgresql"]);
  });
});

describe("pages of agents and capped totals", () => {
  it("the agents page reads a page of agents and shows their methods", async () => {
    const agent = {
      api_key_id: 3, organization_id: 1, team_id: null, online: true, last_seen: new Date().toISOString(),
      name: "db-1", version: "1.2.3", interval_secs: 30,
      sources: [{ name: "shop", kind: "mysql", methods: ["slow_log_file", "performance_schema"], collected: 7 }],
    };
    const fake = loggedInAs("ORG_ADMIN", {
      "GET /api/v1/agents": () => ({ items: [agent], total: 21, total_capped: false, page: 1, per_page: 20 }),
    });
    renderAt("/agents");
    expect(await screen.findByText("db-1")).toBeInTheDocument();
    expect(screen.getByText(/slow_log_file, performance_schema/)).toBeInTheDocument();
    expect(screen.getByText("Page 1 of 2")).toBeInTheDocument();
    const asked = requests(fake, "/api/v1/agents").at(-1);
    expect([asked?.get("page"), asked?.get("per_page")]).toEqual(["1", "20"]);
  });

  it("a capped total reads as a lower bound and lets the reader page on", async () => {
    const row = {
      id: 1, query_id: "ABCDEF0123456789", sql_text: "SELECT 1", database_type: "mysql", execution_time_ms: 1, calls: 1,
      observed_at: "2026-12-01T09:00:00Z", created_at: "2026-12-01T09:00:00Z",
    };
    loggedInAs("ORG_ADMIN", {
      "GET /api/v1/slow-queries": (req: Request) => {
        const page = Number(new URL(req.url).searchParams.get("page") ?? "1");
        const perPage = Number(new URL(req.url).searchParams.get("per_page") ?? "20");
        const items = Array.from({ length: perPage }, (_, i) => ({ ...row, id: (page - 1) * perPage + i + 1 }));
        return { items, total: 10000, total_capped: true, page, per_page: perPage };
      },
    });
    renderAt("/queries?database_name=big");
    expect(await screen.findByText(/of 10,000\+/)).toBeInTheDocument();
    expect(screen.getByText(/Page 1 of .*\+/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Next" })).toBeEnabled();
  });
});
