import { existsSync } from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import type { RoseyConfig } from "../config/schema.js";
import { errorMessage } from "../errors.js";
import { loadCoreMigrations } from "../migrations/files.js";
import { databaseNotEmptyError, findClashes, hasCoreHistory } from "../migrations/foreign-schema.js";
import { resolveDatabaseTarget, sqliteCatalog } from "./connection.js";

export interface DatabaseFinding {
  level: "error";
  where: string;
  message: string;
}

/**
 * `rosey config check`: whether `rosey start` would refuse the database the config names, found without
 * changing it. An existing SQLite file is opened read-only and checked as the migration runner would
 * (DATABASE_NOT_EMPTY: another program's database, such as the one `rosey config migrate` carries over from
 * the Python Rosey-Robot). PostgreSQL is not contacted: a check is no reason to reach a production server.
 * Env overrides are ignored, as for the rest of the file.
 */
export async function databaseFindings(config: Readonly<RoseyConfig>): Promise<DatabaseFinding[]> {
  if (!config.database.enabled) return [];
  const where = config.database.url ? "database.url" : config.database.path ? "database.path" : "dataDir";
  let file: string;
  try {
    const target = resolveDatabaseTarget(config, {});
    if (target.engine !== "sqlite") return [];
    file = target.file;
  } catch (err) {
    return [{ level: "error", where, message: errorMessage(err) }];
  }
  if (!existsSync(file)) return [];
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    const catalog = sqliteCatalog(db);
    if (await hasCoreHistory(catalog)) return [];
    const clashes = await findClashes(catalog, loadCoreMigrations("sqlite"));
    if (clashes.length === 0) return [];
    return [{ level: "error", where, message: databaseNotEmptyError("sqlite", file, clashes).message }];
  } catch (err) {
    return [
      { level: "error", where, message: `Cannot read the SQLite database ${file}: ${errorMessage(err)}` },
    ];
  } finally {
    db?.close();
  }
}
