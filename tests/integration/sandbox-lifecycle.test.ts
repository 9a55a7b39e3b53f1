import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../../src/core/bus.js";
import type { CommandResult } from "../../src/core/commands.js";
import type { ProcessSpawner } from "../../src/core/plugins/plugin-host-process.js";
import type { PluginManager } from "../../src/core/plugins/plugin-manager.js";
import { collect } from "../support/bus.js";
import { command } from "../support/command.js";
import { type FixturePlugins, startFixturePlugins } from "../support/fixture-plugins.js";

const PLUGINS = ["spinner", "bomber", "leaker", "hog", "offheap", "steady", "plodder"];

describe.each(["process", "thread"] as const)("plugin lifecycle and watchdog (%s isolation)", (isolation) => {
  let fixtures: FixturePlugins;
  let client: Bus;
  let manager: PluginManager;
  const audit = collect<{ type: string; plugin: string; reason: string }>(20_000);

  beforeAll(async () => {
    fixtures = await startFixturePlugins({
      plugins: Object.fromEntries(PLUGINS.map((p) => [p, { grants: ["chat.send"] }])),
      sandbox: { isolation, heartbeatMs: 250, cpuHogSeconds: 1, maxArrayBufferMb: 16, maxRestarts: 2 },
      prepare: (c) =>
        c.subscribe<{ type: string; plugin: string; reason: string }>("rosey.security.audit", (m) =>
          audit.push(m.envelope.data),
        ),
    });
    ({ client, manager } = fixtures);
  }, 60_000);

  afterAll(async () => {
    await fixtures?.stop();
  });

  const run = async (plugin: string, name: string, timeoutMs = 10_000) =>
    (await client.request<CommandResult>(`rosey.commands.${plugin}.execute`, command(name), { timeoutMs }))
      .data;
  const state = (plugin: string) => manager.status().find((s) => s.name === plugin);

  it("starts all plugins", () => {
    expect(manager.status().map((s) => [s.name, s.state])).toEqual(PLUGINS.map((p) => [p, "running"]).sort());
  });

  it("terminates a spinning handler at its deadline, keeps the main loop responsive, and restarts the worker", async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const [spun, pong] = await Promise.all([run("spinner", "spin"), run("steady", "ping")]);
    delay.disable();
    expect(spun).toMatchObject({ ok: false, error: { code: "TIMEOUT" } });
    expect(pong).toEqual({ ok: true, replied: true });
    // The main thread never blocks on a plugin: its loop delay stays far below the handler deadline.
    expect(delay.percentile(99) / 1e6).toBeLessThan(250);
    await expect
      .poll(() => [state("spinner")?.restarts, state("spinner")?.state], { timeout: 10_000 })
      .toEqual([1, "running"]);
    expect(state("spinner")?.lastError).toMatch(/overran its 300 ms deadline/);
  });

  it("does not take a burst of quick commands, queued behind each other past the deadline, for a stuck worker", async () => {
    // 60 commands of 5 ms each: ~300 ms of work for the last to wait through, three times the 100 ms deadline.
    const results = await Promise.all(Array.from({ length: 60 }, () => run("plodder", "plod")));
    expect(results.filter((r) => r.ok)).toHaveLength(60);
    expect(state("plodder")).toMatchObject({ state: "running", restarts: 0 });
  });

  it("refuses new commands as BUSY while it is more than a deadline behind, and takes them again once caught up", async () => {
    // This suite's CPU-hog watchdog fires after 1 s of a busy event loop (cpuHogSeconds: 1): let the previous
    // test's burst cool down, and keep this one well under a second of work even on a loaded machine.
    await new Promise((r) => setTimeout(r, 600));
    // 60 commands of 5 ms: the last waits ~300 ms, three deadlines. All are taken: none had waited yet.
    const burst = Array.from({ length: 60 }, () => run("plodder", "plod"));
    await new Promise((r) => setTimeout(r, 150));
    const late = await Promise.all(Array.from({ length: 5 }, () => run("plodder", "plod")));
    expect(late.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(Array(5).fill("BUSY"));
    expect(late[0]).toMatchObject({
      error: { message: expect.stringMatching(/ms behind \(deadline 100 ms/) },
    });
    expect((await Promise.all(burst)).filter((r) => r.ok)).toHaveLength(60);
    expect(await run("plodder", "plod")).toMatchObject({ ok: true });
    expect(state("plodder")).toMatchObject({ state: "running", restarts: 0 });
  });

  it("does not start what is left of a burst once its sender has given up on it", async () => {
    await new Promise((r) => setTimeout(r, 600));
    const before = state("plodder")?.lateCommands ?? 0;
    // 60 commands of 5 ms (~300 ms of work back to back in the worker) from a sender that waits 150 ms.
    const deadline = Date.now() + 150;
    const results = await Promise.all(
      Array.from({ length: 60 }, () => fixtures.run("plodder", { ...command("plod"), deadline })),
    );
    const ok = results.filter((r) => r.ok).length;
    const skipped = results.filter(
      (r) => !r.ok && r.error.code === "TIMEOUT" && /its turn in the worker came after/.test(r.error.message),
    ).length;
    expect(ok).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThan(0);
    expect(state("plodder")).toMatchObject({
      state: "running",
      restarts: 0,
      lateCommands: before + results.filter((r) => !r.ok).length,
    });
  });

  it("ends a worker that runs out of heap with a logged reason, answers its command with an error, and restarts it", async () => {
    const result = await run("leaker", "leak", 20_000);
    expect(result).toMatchObject({ ok: false, error: { code: "PLUGIN_ERROR" } });
    expect((result as { error: { message: string } }).error.message).toMatch(/out of memory|exited|crashed/);
    await expect.poll(() => state("leaker")?.state, { timeout: 10_000 }).toBe("running");
    expect(state("steady")?.state).toBe("running");
  });

  it("terminates a worker that hogs the CPU while yielding", async () => {
    expect(await run("hog", "hog")).toEqual({ ok: true, replied: true });
    await expect.poll(() => state("hog")?.lastError ?? "", { timeout: 15_000 }).toMatch(/CPU hog/);
    expect(await run("steady", "ping")).toEqual({ ok: true, replied: true });
  });

  it("suspends a plugin whose off-heap memory passes the cap", async () => {
    await run("offheap", "grow");
    await expect.poll(() => state("offheap")?.state, { timeout: 10_000 }).toBe("suspended");
    expect(state("offheap")?.lastError).toMatch(/off-heap memory/);
    expect(await run("offheap", "grow")).toMatchObject({ ok: false, error: { code: "PLUGIN_NOT_RUNNING" } });
    const suspended = (await audit.waitFor(1)).find((a) => a.plugin === "offheap");
    expect(suspended?.type).toBe("plugin.suspended");
  });

  it("resumes a suspended plugin on rosey.admin.plugins.resume", async () => {
    const reply = await client.request<{ ok: boolean; state: string }>(
      "rosey.admin.plugins.resume",
      { plugin: "offheap" },
      { timeoutMs: 10_000 },
    );
    expect(reply.data).toMatchObject({ ok: true, state: "running" });
    expect(await run("offheap", "ping")).toEqual({ ok: true, replied: true });
  });

  it("an operator's suspend ends the worker; reload starts one new worker, with no crash or extra restart", async () => {
    const suspend = await client.request<{ ok: boolean; state: string }>(
      "rosey.admin.plugins.suspend",
      { plugin: "offheap" },
      { timeoutMs: 10_000 },
    );
    expect(suspend.data).toMatchObject({ ok: true, state: "suspended" });
    expect(state("offheap")?.lastError).toMatch(/suspended by operator/);
    const states: string[] = [];
    const watch = setInterval(() => states.push(state("offheap")?.state ?? "?"), 5);
    try {
      const reload = await client.request<{ ok: boolean; state: string }>(
        "rosey.admin.plugins.reload",
        { plugin: "offheap" },
        { timeoutMs: 10_000 },
      );
      expect(reload.data).toMatchObject({ ok: true, state: "running" });
      const again = await client.request<{ ok: boolean; state: string }>(
        "rosey.admin.plugins.reload",
        { plugin: "offheap" },
        { timeoutMs: 10_000 },
      );
      expect(again.data).toMatchObject({ ok: true, state: "running" });
      await new Promise((r) => setTimeout(r, 1_000));
      expect(state("offheap")).toMatchObject({ state: "running", restarts: 0 });
      expect(states).not.toContain("crashed");
    } finally {
      clearInterval(watch);
    }
    expect(await run("offheap", "ping")).toEqual({ ok: true, replied: true });
  });

  it("quarantines a plugin that keeps crashing after maxRestarts, with an audit event saying why", async () => {
    // One restart was spent above; two more crashes exhaust maxRestarts (2), the third quarantines.
    for (let restarts = 1; restarts <= 2; restarts++) {
      await expect
        .poll(() => [state("spinner")?.restarts, state("spinner")?.state], { timeout: 15_000 })
        .toEqual([restarts, "running"]);
      await run("spinner", "spin");
    }
    await expect.poll(() => state("spinner")?.state, { timeout: 15_000 }).toBe("failed");
    await expect
      .poll(() => audit.items.find((a) => a.plugin === "spinner" && a.type === "plugin.failed")?.reason ?? "")
      .toMatch(/crashes within/);
    expect(await run("steady", "ping")).toEqual({ ok: true, replied: true });
  });

  it.runIf(isolation === "process")(
    "contains a single huge allocation: the host dies, the culprit is quarantined, the others are restored",
    async () => {
      const spawner = manager.spawner as ProcessSpawner;
      const startsBefore = spawner.hostStarts;
      const result = await run("bomber", "bomb", 20_000);
      expect(result).toMatchObject({ ok: false });
      await expect.poll(() => state("bomber")?.state, { timeout: 15_000 }).toBe("failed");
      expect(state("bomber")?.lastError).toMatch(/took down the plugin host/);
      await expect.poll(() => state("steady")?.state, { timeout: 15_000 }).toBe("running");
      expect(await run("steady", "ping")).toEqual({ ok: true, replied: true });
      expect(spawner.hostStarts).toBe(startsBefore + 1);
    },
  );
});
