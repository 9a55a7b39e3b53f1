import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CORE_NODE_FLAGS } from "../../src/core/node-flags.js";
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

  it("the bench starts the core with them (it imports the same constant)", () => {
    expect(read("bench/platform.ts")).toContain(
      '...CORE_NODE_FLAGS, path.join(PACKAGE_ROOT, "bin", "rosey.js")',
    );
  });
});
