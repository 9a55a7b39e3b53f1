import type { MigrationFile, MigrationSet } from "./files.js";
import type { Catalog } from "./foreign-schema.js";
import { confinePgStatement, loadPgParser } from "./pg-confine.js";
import { OWN_SCHEMA_QUERY, rehearseSqlite } from "./sqlite-rehearsal.js";
import type { ValidationIssue } from "./validator.js";

type Issue = ValidationIssue & { version: number };

export interface Confinement {
  /** ERROR issues: SQL that reaches outside the plugin's own tables. */
  issues: Issue[];
  /**
   * SQLite: the first statement that fails on the plugin's current tables for another reason (a missing
   * column, a syntax error). Its migration must not run: the statements after it were not rehearsed.
   */
  failure?: { version: number; line: number; message: string };
}

/**
 * Whether a plugin's migrations stay within the plugin's own tables, decided by the database engine's own
 * grammar rather than the text validator's patterns (which see only the first name after FROM, INTO, …):
 * PostgreSQL's parser on PostgreSQL, a rehearsal in SQLite itself on SQLite. Each problem is an ERROR
 * issue, so it blocks `apply` and `rollback` and shows in `status` and `--dry-run` like the validator's.
 * The core schema (no prefix) is trusted SQL and not confined.
 */
export async function confine(
  catalog: Catalog,
  set: MigrationSet,
  migrations: MigrationFile[],
  direction: "up" | "down",
): Promise<Confinement> {
  const prefix = set.prefix;
  if (prefix === undefined || migrations.length === 0) return { issues: [] };
  const issue = (version: number, line: number, message: string): Issue => ({
    level: "ERROR",
    section: direction,
    version,
    line,
    message: `Not allowed in a plugin migration: ${message}`,
  });
  const steps = migrations.map((m) => ({ version: m.version, statements: m[direction] }));
  if (catalog.engine === "postgresql") {
    await loadPgParser();
    return {
      issues: steps.flatMap(({ version, statements }) =>
        statements.flatMap((statement) =>
          confinePgStatement(statement.text, prefix).map((problem) =>
            issue(version, statement.line, problem),
          ),
        ),
      ),
    };
  }
  const rows = await catalog.query(OWN_SCHEMA_QUERY, [prefix, prefix]);
  const own = {
    tables: rows.filter((r) => r.type === "table").map((r) => String(r.sql)),
    indexes: rows.filter((r) => r.type === "index").map((r) => String(r.sql)),
  };
  const problems = rehearseSqlite(prefix, own, steps);
  const failure = problems.find((p) => p.kind === "failure");
  return {
    issues: problems.filter((p) => p.kind === "escape").map((p) => issue(p.version, p.line, p.message)),
    ...(failure && { failure: { version: failure.version, line: failure.line, message: failure.message } }),
  };
}
