import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it, onTestFinished } from "vitest";
import { configCheck } from "../../src/cli/config-check.js";
import { auditCommand } from "../../src/core/audit/cli.js";
import { formatStatus } from "../../src/core/migrations/cli.js";
import { loadPluginMigrations } from "../../src/core/migrations/files.js";
import type { MigrationStatus } from "../../src/core/migrations/runner.js";
import { bundlePlugin, MAX_SOURCE_BYTES } from "../../src/core/plugins/bundle.js";
import { discoverPlugins, readManifest } from "../../src/core/plugins/manifest.js";
import {
  MAX_MANIFEST_BYTES,
  MAX_MIGRATION_BYTES,
  MAX_MIGRATIONS_TOTAL_BYTES,
} from "../../src/core/plugins/plugin-files.js";
import { escapeControls, terminalSafe } from "../../src/sandbox/escape-text.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { thrownRoseyError } from "../support/rosey-error.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * A hostile plugin folder: its author wrote every file in it (plugin.json, code, migrations) and the core
 * reads them with the operator's file access, then prints what it found. Attacks 53–58 in docs/security.md.
 */

const ESC = "\u001b";
/** Sets the terminal's title: OSC 0. */
const OSC_TITLE = `${ESC}]0;pwned${ESC}\\`;
/** Clears the screen and homes the cursor. */
const CLEAR = `${ESC}[2J${ESC}[H`;

const tmp = useTempDir("rosey-hostile-folder-");
let root: string;
let plugins: string;
beforeEach(() => {
  root = tmp();
  plugins = path.join(root, "plugins");
  mkdirSync(plugins);
  writeFileSync(path.join(root, "secret.txt"), "root:x:0:0:root:/root:/bin/bash\n");
});

/** An ordinary plugin folder in `plugins`, for a test to make hostile. */
function plugin(name: string, manifest: Record<string, unknown> = {}): string {
  return writePluginFolder(plugins, name, { manifest });
}

function migrationsOf(dir: string): string {
  const folder = path.join(dir, "migrations");
  mkdirSync(folder, { recursive: true });
  return folder;
}

/** A file of `bytes` bytes (NULs) that takes no disk. */
function sparse(file: string, bytes: number): void {
  const fd = openSync(file, "w");
  ftruncateSync(fd, bytes);
  closeSync(fd);
}

function mkfifo(file: string): void {
  expect(spawnSync("mkfifo", [file]).status).toBe(0);
}

/**
 * A writer that opens `fifo`, holds it for a second, then closes it: a blocking read of the FIFO waits for
 * it and returns (instead of hanging the test for ever), so without the defence the test fails, not hangs.
 */
function holdFifo(fifo: string): ChildProcess {
  const writer = spawn("sh", ["-c", 'exec 3>"$0"; sleep 1', fifo], { stdio: "ignore" });
  onTestFinished(() => {
    writer.kill("SIGKILL");
  });
  return writer;
}

function configFile(): string {
  const file = path.join(root, "rosey.yaml");
  writeFileSync(
    file,
    `plugins:\n  directory: ${JSON.stringify(plugins)}\ndatabase:\n  url: ${JSON.stringify(`file:${path.join(root, "db.sqlite")}`)}\n`,
  );
  return file;
}

describe("plugin.json is read only as a regular file inside the folder, of bounded size (53)", () => {
  it("refuses a plugin.json that is a symlink out of the folder, without quoting the target", () => {
    const dir = plugin("evil");
    const manifest = path.join(dir, "plugin.json");
    spawnSync("rm", [manifest]);
    symlinkSync(path.join(root, "secret.txt"), manifest);
    const { rejected } = discoverPlugins(plugins);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.error).toMatchObject({ code: "MANIFEST_INVALID" });
    expect(rejected[0]!.error.message).toBe(
      `Cannot read manifest ${manifest}: it is outside the plugin's folder ${dir} (directly or through a symlink)`,
    );
    expect(rejected[0]!.error.message).not.toContain("root:x");
  });

  it("refuses a plugin.json that is a symlink to another plugin's manifest", () => {
    plugin("canary");
    const dir = plugin("evil");
    spawnSync("rm", [path.join(dir, "plugin.json")]);
    symlinkSync(path.join(plugins, "canary", "plugin.json"), path.join(dir, "plugin.json"));
    expect(thrownRoseyError(() => readManifest(dir)).message).toMatch(/it is outside the plugin's folder/);
  });

  it("refuses a plugin.json over MAX_MANIFEST_BYTES before reading it, naming its size and the limit", () => {
    const dir = plugin("evil");
    sparse(path.join(dir, "plugin.json"), MAX_MANIFEST_BYTES + 1);
    const err = thrownRoseyError(() => readManifest(dir));
    expect(err).toMatchObject({
      code: "MANIFEST_INVALID",
      details: { bytes: MAX_MANIFEST_BYTES + 1, limit: MAX_MANIFEST_BYTES },
    });
    expect(err.message).toBe(
      `Cannot read manifest ${path.join(dir, "plugin.json")}: it is ${MAX_MANIFEST_BYTES + 1} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`,
    );
  });

  it("still accepts a plugin folder that is itself a symlink (the operator's link), its files inside it", () => {
    const real = writePluginFolder(path.join(root, "elsewhere"), "linked");
    symlinkSync(real, path.join(plugins, "linked"));
    expect(discoverPlugins(plugins).plugins.map((p) => p.manifest.name)).toEqual(["linked"]);
  });
});

describe("migrations are read only as regular files inside the folder, of bounded size (54, 55)", () => {
  it("refuses a migration that is a symlink out of the plugin's folder", () => {
    const dir = plugin("evil");
    const file = path.join(migrationsOf(dir), "001_steal.sql");
    writeFileSync(path.join(root, "outside.sql"), "CREATE TABLE evil_x (a INT);");
    symlinkSync(path.join(root, "outside.sql"), file);
    const err = thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite"));
    expect(err.code).toBe("VALIDATION_FAILED");
    expect(err.message).toBe(
      `Cannot read migration of 'evil' ${file}: it is outside the plugin's folder ${dir} (directly or through a symlink)`,
    );
  });

  it("refuses a migrations folder that is a symlink to another plugin's migrations", () => {
    const vault = plugin("vault");
    writeFileSync(path.join(migrationsOf(vault), "001_init.sql"), "CREATE TABLE vault_x (a INT);");
    const dir = plugin("evil");
    symlinkSync(path.join(vault, "migrations"), path.join(dir, "migrations"));
    const err = thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite"));
    expect(err.code).toBe("VALIDATION_FAILED");
    expect(err.message).toMatch(
      /^Cannot load migrations of 'evil' as .*evil\/migrations must be a folder inside the plugin's folder/,
    );
  });

  it("refuses a 'migrations' that is a file, with a RoseyError", () => {
    const dir = plugin("evil");
    writeFileSync(path.join(dir, "migrations"), "not a folder");
    expect(thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite")).code).toBe(
      "VALIDATION_FAILED",
    );
  });

  it("refuses a FIFO named like a migration at once, instead of blocking the core's thread on it", () => {
    const dir = plugin("evil");
    const fifo = path.join(migrationsOf(dir), "001_hang.sql");
    mkfifo(fifo);
    holdFifo(fifo);
    const started = Date.now();
    const err = thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite"));
    expect(Date.now() - started).toBeLessThan(500);
    expect(err.message).toBe(
      `Cannot read migration of 'evil' ${fifo}: it is not a regular file (a directory, FIFO, socket or device)`,
    );
  });

  it("refuses a directory named like a migration", () => {
    const dir = plugin("evil");
    mkdirSync(path.join(migrationsOf(dir), "001_dir.sql"));
    expect(thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite")).message).toMatch(
      /001_dir\.sql: it is not a regular file/,
    );
  });

  it("refuses a migration over MAX_MIGRATION_BYTES, and migrations over MAX_MIGRATIONS_TOTAL_BYTES in all", () => {
    const dir = plugin("evil");
    const folder = migrationsOf(dir);
    sparse(path.join(folder, "001_big.sql"), MAX_MIGRATION_BYTES + 1);
    expect(thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite"))).toMatchObject({
      code: "VALIDATION_FAILED",
      message: expect.stringMatching(
        new RegExp(
          `001_big\\.sql: it is ${MAX_MIGRATION_BYTES + 1} bytes, over the ${MAX_MIGRATION_BYTES}-byte limit$`,
        ),
      ),
    });

    spawnSync("rm", [path.join(folder, "001_big.sql")]);
    const each = MAX_MIGRATION_BYTES;
    const count = Math.floor(MAX_MIGRATIONS_TOTAL_BYTES / each) + 1;
    for (let v = 1; v <= count; v++) {
      // Real SQL padded with a comment, so each file is valid on its own.
      const sql = "CREATE TABLE evil_x (a INT);\n-- ";
      writeFileSync(
        path.join(folder, `${String(v).padStart(3, "0")}_m.sql`),
        sql + "x".repeat(each - sql.length),
      );
    }
    expect(thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite")).message).toMatch(
      new RegExp(
        `together they are over the ${MAX_MIGRATIONS_TOTAL_BYTES}-byte limit \\(reached at ${String(count).padStart(3, "0")}_m\\.sql\\)`,
      ),
    );
  });

  it("still reads an ordinary migration (and one symlinked inside the folder)", () => {
    const dir = plugin("fine");
    const folder = migrationsOf(dir);
    writeFileSync(path.join(dir, "v1.sql"), "CREATE TABLE fine_x (a INT);\n-- DOWN\nDROP TABLE fine_x;\n");
    symlinkSync(path.join(dir, "v1.sql"), path.join(folder, "001_init.sql"));
    const set = loadPluginMigrations("fine", dir, "sqlite");
    expect(set.migrations.map((m) => m.description)).toEqual(["init"]);
  });
});

describe("bundling reads only regular files, of bounded size (56)", () => {
  it("refuses an import of a FIFO inside the folder instead of never finishing the build", async () => {
    const dir = plugin("evil");
    const fifo = path.join(dir, "data.js");
    mkfifo(fifo);
    holdFifo(fifo);
    writeFileSync(path.join(dir, "index.js"), 'import d from "./data.js"; export default { d };');
    const load = bundlePlugin(path.join(dir, "index.js"), dir);
    await expect(load).rejects.toMatchObject({ code: "PLUGIN_LOAD_FAILED" });
    await expect(load).rejects.toThrow(/cannot import 'data\.js': it is not a regular file/);
  });

  it("refuses sources over MAX_SOURCE_BYTES before esbuild reads them", async () => {
    const dir = plugin("evil");
    // A comment: it would bundle to nothing, so only the source check can refuse it.
    writeFileSync(path.join(dir, "big.js"), `//${"x".repeat(MAX_SOURCE_BYTES)}\nexport default 1;\n`);
    writeFileSync(path.join(dir, "index.js"), 'import b from "./big.js"; export default { b };');
    await expect(bundlePlugin(path.join(dir, "index.js"), dir)).rejects.toThrow(
      new RegExp(
        `cannot import 'big\\.js' \\(\\d+ bytes\\): the plugin's source files together are over the ${MAX_SOURCE_BYTES}-byte limit`,
      ),
    );
  });
});

describe("text from a plugin's folder never reaches the operator's terminal raw (57, 58)", () => {
  it("escapeControls and terminalSafe make C0, C1, DEL and bidi controls visible", () => {
    const text = `a${ESC}[2J\u009b31m\u202e\u0007\u007f\r\n\tz`;
    expect(escapeControls(text)).toBe("a\\u001b[2J\\u009b31m\\u202e\\u0007\\u007f\\u000d\\u000a\\u0009z");
    expect(terminalSafe(text)).toBe("a\\u001b[2J\\u009b31m\\u202e\\u0007\\u007f\\u000d\n\tz");
  });

  it("a manifest key with escapes and a newline: `rosey audit` and `rosey config check` show it escaped, on one line", async () => {
    plugin("evil", { [`x${OSC_TITLE}\n  - forged line`]: 1 });
    const cfg = configFile();
    let audit = "";
    await auditCommand({ config: cfg, env: {}, write: (t) => (audit += t) });
    let json = "";
    await auditCommand({ config: cfg, env: {}, json: true, write: (t) => (json += t) });
    let check = "";
    await configCheck(cfg, { stdout: (t) => (check += t), stderr: (t) => (check += t) });
    for (const out of [audit, json, check]) {
      expect(out).not.toContain(ESC);
      expect(out).not.toMatch(/^\s*- forged line/m);
    }
    expect(audit).toContain(
      "must NOT have additional properties 'x\\u001b]0;pwned\\u001b\\\\u000a  - forged line'",
    );
  });

  it("a plugin.json that starts with escapes: V8's quote of it is escaped", async () => {
    const dir = plugin("evil");
    writeFileSync(path.join(dir, "plugin.json"), `${OSC_TITLE}{}`);
    let audit = "";
    await auditCommand({ config: configFile(), env: {}, write: (t) => (audit += t) });
    expect(audit).not.toContain(ESC);
    expect(audit).toMatch(/REJECTED .*evil: Cannot read .*plugin\.json: Unexpected token '\\u001b'/);
  });

  it("an import specifier with escapes is escaped in the load error", async () => {
    const dir = plugin("evil");
    writeFileSync(
      path.join(dir, "index.js"),
      `import x from ${JSON.stringify(`pkg${OSC_TITLE}`)}; export default { x };`,
    );
    const err = await bundlePlugin(path.join(dir, "index.js"), dir).then(
      () => new Error("it bundled"),
      (e: unknown) => e as Error,
    );
    expect(err.message).not.toContain(ESC);
    expect(err.message).toContain("cannot import 'pkg\\u001b]0;pwned\\u001b\\'");
  });

  it("SQL with escapes, quoted in a migration's issues, is escaped in `rosey migrate status`", () => {
    const dir = plugin("evil");
    writeFileSync(path.join(migrationsOf(dir), "001_x.sql"), `${CLEAR}HELLO world;\n`);
    const set = loadPluginMigrations("evil", dir, "sqlite");
    const status: MigrationStatus = {
      plugin: "evil",
      currentVersion: 0,
      availableVersion: 1,
      applied: [],
      pending: [],
      rolledBack: [],
      issues: set.migrations[0]!.issues.map((i) => ({ ...i, version: 1 })),
    };
    const text = formatStatus(status);
    expect(text).not.toContain(ESC);
    expect(text).toContain("Unknown or disallowed statement '\\u001b[2J\\u001b[HHELLO world…'");
  });

  it("a migration file name with a C1 control (which JSON.stringify leaves raw) is escaped", () => {
    const dir = plugin("evil");
    writeFileSync(path.join(migrationsOf(dir), "001_x\u009b2J.sql"), "CREATE TABLE evil_x (a INT);");
    const err = thrownRoseyError(() => loadPluginMigrations("evil", dir, "sqlite"));
    expect(err.message).not.toContain("\u009b");
    expect(err.message).toContain('current value is "001_x\\u009b2J.sql"');
  });
});
