import { afterEach, describe, expect, it, vi } from "vitest";
import type { Database } from "../../src/core/db/connection.js";
import { formatPurge } from "../../src/core/migrations/cli.js";
import { LedgerOwners, ownerClash } from "../../src/core/migrations/owner-clash.js";

/** The ledger-owner side of the prefix rule, and what `rosey migrate <plugin> purge` prints. */

describe("ownerClash", () => {
  it("refuses a plugin overlapping another owner with tables, either way round", () => {
    const shorter = ownerClash("vault", ["vault-keys", "dice"]);
    expect(shorter).toMatchObject({
      code: "PLUGIN_PREFIX_CLASH",
      details: {
        plugin: "vault",
        prefix: "vault_",
        clashesWith: [{ plugin: "vault-keys", prefix: "vault_keys_", inDatabase: true }],
      },
    });
    expect(shorter!.message).toBe(
      "Plugin 'vault' is refused as its table prefix 'vault_' overlaps that of 'vault-keys' (prefix 'vault_keys_'), whose tables are still in the database (its migrations are recorded as applied, even if its folder is gone): 'vault' could read and write them. " +
        "If it is removed for good, drop its data with `rosey migrate vault-keys purge` (it lists what it drops; add --yes to drop it); or put its folder back, roll it back (`rosey migrate <plugin> rollback --to 0`) and remove it again",
    );
    expect(ownerClash("vault-keys", ["vault"])?.message).toMatch(
      /^Plugin 'vault-keys' is refused as its table prefix 'vault_keys_' overlaps that of 'vault' \(prefix 'vault_'\)/,
    );
    expect(ownerClash("a", ["a-b", "a-c"])?.message).toContain(
      "`rosey migrate a-b purge`, `rosey migrate a-c purge`",
    );
  });

  it("ignores the plugin itself, the core, and prefixes that do not overlap", () => {
    expect(ownerClash("vault", ["vault", "@core", "vaults", "dice"])).toBeUndefined();
  });
});

describe("LedgerOwners", () => {
  afterEach(() => vi.useRealTimers());

  function ledger(owners: string[]) {
    const findMany = vi.fn(async () => owners.map((pluginName) => ({ pluginName })));
    const db = { prisma: { pluginSchemaMigration: { findMany } } } as unknown as Database;
    return { db, findMany, owners };
  }

  it("reads the ledger once per TTL, and again after invalidate()", async () => {
    vi.useFakeTimers();
    const { db, findMany, owners } = ledger(["vault-keys"]);
    const cache = new LedgerOwners(db, 5_000);
    await expect(cache.refuse("vault")).rejects.toMatchObject({ code: "PLUGIN_PREFIX_CLASH" });
    await expect(cache.refuse("dice")).resolves.toBeUndefined();
    expect(findMany).toHaveBeenCalledTimes(1);
    owners.length = 0;
    await expect(cache.refuse("vault")).rejects.toMatchObject({ code: "PLUGIN_PREFIX_CLASH" });
    cache.invalidate();
    await expect(cache.refuse("vault")).resolves.toBeUndefined();
    expect(findMany).toHaveBeenCalledTimes(2);
    owners.push("vault-keys");
    vi.advanceTimersByTime(5_001);
    await expect(cache.refuse("vault")).rejects.toMatchObject({ code: "PLUGIN_PREFIX_CLASH" });
    expect(findMany).toHaveBeenCalledTimes(3);
  });

  it("does not keep a failed read", async () => {
    const { db, findMany } = ledger([]);
    findMany.mockRejectedValueOnce(new Error("database is locked"));
    const cache = new LedgerOwners(db);
    await expect(cache.refuse("vault")).rejects.toThrow("database is locked");
    await expect(cache.refuse("vault")).resolves.toBeUndefined();
  });
});

describe("formatPurge", () => {
  it("says what goes and what stays, with table names made safe for a terminal", () => {
    expect(
      formatPurge({
        plugin: "plugin",
        action: "purge",
        dryRun: true,
        prefix: "plugin_",
        tables: ["plugin_x\u001b[2J"],
        kept: [
          { table: "plugin_records", owner: "@core" },
          { table: "plugin_box_items", owner: "plugin-box" },
        ],
        records: 2,
        migrations: 1,
      }),
    ).toBe(
      [
        "[dry-run] Would purge plugin (prefix plugin_): drop 1 table; delete 2 records and 1 migration row",
        "  drop  plugin_x\\u001b[2J",
        "  kept  plugin_records  (Rosey's own table)",
        "  kept  plugin_box_items  (under the prefix of 'plugin-box')",
        "Nothing was changed. Run `rosey migrate plugin purge --yes` to drop and delete them.",
      ].join("\n"),
    );
  });
});
