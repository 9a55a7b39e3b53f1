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

  /** Waits until the plugin's worker has been restarted at least once. */
  const restarted = (name: string) =>
    expect.poll(() => statusOf(p, name)?.restarts, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
  /** Waits until the plugin is running again. */
  const runningAgain = (name: string) =>
    expect.poll(() => statusOf(p, name)?.state, { timeout: 15_000 }).toBe("running");
  /** Checks the plugin answers its next command and the platform is healthy. */
  const answersAgain = async (name: string) => {
    expect(await run(p, name, command(name, ["again"]))).toEqual({ ok: true, replied: true });
    await expectPlatformHealthy(p);
  };

  it("memory-bomb: gradual heap growth ends the worker (heap cap), its command gets an error, it restarts", async () => {
    const result = await run(p, "memory-bomb", command("memory-bomb"));
    expect(result.ok).toBe(false);
    await restarted("memory-bomb");
    expect(statusOf(p, "memory-bomb")?.lastError).toMatch(/out of memory/);
    await runningAgain("memory-bomb");
    await answersAgain("memory-bomb");
  }, 60_000);

  it("infinite-loop: a handler that never yields is cut at its deadline, the worker killed and restarted; main stays responsive", async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const result = await run(p, "infinite-loop", command("infinite-loop"));
    expect(result).toMatchObject({ ok: false, error: { code: "TIMEOUT" } });
    await restarted("infinite-loop");
    const killedAfterMs = performance.now() - started;
    await runningAgain("infinite-loop");
    delay.disable();
    const p99Ms = delay.percentile(99) / 1e6;
    console.info(
      `infinite-loop: killed after ≈${Math.round(killedAfterMs)} ms; main event loop p99 ${p99Ms.toFixed(1)} ms`,
    );
    // handlerTimeoutMs is 500 in the manifest: the kill must come within a few heartbeats of it.
    expect(killedAfterMs).toBeLessThan(3_000);
    expect(p99Ms).toBeLessThan(100);
    await answersAgain("infinite-loop");
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
