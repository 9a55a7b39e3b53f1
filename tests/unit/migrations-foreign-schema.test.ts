import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/core/errors.js";
import { loadCoreMigrations, type MigrationSet } from "../../src/core/migrations/files.js";
import { createdObjects, databaseNotEmptyError } from "../../src/core/migrations/foreign-schema.js";

/** What the DATABASE_NOT_EMPTY check looks for, and what the operator reads. */

describe("createdObjects", () => {
  it.each(["sqlite", "postgresql"] as const)(
    "the %s core migrations create every core table, and their indexes",
    (engine) => {
      const objects = createdObjects(loadCoreMigrations(engine));
      const tables = objects.filter((o) => o.kind === "table").map((o) => o.name);
      expect(tables).toEqual([
        "users",
        "chat_log",
        "user_count_stats",
        "high_water_marks",
        "bot_status",
        "outbound_messages",
        "plugin_records",
        "plugin_schema_migrations",
        "migration_locks",
        "ingested_events",
        "audit_log",
      ]);
      expect(objects).toContainEqual({ name: "users_username_key", kind: "index" });
    },
  );

  it("on PostgreSQL, the index of each named primary key is a name the schema needs free too (not on SQLite)", () => {
    const indexes = (engine: "sqlite" | "postgresql") =>
      createdObjects(loadCoreMigrations(engine))
        .filter((o) => o.kind === "index")
        .map((o) => o.name);
    expect(indexes("postgresql")).toEqual(
      expect.arrayContaining(["users_pkey", "chat_log_pkey", "audit_log_pkey"]),
    );
    expect(indexes("postgresql").filter((n) => n.endsWith("_pkey"))).toHaveLength(11);
    expect(indexes("sqlite").filter((n) => n.endsWith("_pkey"))).toEqual([]);
  });

  it("reads quoted, bare and schema-qualified names; IF NOT EXISTS cannot clash and is left out", () => {
    const statement = (text: string, line: number) => ({ text, line });
    const set: MigrationSet = {
      owner: "@core",
      engine: "sqlite",
      prefix: undefined,
      migrations: [
        {
          version: 1,
          description: "a",
          file: "a.sql",
          checksum: "",
          down: [],
          issues: [],
          up: [
            statement('CREATE TABLE "odd ""name""" (id INTEGER)', 1),
            statement("create table plain (id INTEGER)", 2),
            statement('CREATE TABLE "main"."qualified" (id INTEGER)', 3),
            statement("CREATE TABLE IF NOT EXISTS optional (id INTEGER)", 4),
            statement('CREATE UNIQUE INDEX "plain_id" ON plain (id)', 5),
            statement("INSERT INTO plain VALUES (1)", 6),
          ],
        },
        {
          version: 2,
          description: "b",
          file: "b.sql",
          checksum: "",
          down: [],
          issues: [],
          // Created again after a DROP in a later migration: listed once.
          up: [statement("DROP TABLE plain", 1), statement("CREATE TABLE PLAIN (id INTEGER)", 2)],
        },
      ],
    };
    expect(createdObjects(set)).toEqual([
      { name: 'odd "name"', kind: "table" },
      { name: "plain", kind: "table" },
      { name: "qualified", kind: "table" },
      { name: "plain_id", kind: "index" },
    ]);
  });
});

describe("databaseNotEmptyError", () => {
  it("SQLite: the file, the tables, whose it probably is, what to do, and that nothing changed", () => {
    const err = databaseNotEmptyError("sqlite", "sqlite:/srv/bot/rosey.db", [
      { name: "chat_log", type: "table" },
      { name: "outbound_messages", type: "table" },
    ]);
    expect(err.code).toBe("DATABASE_NOT_EMPTY");
    expect(ERROR_CODES.DATABASE_NOT_EMPTY).toBeTruthy();
    expect(err.message).toBe(
      "Cannot create Rosey's schema in the SQLite database file /srv/bot/rosey.db: it was not created by Rosey " +
        "(it has no record of Rosey's migrations) and already has tables that Rosey's schema would create: " +
        "chat_log, outbound_messages. It is probably another program's database, such as the Python " +
        "Rosey-Robot's. Point Rosey at a new database file (database.path, or database.url / DATABASE_URL; a " +
        "file that does not exist is created), or move this file aside. Nothing in it was changed; Rosey does " +
        "not read or convert the old data.",
    );
    expect(err.details).toMatchObject({
      database: "/srv/bot/rosey.db",
      tables: ["chat_log", "outbound_messages"],
    });
  });

  it("PostgreSQL: the URL as given (password already masked); other kinds of object say what they are", () => {
    const err = databaseNotEmptyError("postgresql", "postgresql://rosey:***@db:5432/bot", [
      { name: "users_username_key", type: "index" },
    ]);
    expect(err.message).toContain(
      "in the PostgreSQL database postgresql://rosey:***@db:5432/bot: it was not created by Rosey",
    );
    expect(err.message).toContain(
      "already has an object that Rosey's schema would create: users_username_key (index).",
    );
    expect(err.message).toContain("Point Rosey at a new, empty database (database.url or DATABASE_URL)");
  });
});
