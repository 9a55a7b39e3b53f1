import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Red team: a single huge allocation (`new Array(2**26).fill(1.5)`) aborts the whole Node process that
 * holds the worker (nodejs/node#47224), so only a process boundary contains it (design.md §6.6). The
 * platform runs in a child process here, so that when containment fails it is that child which dies,
 * not the test runner.
 */

/** Runs the platform in a child process with the given isolation; its data dir is removed afterwards. */
function runHost(isolation: "process" | "thread") {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "rosey-huge-"));
  try {
    return spawnSync(
      process.execPath,
      [path.join(import.meta.dirname, "huge-alloc-host.mjs"), isolation, dataDir],
      {
        encoding: "utf8",
        timeout: 90_000,
      },
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

describe("red team: single huge allocation", () => {
  it("huge-alloc: with process isolation the core survives, the canary answers, the plugin is not running", () => {
    const child = runHost("process");
    expect({ status: child.status, signal: child.signal, stderr: child.stderr.slice(-500) }).toMatchObject({
      status: 0,
      signal: null,
    });
    const out = JSON.parse(child.stdout.trim().split("\n").pop()!) as {
      attack: { ok?: boolean };
      canary: unknown;
      canaryBackAfterMs: number;
      status: Array<{ name: string; state: string }>;
    };
    expect(out.attack.ok).not.toBe(true);
    console.info(`huge-alloc: canary answering again ${out.canaryBackAfterMs} ms after the host died`);
    expect(out.canary).toEqual({ ok: true, replied: true });
    expect(out.status.find((s) => s.name === "canary")?.state).toBe("running");
    expect(out.status.find((s) => s.name === "huge-alloc")?.state).not.toBe("running");
  }, 120_000);

  it("huge-alloc (thread isolation): the same allocation aborts the whole process — why process isolation is the default", () => {
    const child = runHost("thread");
    expect(child.stdout.trim()).toBe("");
    expect(child.signal === "SIGABRT" || child.status === 134).toBe(true);
  }, 120_000);
});
