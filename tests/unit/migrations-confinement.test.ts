import { beforeAll, describe, expect, it } from "vitest";
import { confinePgStatement, loadPgParser } from "../../src/core/migrations/pg-confine.js";
import { splitStatements } from "../../src/core/migrations/sql.js";
import { rehearseSqlite } from "../../src/core/migrations/sqlite-rehearsal.js";

/**
 * The engine-side confinement of plugin migrations. Every "refused" case below passed the text validator
 * before it existed (a red-team review's bypasses and their neighbours).
 */

const PREFIX = "thief_";

describe("PostgreSQL confinement (the parse tree of PostgreSQL's own parser)", () => {
  beforeAll(() => loadPgParser());

  it.each([
    `CREATE TABLE thief_x ("key" VARCHAR(256) NOT NULL PRIMARY KEY, n INT GENERATED ALWAYS AS IDENTITY, at TIMESTAMPTZ DEFAULT now(), CHECK (length("key") > 0), FOREIGN KEY (n) REFERENCES thief_y (id) ON DELETE CASCADE)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS thief_i ON thief_x USING btree (lower("key")) WHERE n > 3`,
    `ALTER TABLE thief_x ADD COLUMN y INT DEFAULT 0, ALTER COLUMN y SET NOT NULL, ALTER COLUMN y TYPE BIGINT USING y::bigint`,
    `ALTER TABLE thief_x RENAME TO thief_z`,
    `ALTER TABLE thief_x RENAME COLUMN a TO b`,
    `UPDATE thief_x q SET n = s.n FROM (SELECT "key", count(*) AS n FROM thief_y GROUP BY "key") s WHERE q."key" = s."key"`,
    `INSERT INTO thief_x ("key") VALUES ('a') ON CONFLICT ("key") DO UPDATE SET "key" = EXCLUDED."key"`,
    `WITH thief_c AS (SELECT * FROM thief_y) INSERT INTO thief_x SELECT * FROM thief_c`,
    `DELETE FROM thief_x USING thief_y WHERE thief_x.id = thief_y.id`,
    `CREATE TABLE thief_z AS SELECT extract(epoch FROM now()), substring('abc' FROM 1 FOR 2), trim(both ' ' FROM 'x'), CURRENT_TIMESTAMP, coalesce(NULL, 1), greatest(1, 2)`,
    `INSERT INTO thief_x (n) SELECT g FROM generate_series(1, 3) AS g`,
    `DROP TABLE IF EXISTS thief_x, thief_y CASCADE`,
    `DROP INDEX thief_i`,
  ])("allows %s", (sql) => {
    expect(confinePgStatement(sql, PREFIX)).toEqual([]);
  });

  it.each([
    ["a comma join", "INSERT INTO thief_x SELECT * FROM thief_seed, plugin_records", "'plugin_records'"],
    ["a sub-select", "UPDATE thief_x SET v = (SELECT value FROM plugin_records LIMIT 1)", "'plugin_records'"],
    ["a second table to drop", "DROP TABLE IF EXISTS thief_x, plugin_records CASCADE", "'plugin_records'"],
    ["a schema-qualified table", "INSERT INTO thief_x SELECT * FROM public.thief_y", "schema-qualified"],
    ["a catalog", "INSERT INTO thief_x SELECT rolpassword FROM pg_authid", "'pg_authid'"],
    ["DELETE … USING", "DELETE FROM thief_x USING users WHERE true", "'users'"],
    ["INHERITS", "CREATE TABLE thief_x () INHERITS (plugin_records)", "'plugin_records'"],
    ["LIKE", "CREATE TABLE thief_x (LIKE plugin_records)", "TableLikeClause"],
    ["a foreign key", "CREATE TABLE thief_x (id TEXT REFERENCES plugin_records (id))", "'plugin_records'"],
    ["TABLE", "INSERT INTO thief_x TABLE audit_log", "'audit_log'"],
    ["a file-reading function", "INSERT INTO thief_x SELECT pg_read_file('/etc/passwd')", "'pg_read_file'"],
    ["a role switch", "INSERT INTO thief_x SELECT set_config('role', 'postgres', true)", "'set_config'"],
    [
      "a DEFAULT evaluated later",
      "ALTER TABLE thief_x ALTER COLUMN v SET DEFAULT current_setting('x')",
      "'current_setting'",
    ],
    ["a sequence by name", "INSERT INTO thief_x SELECT nextval('plugin_records_id_seq')", "'nextval'"],
    ["a function from another schema", "INSERT INTO thief_x SELECT public.lower('x')", "another schema"],
    ["a rename out of the prefix", "ALTER TABLE thief_x RENAME TO plugin_records", "'plugin_records'"],
    ["an index out of the prefix", "CREATE INDEX users_i ON thief_x (a)", "'users_i'"],
    ["a change of owner", "ALTER TABLE thief_x OWNER TO postgres", "ChangeOwner"],
    ["a temporary table", "CREATE TEMP TABLE thief_x (a INT)", "temporary"],
    ["a view", "CREATE VIEW thief_v AS SELECT 1", "ViewStmt"],
    ["a function", "CREATE FUNCTION thief_f() RETURNS int AS 'select 1' LANGUAGE sql", "CreateFunctionStmt"],
    ["a CTE named outside the prefix", "WITH x AS (SELECT 1) INSERT INTO thief_x SELECT * FROM x", "'x'"],
    ["two statements in one", "INSERT INTO thief_x VALUES (1); DROP TABLE users", "2 statements"],
    ["unparsable SQL", "INSERT INTO thief_x VALUES (", "cannot parse"],
  ])("refuses %s", (_label, sql, named) => {
    const problems = confinePgStatement(sql, PREFIX);
    expect(problems.join("\n")).toContain(named);
  });
});

describe("SQLite confinement (a rehearsal in SQLite with only the plugin's tables)", () => {
  const own = { tables: ["CREATE TABLE thief_seed (x INTEGER PRIMARY KEY)"], indexes: [] };
  const rehearse = (sql: string) =>
    rehearseSqlite(PREFIX, own, [{ version: 1, statements: splitStatements(sql, 5).statements }]);

  it("allows work on the plugin's own tables, old and new", () => {
    expect(
      rehearse(`CREATE TABLE thief_x (id INTEGER PRIMARY KEY AUTOINCREMENT, s TEXT UNIQUE, seed INTEGER REFERENCES thief_seed (x));
        INSERT INTO thief_x (s) SELECT 'a' || t1.x FROM thief_seed AS t1, thief_seed AS t2;
        CREATE INDEX thief_x_s ON thief_x (s);
        ALTER TABLE thief_x RENAME TO thief_y;`),
    ).toEqual([]);
  });

  it.each([
    ["a comma join", "CREATE TABLE thief_x AS SELECT * FROM thief_seed, plugin_records"],
    ["[brackets]", "CREATE TABLE thief_x AS SELECT * FROM [chat_log]"],
    ["a parenthesised table", "CREATE TABLE thief_x AS SELECT * FROM (users)"],
    ["INSERT … SELECT", "INSERT INTO thief_seed SELECT 1 FROM thief_seed, audit_log"],
    ["main.", "INSERT INTO thief_seed SELECT count(*) FROM main.plugin_records"],
  ])("refuses a reference to another table through %s, naming it and the line", (_label, sql) => {
    const [problem, ...more] = rehearse(sql);
    expect(more).toEqual([]);
    expect(problem).toMatchObject({ version: 1, line: 5 });
    expect(problem!.message).toMatch(/is not one of the plugin's tables/);
  });

  it.each([
    "INSERT INTO thief_seed SELECT length(sql) FROM sqlite_master",
    "INSERT INTO thief_seed SELECT length(sql) FROM 'sqlite_schema'",
    'INSERT INTO thief_seed SELECT count(*) FROM "SQLITE_TEMP_MASTER"',
    "INSERT INTO thief_seed SELECT pgsize FROM [dbstat]",
    "INSERT INTO thief_seed SELECT cid FROM pragma_table_info('plugin_records')",
  ])("refuses SQLite's own tables, which show the whole database: %s", (sql) => {
    expect(rehearse(sql)).toEqual([
      expect.objectContaining({ kind: "escape", message: expect.stringContaining("SQLite's own") }),
    ]);
  });

  it("refuses what runs but escapes: a rename out of the prefix, a foreign key to another table", () => {
    expect(rehearse("ALTER TABLE thief_seed RENAME TO plugin_records")[0]!.message).toContain(
      "outside the plugin's prefix",
    );
    expect(rehearse("CREATE TABLE thief_x (id TEXT REFERENCES plugin_records (id))")[0]!.message).toContain(
      "foreign key to 'plugin_records'",
    );
  });

  it("tells an escape from an ordinary failure, and does not fail on rows only the real tables hold", () => {
    expect(rehearse("INSERT INTO thief_seed (nope) VALUES (1)")).toEqual([
      { kind: "failure", version: 1, line: 5, message: "table thief_seed has no column named nope" },
    ]);
    expect(rehearse("INSERT INTO thief_typo VALUES (1)")[0]).toMatchObject({ kind: "failure" });
    expect(rehearse("INSERT INTO users VALUES (1)")[0]).toMatchObject({ kind: "escape" });
    expect(
      rehearse(
        "CREATE TABLE thief_child (seed INTEGER REFERENCES thief_seed (x)); INSERT INTO thief_child VALUES (42)",
      ),
    ).toEqual([]);
  });

  it("stops at the first migration with a problem, naming its version", () => {
    const problems = rehearseSqlite(PREFIX, own, [
      { version: 1, statements: splitStatements("CREATE TABLE thief_x (a INT)").statements },
      { version: 2, statements: splitStatements("INSERT INTO thief_x SELECT 1 FROM users").statements },
      { version: 3, statements: splitStatements("INSERT INTO thief_x SELECT 1 FROM chat_log").statements },
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ version: 2 });
  });
});
