import { rmSync } from "node:fs";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { configSchema } from "../../src/core/config/schema.js";
import type { DatabaseTarget } from "../../src/core/db/connection.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import type { DbReply } from "../../src/core/db/kv-protocol.js";
import { silentLogger } from "../../src/core/logger.js";
import { useDatabaseSuite } from "../support/db-engines.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * Tables that outlive a plugin's folder, through the database service on a real nats-server, on both
 * engines: `vault-keys` is removed with its table `vault_keys_secrets` and its records still in the
 * database, then `vault` is installed declaring the collection `keys_secrets` (the same table name). The
 * service refuses `vault`'s storage and migrations (also at start) until `purge` removes `vault-keys`' data;
 * then `vault` migrates and stores, and sees none of the old data.
 */

const tmp = useTempDir("rosey-owner-clash-", "all");
const { nats, engines } = useDatabaseSuite(tmp);

const TABLE = `CREATE TABLE vault_keys_secrets (
  "key" VARCHAR(256) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL, "size" INTEGER NOT NULL,
  "created_at" BIGINT NOT NULL, "updated_at" BIGINT NOT NULL
);`;

/** A plugin declaring `collection`, whose one migration creates the table vault_keys_secrets. */
function plugin(dir: string, name: string, collection: string): void {
  writePluginFolder(dir, name, {
    manifest: { capabilities: ["storage"], storage: { collections: { [collection]: {} } } },
    migrations: { "001_secrets.sql": `-- UP\n${TABLE}\n-- DOWN\nDROP TABLE vault_keys_secrets;\n` },
  });
}

describe.each(engines)("a removed plugin's tables on %s", (engine, makeTarget) => {
  let target: DatabaseTarget;
  let service: DatabaseService | undefined;
  let bus: Bus;
  const dir = () => path.join(tmp(), `plugins-${engine}`);
  const logs: Array<{ plugin?: string; msg: string; code?: string; err?: string }> = [];

  async function start(): Promise<DatabaseService> {
    const storage = { grants: ["storage"] };
    const config = configSchema.parse({
      dataDir: tmp(),
      plugins: { directory: dir(), entries: { vault: storage, "vault-keys": storage } },
    });
    return startDatabaseService({
      natsUrl: nats.url,
      config,
      logger: pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) }),
      target,
    });
  }
  const ask = async (subject: string, data: unknown, source: string) =>
    (await bus.request<DbReply<Record<string, unknown>>>(subject, data, { source, timeoutMs: 10_000 })).data;
  const kv = (op: string, data: unknown, plugin: string) =>
    ask(`rosey.db.kv.${op}`, data, `plugin:${plugin}`);
  const tables = async () => {
    const rows =
      engine === "sqlite"
        ? await service!.database.prisma.$queryRawUnsafe<Array<{ name: string }>>(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'vault%'",
          )
        : await service!.database.prisma.$queryRawUnsafe<Array<{ name: string }>>(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'vault%'",
          );
    return rows.map((r) => r.name);
  };

  beforeAll(async () => {
    target = await makeTarget();
    bus = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    // `vault-keys` runs, migrates and stores; then its folder is removed.
    plugin(dir(), "vault-keys", "secrets");
    service = await start();
    for (const [collection, key, value] of [
      ["secrets", "root", "hunter2"],
      ["notes", "n", "plain"],
    ] as const)
      expect(await kv("set", { collection, key, value }, "vault-keys")).toMatchObject({ success: true });
    await service.stop();
    rmSync(path.join(dir(), "vault-keys"), { recursive: true });
    plugin(dir(), "vault", "keys_secrets");
    service = await start();
  });
  afterAll(async () => {
    await bus?.close();
    await service?.stop();
  });

  it("refuses the plugin's storage and migrations until the removed plugin's data is purged", async () => {
    // At start, `vault`'s migrations were not applied.
    expect(logs.filter((l) => l.plugin === "vault" && l.msg === "plugin migrations not applied")).toEqual([
      expect.objectContaining({ code: "PLUGIN_PREFIX_CLASH" }),
    ]);
    const clash = {
      success: false,
      error: {
        code: "PLUGIN_PREFIX_CLASH",
        message: expect.stringMatching(
          /^Plugin 'vault' is refused as its table prefix 'vault_' overlaps that of 'vault-keys' \(prefix 'vault_keys_'\), whose tables are still in the database .*`rosey migrate vault-keys purge`/,
        ),
      },
    };
    expect(await kv("get", { collection: "keys_secrets", key: "root" }, "vault")).toMatchObject(clash);
    expect(await kv("query", { collection: "keys_secrets" }, "vault")).toMatchObject(clash);
    expect(
      await kv("set", { collection: "keys_secrets", key: "root", value: "mine" }, "vault"),
    ).toMatchObject(clash);
    for (const action of ["apply", "status", "rollback"])
      expect(await ask(`rosey.db.migrate.vault.${action}`, {}, "cli:root")).toMatchObject(clash);

    // Plugins may not purge; an enabled plugin's data is not purged; requests are checked.
    expect(await ask("rosey.db.migrate.vault-keys.purge", { yes: true }, "plugin:vault")).toMatchObject({
      success: false,
      error: { code: "PERMISSION_DENIED" },
    });
    expect(await ask("rosey.db.migrate.vault.purge", {}, "cli:root")).toMatchObject({
      success: false,
      error: { code: "PLUGIN_ENABLED" },
    });
    for (const bad of [{ yes: "y" }, { dry_run: true }])
      expect(await ask("rosey.db.migrate.vault-keys.purge", bad, "cli:root")).toMatchObject({
        success: false,
        error: { code: "VALIDATION_FAILED" },
      });

    // Without `yes`: the list, and nothing changed.
    const listed = {
      plugin: "vault-keys",
      action: "purge",
      prefix: "vault_keys_",
      tables: ["vault_keys_secrets"],
      kept: [],
      records: 1,
      migrations: 1,
    };
    expect(await ask("rosey.db.migrate.vault-keys.purge", {}, "cli:root")).toEqual({
      success: true,
      data: { ...listed, dryRun: true },
    });
    expect(await tables()).toEqual(["vault_keys_secrets"]);
    expect(await kv("get", { collection: "keys_secrets", key: "root" }, "vault")).toMatchObject(clash);

    expect(await ask("rosey.db.migrate.vault-keys.purge", { yes: true }, "cli:root")).toEqual({
      success: true,
      data: { ...listed, dryRun: false },
    });
    expect(await tables()).toEqual([]);
    const prisma = service!.database.prisma;
    expect(await prisma.pluginRecord.count({ where: { plugin: "vault-keys" } })).toBe(0);
    expect(await prisma.pluginSchemaMigration.count({ where: { pluginName: "vault-keys" } })).toBe(0);

    // At once (the service forgot what it had cached): `vault` migrates and stores, from nothing.
    expect(await kv("get", { collection: "keys_secrets", key: "root" }, "vault")).toEqual({
      success: true,
      data: null,
    });
    expect(await ask("rosey.db.migrate.vault.apply", {}, "cli:root")).toMatchObject({
      success: true,
      data: { versions: [1], currentVersion: 1 },
    });
    expect(await tables()).toEqual(["vault_keys_secrets"]);
    expect(await kv("get", { collection: "keys_secrets", key: "root" }, "vault")).toEqual({
      success: true,
      data: null,
    });
    expect(
      await kv("set", { collection: "keys_secrets", key: "root", value: "mine" }, "vault"),
    ).toMatchObject({
      success: true,
    });
    expect(await kv("query", { collection: "keys_secrets" }, "vault")).toEqual({
      success: true,
      data: [{ key: "root", value: "mine" }],
    });
  }, 60_000);
});
