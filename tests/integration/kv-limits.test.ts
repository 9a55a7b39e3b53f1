import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { configSchema } from "../../src/core/config/schema.js";
import { SqlBuilder } from "../../src/core/db/connection.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import { type DbReply, type KvRecord, VALUE_MAX_BYTES } from "../../src/core/db/kv-protocol.js";
import type { Envelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { PluginManager } from "../../src/core/plugins/plugin-manager.js";
import { collect } from "../support/bus.js";
import { command } from "../support/command.js";
import { useDatabaseSuite } from "../support/db-engines.js";
import { writePluginFolder } from "../support/plugin-folder.js";

/**
 * Storage limits over a real nats-server (max_payload 1 MiB) on SQLite and PostgreSQL: the operator's
 * ceiling on manifest quotas (`database.maxQuota`), key bytes in the byte quota, and replies too large for
 * one NATS message (a query is cut and says `truncated`; what cannot be sent is answered PAYLOAD_TOO_LARGE
 * instead of leaving the plugin to time out). The last suite runs a sandboxed plugin against it.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-kv-limits-"));
const pluginsDir = path.join(tmp, "plugins");

const table = (name: string) => `CREATE TABLE ${name} (
    "key" VARCHAR(256) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL, "size" INTEGER NOT NULL,
    "created_at" BIGINT NOT NULL, "updated_at" BIGINT NOT NULL
);`;

/** A plugin asking storage (then `manifest`) whose one migration creates `tables`, in `pluginsDir`. */
function writePlugin(name: string, manifest: object, tables: string[] = [], code?: string) {
  const up = tables.map(table).join("\n");
  const down = tables.map((t) => `DROP TABLE ${t};`).join("\n");
  writePluginFolder(pluginsDir, name, {
    manifest: { capabilities: ["storage"], ...manifest },
    code,
    migrations: tables.length ? { "001_tables.sql": `-- UP\n${up}\n-- DOWN\n${down}\n` } : {},
  });
}

// Asks for a quota no operator would give (red team: 1e15 records were accepted).
writePlugin("hog", { storage: { quota: { records: 1e15, bytes: 1e18 } } });
writePlugin("keys", { storage: { collections: { rows: {} }, quota: { records: 100, bytes: 100 } } }, [
  "keys_rows",
]);
writePlugin("big", { storage: { collections: { tabled: {}, giant: {} } } }, ["big_tabled", "big_giant"]);
writePlugin(
  "pager",
  { commands: [{ name: "pager" }], capabilities: ["storage", "chat.send"] },
  [],
  `export default {
  async onCommand(command, ctx) {
    if (command.args[0] === "fill") {
      for (let i = 0; i < 18; i++) await ctx.storage.set("pages", "p" + String(i).padStart(2, "0"), "x".repeat(60000));
      return "filled";
    }
    const records = await ctx.storage.query("pages", { limit: Number(command.args[1]) });
    return records.length + " " + (records.truncated === true) + " " + Object.isFrozen(records);
  },
};
`,
);

const MAX_QUOTA = { records: 50, bytes: 4 * 1024 * 1024 };
const config = () =>
  configSchema.parse({
    dataDir: tmp,
    // Plugin migrations run at start only for plugins granted storage.
    plugins: {
      directory: pluginsDir,
      entries: { keys: { grants: ["storage"] }, big: { grants: ["storage"] } },
    },
    database: { maxQuota: MAX_QUOTA },
  });

const { nats, engines } = useDatabaseSuite(() => tmp);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(engines)("storage limits on %s", (_engine, target) => {
  let service: DatabaseService;
  let bus: Bus;

  beforeAll(async () => {
    service = await startDatabaseService({
      natsUrl: nats.url,
      config: config(),
      logger: silentLogger(),
      target: await target(),
      ingest: { ackWaitMs: 2_000 },
    });
    bus = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
  });
  afterAll(async () => {
    await bus?.close();
    await service?.stop();
  });

  async function kv<T = unknown>(plugin: string, op: string, data: unknown): Promise<DbReply<T>> {
    const reply = await bus.request<DbReply<T>>(`rosey.db.kv.${op}`, data, {
      source: `plugin:${plugin}`,
      timeoutMs: 5_000,
    });
    return reply.data;
  }
  const set = (plugin: string, collection: string, key: string, value: unknown) =>
    kv(plugin, "set", { collection, key, value });

  it("a manifest asking 1e15 records gets the operator's ceiling", async () => {
    for (let i = 0; i < MAX_QUOTA.records; i++)
      expect(await set("hog", "c", `k${i}`, i)).toMatchObject({ success: true });
    expect(await set("hog", "c", "one-more", 1)).toMatchObject({
      success: false,
      error: {
        code: "QUOTA_EXCEEDED",
        message: expect.stringMatching(/plugin 'hog' may keep 50 records: it has 50/),
      },
    });
  });

  it("key bytes count toward the byte quota (UTF-8), in plugin_records and in a plugin's own table", async () => {
    // Quota 100 bytes. 'é' is 2 bytes: a 45-character key is 90 bytes, and the value 1 is 1 byte.
    expect(await set("keys", "notes", "é".repeat(45), 1)).toMatchObject({ success: true });
    expect(await set("keys", "rows", "ab", 1)).toMatchObject({ success: true }); // own table: 94
    expect(await set("keys", "rows", "abc", 1)).toMatchObject({ success: true }); // 98
    // Replacing a record costs only its value's change: the key is already counted.
    expect(await set("keys", "notes", "é".repeat(45), 12)).toMatchObject({ success: true }); // 99
    expect(await set("keys", "notes", "k", 1)).toMatchObject({
      success: false,
      error: {
        code: "QUOTA_EXCEEDED",
        message: expect.stringMatching(
          /\(2 bytes with its key\) as plugin 'keys' may keep 100 bytes: it would use 101/,
        ),
      },
    });
    expect(await set("keys", "rows", "k", 1)).toMatchObject({ error: { code: "QUOTA_EXCEEDED" } });
    const rows = await service.database.prisma.$queryRawUnsafe<Array<{ key: string }>>(
      'SELECT "key" FROM keys_rows ORDER BY "key"',
    );
    expect(rows.map((r) => r.key)).toEqual(["ab", "abc"]);
  });

  it.each([
    ["plugin_records", "blobs"],
    ["the plugin's own table", "tabled"],
  ])(
    "a query whose records pass max_payload is answered at once with those that fit, truncated (%s)",
    async (_where, collection) => {
      const keys = Array.from({ length: 18 }, (_, i) => `b${String(i).padStart(2, "0")}`);
      for (const key of keys)
        expect(await set("big", collection, key, "x".repeat(60_000))).toMatchObject({ success: true });
      const started = performance.now();
      const reply = await kv<KvRecord[]>("big", "query", { collection, limit: 100 });
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(reply).toMatchObject({ success: true, truncated: true });
      const records = reply.success ? reply.data : [];
      // In order, nothing skipped, and not cut far below what fits in 1 MiB.
      expect(records.map((r) => r.key)).toEqual(keys.slice(0, records.length));
      expect(records.length).toBeGreaterThanOrEqual(15);
      expect(records.every((r) => r.value === "x".repeat(60_000))).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(reply))).toBeLessThan(1024 * 1024);
      // The rest, page by page with `offset`: every record once, in order.
      const pages = [...records.map((r) => r.key)];
      for (let offset = records.length; ; ) {
        const page = await kv<KvRecord[]>("big", "query", { collection, limit: 100, offset });
        const got = page.success ? page.data.map((r) => r.key) : [];
        pages.push(...got);
        offset += got.length;
        if (!(page.success && page.truncated)) break;
      }
      expect(pages).toEqual(keys);
      // Within the size, no flag.
      const few = await kv<KvRecord[]>("big", "query", { collection, limit: 5 });
      expect(few).toEqual({ success: true, data: expect.any(Array) });
      expect(few.success && few.data.map((r) => r.key)).toEqual(keys.slice(0, 5));
    },
  );

  it("the largest value set accepts comes back whole from get", async () => {
    const value = "v".repeat(VALUE_MAX_BYTES - 2); // as JSON, with its quotes: exactly the limit
    expect(await set("big", "blobs", "largest", value)).toMatchObject({ success: true });
    expect(await set("big", "blobs", "too-large", `${value}v`)).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
    expect(await kv("big", "get", { collection: "blobs", key: "largest" })).toEqual({
      success: true,
      data: value,
    });
  });

  it("a reply that cannot be sent at all is answered PAYLOAD_TOO_LARGE, not left to time out", async () => {
    // A row a plugin's own migration could write: over max_payload, with a "size" that understates it.
    const sql = new SqlBuilder(service.database.engine);
    await service.database.prisma.$executeRawUnsafe(
      `INSERT INTO big_giant ("key", "value", "size", "created_at", "updated_at") VALUES (${sql.param("huge")}, ${sql.param(JSON.stringify("y".repeat(1_500_000)))}, ${sql.param(10)}, ${sql.param(0)}, ${sql.param(0)})`,
      ...sql.params,
    );
    const started = performance.now();
    expect(await kv("big", "get", { collection: "giant", key: "huge" })).toMatchObject({
      success: false,
      error: {
        code: "PAYLOAD_TOO_LARGE",
        message: expect.stringMatching(/larger than the bus's message limit \(1048576 bytes\)/),
      },
    });
    // A query measures what it read, whatever the row claims.
    expect(await kv("big", "query", { collection: "giant" })).toEqual({
      success: true,
      data: [],
      truncated: true,
    });
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});

describe("a sandboxed plugin's query cut to fit one message (sqlite)", () => {
  let service: DatabaseService;
  let manager: PluginManager;
  let client: Bus;
  let core: Bus;
  const chat = collect<Envelope<{ text: string }>>(10_000);

  beforeAll(async () => {
    const cfg = validateConfig(
      {
        dataDir: tmp,
        plugins: { directory: pluginsDir, enabled: ["pager"], entries: { pager: { grants: ["basic"] } } },
        database: { maxQuota: MAX_QUOTA },
      },
      "test",
    );
    service = await startDatabaseService({
      natsUrl: nats.url,
      config: cfg,
      logger: silentLogger(),
      target: { engine: "sqlite", file: path.join(tmp, "pager.sqlite") },
      ingest: { ackWaitMs: 2_000 },
    });
    core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    client = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
    client.subscribe<{ text: string }>("rosey.actions.chat.send", (m) => chat.push(m.envelope));
    await client.flush();
    manager = new PluginManager({ bus: core, config: cfg, logger: silentLogger() });
    await manager.start();
  });
  afterAll(async () => {
    await manager?.stop();
    await client?.close();
    await core?.close();
    await service?.stop();
  });

  async function say(...args: string[]): Promise<string> {
    const cmd = command("pager", args);
    const result = await client.request(`rosey.commands.pager.execute`, cmd, { timeoutMs: 15_000 });
    expect(result.data).toMatchObject({ ok: true, replied: true });
    await expect.poll(() => chat.items.some((e) => e.correlationId === cmd.correlationId)).toBe(true);
    return chat.items.find((e) => e.correlationId === cmd.correlationId)!.data.text;
  }

  it("ctx.storage.query resolves with the records that fit and `truncated: true` on the (hardened) array", async () => {
    expect(await say("fill")).toBe("filled");
    const [count, truncated, frozen] = (await say("list", "100")).split(" ");
    expect(Number(count)).toBeGreaterThanOrEqual(15);
    expect(Number(count)).toBeLessThan(18);
    expect([truncated, frozen]).toEqual(["true", "true"]);
    expect(await say("list", "3")).toBe("3 false true");
  });
});
