import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveSettings } from "../../bench/index.js";
import { CORE_NODE_FLAGS, CORE_SEMI_SPACE_MB, coreNodeFlags } from "../../src/core/node-flags.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";

/** The core's V8 flags only work on node's command line, which is written in three places. */
describe("core node flags", () => {
  const read = (file: string) => readFileSync(path.join(PACKAGE_ROOT, file), "utf8");

  it("npm start passes them before the script", () => {
    const start = JSON.parse(read("package.json")).scripts.start as string;
    expect(start).toBe(`node ${CORE_NODE_FLAGS.join(" ")} bin/rosey.js start`);
  });

  it("the rosey bin's shebang passes them", () => {
    expect(read("bin/rosey.js").split("\n")[0]).toBe(`#!/usr/bin/env -S node ${CORE_NODE_FLAGS.join(" ")}`);
  });

  it("the bench starts the core with them unless told another young-generation cap", () => {
    expect(read("bench/platform.ts")).toContain("const flags = coreNodeFlags(settings.coreSemiSpaceMb);");
    expect(coreNodeFlags(16)).toEqual(["--max-semi-space-size=16"]);
    expect(resolveSettings({}).coreSemiSpaceMb).toBe(CORE_SEMI_SPACE_MB);
    expect(resolveSettings({ coreSemiSpace: "16" }).coreSemiSpaceMb).toBe(16);
    expect(() => resolveSettings({ coreSemiSpace: "0" })).toThrow(/'--core-semi-space' must be a number ≥ 1/);
  });
});
