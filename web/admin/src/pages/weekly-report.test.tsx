import { describe, expect, it } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { Schemas } from "../api/types";
import { json, tokens, type FakeApi, type Handler } from "../test/fakeApi";
import { EMPTY_PAGE, loggedInAs, renderAt } from "../test/app";

type Team = Schemas["TeamView"];
type Channel = Schemas["ChannelView"];
type ReportChannel = Schemas["ReportChannel"];
type Subscription = Schemas["WeeklyReportView"];
type Report = Schemas["WeeklyReport"];

const PAYMENTS: Team = {
  id: 3,
  name: "Payments",
  description: null,
  organization_id: 1,
  created_at: "2026-12-01T00:00:00Z",
  updated_at: "2026-12-01T00:00:00Z",
};
const SEARCH: Team = { ...PAYMENTS, id: 4, name: "Search" };

function channel(id: number, name: string, over: Partial<Channel> = {}): Channel {
  return {
    id,
    organization_id: 1,
    team_id: null,
    name,
    kind: "email",
    enabled: true,
    url: null,
    to: ["ops@acme.example"],
    created_at: "2026-12-01T00:00:00Z",
    last_delivery_at: null,
    last_delivery_status: null,
    last_error: null,
    ...over,
  };
}

const OPS_MAIL = channel(4, "Ops mail");
const HOOK = channel(5, "Ops hook", { kind: "webhook", url: "https://hooks.example.com/x", to: [] });

function subscription(channelId: number, lastWeek: string | null = null): Subscription {
  return {
    team_id: PAYMENTS.id,
    organization_id: 1,
    enabled: true,
    channel_id: channelId,
    last_week: lastWeek,
    updated_at: "2026-12-01T00:00:00Z",
  };
}

/** A team that never opted in: the API answers "off". */
const off = (teamId: number): Subscription => ({
  team_id: teamId,
  organization_id: 1,
  enabled: false,
  channel_id: null,
  last_week: null,
  updated_at: null,
});

/** Like the server: the enabled e-mail channels a team may use, organization-wide or its own. */
function offeredTo(teamId: number, channels: Channel[]): ReportChannel[] {
  return channels
    .filter((c) => c.kind === "email" && c.enabled && (c.team_id == null || c.team_id === teamId))
    .map(({ id, name, team_id }) => ({ id, name, team_id }));
}

/**
 * A fake of the teams, channels and weekly report endpoints: the subscription of team 3 changes with each
 * PUT and DELETE, like the server's; a PUT naming anything but an enabled e-mail channel is refused.
 */
function reportApi(channels: Channel[], initial: Subscription | null = null) {
  let sub = initial;
  return {
    current: () => sub,
    routes: {
      "GET /api/v1/teams": () => ({ items: [PAYMENTS, SEARCH], total: 2, page: 1, per_page: 20 }),
      "GET /api/v1/alert-channels": () => ({ items: channels, total: channels.length, page: 1, per_page: 200 }),
      "GET /api/v1/teams/3/weekly-report": () => sub ?? off(PAYMENTS.id),
      "GET /api/v1/teams/4/weekly-report": () => off(SEARCH.id),
      "GET /api/v1/teams/3/weekly-report/channels": () => offeredTo(PAYMENTS.id, channels),
      "GET /api/v1/teams/4/weekly-report/channels": () => offeredTo(SEARCH.id, channels),
      "PUT /api/v1/teams/3/weekly-report": async (req: Request) => {
        const { channel_id } = (await req.json()) as { channel_id: number };
        const c = channels.find((x) => x.id === channel_id);
        if (!c || c.kind !== "email" || !c.enabled) {
          return json(422, {
            error: { code: "validation_failed", message: "the channel is not an enabled e-mail channel", request_id: "r" },
          });
        }
        sub = subscription(channel_id, sub?.last_week ?? null);
        return sub;
      },
      "DELETE /api/v1/teams/3/weekly-report": () => {
        sub = null;
        return json(204, null);
      },
    },
  };
}

async function openReport(teamName = "Payments") {
  const user = userEvent.setup();
  const row = await screen.findByRole("row", { name: new RegExp(teamName) }, { timeout: 5000 });
  await user.click(within(row).getByRole("button", { name: `Weekly report of ${teamName}` }));
  const dialog = await screen.findByRole("dialog", { name: `Weekly report: ${teamName}` });
  return { user, row, dialog };
}

/** A team lead of Payments (team 3), against `routes`. */
function loggedInAsLead(routes: Record<string, Handler>) {
  const lead = tokens("TEAM_LEAD");
  return loggedInAs("TEAM_LEAD", {
    ...routes,
    "POST /api/v1/auth/refresh": () => ({ ...lead, user: { ...lead.user, team_id: PAYMENTS.id } }),
  });
}

/** Whether any request listed or read the organization's channels (a team lead may not). */
function listedOrgChannels(fake: FakeApi): boolean {
  return fake.calls.some((c) => c.path.startsWith("/api/v1/alert-channels"));
}

describe("the weekly team report", () => {
  it("is off until a channel is saved, then on with that channel", async () => {
    const api = reportApi([OPS_MAIL, HOOK]);
    const fake = loggedInAs("ORG_ADMIN", api.routes);
    renderAt("/teams");
    const { user, row, dialog } = await openReport();
    expect(within(row).getByTestId("weekly-report-3")).toHaveTextContent("Off");
    expect(await within(dialog).findByTestId("weekly-report-status")).toHaveTextContent("Off");
    expect(within(dialog).queryByRole("button", { name: "Turn off" })).toBeNull();

    const picker = await within(dialog).findByLabelText("E-mail channel");
    // The channels the team may use are offered by name, not every channel of the organization.
    expect(within(picker).getAllByRole("option").map((o) => o.textContent)).toEqual(["Choose…", "Ops mail"]);
    expect(fake.calls.some((c) => c.method === "GET" && c.path === "/api/v1/teams/3/weekly-report/channels")).toBe(true);
    expect(within(dialog).getByRole("button", { name: "Save" })).toBeDisabled();
    await user.selectOptions(picker, "4");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));

    await waitFor(() => expect(within(dialog).getByTestId("weekly-report-status")).toHaveTextContent("On: Ops mail, nothing sent yet"));
    const put = fake.calls.find((c) => c.method === "PUT");
    expect(put?.path).toBe("/api/v1/teams/3/weekly-report");
    expect(JSON.parse(put?.body ?? "{}")).toEqual({ channel_id: 4 });
    expect(put?.auth).toBe("Bearer access-1");
    expect(api.current()?.channel_id).toBe(4);
    expect(within(dialog).getByRole("button", { name: "Turn off" })).toBeInTheDocument();
    expect(within(row).getByTestId("weekly-report-3")).toHaveTextContent("On: Ops mail, nothing sent yet");
  });

  it("shows the API's reason when the channel is refused", async () => {
    const api = reportApi([OPS_MAIL]);
    // The server has the last word: here it refuses even an enabled e-mail channel.
    api.routes["PUT /api/v1/teams/3/weekly-report"] = async () =>
      json(422, { error: { code: "validation_failed", message: "the channel is not an enabled e-mail channel", request_id: "r" } });
    loggedInAs("ORG_ADMIN", api.routes);
    renderAt("/teams");
    const { user, dialog } = await openReport();
    const picker = await within(dialog).findByLabelText("E-mail channel");
    await user.selectOptions(picker, "4");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("the channel is not an enabled e-mail channel");
    expect(within(dialog).getByTestId("weekly-report-status")).toHaveTextContent("Off");
    expect(api.current()).toBeNull();
  });

  it("turns the report off", async () => {
    const api = reportApi([OPS_MAIL], subscription(4, "2026-11-23"));
    const fake = loggedInAs("ORG_ADMIN", api.routes);
    renderAt("/teams");
    const { user, row, dialog } = await openReport();
    expect(await within(row).findByTestId("weekly-report-3")).toHaveTextContent("On: Ops mail, last sent week of 2026-11-23");
    expect(await within(dialog).findByTestId("weekly-report-status")).toHaveTextContent("On: Ops mail, last sent week of 2026-11-23");
    // The current channel is the one selected.
    expect(await within(dialog).findByLabelText("E-mail channel")).toHaveValue("4");
    await user.click(within(dialog).getByRole("button", { name: "Turn off" }));
    await waitFor(() => expect(within(dialog).getByTestId("weekly-report-status")).toHaveTextContent("Off"));
    expect(fake.calls.filter((c) => c.method === "DELETE").map((c) => c.path)).toEqual(["/api/v1/teams/3/weekly-report"]);
    expect(api.current()).toBeNull();
    expect(within(dialog).queryByRole("button", { name: "Turn off" })).toBeNull();
    expect(within(row).getByTestId("weekly-report-3")).toHaveTextContent("Off");
  });

  it("previews the last week's report: its classes and resolved alerts", async () => {
    const report: Report = {
      team_id: 3,
      organization_id: 1,
      team_name: "Payments",
      from: "2026-11-23T00:00:00Z",
      to: "2026-11-30T00:00:00Z",
      calls: 12345,
      total_time_ms: 3_600_000,
      top: [
        {
          query_id: "ABCDEF0123456789",
          database_type: "mysql",
          fingerprint: "select * from orders where id = ?",
          calls: 1200,
          total_time_ms: 36_000,
          mean_ms: 30,
          p95_ms: 85,
          mean_ratio: 3,
        },
      ],
      new: [],
      new_count: 0,
      regressed: [
        {
          query_id: "0123456789ABCDEF",
          database_type: "postgresql",
          fingerprint: "select * from refunds where order_id = ?",
          calls: 40,
          total_time_ms: 8000,
          mean_ms: 200,
          p95_ms: 450,
          mean_ratio: 2.5,
        },
      ],
      regressed_count: 3,
      resolved: [{ id: 17, kind: "regression", query_id: "ABCDEF0123456789", resolved_at: "2026-11-25T10:00:00Z" }],
      resolved_count: 2,
    };
    const api = reportApi([OPS_MAIL], subscription(4));
    const fake = loggedInAs("ORG_ADMIN", { ...api.routes, "GET /api/v1/teams/3/weekly-report/preview": () => report });
    renderAt("/teams");
    const { user, dialog } = await openReport();
    await user.click(within(dialog).getByRole("button", { name: "Preview" }));
    const preview = await within(dialog).findByTestId("weekly-report-preview");
    expect(fake.calls.filter((c) => c.path === "/api/v1/teams/3/weekly-report/preview")).toHaveLength(1);
    // Nothing is sent or changed by a preview.
    expect(fake.calls.some((c) => c.method !== "GET" && c.path.includes("weekly-report"))).toBe(false);
    expect(preview).toHaveTextContent("week of 2026-11-23 to 2026-11-30 (UTC): 12,345 calls, 1.0 h in all.");

    const top = within(preview).getByRole("region", { name: "Most time" });
    const row = within(top).getByRole("row", { name: /ABCDEF0123456789/ });
    expect(within(row).getByRole("link", { name: "ABCDEF0123456789" })).toHaveAttribute(
      "href",
      "/queries?query_id=ABCDEF0123456789&database_type=mysql",
    );
    expect(within(row).getAllByRole("cell").map((c) => c.textContent)).toEqual([
      "ABCDEF0123456789",
      "select * from orders where id = ?",
      "1,200",
      "36.0 s",
      "30 ms",
      "85 ms",
      "3.0×",
    ]);
    expect(within(preview).getByRole("region", { name: "New classes (0)" })).toHaveTextContent("None.");
    const regressed = within(preview).getByRole("region", { name: "Regressed classes (the first 1 of 3)" });
    expect(within(regressed).getByRole("link", { name: "0123456789ABCDEF" })).toHaveAttribute(
      "href",
      "/queries?query_id=0123456789ABCDEF&database_type=postgresql",
    );
    expect(within(regressed).getByText("2.5×")).toBeInTheDocument();
    const resolved = within(preview).getByRole("region", { name: "Resolved alerts (the first 1 of 2)" });
    expect(within(resolved).getByRole("listitem")).toHaveTextContent(/#17 Regression · ABCDEF0123456789/);
  });

  it("names a channel the team may no longer pick, and does not preselect it", async () => {
    const old = channel(6, "Old mail", { enabled: false });
    const api = reportApi([OPS_MAIL, old], subscription(6, "2026-11-23"));
    loggedInAs("ORG_ADMIN", api.routes);
    renderAt("/teams");
    const { user, row, dialog } = await openReport();
    // A disabled channel is not offered, but the organization's channels still name it.
    const picker = await within(dialog).findByLabelText("E-mail channel");
    expect(within(picker).getAllByRole("option").map((o) => o.textContent)).toEqual(["Choose…", "Ops mail"]);
    expect(picker).toHaveValue("");
    expect(within(dialog).getByRole("button", { name: "Save" })).toBeDisabled();
    await waitFor(() => expect(within(dialog).getByTestId("weekly-report-status")).toHaveTextContent("On: Old mail, last sent week of 2026-11-23"));
    expect(within(row).getByTestId("weekly-report-3")).toHaveTextContent("On: Old mail, last sent week of 2026-11-23");

    await user.selectOptions(picker, "Ops mail");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(within(dialog).getByTestId("weekly-report-status")).toHaveTextContent("On: Ops mail, last sent week of 2026-11-23"));
    expect(api.current()?.channel_id).toBe(4);
  });

  it("without an e-mail channel, tells an administrator so and links to the channels", async () => {
    const api = reportApi([HOOK]);
    loggedInAs("ORG_ADMIN", api.routes);
    renderAt("/teams");
    const { dialog } = await openReport();
    const notice = await within(dialog).findByTestId("no-email-channels");
    expect(notice).toHaveTextContent("There is no e-mail channel yet");
    expect(notice).not.toHaveTextContent("Ask an administrator");
    expect(within(notice).getByRole("link", { name: "Add one in Alert channels" })).toHaveAttribute("href", "/settings/alert-channels");
    expect(within(dialog).queryByRole("button", { name: "Save" })).toBeNull();
    expect(within(dialog).queryByLabelText("E-mail channel")).toBeNull();
  });

  it("without an e-mail channel, tells a team lead to ask an administrator", async () => {
    const api = reportApi([HOOK]);
    const fake = loggedInAsLead(api.routes);
    renderAt("/teams");
    const { dialog } = await openReport();
    const notice = await within(dialog).findByTestId("no-email-channels");
    expect(notice).toHaveTextContent("There is no e-mail channel yet: the report goes to one. Ask an administrator to add one.");
    // The channels page is not the lead's: no link to it.
    expect(within(dialog).queryByRole("link")).toBeNull();
    expect(within(dialog).queryByRole("button", { name: "Save" })).toBeNull();
    expect(within(dialog).queryByLabelText("E-mail channel")).toBeNull();
    expect(listedOrgChannels(fake)).toBe(false);
  });

  it("a team lead picks its own team's channel by name, and is offered no other team's", async () => {
    const own = channel(7, "Payments on-call", { team_id: PAYMENTS.id });
    const others = channel(8, "Search on-call", { team_id: SEARCH.id });
    const api = reportApi([OPS_MAIL, HOOK, own, others]);
    const fake = loggedInAsLead(api.routes);
    renderAt("/");
    const user = userEvent.setup();
    await user.click(await screen.findByRole("link", { name: "Teams" }, { timeout: 5000 }));
    const other = await screen.findByRole("row", { name: /Search/ }, { timeout: 5000 });
    expect(within(other).queryByRole("button", { name: /Weekly report/ })).toBeNull();
    expect(screen.queryByRole("button", { name: "New team" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Edit" })).toBeNull();

    const { row, dialog } = await openReport();
    const picker = await within(dialog).findByLabelText("E-mail channel");
    // The organization-wide e-mail channel and the team's own, by name; no box to type an id in.
    expect(within(picker).getAllByRole("option").map((o) => o.textContent)).toEqual(["Choose…", "Ops mail", "Payments on-call"]);
    expect(within(dialog).queryByRole("spinbutton")).toBeNull();
    await user.selectOptions(picker, "Payments on-call");
    await user.click(within(dialog).getByRole("button", { name: "Save" }));

    await waitFor(() =>
      expect(within(dialog).getByTestId("weekly-report-status")).toHaveTextContent("On: Payments on-call, nothing sent yet"),
    );
    expect(JSON.parse(fake.calls.find((c) => c.method === "PUT")?.body ?? "{}")).toEqual({ channel_id: 7 });
    // The row names the channel from what the dialog listed, without a request of its own.
    expect(within(row).getByTestId("weekly-report-3")).toHaveTextContent("On: Payments on-call, nothing sent yet");
    expect(fake.calls.filter((c) => c.path === "/api/v1/teams/3/weekly-report/channels")).toHaveLength(1);
    expect(listedOrgChannels(fake)).toBe(false);
    expect(fake.calls.some((c) => c.path.startsWith("/api/v1/teams/4/weekly-report"))).toBe(false);
  });

  it("is not offered to a USER", async () => {
    loggedInAs("USER", { "GET /api/v1/teams": () => EMPTY_PAGE });
    renderAt("/teams");
    expect(await screen.findByText("Not available for your role", {}, { timeout: 5000 })).toBeInTheDocument();
  });
});
