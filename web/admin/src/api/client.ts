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

interface Result<T> {
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
