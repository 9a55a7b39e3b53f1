import BetterSqlite3 from "better-sqlite3";
import type { Statement } from "./sql.js";

/**
 * Confines a plugin's SQLite migrations to the plugin's own tables by letting SQLite itself resolve every
 * name: the statements are first run in an in-memory database that holds only the plugin's tables and
 * indexes (their schema, no rows). A reference to any other table — through a comma join, `[brackets]`,
 * a sub-select, `main.` — fails there with "no such table". Afterwards the rehearsal database is
 * inspected for what runs without error but escapes later: objects named outside the prefix (a rename)
 * and foreign keys to other tables (which would block deletes in them).
 *
 * SQLite's own tables (`sqlite_master`, `dbstat`, `pragma_*` functions) exist in the rehearsal database too,
 * so they are refused by name, in any quoting.
 *
 * Why not a parser: better-sqlite3 does not expose SQLite's authorizer, and a parser that is not SQLite's
 * own disagrees with it on corner cases (quoting, `[x]`, string literals taken as names), which is exactly
 * where an escape hides. What the rehearsal cannot see is a statement that does nothing when its table is
 * missing (`DROP TABLE IF EXISTS other`): the text validator checks the name such statements act on.
 */

/** The plugin's current tables and indexes: `CREATE` statements as SQLite stored them. */
export interface OwnSchema {
  tables: string[];
  indexes: string[];
}

/** One migration's statements in the direction being run. */
export interface RehearsalStep {
  version: number;
  statements: Statement[];
}

export interface RehearsalProblem {
  /** `escape`: the SQL reaches outside the plugin's tables; `failure`: it fails on them for another reason. */
  kind: "escape" | "failure";
  version: number;
  /** The failing statement's line, or the migration's first statement's for what it leaves behind. */
  line: number;
  message: string;
}

/** SQL reading a prefix's own schema from the real database; both `?` are the prefix (lowercase). */
export const OWN_SCHEMA_QUERY = `SELECT type, sql FROM sqlite_master
  WHERE type IN ('table', 'index') AND sql IS NOT NULL AND lower(substr(tbl_name, 1, length(?))) = ?
  ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid`;

/**
 * Runs the migrations in order, stopping at the first one with a problem (later ones build on it).
 * Foreign keys are not enforced here: the tables are empty, so a row whose parent exists in the real
 * database would fail only here. Any other error is one the real run would meet on the same schema.
 */
export function rehearseSqlite(prefix: string, own: OwnSchema, steps: RehearsalStep[]): RehearsalProblem[] {
  const db = new BetterSqlite3(":memory:");
  try {
    db.pragma("foreign_keys = OFF");
    for (const sql of [...own.tables, ...own.indexes]) db.exec(sql);
    for (const { version, statements } of steps) {
      for (const statement of statements) {
        const internal = internalName(statement.text);
        if (internal)
          return [
            {
              kind: "escape",
              version,
              line: statement.line,
              message: `'${internal}' is SQLite's own (schema, statistics or a pragma), which shows every table of the database`,
            },
          ];
        try {
          db.exec(statement.text);
        } catch (err) {
          return [{ version, line: statement.line, ...explain((err as Error).message, prefix) }];
        }
      }
      const line = statements[0]?.line ?? 1;
      const left = escapes(db, prefix).map((message) => ({
        kind: "escape" as const,
        version,
        line,
        message,
      }));
      if (left.length > 0) return left;
    }
    return [];
  } finally {
    db.close();
  }
}

/**
 * Tokens any quoting can make a name (SQLite also takes `'x'` as a name where a name is expected). The
 * rehearsal database has its own `sqlite_master`, `dbstat` and `pragma_*` tables, so reading them passes the
 * rehearsal while the real run would read the whole database's: they are refused by name instead.
 */
const TOKEN = /'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[A-Za-z_][A-Za-z0-9_$]*/g;
const INTERNAL = /^(?:sqlite_|pragma_|dbstat$)/i;

function internalName(text: string): string | undefined {
  for (const [token] of text.matchAll(TOKEN)) {
    const name = /^['"`[]/.test(token) ? token.slice(1, -1) : token;
    if (INTERNAL.test(name)) return name;
  }
  return undefined;
}

function explain(message: string, prefix: string): Pick<RehearsalProblem, "kind" | "message"> {
  const missing = /^no such (?:table|index): (?:main\.)?(.+)$/.exec(message)?.[1];
  if (missing && !missing.toLowerCase().startsWith(prefix))
    return {
      kind: "escape",
      message: `'${missing}' is not one of the plugin's tables (SQLite: ${message}): a plugin's migrations may only touch tables under its prefix '${prefix}'`,
    };
  return { kind: "failure", message };
}

function escapes(db: BetterSqlite3.Database, prefix: string): string[] {
  const own = (name: string) => name.toLowerCase().startsWith(prefix);
  const problems: string[] = [];
  const objects = db.prepare("SELECT type, name, tbl_name AS tbl FROM sqlite_master").all() as Array<{
    type: string;
    name: string;
    tbl: string;
  }>;
  for (const { type, name, tbl } of objects) {
    if (name === "sqlite_sequence") continue;
    if (type !== "table" && type !== "index")
      problems.push(`it leaves a ${type} '${name}': only tables and indexes are allowed`);
    else if (!own(tbl) || !(own(name) || name.startsWith(`sqlite_autoindex_${tbl}_`)))
      problems.push(`it leaves ${type} '${name}' outside the plugin's prefix '${prefix}'`);
    if (type !== "table") continue;
    const keys = db
      .prepare('SELECT DISTINCT "table" AS target FROM pragma_foreign_key_list(?)')
      .all(name) as Array<{
      target: string;
    }>;
    for (const { target } of keys)
      if (!own(target))
        problems.push(
          `table '${name}' has a foreign key to '${target}', which is not one of the plugin's tables`,
        );
  }
  return problems;
}
