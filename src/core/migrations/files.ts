import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { escapeControls } from "../../sandbox/escape-text.js";
import type { Engine } from "../db/connection.js";
import { errorMessage, RoseyError } from "../errors.js";
import { PACKAGE_ROOT } from "../paths.js";
import {
  isInside,
  MAX_MIGRATION_BYTES,
  MAX_MIGRATIONS_TOTAL_BYTES,
  readPluginFile,
  realPath,
} from "../plugins/plugin-files.js";
import { PLUGIN_NAME } from "../subjects.js";
import type { Statement } from "./sql.js";
import { splitSections } from "./sql.js";
import { tablePrefix, type ValidationIssue, validateMigration } from "./validator.js";

/** One migration file, parsed and validated (not yet compared with the ledger). */
export interface MigrationFile {
  version: number;
  description: string;
  /** Absolute path. */
  file: string;
  /** SHA-256 (hex) of the file's bytes, as stored in the ledger. */
  checksum: string;
  up: Statement[];
  down: Statement[];
  issues: ValidationIssue[];
}

/** Everything one owner (a plugin, or the core schema) can migrate. */
export interface MigrationSet {
  /** Ledger `plugin_name`: the plugin's name, or `@core`. */
  owner: string;
  engine: Engine;
  /** Table prefix its migrations are held to; `undefined` for the core schema. */
  prefix: string | undefined;
  /** Ascending by version. */
  migrations: MigrationFile[];
}

/** The ledger owner of the core schema; `@` keeps it apart from every valid plugin name. */
export const CORE_OWNER = "@core";
/** `prisma/migrations`, beside `prisma/schema.prisma`. */
export const CORE_MIGRATIONS_DIR = path.join(PACKAGE_ROOT, "prisma", "migrations");

const FILE_NAME = /^(\d{3,})_([a-z0-9][a-z0-9_]*)\.sql$/;

export function checksumOf(bytes: string | Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * CHECKSUM_MISMATCH when a migration the ledger records as applied changed or disappeared since: it blocks
 * status, apply and rollback alike (also reported by `rosey audit`).
 */
export function checksumMismatch(
  set: MigrationSet,
  rows: ReadonlyArray<{ version: number; description: string; checksum: string; status: string }>,
): RoseyError | undefined {
  const problems: string[] = [];
  for (const row of rows) {
    if (row.status !== "applied") continue;
    const file = set.migrations.find((m) => m.version === row.version);
    if (!file) problems.push(`version ${row.version} (${row.description}) is applied but its file is gone`);
    else if (file.checksum !== row.checksum) {
      problems.push(
        `version ${row.version} (${file.file}) changed after it was applied: sha256 ${file.checksum.slice(0, 12)}… is not the recorded ${row.checksum.slice(0, 12)}…`,
      );
    }
  }
  if (problems.length === 0) return undefined;
  return new RoseyError(
    "CHECKSUM_MISMATCH",
    `Cannot migrate '${set.owner}': ${problems.join("; ")}. Restore the original file(s) or roll back with the original files first`,
    { details: { plugin: set.owner, problems } },
  );
}

/**
 * Reads `<pluginDir>/migrations/NNN_description.sql`. A folder without migrations gives an empty set.
 * The plugin's author wrote these files, and the core reads them: the folder and each file must resolve
 * (symlinks followed) to inside the plugin's folder, each file must be a regular file of at most
 * `MAX_MIGRATION_BYTES`, all of them together at most `MAX_MIGRATIONS_TOTAL_BYTES` (plugin-files.ts).
 * @throws {RoseyError} VALIDATION_FAILED for a misnamed, refused or oversized file, a `migrations` that is
 *   not a folder inside the plugin's, or a duplicated version.
 */
export function loadPluginMigrations(plugin: string, pluginDir: string, engine: Engine): MigrationSet {
  if (!PLUGIN_NAME.test(plugin)) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot migrate plugin ${JSON.stringify(plugin)}: not a valid plugin name`,
    );
  }
  const dir = path.join(pluginDir, "migrations");
  const prefix = tablePrefix(plugin);
  const set: MigrationSet = { owner: plugin, engine, prefix, migrations: [] };
  if (!existsSync(dir)) return set;
  const realDir = realPath(dir);
  const realRoot = realPath(pluginDir);
  if (!realDir || !realRoot || !isInside(realDir, realRoot) || !statSync(realDir).isDirectory()) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot load migrations of '${plugin}' as ${escapeControls(dir)} must be a folder inside the plugin's folder (not a file, nor a symlink out of it)`,
    );
  }
  const seen = new Map<number, string>();
  let total = 0;
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith(".sql")) continue;
    const match = FILE_NAME.exec(name);
    if (!match) {
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Cannot load migrations of '${plugin}' as file names must be NNN_description.sql (lowercase): current value is ${escapeControls(JSON.stringify(name))}`,
      );
    }
    const version = Number(match[1]);
    const clash = seen.get(version);
    if (clash) {
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Cannot load migrations of '${plugin}' as version ${version} appears twice: ${clash} and ${name}`,
      );
    }
    seen.set(version, name);
    const file = path.join(dir, name);
    const bytes = readPluginFile(file, {
      root: pluginDir,
      maxBytes: MAX_MIGRATION_BYTES,
      code: "VALIDATION_FAILED",
      what: `migration of '${plugin}'`,
    });
    total += bytes.length;
    if (total > MAX_MIGRATIONS_TOTAL_BYTES) {
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Cannot load migrations of '${plugin}' as together they are over the ${MAX_MIGRATIONS_TOTAL_BYTES}-byte limit (reached at ${name})`,
        { details: { limit: MAX_MIGRATIONS_TOTAL_BYTES } },
      );
    }
    const text = bytes.toString("utf8");
    const validation = validateMigration(splitSections(text), { engine, prefix });
    set.migrations.push({
      version,
      description: match[2]!.replaceAll("_", " "),
      file,
      checksum: checksumOf(bytes),
      ...validation,
    });
  }
  set.migrations.sort((a, b) => a.version - b.version);
  return set;
}

/**
 * Reads the core schema's migrations in Prisma's layout: `<dir>/<engine>/<timestamp>_<name>/migration.sql`,
 * applied in folder-name order. Version = position (1-based); the folder name is the description.
 * They have no DOWN section (Prisma migrations are forward-only).
 */
export function loadCoreMigrations(engine: Engine, dir = CORE_MIGRATIONS_DIR): MigrationSet {
  const root = path.join(dir, engine);
  const set: MigrationSet = { owner: CORE_OWNER, engine, prefix: undefined, migrations: [] };
  let folders: string[];
  try {
    folders = readdirSync(root)
      .filter((name) => statSync(path.join(root, name)).isDirectory())
      .sort();
  } catch (err) {
    throw new RoseyError("MIGRATION_FAILED", `Cannot read core migrations in ${root}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  folders.forEach((folder, index) => {
    const file = path.join(root, folder, "migration.sql");
    const bytes = readOrThrow(file);
    const validation = validateMigration(
      { up: bytes.toString("utf8"), down: "", upLine: 1, downLine: 1, hasDownMarker: false },
      { engine, prefix: undefined },
    );
    set.migrations.push({
      version: index + 1,
      description: folder,
      file,
      checksum: checksumOf(bytes),
      up: validation.up,
      down: [],
      // Forward-only by design: the "no DOWN" warning is noise for the core schema.
      issues: validation.issues.filter((i) => i.section === "up"),
    });
  });
  return set;
}

function readOrThrow(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new RoseyError("MIGRATION_FAILED", `Cannot read migration ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}
