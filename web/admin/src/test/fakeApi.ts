/** A fetch stand-in for component tests: answers by "METHOD /path" and records every request. */
import { vi } from "vitest";
import type { Role } from "../api/types";

export type Handler = (req: Request) => unknown | Response | Promise<unknown | Response>;

export interface FakeApi {
  calls: { method: string; path: string; auth: string | null; body: string | null }[];
}

export function fakeApi(routes: Record<string, Handler>): FakeApi {
  const state: FakeApi = { calls: [] };
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: Request | string, init?: RequestInit) => {
      const req = typeof input === "string" ? new Request(input, init) : input;
      const url = new URL(req.url);
      const body = req.method === "GET" ? null : await req.clone().text();
      state.calls.push({ method: req.method, path: url.pathname + url.search, auth: req.headers.get("authorization"), body });
      const key = `${req.method} ${url.pathname}`;
      const handler = routes[key];
      if (!handler) {
        return json(404, { error: { code: "not_found", message: `no fake for ${key}`, request_id: "t" } });
      }
      const out = await handler(req);
      return out instanceof Response ? out : json(200, out);
    }),
  );
  return state;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export function tokens(role: Role, n = 1) {
  return {
    access_token: `access-${n}`,
    refresh_token: `refresh-${n}`,
    token_type: "Bearer",
    expires_in: 900,
    user: {
      id: 7,
      email: `${role.toLowerCase()}@acme.example`,
      full_name: null,
      role,
      organization_id: role === "SUPER_ADMIN" ? null : 1,
      team_id: null,
      identity_id: null,
      is_active: true,
      created_at: "2026-12-01T00:00:00Z",
      updated_at: "2026-12-01T00:00:00Z",
      last_login_at: null,
    },
  };
}
