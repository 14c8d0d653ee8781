import { describe, expect, it } from "vitest";
import { formatAgo, formatCost, formatCount, formatMs, formatRatio, formatSpeedup } from "./format";
import { tokenize } from "./sql";
import { safeNext } from "../pages/Login";
import { grantableRoles } from "../pages/Users";
import { agentSnippet } from "../pages/ApiKeys";

describe("formatting", () => {
  it("formats durations at a readable scale", () => {
    expect(formatMs(0.5)).toBe("0.50 ms");
    expect(formatMs(4.25)).toBe("4.3 ms");
    expect(formatMs(850)).toBe("850 ms");
    expect(formatMs(1900)).toBe("1.90 s");
    expect(formatMs(15_000)).toBe("15.0 s");
    expect(formatMs(180_000)).toBe("3.0 min");
    expect(formatMs(null)).toBe("—");
    expect(formatCount(1_234_567)).toBe("1,234,567");
    expect(formatRatio(40_000)).toBe("40,000");
    expect(formatRatio(2.345)).toBe("2.3");
    expect(formatAgo("2026-12-03T10:00:00Z", Date.parse("2026-12-03T10:05:00Z"))).toBe("5 min ago");
    expect(formatAgo(null)).toBe("never");
  });

  it("formats planner costs and how many times cheaper an index makes them", () => {
    expect(formatCost(35_000)).toBe("35,000");
    expect(formatCost(8.1)).toBe("8.1");
    expect(formatCost(42.66)).toBe("42.7");
    expect(formatCost(0.0123)).toBe("0.012");
    expect(formatCost(null)).toBe("—");
    expect(formatSpeedup(35_000, 8.1)).toBe("4,321×");
    expect(formatSpeedup(100, 40)).toBe("2.5×");
    expect(formatSpeedup(100, 0)).toBeNull();
    expect(formatSpeedup(undefined, 8)).toBeNull();
  });
});

describe("SQL highlighting", () => {
  it("classifies keywords, placeholders, strings and numbers without losing a character", () => {
    const sql = "SELECT * FROM orders WHERE email = ? AND note = 'a''b' LIMIT 10 -- x";
    const toks = tokenize(sql);
    expect(toks.map((t) => t.text).join("")).toBe(sql);
    const kinds = (k: string) => toks.filter((t) => t.kind === k).map((t) => t.text);
    expect(kinds("keyword")).toEqual(["SELECT", "FROM", "WHERE", "AND", "LIMIT"]);
    expect(kinds("placeholder")).toEqual(["?"]);
    expect(kinds("string")).toEqual(["'a''b'"]);
    expect(kinds("number")).toEqual(["10"]);
    expect(kinds("comment")).toEqual(["-- x"]);
  });
});

describe("page helpers", () => {
  it("only follows same-origin paths after login", () => {
    expect(safeNext("/queries?severity=HIGH")).toBe("/queries?severity=HIGH");
    expect(safeNext("//evil.example/x")).toBe("/");
    expect(safeNext("https://evil.example")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });

  it("offers only the roles the server lets each role grant", () => {
    expect(grantableRoles("SUPER_ADMIN")).toContain("SUPER_ADMIN");
    expect(grantableRoles("ORG_ADMIN")).toEqual(["ORG_ADMIN", "TEAM_LEAD", "USER"]);
    expect(grantableRoles("TEAM_LEAD")).toEqual(["USER"]);
    expect(grantableRoles("USER")).toEqual([]);
  });

  it("builds an agent configuration that names the key but never holds the secret", () => {
    const s = agentSnippet("https://dbpower.acme.example", "dbpk_0123");
    expect(s).toContain('url = "https://dbpower.acme.example"');
    expect(s).toContain('key_id = "dbpk_0123"');
    expect(s).toContain("secret_file =");
    expect(s).not.toMatch(/dbps_/);
  });
});
