import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderPermissionsDoc } from "../../src/core/audit/permissions-doc.js";
import { CAPABILITIES, GROUPS, NEVER_GRANTED } from "../../src/core/plugins/capabilities.js";

const DOC = path.resolve(import.meta.dirname, "../../docs/permissions.md");

describe("docs/permissions.md", () => {
  it("is what `npm run docs:permissions` renders from the catalogue (run it when this fails)", () => {
    expect(readFileSync(DOC, "utf8")).toBe(renderPermissionsDoc());
  });

  it("names every capability with its group and every pattern, every group, and what is never granted", () => {
    const doc = renderPermissionsDoc();
    for (const [name, c] of Object.entries(CAPABILITIES)) {
      const row = doc.split("\n").find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, name).toBeDefined();
      expect(row).toContain(`| ${c.group} |`);
      for (const p of [...c.publish, ...c.subscribe, ...c.request]) expect(row).toContain(`\`${p}\``);
    }
    for (const g of GROUPS) expect(doc).toContain(`| \`${g}\` |`);
    for (const p of NEVER_GRANTED) expect(doc).toContain(`- \`${p}\``);
  });
});
