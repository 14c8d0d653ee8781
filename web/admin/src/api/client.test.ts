import { describe, expect, it } from "vitest";
import { api, call } from "./client";
import { ApiError, describeError } from "./errors";
import { session, REFRESH_KEY } from "../auth/session";
import { fakeApi, json, tokens } from "../test/fakeApi";

describe("call()", () => {
  it("refreshes once on a 401 and retries with the new token", async () => {
    sessionStorage.setItem(REFRESH_KEY, "refresh-1");
    let first = true;
    const fake = fakeApi({
      "POST /api/v1/auth/refresh": () => json(200, tokens("ORG_ADMIN", 2)),
      "GET /api/v1/stats/dashboard": () => {
        if (first) {
          first = false;
          return json(401, { error: { code: "unauthorized", message: "expired", request_id: "a" } });
        }
        return { total_queries: 3, total_issues: 1, critical_issues: 0, avg_time_ms: 12, chart_data: [] };
      },
    });
    const dash = await call(() => api.GET("/api/v1/stats/dashboard"));
    expect(dash.total_queries).toBe(3);
    expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      "GET /api/v1/stats/dashboard",
      "POST /api/v1/auth/refresh",
      "GET /api/v1/stats/dashboard",
    ]);
    expect(fake.calls[2]?.auth).toBe("Bearer access-2");
    await session.logout();
  });

  it("turns error bodies into ApiErrors with field, request id and Retry-After", async () => {
    fakeApi({
      "POST /api/v1/teams": () =>
        json(422, { error: { code: "validation_failed", message: "must not be empty", field: "name", request_id: "req-1" } }),
      "GET /api/v1/teams": () => json(429, { error: { code: "rate_limited", message: "slow down", request_id: "req-2" } }, { "retry-after": "17" }),
    });
    const e = await call(() => api.POST("/api/v1/teams", { body: { name: "" } })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 422, code: "validation_failed", field: "name", requestId: "req-1" });
    expect(describeError(e)).toBe("name: must not be empty");
    const r = await call(() => api.GET("/api/v1/teams")).catch((x: unknown) => x);
    expect(r).toMatchObject({ status: 429, retryAfter: 17 });
    expect(describeError(r)).toBe("Too many requests. Try again in 17 s.");
  });
});
