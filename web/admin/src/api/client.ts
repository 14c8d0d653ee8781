/**
 * The typed API client: `openapi-fetch` over the types `openapi-typescript` generates from the server's
 * OpenAPI document (`npm run gen`; a unit test fails when `schema.d.ts` is stale, and a Rust test fails
 * when `openapi.json` is).
 *
 * `call()` adds the access token, refreshes it once on a 401 and retries, and turns error bodies into
 * `ApiError`s.
 */
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { apiError } from "./errors";
import { session, type Session } from "../auth/session";

/** The session whose tokens the client sends (the panel's one; tests bind their own). */
let active: Session = session;

export function bindSession(s: Session): void {
  active = s;
}

/** The session whose tokens the client sends (the live stream authenticates with it too). */
export function activeSession(): Session {
  return active;
}

export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "" : window.location.origin,
  // Resolved per call so tests can stub the global fetch.
  fetch: (req: Request) => globalThis.fetch(req),
});

api.use({
  onRequest({ request }) {
    const token = active.accessToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
});

export interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Runs one API call with the session's token; a 401 triggers one silent refresh and a retry. */
export async function call<T>(run: () => Promise<Result<T>>): Promise<T> {
  let r = await run();
  if (r.response.status === 401 && active.canRefresh()) {
    if (await active.refresh()) r = await run();
    if (r.response.status === 401) active.expire();
  }
  if (r.response.ok) return r.data as T;
  throw apiError(r.response, r.error);
}

type QueryValue = string | number | boolean | null | undefined;

/**
 * One request outside the typed client, for answers that are not JSON (`as: "text"`, a CSV). Adds the
 * session's token like the typed client; run it through `call()` for the refresh-and-retry and the
 * `ApiError`s.
 */
export async function send<T>(
  method: "GET" | "POST" | "PATCH" | "DELETE",
  path: string,
  options: { query?: object; body?: unknown; as?: "json" | "text" } = {},
): Promise<Result<T>> {
  const url = new URL(path, typeof window === "undefined" ? "http://localhost" : window.location.origin);
  for (const [k, v] of Object.entries((options.query ?? {}) as Record<string, QueryValue>)) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, String(v));
  }
  const headers = new Headers({ Accept: options.as === "text" ? "*/*" : "application/json" });
  const token = active.accessToken();
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let body: string | undefined;
  if (options.body !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(options.body);
  }
  const response = await globalThis.fetch(new Request(url, { method, headers, body }));
  if (!response.ok) return { error: await response.json().catch(() => null), response };
  if (response.status === 204) return { response };
  const data = (options.as === "text" ? await response.text() : await response.json()) as T;
  return { data, response };
}
