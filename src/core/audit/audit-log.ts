import { existsSync } from "node:fs";
import type { RoseyConfig } from "../config/schema.js";
import type { Engine } from "../db/connection.js";
import { ownersWithTables } from "../migrations/owner-clash.js";
import type { AuditLogReader } from "./audit.js";
import { readHistory } from "./history.js";

/**
 * The audit log as the database service persists it (`audit_log`: every `rosey.security.violation` and
 * `rosey.security.audit` event), read by history.ts with aggregates over all of it, and the migration ledger
 * (`plugin_schema_migrations`) over the same connection. Read-only: an audit never creates a database
 * file, and a database that is not there means "no audit log", not an error.
 */
export async function openAuditLog(
  config: Readonly<RoseyConfig>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AuditLogReader | undefined> {
  if (!config.database.enabled) return undefined;
  const { openDatabase, resolveDatabaseTarget } = await import("../db/connection.js");
  const target = resolveDatabaseTarget(config, env);
  if (target.engine === "sqlite" && !existsSync(target.file)) return undefined;
  const db = await openDatabase(target);
  return {
    source: db.description,
    history: (plugin: string) => readHistory(db, plugin),
    ledger: {
      engine: db.engine,
      catalog: {
        engine: db.engine,
        query: (sql, params) => db.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(sql, ...params),
      },
      applied: (plugin: string) =>
        db.prisma.pluginSchemaMigration.findMany({
          where: { pluginName: plugin, status: "applied" },
          select: { version: true, description: true, checksum: true, status: true },
        }),
      owners: () => ownersWithTables(db.prisma),
    },
    close: () => db.close(),
  };
}

/**
 * The engine the config points at, for validating migrations when no database can be opened. A target
 * that cannot be resolved (a bad `database.url`) is the audit log's error to report: SQLite's rules here.
 */
export async function configuredEngine(
  config: Readonly<RoseyConfig>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Engine> {
  const { resolveDatabaseTarget } = await import("../db/connection.js");
  try {
    return resolveDatabaseTarget(config, env).engine;
  } catch {
    return "sqlite";
  }
}
