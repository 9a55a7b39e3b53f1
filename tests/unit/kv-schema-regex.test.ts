import { describe, expect, it } from "vitest";
import { policyFromManifest } from "../../src/core/db/kv-store.js";

describe("storage schemas from plugin manifests", () => {
  it("refuses regular expressions (a backtracking one froze the database service), naming where; a property called 'pattern' is fine", () => {
    const policy = policyFromManifest({
      storage: {
        collections: {
          redos: { schema: { type: "string", pattern: "^(a+)+$" } },
          nested: { schema: { type: "object", properties: { name: { type: "string", pattern: "^a" } } } },
          keys: { schema: { type: "object", patternProperties: { "^x": { type: "number" } } } },
          named: { schema: { type: "object", properties: { pattern: { type: "string" } } } },
        },
      },
    } as never);
    expect(policy.brokenSchemas.get("redos")).toMatch(/uses '\/pattern': regular expressions from a plugin/);
    expect(policy.brokenSchemas.get("nested")).toMatch(/uses '\/properties\/name\/pattern'/);
    expect(policy.brokenSchemas.get("keys")).toMatch(/uses '\/patternProperties'/);
    expect(policy.brokenSchemas.has("named")).toBe(false);
    expect(policy.validators.get("named")?.({ pattern: "x" })).toBe(true);
  });
});
