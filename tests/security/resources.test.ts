import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { command, expectPlatformHealthy, type Platform, run, startPlatform, statusOf } from "./harness.js";

/**
 * Red team, part 4: resource exhaustion inside one worker. These depend on the watchdog and resource
 * accounting (design.md §6.3, issue 3 "Memory" and "CPU"): the worker must be stopped, restarted or
 * suspended with a logged reason, while the core's main thread stays responsive and the canary answers.
 * The single huge allocation, which aborts a whole process, is in huge-alloc.test.ts.
 */

describe("red team: resource exhaustion", () => {
  let p: Platform;

  beforeAll(async () => {
    p = await startPlatform(["memory-bomb", "off-heap", "infinite-loop", "cpu-hog"]);
  }, 120_000);

  afterAll(async () => {
    await p?.stop();
  });

  it("memory-bomb: gradual heap growth ends the worker (heap cap), its command gets an error, it restarts", async () => {
    const result = await run(p, "memory-bomb", command("memory-bomb"));
    expect(result.ok).toBe(false);
    await expect
      .poll(() => statusOf(p, "memory-bomb")?.restarts, { timeout: 15_000 })
      .toBeGreaterThanOrEqual(1);
    expect(statusOf(p, "memory-bomb")?.lastError).toMatch(/out of memory/);
    await expect.poll(() => statusOf(p, "memory-bomb")?.state, { timeout: 15_000 }).toBe("running");
    expect(await run(p, "memory-bomb", command("memory-bomb", ["again"]))).toEqual({
      ok: true,
      replied: true,
    });
    await expectPlatformHealthy(p);
  }, 60_000);

  it("infinite-loop: a handler that never yields is cut at its deadline, the worker killed and restarted; main stays responsive", async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const result = await run(p, "infinite-loop", command("infinite-loop"));
    expect(result).toMatchObject({ ok: false, error: { code: "TIMEOUT" } });
    await expect
      .poll(() => statusOf(p, "infinite-loop")?.restarts, { timeout: 15_000 })
      .toBeGreaterThanOrEqual(1);
    const killedAfterMs = performance.now() - started;
    await expect.poll(() => statusOf(p, "infinite-loop")?.state, { timeout: 15_000 }).toBe("running");
    delay.disable();
    const p99Ms = delay.percentile(99) / 1e6;
    console.info(
      `infinite-loop: killed after ≈${Math.round(killedAfterMs)} ms; main event loop p99 ${p99Ms.toFixed(1)} ms`,
    );
    // handlerTimeoutMs is 500 in the manifest: the kill must come within a few heartbeats of it.
    expect(killedAfterMs).toBeLessThan(3_000);
    expect(p99Ms).toBeLessThan(100);
    expect(await run(p, "infinite-loop", command("infinite-loop", ["again"]))).toEqual({
      ok: true,
      replied: true,
    });
    await expectPlatformHealthy(p);
  }, 60_000);

  it("off-heap: ArrayBuffer growth the heap cap does not see is caught from the heartbeat and the plugin stopped", async () => {
    await run(p, "off-heap", command("off-heap"));
    await expect
      .poll(() => statusOf(p, "off-heap")?.state, { timeout: 20_000, interval: 200 })
      .not.toBe("running");
    expect(statusOf(p, "off-heap")?.lastError).toMatch(/off-heap|arrayBuffers|ArrayBuffer|memory/i);
    await expectPlatformHealthy(p);
  }, 60_000);

  it("cpu-hog: a plugin that burns CPU while yielding (heartbeats answered) is suspended or stopped by utilisation", async () => {
    await run(p, "cpu-hog", command("cpu-hog"));
    await expect
      .poll(() => statusOf(p, "cpu-hog")?.state, { timeout: 20_000, interval: 250 })
      .not.toBe("running");
    expect(statusOf(p, "cpu-hog")?.lastError).toMatch(/cpu|utili[sz]ation|event loop/i);
    await expectPlatformHealthy(p);
  }, 60_000);
});
