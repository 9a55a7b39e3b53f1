import { existsSync } from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import type { RoseyConfig } from "../config/schema.js";
import { errorMessage } from "../errors.js";
import { loadCoreMigrations } from "../migrations/files.js";
import {
  type Catalog,
  databaseNotEmptyError,
  findClashes,
  hasCoreHistory,
} from "../migrations/foreign-schema.js";
import { redactUrl } from "../redact-url.js";
import { type Engine, resolveDatabaseTarget, sqliteCatalog } from "./connection.js";

export interface DatabaseFinding {
  level: "error";
  where: string;
  message: string;
}

export interface DatabaseFindingsOptions {
  /**
   * Also connect to the PostgreSQL server `database.url` names (a read-only session) and check it as the
   * migration runner would. Off by default: a check is no reason to reach a production server unasked.
   */
  connect?: boolean;
}

/** How long `--connect` waits for PostgreSQL to accept the connection. */
const PG_CONNECT_TIMEOUT_MS = 5_000;

/**
 * `rosey config check`: whether `rosey start` would refuse the database the config names, found without
 * changing it. An existing SQLite file is opened read-only and checked as the migration runner would
 * (DATABASE_NOT_EMPTY: another program's database, such as the one `rosey config migrate` carries over from
 * the Python Rosey-Robot); so is a PostgreSQL database when `connect` is asked, which also finds a server
 * that is down, refuses the credentials or has no such database. `config` is as `rosey start` sees it, with
 * the environment's overrides (`DATABASE_URL`) applied.
 */
export async function databaseFindings(
  config: Readonly<RoseyConfig>,
  options: DatabaseFindingsOptions = {},
): Promise<DatabaseFinding[]> {
  if (!config.database.enabled) return [];
  const where = config.database.url ? "database.url" : config.database.path ? "database.path" : "dataDir";
  let target: ReturnType<typeof resolveDatabaseTarget>;
  try {
    target = resolveDatabaseTarget(config, {});
  } catch (err) {
    return [{ level: "error", where, message: errorMessage(err) }];
  }
  if (target.engine === "postgresql") return options.connect ? postgresFindings(target.url, where) : [];
  const file = target.file;
  if (!existsSync(file)) return [];
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    return await schemaFindings(sqliteCatalog(db), "sqlite", file, where);
  } catch (err) {
    return [
      { level: "error", where, message: `Cannot read the SQLite database ${file}: ${errorMessage(err)}` },
    ];
  } finally {
    db?.close();
  }
}

async function postgresFindings(url: string, where: string): Promise<DatabaseFinding[]> {
  const description = redactUrl(url);
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PG_CONNECT_TIMEOUT_MS });
  // A failed connection also surfaces as an 'error' event, which would otherwise crash the CLI.
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
    const catalog: Catalog = {
      engine: "postgresql",
      query: async (sql, params) => (await client.query(sql, params)).rows,
    };
    return await schemaFindings(catalog, "postgresql", description, where);
  } catch (err) {
    return [
      {
        level: "error",
        where,
        message: `Cannot check the PostgreSQL database ${description}: ${redactUrl(errorMessage(err))}`,
      },
    ];
  } finally {
    await client.end().catch(() => {});
  }
}

async function schemaFindings(
  catalog: Catalog,
  engine: Engine,
  database: string,
  where: string,
): Promise<DatabaseFinding[]> {
  if (await hasCoreHistory(catalog)) return [];
  const clashes = await findClashes(catalog, loadCoreMigrations(engine));
  if (clashes.length === 0) return [];
  return [{ level: "error", where, message: databaseNotEmptyError(engine, database, clashes).message }];
}
