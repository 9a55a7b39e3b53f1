import type { Engine } from "../db/connection.js";
import { RoseyError } from "../errors.js";
import { CORE_OWNER, type MigrationSet } from "./files.js";

/**
 * Refuses to build the core schema in a database that another program made.
 *
 * Why: the core migrations are Prisma's SQL, with plain `CREATE TABLE` / `CREATE INDEX` (no IF NOT EXISTS),
 * and they cannot be changed (their checksums are recorded in live databases). Pointed at a database that
 * already has a table of the same name — typically the Python Rosey-Robot's SQLite file, which has
 * `outbound_messages`, `chat_log`, … — the first migration failed half-way with the driver's raw "table
 * already exists" inside MIGRATION_FAILED, which says neither what is wrong nor what to do. So before the
 * core schema is created in a database without Rosey's history, the names the core migrations would create
 * are looked up, and a clash is a DATABASE_NOT_EMPTY error naming the database, the clashing tables and the
 * way out. The check only reads (catalog queries), and it runs before the runner writes anything — no
 * table, no ledger row, no `migration_locks` row (that table is itself one the first migration creates).
 *
 * A database with Rosey's core history (rows of owner `@core` in `plugin_schema_migrations`) is never
 * checked, and an empty one has nothing to clash with: both migrate exactly as before.
 */

/** A name the core migrations would create that the database already has. */
export interface Clash {
  name: string;
  /** What the database has under that name: table, view, index, sequence, … */
  type: string;
}

/** Runs one read-only query; `sql` uses `?` on SQLite and `$1…` on PostgreSQL. */
export type CatalogQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

export interface Catalog {
  engine: Engine;
  query: CatalogQuery;
}

const LEDGER_TABLE = "plugin_schema_migrations";

const IDENT = String.raw`(?:"(?:[^"]|"")+"|\x60[^\x60]+\x60|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_$]*)`;
const CREATES = new RegExp(
  String.raw`^CREATE\s+(?:UNIQUE\s+)?(TABLE|INDEX)\s+(IF\s+NOT\s+EXISTS\s+)?(?:${IDENT}\s*\.\s*)?(${IDENT})`,
  "i",
);
/**
 * A named PRIMARY KEY or UNIQUE constraint inside CREATE TABLE. On PostgreSQL its index takes the
 * constraint's name in the schema's one namespace of relations, so `"users_pkey"` clashes with any
 * relation of that name (SQLite names such indexes `sqlite_autoindex_…` itself).
 */
const CONSTRAINT_INDEX = new RegExp(String.raw`\bCONSTRAINT\s+(${IDENT})\s+(?:PRIMARY\s+KEY|UNIQUE)\b`, "gi");

function unquote(name: string): string {
  if (/^".*"$/s.test(name)) return name.slice(1, -1).replaceAll('""', '"');
  if (/^(`.*`|\[.*\])$/s.test(name)) return name.slice(1, -1);
  return name;
}

/**
 * The tables and indexes the set's migrations create, in order of appearance; on PostgreSQL also the
 * indexes of named PRIMARY KEY / UNIQUE constraints. `… IF NOT EXISTS` cannot clash and is left out.
 * (Every CREATE counts, not only the first migration's: on a new database all of them run.)
 */
export function createdObjects(set: MigrationSet): Array<{ name: string; kind: "table" | "index" }> {
  const seen = new Set<string>();
  const out: Array<{ name: string; kind: "table" | "index" }> = [];
  const add = (name: string, kind: "table" | "index") => {
    const key = set.engine === "sqlite" ? name.toLowerCase() : name;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ name, kind });
  };
  for (const migration of set.migrations) {
    for (const statement of migration.up) {
      const text = statement.text.trim();
      const m = CREATES.exec(text);
      if (!m || m[2]) continue;
      const kind = m[1]!.toUpperCase() === "TABLE" ? "table" : "index";
      add(unquote(m[3]!), kind);
      if (kind === "table" && set.engine === "postgresql")
        for (const c of text.matchAll(CONSTRAINT_INDEX)) add(unquote(c[1]!), "index");
    }
  }
  return out;
}

function placeholders(engine: Engine, count: number): string {
  return Array.from({ length: count }, (_, i) => (engine === "sqlite" ? "?" : `$${i + 1}`)).join(", ");
}

/** True when the ledger table exists and records at least one core migration. Only reads. */
export async function hasCoreHistory(catalog: Catalog): Promise<boolean> {
  const ledger =
    catalog.engine === "sqlite"
      ? await catalog.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", [
          LEDGER_TABLE,
        ])
      : await catalog.query(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
          [LEDGER_TABLE],
        );
  if (ledger.length === 0) return false;
  try {
    const rows = await catalog.query(
      `SELECT 1 AS found FROM ${LEDGER_TABLE} WHERE plugin_name = ${placeholders(catalog.engine, 1)} LIMIT 1`,
      [CORE_OWNER],
    );
    return rows.length > 0;
  } catch {
    // A table of that name without Rosey's columns: another program's.
    return false;
  }
}

/**
 * The names the core migrations would create that already exist in the database (SQLite: in the file,
 * compared case-insensitively as SQLite does; PostgreSQL: in the current schema, where tables, indexes,
 * views, sequences and composite types share one namespace, and a table also needs its name free among
 * types: `CREATE TABLE users` fails on an enum or domain called `users`). Only reads.
 */
export async function findClashes(catalog: Catalog, set: MigrationSet): Promise<Clash[]> {
  const objects = createdObjects(set);
  const names = objects.map((o) => o.name);
  if (names.length === 0) return [];
  let rows: Array<Record<string, unknown>>;
  if (catalog.engine === "sqlite") {
    rows = await catalog.query(
      `SELECT name, type, tbl_name AS owner FROM sqlite_master WHERE type IN ('table', 'view', 'index') AND lower(name) IN (${placeholders("sqlite", names.length)}) ORDER BY name`,
      names.map((n) => n.toLowerCase()),
    );
  } else {
    // Only a table needs its name free among types; its parameters are the table names' own.
    const tableParams = objects.flatMap((o, i) => (o.kind === "table" ? [`$${i + 1}`] : [])).join(", ");
    const types = tableParams
      ? `UNION ALL
       SELECT t.typname::text AS name, 'type' AS type, NULL AS owner
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typrelid = 0 AND t.typname IN (${tableParams})`
      : "";
    rows = await catalog.query(
      `SELECT c.relname::text AS name,
              CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'I' THEN 'index'
                WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' WHEN 'c' THEN 'type'
                ELSE 'relation' END AS type,
              (SELECT t.relname::text FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
                WHERE i.indexrelid = c.oid) AS owner
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relname IN (${placeholders("postgresql", names.length)})
       ${types}
        ORDER BY name`,
      names,
    );
  }
  // An index of a table that clashes itself goes with that table (`outbound_messages_pkey`): not listed.
  const key = (name: string) => (catalog.engine === "sqlite" ? name.toLowerCase() : name);
  const tables = new Set(rows.filter((r) => r.type === "table").map((r) => key(String(r.name))));
  return rows
    .filter((r) => !(r.type === "index" && typeof r.owner === "string" && tables.has(key(r.owner))))
    .map((r) => ({ name: String(r.name), type: String(r.type) }));
}

/**
 * The operator's error: which database, which names, that Rosey did not make it, and what to do.
 * @param database `Database.description`: `sqlite:<file>` or the PostgreSQL URL with its password masked.
 */
export function databaseNotEmptyError(engine: Engine, database: string, clashes: Clash[]): RoseyError {
  const where =
    engine === "sqlite"
      ? `the SQLite database file ${database.replace(/^sqlite:/, "")}`
      : `the PostgreSQL database ${database}`;
  const list = clashes.map((c) => (c.type === "table" ? c.name : `${c.name} (${c.type})`)).join(", ");
  const one = clashes.length === 1;
  const noun = clashes.every((c) => c.type === "table")
    ? one
      ? "a table"
      : "tables"
    : one
      ? "an object"
      : clashes.some((c) => c.type === "table")
        ? "tables and objects"
        : "objects";
  const fix =
    engine === "sqlite"
      ? "Point Rosey at a new database file (database.path, or database.url / DATABASE_URL; a file that does not exist is created), or move this file aside"
      : "Point Rosey at a new, empty database (database.url or DATABASE_URL), or move these tables out of its schema";
  return new RoseyError(
    "DATABASE_NOT_EMPTY",
    `Cannot create Rosey's schema in ${where}: it was not created by Rosey (it has no record of Rosey's migrations) and already has ${noun} that Rosey's schema would create: ${list}. ` +
      "It is probably another program's database, such as the Python Rosey-Robot's. " +
      `${fix}. Nothing in it was changed; Rosey does not read or convert the old data.`,
    {
      details: {
        database: engine === "sqlite" ? database.replace(/^sqlite:/, "") : database,
        engine,
        tables: clashes.map((c) => c.name),
        clashes,
      },
    },
  );
}

/**
 * Throws DATABASE_NOT_EMPTY when the core migrations would create a name the database already has.
 * Call only for a database without core history (see `hasCoreHistory`).
 */
export async function refuseForeignSchema(
  catalog: Catalog,
  set: MigrationSet,
  database: string,
): Promise<void> {
  const clashes = await findClashes(catalog, set);
  if (clashes.length > 0) throw databaseNotEmptyError(catalog.engine, database, clashes);
}

/**
 * Whether `MigrationRunner.applyCore` will refuse this database with DATABASE_NOT_EMPTY: no core history
 * and a clash. `openDatabase` asks before it switches a SQLite file to WAL, so that a refused file is left
 * exactly as it was (WAL is a property of the file). Only reads; false when the core migrations cannot
 * be read (the runner reports that).
 */
export async function willRefuse(catalog: Catalog, set: () => MigrationSet): Promise<boolean> {
  if (await hasCoreHistory(catalog)) return false;
  let core: MigrationSet;
  try {
    core = set();
  } catch {
    return false;
  }
  return (await findClashes(catalog, core)).length > 0;
}
