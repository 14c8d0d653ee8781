/**
 * The login session, outside React so the API client can use it.
 *
 * - The access token lives in memory only; it is sent as a bearer token and never stored.
 * - The refresh token is kept in `sessionStorage` (this tab only, gone when the tab closes) so a reload
 *   does not log the user out; it is rotated by every refresh and revoked by logout.
 * - A timer refreshes the access token shortly before it expires; a refresh that fails ends the session
 *   with "expired" so the login page can say why.
 */
import type { Schemas } from "../api/types";
import { apiError } from "../api/errors";

export type User = Schemas["UserView"];
type TokenResponse = Schemas["TokenResponse"];

export const REFRESH_KEY = "dbpower.refresh_token";

export type SessionState =
  | { status: "restoring" }
  | { status: "anonymous"; reason?: "expired" | "logged_out" }
  | { status: "authenticated"; user: User };

type Fetch = (input: string, init: RequestInit) => Promise<Response>;

export class Session {
  private access: string | null = null;
  private state: SessionState;
  private readonly listeners = new Set<() => void>();
  private refreshing: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem">,
    private readonly fetcher: Fetch = (i, init) => globalThis.fetch(i, init),
    private readonly base: string = typeof window === "undefined" ? "" : window.location.origin,
  ) {
    this.state = storage.getItem(REFRESH_KEY) ? { status: "restoring" } : { status: "anonymous" };
  }

  getState = (): SessionState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  accessToken(): string | null {
    return this.access;
  }

  canRefresh(): boolean {
    return this.storage.getItem(REFRESH_KEY) !== null;
  }

  /**
   * Logs in to `organization` (by name), or to a platform account when it is empty. Throws `ApiError`
   * (401 bad credentials, 429 too many attempts, 422 validation).
   */
  async login(email: string, password: string, organization = ""): Promise<User> {
    const body = organization ? { email, password, organization } : { email, password };
    const resp = await this.post("/api/v1/auth/login", body);
    const answer: unknown = await resp.json().catch(() => null);
    if (!resp.ok) throw apiError(resp, answer);
    return this.accept(answer as TokenResponse);
  }

  /** Exchanges the refresh token for new tokens; one exchange at a time however many callers ask. */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async logout(): Promise<void> {
    const refresh_token = this.storage.getItem(REFRESH_KEY);
    const token = this.access;
    this.clear({ status: "anonymous", reason: "logged_out" });
    if (token) {
      // Best effort: the session is gone locally whatever the server says.
      await this.post("/api/v1/auth/logout", { refresh_token }, token).catch(() => undefined);
    }
  }

  /** The server refused the tokens: back to the login page, saying why. */
  expire(): void {
    if (this.state.status !== "anonymous") this.clear({ status: "anonymous", reason: "expired" });
  }

  /** Restores a session after a reload, if this tab has a refresh token. */
  async restore(): Promise<void> {
    if (this.state.status === "restoring") await this.refresh();
  }

  private async doRefresh(): Promise<boolean> {
    const refresh_token = this.storage.getItem(REFRESH_KEY);
    if (!refresh_token) {
      this.expire();
      return false;
    }
    try {
      const resp = await this.post("/api/v1/auth/refresh", { refresh_token });
      if (!resp.ok) {
        // 401: revoked or expired. Anything else: keep the token for the next try.
        if (resp.status === 401 || resp.status === 403 || resp.status === 422) this.expire();
        else if (this.state.status === "restoring") this.set({ status: "anonymous" });
        return false;
      }
      this.accept((await resp.json()) as TokenResponse);
      return true;
    } catch {
      if (this.state.status === "restoring") this.set({ status: "anonymous" });
      return false;
    }
  }

  private accept(t: TokenResponse): User {
    this.access = t.access_token;
    this.storage.setItem(REFRESH_KEY, t.refresh_token);
    clearTimeout(this.timer);
    // Refresh at 80% of the lifetime (at least 5 s from now).
    const ms = Math.max(5, t.expires_in * 0.8) * 1000;
    this.timer = setTimeout(() => void this.refresh(), ms);
    this.set({ status: "authenticated", user: t.user });
    return t.user;
  }

  private clear(next: SessionState): void {
    this.access = null;
    this.storage.removeItem(REFRESH_KEY);
    clearTimeout(this.timer);
    this.set(next);
  }

  private set(next: SessionState): void {
    this.state = next;
    for (const l of this.listeners) l();
  }

  private post(path: string, body: unknown, token?: string): Promise<Response> {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    return this.fetcher(`${this.base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  }
}

const storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> =
  typeof window !== "undefined" && window.sessionStorage
    ? window.sessionStorage
    : { getItem: () => null, setItem: () => undefined, removeItem: () => undefined };

export const session = new Session(storage);
