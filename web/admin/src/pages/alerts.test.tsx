import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Schemas } from "../api/types";
import { EMPTY_PAGE, loggedInAs, renderAt } from "../test/app";

type Alert = Schemas["AlertView"];

function alert(id: number, over: Partial<Alert> = {}): Alert {
  const side = (calls: number, mean: number) => ({
    from: "2026-11-24T09:00:00Z",
    to: "2026-12-01T09:00:00Z",
    calls,
    total_time_ms: calls * mean,
    mean_ms: mean,
    p95_ms: mean * 1.5,
    calls_per_hour: calls / 24,
    busiest_hour_calls: 9,
  });
  return {
    id,
    organization_id: 1,
    rule_id: 1,
    query_id: "ABCDEF0123456789",
    database_type: "mysql",
    fingerprint: `select * from orders_${id} where id = ?`,
    kind: "regression",
    severity: "HIGH",
    status: "open",
    team_id: null,
    identity_id: null,
    opened_at: "2026-12-01T09:30:00Z",
    updated_at: "2026-12-01T09:30:00Z",
    last_true_at: "2026-12-01T09:30:00Z",
    resolved_at: null,
    acknowledged_by: null,
    evidence: {
      summary: "Mean 3.1x its baseline (z 9.2).",
      class_url: "/api/v1/query-classes/ABCDEF0123456789",
      baseline: side(500, 100),
      window: side(60, 310),
      mean_ratio: 3.1,
      p95_ratio: 3.0,
      z: 9.2,
      share: null,
      severity: "HIGH",
      ...({ change_marker: { id: 9, organization_id: 1, team_id: null, identity_id: null, kind: "deploy", title: "api v2.3", at: "2026-12-01T09:00:00Z", labels: { sha: "abc123" }, source: "user", created_at: "2026-12-01T09:00:00Z" } } as object),
    },
    ...over,
  };
}

/** A server-sent-event response that stays open; `onOpen` receives the function that sends text on it. */
function eventStream(onOpen: (push: (text: string) => void) => void): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      onOpen((text) => c.enqueue(enc.encode(text)));
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

const page = (items: Alert[]) => ({ items, total: items.length, page: 1, per_page: 25 });

describe("alerts", () => {
  it("the list renders from the URL's filters, and Acknowledge calls the API", async () => {
    let current = alert(5);
    const fake = loggedInAs("TEAM_LEAD", {
      "GET /api/v1/alerts": () => page([current]),
      "GET /api/v1/alerts/5": () => current,
      "POST /api/v1/alerts/5/acknowledge": () => {
        current = { ...current, status: "acknowledged", acknowledged_by: 7 };
        return current;
      },
    });
    renderAt("/alerts?status=open");
    const user = userEvent.setup();
    // The first visit loads the page's chunk (with the charts library): give it time on a busy machine.
    const row = await screen.findByRole("row", { name: /orders_5/ }, { timeout: 5000 });
    expect(within(row).getByText("Regression")).toBeInTheDocument();
    expect(within(row).getByRole("link", { name: "ABCDEF0123456789" })).toHaveAttribute(
      "href",
      "/queries?query_id=ABCDEF0123456789&database_type=mysql",
    );
    const asked = fake.calls.filter((c) => c.path.startsWith("/api/v1/alerts?")).map((c) => new URL(c.path, "http://x").searchParams);
    expect(asked.some((p) => p.get("status") === "open" && p.get("per_page") === "25")).toBe(true);

    await user.click(within(row).getByRole("button", { name: "Regression" }));
    await waitFor(() => expect(new URLSearchParams(window.location.search).get("selected")).toBe("5"));
    const panel = await screen.findByRole("complementary", { name: "Alert #5" }, { timeout: 5000 });
    expect(await within(panel).findByText("Mean 3.1x its baseline (z 9.2).")).toBeInTheDocument();
    expect(within(panel).getByRole("heading", { name: "Baseline vs window" })).toBeInTheDocument();
    expect(within(panel).getByText("api v2.3")).toBeInTheDocument();
    expect(within(panel).getByText("3.1×")).toBeInTheDocument();

    await user.click(within(panel).getByRole("button", { name: "Acknowledge" }));
    await waitFor(() => expect(fake.calls.some((c) => c.method === "POST" && c.path === "/api/v1/alerts/5/acknowledge")).toBe(true));
    expect(await within(panel).findByText("Acknowledged")).toBeInTheDocument();
    expect(within(panel).queryByRole("button", { name: "Acknowledge" })).toBeNull();
    expect(within(panel).getByRole("button", { name: "Resolve" })).toBeInTheDocument();
  });

  it("shows the API's refusal, and mutes a class until the time picked", async () => {
    const fake = loggedInAs("TEAM_LEAD", {
      "GET /api/v1/alerts": () => page([alert(5)]),
      "GET /api/v1/alerts/5": () => alert(5),
      "POST /api/v1/alerts/5/resolve": () =>
        new Response(JSON.stringify({ error: { code: "conflict", message: "the alert is already resolved", request_id: "r" } }), {
          status: 409,
          headers: { "content-type": "application/json" },
        }),
      "POST /api/v1/query-classes/ABCDEF0123456789/mute": async (req: Request) => ({
        query_id: "ABCDEF0123456789",
        until: ((await req.json()) as { until: string }).until,
      }),
    });
    renderAt("/alerts?selected=5");
    const user = userEvent.setup();
    const panel = await screen.findByRole("complementary", { name: "Alert #5" }, { timeout: 5000 });
    await user.click(await within(panel).findByRole("button", { name: "Resolve" }));
    expect(await within(panel).findByRole("alert")).toHaveTextContent("the alert is already resolved");

    const until = within(panel).getByLabelText("Mute the class until");
    await user.clear(until);
    await user.type(until, "2026-12-05T08:30");
    await user.click(within(panel).getByRole("button", { name: "Mute class" }));
    await within(panel).findByText(/No new alert opens for this class until/);
    const mute = fake.calls.find((c) => c.path.endsWith("/mute"));
    expect(JSON.parse(mute?.body ?? "{}")).toEqual({ until: new Date("2026-12-05T08:30").toISOString() });
  });

  it("a USER reads alerts but is offered no action", async () => {
    loggedInAs("USER", { "GET /api/v1/alerts": () => page([alert(5)]), "GET /api/v1/alerts/5": () => alert(5) });
    renderAt("/alerts?selected=5");
    const panel = await screen.findByRole("complementary", { name: "Alert #5" }, { timeout: 5000 });
    expect(await within(panel).findByText(/Read-only/)).toBeInTheDocument();
    expect(within(panel).queryByRole("button", { name: "Acknowledge" })).toBeNull();
    expect(within(panel).queryByRole("button", { name: "Mute class" })).toBeNull();
  });

  it("the Alerts link carries the number of open alerts", async () => {
    loggedInAs("USER", {
      "GET /api/v1/alerts": (req: Request) =>
        new URL(req.url).searchParams.get("status") === "open" ? { ...page([alert(1)]), total: 3 } : EMPTY_PAGE,
    });
    renderAt("/");
    expect(await screen.findByTestId("open-alerts-badge", {}, { timeout: 5000 })).toHaveTextContent("3");
    expect(screen.getByRole("link", { name: /^Alerts/ })).toHaveAccessibleName("Alerts, open: 3");
  });

  it("no badge without open alerts", async () => {
    loggedInAs("USER");
    renderAt("/");
    expect(await screen.findByText("No open alerts", {}, { timeout: 5000 })).toBeInTheDocument();
    expect(screen.queryByTestId("open-alerts-badge")).toBeNull();
  });
});

describe("live updates", () => {
  afterEach(() => vi.useRealTimers());

  it("an alert event from the stream shows on the open dashboard without a reload", async () => {
    const open: Alert[] = [alert(1)];
    let push: (text: string) => void = () => undefined;
    const streams: (string | null)[] = [];
    loggedInAs("ORG_ADMIN", {
      "GET /api/v1/alerts": () => page([...open].reverse()),
      "GET /api/v1/stream": (req: Request) => {
        streams.push(req.headers.get("authorization"));
        return eventStream((p) => (push = p));
      },
    });
    renderAt("/");
    const region = await screen.findByRole("region", { name: "Open alerts" }, { timeout: 5000 });
    await waitFor(() => expect(within(region).getAllByTestId("open-alert-row")).toHaveLength(1));
    await waitFor(() => expect(streams).toEqual(["Bearer access-1"]));
    open.push(alert(2, { kind: "new_class", fingerprint: "select * from e2e_slow_refunds" }));
    push(`: keep-alive\n\nevent: alert\nid: 1-2\ndata: ${JSON.stringify(open[1])}\n\n`);
    await waitFor(() => expect(within(region).getAllByTestId("open-alert-row")).toHaveLength(2));
    expect(within(region).getAllByTestId("open-alert-row")[0]).toHaveTextContent("e2e_slow_refunds");
    expect(await screen.findByTestId("open-alerts-badge")).toHaveTextContent("2");
  });

  it("the dashboard shows the stream's ingestion counts, this minute's rows included", async () => {
    let push: (text: string) => void = () => undefined;
    let streams = 0;
    let dashboards = 0;
    loggedInAs("ORG_ADMIN", {
      "GET /api/v1/stats/dashboard": () => {
        dashboards += 1;
        return { total_queries: 0, total_issues: 0, critical_issues: 0, avg_time_ms: 0, chart_data: [] };
      },
      "GET /api/v1/stream": () => {
        streams += 1;
        return eventStream((p) => (push = p));
      },
    });
    renderAt("/");
    await screen.findByTestId("stat-total-queries", {}, { timeout: 5000 });
    await waitFor(() => expect(streams).toBe(1));
    expect(screen.queryByTestId("live-ingestion")).toBeNull();
    const before = dashboards;
    // A server without the minute's count: the hour's rows alone.
    push('event: ingestion\ndata: {"hour":"2026-12-01T10:00:00Z","rows":120}\n\n');
    expect(await screen.findByTestId("live-ingestion")).toHaveTextContent("Live ingestion: 120 rows this hour");
    expect(screen.getByTestId("live-ingestion")).not.toHaveTextContent("rows this minute");
    push('event: ingestion\ndata: {"hour":"2026-12-01T10:00:00Z","rows":1127,"minute":"2026-12-01T10:17:00Z","minute_rows":1007}\n\n');
    await waitFor(() => expect(screen.getByTestId("live-ingestion-minute")).toHaveTextContent("rows this minute: 1,007"));
    expect(screen.getByTestId("live-ingestion")).toHaveTextContent("Live ingestion: 1,127 rows this hour · rows this minute: 1,007");
    // And the dashboard's numbers are read again.
    await waitFor(() => expect(dashboards).toBeGreaterThan(before));
  });

  it("without a stream the alerts are read again every 3 s", async () => {
    const fake = loggedInAs("ORG_ADMIN");
    renderAt("/alerts");
    await screen.findByText("No alerts yet", {}, { timeout: 5000 });
    const reads = () => fake.calls.filter((c) => c.path.startsWith("/api/v1/alerts?")).length;
    await waitFor(() => expect(fake.calls.some((c) => c.path === "/api/v1/stream")).toBe(true));
    const before = reads();
    await waitFor(() => expect(reads()).toBeGreaterThan(before), { timeout: 4500 });
  }, 10_000);
});
