import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { writePluginFolder } from "../support/plugin-folder.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * `rosey migrate <plugin> purge` end to end: the compiled CLI opening a SQLite database itself. A removed
 * plugin's table blocks a plugin whose prefix overlaps it, until the purge (listed first, then done with
 * --yes) removes it.
 */

const BIN = path.resolve("bin/rosey.js");
const tmp = useTempDir("rosey-purge-cli-");

function rosey(cwd: string, ...args: string[]) {
  const env = { ...process.env, ROSEY_CONFIG: "", NATS_URL: "", DATABASE_URL: "" };
  const r = spawnSync(process.execPath, [BIN, "migrate", ...args], {
    cwd,
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A plugin in `<dir>/plugins/<name>` whose one migration creates `table`. */
function plugin(dir: string, name: string, table: string): void {
  writePluginFolder(path.join(dir, "plugins"), name, {
    migrations: {
      "001_create.sql": `-- UP\nCREATE TABLE ${table} ("key" TEXT PRIMARY KEY);\n-- DOWN\nDROP TABLE ${table};\n`,
    },
  });
}

describe("rosey migrate <plugin> purge", () => {
  it("lists, then drops a removed plugin's data, which unblocks the plugin overlapping it", () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "rosey.json"), JSON.stringify({ plugins: { directory: "plugins" } }));
    plugin(dir, "vault-keys", "vault_keys_secrets");
    expect(rosey(dir, "vault-keys", "apply")).toMatchObject({ code: 0 });
    rmSync(path.join(dir, "plugins", "vault-keys"), { recursive: true });
    plugin(dir, "vault", "vault_loot");

    expect(rosey(dir, "vault", "apply")).toMatchObject({
      code: 1,
      err: expect.stringMatching(
        /^Plugin 'vault' is refused as its table prefix 'vault_' overlaps that of 'vault-keys' \(prefix 'vault_keys_'\), whose tables are still in the database/,
      ),
    });
    expect(rosey(dir, "vault-keys", "purge")).toEqual({
      code: 0,
      out:
        "[dry-run] Would purge vault-keys (prefix vault_keys_): drop 1 table; delete 0 records and 1 migration row\n" +
        "  drop  vault_keys_secrets\n" +
        "Nothing was changed. Run `rosey migrate vault-keys purge --yes` to drop and delete them.\n",
      err: "",
    });
    expect(JSON.parse(rosey(dir, "vault-keys", "purge", "--json").out)).toMatchObject({
      dryRun: true,
      tables: ["vault_keys_secrets"],
      migrations: 1,
    });
    expect(rosey(dir, "vault", "status")).toMatchObject({ code: 1 });

    expect(rosey(dir, "vault-keys", "purge", "--yes")).toMatchObject({
      code: 0,
      out:
        "Purged vault-keys (prefix vault_keys_): dropped 1 table; deleted 0 records and 1 migration row\n" +
        "  dropped  vault_keys_secrets\n",
    });
    expect(rosey(dir, "vault", "apply")).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^Applied vault 1; now at version 1/),
    });
    expect(rosey(dir, "vault-keys", "purge", "--yes")).toMatchObject({
      code: 0,
      out: "Purged vault-keys (prefix vault_keys_): dropped 0 tables; deleted 0 records and 0 migration rows\n",
    });
  });

  it("refuses an enabled plugin and options that do not apply", () => {
    const dir = tmp();
    writeFileSync(path.join(dir, "rosey.json"), JSON.stringify({ plugins: { directory: "plugins" } }));
    plugin(dir, "dice", "dice_rolls");
    expect(rosey(dir, "dice", "apply")).toMatchObject({ code: 0 });
    expect(rosey(dir, "dice", "purge", "--yes")).toMatchObject({
      code: 1,
      err: expect.stringMatching(/^Cannot purge 'dice' as it is installed \(.*\) and enabled/),
    });
    expect(rosey(dir, "dice", "purge", "--to", "0")).toMatchObject({
      code: 1,
      err: expect.stringMatching(/'--to' does not apply to purge: purge without --yes is already a dry run/),
    });
    expect(rosey(dir, "dice", "rollback", "--yes")).toMatchObject({
      code: 1,
      err: expect.stringMatching(/'--yes' does not apply to rollback/),
    });
    expect(rosey(dir, "dice", "status")).toMatchObject({
      code: 0,
      out: expect.stringMatching(/at version 1 of 1/),
    });
  });
});
