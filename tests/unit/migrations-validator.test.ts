import { describe, expect, it } from "vitest";
import { splitSections, splitStatements } from "../../src/core/migrations/sql.js";
import {
  prefixesOverlap,
  tablePrefix,
  validateMigration,
  validateSection,
} from "../../src/core/migrations/validator.js";

const plugin = (engine: "sqlite" | "postgresql" = "sqlite") => ({ engine, prefix: tablePrefix("quotes") });
const levels = (sql: string, engine: "sqlite" | "postgresql" = "sqlite") =>
  validateSection(sql, "up", 1, plugin(engine)).issues.map((i) => `${i.level}: ${i.message}`);

describe("SQL splitting", () => {
  it("splits on top-level semicolons only, dropping comments, keeping line numbers", () => {
    const { statements, unterminated } = splitStatements(
      "-- a comment; not a statement\nCREATE TABLE quotes_a (x TEXT DEFAULT 'a;b');\n/* ; */\nINSERT INTO quotes_a VALUES ($$;$$);\n",
    );
    expect(unterminated).toBeUndefined();
    expect(statements.map((s) => s.text)).toEqual([
      "CREATE TABLE quotes_a (x TEXT DEFAULT 'a;b')",
      "INSERT INTO quotes_a VALUES ($$;$$)",
    ]);
    expect(statements.map((s) => s.line)).toEqual([2, 4]);
  });

  it("reports an unterminated quote", () => {
    expect(splitStatements("INSERT INTO quotes_a VALUES ('oops);").unterminated).toMatch(/quote/);
  });

  it("splits UP and DOWN sections at their marker lines", () => {
    const s = splitSections(
      "-- header\n-- UP\nCREATE TABLE quotes_a (x INT);\n-- DOWN\nDROP TABLE quotes_a;\n",
    );
    expect(s.up.trim()).toBe("CREATE TABLE quotes_a (x INT);");
    expect(s.down.trim()).toBe("DROP TABLE quotes_a;");
    expect(s.upLine).toBe(3);
    expect(s.downLine).toBe(5);
  });
});

describe("migration validator levels", () => {
  it("accepts plain DDL on the plugin's own tables with no issues", () => {
    expect(
      levels(
        'CREATE TABLE quotes_a ("id" INTEGER PRIMARY KEY, t TEXT); CREATE INDEX quotes_a_t ON quotes_a (t);',
      ),
    ).toEqual([]);
  });

  it("ERROR: unbalanced parentheses, either way", () => {
    expect(levels("CREATE TABLE quotes_a (x INT;")).toEqual([
      expect.stringMatching(/^ERROR: Unbalanced parentheses/),
    ]);
    expect(levels("CREATE TABLE quotes_a (x INT));")[0]).toMatch(
      /^ERROR: Unbalanced parentheses: a '\)' closes/,
    );
  });

  it("ERROR: unknown or disallowed statements", () => {
    expect(levels("GRANT ALL ON quotes_a TO bob;")).toEqual([
      expect.stringMatching(/^ERROR: Unknown or disallowed statement 'GRANT ALL ON/),
    ]);
    expect(levels("ATTACH DATABASE 'x' AS y;")[0]).toMatch(/^ERROR: Unknown/);
    expect(levels("PRAGMA foreign_keys = OFF;")).toEqual([
      "ERROR: PRAGMA is not allowed in plugin migrations",
    ]);
  });

  it("ERROR on SQLite only: ALTER TABLE DROP COLUMN, ALTER COLUMN, ADD CONSTRAINT", () => {
    for (const tail of ["DROP COLUMN x", "ALTER COLUMN x TYPE TEXT", "ADD CONSTRAINT quotes_c UNIQUE (x)"]) {
      const sql = `ALTER TABLE quotes_a ${tail};`;
      expect(levels(sql, "sqlite")).toEqual([
        expect.stringMatching(/^ERROR: ALTER TABLE … .* is not supported safely on SQLite/),
      ]);
      expect(levels(sql, "postgresql")).toEqual([]);
    }
    expect(levels("ALTER TABLE quotes_a ADD COLUMN y TEXT;", "sqlite")).toEqual([]);
  });

  it("WARNING: DROP TABLE and DELETE without WHERE; INFO: data changes", () => {
    expect(levels("DROP TABLE quotes_a;")).toEqual(["WARNING: DROP TABLE quotes_a deletes its data"]);
    expect(levels("DELETE FROM quotes_a;")).toEqual([
      "WARNING: DELETE without WHERE affects every row of quotes_a",
      "INFO: Data change on quotes_a runs inside the migration's transaction",
    ]);
    expect(levels("DELETE FROM quotes_a WHERE x = 1;")).toEqual([
      "INFO: Data change on quotes_a runs inside the migration's transaction",
    ]);
  });

  it("ERROR: touching tables outside the plugin's prefix, or schema-qualified names", () => {
    expect(levels("CREATE TABLE users (x INT);")).toContainEqual(
      expect.stringMatching(/^ERROR: 'users' does not carry the plugin's table prefix 'quotes_'/),
    );
    expect(levels("INSERT INTO quotes_a SELECT * FROM plugin_records;")).toContainEqual(
      expect.stringMatching(/'plugin_records' does not carry/),
    );
    expect(levels("CREATE TABLE quotes_a (u INT REFERENCES users(id));")).toContainEqual(
      expect.stringMatching(/'users' does not carry/),
    );
    expect(levels("CREATE INDEX idx ON quotes_a (x);")).toContainEqual(
      expect.stringMatching(/'idx' does not carry/),
    );
    expect(levels("DROP TABLE main.quotes_a;")).toContain(
      "ERROR: Schema-qualified name 'main.quotes_a' is not allowed: tables live in the default schema",
    );
    expect(levels("ALTER TABLE quotes_a RENAME TO other;")).toContainEqual(
      expect.stringMatching(/'other' does not carry/),
    );
  });

  it("reads the FROM of EXTRACT, SUBSTRING, TRIM, OVERLAY and IS DISTINCT FROM as a column, not a table", () => {
    const info = "INFO: Data change on quotes_a runs inside the migration's transaction";
    for (const engine of ["sqlite", "postgresql"] as const) {
      expect(
        levels(
          "UPDATE quotes_a SET y = EXTRACT(YEAR FROM created_at), s = substring(body FROM 2 FOR 3), t = trim(BOTH ' ' FROM body), o = overlay(body PLACING 'x' FROM 1) WHERE a IS NOT DISTINCT FROM b AND c IS DISTINCT FROM d;",
          engine,
        ),
      ).toEqual([info]);
    }
    expect(levels("CREATE INDEX quotes_i ON quotes_a (extract (epoch from at));", "postgresql")).toEqual([]);
    // A table after FROM is still read as one, inside those calls too.
    expect(
      levels("UPDATE quotes_a SET y = EXTRACT(YEAR FROM (SELECT at FROM users LIMIT 1)) WHERE true;"),
    ).toContainEqual(expect.stringMatching(/'users' does not carry/));
    expect(levels("INSERT INTO quotes_a SELECT * FROM users WHERE x IS DISTINCT FROM y;")).toContainEqual(
      expect.stringMatching(/'users' does not carry/),
    );
  });

  it("ignores keywords inside string literals", () => {
    expect(levels("INSERT INTO quotes_a (t) VALUES ('DROP TABLE users; FROM users (');")).toEqual([
      "INFO: Data change on quotes_a runs inside the migration's transaction",
    ]);
  });

  it("a migration needs UP statements and warns without DOWN", () => {
    const none = validateMigration(splitSections("-- UP\n-- DOWN\n"), plugin());
    expect(none.issues.map((i) => i.level)).toEqual(["ERROR", "WARNING"]);
    const noDown = validateMigration(splitSections("-- UP\nCREATE TABLE quotes_a (x INT);\n"), plugin());
    expect(noDown.issues).toEqual([
      expect.objectContaining({ level: "WARNING", message: expect.stringMatching(/cannot be rolled back/) }),
    ]);
  });

  it("DROP TABLE in DOWN of a table its own UP creates is the undo, not a warning; any other drop still warns", () => {
    const undo = validateMigration(
      splitSections(
        "-- UP\nCREATE TABLE quotes_a (x INT);\n-- DOWN\nDROP TABLE Quotes_A;\nDROP TABLE quotes_b;\n",
      ),
      plugin(),
    );
    expect(undo.issues.map((i) => `${i.level} ${i.section}: ${i.message}`)).toEqual([
      "WARNING down: DROP TABLE quotes_b deletes its data",
    ]);
  });

  it("prefixes turn dashes into underscores", () => {
    expect(tablePrefix("my-plugin")).toBe("my_plugin_");
  });

  it("prefixes overlap when one starts with the other (names under a prefix may contain '_')", () => {
    // vault's collection keys_secrets and vault-keys' collection secrets are both vault_keys_secrets.
    expect(prefixesOverlap("vault", "vault-keys")).toBe(true);
    expect(prefixesOverlap("vault-keys", "vault")).toBe(true);
    expect(prefixesOverlap("foo", "foo-bar-baz")).toBe(true);
    expect(prefixesOverlap("a-", "a--b")).toBe(true);
    expect(prefixesOverlap("quotes", "quotes")).toBe(true);
    // A name that merely starts with another plugin's name is apart: the '_' ends the shorter prefix.
    expect(prefixesOverlap("vault", "vaults")).toBe(false);
    expect(prefixesOverlap("vault", "vaultkeys")).toBe(false);
    expect(prefixesOverlap("dice", "quotes")).toBe(false);
    expect(prefixesOverlap("my-plugin", "my-plugins")).toBe(false);
  });
});
