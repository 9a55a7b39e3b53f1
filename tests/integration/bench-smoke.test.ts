import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPhase } from "../../bench/phase.js";
import { type BenchPlatform, startBenchPlatform } from "../../bench/platform.js";
import { silentLogger } from "../../src/core/logger.js";

/**
 * Smoke run of the benchmark: the real platform (embedded nats-server, plugin manager with five
 * sandboxed plugins, router) and the raw relay, a few hundred messages each. Proves the harness works end
 * to end; it asserts nothing about speed.
 */
describe("bench smoke", () => {
  let platform: BenchPlatform;

  beforeAll(async () => {
    platform = await startBenchPlatform({ logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    await platform?.stop();
  });

  it("runs the five plugins and matches every reply to its message", async () => {
    let seq = 0;
    const path = { ...platform.platformPath, send: () => platform.platformPath.send(seq++) };
    const result = await runPhase(path, { rate: 200, durationMs: 1_500, drainMs: 10_000 });
    expect(result.sent).toBe(300);
    expect(result.lost).toBe(0);
    expect(result.failed).toBe(0);
    expect(result.replied).toBe(300);
    expect(result.latency.count).toBe(300);
    const plugins = await platform.plugins();
    expect(plugins.map((p) => p.name).sort()).toEqual(["dice", "echo", "eightball", "help", "reverse"]);
    for (const p of plugins) expect(p.state).toBe("running");
  }, 30_000);

  it("relays over raw NATS at the same rate", async () => {
    let seq = 10_000;
    const path = { ...platform.relayPath, send: () => platform.relayPath.send(seq++) };
    const result = await runPhase(path, { rate: 200, durationMs: 1_000, drainMs: 5_000 });
    expect(result.sent).toBe(200);
    expect(result.replied).toBe(200);
    expect(result.lost).toBe(0);
  }, 30_000);
});
