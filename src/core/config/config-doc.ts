import { z } from "zod";
import { configSchema } from "./schema.js";

/**
 * Renders `schemas/config.schema.json` and `docs/configuration.md` from the zod config schema (schema.ts) and
 * the descriptions its keys carry. Pure: the same schema always gives the same text, so
 * `tests/unit/config-doc.test.ts` can compare the committed files with a fresh rendering and fail when
 * someone forgot `npm run docs:config`.
 */

/** The part of JSON Schema the generated schema uses. */
export interface JsonSchema {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  required?: string[];
}

export const CONFIG_SCHEMA_ID = "https://rosey.dev/schemas/config.schema.json";

/**
 * The config file as JSON Schema (draft-07, like the manifest's): the input side of `configSchema`, so a key
 * with a default is optional. What a `.refine()` checks is invisible to `z.toJSONSchema`; the one rule JSON
 * Schema can say is added here (the test holds it to zod's answers), the others are left to `rosey config check`.
 */
export function configJsonSchema(): JsonSchema {
  const { $schema, ...generated } = z.toJSONSchema(configSchema, {
    target: "draft-07",
    io: "input",
  }) as JsonSchema;
  const schema: JsonSchema = {
    $schema,
    $id: CONFIG_SCHEMA_ID,
    title: "Rosey config (rosey.yaml, rosey.yml or rosey.json)",
    description:
      "Config version 2 of the Rosey platform. Every key is optional; docs/configuration.md lists the defaults. " +
      "Generated from src/core/config/schema.ts by `npm run docs:config`.",
    ...generated,
  };
  const interval = propertyAt(schema, "monitoring.metricsIntervalMs");
  delete interval.minimum;
  delete interval.maximum;
  interval.anyOf = [{ const: 0 }, { minimum: 1_000, maximum: 3_600_000 }];
  return schema;
}

/** `schemas/config.schema.json`'s text. */
export function renderConfigSchemaJson(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

function propertyAt(schema: JsonSchema, key: string): JsonSchema {
  let node = schema;
  for (const name of key.split(".")) {
    const next = node.properties?.[name];
    if (!next) throw new Error(`config schema has no key '${key}'`);
    node = next;
  }
  return node;
}

/** Environment variables that stand in for a key (load.ts `ENV_OVERRIDES`) or pick the file. */
const ENVIRONMENT: readonly { variable: string; key?: string; what: string }[] = [
  { variable: "ROSEY_CONFIG", what: "the config file to read when `--config` names none" },
  { variable: "NATS_URL", key: "nats.url", what: "replaces `nats.url`" },
  { variable: "DATABASE_URL", key: "database.url", what: "replaces `database.url`" },
  { variable: "LOG_LEVEL", key: "logging.level", what: "replaces `logging.level`" },
];

/** A `Number.isSafeInteger` bound that zod's `.int()` adds: no range worth printing. */
const unbounded = (n: number | undefined): boolean =>
  n === undefined || Math.abs(n) >= Number.MAX_SAFE_INTEGER;

const code = (value: unknown): string => `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;

function typeOf(node: JsonSchema): string {
  if (node.items) return `array of ${node.items.oneOf ? "objects" : typeOf(node.items)}`;
  if (typeof node.additionalProperties === "object") {
    return `map of ${typeOf(node.propertyNames ?? {})} → ${typeOf(node.additionalProperties)}`;
  }
  if (Array.isArray(node.type)) return node.type.join(" or ");
  return node.type ?? "any";
}

function allowed(node: JsonSchema): string {
  const parts: string[] = [];
  if (node.const !== undefined) parts.push(code(node.const));
  if (node.enum) parts.push(node.enum.map(code).join(", "));
  const [min, max] = [node.minimum, node.maximum];
  if (!unbounded(min) && !unbounded(max)) parts.push(`${min}..${max}`);
  else if (!unbounded(min)) parts.push(`≥ ${min}`);
  else if (!unbounded(max)) parts.push(`≤ ${max}`);
  if (node.minLength !== undefined || node.maxLength !== undefined) {
    const [lo, hi] = [node.minLength ?? 0, node.maxLength];
    parts.push(
      hi === undefined ? (lo === 1 ? "not empty" : `≥ ${lo} characters`) : `${lo}..${hi} characters`,
    );
  }
  if (node.pattern) parts.push(code(node.pattern));
  if (node.format === "uri") parts.push("a URL");
  if (node.anyOf) parts.push(node.anyOf.map(allowed).join(" or "));
  if (node.items && !node.items.oneOf && allowed(node.items)) parts.push(`each ${allowed(node.items)}`);
  if (node.propertyNames && allowed(node.propertyNames)) parts.push(`keys ${allowed(node.propertyNames)}`);
  const values = node.additionalProperties;
  if (typeof values === "object" && !values.properties && allowed(values))
    parts.push(`values ${allowed(values)}`);
  return parts.join("; ");
}

interface Row {
  key: string;
  node: JsonSchema;
}

/** Every key under `node`, depth first in the schema's order; a map's values appear as `key.<name>`. */
function rowsOf(node: JsonSchema, prefix: string): Row[] {
  const rows: Row[] = [];
  const values = node.additionalProperties;
  if (typeof values === "object" && values.properties) {
    const key = `${prefix}.<name>`;
    rows.push({ key, node: values }, ...rowsOf(values, key));
  }
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    rows.push({ key, node: child }, ...rowsOf(child, key));
  }
  return rows;
}

const cell = (text: string): string => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function table(rows: readonly Row[]): string[] {
  return [
    "| key | type | default | allowed | description |",
    "|---|---|---|---|---|",
    ...rows.map(({ key, node }) => {
      const sectionDefault = node.properties !== undefined;
      const shown = node.default === undefined || sectionDefault ? "—" : code(node.default);
      const env = ENVIRONMENT.find((e) => e.key === key);
      const description = `${node.description ?? ""}${env ? ` Environment: \`${env.variable}\` wins.` : ""}`;
      return `| ${[code(key), typeOf(node), shown, allowed(node) || "—", description].map(cell).join(" | ")} |`;
    }),
  ];
}

/** `docs/configuration.md`'s text. */
export function renderConfigDoc(): string {
  const schema = configJsonSchema();
  const entries = Object.entries(schema.properties ?? {});
  const isSection = (node: JsonSchema): boolean =>
    node.properties !== undefined || node.items?.oneOf !== undefined;
  const topLevel = entries.filter(([, node]) => !isSection(node)).map(([key, node]) => ({ key, node }));
  const lines: string[] = [
    "# Configuration",
    "",
    "<!-- Generated by `npm run docs:config` from src/core/config/schema.ts. Do not edit by hand:",
    "     tests/unit/config-doc.test.ts fails when this file (or schemas/config.schema.json) is stale. -->",
    "",
    "Rosey reads `--config FILE`, else the file `ROSEY_CONFIG` names, else `rosey.yaml`, `rosey.yml` or",
    "`rosey.json` in the working directory, else its built-in defaults (console connector, embedded nats-server,",
    "the bundled plugins granted `basic`). A file replaces the built-in defaults as a whole; every key in it is",
    "optional and takes the default below when left out. Unknown keys are errors. Relative paths (`dataDir`,",
    "`plugins.directory`, `database.path`) resolve against the config file's folder. `rosey config check FILE`",
    "validates a file as `rosey start` would see it, without starting anything.",
    "",
    "## Environment",
    "",
    "A variable set to an empty string counts as unset.",
    "",
    "| variable | effect |",
    "|---|---|",
    ...ENVIRONMENT.map((e) => `| \`${e.variable}\` | ${e.what} |`),
    "",
    "## Editor validation and completion",
    "",
    "[`schemas/config.schema.json`](../schemas/config.schema.json) is this reference as a JSON Schema",
    "(draft-07). With VS Code's YAML extension, or any editor using yaml-language-server, a comment naming it",
    "(a path relative to the YAML file, here a `rosey.yaml` at the root of the Rosey checkout, or absolute)",
    "gives validation, completion and these descriptions on hover:",
    "",
    "```yaml",
    "# yaml-language-server: $schema=./schemas/config.schema.json",
    "version: 2",
    "```",
    "",
    "A `rosey.json` cannot name its schema in a `$schema` key (unknown keys are refused); map it in the",
    'editor\'s settings instead, e.g. VS Code\'s `"json.schemas": [{ "fileMatch": ["rosey.json"], "url":',
    '"./schemas/config.schema.json" }]`. Two rules are beyond the JSON Schema and checked only by Rosey',
    "(`rosey config check`): `database.liveness.timeoutMs` must be less than `database.liveness.intervalMs`,",
    "and a limit in `plugins.entries.<name>.limits` above `sandbox.maxLimits` is cut to it (a warning).",
    "",
    "## Sections",
    "",
    "- [Top level](#top-level)",
    ...entries.filter(([, node]) => isSection(node)).map(([key]) => `- [\`${key}\`](#${key.toLowerCase()})`),
    "",
    "## Top level",
    "",
    ...table(topLevel),
  ];
  for (const [key, node] of entries.filter(([, n]) => isSection(n))) {
    lines.push("", `## \`${key}\``, "", node.description ?? "", "");
    if (node.items?.oneOf) {
      lines.push(`Each entry of \`${key}\` is one of these, chosen by its \`type\`.`);
      for (const variant of node.items.oneOf) {
        lines.push("", `### \`type: ${variant.properties?.type?.const}\``, "", variant.description ?? "", "");
        lines.push(...table(rowsOf(variant, `${key}[]`)));
      }
    } else {
      lines.push(...table(rowsOf(node, key)));
    }
  }
  return `${lines.join("\n")}\n`;
}
