import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { type Database, type DatabaseTarget, openDatabase } from "../../src/core/db/connection.js";
import { databaseFindings } from "../../src/core/db/db-preflight.js";
import { isRoseyError, type RoseyError } from "../../src/core/errors.js";
import { loadCoreMigrations } from "../../src/core/migrations/files.js";
import { MigrationRunner, type RunResult } from "../../src/core/migrations/runner.js";
import { freePort } from "../../src/core/nats/embedded-server.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";
import { usePrivateNats } from "../support/private-nats.js";
import { startTestRosey } from "../support/test-rosey.js";

/**
 * The core schema is never built in another program's database (e.g. the Python Rosey-Robot's SQLite
 * file): DATABASE_NOT_EMPTY names the database and the clashing tables, and nothing in it changes. An empty
 * database and one with Rosey's history migrate as before. Real SQLite files and a real PostgreSQL.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-foreign-"));
let pgServer: TestPostgres;
beforeAll(async () => {
  pgServer = await startTestPostgres();
});
afterAll(async () => {
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Tables as the Python bot made them: plain SQL, its own column layout (SQLite's default journal mode). */
const PYTHON_BOT_SQL = `
  CREATE TABLE user_stats (username TEXT PRIMARY KEY, first_seen INTEGER, last_seen INTEGER, total_chat_lines INTEGER DEFAULT 0);
  CREATE TABLE chat_log (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp INTEGER NOT NULL, username TEXT NOT NULL, message TEXT NOT NULL);
  CREATE TABLE outbound_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp INTEGER NOT NULL, message TEXT NOT NULL, sent INTEGER DEFAULT 0);
  CREATE TABLE api_tokens (token TEXT PRIMARY KEY, description TEXT);
  INSERT INTO user_stats VALUES ('alice', 1, 2, 3);
  INSERT INTO outbound_messages (timestamp, message) VALUES (1700000000, 'hello from python');
`;

let counter = 0;
/** A path in a folder of its own; with `sql`, a SQLite file made by that SQL through a plain connection. */
function sqliteFile(sql?: string): string {
  const dir = path.join(tmp, `db-${counter++}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "bot.db");
  if (sql !== undefined) {
    const raw = new BetterSqlite3(file);
    raw.exec(sql);
    raw.close();
  }
  return file;
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

function sqliteTables(file: string): string[] {
  const raw = new BetterSqlite3(file, { readonly: true });
  try {
    const rows = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    return (rows as Array<{ name: string }>).map((r) => r.name);
  } finally {
    raw.close();
  }
}

/** Opens the database, runs `use` on it, and closes it whatever happens. */
async function withDatabase<T>(target: DatabaseTarget, use: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(target);
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}

const withSqlite = <T>(file: string, use: (db: Database) => Promise<T>): Promise<T> =>
  withDatabase({ engine: "sqlite", file }, use);

function applyCore(db: Database): Promise<RunResult> {
  return new MigrationRunner(db, { actor: "test" }).applyCore(loadCoreMigrations(db.engine));
}

async function refusal(db: Database): Promise<RoseyError> {
  const err = await applyCore(db).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isRoseyError(err, "DATABASE_NOT_EMPTY"), `expected DATABASE_NOT_EMPTY, got: ${String(err)}`).toBe(
    true,
  );
  return err as RoseyError;
}

describe("core migrations on a SQLite file another program made", () => {
  it("an existing outbound_messages table: DATABASE_NOT_EMPTY naming the file and every clash; the file is left byte for byte", async () => {
    const file = sqliteFile(PYTHON_BOT_SQL);
    const before = { tables: sqliteTables(file), hash: sha256(file), files: readdirSync(path.dirname(file)) };

    const err = await withSqlite(file, async (db) => {
      const first = await refusal(db);
      // The service and `rosey migrate` call applyCore at every start: a second try says the same.
      expect((await refusal(db)).message).toBe(first.message);
      return first;
    });

    expect(err.message).toContain(`SQLite database file ${file}`);
    expect(err.message).toContain("chat_log, outbound_messages");
    expect(err.message).not.toMatch(/user_stats|api_tokens/); // no clash: not named
    expect(err.message).toContain("not created by Rosey");
    expect(err.message).toContain("Rosey-Robot");
    expect(err.message).toMatch(/new database file .*or move this file aside/);
    expect(err.message).toContain("Nothing in it was changed");
    expect(err.details).toMatchObject({
      database: file,
      engine: "sqlite",
      tables: ["chat_log", "outbound_messages"],
    });

    // Not one byte changed (no tables, no ledger, no lock row, not even the switch to WAL), no files left.
    expect(sqliteTables(file)).toEqual(before.tables);
    expect(sha256(file)).toBe(before.hash);
    expect(readdirSync(path.dirname(file))).toEqual(before.files);
  });

  it("names clash case-insensitively, as SQLite compares them; a clashing index is named too", async () => {
    const file = sqliteFile(
      'CREATE TABLE "Users" (id INTEGER); CREATE TABLE notes (id INTEGER); CREATE INDEX "audit_log_event_id_key" ON notes (id);',
    );
    const err = await withSqlite(file, refusal);
    expect(err.message).toContain("Users, audit_log_event_id_key (index)");
    expect(err.details?.tables).toEqual(["Users", "audit_log_event_id_key"]);
    expect(sqliteTables(file)).toEqual(["Users", "notes"]);
  });

  it("a foreign plugin_schema_migrations / migration_locks without core rows: refused before any lock row is written", async () => {
    const file = sqliteFile(`
      CREATE TABLE plugin_schema_migrations (id INTEGER PRIMARY KEY, plugin_name TEXT, version INTEGER);
      CREATE TABLE migration_locks (plugin_name TEXT PRIMARY KEY, holder TEXT, acquired_at DATETIME, expires_at DATETIME);
      INSERT INTO plugin_schema_migrations (plugin_name, version) VALUES ('quotes', 1);
    `);
    const hash = sha256(file);
    expect((await withSqlite(file, refusal)).message).toContain("migration_locks, plugin_schema_migrations");
    expect(sha256(file)).toBe(hash);
  });

  it("a ledger table of another layout (no plugin_name column) is not taken for Rosey's history", async () => {
    const file = sqliteFile("CREATE TABLE plugin_schema_migrations (name TEXT, applied TEXT);");
    expect((await withSqlite(file, refusal)).details?.tables).toEqual(["plugin_schema_migrations"]);
  });

  it("unrelated tables whose names do not clash: the core schema is added beside them, as before", async () => {
    const file = sqliteFile("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);");
    expect((await withSqlite(file, applyCore)).currentVersion).toBe(1);
    expect(sqliteTables(file)).toEqual(expect.arrayContaining(["notes", "outbound_messages", "users"]));
  });
});

describe("rosey start in-process on Rosey-Robot's old file", () => {
  const nats = usePrivateNats();

  it("fails with the database child's own error and code, DATABASE_NOT_EMPTY", async () => {
    const file = sqliteFile(PYTHON_BOT_SQL);
    mkdirSync(path.join(path.dirname(file), "plugins"));
    const started = startTestRosey(nats.url, {
      dataDir: path.join(path.dirname(file), "data"),
      database: { path: file },
      plugins: { directory: path.join(path.dirname(file), "plugins") },
      platforms: [{ type: "external", name: "test" }],
    });
    const err = await started.then(
      async (rosey) => {
        await rosey.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isRoseyError(err, "DATABASE_NOT_EMPTY"), String(err)).toBe(true);
    expect((err as RoseyError).message).toMatch(
      new RegExp(
        `^The database service could not start: Cannot create Rosey's schema in the SQLite database file ${file.replaceAll("/", "\\/")}: `,
      ),
    );
  }, 60_000);
});

describe("what the operator sees (the compiled CLI: npm run build first)", () => {
  const BIN = path.resolve("bin/rosey.js");

  function rosey(dir: string, ...args: string[]) {
    const env = { ...process.env, ROSEY_CONFIG: "", NATS_URL: "", DATABASE_URL: "" };
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: dir,
      env,
      encoding: "utf8",
      timeout: 60_000,
      input: "",
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  it("rosey config check contacts PostgreSQL only with --connect, and says what it found there", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rosey-config-check-pg-"));
    try {
      const url = new URL(pgServer.url);
      url.password = "s3cret-pw";
      url.pathname = "/no_such_database";
      mkdirSync(path.join(dir, "plugins"));
      writeFileSync(
        path.join(dir, "rosey.json"),
        JSON.stringify({ database: { url: url.toString() }, plugins: { directory: "plugins" } }),
      );
      const offline = rosey(dir, "config", "check", "rosey.json");
      expect(offline.code, offline.err).toBe(0);
      const checked = rosey(dir, "config", "check", "rosey.json", "--connect");
      expect(checked.code).toBe(1);
      expect(checked.err).toContain(
        `ERROR database.url: Cannot check the PostgreSQL database postgresql://postgres:***@${url.host}/no_such_database: database "no_such_database" does not exist`,
      );
      expect(checked.out + checked.err).not.toContain("s3cret-pw");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rosey start and rosey migrate on Rosey-Robot's old file: the message once, exit code 1, the file untouched", () => {
    const file = sqliteFile(PYTHON_BOT_SQL);
    const dir = path.dirname(file);
    mkdirSync(path.join(dir, "plugins"));
    writeFileSync(
      path.join(dir, "rosey.json"),
      JSON.stringify({
        dataDir: path.join(dir, "data"),
        database: { path: file },
        plugins: { directory: path.join(dir, "plugins") },
        logging: { level: "warn" },
      }),
    );
    const before = { hash: sha256(file), tables: sqliteTables(file) };

    const start = rosey(dir, "start", "-c", "rosey.json");
    expect(start.code).toBe(1);
    const said = start.err.split("Cannot create Rosey's schema in the SQLite database file").length - 1;
    expect(said, start.err).toBe(1); // once: the database process is not restarted
    expect(start.err).toContain(`${file}: it was not created by Rosey`);
    expect(start.err).toContain("chat_log, outbound_messages");
    expect(start.err).toContain("The database service could not start: Cannot create Rosey's schema");

    const migrate = rosey(dir, "migrate", "quotes", "status", "-c", "rosey.json");
    expect(migrate.code).toBe(1);
    expect(migrate.err).toContain("it was not created by Rosey");

    expect(sha256(file)).toBe(before.hash);
    expect(sqliteTables(file)).toEqual(before.tables);
  }, 120_000);
});

describe("core migrations on an empty SQLite file and on Rosey's own", () => {
  it("a new file migrates as before (WAL), and a second start on it is a no-op without error", async () => {
    const file = sqliteFile();
    await withSqlite(file, async (first) => {
      expect((await applyCore(first)).currentVersion).toBe(1);
      const mode = await first.prisma.$queryRawUnsafe<Array<{ journal_mode: string }>>("PRAGMA journal_mode");
      expect(mode[0]?.journal_mode).toBe("wal");
    });
    expect(sqliteTables(file)).toEqual(
      expect.arrayContaining(["migration_locks", "outbound_messages", "plugin_schema_migrations"]),
    );

    await withSqlite(file, async (second) => {
      expect(await applyCore(second)).toMatchObject({ versions: [], currentVersion: 1 });
      expect(await second.prisma.migrationLock.count()).toBe(0);
    });
  });

  it("an existing empty file (0 bytes) is empty: migrates as before", async () => {
    const file = sqliteFile("");
    expect((await withSqlite(file, applyCore)).currentVersion).toBe(1);
    expect(sqliteTables(file)).toContain("outbound_messages");
  });
});

describe("rosey config check on the database the config names", () => {
  const config = (file: string, enabled = true) =>
    validateConfig({ dataDir: path.dirname(file), database: { enabled, path: path.basename(file) } }, "test");

  it("reports Rosey-Robot's old file as start would refuse it, at database.path, reading it only", async () => {
    const file = sqliteFile(PYTHON_BOT_SQL);
    const before = sha256(file);
    expect(await databaseFindings(config(file))).toEqual([
      {
        level: "error",
        where: "database.path",
        message: expect.stringContaining(
          `the SQLite database file ${file}: it was not created by Rosey (it has no record of Rosey's migrations) and already has tables that Rosey's schema would create: chat_log, outbound_messages.`,
        ),
      },
    ]);
    expect(sha256(file)).toBe(before);
    expect(readdirSync(path.dirname(file))).toEqual(["bot.db"]);
    expect(await databaseFindings(config(file, false))).toEqual([]);
  });

  it("finds nothing for a file that does not exist yet, nor for Rosey's own database", async () => {
    const file = sqliteFile();
    expect(await databaseFindings(config(file))).toEqual([]);
    await withSqlite(file, applyCore);
    expect(await databaseFindings(config(file))).toEqual([]);
  });
});

describe("rosey config check --connect on the PostgreSQL database the config names", () => {
  const config = (url: string) => validateConfig({ database: { url } }, "test");
  const withPassword = (url: string) => {
    const u = new URL(url);
    u.password = "s3cret-pw";
    return u.toString();
  };

  it("reports Rosey-Robot's tables as start would refuse them, in a read-only session, without the password", async () => {
    const url = withPassword(await pgServer.createDatabase());
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("CREATE TABLE outbound_messages (id SERIAL PRIMARY KEY, message TEXT)");
      expect(await databaseFindings(config(url))).toEqual([]); // not contacted unless asked
      const findings = await databaseFindings(config(url), { connect: true });
      expect(findings).toEqual([
        {
          level: "error",
          where: "database.url",
          message: expect.stringContaining(
            "already has a table that Rosey's schema would create: outbound_messages.",
          ),
        },
      ]);
      expect(findings[0]!.message).not.toContain("s3cret-pw");
      const { rows } = await client.query(
        "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = current_schema()",
      );
      expect(rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
  });

  it("finds nothing on an empty database, nor on Rosey's own", async () => {
    const url = await pgServer.createDatabase();
    expect(await databaseFindings(config(url), { connect: true })).toEqual([]);
    await withDatabase({ engine: "postgresql", url, poolSize: 2 }, applyCore);
    expect(await databaseFindings(config(url), { connect: true })).toEqual([]);
  });

  it("names a database that does not exist, or a server that is not there, with the URL's password hidden", async () => {
    const missing = new URL(withPassword(pgServer.url));
    missing.pathname = "/no_such_database";
    expect(await databaseFindings(config(missing.toString()), { connect: true })).toEqual([
      {
        level: "error",
        where: "database.url",
        message: `Cannot check the PostgreSQL database ${missing.protocol}//${missing.username}:***@${missing.host}/no_such_database: database "no_such_database" does not exist`,
      },
    ]);
    const nobody = new URL(missing);
    nobody.port = String(await freePort());
    const [finding] = await databaseFindings(config(nobody.toString()), { connect: true });
    expect(finding?.message).toMatch(/^Cannot check the PostgreSQL database .*:\*\*\*@.*: .*ECONNREFUSED/);
    expect(finding?.message).not.toContain("s3cret-pw");
  });
});

describe("core migrations on PostgreSQL", () => {
  async function pgTables(url: string): Promise<string[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>(
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
      );
      return rows.map((r) => r.name);
    } finally {
      await client.end();
    }
  }

  async function pgExec(url: string, sql: string): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  }

  it("an existing outbound_messages table: DATABASE_NOT_EMPTY naming the URL (no password) and the table; nothing created", async () => {
    const url = await pgServer.createDatabase();
    await pgExec(
      url,
      "CREATE TABLE outbound_messages (id SERIAL PRIMARY KEY, message TEXT); CREATE TABLE user_stats (username TEXT PRIMARY KEY)",
    );
    const before = await pgTables(url);
    const withPassword = new URL(url);
    withPassword.password = "s3cret-pw";
    let description = "";
    const err = await withDatabase(
      { engine: "postgresql", url: withPassword.toString(), poolSize: 2 },
      (db) => {
        description = db.description;
        return refusal(db);
      },
    );
    expect(err.message).toContain(`PostgreSQL database ${description}`);
    expect(err.message).toContain(new URL(url).pathname.slice(1)); // the database's name
    expect(err.message).not.toContain("s3cret-pw");
    // Its primary key's index, outbound_messages_pkey, clashes too, but goes with the table: not listed.
    expect(err.message).toContain("would create: outbound_messages.");
    expect(err.message).toContain("Rosey-Robot");
    expect(err.message).toContain("new, empty database");
    expect(await pgTables(url)).toEqual(before);
  });

  it("names that clash without a table of the same name: the primary-key index of a table that does not clash, an enum and a composite type named like tables", async () => {
    const url = await pgServer.createDatabase();
    await pgExec(
      url,
      `CREATE TYPE users AS ENUM ('a', 'b');
       CREATE TABLE old_chat (id SERIAL, CONSTRAINT chat_log_pkey PRIMARY KEY (id));
       CREATE TYPE bot_status AS (state TEXT)`,
    );
    const before = await pgTables(url);
    const err = await withDatabase({ engine: "postgresql", url, poolSize: 2 }, refusal);
    expect(err.message).toContain("would create: bot_status (type), chat_log_pkey (index), users (type).");
    expect(err.details).toMatchObject({ tables: ["bot_status", "chat_log_pkey", "users"] });
    expect(await pgTables(url)).toEqual(before);
  });

  it("an empty database migrates as before; two services starting at once both succeed; a second start is a no-op", async () => {
    const url = await pgServer.createDatabase();
    const a = await openDatabase({ engine: "postgresql", url, poolSize: 2 });
    const b = await openDatabase({ engine: "postgresql", url, poolSize: 2 });
    try {
      // The clash check runs after the bootstrap's advisory lock and ledger re-check: the one that waited
      // must find the ledger, not take the other's fresh tables for another program's.
      const [ra, rb] = await Promise.all([applyCore(a), applyCore(b)]);
      expect([ra.currentVersion, rb.currentVersion]).toEqual([1, 1]);
      expect(await a.prisma.pluginSchemaMigration.count({ where: { pluginName: "@core" } })).toBe(1);
      expect(await applyCore(a)).toMatchObject({ versions: [], currentVersion: 1 });
    } finally {
      await a.close();
      await b.close();
    }
    expect(await pgTables(url)).toContain("outbound_messages");
  });
});
