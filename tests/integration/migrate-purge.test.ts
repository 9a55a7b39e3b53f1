import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { configSchema } from "../../src/core/config/schema.js";
import { type Database, openDatabase } from "../../src/core/db/connection.js";
import { loadCoreMigrations, loadPluginMigrations } from "../../src/core/migrations/files.js";
import { purgePlugin } from "../../src/core/migrations/purge.js";
import { MigrationRunner } from "../../src/core/migrations/runner.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * Tables that outlive a plugin's folder, on both engines: a plugin whose prefix overlaps a removed
 * plugin's recorded tables is refused by the runner (both ways round), and `purge` removes exactly the
 * removed plugin's data — not the tables under a longer prefix of another owner or installed plugin, nor
 * the core's — in one transaction, under the plugin's migration lock.
 */

const tmp = useTempDir("rosey-purge-", "all");
let pgServer: TestPostgres;
beforeAll(async () => {
  pgServer = await startTestPostgres();
});
afterAll(async () => {
  await pgServer?.stop();
});

const table = (name: string, extra = "") =>
  `CREATE TABLE ${name} ("key" VARCHAR(256) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL, "size" INTEGER NOT NULL, "created_at" BIGINT NOT NULL, "updated_at" BIGINT NOT NULL${extra});`;

/** A plugin folder with one migration, in `<dir>/plugins/<name>`. */
function plugin(dir: string, name: string, up: string, down: string): string {
  return writePluginFolder(path.join(dir, "plugins"), name, {
    manifest: { capabilities: ["storage"] },
    migrations: { "001_first.sql": `-- UP\n${up}\n-- DOWN\n${down}\n` },
  });
}

const engines: Array<[string, () => Promise<Database>]> = [
  ["sqlite", () => openDatabase({ engine: "sqlite", file: path.join(tmp(), `p-${Date.now()}.sqlite`) })],
  [
    "postgresql",
    async () => openDatabase({ engine: "postgresql", url: await pgServer.createDatabase(), poolSize: 4 }),
  ],
];

describe.each(engines)("purging a removed plugin's data on %s", (engine, open) => {
  let db: Database;
  let dir: string;
  let runner: MigrationRunner;
  let n = 0;

  beforeAll(async () => {
    db = await open();
    await new MigrationRunner(db, { actor: "test" }).applyCore(loadCoreMigrations(db.engine));
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(() => {
    dir = path.join(tmp(), `${engine}-${n++}`);
    mkdirSync(path.join(dir, "plugins"), { recursive: true });
    runner = new MigrationRunner(db, { actor: "cli:test", lockTimeoutMs: 400 });
  });

  const config = (entries: Record<string, object> = {}) =>
    configSchema.parse({ dataDir: dir, plugins: { directory: path.join(dir, "plugins"), entries } });
  const migrations = (name: string) => loadPluginMigrations(name, path.join(dir, "plugins", name), db.engine);

  async function tables(prefix: string): Promise<string[]> {
    const rows =
      db.engine === "sqlite"
        ? await db.prisma.$queryRawUnsafe<Array<{ name: string }>>(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
          )
        : await db.prisma.$queryRawUnsafe<Array<{ name: string }>>(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
          );
    return rows.map((r) => r.name).filter((t) => t.startsWith(prefix));
  }

  /** Applies a plugin's migration with its folder installed, stores a record, then removes the folder. */
  async function leaveBehind(name: string, up: string, down: string): Promise<void> {
    const folder = plugin(dir, name, up, down);
    await runner.apply(migrations(name), {});
    await db.prisma.pluginRecord.create({
      data: {
        plugin: name,
        collection: "meta",
        key: "k",
        value: { n: 1 },
        size: 7,
        createdAt: new Date(),
        updatedAt: new Date(),
      },
    });
    rmSync(folder, { recursive: true });
  }

  it("refuses a plugin overlapping a removed plugin's tables, either way round, until purged", async () => {
    await leaveBehind("keys", table("keys_ring_secrets"), "DROP TABLE keys_ring_secrets;");
    // The longer prefix installed after the shorter one was removed: `keys` named a `keys_ring_` table.
    plugin(dir, "keys-ring", table("keys_ring_notes"), "DROP TABLE keys_ring_notes;");
    for (const attempt of [
      () => runner.apply(migrations("keys-ring"), {}),
      () => runner.status(migrations("keys-ring")),
      () => runner.rollback(migrations("keys-ring"), {}),
    ]) {
      await expect(attempt()).rejects.toMatchObject({
        code: "PLUGIN_PREFIX_CLASH",
        message: expect.stringMatching(
          /^Plugin 'keys-ring' is refused as its table prefix 'keys_ring_' overlaps that of 'keys' \(prefix 'keys_'\), whose tables are still in the database.*`rosey migrate keys purge`/,
        ),
        details: { plugin: "keys-ring", clashesWith: [{ plugin: "keys", prefix: "keys_" }] },
      });
    }
    expect(await tables("keys_ring_")).toEqual(["keys_ring_secrets"]);

    const listed = await purgePlugin(db, "keys", { config: config(), actor: "cli:test" });
    expect(listed).toEqual({
      plugin: "keys",
      action: "purge",
      dryRun: true,
      prefix: "keys_",
      // `keys-ring` is installed: what is under its longer prefix is left to it, though `keys` made it.
      tables: [],
      kept: [{ table: "keys_ring_secrets", owner: "keys-ring" }],
      records: 1,
      migrations: 1,
    });
    expect(await purgePlugin(db, "keys", { config: config(), actor: "cli:test", yes: true })).toMatchObject({
      dryRun: false,
      tables: [],
      records: 1,
      migrations: 1,
    });
    expect(await db.prisma.pluginRecord.count({ where: { plugin: "keys" } })).toBe(0);
    // The ledger no longer records `keys`: `keys-ring` migrates.
    await db.prisma.$executeRawUnsafe("DROP TABLE keys_ring_secrets");
    expect(await runner.apply(migrations("keys-ring"), {})).toMatchObject({ versions: [1] });
  });

  it("the shorter prefix installed after the longer one was removed is refused too", async () => {
    await leaveBehind("ink-pot", table("ink_pot_secrets"), "DROP TABLE ink_pot_secrets;");
    plugin(dir, "ink", table("ink_notes"), "DROP TABLE ink_notes;");
    await expect(runner.apply(migrations("ink"), {})).rejects.toMatchObject({
      code: "PLUGIN_PREFIX_CLASH",
      message: expect.stringContaining("overlaps that of 'ink-pot' (prefix 'ink_pot_')"),
    });
    expect(await tables("ink_")).toEqual(["ink_pot_secrets"]);
    // A rolled-back owner has no tables left: only applied migrations count.
    await db.prisma.pluginSchemaMigration.updateMany({
      where: { pluginName: "ink-pot" },
      data: { status: "rolled_back" },
    });
    expect((await runner.status(migrations("ink"))).pending).toHaveLength(1);
    await db.prisma.pluginSchemaMigration.updateMany({
      where: { pluginName: "ink-pot" },
      data: { status: "applied" },
    });

    const dry = await purgePlugin(db, "ink-pot", { config: config(), actor: "cli:test" });
    expect(dry).toMatchObject({ dryRun: true, tables: ["ink_pot_secrets"], records: 1, migrations: 1 });
    expect(await tables("ink_")).toEqual(["ink_pot_secrets"]);
    expect(await db.prisma.pluginSchemaMigration.count({ where: { pluginName: "ink-pot" } })).toBe(1);

    const done = await purgePlugin(db, "ink-pot", { config: config(), actor: "cli:test", yes: true });
    expect(done).toMatchObject({ dryRun: false, tables: ["ink_pot_secrets"], records: 1, migrations: 1 });
    expect(await tables("ink_")).toEqual([]);
    expect(await db.prisma.pluginRecord.count({ where: { plugin: "ink-pot" } })).toBe(0);
    expect(await db.prisma.pluginSchemaMigration.count({ where: { pluginName: "ink-pot" } })).toBe(0);
    expect(await runner.apply(migrations("ink"), {})).toMatchObject({ versions: [1] });
    // Purging what is already gone is an empty purge, not an error.
    expect(
      await purgePlugin(db, "ink-pot", { config: config(), actor: "cli:test", yes: true }),
    ).toMatchObject({ tables: [], kept: [], records: 0, migrations: 0 });
  });

  it("keeps another ledger owner's tables under a longer prefix, and the core's", async () => {
    // Two owners recorded before overlapping prefixes were refused (an older database): neither installed.
    await db.prisma.$executeRawUnsafe(table("crate_items"));
    await db.prisma.$executeRawUnsafe(table("crate_box_items"));
    const row = (pluginName: string) => ({
      pluginName,
      version: 1,
      description: "first",
      checksum: "0".repeat(64),
      status: "applied",
      appliedAt: new Date(),
      appliedBy: "test",
    });
    await db.prisma.pluginSchemaMigration.createMany({ data: [row("crate"), row("crate-box")] });
    const result = await purgePlugin(db, "crate", { config: config(), actor: "cli:test", yes: true });
    expect(result).toMatchObject({
      tables: ["crate_items"],
      kept: [{ table: "crate_box_items", owner: "crate-box" }],
      migrations: 1,
    });
    expect(await tables("crate_")).toEqual(["crate_box_items"]);
    expect(await db.prisma.pluginSchemaMigration.count({ where: { pluginName: "crate-box" } })).toBe(1);

    // A plugin named `plugin` has the prefix of the core's `plugin_records` and `plugin_schema_migrations`.
    await db.prisma.$executeRawUnsafe(table("plugin_notes"));
    const core = await purgePlugin(db, "plugin", { config: config(), actor: "cli:test", yes: true });
    expect(core.tables).toEqual(["plugin_notes"]);
    expect(core.kept).toEqual(
      expect.arrayContaining([
        { table: "plugin_records", owner: "@core" },
        { table: "plugin_schema_migrations", owner: "@core" },
      ]),
    );
    expect(await tables("plugin_")).toEqual(["plugin_records", "plugin_schema_migrations"]);
  });

  it("drops tables that reference each other, in one transaction", async () => {
    await leaveBehind(
      "shelf",
      [
        table("shelf_books"),
        `CREATE TABLE shelf_loans ("id" INTEGER PRIMARY KEY, "book" VARCHAR(256) NOT NULL REFERENCES shelf_books ("key"));`,
        `INSERT INTO shelf_books ("key", "value", "size", "created_at", "updated_at") VALUES ('b', '1', 1, 0, 0);`,
        `INSERT INTO shelf_loans ("id", "book") VALUES (1, 'b');`,
      ].join("\n"),
      "DROP TABLE shelf_loans;\nDROP TABLE shelf_books;",
    );
    const result = await purgePlugin(db, "shelf", { config: config(), actor: "cli:test", yes: true });
    expect(result).toMatchObject({ tables: ["shelf_books", "shelf_loans"], records: 1, migrations: 1 });
    expect(await tables("shelf_")).toEqual([]);
  });

  it("a table that stays referencing one that would go: nothing is dropped or deleted", async () => {
    await leaveBehind("desk", table("desk_items"), "DROP TABLE desk_items;");
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO desk_items ("key", "value", "size", "created_at", "updated_at") VALUES ('d', '1', 1, 0, 0)`,
    );
    // Another owner's table (under the longer prefix of an installed plugin) with a foreign key to it.
    plugin(dir, "desk-lamp", table("desk_lamp_x"), "DROP TABLE desk_lamp_x;");
    await db.prisma.$executeRawUnsafe(
      `CREATE TABLE desk_lamp_refs ("id" INTEGER PRIMARY KEY, "item" VARCHAR(256) REFERENCES desk_items ("key"))`,
    );
    await db.prisma.$executeRawUnsafe(`INSERT INTO desk_lamp_refs ("id", "item") VALUES (1, 'd')`);
    // The dry run says so too: it reads what the purge would do.
    for (const yes of [false, true])
      await expect(
        purgePlugin(db, "desk", { config: config(), actor: "cli:test", yes }),
      ).rejects.toMatchObject({
        code: "MIGRATION_FAILED",
        message:
          "Cannot purge 'desk' as tables that stay have foreign keys to tables it would drop ('desk_lamp_refs' references 'desk_items'): drop or change those first. Nothing was dropped or deleted",
      });
    expect(await tables("desk_")).toEqual(["desk_items", "desk_lamp_refs"]);
    expect(await db.prisma.pluginRecord.count({ where: { plugin: "desk" } })).toBe(1);
    expect(await db.prisma.pluginSchemaMigration.count({ where: { pluginName: "desk" } })).toBe(1);
    await db.prisma.$executeRawUnsafe("DROP TABLE desk_lamp_refs");
  });

  it("refuses an installed, enabled plugin; a disabled one may be purged", async () => {
    plugin(dir, "quill", table("quill_notes"), "DROP TABLE quill_notes;");
    await runner.apply(migrations("quill"), {});
    await expect(purgePlugin(db, "quill", { config: config(), actor: "cli:test" })).rejects.toMatchObject({
      code: "PLUGIN_ENABLED",
      message: expect.stringMatching(
        /^Cannot purge 'quill' as it is installed \(.*\) and enabled: .*`rosey migrate quill rollback --to 0`.*plugins\.entries\.quill\.enabled: false/,
      ),
    });
    expect(await tables("quill_")).toEqual(["quill_notes"]);
    const disabled = config({ quill: { enabled: false } });
    expect(await purgePlugin(db, "quill", { config: disabled, actor: "cli:test", yes: true })).toMatchObject({
      tables: ["quill_notes"],
      migrations: 1,
    });
    // Its migrations run again from the start.
    expect(await runner.apply(migrations("quill"), {})).toMatchObject({ versions: [1] });
    await expect(purgePlugin(db, "../x", { config: config(), actor: "cli:test" })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
    });
  });

  it("takes the plugin's migration lock", async () => {
    await leaveBehind("latch", table("latch_x"), "DROP TABLE latch_x;");
    const now = new Date();
    await db.prisma.migrationLock.create({
      data: {
        pluginName: "latch",
        holder: "other",
        acquiredAt: now,
        expiresAt: new Date(now.getTime() + 60_000),
      },
    });
    try {
      await expect(
        purgePlugin(db, "latch", { config: config(), actor: "cli:test", yes: true, lockTimeoutMs: 300 }),
      ).rejects.toMatchObject({ code: "LOCK_TIMEOUT" });
      expect(await tables("latch_")).toEqual(["latch_x"]);
    } finally {
      await db.prisma.migrationLock.deleteMany({ where: { pluginName: "latch" } });
    }
    expect(await purgePlugin(db, "latch", { config: config(), actor: "cli:test", yes: true })).toMatchObject({
      tables: ["latch_x"],
    });
    expect(await db.prisma.migrationLock.count({ where: { pluginName: "latch" } })).toBe(0);
  });
});
