import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BenchPath, runPhase } from "../../bench/phase.js";
import { type BenchPlatform, startBenchPlatform } from "../../bench/platform.js";
import { isAlive, rssOfPid } from "../../bench/procfs.js";
import { silentLogger } from "../../src/core/logger.js";

/**
 * Smoke run of the benchmark: the real platform as a `rosey start` child (needs `npm run build`, which
 * `pretest` runs) on the bench's embedded nats-server, with five sandboxed plugins, and the raw relay, a
 * few hundred messages each. Proves the harness works end to end; it asserts nothing about speed.
 */
describe("bench smoke", () => {
  let platform: BenchPlatform;

  beforeAll(async () => {
    platform = await startBenchPlatform({ logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    await platform?.stop();
  });

  /** `benchPath` with its messages numbered from `first` on, whatever number the pacer passes. */
  const numberedFrom = (benchPath: BenchPath, first: number): BenchPath => {
    let seq = first;
    return { ...benchPath, send: () => benchPath.send(seq++) };
  };

  it("runs the five plugins and matches every reply to its message", async () => {
    const path = numberedFrom(platform.platformPath, 0);
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

  it("runs the core as its own process", () => {
    expect(platform.corePid).toBeGreaterThan(0);
    expect(platform.corePid).not.toBe(process.pid);
    if (process.platform === "linux") {
      expect(rssOfPid(platform.corePid)).toBeGreaterThan(0);
      expect(platform.hostPid()).toBeGreaterThan(0);
    }
  });

  it("relays over raw NATS at the same rate", async () => {
    const path = numberedFrom(platform.relayPath, 10_000);
    const result = await runPhase(path, { rate: 200, durationMs: 1_000, drainMs: 5_000 });
    expect(result.sent).toBe(200);
    expect(result.replied).toBe(200);
    expect(result.lost).toBe(0);
  }, 30_000);

  it("runs the hop floor (the same hops without the platform's logic) on the same server", async () => {
    const floorPath = await platform.startFloorPath();
    const floorPid = platform.floorPid();
    expect(floorPid).toBeGreaterThan(0);
    const path = numberedFrom(floorPath, 20_000);
    const result = await runPhase(path, { rate: 200, durationMs: 1_000, drainMs: 5_000 });
    expect(result.sent).toBe(200);
    expect(result.replied).toBe(200);
    expect(result.failed).toBe(0);
    expect(result.lost).toBe(0);
  }, 30_000);

  it("stops the core with exit code 0 on SIGTERM, leaving nothing running", async () => {
    const corePid = platform.corePid;
    const floorPid = platform.floorPid();
    const relayPid = platform.relayPid();
    expect(relayPid).toBeGreaterThan(0);
    const exit = await platform.stop();
    expect(exit).toMatchObject({ code: 0, stoppedBy: "SIGTERM", leftover: [] });
    expect(isAlive(corePid)).toBe(false);
    if (floorPid) expect(isAlive(floorPid)).toBe(false);
    expect(isAlive(relayPid as number)).toBe(false);
  }, 40_000);
});
