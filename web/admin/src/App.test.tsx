import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { REFRESH_KEY } from "./auth/session";
import { fakeApi, json, tokens } from "./test/fakeApi";
import { EMPTY_PAGE, loggedInAs, renderAt } from "./test/app";

describe("the panel", () => {
  it("sends an anonymous visitor to the login page and back where they were after logging in", async () => {
    const fake = fakeApi({
      "POST /api/v1/auth/login": async (req) => {
        const body = (await req.json()) as { password: string; organization?: string };
        return body.password === "right-password" && body.organization === "Acme"
          ? tokens("ORG_ADMIN")
          : json(401, { error: { code: "unauthorized", message: "invalid email or password", request_id: "r" } });
      },
      "GET /api/v1/query-classes": () => EMPTY_PAGE,
    });
    renderAt("/classes");
    expect(await screen.findByRole("heading", { name: "Log in" })).toBeInTheDocument();
    expect(window.location.pathname).toBe("/login");
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Email"), "admin@acme.example");
    await user.type(screen.getByLabelText("Organization"), "Acme");
    await user.type(screen.getByLabelText("Password"), "wrong-password");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong email, password or organization");
    await user.clear(screen.getByLabelText("Password"));
    await user.type(screen.getByLabelText("Password"), "right-password");
    await user.click(screen.getByRole("button", { name: "Log in" }));
    expect(await screen.findByRole("heading", { name: "Query classes" })).toBeInTheDocument();
    expect(window.location.pathname).toBe("/classes");
    // The access token is sent as a bearer token and is not in storage.
    expect(fake.calls.find((c) => c.path.startsWith("/api/v1/query-classes"))?.auth).toBe("Bearer access-1");
    expect(JSON.stringify({ ...sessionStorage })).not.toContain("access-1");
    expect(JSON.stringify({ ...localStorage })).not.toContain("refresh");
    // The organization is remembered for the next login.
    expect(localStorage.getItem("dbpower.organization")).toBe("Acme");
  });

  it("shows the dashboard's numbers from the API", async () => {
    loggedInAs("ORG_ADMIN");
    renderAt("/");
    expect(await screen.findByTestId("stat-total-queries")).toHaveTextContent("1,234");
    expect(screen.getByTestId("stat-total-issues")).toHaveTextContent("56");
    expect(screen.getByTestId("stat-critical-issues")).toHaveTextContent("7");
    expect(screen.getByTestId("stat-avg-time")).toHaveTextContent("850 ms");
    expect(await screen.findByText("No agents yet")).toBeInTheDocument();
  });

  it("offers an ORG_ADMIN the organization's management pages but not the platform's", async () => {
    loggedInAs("ORG_ADMIN");
    renderAt("/");
    const nav = await screen.findByRole("navigation", { name: "Main" });
    for (const name of ["Teams", "Identities", "Users", "API keys", "Audit log", "Settings"]) {
      expect(within(nav).getByRole("link", { name })).toBeInTheDocument();
    }
    expect(within(nav).queryByRole("link", { name: "Organizations" })).toBeNull();
  });

  it("offers a USER no management page, and a typed admin URL explains instead of showing one", async () => {
    loggedInAs("USER");
    renderAt("/");
    const nav = await screen.findByRole("navigation", { name: "Main" });
    expect(within(nav).getByRole("link", { name: "Queries" })).toBeInTheDocument();
    for (const name of ["Organizations", "Teams", "Users", "API keys", "Audit log", "Settings"]) {
      expect(within(nav).queryByRole("link", { name })).toBeNull();
    }
    window.history.pushState({}, "", "/api-keys");
    window.dispatchEvent(new PopStateEvent("popstate"));
    expect(await screen.findByText("Not available for your role")).toBeInTheDocument();
  });

  it("returns to the login page saying the session expired when the refresh token is refused", async () => {
    sessionStorage.setItem(REFRESH_KEY, "revoked");
    fakeApi({
      "POST /api/v1/auth/refresh": () =>
        json(401, { error: { code: "unauthorized", message: "revoked", request_id: "r" } }),
    });
    renderAt("/queries");
    expect(await screen.findByText(/Your session has expired/)).toBeInTheDocument();
    await waitFor(() => expect(window.location.search).toContain("next=%2Fqueries"));
  });

  it("logs out: tokens gone, back to the login page", async () => {
    const fake = loggedInAs("TEAM_LEAD", { "POST /api/v1/auth/logout": () => json(204, null) });
    renderAt("/");
    const user = userEvent.setup();
    await user.click(await screen.findByRole("button", { name: "Log out" }));
    expect(await screen.findByRole("heading", { name: "Log in" })).toBeInTheDocument();
    expect(sessionStorage.getItem(REFRESH_KEY)).toBeNull();
    expect(fake.calls.some((c) => c.path === "/api/v1/auth/logout")).toBe(true);
  });

  it("sends the search to the server after typing stops, and again after the filters are cleared", async () => {
    const fake = loggedInAs("ORG_ADMIN", { "GET /api/v1/slow-queries": () => EMPTY_PAGE });
    renderAt("/queries");
    const user = userEvent.setup();
    const search = await screen.findByRole("searchbox", { name: "Search" });
    await user.type(search, "orders");
    await waitFor(() => expect(window.location.search).toContain("q=orders"));
    const asked = () => fake.calls.filter((c) => c.path.startsWith("/api/v1/slow-queries?")).map((c) => new URL(c.path, "http://x").searchParams.get("q"));
    await waitFor(() => expect(asked()).toContain("orders"));
    expect(asked()).not.toContain("o");
    await user.click(screen.getByRole("button", { name: "Clear filters" }));
    await waitFor(() => expect(window.location.search).toBe(""));
    await user.type(search, "orders");
    await waitFor(() => expect(window.location.search).toContain("q=orders"));
  });

  it("re-analyze shows progress until the stored analysis changes", async () => {
    let analyzedAt = "2026-12-01T10:00:00Z";
    let polls = 0;
    const detail = () => ({
      id: 42, query_id: "ABCDEF0123456789", sql_text: "SELECT * FROM orders WHERE id = ?", database_type: "mysql",
      database_name: "shop", execution_time_ms: 900, calls: 1, observed_at: "2026-12-01T09:00:00Z", created_at: "2026-12-01T09:00:00Z",
      class: { query_id: "ABCDEF0123456789", database_type: "mysql", fingerprint: "select * from orders where id = ?", fingerprint_version: 1,
        sample_sql: "SELECT * FROM orders WHERE id = ?", count: 3, total_time_ms: 2700, avg_time_ms: 900, max_time_ms: 1000, databases: ["shop"],
        first_seen: "2026-12-01T09:00:00Z", last_seen: "2026-12-01T09:00:00Z" },
      analysis: { severity: "HIGH", summary: analyzedAt.startsWith("2026-12-01") ? "old summary" : "new summary", issues: [],
        recommendations: [{ kind: "index", title: "Add an index", sql: "CREATE INDEX CONCURRENTLY idx ON orders (id)", rationale: "r", estimated_impact: "high" }],
        engine: ["rules"], parse_ok: true, analyzed_at: analyzedAt },
    });
    loggedInAs("ORG_ADMIN", {
      "GET /api/v1/slow-queries": () => EMPTY_PAGE,
      "GET /api/v1/slow-queries/42": () => {
        // The worker finishes on the second poll after the request.
        if (analyzedAt.startsWith("2026-12-01") && polls > 0 && ++polls > 2) analyzedAt = "2026-12-02T10:00:00Z";
        return detail();
      },
      "GET /api/v1/query-classes/ABCDEF0123456789": () => ({ class: detail().class, series: [] }),
      "POST /api/v1/slow-queries/42/analyze": () => {
        polls = 1;
        return json(202, { status: "queued", query_id: "ABCDEF0123456789" });
      },
    });
    renderAt("/queries?selected=42");
    const user = userEvent.setup();
    expect(await screen.findByText("old summary")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Copy DDL" })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Re-analyze" }));
    expect(await screen.findByRole("button", { name: "Analyzing…" })).toBeDisabled();
    expect(await screen.findByText("Analysis updated.", {}, { timeout: 8000 })).toBeInTheDocument();
    expect(screen.getByText("new summary")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Re-analyze" })).toBeEnabled();
  }, 15_000);
});
