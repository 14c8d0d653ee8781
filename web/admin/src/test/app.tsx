/** The whole panel rendered at a URL, logged in as a role against a fake API. */
import { render } from "@testing-library/react";
import { App, makeQueryClient } from "../App";
import { REFRESH_KEY, Session } from "../auth/session";
import type { QueryClient } from "@tanstack/react-query";
import type { Role } from "../api/types";
import { fakeApi, tokens, type Handler } from "./fakeApi";

export const DASHBOARD = {
  total_queries: 1234,
  total_issues: 56,
  critical_issues: 7,
  avg_time_ms: 850,
  chart_data: [
    { date: "2026-11-27", queries: 100, avg_time_ms: 800, critical: 1 },
    { date: "2026-11-28", queries: 200, avg_time_ms: 900, critical: 2 },
  ],
};
export const EMPTY_PAGE = { items: [], total: 0, page: 1, per_page: 20 };

export function renderAt(path: string, session?: Session, client: QueryClient = makeQueryClient()) {
  window.history.pushState({}, "", path);
  const s = session ?? new Session(sessionStorage);
  return { session: s, client, ...render(<App session={s} client={client} />) };
}

/** A tab holding a refresh token the fake server accepts for `role`, and the pages' usual answers. */
export function loggedInAs(role: Role, extra: Record<string, Handler> = {}) {
  sessionStorage.setItem(REFRESH_KEY, "refresh-0");
  return fakeApi({
    "POST /api/v1/auth/refresh": () => tokens(role),
    "GET /api/v1/stats/dashboard": () => DASHBOARD,
    "GET /api/v1/query-classes": () => EMPTY_PAGE,
    "GET /api/v1/agents": () => EMPTY_PAGE,
    "GET /api/v1/organizations": () => EMPTY_PAGE,
    "GET /api/v1/alerts": () => EMPTY_PAGE,
    "GET /api/v1/events": () => EMPTY_PAGE,
    ...extra,
  });
}
