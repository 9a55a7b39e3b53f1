import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { writePluginFolder } from "../support/plugin-folder.js";

/** `rosey migrate` end to end: the compiled CLI on the bundled quotes plugin, SQLite in a temp dir. */

const BIN = path.resolve("bin/rosey.js");
const cwd = mkdtempSync(path.join(os.tmpdir(), "rosey-migrate-cli-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function rosey(...args: string[]) {
  return roseyIn(cwd, ...args);
}

function roseyIn(dir: string, ...args: string[]) {
  const env = { ...process.env, ROSEY_CONFIG: "", NATS_URL: "", DATABASE_URL: "" };
  const r = spawnSync(process.execPath, [BIN, "migrate", ...args], {
    cwd: dir,
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("rosey migrate", () => {
  it("status, dry-run, apply --to, rollback, and clear errors", () => {
    // Looking creates nothing: before the first apply there is no database file.
    const file = path.join(cwd, "data", "rosey.sqlite");
    const none = /^\(no database at \S+rosey\.sqlite yet: shown against an empty one, nothing created\)\n/;
    expect(rosey("quotes", "status")).toMatchObject({
      code: 0,
      out: expect.stringMatching(
        new RegExp(`${none.source}quotes: at version 0 of 2[\\s\\S]*pending {2}001 create quotes table`),
      ),
    });
    expect(rosey("quotes", "apply", "--dry-run")).toMatchObject({
      code: 0,
      out: expect.stringMatching(
        new RegExp(`${none.source}\\[dry-run\\] Would apply quotes 1, 2; now at version 0`),
      ),
    });
    expect(existsSync(file)).toBe(false);
    expect(rosey("quotes", "apply", "--to", "1")).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^Applied quotes 1; now at version 1/),
    });
    expect(existsSync(file)).toBe(true);
    expect(rosey("quotes", "status").out).toMatch(/^quotes: at version 1 of 2/);
    const json = JSON.parse(rosey("quotes", "status", "--json").out) as {
      applied: Array<{ appliedBy: string }>;
    };
    expect(json.applied[0]!.appliedBy).toMatch(/^cli:/);
    expect(rosey("quotes", "apply")).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^Applied quotes 2; now at version 2/),
    });
    expect(rosey("quotes", "rollback", "--count", "2")).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^Rolled back quotes 2, 1; now at version 0/),
    });
    expect(rosey("quotes", "explode")).toMatchObject({
      code: 1,
      err: expect.stringMatching(/Unknown migrate action 'explode'/),
    });
    expect(rosey("quotes", "apply", "--count", "0")).toMatchObject({
      code: 1,
      err: expect.stringMatching(/'--count' must be an integer >= 1/),
    });
    expect(rosey("ghost", "status")).toMatchObject({
      code: 1,
      err: expect.stringMatching(/Cannot migrate 'ghost'/),
    });
  });

  it("refuses both plugins whose table prefixes overlap, and migrates the others", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rosey-migrate-clash-"));
    try {
      writeFileSync(path.join(dir, "rosey.json"), JSON.stringify({ plugins: { directory: "plugins" } }));
      const table = (name: string) =>
        `-- UP\nCREATE TABLE ${name} ("key" TEXT PRIMARY KEY);\n-- DOWN\nDROP TABLE ${name};\n`;
      for (const [name, migration] of [
        ["vault", table("vault_keys_loot")],
        ["vault-keys", table("vault_keys_secrets")],
        ["dice", table("dice_rolls")],
      ] as const) {
        writePluginFolder(path.join(dir, "plugins"), name, { migrations: { "001_create.sql": migration } });
      }
      expect(roseyIn(dir, "vault", "apply")).toMatchObject({
        code: 1,
        err: expect.stringMatching(
          /^Plugin 'vault' is refused as its table prefix 'vault_' overlaps that of 'vault-keys' \(prefix 'vault_keys_'\)/,
        ),
      });
      expect(roseyIn(dir, "vault-keys", "status")).toMatchObject({
        code: 1,
        err: expect.stringMatching(
          /^Plugin 'vault-keys' is refused as its table prefix 'vault_keys_' overlaps/,
        ),
      });
      expect(roseyIn(dir, "dice", "apply")).toMatchObject({
        code: 0,
        out: expect.stringMatching(/^Applied dice 1; now at version 1/),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
