import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../src/core/db/connection.js";
import { loadCoreMigrations } from "../../src/core/migrations/files.js";
import { MigrationRunner } from "../../src/core/migrations/runner.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";

/**
 * The schema and the SQL agree: a database built only from prisma/migrations/<engine> SQL (by our runner)
 * supports create, read, update and delete of every model, every field, through the generated client.
 */

type Opener = () => Promise<Database>;

let pgServer: TestPostgres;
const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-db-schema-"));
beforeAll(async () => {
  pgServer = await startTestPostgres();
});
afterAll(async () => {
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const engines: Array<[string, Opener]> = [
  ["sqlite", () => openDatabase({ engine: "sqlite", file: path.join(tmp, `s-${Date.now()}.sqlite`) })],
  [
    "postgresql",
    async () => openDatabase({ engine: "postgresql", url: await pgServer.createDatabase(), poolSize: 4 }),
  ],
];

describe.each(engines)("core schema on %s", (engine, open) => {
  let db: Database;
  beforeAll(async () => {
    db = await open();
    const runner = new MigrationRunner(db, { actor: "test" });
    const result = await runner.applyCore(loadCoreMigrations(db.engine));
    expect(result.currentVersion).toBeGreaterThanOrEqual(1);
    // The first migration (applied by the bootstrap that creates the ledger) is reported with the rest.
    expect(result.versions).toEqual(loadCoreMigrations(db.engine).migrations.map((m) => m.version));
  });
  afterAll(async () => {
    await db?.close();
  });

  it.runIf(engine === "sqlite")(
    "creates the SQLite file and its folder readable by their owner only",
    async () => {
      const parent = mkdtempSync(path.join(os.tmpdir(), "rosey-mode-"));
      try {
        const file = path.join(parent, "data", "rosey.sqlite");
        const created = await openDatabase({ engine: "sqlite", file });
        await new MigrationRunner(created, { actor: "test" }).applyCore(loadCoreMigrations("sqlite"));
        await created.close();
        expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
        for (const f of readdirSync(path.dirname(file)))
          expect(statSync(path.join(path.dirname(file), f)).mode & 0o777).toBe(0o600);
      } finally {
        rmSync(parent, { recursive: true, force: true });
      }
    },
  );

  it("records the core migrations in the ledger and re-applying is a no-op", async () => {
    expect(db.engine).toBe(engine);
    const runner = new MigrationRunner(db, { actor: "test" });
    const again = await runner.applyCore(loadCoreMigrations(db.engine));
    expect(again.versions).toEqual([]);
    const status = await runner.status(loadCoreMigrations(db.engine));
    expect(status.pending).toEqual([]);
    expect(status.applied[0]).toMatchObject({ version: 1, appliedBy: "test" });
  });

  it("CRUD: users", async () => {
    const p = db.prisma;
    const t = new Date("2026-01-02T03:04:05.678Z");
    const u = await p.user.create({
      data: {
        username: "alice",
        rank: 2,
        firstSeen: t,
        lastSeen: t,
        joinedAt: t,
        chatLines: 3,
        timePresentMs: 12345678901n,
      },
    });
    expect(u).toMatchObject({ username: "alice", rank: 2, chatLines: 3, timePresentMs: 12345678901n });
    expect(u.joinedAt?.toISOString()).toBe(t.toISOString());
    const upd = await p.user.update({
      where: { username: "alice" },
      data: { joinedAt: null, chatLines: { increment: 2 } },
    });
    expect(upd.chatLines).toBe(5);
    expect(upd.joinedAt).toBeNull();
    await expect(
      p.user.create({ data: { username: "alice", firstSeen: t, lastSeen: t } }),
    ).rejects.toMatchObject({ code: "P2002" });
    await p.user.delete({ where: { id: u.id } });
    expect(await p.user.findUnique({ where: { username: "alice" } })).toBeNull();
  });

  it("CRUD: chat log, user-count stats, high-water marks", async () => {
    const p = db.prisma;
    const t = new Date();
    const m = await p.chatMessage.create({
      data: {
        eventId: "e1",
        platform: "cytube",
        channel: "room",
        username: "bob",
        content: "hi 'there' \u{1F600}",
        sentAt: t,
      },
    });
    expect((await p.chatMessage.findUnique({ where: { eventId: "e1" } }))?.content).toBe(
      "hi 'there' \u{1F600}",
    );
    await p.chatMessage.update({ where: { id: m.id }, data: { content: "edited" } });
    expect((await p.chatMessage.findFirst({ where: { channel: "room", username: "bob" } }))?.content).toBe(
      "edited",
    );
    await p.chatMessage.delete({ where: { id: m.id } });
    expect(await p.chatMessage.count()).toBe(0);

    const s = await p.userCountStat.create({
      data: { platform: "cytube", channel: "room", userCount: 7, chatCount: 3, recordedAt: t },
    });
    await p.userCountStat.update({ where: { id: s.id }, data: { userCount: 8 } });
    expect((await p.userCountStat.findFirst())?.userCount).toBe(8);
    await p.userCountStat.delete({ where: { id: s.id } });

    await p.highWaterMark.create({ data: { kind: "users", value: 10, reachedAt: t } });
    await p.highWaterMark.update({ where: { kind: "users" }, data: { value: 11 } });
    expect((await p.highWaterMark.findUnique({ where: { kind: "users" } }))?.value).toBe(11);
    await p.highWaterMark.delete({ where: { kind: "users" } });
    expect(await p.highWaterMark.count()).toBe(0);
  });

  it("CRUD: bot status (JSON), outbound messages (boolean)", async () => {
    const p = db.prisma;
    const t = new Date();
    await p.botStatus.create({
      data: { id: "cytube/room", status: "online", details: { users: 3, tags: ["a"] }, updatedAt: t },
    });
    expect((await p.botStatus.findUnique({ where: { id: "cytube/room" } }))?.details).toEqual({
      users: 3,
      tags: ["a"],
    });
    await p.botStatus.update({ where: { id: "cytube/room" }, data: { status: "away" } });
    expect((await p.botStatus.findFirst())?.status).toBe("away");
    await p.botStatus.delete({ where: { id: "cytube/room" } });

    const o = await p.outboundMessage.create({
      data: {
        recipient: "carol",
        sender: "dave",
        platform: "cytube",
        channel: "room",
        content: "hello",
        createdAt: t,
      },
    });
    expect(o.sent).toBe(false);
    await p.outboundMessage.update({ where: { id: o.id }, data: { sent: true, sentAt: t } });
    expect(await p.outboundMessage.count({ where: { recipient: "carol", sent: true } })).toBe(1);
    await p.outboundMessage.delete({ where: { id: o.id } });
    expect(await p.outboundMessage.count()).toBe(0);
  });

  it("CRUD: plugin records, migration ledger, locks, ingested events, audit log", async () => {
    const p = db.prisma;
    const t = new Date();
    const r = await p.pluginRecord.create({
      data: {
        plugin: "quotes",
        collection: "quotes",
        key: "1",
        value: { text: "x", n: 1.5, ok: true, none: null },
        size: 10,
        createdAt: t,
        updatedAt: t,
      },
    });
    expect(
      (
        await p.pluginRecord.findUnique({
          where: { plugin_collection_key: { plugin: "quotes", collection: "quotes", key: "1" } },
        })
      )?.value,
    ).toEqual({
      text: "x",
      n: 1.5,
      ok: true,
      none: null,
    });
    await p.pluginRecord.update({ where: { id: r.id }, data: { value: "a string", size: 3 } });
    expect((await p.pluginRecord.findFirst())?.value).toBe("a string");
    await p.pluginRecord.delete({ where: { id: r.id } });

    const row = await p.pluginSchemaMigration.create({
      data: {
        pluginName: "x",
        version: 1,
        description: "d",
        checksum: "c",
        status: "applied",
        appliedAt: t,
        appliedBy: "me",
      },
    });
    await p.pluginSchemaMigration.update({
      where: { id: row.id },
      data: { status: "rolled_back", rolledBackAt: t, rolledBackBy: "you" },
    });
    expect(
      (
        await p.pluginSchemaMigration.findUnique({
          where: { pluginName_version: { pluginName: "x", version: 1 } },
        })
      )?.rolledBackBy,
    ).toBe("you");
    await p.pluginSchemaMigration.delete({ where: { id: row.id } });

    await p.migrationLock.create({ data: { pluginName: "x", holder: "h", acquiredAt: t, expiresAt: t } });
    await p.migrationLock.update({ where: { pluginName: "x" }, data: { holder: "h2" } });
    expect((await p.migrationLock.findUnique({ where: { pluginName: "x" } }))?.holder).toBe("h2");
    await p.migrationLock.delete({ where: { pluginName: "x" } });

    await p.ingestedEvent.create({ data: { id: "ev", subject: "rosey.db.message.log", ingestedAt: t } });
    await p.ingestedEvent.update({ where: { id: "ev" }, data: { subject: "s" } });
    expect((await p.ingestedEvent.findUnique({ where: { id: "ev" } }))?.subject).toBe("s");
    await p.ingestedEvent.delete({ where: { id: "ev" } });

    const a = await p.auditLog.create({
      data: {
        eventId: "a1",
        kind: "violation",
        plugin: "evil",
        action: "request",
        subject: "rosey.db.kv.get",
        reason: "r",
        details: { n: 1 },
        source: "core",
        createdAt: t,
      },
    });
    await p.auditLog.update({ where: { id: a.id }, data: { reason: "r2" } });
    expect((await p.auditLog.findUnique({ where: { eventId: "a1" } }))?.details).toEqual({ n: 1 });
    await p.auditLog.delete({ where: { id: a.id } });
    expect(await p.auditLog.count()).toBe(0);
  });
});
