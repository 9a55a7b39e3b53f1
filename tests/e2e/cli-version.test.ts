import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { PACKAGE_ROOT, PACKAGE_VERSION } from "../../src/core/paths.js";

const BIN = path.join(PACKAGE_ROOT, "bin", "rosey.js");
const run = promisify(execFile);

describe("rosey --version", () => {
  it.each(["--version", "-V"])("%s prints the package's version and exits 0", async (flag) => {
    const { stdout, stderr } = await run(process.execPath, [BIN, flag]);
    expect(stdout).toBe(`${PACKAGE_VERSION}\n`);
    expect(stderr).toBe("");
  });

  it("lists the plugin controls beside `plugin new`", async () => {
    const { stdout } = await run(process.execPath, [BIN, "plugin", "--help"]);
    for (const command of ["new", "suspend", "resume", "reload"])
      expect(stdout).toMatch(new RegExp(`^  ${command} `, "m"));
  });
});
