import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const SANDBOX = path.resolve(import.meta.dirname, "../../src/sandbox");

/** Runtime (non-type) imports of a source file, resolved to files for relative ones. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/^import\s+(?!type\b)(?:[^'"]*?from\s+)?["']([^"']+)["']/gm)].map(
    (m) => m[1]!,
  );
  return specs.map((s) =>
    s.startsWith(".") ? path.resolve(path.dirname(file), s.replace(/\.js$/, ".ts")) : s,
  );
}

describe("what a plugin worker loads", () => {
  it("imports only ses, node:worker_threads and its own small modules (no zod or other core code)", () => {
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const dep of runtimeImports(file)) {
        if (path.isAbsolute(dep)) visit(dep);
        else packages.add(dep);
      }
    };
    visit(path.join(SANDBOX, "worker-entry.ts"));
    expect([...packages].sort()).toEqual(["node:worker_threads", "ses"]);
    for (const file of seen) expect(file.startsWith(SANDBOX + path.sep), file).toBe(true);
  });
});
