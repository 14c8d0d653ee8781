/**
 * Every server read the panel caches: its React Query key and its fetcher, made in one place.
 *
 * Keys form one tree per resource, `[resource]` > `[resource, "list", params]` and
 * `[resource, "detail", id]`, so invalidating `keys.<resource>.all` refreshes that resource's pages, its
 * pickers and its detail views together. Mutations do not name keys themselves: they say what changed
 * (`invalidate(qc, "team-deleted")`) and `STALE` below lists what that makes stale.
 */
import { keepPreviousData, queryOptions, type QueryClient, type QueryKey } from "@tanstack/react-query";
import { api, call, send } from "./client";
import type { DatabaseType, QueryParams } from "./types";

export type PageParams = QueryParams<"list_teams">;
export type SlowQueryFilters = QueryParams<"list_slow_queries">;
export type ClassFilters = QueryParams<"list_query_classes">;
export type AuditFilters = QueryParams<"list_audit_logs">;
export type AlertFilters = QueryParams<"list_alerts">;
export type EventFilters = QueryParams<"list_events">;
/** Two windows (`a_from`..`b_to`), or `around_event` and `span_secs`, with the filters and the page. */
export type CompareQuery = QueryParams<"compare_windows">;
/** The index advice's filters: `unused_days`, `database`, `table`. */
export type IndexAdviceQuery = QueryParams<"index_advice">;

/** The API's page limit: pickers list the first page of this size. */
export const PICKER_SIZE = 200;

/** How often the agents' heartbeats are re-read (the dashboard and the agents page share the query). */
export const AGENTS_REFRESH_MS = 30_000;

function resourceKeys<R extends string>(root: R) {
  return {
    all: [root] as const,
    list: <P extends object>(params: P) => [root, "list", params] as const,
    detail: <I extends number | string>(id: I) => [root, "detail", id] as const,
  };
}

export const keys = {
  organizations: resourceKeys("organizations"),
  teams: resourceKeys("teams"),
  identities: resourceKeys("identities"),
  users: resourceKeys("users"),
  apiKeys: resourceKeys("api-keys"),
  slowQueries: resourceKeys("slow-queries"),
  classes: {
    ...resourceKeys("query-classes"),
    /** A class's plan shapes (the id as in `detail`: `engine:query_id` when the engine is known). */
    plans: (id: string) => ["query-classes", "plans", id] as const,
  },
  audit: {
    ...resourceKeys("audit-logs"),
    verify: (organizationId: number | undefined) => ["audit-logs", "verify", organizationId ?? null] as const,
  },
  alerts: resourceKeys("alerts"),
  channels: resourceKeys("alert-channels"),
  rules: resourceKeys("alert-rules"),
  events: resourceKeys("events"),
  compare: resourceKeys("compare"),
  indexAdvice: resourceKeys("index-advice"),
  weeklyReports: {
    all: ["weekly-reports"] as const,
    /** A team's subscription (`null`: it has not opted in). */
    detail: (teamId: number) => ["weekly-reports", "detail", teamId] as const,
    /** Every team's subscription, not the previews (which do not depend on it). */
    subscriptions: ["weekly-reports", "detail"] as const,
    preview: (teamId: number) => ["weekly-reports", "preview", teamId] as const,
    /** The e-mail channels a team's report may go to. */
    channels: (teamId: number) => ["weekly-reports", "channels", teamId] as const,
    /** Every team's offered channels (a channel's change may add, rename or drop one). */
    offered: ["weekly-reports", "channels"] as const,
  },
  agents: { all: ["agents"] as const },
  dashboard: { all: ["dashboard"] as const },
};

/** A list's options: its page stays on screen while the next one (another page, other filters) loads. */
function listOptions<T, K extends QueryKey>(queryKey: K, queryFn: () => Promise<T>) {
  return queryOptions({ queryKey, queryFn, placeholderData: keepPreviousData });
}

export const queries = {
  organizations: {
    list: (query: PageParams) =>
      listOptions(keys.organizations.list(query), () => call(() => api.GET("/api/v1/organizations", { params: { query } }))),
    detail: (id: number) =>
      queryOptions({
        queryKey: keys.organizations.detail(id),
        queryFn: () => call(() => api.GET("/api/v1/organizations/{id}", { params: { path: { id } } })),
      }),
  },
  teams: {
    list: (query: PageParams) =>
      listOptions(keys.teams.list(query), () => call(() => api.GET("/api/v1/teams", { params: { query } }))),
  },
  identities: {
    list: (query: PageParams) =>
      listOptions(keys.identities.list(query), () => call(() => api.GET("/api/v1/identities", { params: { query } }))),
  },
  users: {
    list: (query: PageParams) =>
      listOptions(keys.users.list(query), () => call(() => api.GET("/api/v1/users", { params: { query } }))),
  },
  apiKeys: {
    list: (query: PageParams) =>
      listOptions(keys.apiKeys.list(query), () => call(() => api.GET("/api/v1/api-keys", { params: { query } }))),
  },
  slowQueries: {
    list: (query: SlowQueryFilters) =>
      listOptions(keys.slowQueries.list(query), () => call(() => api.GET("/api/v1/slow-queries", { params: { query } }))),
    detail: (id: number) =>
      queryOptions({
        queryKey: keys.slowQueries.detail(id),
        queryFn: () => call(() => api.GET("/api/v1/slow-queries/{id}", { params: { path: { id } } })),
      }),
  },
  classes: {
    list: (query: ClassFilters) =>
      listOptions(keys.classes.list(query), () => call(() => api.GET("/api/v1/query-classes", { params: { query } }))),
    /**
     * One class with its hourly history. A query id may name a MySQL and a PostgreSQL class: the engine
     * says which (without it the API answers 409 when both exist).
     */
    detail: (queryId: string, databaseType?: DatabaseType) =>
      queryOptions({
        queryKey: keys.classes.detail(databaseType ? `${databaseType}:${queryId}` : queryId),
        queryFn: () =>
          call(() =>
            api.GET("/api/v1/query-classes/{query_id}", {
              params: { path: { query_id: queryId }, query: { database_type: databaseType } },
            }),
          ),
      }),
    /** The plan shapes a class ran with, newest first (the engine chooses the class, as in `detail`). */
    plans: (queryId: string, databaseType?: DatabaseType) =>
      queryOptions({
        queryKey: keys.classes.plans(databaseType ? `${databaseType}:${queryId}` : queryId),
        queryFn: () =>
          call(() =>
            api.GET("/api/v1/query-classes/{query_id}/plans", {
              params: { path: { query_id: queryId }, query: { database_type: databaseType } },
            }),
          ),
      }),
  },
  audit: {
    list: (query: AuditFilters) =>
      listOptions(keys.audit.list(query), () => call(() => api.GET("/api/v1/audit-logs", { params: { query } }))),
    verify: (organizationId: number | undefined) =>
      queryOptions({
        queryKey: keys.audit.verify(organizationId),
        queryFn: () =>
          call(() => api.GET("/api/v1/audit-logs/verify", { params: { query: { organization_id: organizationId } } })),
      }),
  },
  alerts: {
    list: (query: AlertFilters) =>
      listOptions(keys.alerts.list(query), () => call(() => api.GET("/api/v1/alerts", { params: { query } }))),
    detail: (id: number) =>
      queryOptions({
        queryKey: keys.alerts.detail(id),
        queryFn: () => call(() => api.GET("/api/v1/alerts/{id}", { params: { path: { id } } })),
      }),
  },
  channels: {
    list: (query: PageParams) =>
      listOptions(keys.channels.list(query), () => call(() => api.GET("/api/v1/alert-channels", { params: { query } }))),
  },
  rules: {
    list: (query: PageParams) =>
      listOptions(keys.rules.list(query), () => call(() => api.GET("/api/v1/alert-rules", { params: { query } }))),
  },
  /** Change markers, newest first. */
  events: {
    list: (query: EventFilters) =>
      listOptions(keys.events.list(query), () => call(() => api.GET("/api/v1/events", { params: { query } }))),
  },
  /** Two windows compared class by class (the answer says which windows, also around a marker). */
  compare: (query: CompareQuery) =>
    listOptions(keys.compare.list(query), () => call(() => api.GET("/api/v1/compare", { params: { query } }))),
  /** The workload's index advice per table: indexes to create (consolidated) and to drop. */
  indexAdvice: (query: IndexAdviceQuery) =>
    listOptions(keys.indexAdvice.list(query), () => call(() => api.GET("/api/v1/index-advice", { params: { query } }))),
  weeklyReports: {
    /** A team's weekly report subscription, or `null` when it is off (never opted in, or turned off). */
    detail: (teamId: number) =>
      queryOptions({
        queryKey: keys.weeklyReports.detail(teamId),
        queryFn: async () => {
          const view = await call(() => api.GET("/api/v1/teams/{id}/weekly-report", { params: { path: { id: teamId } } }));
          return view.enabled ? view : null;
        },
      }),
    /** The last whole week's report as it would be sent (nothing is sent). */
    preview: (teamId: number) =>
      queryOptions({
        queryKey: keys.weeklyReports.preview(teamId),
        queryFn: () => call(() => api.GET("/api/v1/teams/{id}/weekly-report/preview", { params: { path: { id: teamId } } })),
      }),
    /**
     * The enabled e-mail channels the team's report may go to, organization-wide or the team's own (a team
     * lead may read these though it may not list the organization's channels).
     */
    channels: (teamId: number) =>
      queryOptions({
        queryKey: keys.weeklyReports.channels(teamId),
        queryFn: () => call(() => api.GET("/api/v1/teams/{id}/weekly-report/channels", { params: { path: { id: teamId } } })),
      }),
  },
  /** A page of the agents' last heartbeats (the dashboard reads the first `PICKER_SIZE`). */
  agents: (query: PageParams = { page: 1, per_page: PICKER_SIZE }) =>
    queryOptions({
      queryKey: [...keys.agents.all, query] as const,
      queryFn: () => call(() => api.GET("/api/v1/agents", { params: { query } })),
      refetchInterval: AGENTS_REFRESH_MS,
      placeholderData: keepPreviousData,
    }),
  dashboard: () =>
    queryOptions({
      queryKey: keys.dashboard.all,
      queryFn: () => call(() => api.GET("/api/v1/stats/dashboard")),
      placeholderData: keepPreviousData,
    }),
};

/** The comparison of two windows as CSV: every matching row, no paging (a download, not cached). */
export function fetchCompareCsv(query: CompareQuery): Promise<string> {
  const { page: _page, per_page: _perPage, ...rest } = query;
  return call(() => send<string>("GET", "/api/v1/compare", { query: { ...rest, format: "csv" }, as: "text" }));
}

/** What the panel changes on the server. */
export type Change =
  | "organization"
  | "organization-deleted"
  | "team"
  | "team-deleted"
  | "identity"
  | "identity-deleted"
  | "user"
  | "api-key"
  | "analysis-requested"
  | "analysis"
  | "alert"
  | "class-muted"
  | "channel"
  | "channel-deleted"
  | "channel-tested"
  | "rule"
  | "rule-deleted"
  | "weekly-report";

const EVERYTHING: readonly QueryKey[] = Object.values(keys).map((k) => k.all);

/**
 * What each change makes stale, following the database's cascades (a deleted team takes its identities
 * and clears the team and identity of its users and keys). Every change is also in the audit log.
 */
const STALE: Record<Change, readonly QueryKey[]> = {
  organization: [keys.organizations.all],
  "organization-deleted": EVERYTHING,
  team: [keys.teams.all],
  // A team's channels, rules and weekly report (with the channels it may pick) go with it, and the alerts
  // its rules raised.
  "team-deleted": [
    keys.teams.all,
    keys.identities.all,
    keys.users.all,
    keys.apiKeys.all,
    keys.channels.all,
    keys.rules.all,
    keys.alerts.all,
    keys.weeklyReports.all,
  ],
  identity: [keys.identities.all],
  "identity-deleted": [keys.identities.all, keys.users.all, keys.apiKeys.all, keys.rules.all, keys.alerts.all],
  user: [keys.users.all],
  "api-key": [keys.apiKeys.all],
  // Queued only: nothing shown changes until a worker stores the result ("analysis").
  "analysis-requested": [],
  // A new analysis changes severities and issue counts wherever queries and classes are shown, and the
  // recommendations the index advice consolidates.
  analysis: [keys.slowQueries.all, keys.classes.all, keys.dashboard.all, keys.indexAdvice.all],
  // Acknowledged or resolved: the lists, the badge's count and the alert's detail.
  alert: [keys.alerts.all],
  // No new alert opens for the class; nothing shown changes.
  "class-muted": [],
  // Created, renamed, enabled or disabled: the channels a weekly report may go to change too.
  channel: [keys.channels.all, keys.weeklyReports.offered],
  // A rule that named the channel no longer does; a weekly report sent to it stops and may not pick it.
  "channel-deleted": [keys.channels.all, keys.rules.all, keys.weeklyReports.subscriptions, keys.weeklyReports.offered],
  // The test delivery is the channel's newest.
  "channel-tested": [keys.channels.all],
  rule: [keys.rules.all],
  // A rule's alerts go with it.
  "rule-deleted": [keys.rules.all, keys.alerts.all],
  // A team opted in or out (its preview and the channels it may pick do not change).
  "weekly-report": [keys.weeklyReports.subscriptions],
};

/** The key prefixes a change makes stale. */
export function staleAfter(change: Change): QueryKey[] {
  const out = [...STALE[change]];
  if (!out.includes(keys.audit.all)) out.push(keys.audit.all);
  return out;
}

/** Marks what a change made stale: queries on screen refetch now, the others when next shown. */
export async function invalidate(qc: QueryClient, change: Change): Promise<void> {
  await Promise.all(staleAfter(change).map((queryKey) => qc.invalidateQueries({ queryKey })));
}
