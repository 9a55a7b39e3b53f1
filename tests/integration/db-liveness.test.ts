import { mkdirSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import type { HealthCheck, HealthReport } from "../../src/core/monitoring/health.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { databaseChildren } from "../support/db-children.js";
import { usePrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * A database process whose event loop is frozen (SIGSTOP: the pid lives, nothing runs) is found by the
 * core's liveness pings, reported in health, killed and restarted through the ordinary restart path. The
 * pings are timed by the operator's `database.liveness`, through the services `rosey start` runs.
 */
describe("liveness of the database process under rosey start", () => {
  const nats = usePrivateNats();
  const dir = useTempDir("rosey-db-liveness-", "all");
  let rosey: Rosey | undefined;
  let bus: Bus;
  let frozen: number | undefined;

  beforeAll(async () => {
    mkdirSync(path.join(dir(), "plugins"));
    const config = validateConfig(
      {
        nats: { url: nats.url },
        dataDir: path.join(dir(), "data"),
        plugins: { directory: path.join(dir(), "plugins") },
        // The shortest the config allows: ~2.5 s from a freeze to the kill.
        database: { liveness: { intervalMs: 1_000, timeoutMs: 500, misses: 2 } },
      },
      "test",
    );
    rosey = await startRosey({
      config,
      logger: silentLogger(),
      stdin: new PassThrough(),
      stdout: new PassThrough(),
    });
    bus = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    // Whatever happened above, no stopped process is left behind (SIGKILL works on a stopped one).
    if (frozen !== undefined && alive(frozen)) process.kill(frozen, "SIGKILL");
    await bus?.close();
    await rosey?.stop();
  });

  const databaseCheck = async (): Promise<HealthCheck | undefined> => {
    const report = await bus.request<HealthReport>(
      SUBJECTS.monitoringHealth,
      { service: "core" },
      { timeoutMs: 2_000 },
    );
    return report.data.checks.find((c) => c.name === "database process");
  };

  const recentChat = () =>
    bus.request<{ success: boolean }>(
      "rosey.db.query.recent_chat",
      { channel: "room" },
      { source: "core", timeoutMs: 1_000 },
    );

  it("reports a frozen process unhealthy, kills it and restarts it, counting the restart", async () => {
    const [first] = databaseChildren();
    expect(first).toBeGreaterThan(0);
    expect(await databaseCheck()).toEqual({ name: "database process", status: "ok", detail: `pid ${first}` });

    process.kill(first!, "SIGSTOP");
    frozen = first;
    await expect.poll(databaseCheck, { timeout: 5_000, interval: 50 }).toEqual({
      name: "database process",
      status: "degraded",
      detail: `pid ${first} missed 1 liveness ping in a row (killed and restarted at 2)`,
    });
    await expect.poll(() => alive(first!), { timeout: 5_000 }).toBe(false);
    await expect.poll(databaseCheck, { timeout: 5_000, interval: 50 }).toEqual({
      name: "database process",
      status: "degraded",
      detail: "killed after 2 missed liveness pings; restarting (events wait in JetStream)",
    });

    await expect.poll(databaseCheck, { timeout: 20_000, interval: 100 }).toMatchObject({ status: "ok" });
    const [second] = databaseChildren();
    expect(second).toBeGreaterThan(0);
    expect(second).not.toBe(first);
    expect(await databaseCheck()).toEqual({
      name: "database process",
      status: "ok",
      detail: `pid ${second}; 1 restart since start (last: killed after 2 missed liveness pings)`,
    });
    await expect(recentChat()).resolves.toMatchObject({ data: { success: true } });
  }, 40_000);

  it("leaves nothing running once stopped", async () => {
    const started = performance.now();
    await rosey?.stop();
    rosey = undefined;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(databaseChildren()).toEqual([]);
  });
});
