import { afterEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Schemas } from "../api/types";
import { json } from "../test/fakeApi";
import { EMPTY_PAGE, loggedInAs, renderAt } from "../test/app";
import { localInput, presetWindows } from "../lib/time";
import { formatDateTime } from "../lib/format";
import { configChange, configOf } from "./AlertChannelForm";
import { thresholdsOf } from "./AlertRuleForm";

type Channel = Schemas["ChannelView"];
type Rule = Schemas["RuleView"];

const SECRET = "whsec_c2VjcmV0LW9mLXRoZS13ZWJob29r";

function channelApi() {
  const channels: Channel[] = [];
  return {
    channels,
    routes: {
      "GET /api/v1/alert-channels": () => ({ items: channels, total: channels.length, page: 1, per_page: 20 }),
      "GET /api/v1/teams": () => EMPTY_PAGE,
      "POST /api/v1/alert-channels": async (req: Request) => {
        const body = (await req.json()) as { name: string; kind: Channel["kind"]; config: { url?: string }; enabled?: boolean };
        if (!body.name) return json(422, { error: { code: "validation", message: "must not be empty", field: "name", request_id: "r" } });
        const ch: Channel = {
          id: channels.length + 1,
          organization_id: 1,
          team_id: null,
          name: body.name,
          kind: body.kind,
          enabled: body.enabled ?? true,
          url: body.config.url ?? null,
          to: [],
          created_at: "2026-12-01T00:00:00Z",
          last_delivery_at: null,
          last_delivery_status: null,
          last_error: null,
        };
        channels.push(ch);
        return json(201, { channel: ch, secret: body.kind === "webhook" ? SECRET : null });
      },
      "POST /api/v1/alert-channels/1/test": () => {
        const ch = channels[0];
        if (ch) Object.assign(ch, { last_delivery_status: "failed", last_delivery_at: new Date().toISOString(), last_error: "HTTP 500" });
        return json(202, { delivery_id: "d-1" });
      },
    },
  };
}

/** The windows a compare request asked for, echoed as the API does. */
function askedWindows(req: Request) {
  const q = new URL(req.url).searchParams;
  return { a_from: q.get("a_from"), a_to: q.get("a_to"), b_from: q.get("b_from"), b_to: q.get("b_to") };
}

describe("alert channels", () => {
  it("a new webhook channel shows its signing secret once", async () => {
    const api = channelApi();
    const fake = loggedInAs("ORG_ADMIN", api.routes);
    renderAt("/settings");
    const user = userEvent.setup();
    await user.click(await screen.findByRole("link", { name: "Alert channels" }, { timeout: 5000 }));
    await user.click(await screen.findByRole("button", { name: "New channel" }, { timeout: 5000 }));
    const dialog = screen.getByRole("dialog");
    await user.type(within(dialog).getByLabelText("Name"), "Ops hook");
    await user.type(within(dialog).getByLabelText("Webhook URL"), "https://hooks.example.com/x");
    await user.click(within(dialog).getByRole("button", { name: "Create channel" }));
    const secretDialog = await screen.findByRole("dialog", { name: "Channel created: Ops hook" });
    expect(within(secretDialog).getByTestId("new-channel-secret")).toHaveTextContent(SECRET);
    expect(within(secretDialog).getByText(/shown once/)).toBeInTheDocument();
    expect(within(secretDialog).getByRole("button", { name: "Copy secret" })).toBeInTheDocument();
    const post = fake.calls.find((c) => c.method === "POST" && c.path === "/api/v1/alert-channels");
    expect(JSON.parse(post?.body ?? "{}")).toEqual({
      name: "Ops hook",
      kind: "webhook",
      enabled: true,
      config: { url: "https://hooks.example.com/x" },
    });
    await user.click(within(secretDialog).getByRole("button", { name: "I have saved the secret" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    // Never again: the list shows the channel, not its secret.
    const row = await screen.findByRole("row", { name: /Ops hook/ });
    expect(document.body.textContent).not.toContain(SECRET);

    await user.click(within(row).getByRole("button", { name: "Send test" }));
    expect(await screen.findByText(/Test message queued for Ops hook/)).toBeInTheDocument();
    expect(await within(row).findByText("HTTP 500")).toBeInTheDocument();
    expect(within(row).getByText("failed")).toBeInTheDocument();
  });

  it("builds each kind's settings, and an edit sends only a changed one", () => {
    const s = { url: " https://x.example/h ", to: "a@x.example, b@x.example;c@x.example", routingKey: "R0UTING" };
    expect(configOf("webhook", s)).toEqual({ url: "https://x.example/h" });
    expect(configOf("email", s)).toEqual({ to: ["a@x.example", "b@x.example", "c@x.example"] });
    expect(configOf("pagerduty", { ...s, url: "" })).toEqual({ routing_key: "R0UTING", url: null });
    const email = { kind: "email", to: ["a@x.example"], url: null } as Channel;
    expect(configChange(email, { url: "", to: "a@x.example", routingKey: "" })).toBeUndefined();
    const slack = { kind: "slack", to: [], url: null } as unknown as Channel;
    expect(configChange(slack, { url: "", to: "", routingKey: "" })).toBeUndefined();
  });

  it("is not offered to a team lead", async () => {
    loggedInAs("TEAM_LEAD");
    renderAt("/settings/alert-rules");
    expect(await screen.findByText("Not available for your role", {}, { timeout: 5000 })).toBeInTheDocument();
  });
});

describe("alert rules", () => {
  it("lists rules with their thresholds, and the enabled box sends a PATCH", async () => {
    const rule: Rule = {
      id: 3,
      organization_id: 1,
      name: "Regressions",
      kind: "regression",
      enabled: true,
      thresholds: { ratio: 2, min_calls: 50 },
      channel_ids: null,
      resolve_after_secs: 3600,
      created_at: "2026-12-01T00:00:00Z",
    };
    const fake = loggedInAs("ORG_ADMIN", {
      "GET /api/v1/alert-rules": () => ({ items: [rule], total: 1, page: 1, per_page: 20 }),
      "GET /api/v1/alert-channels": () => EMPTY_PAGE,
      "PATCH /api/v1/alert-rules/3": async (req: Request) => Object.assign(rule, await req.json()),
    });
    renderAt("/settings/alert-rules");
    const user = userEvent.setup();
    const row = await screen.findByRole("row", { name: /Regressions/ }, { timeout: 5000 });
    expect(within(row).getByText("ratio 2.0× · min calls 50")).toBeInTheDocument();
    expect(within(row).getByText("Every channel")).toBeInTheDocument();
    expect(within(row).getByText("1 h")).toBeInTheDocument();
    await user.click(within(row).getByRole("checkbox", { name: "Regressions enabled" }));
    await waitFor(() => expect(within(row).getByRole("checkbox", { name: "Regressions enabled" })).not.toBeChecked());
    const patch = fake.calls.find((c) => c.method === "PATCH");
    expect(JSON.parse(patch?.body ?? "{}")).toEqual({ enabled: false });
  });

  it("leaves empty thresholds to the kind's defaults and keeps what the form does not show", () => {
    expect(thresholdsOf({ ratio: "", min_calls: "", min_z: "", min_share: "" })).toEqual({});
    expect(thresholdsOf({ ratio: "2.5", min_calls: "10", min_z: "", min_share: "0.05" }, { min_baseline_calls: 80, min_z: 3 })).toEqual({
      ratio: 2.5,
      min_calls: 10,
      min_share: 0.05,
      min_baseline_calls: 80,
    });
  });
});

describe("compare", () => {
  afterEach(() => vi.useRealTimers());

  it("a preset's windows end at the current hour, and reach the API as instants", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-12-01T10:17:00Z"));
    const fake = loggedInAs("USER", {
      "GET /api/v1/compare": (req: Request) => {
        return {
          ...askedWindows(req),
          ratio: 1.5,
          summary: { new: 1, gone: 0, regressed: 1, improved: 0, unchanged: 4 },
          items: [
            {
              query_id: "ABCDEF0123456789",
              database_type: "mysql",
              fingerprint: "select * from orders where id = ?",
              change: "regressed",
              a: { calls: 100, total_time_ms: 10000, mean_ms: 100, p95_ms: 150 },
              b: { calls: 120, total_time_ms: 36000, mean_ms: 300, p95_ms: 450 },
              mean_ratio: 3,
              p95_ratio: 3,
              total_time_delta_ms: 26000,
              calls_delta: 20,
            },
          ],
          total: 1,
          page: 1,
          per_page: 50,
        };
      },
    });
    renderAt("/compare?database_type=mysql");
    const user = userEvent.setup();
    expect(await screen.findByText("Choose two windows", {}, { timeout: 5000 })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Previous day" }));
    expect(await screen.findByTestId("compare-summary", {}, { timeout: 5000 })).toHaveTextContent("1 new · 0 gone · 1 regressed · 0 improved · 4 unchanged");
    const asked = fake.calls.filter((c) => c.path.startsWith("/api/v1/compare?")).map((c) => new URL(c.path, "http://x").searchParams);
    expect(asked).toHaveLength(1);
    expect(Object.fromEntries(asked[0] ?? [])).toEqual({
      a_from: "2026-11-29T10:00:00.000Z",
      a_to: "2026-11-30T10:00:00.000Z",
      b_from: "2026-11-30T10:00:00.000Z",
      b_to: "2026-12-01T10:00:00.000Z",
      database_type: "mysql",
      page: "1",
      per_page: "50",
    });
    // The windows are in the URL (as the pickers show them), with the preset they came from.
    const url = new URLSearchParams(window.location.search);
    expect(url.get("preset")).toBe("day");
    expect(url.get("b_to")).toBe(presetWindows("day").b_to);
    expect(screen.getByRole("button", { name: "Previous day" })).toHaveAttribute("aria-pressed", "true");
    const row = screen.getByRole("row", { name: /ABCDEF0123456789/ });
    expect(within(row).getByText("Regressed")).toBeInTheDocument();
    expect(within(row).getByText("+26.0 s")).toBeInTheDocument();
  });

  it("shows each side's rows examined per row sent, to one decimal, and a dash for none", async () => {
    const side = (rows_ratio: number | null) => ({ calls: 10, total_time_ms: 100, mean_ms: 10, p95_ms: 15, rows_ratio });
    const row = (query_id: string, a: number | null, b: number | null) => ({
      query_id,
      database_type: "mysql",
      fingerprint: `select * from t_${query_id}`,
      change: "unchanged",
      a: side(a),
      b: side(b),
      mean_ratio: 1,
      p95_ratio: 1,
      total_time_delta_ms: 0,
      calls_delta: 0,
    });
    loggedInAs("USER", {
      "GET /api/v1/compare": (req: Request) => {
        return {
          ...askedWindows(req),
          ratio: 1.5,
          summary: { new: 0, gone: 0, regressed: 0, improved: 0, unchanged: 2 },
          // The second side's ratio is absent (a PostgreSQL source reports no rows examined).
          items: [row("AAAA000000000001", 12.345, null), { ...row("AAAA000000000002", null, 1234.56), a: { calls: 1, total_time_ms: 1 } }],
          total: 2,
          page: 1,
          per_page: 50,
        };
      },
    });
    renderAt("/compare?a_from=2026-11-30T09:00&a_to=2026-11-30T10:00&b_from=2026-12-01T09:00&b_to=2026-12-01T10:00");
    const first = await screen.findByRole("row", { name: /AAAA000000000001/ }, { timeout: 5000 });
    const headers = screen.getAllByRole("columnheader").map((h) => h.textContent);
    const a = headers.indexOf("Rows ratio A");
    const b = headers.indexOf("Rows ratio B");
    expect(a).toBeGreaterThan(0);
    expect(b).toBe(a + 1);
    const cells = (r: HTMLElement) => within(r).getAllByRole("cell").map((c) => c.textContent);
    expect([cells(first)[a], cells(first)[b]]).toEqual(["12.3", "—"]);
    const second = screen.getByRole("row", { name: /AAAA000000000002/ });
    expect([cells(second)[a], cells(second)[b]]).toEqual(["—", "1,234.6"]);
  });

  it("around a marker, asks the API for the windows and shows the ones it resolved", async () => {
    const marker = {
      id: 9, organization_id: 1, team_id: null, identity_id: null, kind: "deploy", title: "api v2.3",
      at: "2026-12-01T09:00:00Z", labels: {}, source: "user", created_at: "2026-12-01T09:00:00Z",
    };
    const fake = loggedInAs("USER", {
      "GET /api/v1/events": () => ({ items: [marker], total: 1, page: 1, per_page: 200 }),
      "GET /api/v1/compare": (req: Request) => {
        const q = new URL(req.url).searchParams;
        // The server resolves the windows around the marker (here a day on each side of it).
        const around = q.get("around_event") === "9";
        return {
          a_from: around ? "2026-11-30T09:00:00Z" : q.get("a_from"),
          a_to: around ? "2026-12-01T09:00:00Z" : q.get("a_to"),
          b_from: around ? "2026-12-01T09:00:00Z" : q.get("b_from"),
          b_to: around ? "2026-12-02T09:00:00Z" : q.get("b_to"),
          ratio: 1.5,
          summary: { new: 0, gone: 0, regressed: 0, improved: 0, unchanged: 1 },
          items: [],
          total: 0,
          page: 1,
          per_page: 50,
        };
      },
    });
    renderAt("/compare");
    const user = userEvent.setup();
    const picker = await screen.findByRole("combobox", { name: /Around a marker/ }, { timeout: 5000 });
    await within(picker).findByRole("option", { name: /api v2\.3/ });
    await user.selectOptions(picker, "9");

    expect(await screen.findByTestId("compare-windows", {}, { timeout: 5000 })).toHaveTextContent(
      `A: ${formatDateTime("2026-11-30T09:00:00Z")} – ${formatDateTime("2026-12-01T09:00:00Z")} · B: ${formatDateTime("2026-12-01T09:00:00Z")} – ${formatDateTime("2026-12-02T09:00:00Z")}`,
    );
    const compares = () => fake.calls.filter((c) => c.path.startsWith("/api/v1/compare?")).map((c) => new URL(c.path, "http://x").searchParams);
    expect(Object.fromEntries(compares()[0] ?? [])).toEqual({ around_event: "9", span_secs: "86400", page: "1", per_page: "50" });
    // The pickers and the URL show the resolved windows; the marker stays the source of the comparison.
    await waitFor(() => expect(screen.getByLabelText("A from")).toHaveValue(localInput("2026-11-30T09:00:00Z")));
    expect(screen.getByLabelText("A to")).toHaveValue(localInput("2026-12-01T09:00:00Z"));
    expect(screen.getByLabelText("B from")).toHaveValue(localInput("2026-12-01T09:00:00Z"));
    expect(screen.getByLabelText("B to")).toHaveValue(localInput("2026-12-02T09:00:00Z"));
    const url = new URLSearchParams(window.location.search);
    expect([url.get("preset"), url.get("marker"), url.get("b_to")]).toEqual(["marker", "9", localInput("2026-12-02T09:00:00Z")]);
    expect(picker).toHaveValue("9");
    expect(compares().every((p) => p.get("around_event") === "9" && !p.has("a_from"))).toBe(true);

    // Changing a window leaves the marker: the windows are then sent as they are.
    const bTo = screen.getByLabelText("B to");
    await user.clear(bTo);
    await user.type(bTo, "2026-12-01T21:00");
    await waitFor(() => expect(compares().at(-1)?.get("b_to")).toBe(new Date("2026-12-01T21:00").toISOString()));
    expect(compares().at(-1)?.has("around_event")).toBe(false);
    expect(compares().at(-1)?.get("a_from")).toBe(new Date(localInput("2026-11-30T09:00:00Z")).toISOString());
    expect(new URLSearchParams(window.location.search).has("marker")).toBe(false);
  });

  it("the previous hour and week end at the current hour too", () => {
    const now = Date.parse("2026-12-01T10:59:59Z");
    const iso = (local: string) => new Date(local).toISOString();
    const hour = presetWindows("hour", now);
    expect([iso(hour.a_from), iso(hour.b_from), iso(hour.b_to)]).toEqual([
      "2026-12-01T08:00:00.000Z",
      "2026-12-01T09:00:00.000Z",
      "2026-12-01T10:00:00.000Z",
    ]);
    const week = presetWindows("week", now);
    expect([iso(week.a_from), iso(week.a_to)]).toEqual(["2026-11-17T10:00:00.000Z", "2026-11-24T10:00:00.000Z"]);
  });
});
