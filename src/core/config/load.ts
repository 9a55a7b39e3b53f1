import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import type { z } from "zod";
import { didYouMean } from "../../sandbox/closest-name.js";
import { RoseyError } from "../errors.js";
import { natsConnectOptions } from "../nats/connect-options.js";
import { PACKAGE_ROOT } from "../paths.js";
import { redactUrl } from "../redact-url.js";
import { configJsonSchema, type JsonSchema } from "./config-doc.js";
import { DEFAULT_CONFIG } from "./defaults.js";
import { configSchema, type RoseyConfig } from "./schema.js";

/** Files looked for in the working directory when neither `--config` nor `ROSEY_CONFIG` names one. */
export const CONFIG_CANDIDATES = ["rosey.yaml", "rosey.yml", "rosey.json"] as const;

export interface LoadConfigOptions {
  /** Explicit file (`--config`); wins over `ROSEY_CONFIG`. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Skip env overrides (`NATS_URL`, `DATABASE_URL`, `LOG_LEVEL`): the file as written. */
  ignoreEnv?: boolean;
}

export interface LoadedConfig {
  config: Readonly<RoseyConfig>;
  /** The file the config came from, or `undefined` for the embedded defaults. */
  file: string | undefined;
  /** The environment variables that replaced config keys, in the order of `ENV_OVERRIDES`. */
  overrides: readonly EnvOverride[];
}

/** The environment variables that override a config key when set (and not empty). */
export const ENV_OVERRIDES = [
  { variable: "NATS_URL", key: ["nats", "url"] },
  { variable: "DATABASE_URL", key: ["database", "url"] },
  { variable: "LOG_LEVEL", key: ["logging", "level"] },
] as const;

/** An environment variable that replaced a config key (`LOG_LEVEL` → `logging.level`). */
export interface EnvOverride {
  variable: (typeof ENV_OVERRIDES)[number]["variable"];
  /** The dotted key it replaces: `logging.level`. */
  key: string;
  /** Its value as messages may show it: URLs with their passwords as `***`. */
  shown: string;
  /** The file's own value of the key (shown the same way), or undefined when the file does not set it. */
  replaced: string | undefined;
}

/** Where an override came from, for messages: `LOG_LEVEL="bogus" (environment, overrides 'logging.level' in FILE)`. */
export function describeOverride(o: EnvOverride, source: string): string {
  const what = o.replaced === undefined ? `sets '${o.key}'` : `overrides '${o.key}' in ${source}`;
  return `${o.variable}=${JSON.stringify(o.shown)} (environment, ${what})`;
}

/** Parses JSON or YAML text; the file name decides, YAML being a superset is the fallback. */
export function parseConfigText(text: string, file: string): unknown {
  try {
    if (file.endsWith(".json")) return JSON.parse(text);
    const doc = YAML.parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) throw doc.errors[0];
    return doc.toJS();
  } catch (err) {
    throw new RoseyError("CONFIG_INVALID", `Cannot parse config file ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * One line per problem: where (dotted path), the rule, and the value found. A problem in a key an environment
 * variable replaced names the variable instead (`describeOverride`).
 */
export function describeIssues(
  error: z.ZodError,
  input: unknown,
  overrides: readonly EnvOverride[] = [],
  source = "the config file",
): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length ? issue.path.map(String).join(".") : "(root)";
    const override = overrides.find((o) => where === o.key || where.startsWith(`${o.key}.`));
    if (override) return `${describeOverride(override, source)}: ${issue.message}`;
    if (issue.code === "unrecognized_keys")
      return unknownKeys(where, issue.path as PropertyKey[], issue.keys, input);
    const value = valueAt(input, issue.path as PropertyKey[]);
    const shown = value === undefined ? "missing" : JSON.stringify(value);
    return `'${where}' ${issue.message}: current value is ${shown === undefined ? String(value) : truncate(shown)}`;
  });
}

/** The config's JSON Schema, rendered at the first unknown key: only a config with a typo needs it. */
let jsonSchema: JsonSchema | undefined;

/**
 * A key the config does not define is most often a typo: say which keys were meant, not the whole value
 * around it (the root's value is the entire file).
 */
function unknownKeys(where: string, at: PropertyKey[], keys: readonly string[], input: unknown): string {
  jsonSchema ??= configJsonSchema();
  const known = knownKeysAt(jsonSchema, at, input);
  const each = keys.map((key) => `${JSON.stringify(key)}${didYouMean(key, known)}`).join(", ");
  const list = known.length ? ` (known here: ${known.join(", ")})` : "";
  return `'${where}' has ${keys.length === 1 ? "a key" : "keys"} the config does not define: ${each}${list}`;
}

/** The keys the config's JSON Schema allows at `path` (a platform entry: those of its `type`). */
function knownKeysAt(schema: JsonSchema, path: PropertyKey[], input: unknown): string[] {
  let node: JsonSchema | undefined = schema;
  let value = input;
  for (const key of path) {
    if (!node) return [];
    const branch = pickBranch(node, value);
    node =
      typeof key === "number"
        ? (branch.items as JsonSchema | undefined)
        : (branch.properties?.[String(key)] ??
          (typeof branch.additionalProperties === "object" ? branch.additionalProperties : undefined));
    value =
      value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  return node ? Object.keys(pickBranch(node, value).properties ?? {}) : [];
}

/** Of a `oneOf`, the branch whose `type` constant the value carries (a platform entry); else the node itself. */
function pickBranch(node: JsonSchema, value: unknown): JsonSchema {
  const type = (value as { type?: unknown } | null)?.type;
  return node.oneOf?.find((b) => b.properties?.type?.const === type) ?? node;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function valueAt(input: unknown, keys: PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of keys) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Validates raw config input; throws `CONFIG_INVALID` listing every problem. `overrides` are the environment
 * variables already folded into `input`: their problems are reported as theirs, not the file's.
 */
export function validateConfig(
  input: unknown,
  source: string,
  overrides: readonly EnvOverride[] = [],
): RoseyConfig {
  const parsed = configSchema.safeParse(input ?? {});
  const envLines = overrides.flatMap((o) => {
    const problem = overrideProblem(o.variable, valueAt(input, o.key.split(".")));
    return problem ? [`${describeOverride(o, source)}: ${problem}`] : [];
  });
  const lines = [
    ...(parsed.success ? [] : describeIssues(parsed.error, input, overrides, source)),
    ...envLines,
  ];
  if (lines.length > 0 || !parsed.success) {
    const fromEnv = lines.every((line) => overrides.some((o) => line.startsWith(`${o.variable}=`)));
    const title = fromEnv
      ? `Invalid environment override of the config (${source})`
      : `Invalid config in ${source}${overrides.length ? " with its environment overrides" : ""}`;
    throw new RoseyError("CONFIG_INVALID", `${title}:\n  - ${lines.join("\n  - ")}`, {
      details: { problems: lines },
    });
  }
  return parsed.data;
}

/**
 * What the schema cannot tell about an override's value, and `rosey start` would only find later (a database
 * URL of another kind, a NATS URL nats.js cannot read): said at load, naming the variable.
 */
function overrideProblem(variable: EnvOverride["variable"], value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  if (variable === "DATABASE_URL") {
    if (value.startsWith("file:")) return undefined;
    if (!/^postgres(ql)?:\/\//i.test(value)) return "must be a postgres://, postgresql:// or file: URL";
    return URL.canParse(value) ? undefined : "is not a URL (percent-encode @ : / in the password)";
  }
  if (variable === "NATS_URL") {
    try {
      natsConnectOptions(value);
    } catch {
      return "must be nats://[user:password@]host[:port], or a comma-separated list of them sharing one set of credentials";
    }
  }
  return undefined;
}

function applyEnv(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): { input: Record<string, unknown>; overrides: EnvOverride[] } {
  const input: Record<string, unknown> = { ...raw };
  const overrides: EnvOverride[] = [];
  const show = (value: unknown): string | undefined =>
    value === undefined ? undefined : typeof value === "string" ? redactUrl(value) : JSON.stringify(value);
  for (const { variable, key } of ENV_OVERRIDES) {
    const value = env[variable];
    if (!value) continue;
    const [section, name] = key;
    const current = input[section];
    const copy = current && typeof current === "object" ? { ...(current as Record<string, unknown>) } : {};
    overrides.push({ variable, key: key.join("."), shown: show(value) ?? "", replaced: show(copy[name]) });
    copy[name] = value;
    input[section] = copy;
  }
  return { input, overrides };
}

function findConfigFile(options: LoadConfigOptions, env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const named = options.file ?? env.ROSEY_CONFIG;
  if (named) {
    const resolved = path.resolve(cwd, named);
    if (!existsSync(resolved)) throw new RoseyError("CONFIG_INVALID", `Config file not found: ${resolved}`);
    return resolved;
  }
  for (const candidate of CONFIG_CANDIDATES) {
    const resolved = path.resolve(cwd, candidate);
    if (existsSync(resolved)) return resolved;
  }
  return undefined;
}

/**
 * Loads the config: `--config FILE`, else `ROSEY_CONFIG`, else `rosey.yaml|yml|json` in the working
 * directory, else the embedded defaults. Env overrides (`NATS_URL`, `DATABASE_URL`, `LOG_LEVEL`) apply last.
 * Relative paths (`dataDir`, `plugins.directory`, `database.path`) resolve against the config file's folder;
 * with the embedded defaults, data goes under the working directory and plugins come from the package.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = findConfigFile(options, env, cwd);
  let raw: unknown = DEFAULT_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new RoseyError("CONFIG_INVALID", `Cannot read config file ${file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    raw = parseConfigText(text, file) ?? {};
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new RoseyError("CONFIG_INVALID", `Invalid config in ${file}: the top level must be a mapping`);
  }
  const { input, overrides } = options.ignoreEnv
    ? { input: raw as Record<string, unknown>, overrides: [] }
    : applyEnv(raw as Record<string, unknown>, env);
  const config = validateConfig(input, file ?? "embedded defaults", overrides);
  const base = file ? path.dirname(file) : cwd;
  config.dataDir = path.resolve(base, config.dataDir);
  config.plugins.directory = path.resolve(file ? base : PACKAGE_ROOT, config.plugins.directory);
  if (config.database.path) config.database.path = path.resolve(base, config.database.path);
  return { config: deepFreeze(config), file, overrides };
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
