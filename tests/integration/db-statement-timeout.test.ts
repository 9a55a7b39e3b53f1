import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { configSchema } from "../../src/core/config/schema.js";
import type { DatabaseTarget } from "../../src/core/db/connection.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import type { DbReply } from "../../src/core/db/kv-protocol.js";
import { silentLogger } from "../../src/core/logger.js";
import type { MetricsSnapshot } from "../../src/core/monitoring/metrics.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { useDatabaseSuite } from "../support/db-engines.js";
import { writePluginFolder } from "../support/plugin-folder.js";

/**
 * `database.statementTimeoutMs` on a real PostgreSQL, behind a real nats-server. A statement made slow the
 * way production makes it slow: it waits for a lock that another connection (this test's, standing for an
 * operator's long transaction) holds on the plugin's table. The service's pool cuts it at the limit, the
 * plugin is answered QUERY_TIMEOUT, and everyone else is served meanwhile; a migration waiting longer than
 * the limit is not cut; an ingestion batch cut at the limit comes back instead of being set aside.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-db-statement-timeout-"));
const pluginsDir = path.join(tmp, "plugins");
const LIMIT_MS = 250;

/** Adds a migration to `slow`'s folder. */
const migration = (version: string, up: string, down: string) => {
  const dir = path.join(pluginsDir, "slow", "migrations");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${version}.sql`), `-- UP\n${up}\n-- DOWN\n${down}\n`);
};

writePluginFolder(pluginsDir, "slow", {
  manifest: { capabilities: ["storage"], storage: { collections: { items: {} } } },
});
migration(
  "001_items",
  `CREATE TABLE slow_items (
    "key" VARCHAR(256) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL, "size" INTEGER NOT NULL,
    "created_at" BIGINT NOT NULL, "updated_at" BIGINT NOT NULL
);`,
  "DROP TABLE slow_items;",
);
writePluginFolder(pluginsDir, "calm", { manifest: { capabilities: ["storage"] } });

const { nats, engines } = useDatabaseSuite(() => tmp);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const postgres = engines.find(([engine]) => engine === "postgresql")![1];

describe("statement timeout on PostgreSQL", () => {
  let target: Extract<DatabaseTarget, { engine: "postgresql" }>;
  let service: DatabaseService;
  let core: Bus;
  let connector: Bus;
  /** The test's own connection: an operator's session, outside the service's pool and its limit. */
  let operator: pg.Client;

  beforeAll(async () => {
    target = (await postgres()) as typeof target;
    service = await startDatabaseService({
      natsUrl: nats.url,
      config: configSchema.parse({
        dataDir: tmp,
        plugins: { directory: pluginsDir, entries: { slow: { grants: ["storage"] } } },
        database: { statementTimeoutMs: LIMIT_MS },
        monitoring: { metricsIntervalMs: 0 },
      }),
      logger: silentLogger(),
      target,
      // A batch misread as "these events are refused" would be set aside at its 2nd delivery.
      ingest: { ackWaitMs: 5_000, maxDeliveries: 2, retryDelayMs: 100 },
    });
    core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    connector = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
    operator = new pg.Client({ connectionString: target.url });
    await operator.connect();
  }, 60_000);
  afterAll(async () => {
    await operator?.end();
    await Promise.all([core?.close(), connector?.close()]);
    await service?.stop();
  });

  const kv = async (plugin: string, op: string, data: unknown): Promise<DbReply<unknown>> =>
    (
      await core.request<DbReply<unknown>>(`rosey.db.kv.${op}`, data, {
        source: `plugin:${plugin}`,
        timeoutMs: 10_000,
      })
    ).data;

  /** Holds `mode` on `table` in an open transaction of the operator's session until the returned release. */
  const lock = async (table: string, mode: string): Promise<() => Promise<void>> => {
    await operator.query("BEGIN");
    await operator.query(`LOCK TABLE ${table} IN ${mode} MODE`);
    return async () => void (await operator.query("ROLLBACK"));
  };

  const metrics = async () =>
    (
      await core.request<MetricsSnapshot>(
        SUBJECTS.monitoringMetrics,
        { service: "database" },
        { timeoutMs: 2_000 },
      )
    ).data.metrics;

  it("answers a request held past the limit QUERY_TIMEOUT, naming collection and limit, and serves everyone else", async () => {
    expect(await kv("slow", "set", { collection: "items", key: "a", value: 1 })).toEqual({
      success: true,
      data: { key: "a" },
    });
    const release = await lock("slow_items", "ACCESS EXCLUSIVE");
    const timed = async (reply: Promise<DbReply<unknown>>) => {
      const started = performance.now();
      return { reply: await reply, ms: performance.now() - started };
    };
    let answers: Array<{ reply: DbReply<unknown>; ms: number }>;
    try {
      answers = await Promise.all([
        timed(kv("slow", "get", { collection: "items", key: "a" })),
        timed(kv("slow", "set", { collection: "items", key: "b", value: 2 })),
        timed(kv("slow", "query", { collection: "items", filter: { n: 1 } })),
        timed(kv("calm", "set", { collection: "notes", key: "n", value: "x" })),
        timed(kv("calm", "get", { collection: "notes", key: "n" })),
        // The same plugin's collection in plugin_records is not behind the lock for reads (a set is: its
        // quota counts the rows of every table of the plugin).
        timed(kv("slow", "get", { collection: "notes", key: "n" })),
      ]);
    } finally {
      await release();
    }
    const [get, set, query, calmSet, calmGet, ownOther] = answers;
    const cut = (op: string) => ({
      success: false,
      error: {
        code: "QUERY_TIMEOUT",
        message: `Cannot run storage ${op} on collection 'items' of plugin 'slow' as a storage statement may run for at most ${LIMIT_MS} ms ('database.statementTimeoutMs'): the database cancelled it`,
      },
    });
    expect(get!.reply).toEqual(cut("get"));
    expect(set!.reply).toEqual(cut("set"));
    expect(query!.reply).toEqual(cut("query"));
    // Cut at the limit, not at the plugin's request timeout.
    for (const a of [get!, set!, query!]) {
      expect(a.ms).toBeGreaterThanOrEqual(LIMIT_MS - 20);
      expect(a.ms).toBeLessThan(3_000);
    }
    expect(calmSet!.reply).toEqual({ success: true, data: { key: "n" } });
    expect(ownOther!.reply).toEqual({ success: true, data: null });
    expect(calmGet!.reply).toMatchObject({ success: true });
    expect(calmSet!.ms).toBeLessThan(2_000);

    // The lock gone, the same requests pass; the cut set wrote nothing.
    expect(await kv("slow", "get", { collection: "items", key: "b" })).toEqual({ success: true, data: null });
    expect(await kv("slow", "set", { collection: "items", key: "b", value: 2 })).toMatchObject({
      success: true,
    });
    expect(await kv("slow", "count", { collection: "items" })).toEqual({ success: true, data: 2 });

    const requests = (await metrics()).find((m) => m.name === "rosey_db_storage_requests_total")!.values;
    const counted = (operation: string, outcome: string, plugin = "slow") =>
      requests.find(
        (v) => v.labels.plugin === plugin && v.labels.operation === operation && v.labels.outcome === outcome,
      )?.value;
    expect(counted("get", "QUERY_TIMEOUT")).toBe(1);
    expect(counted("set", "QUERY_TIMEOUT")).toBe(1);
    expect(counted("query", "QUERY_TIMEOUT")).toBe(1);
    expect(counted("set", "ok", "calm")).toBe(1);
  }, 30_000);

  it("runs a migration that waits far longer than the limit, and leaves the limit on the pool", async () => {
    migration(
      "002_note",
      `ALTER TABLE slow_items ADD COLUMN "note" TEXT NOT NULL DEFAULT '';`,
      `ALTER TABLE slow_items DROP COLUMN "note";`,
    );
    // A reader's lock: the ALTER TABLE waits for it, 4× the limit.
    const release = await lock("slow_items", "ACCESS SHARE");
    const held = LIMIT_MS * 4;
    const releasing = new Promise((resolve) => setTimeout(resolve, held)).then(release);
    const started = performance.now();
    const reply = await core.request<DbReply<{ versions: number[] }>>(
      "rosey.db.migrate.slow.apply",
      {},
      { timeoutMs: 20_000 },
    );
    const ms = performance.now() - started;
    await releasing;
    expect(reply.data).toMatchObject({ success: true, data: { versions: [2], currentVersion: 2 } });
    expect(ms).toBeGreaterThanOrEqual(held - 50);
    const columns = await operator.query(
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'slow_items' AND column_name = 'note'",
    );
    expect(columns.rowCount).toBe(1);

    // SET LOCAL lifted it for the migration's transaction only: every connection of the pool still has it.
    const settings = await Promise.all(
      Array.from({ length: target.poolSize }, () =>
        service.database.prisma.$queryRawUnsafe<Array<{ statement_timeout: string }>>(
          "SELECT current_setting('statement_timeout') AS statement_timeout FROM (SELECT pg_sleep(0.05)) AS held",
        ),
      ),
    );
    expect(settings.map((rows) => rows[0]?.statement_timeout)).toEqual(
      Array(target.poolSize).fill(`${LIMIT_MS}ms`),
    );
  }, 30_000);

  it("purges a removed plugin's table while a reader holds it far longer than the limit", async () => {
    // `gone` has no folder: a plugin removed with its table left behind.
    await operator.query(`CREATE TABLE gone_things ("id" INTEGER PRIMARY KEY)`);
    const release = await lock("gone_things", "ACCESS SHARE");
    const held = LIMIT_MS * 4;
    const releasing = new Promise((resolve) => setTimeout(resolve, held)).then(release);
    const started = performance.now();
    const reply = await core.request<DbReply<unknown>>(
      "rosey.db.migrate.gone.purge",
      { yes: true },
      { timeoutMs: 20_000 },
    );
    const ms = performance.now() - started;
    await releasing;
    expect(reply.data).toMatchObject({ success: true, data: { tables: ["gone_things"], dryRun: false } });
    expect(ms).toBeGreaterThanOrEqual(held - 50);
    const left = await operator.query(
      "SELECT 1 FROM information_schema.tables WHERE table_name = 'gone_things'",
    );
    expect(left.rowCount).toBe(0);
  }, 30_000);

  it("sends an ingestion batch cut at the limit back for later instead of setting it aside; cuts the core's queries too", async () => {
    const release = await lock("chat_log", "ACCESS EXCLUSIVE");
    const content = `cut-${Date.now()}`;
    try {
      // One event: a batch of several would spend the lock's time being halved before any was retried.
      connector.publish("rosey.db.message.log", {
        username: "ann",
        content,
        platform: "test",
        channel: "room",
      });
      await connector.flush();
      // The core's queries are held to the same limit.
      const recent = await core.request<DbReply<unknown>>(
        "rosey.db.query.recent_chat",
        {},
        { timeoutMs: 5_000 },
      );
      expect(recent.data).toEqual({
        success: false,
        error: {
          code: "QUERY_TIMEOUT",
          message: `Cannot answer 'rosey.db.query.recent_chat' as a statement may run for at most ${LIMIT_MS} ms ('database.statementTimeoutMs'): the database cancelled it`,
        },
      });
      // Long enough for several deliveries to be cut (limit 250 ms, retries from 100 ms doubling).
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    } finally {
      await release();
    }
    await expect
      .poll(() => service.database.prisma.chatMessage.count({ where: { content } }), {
        timeout: 20_000,
        interval: 100,
      })
      .toBe(1);
    const deadLettered = (await metrics()).find((m) => m.name === "rosey_db_events_dead_lettered_total");
    expect(deadLettered?.values).toEqual([expect.objectContaining({ value: 0 })]);
  }, 40_000);
});
