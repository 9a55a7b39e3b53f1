import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { createBus } from "../../src/core/bus.js";
import type { DbReply } from "../../src/core/db/kv-protocol.js";
import { silentLogger } from "../../src/core/logger.js";
import { expectPlatformHealthy, type Platform, report, startPlatform } from "./harness.js";

/**
 * Table prefixes that overlap: `vault_` covers `vault-keys`' tables (`vault_keys_*`), so `vault`'s collection
 * `keys_secrets` would be `vault-keys`' collection `secrets`. Both plugins are refused at discovery, their
 * migrations are not applied, and the database service refuses requests in their names; a plugin apart
 * (`keeper`, and `canary`) runs and stores as usual.
 */

const TABLE = `CREATE TABLE vault_keys_secrets (
  "key" VARCHAR(256) NOT NULL PRIMARY KEY, "value" TEXT NOT NULL, "size" INTEGER NOT NULL,
  "created_at" BIGINT NOT NULL, "updated_at" BIGINT NOT NULL
);`;

function writePlugin(dir: string, name: string, manifest: object, code: string, migration?: string): void {
  mkdirSync(path.join(dir, name));
  writeFileSync(
    path.join(dir, name, "plugin.json"),
    JSON.stringify({ name, version: "1.0.0", entry: "index.js", commands: [{ name }], ...manifest }),
  );
  writeFileSync(path.join(dir, name, "index.js"), code);
  if (migration) {
    mkdirSync(path.join(dir, name, "migrations"));
    writeFileSync(path.join(dir, name, "migrations", "001_secrets.sql"), migration);
  }
}

let dir: string;
let p: Platform | undefined;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "rosey-prefix-clash-"));
  cpSync(path.join(inject("securityFixtures"), "canary"), path.join(dir, "canary"), { recursive: true });
  const storage = { capabilities: ["storage", "chat.send"] };
  writePlugin(
    dir,
    "vault-keys",
    { ...storage, storage: { collections: { secrets: {} } } },
    `export default { async onCommand(c, ctx) { await ctx.storage.set("secrets", "k", c.args[0]); return "kept"; } };`,
    `-- UP\n${TABLE}\n-- DOWN\nDROP TABLE vault_keys_secrets;\n`,
  );
  writePlugin(
    dir,
    "vault",
    { ...storage, storage: { collections: { keys_secrets: {} } } },
    `export default { async onCommand(c, ctx) { return JSON.stringify(await ctx.storage.query("keys_secrets", {})); } };`,
    `-- UP\nCREATE TABLE vault_loot ("v" TEXT);\nINSERT INTO vault_loot ("v") SELECT "value" FROM vault_keys_secrets;\n`,
  );
  writePlugin(
    dir,
    "keeper",
    { ...storage, storage: { collections: { notes: {} } } },
    `export default { async onCommand(c, ctx) { await ctx.storage.set("notes", "n", "kept"); return String(await ctx.storage.get("notes", "n")); } };`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await p?.stop();
  p = undefined;
});

describe("overlapping table prefixes", () => {
  it("refuses both plugins, naming the clash, and the others still run", { timeout: 120_000 }, async () => {
    const grants = { grants: ["storage", "chat.send"] };
    p = await startPlatform(
      { vault: grants, "vault-keys": grants, keeper: grants },
      {},
      { database: true, autoMigrate: true, directory: dir },
    );
    const refused = Object.fromEntries(p.manager.rejected().map((r) => [path.basename(r.dir), r.error]));
    expect(refused).toEqual({
      vault: expect.stringMatching(
        /^Plugin 'vault' is refused as its table prefix 'vault_' overlaps that of 'vault-keys' \(prefix 'vault_keys_'\).*Rename one of them/,
      ),
      "vault-keys": expect.stringMatching(
        /^Plugin 'vault-keys' is refused as its table prefix 'vault_keys_' overlaps that of 'vault' \(prefix 'vault_'\)/,
      ),
    });
    expect(p.manager.status().map((s) => [s.name, s.state])).toEqual([
      ["canary", "running"],
      ["keeper", "running"],
    ]);
    await expectPlatformHealthy(p);
    expect(await report(p, "keeper")).toBe("kept");

    // Neither plugin's migrations ran at the service's start.
    const tables = await p.database!.database.prisma.$queryRawUnsafe<Array<{ name: string }>>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'vault%'",
    );
    expect(tables).toEqual([]);

    // Reached another way (a request in their names, a migrate request), the service refuses them too.
    const asVault = await createBus({ url: p.nats.url, source: "plugin:vault", logger: silentLogger() });
    try {
      const kv = await asVault.request<DbReply<unknown>>(
        "rosey.db.kv.query",
        { collection: "keys_secrets" },
        { timeoutMs: 5_000 },
      );
      expect(kv.data).toMatchObject({ success: false, error: { code: "PLUGIN_PREFIX_CLASH" } });
    } finally {
      await asVault.close();
    }
    for (const plugin of ["vault", "vault-keys"]) {
      const migrate = await p.observer.request<DbReply<unknown>>(
        `rosey.db.migrate.${plugin}.apply`,
        {},
        { timeoutMs: 5_000 },
      );
      expect(migrate.data).toMatchObject({
        success: false,
        error: { code: "PLUGIN_PREFIX_CLASH", message: expect.stringContaining(`Plugin '${plugin}'`) },
      });
    }
  });
});
