import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, onTestFinished } from "vitest";

/** A new empty folder in the OS temp dir whose name starts with `prefix` (e.g. "rosey-config-"). */
function makeTempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Removes a folder and all in it; nothing happens if it is already gone. */
function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The enclosing describe's temp folder, fresh per test ("each") or one per suite ("all"); call it for the path. */
export function useTempDir(prefix: string, scope: "each" | "all" = "each"): () => string {
  let dir: string | undefined;
  const create = () => {
    dir = makeTempDir(prefix);
  };
  const remove = () => {
    if (dir) removeDir(dir);
    dir = undefined;
  };
  if (scope === "each") {
    beforeEach(create);
    afterEach(remove);
  } else {
    beforeAll(create);
    afterAll(remove);
  }
  return () => {
    if (dir === undefined) throw new Error(`no temp dir (${prefix}) outside the suite's tests and hooks`);
    return dir;
  };
}

/** A temp folder for the running test alone, removed when the test finishes, passed or failed. */
export function tempDirForTest(prefix: string): string {
  const dir = makeTempDir(prefix);
  onTestFinished(() => removeDir(dir));
  return dir;
}
