import { describe, expect, it } from "vitest";
import { settingsChanges } from "./Settings";

const base = { scrub_level: "strict", ai_policy: "rules_only", rate_limit_per_minute: null, rate_limit_per_hour: 500 } as const;

describe("settingsChanges", () => {
  it("sends nothing when nothing changed", () => {
    expect(settingsChanges(base, { ...base })).toEqual({});
  });
  it("sends only the changed keys, with null for a cleared limit", () => {
    expect(settingsChanges(base, { ...base, scrub_level: "pii_only", rate_limit_per_hour: null })).toEqual({
      scrub_level: "pii_only",
      rate_limit_per_hour: null,
    });
    expect(settingsChanges(base, { ...base, rate_limit_per_minute: 40 })).toEqual({ rate_limit_per_minute: 40 });
  });
});
