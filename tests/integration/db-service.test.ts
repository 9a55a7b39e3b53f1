import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { configSchema } from "../../src/core/config/schema.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import type { DbReply } from "../../src/core/db/kv-protocol.js";
import { createEnvelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { collect } from "../support/bus.js";
import { useDatabaseSuite } from "../support/db-engines.js";
import { writePluginFolder } from "../support/plugin-folder.js";

/**
 * The database service over a real nats-server, on SQLite and PostgreSQL: plugin storage (both the shared
 * table and a plugin's own table), schema validation, quotas, namespace isolation, queries, ingestion and
 * migrations over the bus. The quotes plugin runs against it through a ctx that speaks the kv protocol.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-db-service-"));
const pluginsDir = path.join(tmp, "plugins");
writePluginFolder(pluginsDir, "notes", {
  manifest: {
    capabilities: ["storage"],
    storage: {
      collections: {
        notes: {
          schema: {
            type: "object",
            required: ["text"],
            properties: { text: { type: "string", maxLength: 50 }, n: { type: "number" } },
          },
        },
      },
      quota: { records: 8, bytes: 2000 },
    },
  },
});
cpSync(path.resolve("plugins/quotes"), path.join(pluginsDir, "quotes"), { recursive: true });

const { nats, engines } = useDatabaseSuite(() => tmp);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each(engines)("database service on %s", (_engine, target) => {
  let service: DatabaseService;
  let bus: Bus;

  beforeAll(async () => {
    const config = configSchema.parse({
      dataDir: tmp,
      plugins: { directory: pluginsDir, entries: { quotes: { grants: ["storage"] } } },
    });
    service = await startDatabaseService({
      natsUrl: nats.url,
      config,
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

  async function kv<T = unknown>(op: string, data: unknown, source: string): Promise<DbReply<T>> {
    const reply = await bus.request<DbReply<T>>(`rosey.db.kv.${op}`, data, { source, timeoutMs: 5_000 });
    return reply.data;
  }
  async function ok<T = unknown>(op: string, data: unknown, source = "plugin:notes"): Promise<T> {
    const r = await kv<T>(op, data, source);
    if (!r.success) throw new Error(`${op} failed: ${r.error.code} ${r.error.message}`);
    return r.data;
  }
  async function query<T = unknown>(name: string, data: unknown, source = "core"): Promise<DbReply<T>> {
    return (await bus.request<DbReply<T>>(`rosey.db.query.${name}`, data, { source, timeoutMs: 5_000 })).data;
  }

  it("stores, reads, filters, orders, counts and deletes records", async () => {
    expect(await ok("get", { collection: "notes", key: "a" })).toBeNull();
    expect(await ok("set", { collection: "notes", key: "a", value: { text: "alpha", n: 3 } })).toEqual({
      key: "a",
    });
    await ok("set", { collection: "notes", key: "b", value: { text: "beta", n: 1 } });
    await ok("set", { collection: "notes", key: "c", value: { text: "gamma", n: 2 } });
    await ok("set", { collection: "notes", key: "d", value: { text: "1", n: 2 } });
    await ok("set", { collection: "other", key: "x", value: ["free-form", 1] });
    expect(await ok("get", { collection: "notes", key: "a" })).toEqual({ text: "alpha", n: 3 });
    expect(await ok("get", { collection: "other", key: "x" })).toEqual(["free-form", 1]);
    expect(
      await ok("query", { collection: "notes", order: { field: "n", direction: "desc" }, limit: 2 }),
    ).toEqual([
      { key: "a", value: { text: "alpha", n: 3 } },
      { key: "c", value: { text: "gamma", n: 2 } },
    ]);
    expect(await ok("query", { collection: "notes", filter: { n: 2 } })).toEqual([
      { key: "c", value: { text: "gamma", n: 2 } },
      { key: "d", value: { text: "1", n: 2 } },
    ]);
    // Equality is typed: the string "1" is not the number 1.
    expect(await ok("query", { collection: "notes", filter: { text: 1 } })).toEqual([]);
    expect(await ok("query", { collection: "notes", filter: { text: "1" } })).toHaveLength(1);
    expect(await ok("count", { collection: "notes" })).toBe(4);
    expect(await ok("count", { collection: "notes", filter: { n: 2, text: "gamma" } })).toBe(1);
    await ok("set", { collection: "notes", key: "a", value: { text: "alpha2" } });
    expect(await ok("get", { collection: "notes", key: "a" })).toEqual({ text: "alpha2" });
    expect(await ok("delete", { collection: "notes", key: "a" })).toEqual({ key: "a", deleted: true });
    expect(await kv("delete", { collection: "notes", key: "a" }, "plugin:notes")).toMatchObject({
      success: false,
      error: { code: "NOT_FOUND" },
    });
  });

  it("VALIDATION_FAILED: schema mismatch, bad request shapes, unknown operations", async () => {
    expect(
      await kv("set", { collection: "notes", key: "z", value: { text: 5 } }, "plugin:notes"),
    ).toMatchObject({
      success: false,
      error: {
        code: "VALIDATION_FAILED",
        message: expect.stringMatching(/does not match the collection's schema: 'text' must be string/),
      },
    });
    expect(await kv("get", { collection: "Bad Name", key: "z" }, "plugin:notes")).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
    expect(await kv("query", { collection: "notes", limit: 5000 }, "plugin:notes")).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
    expect(
      await kv("query", { collection: "notes", order: { field: "a'; DROP TABLE x; --" } }, "plugin:notes"),
    ).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
    expect(await kv("set", { collection: "notes", key: "z" }, "plugin:notes")).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
    expect(await kv("truncate", { collection: "notes" }, "plugin:notes")).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
  });

  it("QUOTA_EXCEEDED: records and bytes, with a clear message; replacing a record does not count twice", async () => {
    const used = await ok<number>("count", { collection: "notes" });
    const other = await ok<number>("count", { collection: "other" });
    let i = 0;
    while (used + other + i < 8)
      await ok("set", { collection: "notes", key: `q${i++}`, value: { text: "x" } });
    await ok("set", { collection: "notes", key: "q0", value: { text: "replaced" } });
    expect(
      await kv("set", { collection: "notes", key: "one-more", value: { text: "x" } }, "plugin:notes"),
    ).toMatchObject({
      success: false,
      error: {
        code: "QUOTA_EXCEEDED",
        message: expect.stringMatching(/plugin 'notes' may keep 8 records: it has 8/),
      },
    });
    expect(
      await kv(
        "set",
        { collection: "notes", key: "q0", value: { text: "y".repeat(50), n: 1e300 } },
        "plugin:notes",
      ),
    ).toMatchObject({ success: true });
    expect(
      await kv("set", { collection: "other", key: "x", value: "z".repeat(1900) }, "plugin:notes"),
    ).toMatchObject({
      success: false,
      error: { code: "QUOTA_EXCEEDED", message: expect.stringMatching(/may keep 2000 bytes/) },
    });
  });

  it("namespaces: a plugin never sees another's records, cannot name a namespace, and attempts are logged as violations", async () => {
    const violations = collect<{ plugin: string; reason: string }>();
    const sub = bus.subscribe<{ plugin: string; reason: string }>("rosey.security.violation", (m) =>
      violations.push(m.envelope.data),
    );
    await bus.flush();
    await ok("set", { collection: "secrets", key: "k", value: { v: "mine" } }, "plugin:alpha");
    expect(await ok("get", { collection: "secrets", key: "k" }, "plugin:beta")).toBeNull();
    expect(await ok("query", { collection: "secrets" }, "plugin:beta")).toEqual([]);
    expect(await ok("count", { collection: "secrets" }, "plugin:beta")).toBe(0);
    expect(await kv("delete", { collection: "secrets", key: "k" }, "plugin:beta")).toMatchObject({
      success: false,
      error: { code: "NOT_FOUND" },
    });
    expect(
      await kv("get", { collection: "secrets", key: "k", plugin: "alpha" }, "plugin:beta"),
    ).toMatchObject({
      success: false,
      error: {
        code: "PERMISSION_DENIED",
        message: expect.stringMatching(/Cannot choose a storage namespace/),
      },
    });
    expect(await kv("get", { collection: "secrets", key: "k" }, "core")).toMatchObject({
      success: false,
      error: { code: "PERMISSION_DENIED" },
    });
    expect(await kv("get", { collection: "secrets", key: "k" }, "plugin:Alpha.x")).toMatchObject({
      success: false,
      error: { code: "PERMISSION_DENIED" },
    });
    expect(await query("recent_chat", {}, "plugin:beta")).toMatchObject({
      success: false,
      error: { code: "PERMISSION_DENIED" },
    });
    const seen = await violations.waitFor(4);
    expect(seen[0]).toMatchObject({
      plugin: "beta",
      reason: expect.stringMatching(/cross-plugin access attempt/),
    });
    sub.unsubscribe();
    expect(await ok("get", { collection: "secrets", key: "k" }, "plugin:alpha")).toEqual({ v: "mine" });
    // The violations went through JetStream into the audit log.
    await expect
      .poll(
        async () => {
          const r = await query<Array<{ plugin: string; kind: string; subject: string }>>("audit", {
            plugin: "beta",
            kind: "violation",
          });
          return r.success ? r.data.length : -1;
        },
        { timeout: 10_000 },
      )
      .toBeGreaterThanOrEqual(2);
  });

  it("ingests events idempotently and answers the queries", async () => {
    const t0 = Date.now() - 60_000;
    const publish = (subject: string, data: unknown, id?: string) => {
      const e = createEnvelope(subject, data, { source: "connector:cytube", id });
      bus.publishEnvelope(e);
      return e;
    };
    publish("rosey.db.user.joined", { username: "ann", rank: 2, timestamp: t0 });
    const dup = publish("rosey.db.message.log", {
      username: "ann",
      content: "hello",
      platform: "cytube",
      channel: "room",
      timestamp: t0 + 1000,
    });
    bus.publishEnvelope(dup); // the same envelope again: written once
    publish("rosey.db.message.log", {
      user: "ann",
      message: "again",
      platform: "cytube",
      channel: "room",
      timestamp: t0 + 2000,
    });
    publish("rosey.db.message.log", { nonsense: true }); // invalid: dropped, does not block
    publish("rosey.db.user.left", { username: "ann", timestamp: t0 + 30_000 });
    publish("rosey.db.stats.user_count", { count: 5, chat_count: 2, platform: "cytube", channel: "room" });
    publish("rosey.db.stats.high_water", { count: 9, chat_count: 4 });
    publish("rosey.db.stats.high_water", { count: 7 });
    publish("rosey.db.status.update", {
      status: "online",
      platform: "cytube",
      channel: "room",
      details: { lag: 1 },
    });
    await expect
      .poll(
        async () => await query<{ chatLines: number; online: boolean }>("user_stats", { username: "ann" }),
        { timeout: 10_000 },
      )
      .toMatchObject({
        success: true,
        data: { chatLines: 2, online: false, rank: 2, timePresentMs: 30_000 },
      });
    const chat = await query<Array<{ content: string }>>("recent_chat", { channel: "room" });
    expect(chat).toMatchObject({ success: true, data: [{ content: "again" }, { content: "hello" }] });
    await expect
      .poll(async () => query("status", {}), { timeout: 10_000 })
      .toMatchObject({
        success: true,
        data: {
          statuses: [{ id: "cytube/room", status: "online", details: { lag: 1 } }],
          highWater: { users: { value: 9 }, chat: { value: 4 } },
          userCount: { count: 5, chatCount: 2 },
        },
      });
    expect(await query("user_stats", { username: "nobody" })).toMatchObject({
      success: false,
      error: { code: "NOT_FOUND" },
    });
    expect(await query("user_stats", {})).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
  });

  it("queues outbound messages, lists unsent ones and marks them sent", async () => {
    const q = await query<{ id: number }>("outbound_queue", {
      recipient: "bob",
      sender: "ann",
      platform: "cytube",
      channel: "room",
      content: "ping",
    });
    expect(q.success).toBe(true);
    const id = q.success ? q.data.id : 0;
    expect(await query("outbound", { recipient: "bob" })).toMatchObject({
      success: true,
      data: [{ id, content: "ping", sent: false }],
    });
    expect(await query("outbound_mark_sent", { ids: [id] })).toEqual({ success: true, data: { updated: 1 } });
    expect(await query("outbound", { recipient: "bob" })).toEqual({ success: true, data: [] });
  });

  it("migrates over the bus: status, dry-run apply, rollback; plugins may not", async () => {
    const ask = async (subject: string, data: unknown, source = "cli:root") =>
      (await bus.request<DbReply<Record<string, unknown>>>(subject, data, { source, timeoutMs: 10_000 }))
        .data;
    // The quotes plugin's migrations were applied automatically at start.
    expect(await ask("rosey.db.migrate.quotes.status", {})).toMatchObject({
      success: true,
      data: {
        currentVersion: 2,
        availableVersion: 2,
        pending: [],
        applied: [{ version: 1, appliedBy: "db:auto" }, { version: 2 }],
      },
    });
    expect(await ask("rosey.db.migrate.quotes.rollback", { count: 1, dry_run: true })).toMatchObject({
      success: true,
      data: { dryRun: true, versions: [2], currentVersion: 2 },
    });
    expect(await ask("rosey.db.migrate.quotes.rollback", { count: 1 })).toMatchObject({
      success: true,
      data: { versions: [2], currentVersion: 1 },
    });
    expect(await ask("rosey.db.migrate.quotes.status", {})).toMatchObject({
      success: true,
      data: { currentVersion: 1, rolledBack: [{ version: 2, rolledBackBy: "cli:root" }] },
    });
    expect(await ask("rosey.db.migrate.quotes.apply", {})).toMatchObject({
      success: true,
      data: { versions: [2] },
    });
    expect(await ask("rosey.db.migrate.quotes.apply", {}, "plugin:quotes")).toMatchObject({
      success: false,
      error: { code: "PERMISSION_DENIED" },
    });
    expect(await ask("rosey.db.migrate.ghost.status", {})).toMatchObject({
      success: false,
      error: { code: "NOT_FOUND" },
    });
    expect(await ask("rosey.db.migrate.quotes.explode", {})).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
    expect(await ask("rosey.db.migrate.quotes.apply", { count: -1 })).toMatchObject({
      success: false,
      error: { code: "VALIDATION_FAILED" },
    });
  });

  it("runs the quotes plugin against real storage (its own table)", async () => {
    const plugin = (await import(path.join(pluginsDir, "quotes", "index.js"))).default as {
      onCommand(command: unknown, ctx: unknown): Promise<string>;
    };
    const call = async (op: string, data: unknown) => {
      const r = await kv(op, data, "plugin:quotes");
      if (!r.success) throw new Error(r.error.message);
      return r.data;
    };
    let rnd = 0.99;
    const ctx = {
      now: () => 1_700_000_000_000,
      random: () => rnd,
      storage: {
        get: (collection: string, key: string) => call("get", { collection, key }),
        set: (collection: string, key: string, value: unknown) => call("set", { collection, key, value }),
        delete: (collection: string, key: string) => call("delete", { collection, key }),
        query: (collection: string, options: object = {}) => call("query", { collection, ...options }),
      },
    };
    const run = (text: string) =>
      plugin.onCommand({ name: "quote", text, args: text.split(" ").filter(Boolean), user: "ann" }, ctx);
    expect(await run("random")).toMatch(/No quotes yet/);
    expect(await run("add To be or not  to be")).toBe("Added quote #1.");
    expect(await run("add Brevity is the soul of wit")).toBe("Added quote #2.");
    expect(await run("1")).toBe('#1: "To be or not  to be" (added by ann)');
    expect(await run("#2")).toMatch(/^#2: "Brevity/);
    expect(await run("9")).toBe("There is no quote #9.");
    expect(await run("random")).toMatch(/^#2: /);
    rnd = 0;
    expect(await run("random")).toMatch(/^#1: /);
    expect(await run("search WIT")).toMatch(/^#2: "Brevity is the soul of wit"/);
    expect(await run("search nothing")).toBe('No quote contains "nothing".');
    expect(await run("add")).toMatch(/Usage/);
    // The records live in the plugin's own table, not in plugin_records.
    const inTable = await service.database.prisma.$queryRawUnsafe<Array<{ key: string }>>(
      'SELECT "key" FROM quotes_quotes ORDER BY "key"',
    );
    expect(inTable.map((r) => r.key)).toEqual(["1", "2"]);
    expect(
      await service.database.prisma.pluginRecord.count({ where: { plugin: "quotes", collection: "quotes" } }),
    ).toBe(0);
    // The manifest schema still applies to table-backed collections.
    await expect(call("set", { collection: "quotes", key: "3", value: { id: 3 } })).rejects.toThrow(
      /does not match the collection's schema/,
    );
  });
});
