import { describe, expect, it } from "vitest";
import { hashKey, QueryClient, type QueryKey } from "@tanstack/react-query";
import { invalidate, keys, queries, staleAfter, type Change } from "./queries";

const ROOTS = Object.values(keys).map((k) => k.all[0]);
const CHANGES: Change[] = [
  "organization",
  "organization-deleted",
  "team",
  "team-deleted",
  "identity",
  "identity-deleted",
  "user",
  "api-key",
  "analysis-requested",
  "analysis",
  "alert",
  "class-muted",
  "channel",
  "channel-deleted",
  "channel-tested",
  "rule",
  "rule-deleted",
  "weekly-report",
];

/** A client holding one cached entry under each of the given keys. */
function seeded(...queryKeys: QueryKey[]): QueryClient {
  const qc = new QueryClient();
  for (const k of queryKeys) qc.setQueryData(k, { items: [], total: 0 });
  return qc;
}
const invalidated = (qc: QueryClient) =>
  qc
    .getQueryCache()
    .getAll()
    .filter((q) => q.state.isInvalidated)
    .map((q) => q.queryHash)
    .sort();

describe("query keys", () => {
  it("are the same for the same request, whatever the order or absent filters", () => {
    expect(queries.slowQueries.list({ page: 2, q: "orders" }).queryKey).toEqual(
      queries.slowQueries.list({ page: 2, q: "orders" }).queryKey,
    );
    expect(hashKey(keys.slowQueries.list({ q: "orders", page: 2, severity: undefined }))).toBe(
      hashKey(keys.slowQueries.list({ page: 2, q: "orders" })),
    );
    expect(hashKey(keys.slowQueries.list({ page: 2 }))).not.toBe(hashKey(keys.slowQueries.list({ page: 3 })));
  });

  it("nest every list and detail under its resource, and resources never share a root", () => {
    expect(new Set(ROOTS).size).toBe(ROOTS.length);
    expect(queries.organizations.list({ page: 1 }).queryKey).toEqual(["organizations", "list", { page: 1 }]);
    expect(queries.organizations.detail(4).queryKey).toEqual(["organizations", "detail", 4]);
    expect(queries.classes.detail("ABC").queryKey).toEqual(["query-classes", "detail", "ABC"]);
    // A MySQL and a PostgreSQL class may share a query id: the engine is part of the key.
    expect(queries.classes.detail("ABC", "postgresql").queryKey).toEqual(["query-classes", "detail", "postgresql:ABC"]);
    expect(hashKey(queries.classes.detail("ABC", "mysql").queryKey)).not.toBe(hashKey(queries.classes.detail("ABC", "postgresql").queryKey));
    // A class's plans sit under the class resource (an analysis refreshes them with the class), per engine.
    expect(queries.classes.plans("ABC", "mysql").queryKey).toEqual(["query-classes", "plans", "mysql:ABC"]);
    expect(hashKey(queries.classes.plans("ABC", "mysql").queryKey)).not.toBe(hashKey(queries.classes.detail("ABC", "mysql").queryKey));
    expect(queries.audit.verify(undefined).queryKey).toEqual(["audit-logs", "verify", null]);
    const all: QueryKey[] = [
      queries.organizations.list({}).queryKey,
      queries.organizations.detail(1).queryKey,
      queries.teams.list({}).queryKey,
      queries.identities.list({}).queryKey,
      queries.users.list({}).queryKey,
      queries.apiKeys.list({}).queryKey,
      queries.slowQueries.list({}).queryKey,
      queries.slowQueries.detail(1).queryKey,
      queries.classes.list({}).queryKey,
      queries.classes.detail("q").queryKey,
      queries.classes.plans("q", "postgresql").queryKey,
      queries.audit.list({}).queryKey,
      queries.audit.verify(3).queryKey,
      queries.agents().queryKey,
      queries.dashboard().queryKey,
      queries.alerts.list({ status: "open" }).queryKey,
      queries.alerts.detail(1).queryKey,
      queries.channels.list({}).queryKey,
      queries.rules.list({}).queryKey,
      queries.events.list({}).queryKey,
      queries.compare({ a_from: "a", a_to: "b", b_from: "c", b_to: "d" }).queryKey,
      queries.compare({ around_event: 9, span_secs: 86400 }).queryKey,
      queries.indexAdvice({ unused_days: 30 }).queryKey,
      queries.weeklyReports.detail(3).queryKey,
      queries.weeklyReports.preview(3).queryKey,
      queries.weeklyReports.channels(3).queryKey,
    ];
    for (const k of all) expect(ROOTS).toContain(k[0]);
  });

  it("let one invalidation reach a resource's pages, pickers and details but no other resource", async () => {
    const qc = seeded(
      keys.organizations.list({ page: 2, per_page: 20 }),
      keys.organizations.list({ per_page: 200 }),
      keys.organizations.detail(1),
      keys.teams.list({ per_page: 200 }),
    );
    await qc.invalidateQueries({ queryKey: keys.organizations.all });
    expect(invalidated(qc)).toEqual(
      [
        keys.organizations.list({ page: 2, per_page: 20 }),
        keys.organizations.list({ per_page: 200 }),
        keys.organizations.detail(1),
      ]
        .map(hashKey)
        .sort(),
    );
  });
});

describe("what a change makes stale", () => {
  it("always includes the audit log, which records every change", () => {
    for (const c of CHANGES) expect(staleAfter(c)).toContainEqual(keys.audit.all);
  });

  it("follows the database's cascades", () => {
    expect(staleAfter("team-deleted")).toEqual(
      expect.arrayContaining([keys.teams.all, keys.identities.all, keys.users.all, keys.apiKeys.all]),
    );
    expect(staleAfter("identity-deleted")).toEqual(expect.arrayContaining([keys.identities.all, keys.users.all]));
    expect(staleAfter("organization-deleted").map((k) => k[0]).sort()).toEqual([...ROOTS].sort());
    expect(staleAfter("analysis")).toEqual(
      expect.arrayContaining([keys.slowQueries.all, keys.classes.all, keys.dashboard.all, keys.indexAdvice.all]),
    );
    expect(staleAfter("user")).not.toContainEqual(keys.teams.all);
    // A team's channels and rules go with it, and a rule's alerts with the rule.
    expect(staleAfter("team-deleted")).toEqual(expect.arrayContaining([keys.channels.all, keys.rules.all, keys.alerts.all]));
    expect(staleAfter("rule-deleted")).toEqual(expect.arrayContaining([keys.rules.all, keys.alerts.all]));
    expect(staleAfter("alert")).toContainEqual(keys.alerts.all);
  });

  it("an acknowledged alert refreshes the lists, the badge's count and its detail, nothing else", async () => {
    const badge = keys.alerts.list({ status: "open", per_page: 1 });
    const qc = seeded(badge, keys.alerts.list({ page: 1 }), keys.alerts.detail(4), keys.rules.list({ page: 1 }));
    await invalidate(qc, "alert");
    expect(qc.getQueryState(badge)?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.alerts.detail(4))?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.rules.list({ page: 1 }))?.isInvalidated).toBe(false);
  });

  it("a team opting in or out refreshes the subscriptions, not the previews; deleting its team or channel does too", async () => {
    const qc = seeded(keys.weeklyReports.detail(3), keys.weeklyReports.detail(4), keys.weeklyReports.preview(3), keys.teams.list({ page: 1 }));
    await invalidate(qc, "weekly-report");
    expect(qc.getQueryState(keys.weeklyReports.detail(3))?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.weeklyReports.detail(4))?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.weeklyReports.preview(3))?.isInvalidated).toBe(false);
    expect(qc.getQueryState(keys.teams.list({ page: 1 }))?.isInvalidated).toBe(false);
    expect(staleAfter("team-deleted")).toContainEqual(keys.weeklyReports.all);
    expect(staleAfter("channel-deleted")).toContainEqual(keys.weeklyReports.subscriptions);
  });

  it("a channel's change or deletion refreshes the channels every team's report may go to; an opt-in does not", async () => {
    const offered = [keys.weeklyReports.channels(3), keys.weeklyReports.channels(4)];
    for (const change of ["channel", "channel-deleted", "team-deleted", "organization-deleted"] as const) {
      const qc = seeded(...offered, keys.weeklyReports.preview(3));
      await invalidate(qc, change);
      for (const k of offered) expect(qc.getQueryState(k)?.isInvalidated, `${change} ${hashKey(k)}`).toBe(true);
    }
    const qc = seeded(...offered, keys.weeklyReports.detail(3));
    await invalidate(qc, "weekly-report");
    expect(qc.getQueryState(keys.weeklyReports.detail(3))?.isInvalidated).toBe(true);
    for (const k of offered) expect(qc.getQueryState(k)?.isInvalidated).toBe(false);
    // A channel's change leaves the subscriptions and previews alone.
    const other = seeded(keys.weeklyReports.detail(3), keys.weeklyReports.preview(3));
    await invalidate(other, "channel");
    expect(invalidated(other)).toEqual([]);
  });

  it("saving an organization refreshes the organization Settings shows, not just the list", async () => {
    const settings = queries.organizations.detail(1).queryKey;
    const qc = seeded(settings, keys.organizations.list({ page: 1, per_page: 20 }), keys.users.list({ page: 1 }));
    await invalidate(qc, "organization");
    expect(qc.getQueryState(settings)?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.organizations.list({ page: 1, per_page: 20 }))?.isInvalidated).toBe(true);
    expect(qc.getQueryState(keys.users.list({ page: 1 }))?.isInvalidated).toBe(false);
  });
});
