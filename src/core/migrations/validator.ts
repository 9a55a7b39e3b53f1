import type { Engine } from "../db/connection.js";
import { maskLiterals, type Statement, splitStatements } from "./sql.js";

/**
 * Static checks run before a migration touches the database. ERROR blocks apply (VALIDATION_FAILED);
 * WARNING and INFO are reported by `status`, `apply` and `--dry-run` and do not block.
 *
 * - ERROR: unbalanced parentheses, unterminated quotes/comments, statements outside the allowed list,
 *   on SQLite `ALTER TABLE … DROP COLUMN | ALTER COLUMN | ADD CONSTRAINT`, tables or indexes without the
 *   plugin's prefix, schema-qualified names, an empty UP section.
 * - WARNING: `DROP TABLE`, `DELETE` (or `UPDATE`) without `WHERE`, no DOWN section (cannot roll back).
 * - INFO: data changes (INSERT/UPDATE/DELETE) that run inside the migration's transaction.
 */

export type IssueLevel = "INFO" | "WARNING" | "ERROR";

export interface ValidationIssue {
  level: IssueLevel;
  section: "up" | "down";
  /** 1-based line in the migration file. */
  line: number;
  message: string;
}

export interface ValidateOptions {
  engine: Engine;
  /** Table prefix every name must carry (`quotes_`); `undefined` for the core schema (trusted SQL). */
  prefix: string | undefined;
}

/** `quotes` → `quotes_`; `my-plugin` → `my_plugin_`. */
export function tablePrefix(plugin: string): string {
  return `${plugin.replaceAll("-", "_")}_`;
}

/**
 * Whether two plugins' table prefixes overlap: equal, or one starts with the other (`vault_` and
 * `vault_keys_`). Names under a prefix may contain `_`, so such a pair shares tables: `vault`'s collection
 * `keys_secrets` is `vault-keys`' collection `secrets` (`vault_keys_secrets`), and that name also passes
 * `vault`'s migration prefix check. The naming is kept (renaming would break existing databases); instead
 * discovery refuses both plugins of an overlapping pair, and migrate and storage refuse them again.
 * A plugin overlaps itself: callers compare distinct plugins.
 */
export function prefixesOverlap(pluginA: string, pluginB: string): boolean {
  const a = tablePrefix(pluginA);
  const b = tablePrefix(pluginB);
  return a.startsWith(b) || b.startsWith(a);
}

/**
 * The tables the core schema's migrations create (the same on both engines; a unit test holds this list to
 * the migrations). A plugin whose prefix covers one of them (`plugin` → `plugin_records`) could reach it
 * through storage and its migrations like one of its own tables, so such a name is refused.
 */
export const CORE_TABLES: readonly string[] = Object.freeze([
  "audit_log",
  "bot_status",
  "chat_log",
  "high_water_marks",
  "ingested_events",
  "migration_locks",
  "outbound_messages",
  "plugin_records",
  "plugin_schema_migrations",
  "user_count_stats",
  "users",
]);

/** The core tables under `plugin`'s table prefix. */
export function coreTablesUnder(plugin: string): string[] {
  const prefix = tablePrefix(plugin);
  return CORE_TABLES.filter((table) => table.startsWith(prefix));
}

const IDENT = String.raw`(?:"[^"]+"|\x60[^\x60]+\x60|[A-Za-z_][A-Za-z0-9_$]*)`;
const QUALIFIED = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;

interface Classified {
  kind:
    | "create_table"
    | "create_index"
    | "drop_table"
    | "drop_index"
    | "alter_table"
    | "insert"
    | "update"
    | "delete"
    | "pragma";
  /** Names the statement defines or writes (tables, indexes). */
  names: string[];
}

const PATTERNS: Array<[RegExp, Classified["kind"]]> = [
  [new RegExp(String.raw`^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(${QUALIFIED})`, "i"), "create_table"],
  [
    new RegExp(
      String.raw`^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(${QUALIFIED})\s+ON\s+(${QUALIFIED})`,
      "i",
    ),
    "create_index",
  ],
  [new RegExp(String.raw`^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(${QUALIFIED})`, "i"), "drop_table"],
  [new RegExp(String.raw`^DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?(${QUALIFIED})`, "i"), "drop_index"],
  [new RegExp(String.raw`^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(${QUALIFIED})`, "i"), "alter_table"],
  [new RegExp(String.raw`^INSERT\s+INTO\s+(${QUALIFIED})`, "i"), "insert"],
  [new RegExp(String.raw`^UPDATE\s+(${QUALIFIED})`, "i"), "update"],
  [new RegExp(String.raw`^DELETE\s+FROM\s+(${QUALIFIED})`, "i"), "delete"],
  [/^PRAGMA\s+/i, "pragma"],
];

/** Every table a statement reads or references besides the ones it names first. */
const REFERENCES = new RegExp(String.raw`\b(?:REFERENCES|FROM|JOIN|INTO|RENAME\s+TO)\s+(${QUALIFIED})`, "gi");

/**
 * SQL spells some function arguments and one comparison with FROM: `EXTRACT(YEAR FROM at)`,
 * `SUBSTRING(s FROM 2)`, `TRIM(BOTH ' ' FROM s)`, `OVERLAY(s PLACING t FROM 2)`, `a IS DISTINCT FROM b`.
 * The name after such a FROM is a column, not a table. Skipping it here loosens nothing: the engine's own
 * check (confinement.ts) still resolves every table the statement touches.
 */
const FROM_ARGUMENT_FUNCTION = /\b(?:EXTRACT|SUBSTRING|TRIM|OVERLAY)\s*$/i;
const DISTINCT_BEFORE = /\bIS\s+(?:NOT\s+)?DISTINCT\s+$/i;

function isColumnFrom(masked: string, at: number, openParens: Int32Array): boolean {
  if (DISTINCT_BEFORE.test(masked.slice(Math.max(0, at - 24), at))) return true;
  const paren = openParens[at]!;
  return paren >= 0 && FROM_ARGUMENT_FUNCTION.test(masked.slice(Math.max(0, paren - 16), paren));
}

/** For each position of `masked`, where the innermost parenthesis around it opens (-1: none). */
function innermostOpenParens(masked: string): Int32Array {
  const result = new Int32Array(masked.length);
  const stack: number[] = [];
  for (let i = 0; i < masked.length; i++) {
    const c = masked[i];
    if (c === ")") stack.pop();
    result[i] = stack.length > 0 ? stack[stack.length - 1]! : -1;
    if (c === "(") stack.push(i);
  }
  return result;
}

function unquote(name: string): string {
  return name.replace(/\s+/g, "").replace(/["\x60]/g, "");
}

function classify(text: string): Classified | undefined {
  for (const [re, kind] of PATTERNS) {
    const m = re.exec(text);
    if (m)
      return {
        kind,
        names: m
          .slice(1)
          .filter(Boolean)
          .map((n) => unquote(n)),
      };
  }
  return undefined;
}

function parenProblem(masked: string): string | undefined {
  let depth = 0;
  for (const c of masked) {
    if (c === "(") depth++;
    else if (c === ")") {
      depth--;
      if (depth < 0) return "a ')' closes a parenthesis that was never opened";
    }
  }
  return depth > 0 ? `${depth} parenthes${depth === 1 ? "is is" : "es are"} never closed` : undefined;
}

/** Validates one section's SQL. */
export function validateSection(
  sql: string,
  section: "up" | "down",
  firstLine: number,
  options: ValidateOptions,
  /** Tables the same migration's UP creates (lowercase), when validating its DOWN. */
  createdByUp: ReadonlySet<string> = new Set(),
): { statements: Statement[]; issues: ValidationIssue[]; created: Set<string> } {
  const created = new Set<string>();
  const issues: ValidationIssue[] = [];
  const add = (level: IssueLevel, line: number, message: string) =>
    issues.push({ level, section, line, message });
  const split = splitStatements(sql, firstLine);
  if (split.unterminated) add("ERROR", firstLine, `Unterminated ${split.unterminated}`);
  for (const statement of split.statements) {
    const masked = maskLiterals(statement.text).replace(/\s+/g, " ");
    const problem = parenProblem(masked);
    if (problem) add("ERROR", statement.line, `Unbalanced parentheses: ${problem}`);
    const what = classify(masked);
    if (!what) {
      const head = masked.split(" ").slice(0, 3).join(" ");
      add("ERROR", statement.line, `Unknown or disallowed statement '${head}…'`);
      continue;
    }
    if (what.kind === "pragma") {
      if (options.prefix !== undefined)
        add("ERROR", statement.line, "PRAGMA is not allowed in plugin migrations");
      continue;
    }
    const upper = masked.toUpperCase();
    if (options.engine === "sqlite" && what.kind === "alter_table") {
      for (const [re, label] of [
        [/\bDROP\s+COLUMN\b/, "DROP COLUMN"],
        [/\bALTER\s+COLUMN\b/, "ALTER COLUMN"],
        [/\bADD\s+CONSTRAINT\b/, "ADD CONSTRAINT"],
      ] as const) {
        if (re.test(upper)) {
          add(
            "ERROR",
            statement.line,
            `ALTER TABLE … ${label} is not supported safely on SQLite: create a new table and copy`,
          );
        }
      }
    }
    if (what.kind === "create_table") created.add(what.names[0]!.toLowerCase());
    // Dropping in DOWN a table its own UP creates is that migration's undo, not a loss worth a warning.
    if (what.kind === "drop_table" && !createdByUp.has(what.names[0]!.toLowerCase()))
      add("WARNING", statement.line, `DROP TABLE ${what.names[0]} deletes its data`);
    if ((what.kind === "delete" || what.kind === "update") && !/\bWHERE\b/.test(upper)) {
      add(
        "WARNING",
        statement.line,
        `${what.kind.toUpperCase()} without WHERE affects every row of ${what.names[0]}`,
      );
    }
    if (section === "up" && (what.kind === "insert" || what.kind === "update" || what.kind === "delete")) {
      add("INFO", statement.line, `Data change on ${what.names[0]} runs inside the migration's transaction`);
    }
    if (options.prefix !== undefined) {
      const names = new Set(what.names);
      let openParens: Int32Array | undefined;
      for (const m of masked.matchAll(REFERENCES)) {
        if (/^FROM/i.test(m[0])) {
          openParens ??= innermostOpenParens(masked);
          if (isColumnFrom(masked, m.index, openParens)) continue;
        }
        names.add(unquote(m[1]!));
      }
      for (const name of names) {
        if (name.includes(".")) {
          add(
            "ERROR",
            statement.line,
            `Schema-qualified name '${name}' is not allowed: tables live in the default schema`,
          );
        } else if (!name.toLowerCase().startsWith(options.prefix)) {
          add(
            "ERROR",
            statement.line,
            `'${name}' does not carry the plugin's table prefix '${options.prefix}': a plugin's migrations may only touch its own tables`,
          );
        }
      }
    }
  }
  return { statements: split.statements, issues, created };
}

export interface MigrationValidation {
  up: Statement[];
  down: Statement[];
  issues: ValidationIssue[];
}

/** Validates a plugin migration's UP and DOWN sections together. */
export function validateMigration(
  sections: { up: string; down: string; upLine: number; downLine: number; hasDownMarker: boolean },
  options: ValidateOptions,
): MigrationValidation {
  const up = validateSection(sections.up, "up", sections.upLine, options);
  const down = validateSection(sections.down, "down", sections.downLine, options, up.created);
  const issues = [...up.issues, ...down.issues];
  if (up.statements.length === 0)
    issues.push({
      level: "ERROR",
      section: "up",
      line: sections.upLine,
      message: "The UP section has no statements",
    });
  if (!sections.hasDownMarker || down.statements.length === 0) {
    issues.push({
      level: "WARNING",
      section: "down",
      line: Math.max(sections.downLine, 1),
      message: "No DOWN section: this migration cannot be rolled back",
    });
  }
  return { up: up.statements, down: down.statements, issues };
}
