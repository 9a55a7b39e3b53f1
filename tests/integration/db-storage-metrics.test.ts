import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MetricValue } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { configSchema } from "../../src/core/config/schema.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import type { DbReply } from "../../src/core/db/kv-protocol.js";
import { UNLISTED } from "../../src/core/db/storage-metrics.js";
import { silentLogger } from "../../src/core/logger.js";
import type { MetricsSnapshot } from "../../src/core/monitoring/metrics.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { useDatabaseSuite } from "../support/db-engines.js";
import { writePluginFolder } from "../support/plugin-folder.js";

/**
 * `rosey_db_storage_requests_total` and `rosey_db_storage_request_duration_seconds` as the database
 * service publishes them on `rosey.monitoring.metrics`, on SQLite and PostgreSQL: every answer a plugin
 * got is counted once under its outcome, `BUSY` included, and forged sources or subjects cannot mint
 * labels.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-db-storage-metrics-"));
const pluginsDir = path.join(tmp, "plugins");
writePluginFolder(pluginsDir, "tiny", {
  manifest: { capabilities: ["storage"], storage: { quota: { records: 2, bytes: 10_000 } } },
});

const { nats, engines } = useDatabaseSuite(() => tmp);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(engines)("storage metrics on %s", (_engine, target) => {
  let service: DatabaseService;
  let core: Bus;

  beforeAll(async () => {
    service = await startDatabaseService({
      natsUrl: nats.url,
      config: configSchema.parse({
        dataDir: tmp,
        plugins: { directory: pluginsDir },
        monitoring: { metricsIntervalMs: 0 },
      }),
      logger: silentLogger(),
      target: await target(),
      // Small enough that a burst of requests meets BUSY.
      storageScheduling: { concurrency: 1, perKey: 1, queuePerKey: 2 },
    });
    core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
  }, 60_000);
  afterAll(async () => {
    await core?.close();
    await service?.stop();
  });

  const kv = async (source: string, op: string, data: unknown): Promise<DbReply<unknown>> =>
    (await core.request<DbReply<unknown>>(`rosey.db.kv.${op}`, data, { source, timeoutMs: 5_000 })).data;
  const outcome = (reply: DbReply<unknown>) => (reply.success ? "ok" : reply.error.code);

  it("counts every answer by plugin, operation and outcome, and times those the scheduler took", async () => {
    const answered: Array<{ plugin: string; operation: string; outcome: string }> = [];
    const send = async (source: string, op: string, data: unknown, plugin: string, operation = op) => {
      const reply = await kv(source, op, data);
      answered.push({ plugin, operation, outcome: outcome(reply) });
      return reply;
    };
    expect(await send("plugin:tiny", "set", { collection: "c", key: "a", value: 1 }, "tiny")).toMatchObject({
      success: true,
    });
    await send("plugin:tiny", "set", { collection: "c", key: "b", value: 2 }, "tiny");
    expect(await send("plugin:tiny", "set", { collection: "c", key: "c", value: 3 }, "tiny")).toMatchObject({
      error: { code: "QUOTA_EXCEEDED" },
    });
    expect(await send("plugin:tiny", "get", { collection: "c" }, "tiny")).toMatchObject({
      error: { code: "VALIDATION_FAILED" },
    });
    expect(await send("plugin:tiny", "delete", { collection: "c", key: "none" }, "tiny")).toMatchObject({
      error: { code: "NOT_FOUND" },
    });
    // Neither a source that is not a plugin nor an operation that is not one becomes a label.
    for (let i = 0; i < 3; i++)
      expect(
        await send(`connector:forged-${i}`, "get", { collection: "c", key: "a" }, UNLISTED, "get"),
      ).toMatchObject({ error: { code: "PERMISSION_DENIED" } });
    expect(await send("plugin:tiny", "frobnicate", {}, "tiny", UNLISTED)).toMatchObject({
      error: { code: "VALIDATION_FAILED" },
    });

    // A burst: one runs, two wait, the rest are refused at once.
    const burst = await Promise.all(
      Array.from({ length: 12 }, () =>
        kv("plugin:flood", "query", { collection: "items", filter: { n: 1 } }),
      ),
    );
    for (const reply of burst)
      answered.push({ plugin: "flood", operation: "query", outcome: outcome(reply) });
    const busy = burst.filter((r) => !r.success && r.error.code === "BUSY").length;
    expect(busy).toBeGreaterThan(0);

    const snapshot = await core.request<MetricsSnapshot>(
      SUBJECTS.monitoringMetrics,
      { service: "database" },
      { timeoutMs: 2_000 },
    );
    const metric = (name: string) => snapshot.data.metrics.find((m) => m.name === name)!;
    const expected = new Map<string, number>();
    for (const a of answered) {
      const key = JSON.stringify([a.plugin, a.operation, a.outcome]);
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const counted = new Map(
      metric("rosey_db_storage_requests_total").values.map((v) => [
        JSON.stringify([v.labels.plugin, v.labels.operation, v.labels.outcome]),
        v.value,
      ]),
    );
    expect(counted).toEqual(expected);
    for (const v of metric("rosey_db_storage_requests_total").values)
      expect(v.labels.service).toBe("database");

    // Timed: what reached the scheduler (not the forged, the malformed or the BUSY ones).
    const durations = metric("rosey_db_storage_request_duration_seconds").values as Array<
      MetricValue<string> & { metricName?: string }
    >;
    const timedCount = (operation: string) =>
      durations.find(
        (v) =>
          v.metricName === "rosey_db_storage_request_duration_seconds_count" &&
          v.labels.operation === operation,
      )?.value;
    expect(timedCount("set")).toBe(3);
    expect(timedCount("delete")).toBe(1);
    expect(timedCount("get")).toBeUndefined();
    expect(timedCount("query")).toBe(burst.length - busy);
    expect(durations.some((v) => "plugin" in v.labels)).toBe(false);
  }, 30_000);
});
