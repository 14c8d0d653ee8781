import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Schemas } from "../api/types";
import { queries } from "../api/queries";
import { json } from "../test/fakeApi";
import { EMPTY_PAGE, loggedInAs, renderAt } from "../test/app";
import { instant } from "./Audit";

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
