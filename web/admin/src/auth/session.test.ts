import { describe, expect, it, vi } from "vitest";
import { REFRESH_KEY, Session } from "./session";
import { json, tokens } from "../test/fakeApi";

function memoryStorage() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    map: m,
  };
}

describe("Session", () => {
  it("keeps the access token in memory and only the refresh token in storage", async () => {
    const storage = memoryStorage();
    const fetcher = vi.fn(async () => json(200, tokens("ORG_ADMIN")));
    const s = new Session(storage, fetcher, "http://x");
    const user = await s.login("a@acme.example", "correct-horse");
    expect(user.role).toBe("ORG_ADMIN");
    expect(s.accessToken()).toBe("access-1");
    expect([...storage.map.entries()]).toEqual([[REFRESH_KEY, "refresh-1"]]);
    expect(s.getState()).toMatchObject({ status: "authenticated" });
    const [url, init] = fetcher.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("http://x/api/v1/auth/login");
    expect(JSON.parse(String(init.body))).toEqual({ email: "a@acme.example", password: "correct-horse" });
  });

  it("names the organization of an organization's account, and none for a platform account", async () => {
    const fetcher = vi.fn(async () => json(200, tokens("USER")));
    const s = new Session(memoryStorage(), fetcher, "http://x");
    await s.login("u@acme.example", "pw-pw-pw-pw", "Acme Corp");
    const [, init] = fetcher.mock.calls[0] as unknown as [string, RequestInit];
    expect(JSON.parse(String(init.body))).toEqual({
      email: "u@acme.example",
      password: "pw-pw-pw-pw",
      organization: "Acme Corp",
    });
  });

  it("reports wrong credentials as an ApiError and stays logged out", async () => {
    const storage = memoryStorage();
    const s = new Session(
      storage,
      async () => json(401, { error: { code: "unauthorized", message: "invalid email or password", request_id: "r" } }),
      "http://x",
    );
    await expect(s.login("a@acme.example", "nope")).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(s.getState()).toEqual({ status: "anonymous" });
    expect(storage.map.size).toBe(0);
  });

  it("refreshes once however many callers ask at the same time, and rotates the refresh token", async () => {
    const storage = memoryStorage();
    storage.setItem(REFRESH_KEY, "refresh-1");
    let resolve: (r: Response) => void = () => undefined;
    const fetcher = vi.fn(() => new Promise<Response>((r) => (resolve = r)));
    const s = new Session(storage, fetcher, "http://x");
    expect(s.getState()).toEqual({ status: "restoring" });
    const a = s.refresh();
    const b = s.refresh();
    resolve(json(200, tokens("USER", 2)));
    expect(await a).toBe(true);
    expect(await b).toBe(true);
    expect(fetcher).toHaveBeenCalledTimes(1);
    expect(storage.getItem(REFRESH_KEY)).toBe("refresh-2");
    expect(s.accessToken()).toBe("access-2");
  });

  it("ends the session as expired when the refresh token is refused", async () => {
    const storage = memoryStorage();
    storage.setItem(REFRESH_KEY, "revoked");
    const s = new Session(
      storage,
      async () => json(401, { error: { code: "unauthorized", message: "refresh token revoked", request_id: "r" } }),
      "http://x",
    );
    const seen: string[] = [];
    s.subscribe(() => seen.push(s.getState().status));
    await s.restore();
    expect(s.getState()).toEqual({ status: "anonymous", reason: "expired" });
    expect(storage.getItem(REFRESH_KEY)).toBeNull();
    expect(seen).toEqual(["anonymous"]);
  });

  it("keeps the refresh token when the server is unreachable during a restore", async () => {
    const storage = memoryStorage();
    storage.setItem(REFRESH_KEY, "refresh-1");
    const s = new Session(storage, async () => Promise.reject(new TypeError("network down")), "http://x");
    await s.restore();
    expect(s.getState()).toEqual({ status: "anonymous" });
    expect(storage.getItem(REFRESH_KEY)).toBe("refresh-1");
  });

  it("logs out locally and revokes the refresh token on the server", async () => {
    const storage = memoryStorage();
    const fetcher = vi.fn(async (url: string) => (url.endsWith("/login") ? json(200, tokens("USER")) : json(204, null)));
    const s = new Session(storage, fetcher, "http://x");
    await s.login("u@acme.example", "pw-pw-pw-pw");
    await s.logout();
    expect(s.accessToken()).toBeNull();
    expect(storage.getItem(REFRESH_KEY)).toBeNull();
    expect(s.getState()).toEqual({ status: "anonymous", reason: "logged_out" });
    const [url, init] = fetcher.mock.calls[1] as unknown as [string, RequestInit];
    expect(url).toBe("http://x/api/v1/auth/logout");
    expect(JSON.parse(String(init.body))).toEqual({ refresh_token: "refresh-1" });
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer access-1");
  });

  it("refreshes silently before the access token expires", async () => {
    vi.useFakeTimers();
    try {
      const storage = memoryStorage();
      let n = 0;
      const fetcher = vi.fn(async () => json(200, { ...tokens("USER", ++n), expires_in: 100 }));
      const s = new Session(storage, fetcher, "http://x");
      await s.login("u@acme.example", "pw-pw-pw-pw");
      expect(s.accessToken()).toBe("access-1");
      await vi.advanceTimersByTimeAsync(79_000);
      expect(fetcher).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(2_000);
      expect(fetcher).toHaveBeenCalledTimes(2);
      expect(s.accessToken()).toBe("access-2");
    } finally {
      vi.useRealTimers();
    }
  });
});
