import { existsSync } from "node:fs";
import os from "node:os";
import { escapeControls, terminalSafe } from "../../sandbox/escape-text.js";
import { createBus } from "../bus.js";
import { loadConfig } from "../config/load.js";
import type { RoseyConfig } from "../config/schema.js";
import { openDatabase, resolveDatabaseTarget } from "../db/connection.js";
import { pluginMigrationSet } from "../db/database-service.js";
import type { DbReply } from "../db/kv-protocol.js";
import { isRoseyError, RoseyError } from "../errors.js";
import { silentLogger } from "../logger.js";
import { CORE_OWNER, loadCoreMigrations } from "./files.js";
import { type PurgeResult, purgePlugin } from "./purge.js";
import { MigrationRunner, type MigrationStatus, type RunResult } from "./runner.js";

/**
 * `rosey migrate <plugin> status|apply|rollback [--to N] [--count N] [--dry-run]` and
 * `rosey migrate <plugin> purge [--yes]`.
 * With a NATS URL configured and a database service answering, the request goes over the bus
 * (`rosey.db.migrate.<plugin>.<action>`); otherwise the CLI opens the database itself (the runner's lock
 * keeps it safe beside a running service). Prints a report and returns the exit code.
 */

export const MIGRATE_ACTIONS = ["status", "apply", "rollback", "purge"] as const;
export type MigrateAction = (typeof MIGRATE_ACTIONS)[number];

export interface MigrateCommandOptions {
  config?: string | undefined;
  to?: string | number | undefined;
  count?: string | number | undefined;
  dryRun?: boolean | undefined;
  /** purge: drop and delete (without it, purge only lists). */
  yes?: boolean | undefined;
  json?: boolean | undefined;
  /** Where the report goes. @default process.stdout */
  out?: NodeJS.WritableStream;
}

function intOption(name: string, value: string | number | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot migrate as '--${name}' must be an integer >= ${min}: current value is ${JSON.stringify(value)}`,
    );
  }
  return n;
}

export async function runMigrateCommand(
  plugin: string,
  action: string,
  options: MigrateCommandOptions = {},
): Promise<number> {
  const out = options.out ?? process.stdout;
  if (!(MIGRATE_ACTIONS as readonly string[]).includes(action)) {
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Unknown migrate action '${action}': one of ${MIGRATE_ACTIONS.join(", ")}`,
    );
  }
  const request = requestOf(action as MigrateAction, options);
  const { config } = loadConfig({ file: options.config });
  const actor = `cli:${safeUser()}`;
  const viaService = await viaBus(config, plugin, action as MigrateAction, request, actor);
  const { result, absent } =
    viaService !== undefined
      ? { result: viaService, absent: undefined }
      : await direct(config, plugin, action as MigrateAction, request, actor);
  // Issues quote the plugin's SQL: no control character reaches the terminal.
  if (options.json) out.write(terminalSafe(`${JSON.stringify(result, null, 2)}\n`));
  else {
    const note = absent
      ? `(no database at ${absent} yet: shown against an empty one, nothing created)\n`
      : "";
    out.write(terminalSafe(`${note}${format(action as MigrateAction, result)}\n`));
  }
  return 0;
}

/** The bus request's data; an option that does not apply to the action is an error, not ignored. */
function requestOf(action: MigrateAction, options: MigrateCommandOptions): MigrateRequest {
  const misplaced = (
    action === "purge"
      ? ([
          ["to", options.to !== undefined],
          ["count", options.count !== undefined],
          ["dry-run", !!options.dryRun],
        ] as const)
      : ([["yes", !!options.yes]] as const)
  ).find(([, given]) => given);
  if (misplaced) {
    const why =
      action === "purge" ? "purge without --yes is already a dry run" : "only purge asks for confirmation";
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot ${action} as '--${misplaced[0]}' does not apply to ${action}: ${why}`,
    );
  }
  if (action === "purge") return { yes: options.yes || undefined };
  return {
    to_version: intOption("to", options.to, 0),
    count: intOption("count", options.count, 1),
    dry_run: options.dryRun || undefined,
  };
}

interface MigrateRequest {
  to_version?: number | undefined;
  count?: number | undefined;
  dry_run?: boolean | undefined;
  yes?: boolean | undefined;
}

function format(action: MigrateAction, result: unknown): string {
  if (action === "status") return formatStatus(result as MigrationStatus);
  if (action === "purge") return formatPurge(result as PurgeResult);
  return formatRun(result as RunResult);
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return "unknown";
  }
}

async function viaBus(
  config: Readonly<RoseyConfig>,
  plugin: string,
  action: MigrateAction,
  request: MigrateRequest,
  actor: string,
): Promise<unknown | undefined> {
  if (!config.nats.url) return undefined;
  const bus = await createBus({
    url: config.nats.url,
    source: actor,
    logger: silentLogger(),
    maxReconnectAttempts: 0,
    connectTimeoutMs: config.nats.connectTimeoutMs,
  }).catch(() => undefined);
  if (!bus) return undefined;
  try {
    const reply = await bus.request<DbReply<unknown>>(`rosey.db.migrate.${plugin}.${action}`, request, {
      timeoutMs: 130_000,
    });
    if (!reply.data.success) throw new RoseyError(reply.data.error.code, reply.data.error.message);
    return reply.data.data;
  } catch (err) {
    if (isRoseyError(err, "NO_RESPONDERS")) return undefined;
    throw err;
  } finally {
    await bus.close();
  }
}

async function direct(
  config: Readonly<RoseyConfig>,
  plugin: string,
  action: MigrateAction,
  request: MigrateRequest,
  actor: string,
): Promise<{ result: unknown; absent: string | undefined }> {
  const target = resolveDatabaseTarget(config);
  // A look (status, a dry run) must not create the database: with no file yet, it looks at an empty one in memory.
  const look = action === "status" || request.dry_run === true;
  const absent = look && target.engine === "sqlite" && !existsSync(target.file) ? target.file : undefined;
  const db = await openDatabase(absent ? { engine: "sqlite", file: ":memory:" } : target);
  try {
    const runner = new MigrationRunner(db, { actor });
    await runner.applyCore(loadCoreMigrations(db.engine));
    const result = await (async () => {
      if (action === "purge") return await purgePlugin(db, plugin, { config, actor, yes: request.yes });
      const set = pluginMigrationSet(config.plugins.directory, plugin, db);
      const run = { toVersion: request.to_version, count: request.count, dryRun: request.dry_run };
      if (action === "status") return await runner.status(set);
      return action === "apply" ? await runner.apply(set, run) : await runner.rollback(set, run);
    })();
    return { result, absent };
  } finally {
    await db.close();
  }
}

function formatIssues(issues: MigrationStatus["issues"]): string[] {
  return issues.map(
    // One line each: the message may quote the plugin's SQL, control characters and all.
    (i) =>
      `  ${i.level.padEnd(7)} v${i.version} ${i.section.toUpperCase()} line ${i.line}: ${escapeControls(i.message)}`,
  );
}

export function formatStatus(s: MigrationStatus): string {
  const lines = [`${s.plugin}: at version ${s.currentVersion} of ${s.availableVersion}`];
  for (const a of s.applied)
    lines.push(
      `  applied  ${String(a.version).padStart(3, "0")} ${a.description}  (${a.appliedAt} by ${a.appliedBy})`,
    );
  for (const p of s.pending) lines.push(`  pending  ${String(p.version).padStart(3, "0")} ${p.description}`);
  if (s.issues.length) lines.push("issues:", ...formatIssues(s.issues));
  return lines.join("\n");
}

export function formatRun(r: RunResult): string {
  const verb =
    r.action === "apply"
      ? r.dryRun
        ? "Would apply"
        : "Applied"
      : r.dryRun
        ? "Would roll back"
        : "Rolled back";
  const head = r.versions.length
    ? `${r.dryRun ? "[dry-run] " : ""}${verb} ${r.plugin} ${r.versions.join(", ")}; now at version ${r.currentVersion}`
    : `${r.plugin}: nothing to ${r.action === "apply" ? "apply" : "roll back"}; at version ${r.currentVersion}`;
  const section = r.action === "apply" ? "up" : "down";
  return [head, ...formatIssues(r.issues.filter((i) => i.section === section))].join("\n");
}

export function formatPurge(r: PurgeResult): string {
  const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const tables = count(r.tables.length, "table");
  const rows = `${count(r.records, "record")} and ${count(r.migrations, "migration row")}`;
  const lines = [
    r.dryRun
      ? `[dry-run] Would purge ${r.plugin} (prefix ${r.prefix}): drop ${tables}; delete ${rows}`
      : `Purged ${r.plugin} (prefix ${r.prefix}): dropped ${tables}; deleted ${rows}`,
  ];
  // Table names come from the database: a plugin's migration chose them.
  for (const t of r.tables) lines.push(`  ${r.dryRun ? "drop" : "dropped"}  ${escapeControls(t)}`);
  for (const k of r.kept)
    lines.push(
      `  kept  ${escapeControls(k.table)}  (${k.owner === CORE_OWNER ? "Rosey's own table" : `under the prefix of '${k.owner}'`})`,
    );
  if (r.dryRun && (r.tables.length || r.records || r.migrations))
    lines.push(`Nothing was changed. Run \`rosey migrate ${r.plugin} purge --yes\` to drop and delete them.`);
  return lines.join("\n");
}
