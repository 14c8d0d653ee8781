// @vitest-environment node
/**
 * The typed client must match the server: `openapi.json` is checked against the server's document by a
 * Rust test (`dbpower-backend`, `admin_panel_openapi_copy_is_current`), and `schema.d.ts` against
 * `openapi.json` here. Fix either with `npm run gen:all` (or `npm run gen` after copying the document).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import openapiTS, { COMMENT_HEADER, astToString } from "openapi-typescript";

describe("the generated API types", () => {
  it("are what openapi-typescript makes of openapi.json (run `npm run gen` if not)", async () => {
    const dir = resolve(process.cwd(), "src/api");
    const spec = readFileSync(resolve(dir, "openapi.json"), "utf8");
    const fresh = COMMENT_HEADER + astToString(await openapiTS(spec));
    const committed = readFileSync(resolve(dir, "schema.d.ts"), "utf8");
    expect(committed === fresh, "src/api/schema.d.ts is stale: run `npm run gen` in web/admin").toBe(true);
  }, 30_000);
});
