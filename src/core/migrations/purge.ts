import path from "node:path";
import type { RoseyConfig } from "../config/schema.js";
import { type Database, liftStatementTimeout, type Tx } from "../db/connection.js";
import { isRoseyError, RoseyError } from "../errors.js";
import { discoverPlugins } from "../plugins/manifest.js";
import { isPluginEnabled } from "../plugins/preflight.js";
import { PLUGIN_NAME } from "../subjects.js";
import { CORE_OWNER } from "./files.js";
import { LOCK_DEFAULTS, withMigrationLock } from "./lock.js";
import { dbMessage } from "./runner.js";
import { CORE_TABLES, tablePrefix } from "./validator.js";

/**
 * `rosey migrate <plugin> purge`: removes what a plugin left in the database once its folder is gone — its
 * tables, its `plugin_records` rows and its ledger rows — in one transaction, under the plugin's migration
 * lock. Without `yes` it only lists what it would remove.
 *
 * Its tables are those under its prefix, less those under the longer prefix of another ledger owner or
 * installed plugin (`vault`'s purge keeps `vault_keys_*` while `vault-keys` has migrations or a folder) and
 * less the core schema's (a plugin named `plugin` has the prefix of `plugin_records`). Which owner created a
 * table is not recorded, so a table a plugin named under another's longer prefix stays, listed as kept.
 *
 * A plugin that is installed and enabled is refused (PLUGIN_ENABLED): its worker may be using the very
 * tables, and a rollback runs its own DOWN SQL instead. There is deliberately no `--force`: disabling it
 * (`enabled: false`) is the explicit way, and stops it first. A disabled plugin's data may be purged; when
 * enabled again its migrations run from the start.
 */

export interface PurgeOptions {
  /** For the plugins folder and which plugins are enabled. */
  config: Readonly<RoseyConfig>;
  /** Who asks (holds the lock): `cli:<user>`, or the requester's source. */
  actor: string;
  /** Drop and delete; without it, only list. */
  yes?: boolean | undefined;
  /** How long to wait for another runner's lock. @default 10000 */
  lockTimeoutMs?: number | undefined;
}

export interface PurgeResult {
  plugin: string;
  action: "purge";
  /** True unless asked with `yes`: nothing was changed. */
  dryRun: boolean;
  prefix: string;
  /** Tables dropped (or that a purge would drop), by name. */
  tables: string[];
  /** Tables under the prefix that are left, with the owner they are left to (`@core` for the core's). */
  kept: Array<{ table: string; owner: string }>;
  /** `plugin_records` rows deleted (or that would be). */
  records: number;
  /** Ledger rows (`plugin_schema_migrations`) deleted (or that would be). */
  migrations: number;
}

/**
 * @throws {RoseyError} VALIDATION_FAILED for a name that is no plugin's; PLUGIN_ENABLED when its folder is
 * installed and enabled; CONFIG_INVALID when the plugins folder cannot be read (installed plugins are
 * needed to tell their tables apart); LOCK_TIMEOUT; MIGRATION_FAILED when the database refuses a drop
 * (e.g. another owner's table references one of them): then nothing was changed.
 */
export async function purgePlugin(db: Database, plugin: string, options: PurgeOptions): Promise<PurgeResult> {
  if (!PLUGIN_NAME.test(plugin)) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot purge ${JSON.stringify(plugin)} as plugin names must match ${PLUGIN_NAME}`,
    );
  }
  const pluginsDir = options.config.plugins.directory;
  const { plugins, rejected } = discoverPlugins(pluginsDir);
  const installed = [...plugins, ...rejected]
    .map((p) => path.basename(p.dir))
    .filter((name) => PLUGIN_NAME.test(name));
  if (installed.includes(plugin) && isPluginEnabled(options.config, plugin)) {
    throw new RoseyError(
      "PLUGIN_ENABLED",
      `Cannot purge '${plugin}' as it is installed (${path.join(pluginsDir, plugin)}) and enabled: purging would drop tables it is using. ` +
        `Roll its migrations back instead (\`rosey migrate ${plugin} rollback --to 0\`), or disable it (plugins.entries.${plugin}.enabled: false) or remove its folder, then purge`,
      { details: { plugin } },
    );
  }
  const lock = {
    ...LOCK_DEFAULTS,
    actor: options.actor,
    timeoutMs: options.lockTimeoutMs ?? LOCK_DEFAULTS.timeoutMs,
  };
  const dryRun = !options.yes;
  try {
    return await withMigrationLock(db, plugin, lock, () =>
      db.prisma.$transaction(
        async (tx) => {
          await liftStatementTimeout(db, tx);
          const plan = await planPurge(db, tx, plugin, installed);
          if (dryRun) return plan;
          await dropTables(db, tx, plan.tables);
          const records = await tx.pluginRecord.deleteMany({ where: { plugin } });
          const migrations = await tx.pluginSchemaMigration.deleteMany({ where: { pluginName: plugin } });
          return { ...plan, dryRun, records: records.count, migrations: migrations.count };
        },
        { timeout: 120_000, maxWait: 30_000 },
      ),
    );
  } catch (err) {
    if (isRoseyError(err)) throw err;
    throw new RoseyError(
      "MIGRATION_FAILED",
      `Cannot purge '${plugin}': ${dbMessage(err)}. Nothing was dropped or deleted (the transaction was rolled back)`,
      { cause: err, details: { plugin } },
    );
  }
}

/** What a purge removes, read inside its transaction. */
async function planPurge(db: Database, tx: Tx, plugin: string, installed: string[]): Promise<PurgeResult> {
  const prefix = tablePrefix(plugin);
  // SQLite compares names without case, as the migration checks do there; PostgreSQL's names are exact.
  const fold = (name: string) => (db.engine === "sqlite" ? name.toLowerCase() : name);
  const owners = await tx.pluginSchemaMigration.findMany({
    where: { pluginName: { notIn: [plugin, CORE_OWNER] } },
    distinct: ["pluginName"],
    select: { pluginName: true },
  });
  // Longest first: a table goes to the most specific prefix that covers it.
  const longer = [...new Set([...owners.map((o) => o.pluginName), ...installed])]
    .filter((other) => other !== plugin)
    .map((other) => ({ owner: other, prefix: tablePrefix(other) }))
    .filter((o) => o.prefix.length > prefix.length && o.prefix.startsWith(prefix))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const core = new Set(CORE_TABLES);
  const tables: string[] = [];
  const kept: PurgeResult["kept"] = [];
  for (const table of await tableNames(db, tx)) {
    const name = fold(table);
    if (!name.startsWith(prefix)) continue;
    const owner = core.has(name) ? CORE_OWNER : longer.find((o) => name.startsWith(o.prefix))?.owner;
    if (owner) kept.push({ table, owner });
    else tables.push(table);
  }
  const dropped = new Set(tables.map(fold));
  const blocking = (await foreignKeys(db, tx)).filter(
    (fk) => dropped.has(fold(fk.parent)) && !dropped.has(fold(fk.child)),
  );
  if (blocking.length > 0) {
    const list = blocking.map((fk) => `'${fk.child}' references '${fk.parent}'`).join(", ");
    throw new RoseyError(
      "MIGRATION_FAILED",
      `Cannot purge '${plugin}' as tables that stay have foreign keys to tables it would drop (${list}): drop or change those first. Nothing was dropped or deleted`,
      { details: { plugin, blocking } },
    );
  }
  return {
    plugin,
    action: "purge",
    dryRun: true,
    prefix,
    tables,
    kept,
    records: await tx.pluginRecord.count({ where: { plugin } }),
    migrations: await tx.pluginSchemaMigration.count({ where: { pluginName: plugin } }),
  };
}

async function tableNames(db: Database, tx: Tx): Promise<string[]> {
  const rows =
    db.engine === "sqlite"
      ? await tx.$queryRawUnsafe<Array<{ name: string }>>(
          "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        )
      : await tx.$queryRawUnsafe<Array<{ name: string }>>(
          `SELECT c.relname::text AS name FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
        );
  return rows.map((r) => r.name);
}

/**
 * Every foreign key of the schema, child table → parent table. A purge checks them first: on SQLite a
 * dangling reference would only fail at commit, and a failed COMMIT leaves the transaction open.
 */
async function foreignKeys(db: Database, tx: Tx): Promise<Array<{ child: string; parent: string }>> {
  if (db.engine === "postgresql") {
    return tx.$queryRawUnsafe<Array<{ child: string; parent: string }>>(
      `SELECT ch.relname::text AS child, pa.relname::text AS parent FROM pg_catalog.pg_constraint c
         JOIN pg_catalog.pg_class ch ON ch.oid = c.conrelid
         JOIN pg_catalog.pg_class pa ON pa.oid = c.confrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = pa.relnamespace
        WHERE c.contype = 'f' AND n.nspname = current_schema()`,
    );
  }
  return tx.$queryRawUnsafe<Array<{ child: string; parent: string }>>(
    `SELECT m.name AS child, f."table" AS parent
       FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`,
  );
}

async function dropTables(db: Database, tx: Tx, tables: string[]): Promise<void> {
  if (tables.length === 0) return;
  const quoted = tables.map((t) => `"${t.replaceAll('"', '""')}"`);
  if (db.engine === "postgresql") {
    // One statement: references among the dropped tables do not block it; a reference from a table that
    // stays does (no CASCADE, which would quietly drop another owner's constraint).
    await tx.$executeRawUnsafe(`DROP TABLE ${quoted.join(", ")}`);
    return;
  }
  // SQLite drops one table at a time, each first deleting its rows: with foreign keys between the plugin's
  // tables, a parent dropped before its child would fail. Deferred, they are checked at commit, when both
  // are gone.
  await tx.$executeRawUnsafe("PRAGMA defer_foreign_keys = ON");
  for (const table of quoted) await tx.$executeRawUnsafe(`DROP TABLE ${table}`);
}
