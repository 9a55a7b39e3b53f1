import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectAllBlocked,
  expectPlatformHealthy,
  type Platform,
  report,
  startPlatform,
  statusOf,
  violationsOf,
} from "./harness.js";

/**
 * Red team, part 1: reaching ambient authority from plugin code. Each fixture probes one way out and
 * reports what it reached; the sandbox holds when every probe says "blocked". None of these touch the
 * bus, so no violation is expected: the assertion is that nothing escaped and nothing else was hurt.
 */

const CHAINS = ["publish", "storage", "log", "timer", "command", "envelope", "request-result"].map(
  (t) => `chain-${t}`,
);
const PLUGINS = [
  "import-fs",
  "import-child-process",
  "import-net-runtime",
  "ambient-globals",
  ...CHAINS,
  "prepare-stack-trace",
  "caller-walk",
  "function-ctors",
  "proto-pollution",
  "shared-memory",
  "eval-realm",
];

describe("red team: escaping the sandbox", () => {
  let p: Platform;

  beforeAll(async () => {
    p = await startPlatform(PLUGINS);
    // Services the probes call: the user list, and a storage service that answers from the stamped source.
    p.observer.subscribe<{ fail?: boolean }>("rosey.api.users.list", (m) => {
      if (!m.envelope.data.fail) m.respond({ users: [{ username: "alice", rank: 1 }] });
    });
    p.observer.subscribe("rosey.db.kv.>", (m) => {
      m.respond({ success: true, data: { from: m.envelope.source } });
    });
    await p.observer.flush();
  }, 120_000);

  afterAll(async () => {
    await p?.stop();
  });

  it("import-fs: a dynamic import() of node:fs is refused at load time; the plugin never runs", async () => {
    const s = statusOf(p, "import-fs");
    expect(s?.state).toBe("failed");
    expect(s?.lastError).toMatch(/cannot import 'node:fs'|import\(/);
    await expectPlatformHealthy(p);
  });

  it("import-child-process: a static import of node:child_process is refused at bundle time", async () => {
    const s = statusOf(p, "import-child-process");
    expect(s?.state).toBe("failed");
    expect(s?.lastError).toMatch(/cannot import 'node:child_process'/);
    await expectPlatformHealthy(p);
  });

  it("import-net-runtime: node:net imported from code built at run time (Function, eval, Compartment) is blocked", async () => {
    expectAllBlocked(await report(p, "import-net-runtime"));
    await expectPlatformHealthy(p);
  });

  it("ambient-globals: process, require, Buffer, fetch, host timers, Math.random and Date.now are absent", async () => {
    expectAllBlocked(await report(p, "ambient-globals"));
    await expectPlatformHealthy(p);
  });

  for (const chain of CHAINS) {
    it(`${chain}: no constructor or prototype chain from it reaches the worker realm, and it cannot be mutated`, async () => {
      if (chain === "chain-envelope") {
        p.observer.publish("rosey.events.message", {
          platform: "console",
          channel: "console",
          user: "u",
          content: "hi",
        });
        await expect.poll(async () => JSON.parse(await report(p, chain)).none).toBeUndefined();
      }
      expectAllBlocked(await report(p, chain));
      expect(violationsOf(p, chain)).toEqual([]);
      await expectPlatformHealthy(p);
    });
  }

  it("prepare-stack-trace: Error.prepareStackTrace, captureStackTrace and CallSite getThis give nothing", async () => {
    expectAllBlocked(await report(p, "prepare-stack-trace"));
    await expectPlatformHealthy(p);
  });

  it("caller-walk: .caller / arguments.callee.caller from host-invoked callbacks is refused", async () => {
    expectAllBlocked(await report(p, "caller-walk"));
    await expectPlatformHealthy(p);
  });

  it("function-ctors: AsyncFunction, GeneratorFunction and AsyncGeneratorFunction evaluate only inside the compartment", async () => {
    expectAllBlocked(await report(p, "function-ctors"));
    await expectPlatformHealthy(p);
  });

  it("proto-pollution: frozen intrinsics refuse it; the core's and the canary's prototypes are untouched", async () => {
    expectAllBlocked(await report(p, "proto-pollution"));
    const canary = JSON.parse(await report(p, "canary", [])) as Record<string, unknown>;
    expect(canary).toMatchObject({ polluted: "undefined", arrayPush: true, jsonParse: "number" });
    await expectPlatformHealthy(p);
  });

  it("shared-memory: no SharedArrayBuffer, no shared wasm memory, Atomics.wait refused", async () => {
    expectAllBlocked(await report(p, "shared-memory"));
    await expectPlatformHealthy(p);
  });

  it("eval-realm: eval, new Function and nested Compartments stay inside the plugin's compartment", async () => {
    expectAllBlocked(await report(p, "eval-realm"));
    await expectPlatformHealthy(p);
  });
});
