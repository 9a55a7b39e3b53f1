import { loadModule, parseSync } from "libpg-query";
import { errorMessage } from "../errors.js";
import { CORE_TABLES } from "./validator.js";

/**
 * Confines a plugin's PostgreSQL migration statement to the plugin's own tables by reading the parse tree
 * PostgreSQL's own parser gives (libpg-query), not by matching text. What a statement may contain is an
 * allow-list: statement kinds, expression node kinds, functions. Everything else is refused, so SQL the
 * list has not foreseen fails closed with the construct's name.
 *
 * Why a parse tree: a text check cannot know every place a relation appears (a comma join, `USING`, a
 * sub-select, `DROP TABLE a, b`, `INHERITS`, `LIKE`, `REFERENCES`). Why a function list: functions run
 * with the rights of whoever evaluates them, and a column DEFAULT or CHECK made by a migration is evaluated
 * later by the database service, often as a superuser (`pg_read_file`, `set_config('role', …)`,
 * `current_setting`, `dblink`).
 */

/** Statement kinds a plugin migration may run. Mirrors the text validator's list (validator.ts). */
const STATEMENTS = new Set([
  "CreateStmt",
  "CreateTableAsStmt",
  "IndexStmt",
  "AlterTableStmt",
  "DropStmt",
  "RenameStmt",
  "InsertStmt",
  "UpdateStmt",
  "DeleteStmt",
]);

/** Parse-tree nodes that may appear inside them: table definitions, expressions, queries over own tables. */
const NODES = new Set([
  ...STATEMENTS,
  "A_ArrayExpr",
  "A_Const",
  "A_Expr",
  "A_Indices",
  "A_Indirection",
  "A_Star",
  "AlterTableCmd",
  "BitString",
  "Boolean",
  "BooleanTest",
  "BoolExpr",
  "CaseExpr",
  "CaseWhen",
  "CoalesceExpr",
  "CollateClause",
  "ColumnDef",
  "ColumnRef",
  "CommonTableExpr",
  "Constraint",
  "DefElem",
  "Float",
  "FuncCall",
  "IndexElem",
  "Integer",
  "JoinExpr",
  "List",
  "MinMaxExpr",
  "MultiAssignRef",
  "NamedArgExpr",
  "NullTest",
  "RangeFunction",
  "RangeSubselect",
  "RangeVar",
  "ResTarget",
  "RowExpr",
  "SelectStmt",
  "SetToDefault",
  "SortBy",
  "SQLValueFunction",
  "String",
  "SubLink",
  "TypeCast",
  "TypeName",
  "WindowDef",
]);

const ALTER_COMMANDS = new Set([
  "AT_AddColumn",
  "AT_DropColumn",
  "AT_ColumnDefault",
  "AT_DropNotNull",
  "AT_SetNotNull",
  "AT_AddConstraint",
  "AT_DropConstraint",
  "AT_ValidateConstraint",
  "AT_AlterColumnType",
  "AT_AddIdentity",
  "AT_SetIdentity",
  "AT_DropIdentity",
]);

const DROPPABLE = new Set(["OBJECT_TABLE", "OBJECT_INDEX"]);
const RENAMABLE = new Set(["OBJECT_TABLE", "OBJECT_INDEX", "OBJECT_COLUMN", "OBJECT_TABCONSTRAINT"]);

/**
 * Functions a migration may call: pure computations on the values at hand. Deliberately without anything
 * that reads server state or other relations by name (`current_setting`, `nextval('…')`, `pg_*`,
 * `to_regclass`, `txid_*`, `lo_*`, `dblink*`, `query_to_xml`).
 */
export const SAFE_FUNCTIONS: ReadonlySet<string> = new Set([
  // time
  "now",
  "clock_timestamp",
  "statement_timestamp",
  "transaction_timestamp",
  "date_trunc",
  "date_part",
  "extract",
  "timezone",
  "make_date",
  "make_time",
  "make_timestamp",
  "make_timestamptz",
  "make_interval",
  "to_timestamp",
  "to_date",
  "to_char",
  "to_number",
  "age",
  "justify_interval",
  // text
  "lower",
  "upper",
  "initcap",
  "length",
  "char_length",
  "character_length",
  "octet_length",
  "substring",
  "substr",
  "left",
  "right",
  "btrim",
  "ltrim",
  "rtrim",
  "lpad",
  "rpad",
  "replace",
  "translate",
  "reverse",
  "concat",
  "concat_ws",
  "format",
  "position",
  "strpos",
  "starts_with",
  "split_part",
  "overlay",
  "like_escape",
  "md5",
  "encode",
  "decode",
  // numbers and ids
  "abs",
  "ceil",
  "ceiling",
  "floor",
  "round",
  "trunc",
  "mod",
  "power",
  "sqrt",
  "sign",
  "random",
  "gen_random_uuid",
  // aggregates and windows
  "count",
  "sum",
  "min",
  "max",
  "avg",
  "bool_and",
  "bool_or",
  "every",
  "string_agg",
  "array_agg",
  "json_agg",
  "jsonb_agg",
  "json_object_agg",
  "jsonb_object_agg",
  "row_number",
  "rank",
  "dense_rank",
  "lag",
  "lead",
  "first_value",
  "last_value",
  // JSON and arrays
  "to_json",
  "to_jsonb",
  "json_build_object",
  "jsonb_build_object",
  "json_build_array",
  "jsonb_build_array",
  "json_extract_path",
  "jsonb_extract_path",
  "json_extract_path_text",
  "jsonb_extract_path_text",
  "json_typeof",
  "jsonb_typeof",
  "json_array_length",
  "jsonb_array_length",
  "jsonb_array_elements",
  "jsonb_array_elements_text",
  "jsonb_each",
  "jsonb_each_text",
  "jsonb_object_keys",
  "jsonb_set",
  "jsonb_insert",
  "jsonb_strip_nulls",
  "array_length",
  "array_position",
  "array_append",
  "array_remove",
  "cardinality",
  "unnest",
  "generate_series",
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

let ready: Promise<void> | undefined;

/** Loads the parser (WebAssembly) once; call before `confinePgStatement`. */
export function loadPgParser(): Promise<void> {
  ready ??= loadModule();
  return ready;
}

/**
 * Problems that keep one statement from running as plugin `prefix`'s migration; empty when it may run.
 * @param text one statement, as `splitStatements` gives it.
 */
export function confinePgStatement(text: string, prefix: string): string[] {
  let tree: { stmts?: Array<{ stmt?: Obj }> };
  try {
    tree = parseSync(text);
  } catch (err) {
    return [`PostgreSQL cannot parse it: ${errorMessage(err)}`];
  }
  const problems = new Set<string>();
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) problems.add(`it holds ${stmts.length} statements where one was expected`);
  for (const { stmt } of stmts) {
    const kind = stmt ? Object.keys(stmt)[0] : undefined;
    if (!kind || !STATEMENTS.has(kind)) problems.add(`${kind ?? "an empty statement"} is not allowed`);
    else new Walker(prefix, problems).node(kind, stmt![kind] as Obj);
  }
  return [...problems];
}

function strings(list: Json | undefined): string[] {
  if (!Array.isArray(list)) return [];
  return list.map((item) => {
    const s = (item as Obj | null)?.String as Obj | undefined;
    return typeof s?.sval === "string" ? s.sval : "?";
  });
}

class Walker {
  readonly #prefix: string;
  readonly #problems: Set<string>;

  constructor(prefix: string, problems: Set<string>) {
    this.#prefix = prefix;
    this.#problems = problems;
  }

  /** Walks any value; a one-key object whose key is a node name is a node, others are inline structs. */
  value(value: Json | undefined): void {
    if (Array.isArray(value)) {
      for (const item of value) this.value(item);
      return;
    }
    if (value === null || typeof value !== "object") return;
    const keys = Object.keys(value);
    if (keys.length === 1 && /^[A-Z]/.test(keys[0]!)) {
      const kind = keys[0]!;
      if (!NODES.has(kind)) this.#problems.add(`${kind} is not allowed`);
      else this.node(kind, value[kind] as Obj);
      return;
    }
    this.inline(value);
  }

  node(kind: string, body: Obj): void {
    switch (kind) {
      case "FuncCall":
        this.#function(strings(body.funcname));
        break;
      case "A_Expr": {
        const name = strings(body.name);
        if (name.length > 1 && name[0] !== "pg_catalog")
          this.#problems.add(`operator '${name.join(".")}' from another schema is not allowed`);
        break;
      }
      case "DropStmt":
        if (!DROPPABLE.has(String(body.removeType)))
          this.#problems.add(`DROP of ${objectKind(body.removeType)} is not allowed`);
        for (const object of (body.objects ?? []) as Obj[])
          this.#own(strings((object.List as Obj | undefined)?.items));
        break;
      case "RenameStmt":
        if (!RENAMABLE.has(String(body.renameType)))
          this.#problems.add(`renaming ${objectKind(body.renameType)} is not allowed`);
        else if (body.renameType === "OBJECT_TABLE" || body.renameType === "OBJECT_INDEX")
          this.#own([String(body.newname)]);
        break;
      case "IndexStmt":
        if (typeof body.idxname === "string") this.#own([body.idxname]);
        if (body.tableSpace) this.#problems.add("a TABLESPACE is not allowed");
        break;
      case "CreateStmt":
        if (body.tablespacename) this.#problems.add("a TABLESPACE is not allowed");
        if (body.accessMethod) this.#problems.add("a table access method is not allowed");
        break;
      case "CreateTableAsStmt":
        if (body.objtype !== "OBJECT_TABLE")
          this.#problems.add(`CREATE ${objectKind(body.objtype)} is not allowed`);
        break;
      case "AlterTableStmt":
        if (body.objtype !== "OBJECT_TABLE")
          this.#problems.add(`ALTER ${objectKind(body.objtype)} is not allowed`);
        break;
      case "AlterTableCmd":
        if (!ALTER_COMMANDS.has(String(body.subtype)))
          this.#problems.add(`ALTER TABLE … ${String(body.subtype).replace(/^AT_/, "")} is not allowed`);
        break;
      case "Constraint":
        if (body.indexspace) this.#problems.add("a TABLESPACE is not allowed");
        break;
    }
    this.inline(body);
  }

  /** Checks the shapes that appear inline (without a node wrapper), then walks every field. */
  inline(body: Obj): void {
    if (typeof body.relname === "string") this.#relation(body);
    if (Array.isArray(body.names) && "typemod" in body) {
      const names = strings(body.names);
      if (names.length > 2 || (names.length === 2 && names[0] !== "pg_catalog"))
        this.#problems.add(`type '${names.join(".")}' from another schema is not allowed`);
    }
    for (const key of Object.keys(body)) this.value(body[key]);
  }

  #relation(range: Obj): void {
    const qualified = [range.catalogname, range.schemaname, range.relname].filter(
      (p) => typeof p === "string",
    );
    if (qualified.length > 1) {
      this.#problems.add(
        `schema-qualified name '${qualified.join(".")}' is not allowed: a plugin's tables live in the default schema`,
      );
      return;
    }
    if (range.relpersistence === "t") this.#problems.add("temporary tables are not allowed");
    this.#own([String(range.relname)]);
  }

  /** A table, index or CTE name: unqualified and under the plugin's prefix. */
  #own(name: string[]): void {
    if (name.length !== 1) {
      this.#problems.add(
        `schema-qualified name '${name.join(".")}' is not allowed: a plugin's tables live in the default schema`,
      );
    } else if (!name[0]!.startsWith(this.#prefix) || CORE_TABLES.includes(name[0]!)) {
      this.#problems.add(
        `'${name[0]}' does not carry the plugin's table prefix '${this.#prefix}': a plugin's migrations may only touch its own tables (name WITH queries with the prefix too)`,
      );
    }
  }

  #function(name: string[]): void {
    const bare = name.length === 2 && name[0] === "pg_catalog" ? [name[1]!] : name;
    if (bare.length !== 1)
      this.#problems.add(`function '${name.join(".")}' from another schema is not allowed`);
    else if (!SAFE_FUNCTIONS.has(bare[0]!))
      this.#problems.add(
        `function '${bare[0]}' is not allowed in plugin migrations (docs/database.md lists the allowed ones)`,
      );
  }
}

function objectKind(value: Json | undefined): string {
  return String(value ?? "?")
    .replace(/^OBJECT_/, "")
    .toLowerCase()
    .replaceAll("_", " ");
}
