import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
 * Red team, part 3: plugins that misbehave rather than escape: they overflow the stack, flood and forge
 * the log, leave timers running, reject unhandled, never become ready, or lie about their name. Each must
 * fail alone: the core and the canary keep answering, and the core's log stays trustworthy.
 */

describe("red team: misbehaving plugins", () => {
  let p: Platform;

  beforeAll(async () => {
    p = await startPlatform([
      "stack-overflow",
      "log-flood",
      "unhandled-rejection",
      "timers-after-stop",
      "liar",
    ]);
  }, 120_000);

  afterAll(async () => {
    await p?.stop();
  });

  it("stack-overflow: unbounded recursion is a catchable RangeError; the worker survives and answers again", async () => {
    const result = await run(p, "stack-overflow", command("stack-overflow"));
    expect(result).toMatchObject({ ok: false, error: { code: "PLUGIN_ERROR" } });
    expect(JSON.stringify(result)).toMatch(/RangeError/);
    const cmd = command("stack-overflow", ["again"]);
    expect(await run(p, "stack-overflow", cmd)).toEqual({ ok: true, replied: true });
    expect(statusOf(p, "stack-overflow")).toMatchObject({ state: "running", restarts: 0 });
    await expectPlatformHealthy(p);
  });

  it("log-flood: plugin log lines are rate-limited and their CR/LF/ANSI escapes neutralised in the core's log", async () => {
    const before = p.logLines.length;
    await run(p, "log-flood", command("log-flood"));
    await expect
      .poll(() => p.logLines.slice(before).filter((l) => l.includes('"plugin":"log-flood"')).length)
      .toBeGreaterThan(5);
    await new Promise((r) => setTimeout(r, 1_200));
    // Trigger the next rate window so the "dropped" summary is logged.
    await run(p, "log-flood", command("log-flood"));
    await expect.poll(() => p.logLines.slice(before).some((l) => l.includes("dropped"))).toBe(true);
    const lines = p.logLines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const fromPlugin = lines.filter((l) => l.plugin === "log-flood" && l.source === "plugin");
    // At most 20 a second (two windows here, some slack for the boundary).
    expect(fromPlugin.length).toBeLessThanOrEqual(60);
    for (const line of fromPlugin) {
      expect(line.msg as string).not.toMatch(/[\r\n\u001b\u0007]/);
      expect((line.msg as string).length).toBeLessThanOrEqual(1024);
    }
    expect(fromPlugin.some((l) => (l.msg as string).includes("\\u001b[2J"))).toBe(true);
    // No forged line became a line of its own.
    expect(lines.some((l) => l.msg === "FORGED core line")).toBe(false);
    // The 5000 newlines (escaped to 30000 chars) were cut, not refused as a malformed message.
    expect(violationsOf(p, "log-flood")).toEqual([]);
    expect(statusOf(p, "log-flood")?.state).toBe("running");
    await expectPlatformHealthy(p);
  });

  it("unhandled-rejection: unhandled rejections, throwing timers and a throwing error object do not kill anything", async () => {
    const before = p.logLines.length;
    const result = await run(p, "unhandled-rejection", command("unhandled-rejection"));
    expect(result).toMatchObject({ ok: false, error: { code: "PLUGIN_ERROR" } });
    await expect
      .poll(() => p.logLines.slice(before).filter((l) => /unhandled rejection|timeout failed/.test(l)).length)
      .toBeGreaterThanOrEqual(2);
    expect(await run(p, "unhandled-rejection", command("unhandled-rejection", ["again"]))).toEqual({
      ok: true,
      replied: true,
    });
    expect(statusOf(p, "unhandled-rejection")).toMatchObject({ state: "running", restarts: 0 });
    expect(violationsOf(p, "unhandled-rejection")).toEqual([]);
    await expectPlatformHealthy(p);
  });

  it("liar: a manifest naming another plugin (canary) is rejected; the real canary keeps its command and grants", async () => {
    const monitoring = await p.observer.request<{ rejected: Array<{ dir: string; error: string }> }>(
      "rosey.monitoring.plugins",
      {},
      { timeoutMs: 5_000 },
    );
    const rejected = monitoring.data.rejected.find((r) => r.dir.endsWith("/liar"));
    expect(rejected?.error).toMatch(/'name' must equal the folder name 'liar'/);
    expect(p.manager.status().filter((s) => s.name === "canary")).toHaveLength(1);
    expect(statusOf(p, "canary")?.version).toBe("1.0.0");
    await expectPlatformHealthy(p);
  });

  it("timers-after-stop: no timer fires after the plugin is stopped, including ones set from stop() and after it", async () => {
    const ticks: Array<{ at: string; t: number }> = [];
    p.observer.subscribe<{ at: string }>("rosey.plugins.timers-after-stop.tick", (m) => {
      ticks.push({ at: m.envelope.data.at, t: Date.now() });
    });
    await p.observer.flush();
    await expect.poll(() => ticks.length).toBeGreaterThan(2);
    await p.manager.stop();
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    expect(ticks.filter((t) => t.t > stoppedAt + 50)).toEqual([]);
    expect(ticks.some((t) => t.at === "after")).toBe(false);
    expect(statusOf(p, "timers-after-stop")?.state).toBe("stopped");
  });
});

describe("red team: a plugin that never answers READY", () => {
  let p: Platform;

  beforeAll(async () => {
    p = await startPlatform(["never-ready"], { readyTimeoutMs: 1_000 });
  }, 60_000);

  afterAll(async () => {
    await p?.stop();
  });

  it("never-ready: it is terminated after readyTimeoutMs and marked failed; the canary started regardless", async () => {
    const s = statusOf(p, "never-ready");
    expect(s?.state).toBe("failed");
    expect(s?.lastError).toMatch(/did not become ready within 1000 ms/);
    // It never took its command subscription: nothing answers for it.
    await expect(run(p, "never-ready", command("never-ready"))).rejects.toThrow(/Nothing is listening/);
    await expectPlatformHealthy(p);
  });
});
