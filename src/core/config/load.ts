import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import type { z } from "zod";
import { RoseyError } from "../errors.js";
import { PACKAGE_ROOT } from "../paths.js";
import { DEFAULT_CONFIG } from "./defaults.js";
import { configSchema, type RoseyConfig } from "./schema.js";

/** Files looked for in the working directory when neither `--config` nor `ROSEY_CONFIG` names one. */
export const CONFIG_CANDIDATES = ["rosey.yaml", "rosey.yml", "rosey.json"] as const;

export interface LoadConfigOptions {
  /** Explicit file (`--config`); wins over `ROSEY_CONFIG`. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Skip env overrides (used by `rosey config check`, which checks the file as written). */
  ignoreEnv?: boolean;
}

export interface LoadedConfig {
  config: Readonly<RoseyConfig>;
  /** The file the config came from, or `undefined` for the embedded defaults. */
  file: string | undefined;
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

/** One line per problem: where (dotted path), the rule, and the value found. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.map((issue) => {
    const where = issue.path.length ? issue.path.map(String).join(".") : "(root)";
    const value = valueAt(input, issue.path as PropertyKey[]);
    const shown = value === undefined ? "missing" : JSON.stringify(value);
    return `'${where}' ${issue.message}: current value is ${shown === undefined ? String(value) : truncate(shown)}`;
  });
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

/** Validates raw config input; throws `CONFIG_INVALID` listing every problem. */
export function validateConfig(input: unknown, source: string): RoseyConfig {
  const parsed = configSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const lines = describeIssues(parsed.error, input);
    throw new RoseyError("CONFIG_INVALID", `Invalid config in ${source}:\n  - ${lines.join("\n  - ")}`, {
      details: { problems: lines },
    });
  }
  return parsed.data;
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (key: string): Record<string, unknown> => {
    const current = out[key];
    const copy = current && typeof current === "object" ? { ...(current as Record<string, unknown>) } : {};
    out[key] = copy;
    return copy;
  };
  if (env.NATS_URL) section("nats").url = env.NATS_URL;
  if (env.DATABASE_URL) section("database").url = env.DATABASE_URL;
  if (env.LOG_LEVEL) section("logging").level = env.LOG_LEVEL;
  return out;
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
  const withEnv = options.ignoreEnv
    ? (raw as Record<string, unknown>)
    : applyEnv(raw as Record<string, unknown>, env);
  const config = validateConfig(withEnv, file ?? "embedded defaults");
  const base = file ? path.dirname(file) : cwd;
  config.dataDir = path.resolve(base, config.dataDir);
  config.plugins.directory = path.resolve(file ? base : PACKAGE_ROOT, config.plugins.directory);
  if (config.database.path) config.database.path = path.resolve(base, config.database.path);
  return { config: deepFreeze(config), file };
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
