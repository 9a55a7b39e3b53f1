import { afterEach, describe, expect, it } from "vitest";
import {
  command,
  expectPlatformHealthy,
  type Platform,
  run,
  startPlatform,
  statusOf,
  violationsOf,
} from "./harness.js";

/**
 * Floods of cheap worker → core messages from a plugin that stays under the CPU-hog threshold, and what a
 * suspension must mean. Found by a red-team review: before the fixes, 200,000 log lines a second held the
 * core's thread at ~60% and other plugins' commands waited ~1 s; subscribe/unsubscribe in a loop (no
 * capability needed) made the core kill a well-behaved plugin as stuck and left `stop()` hanging; and a
 * suspended plugin kept running its timers.
 */

let p: Platform | undefined;
afterEach(async () => {
  await p?.stop();
  p = undefined;
});

/** Milliseconds for canary to answer a ping, `times` times, with a pause between. */
async function canaryLatencies(platform: Platform, times: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    expect(await run(platform, "canary", command("ping"))).toEqual({ ok: true, replied: true });
    ms.push(performance.now() - started);
    await new Promise((r) => setTimeout(r, 200));
  }
  return ms;
}

describe("worker → core floods", () => {
  it("log lines in a loop: the worker keeps to the budget and says what it dropped; others are not slowed", async () => {
    p = await startPlatform({
      canary: { grants: ["chat.send"] },
      "loop-flood": { grants: ["chat.send"], config: { mode: "log" } },
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const started = p.logLines.length;
    const latencies = await canaryLatencies(p, 10);
    // A generous bound for a loaded 2-core machine: before the fix the median was ~840 ms.
    expect(latencies.sort((a, b) => a - b)[5]).toBeLessThan(250);
    const sent = Number((await run(p, "loop-flood", command("loop-flood"))).ok && 1);
    expect(sent).toBe(1);
    const lines = p.logLines.slice(started).map((l) => JSON.parse(l) as Record<string, unknown>);
    const fromPlugin = lines.filter((l) => l.plugin === "loop-flood" && l.source === "plugin");
    const seconds = 2.2 + 10 * 0.2;
    // 20 a second, with slack for window boundaries and the time the pings took.
    expect(fromPlugin.filter((l) => l.msg !== "plugin log lines dropped (rate limit)").length).toBeLessThan(
      20 * (seconds + 4),
    );
    const dropped = fromPlugin.filter((l) => l.msg === "plugin log lines dropped (rate limit)");
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((l) => typeof l.dropped === "number" && (l.dropped as number) > 100)).toBe(true);
    expect(statusOf(p, "loop-flood")?.state).toBe("running");
    await expectPlatformHealthy(p);
  });

  it("subscribe + unsubscribe in a loop: spends the publish budget, is refused, suspended and ended; stop() completes", async () => {
    p = await startPlatform({
      canary: { grants: ["chat.send"] },
      "loop-flood": { grants: ["chat.send"], config: { mode: "subscribe" } },
    });
    await expect.poll(() => statusOf(p!, "loop-flood")?.state, { timeout: 10_000 }).toBe("suspended");
    await expect
      .poll(() => violationsOf(p!, "loop-flood").filter((v) => /subscribe rate above/.test(v.reason)).length)
      .toBeGreaterThan(0);
    expect(violationsOf(p, "loop-flood")[0]?.operation).toBe("subscribe");
    expect(await run(p, "loop-flood", command("loop-flood"))).toMatchObject({
      ok: false,
      error: { code: "PLUGIN_NOT_RUNNING" },
    });
    const latencies = await canaryLatencies(p, 5);
    expect(latencies.sort((a, b) => a - b)[2]).toBeLessThan(250);
    expect(statusOf(p, "canary")).toMatchObject({ state: "running", restarts: 0 });
    await expectPlatformHealthy(p);
    const stopped = await Promise.race([
      p.stop().then(() => "stopped"),
      new Promise((r) => setTimeout(() => r("hung"), 20_000)),
    ]);
    p = undefined;
    expect(stopped).toBe("stopped");
  });
});

describe("suspension", () => {
  it("a burst of commands above a plugin's reply rate costs it replies, not its place: no suspension", async () => {
    p = await startPlatform({ canary: { grants: ["chat.send"], limits: { publishPerSecond: 5 } } });
    const results = await Promise.all(Array.from({ length: 40 }, () => run(p!, "canary", command("ping"))));
    const limited = results.filter((r) => !r.ok);
    expect(limited.length).toBeGreaterThan(20);
    expect(limited.every((r) => !r.ok && r.error.code === "RATE_LIMITED")).toBe(true);
    expect(limited[0]).toMatchObject({ error: { message: /above its publish rate \(5\/s\)/ } });
    // The first 10 of a window are published one by one, the rest counted into one summary at its end.
    const refused = violationsOf(p, "canary");
    expect(refused.length).toBe(Math.min(limited.length, 10));
    expect(refused.every((v) => v.rate && !v.severe)).toBe(true);
    expect(statusOf(p, "canary")?.state).toBe("running");
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await run(p, "canary", command("ping"))).toEqual({ ok: true, replied: true });
  });

  it("a suspended plugin runs no more code: its worker is ended, its timers log nothing more", async () => {
    p = await startPlatform({
      canary: { grants: ["chat.send"] },
      "suspended-zombie": { grants: ["chat.send"] },
    });
    await expect.poll(() => statusOf(p!, "suspended-zombie")?.state, { timeout: 10_000 }).toBe("suspended");
    expect(statusOf(p, "suspended-zombie")?.lastError).toMatch(/severe violation/);
    const alive = () => p!.logLines.filter((l) => l.includes("zombie still running")).length;
    await new Promise((r) => setTimeout(r, 300));
    const atSuspension = alive();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(alive()).toBe(atSuspension);
    expect(p.audit.items.some((a) => a.type === "plugin.suspended" && a.plugin === "suspended-zombie")).toBe(
      true,
    );
    await expectPlatformHealthy(p);
  });
});

describe("the worker's handler bookkeeping", () => {
  it("a thenable returned from a timer gets one-shot callbacks: no forged failure lines, the pending count stays sound", async () => {
    p = await startPlatform({
      canary: { grants: ["chat.send"] },
      "thenable-callbacks": { grants: ["chat.send"] },
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(await run(p, "thenable-callbacks", command("thenable-callbacks"))).toEqual({
      ok: true,
      replied: true,
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(p.logLines.some((l) => l.includes("forged report"))).toBe(false);
    expect(statusOf(p, "thenable-callbacks")).toMatchObject({ state: "running", pendingHandlers: 0 });
    expect(violationsOf(p, "thenable-callbacks")).toEqual([]);
    await expectPlatformHealthy(p);
  });
});
