import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../src/core/db/connection.js";
import {
  loadCoreMigrations,
  loadPluginMigrations,
  type MigrationSet,
} from "../../src/core/migrations/files.js";
import { MigrationRunner } from "../../src/core/migrations/runner.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";

/** Per-plugin migrations against a real database on both engines: every outcome and error code. */

let pgServer: TestPostgres;
const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-migrate-"));
beforeAll(async () => {
  pgServer = await startTestPostgres();
});
afterAll(async () => {
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const FILES: Record<string, string> = {
  "001_create_items.sql":
    '-- UP\nCREATE TABLE shop_items ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);\n-- DOWN\nDROP TABLE shop_items;\n',
  "002_add_price.sql":
    '-- UP\nALTER TABLE shop_items ADD COLUMN "price" INTEGER NOT NULL DEFAULT 0;\nINSERT INTO shop_items ("id", "name", "price") VALUES (1, \'apple\', 3);\n-- DOWN\nDELETE FROM shop_items WHERE "id" = 1;\nCREATE TABLE shop_items_old ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);\nINSERT INTO shop_items_old SELECT "id", "name" FROM shop_items;\nDROP TABLE shop_items;\nALTER TABLE shop_items_old RENAME TO shop_items;\n',
  "003_create_orders.sql":
    '-- UP\nCREATE TABLE shop_orders ("id" INTEGER PRIMARY KEY, "item" INTEGER NOT NULL);\nCREATE INDEX shop_orders_item ON shop_orders ("item");\n-- DOWN\nDROP TABLE shop_orders;\n',
};

let counter = 0;
function pluginDir(files: Record<string, string> = FILES): string {
  const dir = path.join(tmp, `p${counter++}`, "shop");
  mkdirSync(path.join(dir, "migrations"), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, "migrations", name), text);
  return dir;
}

const engines: Array<[string, () => Promise<Database>]> = [
  ["sqlite", () => openDatabase({ engine: "sqlite", file: path.join(tmp, `m-${counter++}.sqlite`) })],
  [
    "postgresql",
    async () => openDatabase({ engine: "postgresql", url: await pgServer.createDatabase(), poolSize: 4 }),
  ],
];

describe.each(engines)("plugin migrations on %s", (_engine, open) => {
  let db: Database;
  let runner: MigrationRunner;
  let dir: string;
  let set: () => MigrationSet;

  beforeAll(async () => {
    db = await open();
    await new MigrationRunner(db, { actor: "test" }).applyCore(loadCoreMigrations(db.engine));
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    // A fresh plugin folder and a clean slate for the 'shop' plugin.
    for (const t of ["shop_orders", "shop_items", "shop_items_old", "shop_bad"])
      await db.prisma.$executeRawUnsafe(`DROP TABLE IF EXISTS ${t}`);
    await db.prisma.pluginSchemaMigration.deleteMany({ where: { pluginName: "shop" } });
    await db.prisma.migrationLock.deleteMany({});
    dir = pluginDir();
    set = () => loadPluginMigrations("shop", dir, db.engine);
    runner = new MigrationRunner(db, { actor: "cli:alice", lockTimeoutMs: 400 });
  });

  async function tables(): Promise<string[]> {
    const rows =
      db.engine === "sqlite"
        ? await db.prisma.$queryRawUnsafe<Array<{ name: string }>>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'shop_%' ORDER BY name",
          )
        : await db.prisma.$queryRawUnsafe<Array<{ name: string }>>(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'shop_%' ORDER BY table_name",
          );
    return rows.map((r) => r.name);
  }

  it("status lists pending; apply runs in order and records who; status then shows applied", async () => {
    const before = await runner.status(set());
    expect(before).toMatchObject({ plugin: "shop", currentVersion: 0, availableVersion: 3, applied: [] });
    expect(before.pending.map((p) => p.version)).toEqual([1, 2, 3]);
    // 002's DOWN has a DROP TABLE and a DELETE with WHERE: warnings/info are reported, not blocking.
    expect(before.issues.some((i) => i.level === "WARNING" && i.version === 2)).toBe(true);

    const result = await runner.apply(set(), {});
    expect(result).toMatchObject({ action: "apply", dryRun: false, versions: [1, 2, 3], currentVersion: 3 });
    expect(await tables()).toEqual(["shop_items", "shop_orders"]);
    const after = await runner.status(set());
    expect(after.pending).toEqual([]);
    expect(after.applied.map((a) => [a.version, a.appliedBy])).toEqual([
      [1, "cli:alice"],
      [2, "cli:alice"],
      [3, "cli:alice"],
    ]);
    expect(after.applied[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect((await runner.apply(set(), {})).versions).toEqual([]);
  });

  it("apply honours --to and --count", async () => {
    expect((await runner.apply(set(), { toVersion: 1 })).versions).toEqual([1]);
    expect((await runner.apply(set(), { count: 1 })).versions).toEqual([2]);
    expect((await runner.status(set())).pending.map((p) => p.version)).toEqual([3]);
  });

  it("rollback goes newest first: --count, --to, and records who rolled back", async () => {
    await runner.apply(set(), {});
    const bob = new MigrationRunner(db, { actor: "cli:bob" });
    const two = await bob.rollback(set(), { count: 2 });
    expect(two).toMatchObject({ action: "rollback", versions: [3, 2], currentVersion: 1 });
    expect(await tables()).toEqual(["shop_items"]);
    const status = await bob.status(set());
    expect(status.rolledBack).toEqual([
      expect.objectContaining({ version: 2, rolledBackBy: "cli:bob" }),
      expect.objectContaining({ version: 3, rolledBackBy: "cli:bob" }),
    ]);
    expect(status.pending.map((p) => p.version)).toEqual([2, 3]);
    // Re-apply after a rollback, then roll back to version 1 (1 stays).
    expect((await runner.apply(set(), {})).versions).toEqual([2, 3]);
    expect((await bob.rollback(set(), { toVersion: 1 })).versions).toEqual([3, 2]);
    expect((await bob.rollback(set(), {})).versions).toEqual([1]);
    expect(await tables()).toEqual([]);
  });

  it("dry-run runs the SQL in a transaction that is rolled back: nothing changes", async () => {
    const dry = await runner.apply(set(), { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, versions: [1, 2, 3], currentVersion: 0 });
    expect(await tables()).toEqual([]);
    expect(await db.prisma.pluginSchemaMigration.count({ where: { pluginName: "shop" } })).toBe(0);

    await runner.apply(set(), {});
    const dryBack = await runner.rollback(set(), { count: 3, dryRun: true });
    expect(dryBack).toMatchObject({ dryRun: true, versions: [3, 2, 1], currentVersion: 3 });
    expect(await tables()).toEqual(["shop_items", "shop_orders"]);
    expect((await runner.status(set())).currentVersion).toBe(3);
  });

  it("CHECKSUM_MISMATCH: a changed or deleted applied file blocks status, apply and rollback", async () => {
    await runner.apply(set(), { toVersion: 2 });
    writeFileSync(
      path.join(dir, "migrations", "001_create_items.sql"),
      FILES["001_create_items.sql"]!.replace("TEXT", "VARCHAR(20)"),
    );
    for (const action of [
      () => runner.status(set()),
      () => runner.apply(set(), {}),
      () => runner.rollback(set(), {}),
    ]) {
      await expect(action()).rejects.toMatchObject({
        code: "CHECKSUM_MISMATCH",
        message: expect.stringMatching(/version 1 .* changed after it was applied/),
      });
    }
    expect(await tables()).toEqual(["shop_items"]);
    writeFileSync(path.join(dir, "migrations", "001_create_items.sql"), FILES["001_create_items.sql"]!);
    rmSync(path.join(dir, "migrations", "002_add_price.sql"));
    await expect(runner.status(set())).rejects.toMatchObject({
      code: "CHECKSUM_MISMATCH",
      message: expect.stringMatching(/its file is gone/),
    });
  });

  it("VALIDATION_FAILED: an ERROR-level issue blocks apply before anything runs", async () => {
    const bad = pluginDir({
      ...FILES,
      "004_touch_core.sql": "-- UP\nDELETE FROM users WHERE 1 = 1;\n-- DOWN\nSELECT 1;\n",
    });
    const badSet = () => loadPluginMigrations("shop", bad, db.engine);
    await expect(runner.apply(badSet(), {})).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      message: expect.stringMatching(
        /version 4 line 2: 'users' does not carry the plugin's table prefix 'shop_'/,
      ),
    });
    expect(await tables()).toEqual([]);
    // Only the targeted migrations are validated: up to 3 is fine.
    expect((await runner.apply(badSet(), { toVersion: 3 })).versions).toEqual([1, 2, 3]);
  });

  it("VALIDATION_FAILED: another table reached where the text check does not look (a comma join) is refused by the engine check, in apply, dry-run, status and rollback", async () => {
    await db.prisma.pluginRecord.create({
      data: {
        plugin: "victim",
        collection: "secrets",
        key: "api",
        value: "hunter2",
        size: 9,
        createdAt: new Date(),
        updatedAt: new Date(),
      },
    });
    const stealing = pluginDir({
      ...FILES,
      "004_steal.sql":
        '-- UP\nINSERT INTO shop_items ("id", "name") SELECT 9, p."value" FROM shop_orders, plugin_records p;\n-- DOWN\nDELETE FROM shop_items WHERE "id" = 9;\n',
    });
    const stealingSet = () => loadPluginMigrations("shop", stealing, db.engine);
    expect(stealingSet().migrations[3]!.issues.filter((i) => i.level === "ERROR")).toEqual([]);
    const refused = {
      code: "VALIDATION_FAILED",
      message: expect.stringMatching(
        /version 4 line 2: Not allowed in a plugin migration: .*'plugin_records'/,
      ),
    };
    await expect(runner.apply(stealingSet(), {})).rejects.toMatchObject(refused);
    await expect(runner.apply(stealingSet(), { dryRun: true })).rejects.toMatchObject(refused);
    expect(await tables()).toEqual([]);
    expect((await runner.status(stealingSet())).issues).toContainEqual(
      expect.objectContaining({ level: "ERROR", version: 4, line: 2 }),
    );
    // The engine check follows the plugin's tables as they are: up to 3 applies, then 4 is still refused.
    expect((await runner.apply(stealingSet(), { toVersion: 3 })).versions).toEqual([1, 2, 3]);
    await expect(runner.apply(stealingSet(), {})).rejects.toMatchObject(refused);
    expect(await db.prisma.$queryRawUnsafe('SELECT "id" FROM shop_items WHERE "id" = 9')).toEqual([]);
    // DOWN sections are held to the same rule.
    const undoing = pluginDir({
      "001_create_items.sql":
        '-- UP\nCREATE TABLE shop_x ("id" INTEGER);\n-- DOWN\nDELETE FROM shop_x WHERE "id" IN (SELECT 1 FROM shop_x, plugin_records);\nDROP TABLE shop_x;\n',
    });
    await db.prisma.pluginSchemaMigration.deleteMany({ where: { pluginName: "shop" } });
    await runner.apply(loadPluginMigrations("shop", undoing, db.engine), {});
    await expect(runner.rollback(loadPluginMigrations("shop", undoing, db.engine), {})).rejects.toMatchObject(
      {
        code: "VALIDATION_FAILED",
        message: expect.stringMatching(/version 1 line 4: .*'plugin_records'/),
      },
    );
    await db.prisma.$executeRawUnsafe("DROP TABLE shop_x");
    await db.prisma.pluginRecord.deleteMany({ where: { plugin: "victim" } });
  });

  it("MIGRATION_FAILED: a failing statement rolls its migration back; earlier ones stay applied", async () => {
    const failing = pluginDir({
      "001_create_items.sql": FILES["001_create_items.sql"]!,
      "002_broken.sql":
        '-- UP\nCREATE TABLE shop_bad ("id" INTEGER PRIMARY KEY);\nINSERT INTO shop_items ("nope") VALUES (1);\n-- DOWN\nDROP TABLE shop_bad;\n',
    });
    const failingSet = () => loadPluginMigrations("shop", failing, db.engine);
    await expect(runner.apply(failingSet(), {})).rejects.toMatchObject({
      code: "MIGRATION_FAILED",
      message: expect.stringMatching(
        // PostgreSQL runs it and rolls it back; SQLite's confinement rehearsal meets the error first.
        /Migration 2 \(broken\) of 'shop' failed \(UP, line 3\) (and was rolled back|when rehearsed on the plugin's current tables and was not run): .*nope/,
      ),
    });
    expect(await tables()).toEqual(["shop_items"]);
    expect((await runner.status(failingSet())).currentVersion).toBe(1);
    // Rolling back a migration without DOWN is refused the same way.
    const noDown = pluginDir({
      "001_create_items.sql": '-- UP\nCREATE TABLE shop_items ("id" INTEGER PRIMARY KEY);\n',
    });
    await db.prisma.$executeRawUnsafe("DROP TABLE shop_items");
    await db.prisma.pluginSchemaMigration.deleteMany({ where: { pluginName: "shop" } });
    await runner.apply(loadPluginMigrations("shop", noDown, db.engine), {});
    await expect(runner.rollback(loadPluginMigrations("shop", noDown, db.engine), {})).rejects.toMatchObject({
      code: "MIGRATION_FAILED",
      message: expect.stringMatching(/has no DOWN section/),
    });
  });

  it("LOCK_TIMEOUT: a second runner cannot migrate the same plugin while the lock is held; stale locks are taken over", async () => {
    const now = new Date();
    await db.prisma.migrationLock.create({
      data: {
        pluginName: "shop",
        holder: "other#1",
        acquiredAt: now,
        expiresAt: new Date(now.getTime() + 60_000),
      },
    });
    await expect(runner.apply(set(), {})).rejects.toMatchObject({
      code: "LOCK_TIMEOUT",
      message: expect.stringMatching(/another runner holds its lock \(other#1 since/),
    });
    await expect(runner.rollback(set(), {})).rejects.toMatchObject({ code: "LOCK_TIMEOUT" });
    expect(await tables()).toEqual([]);
    await db.prisma.migrationLock.update({
      where: { pluginName: "shop" },
      data: { expiresAt: new Date(now.getTime() - 1) },
    });
    expect((await runner.apply(set(), {})).versions).toEqual([1, 2, 3]);
    expect(await db.prisma.migrationLock.count()).toBe(0);
  });

  it("two runners racing: one applies, the other waits for the lock and finds nothing pending", async () => {
    const a = new MigrationRunner(db, { actor: "a", lockTimeoutMs: 10_000 });
    const b = new MigrationRunner(db, { actor: "b", lockTimeoutMs: 10_000 });
    const [ra, rb] = await Promise.all([a.apply(set(), {}), b.apply(set(), {})]);
    expect([...ra.versions, ...rb.versions].sort()).toEqual([1, 2, 3]);
    expect([ra.versions.length, rb.versions.length].sort()).toEqual([0, 3]);
  });

  it("the bundled quotes plugin's migrations validate cleanly and round-trip", async () => {
    const quotes = loadPluginMigrations("quotes", path.resolve("plugins/quotes"), db.engine);
    expect(quotes.migrations.map((m) => m.version)).toEqual([1, 2]);
    expect(quotes.migrations.flatMap((m) => m.issues).filter((i) => i.level === "ERROR")).toEqual([]);
    await db.prisma.pluginSchemaMigration.deleteMany({ where: { pluginName: "quotes" } });
    await db.prisma.$executeRawUnsafe("DROP TABLE IF EXISTS quotes_quotes");
    expect((await runner.apply(quotes, {})).versions).toEqual([1, 2]);
    expect((await runner.rollback(quotes, { toVersion: 0 })).versions).toEqual([2, 1]);
    expect((await runner.apply(quotes, {})).versions).toEqual([1, 2]);
  });
});
