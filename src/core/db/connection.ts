import { chmodSync, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import BetterSqlite3 from "better-sqlite3";
import { PrismaClient as PgPrismaClient } from "../../generated/prisma/postgresql/client.js";
import {
  type Prisma as PrismaNamespace,
  PrismaClient as SqlitePrismaClient,
} from "../../generated/prisma/sqlite/client.js";
import type { RoseyConfig } from "../config/schema.js";
import { errorMessage, RoseyError } from "../errors.js";
import { loadCoreMigrations } from "../migrations/files.js";
import { type Catalog, willRefuse } from "../migrations/foreign-schema.js";
import { redactUrl } from "../redact-url.js";

/**
 * Opens the core database through Prisma Client 7 and a driver adapter: better-sqlite3 for the embedded
 * default (WAL mode), `pg` for PostgreSQL. The only module that constructs a Prisma client; everything
 * else reaches the database through the database service on the bus.
 */

export type Engine = "sqlite" | "postgresql";

export type DatabaseTarget =
  | { engine: "sqlite"; file: string }
  | { engine: "postgresql"; url: string; poolSize: number };

/**
 * Both generated clients share one API shape (same models); the SQLite client's type stands for both.
 * Engine-specific SQL (JSON operators, placeholders) branches on `Database.engine`.
 */
export type Prisma = InstanceType<typeof SqlitePrismaClient>;
/** The client handed to an interactive transaction. */
export type Tx = PrismaNamespace.TransactionClient;

export interface Database {
  readonly engine: Engine;
  readonly prisma: Prisma;
  /** Where it points, with any password removed: for logs. */
  readonly description: string;
  /** The server cancels a statement past this (PostgreSQL, when asked); undefined: no limit. */
  readonly statementTimeoutMs: number | undefined;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /**
   * PostgreSQL: every connection of the pool starts with `statement_timeout` set to this, so the server
   * cancels a statement (waiting for locks included) that runs longer; `isStatementTimeout` tells that
   * error. Ignored on SQLite, whose statements cannot be interrupted. @default no limit
   */
  statementTimeoutMs?: number | undefined;
}

export const DEFAULT_SQLITE_FILE = "rosey.sqlite";
const DEFAULT_PG_POOL = 10;

function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/**
 * Picks the database: `DATABASE_URL`, then config `database.url`, then config `database.path` (SQLite),
 * then `<dataDir>/rosey.sqlite`. A URL is PostgreSQL when it starts with `postgres://` or
 * `postgresql://`; `file:` URLs and plain paths are SQLite.
 * @throws {RoseyError} CONFIG_INVALID for any other URL scheme.
 */
export function resolveDatabaseTarget(
  config: Pick<Readonly<RoseyConfig>, "database" | "dataDir">,
  env: NodeJS.ProcessEnv = process.env,
): DatabaseTarget {
  const url = env.DATABASE_URL || config.database.url;
  if (url) {
    if (isPostgresUrl(url)) {
      const parsed = new URL(url);
      const fromUrl = Number(parsed.searchParams.get("connection_limit"));
      return {
        engine: "postgresql",
        url,
        poolSize: Number.isInteger(fromUrl) && fromUrl > 0 ? fromUrl : DEFAULT_PG_POOL,
      };
    }
    if (url.startsWith("file:")) {
      return { engine: "sqlite", file: path.resolve(config.dataDir, url.slice("file:".length)) };
    }
    throw new RoseyError(
      "CONFIG_INVALID",
      `Cannot open the database as 'database.url' must be a postgres:// or file: URL: current value is ${JSON.stringify(redactUrl(url))}`,
    );
  }
  if (config.database.path)
    return { engine: "sqlite", file: path.resolve(config.dataDir, config.database.path) };
  return { engine: "sqlite", file: path.join(config.dataDir, DEFAULT_SQLITE_FILE) };
}

/** Catalog queries (foreign-schema.ts) through a plain better-sqlite3 connection. */
export function sqliteCatalog(db: BetterSqlite3.Database): Catalog {
  return {
    engine: "sqlite",
    query: async (sql, params) => db.prepare(sql).all(...params) as Array<Record<string, unknown>>,
  };
}

/** Opens the database; the schema is not touched (the migration runner does that). */
export async function openDatabase(
  target: DatabaseTarget,
  options: OpenDatabaseOptions = {},
): Promise<Database> {
  if (target.engine === "sqlite") {
    // Chat logs, PMs and every plugin's records: readable by the operator's user only, like the NATS files
    // beside them. Only what this opens for the first time; an existing file or folder keeps its mode.
    mkdirSync(path.dirname(target.file), { recursive: true, mode: 0o700 });
    const created = target.file !== ":memory:" && !existsSync(target.file);
    // WAL is a property of the file: set it once with a plain connection before the adapter opens it.
    // Not on a file the migration runner is going to refuse (another program's database, e.g. the Python
    // Rosey-Robot's, with tables named like Rosey's: DATABASE_NOT_EMPTY), which must be left as it was.
    try {
      const raw = new BetterSqlite3(target.file);
      // SQLite gives its -wal and -shm files the database file's mode.
      if (created) chmodSync(target.file, 0o600);
      try {
        const empty = raw.prepare("SELECT 1 FROM sqlite_master LIMIT 1").get() === undefined;
        const catalog = sqliteCatalog(raw);
        if (empty || !(await willRefuse(catalog, () => loadCoreMigrations("sqlite"))))
          raw.pragma("journal_mode = WAL");
      } finally {
        raw.close();
      }
    } catch (err) {
      throw new RoseyError("INTERNAL", `Cannot open SQLite database ${target.file}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    // One connection (SQLite has one writer anyway); a busy timeout covers a second process (`rosey migrate`).
    const adapter = new PrismaBetterSqlite3({ url: target.file, timeout: 10_000 });
    const prisma = new SqlitePrismaClient({ adapter });
    await prisma.$connect();
    await prisma.$executeRawUnsafe("PRAGMA foreign_keys = ON");
    return {
      engine: "sqlite",
      prisma,
      description: `sqlite:${target.file}`,
      statementTimeoutMs: undefined,
      close: once(() => prisma.$disconnect()),
    };
  }
  const statementTimeoutMs = options.statementTimeoutMs;
  // A startup parameter of each connection (node-postgres sends `statement_timeout` in the startup
  // message), so it holds from the first statement without a round trip, and a transaction can lift it
  // for itself with `SET LOCAL` (the migration runner does).
  const adapter = new PrismaPg({
    connectionString: target.url,
    max: target.poolSize,
    ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
  });
  const prisma = new PgPrismaClient({ adapter }) as unknown as Prisma;
  try {
    await prisma.$connect();
    await prisma.$queryRawUnsafe("SELECT 1");
  } catch (err) {
    await prisma.$disconnect().catch(() => {});
    throw new RoseyError(
      "INTERNAL",
      `Cannot connect to PostgreSQL at ${redactUrl(target.url)}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  return {
    engine: "postgresql",
    prisma,
    description: redactUrl(target.url),
    statementTimeoutMs,
    close: once(() => prisma.$disconnect()),
  };
}

/**
 * The database service's pool cuts statements at `database.statementTimeoutMs` (a few seconds, sized for
 * plugins' storage); an operator's migration or purge may rightly take far longer (an index on a big
 * table, waiting for a long reader's lock), bounded only by its transaction's own timeout. `SET LOCAL`
 * lifts the limit for that transaction alone: the connection goes back to the pool with the limit in force.
 */
export async function liftStatementTimeout(db: Database, tx: Tx): Promise<void> {
  if (db.engine === "postgresql" && db.statementTimeoutMs !== undefined)
    await tx.$executeRawUnsafe("SET LOCAL statement_timeout = 0");
}

/** PostgreSQL's `query_canceled`: what a statement cut by `statement_timeout` fails with. */
const QUERY_CANCELED = "57014";

/**
 * Whether `err` is PostgreSQL cancelling a statement (`statement_timeout`), as Prisma passes it on from the
 * pg adapter (`meta.driverAdapterError.cause.originalCode`), itself or as the `cause` of a wrapping error.
 * An operator's `pg_cancel_backend` raises the same code and reads the same here: either way the statement
 * did not finish and nothing it wrote was kept.
 */
export function isStatementTimeout(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const cause = (e as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } }).meta
      ?.driverAdapterError?.cause;
    if (cause?.originalCode === QUERY_CANCELED) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => {
    done ??= fn();
    return done;
  };
}

/** Builds parameterised SQL for either engine: `$1, $2…` on PostgreSQL, `?` on SQLite. */
export class SqlBuilder {
  readonly params: unknown[] = [];
  readonly #engine: Engine;
  constructor(engine: Engine) {
    this.#engine = engine;
  }
  /** Adds a parameter and returns its placeholder. */
  param(value: unknown): string {
    this.params.push(value);
    return this.#engine === "postgresql" ? `$${this.params.length}` : "?";
  }
}
