import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProcessSpawner } from "../../src/core/plugins/plugin-host-process.js";
import {
  command,
  expectPlatformHealthy,
  isolationUnderTest,
  type Platform,
  run,
  startPlatform,
  statusOf,
} from "./harness.js";

/**
 * Red team, plugin host: what reaches the plugin host must never make it exit, since every plugin in it
 * goes with it. A plugin bundled to ~4.5 MB (a word list; no capability needed) used to be sent in one
 * spawn frame over the host's 4 MiB frame limit: the host exited, and every plugin starting with it was
 * marked `failed`. And a plugin whose start is cut by the host's death is restarted, not failed.
 */

describe(`red team: plugin host availability (${isolationUnderTest()} isolation)`, () => {
  let p: Platform;

  beforeAll(async () => {
    p = await startPlatform(["big-bundle", "slow-start"]);
  }, 120_000);

  afterAll(async () => {
    await p?.stop();
  });

  /** The canary may be on its way back from a host restart. */
  const expectCanaryAnswers = async () => {
    await expect.poll(() => statusOf(p, "canary")?.state, { timeout: 15_000 }).toBe("running");
    await expectPlatformHealthy(p);
  };

  it("big-bundle: refused at load with its size and the limit; the plugins started with it run", async () => {
    expect(statusOf(p, "big-bundle")).toMatchObject({ state: "failed", restarts: 0 });
    expect(statusOf(p, "big-bundle")?.lastError).toMatch(
      /^Cannot load plugin 'big-bundle': its bundled code \(.*index\.js and what it imports\) is 45\d{5} bytes, over the 2097152-byte limit/,
    );
    expect(p.logLines.some((l) => l.includes("plugin host process died"))).toBe(false);
    if (isolationUnderTest() === "process") expect((p.manager.spawner as ProcessSpawner).hostStarts).toBe(1);
    expect(statusOf(p, "slow-start")).toMatchObject({ state: "running", restarts: 0 });
    await expectCanaryAnswers();
  });

  it.runIf(isolationUnderTest() === "process")(
    "slow-start: the host dies while it starts; it restarts with backoff instead of failing",
    async () => {
      const spawner = p.manager.spawner as ProcessSpawner;
      const startsSince = (from: number) =>
        p.logLines.slice(from).filter((l) => l.includes("slow-start: starting")).length;
      // A host death while it runs: restarted, free (the host was not its doing), into a new host.
      let logged = p.logLines.length;
      process.kill(spawner.hostPid!, "SIGKILL");
      // Its new start() has begun in the new host, and takes 1.5 s: end that host meanwhile.
      await expect.poll(() => startsSince(logged), { timeout: 10_000 }).toBe(1);
      expect(statusOf(p, "slow-start")).toMatchObject({ state: "starting", restarts: 0 });
      logged = p.logLines.length;
      process.kill(spawner.hostPid!, "SIGKILL");
      await expect.poll(() => statusOf(p, "slow-start")?.state, { timeout: 15_000 }).toBe("running");
      expect(startsSince(logged)).toBe(1);
      expect(statusOf(p, "slow-start")).toMatchObject({
        restarts: 1,
        lastError: expect.stringMatching(/^Plugin 'slow-start' plugin host process died \(SIGKILL\)/),
      });
      expect(p.audit.items).toContainEqual(
        expect.objectContaining({ type: "plugin.crashed", plugin: "slow-start" }),
      );
      expect(spawner.hostStarts).toBe(3);
      expect(await run(p, "slow-start", command("slow-start"))).toEqual({ ok: true, replied: true });
      await expectCanaryAnswers();
    },
    60_000,
  );
});
