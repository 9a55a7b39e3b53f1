import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { RUNTIME_FILE, runningEmbeddedNats, writeRuntimeFile } from "../../src/core/nats/runtime-file.js";
import { isSameProcess, processIdentity } from "../../src/core/process-identity.js";

describe("process identity", () => {
  it("tells a running process from a dead pid and from another process given the same pid", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const identity = processIdentity(child.pid as number);
      expect(identity.started).toMatch(/^[0-9a-f-]+:\d+$/);
      expect(isSameProcess(identity)).toBe(true);
      // A record from before start times were kept: the pid alone decides.
      expect(isSameProcess({ pid: identity.pid })).toBe(true);
      expect(isSameProcess({ pid: identity.pid, started: `${identity.started}0` })).toBe(false);
    } finally {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    const dead = Number(
      spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout,
    );
    expect(isSameProcess({ pid: dead })).toBe(false);
  });

  it("a process's start time does not change while it runs, and is its own", () => {
    expect(processIdentity(process.pid)).toEqual(processIdentity(process.pid));
    expect(processIdentity(process.pid).started).not.toBe(processIdentity(process.ppid).started);
  });

  it("a runtime file records its server's identity, and one whose pid is now another process's is ignored", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rosey-runtime-"));
    try {
      writeRuntimeFile(dir, { url: "nats://127.0.0.1:4222", pid: process.pid });
      expect(runningEmbeddedNats(dir)).toBe("nats://127.0.0.1:4222");
      const reused = { url: "nats://127.0.0.1:4222", pid: process.pid, started: "another-boot:1" };
      writeFileSync(path.join(dir, RUNTIME_FILE), JSON.stringify(reused));
      expect(runningEmbeddedNats(dir)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
