import { createHash } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import manifestSchema from "../../../schemas/plugin-manifest.schema.json" with { type: "json" };
import { escapeControls } from "../../sandbox/escape-text.js";
import { errorMessage, isRoseyError, RoseyError } from "../errors.js";
import { coreTablesUnder, prefixesOverlap, tablePrefix } from "../migrations/validator.js";
import { PACKAGE_ROOT } from "../paths.js";
import { PLUGIN_NAME } from "../subjects.js";
import { MAX_MANIFEST_BYTES, readPluginFile } from "./plugin-files.js";

/** plugin.json, as `schemas/plugin-manifest.schema.json` defines it. */
export interface PluginManifest {
  name: string;
  version: string;
  description?: string;
  entry: string;
  commands?: CommandSpec[];
  subscribe?: string[];
  capabilities?: string[];
  limits?: { memoryMb?: number; handlerTimeoutMs?: number; publishPerSecond?: number };
  storage?: {
    collections?: Record<string, { schema?: Record<string, unknown> }>;
    quota?: { records?: number; bytes?: number };
  };
  configSchema?: Record<string, unknown>;
}

export interface CommandSpec {
  name: string;
  aliases?: string[];
  usage?: string;
  description?: string;
  cooldownMs?: number;
}

/** A plugin found on disk with a valid manifest. */
export interface DiscoveredPlugin {
  manifest: PluginManifest;
  /** Absolute folder. */
  dir: string;
  /** Absolute entry file. */
  entryFile: string;
}

/** A folder whose plugin could not be accepted; the others still load. */
export interface RejectedPlugin {
  dir: string;
  error: RoseyError;
}

// verbose: a pattern error carries the value it refused, which the message quotes.
const ajv = new Ajv({ allErrors: true, strict: true, verbose: true });
const validateManifest = ajv.compile<PluginManifest>(manifestSchema);

/**
 * What each pattern of the manifest schema means, by the path it applies to (array indices as `*`): an
 * author told `must match pattern "^(0|[1-9]\d*)\.…"` has to read a regular expression to learn that
 * `1.0` is not a version.
 */
const PATTERN_MEANINGS: Readonly<Record<string, string>> = {
  name: "1-32 lowercase letters, digits or '-', starting with a letter",
  version: "a semantic version such as 1.0.0 or 2.1.0-beta.1",
  entry: "a relative path inside the plugin's folder to a .js, .mjs, .ts or .mts file",
  "commands.*.name":
    "1-32 lowercase letters, digits, '_' or '-', starting with a letter or digit, without the prefix",
  "commands.*.aliases.*":
    "1-32 lowercase letters, digits, '_' or '-', starting with a letter or digit, without the prefix",
  "subscribe.*": "a NATS subject pattern of letters, digits, '_', '-', '.', '*' and '>'",
  "capabilities.*": "a capability name such as chat.send (docs/permissions.md)",
  "storage.collections": "a collection name of 1-64 lowercase letters, digits or '_', starting with a letter",
};

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const where = e.instancePath ? e.instancePath.slice(1).replaceAll("/", ".") : "(root)";
    const extra =
      e.keyword === "additionalProperties"
        ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'`
        : "";
    const meaning =
      e.keyword === "pattern" ? PATTERN_MEANINGS[where.replace(/\.\d+(?=\.|$)/g, ".*")] : undefined;
    const message = meaning ? `must be ${meaning}: current value is ${JSON.stringify(e.data)}` : e.message;
    // Keys come from the plugin's author: no control character may reach a log line or a terminal.
    return escapeControls(`'${where}' ${message ?? "is invalid"}${extra}`);
  });
}

/**
 * JSON.parse's message with the line and column of the problem: V8 gives a character offset for some errors
 * (`… in JSON at position 46`), none for others (`Unexpected token 'x', "…" is not valid JSON`,
 * `Unexpected end of JSON input`), where `jsonErrorOffset` finds it.
 */
export function jsonSyntaxError(text: string, message: string): string {
  const given = / at position (\d+)/.exec(message);
  const offset = given ? Number(given[1]) : jsonErrorOffset(text);
  if (offset === undefined) return message;
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  const where = `line ${line}, column ${column}`;
  return given ? message.replace(given[0], ` at ${where} (position ${offset})`) : `${message} (at ${where})`;
}

/** Deeper nesting than any manifest needs: the scan gives up rather than recurse further. */
const MAX_SCAN_DEPTH = 256;

/**
 * The offset where `text` stops being JSON (RFC 8259), or undefined when it is JSON or nests too deep to
 * scan. Only run after JSON.parse failed, to place its error.
 */
export function jsonErrorOffset(text: string): number | undefined {
  let i = 0;
  const stop = (): never => {
    throw i;
  };
  const space = (): void => {
    while (i < text.length && " \t\n\r".includes(text.charAt(i))) i++;
  };
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const string = (): void => {
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) stop();
      if (c !== 0x5c) {
        i++;
        continue;
      }
      const escaped = text.charAt(i + 1);
      if (escaped === "u") {
        if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) stop();
        i += 6;
      } else if (escaped !== "" && '"\\/bfnrt'.includes(escaped)) i += 2;
      else stop();
    }
    stop();
  };
  const value = (depth: number): void => {
    if (depth > MAX_SCAN_DEPTH) throw undefined;
    space();
    const c = text.charAt(i);
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      space();
      if (text.charAt(i) === close) {
        i++;
        return;
      }
      for (;;) {
        if (close === "}") {
          space();
          if (text.charAt(i) !== '"') stop();
          string();
          space();
          if (text.charAt(i) !== ":") stop();
          i++;
        }
        value(depth + 1);
        space();
        if (text.charAt(i) === ",") {
          i++;
          continue;
        }
        if (text.charAt(i) !== close) stop();
        i++;
        return;
      }
    }
    if (c === '"') {
      string();
      return;
    }
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (!NUMBER.test(text)) stop();
    i = NUMBER.lastIndex;
  };
  try {
    value(0);
    space();
    if (i < text.length) stop();
    return undefined;
  } catch (at) {
    return typeof at === "number" ? at : undefined;
  }
}

/**
 * Reads and validates `<dir>/plugin.json`. Throws `MANIFEST_INVALID` naming the file and every problem.
 * The manifest's name must equal its folder name: a plugin cannot claim another's identity.
 */
export function readManifest(dir: string): DiscoveredPlugin {
  const file = path.join(dir, "plugin.json");
  const shown = escapeControls(file);
  // Only a regular file inside the folder, at most MAX_MANIFEST_BYTES (plugin-files.ts).
  const bytes = readPluginFile(file, {
    root: dir,
    maxBytes: MAX_MANIFEST_BYTES,
    code: "MANIFEST_INVALID",
    what: "manifest",
  });
  let raw: unknown;
  const text = bytes.toString("utf8");
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // V8 quotes the text it choked on: escaped, it cannot write to the operator's terminal.
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Cannot read ${shown}: ${escapeControls(jsonSyntaxError(text, errorMessage(err)))}`,
      { cause: err },
    );
  }
  if (!validateManifest(raw)) {
    const problems = describe(validateManifest.errors);
    throw new RoseyError("MANIFEST_INVALID", `Invalid manifest ${shown}:\n  - ${problems.join("\n  - ")}`, {
      details: { problems },
    });
  }
  const manifest = raw;
  const folder = path.basename(dir);
  if (manifest.name !== folder) {
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Invalid manifest ${shown}: 'name' must equal the folder name '${escapeControls(folder)}': current value is ${JSON.stringify(manifest.name)}`,
    );
  }
  const entryFile = path.resolve(dir, manifest.entry);
  if (!entryFile.startsWith(dir + path.sep)) {
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Invalid manifest ${shown}: 'entry' must stay inside the plugin folder`,
    );
  }
  try {
    if (!statSync(entryFile).isFile()) throw new Error("not a file");
  } catch {
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Invalid manifest ${shown}: 'entry' file ${manifest.entry} does not exist`,
    );
  }
  return { manifest, dir, entryFile };
}

/**
 * Every sub-folder of `pluginsDir` that has a plugin.json, split into accepted and rejected. Both plugins
 * of a pair whose table prefixes overlap are rejected with `PLUGIN_PREFIX_CLASH` (see `prefixClashes`).
 */
export function discoverPlugins(pluginsDir: string): {
  plugins: DiscoveredPlugin[];
  rejected: RejectedPlugin[];
} {
  const plugins: DiscoveredPlugin[] = [];
  const rejected: RejectedPlugin[] = [];
  const reject = (dir: string, err: unknown) =>
    rejected.push({
      dir,
      error:
        err instanceof RoseyError
          ? err
          : new RoseyError("MANIFEST_INVALID", errorMessage(err), { cause: err }),
    });
  let names: string[];
  try {
    names = readdirSync(pluginsDir).sort();
  } catch (err) {
    throw new RoseyError(
      "CONFIG_INVALID",
      `Cannot read plugins directory ${pluginsDir}: ${errorMessage(err)}. Set plugins.directory (a relative path is relative to the config file's folder)${
        (err as NodeJS.ErrnoException).code === "ENOENT"
          ? `; Rosey's bundled plugins are in ${path.join(PACKAGE_ROOT, "plugins")}`
          : ""
      }`,
      {
        cause: err,
      },
    );
  }
  const folders: string[] = [];
  for (const name of names) {
    try {
      if (statSync(path.join(pluginsDir, name, "plugin.json"), { throwIfNoEntry: false })?.isFile())
        folders.push(name);
    } catch (err) {
      reject(path.join(pluginsDir, name), err);
    }
  }
  // Every folder named like a plugin counts, valid manifest or not, enabled or not, whatever its
  // capabilities: tables outlive all of these (a plugin broken or disabled today, or granted `storage`
  // later, still has the tables it made), and its neighbour must not inherit them meanwhile. A folder not
  // named like a plugin can never load, so it has no tables and refuses nobody.
  const clashes = prefixClashes(folders.filter((name) => PLUGIN_NAME.test(name)));
  for (const name of folders) {
    const dir = path.join(pluginsDir, name);
    const clash = clashes.get(name);
    if (clash) {
      reject(dir, clash);
      continue;
    }
    try {
      plugins.push(readManifest(dir));
    } catch (err) {
      reject(dir, err);
    }
  }
  return { plugins, rejected };
}

/**
 * For each plugin whose table prefix overlaps another's (`prefixesOverlap`), the `PLUGIN_PREFIX_CLASH`
 * refusal naming both. Both sides are refused, so which one loads never depends on order; the operator
 * renames one. A plugin whose prefix covers one of Rosey's own tables (`CORE_TABLES`) is refused alone.
 */
export function prefixClashes(names: readonly string[]): Map<string, RoseyError> {
  const out = new Map<string, RoseyError>();
  for (const name of names) {
    const prefix = tablePrefix(name);
    const core = coreTablesUnder(name);
    if (core.length > 0) {
      out.set(
        name,
        new RoseyError(
          "PLUGIN_PREFIX_CLASH",
          `Plugin '${name}' is refused as its table prefix '${prefix}' covers Rosey's own table${core.length === 1 ? "" : "s"} ${core.join(", ")}: it could read and write ${core.length === 1 ? "it" : "them"} as its own. Rename it (folder and manifest 'name')`,
          { details: { plugin: name, prefix, coreTables: core } },
        ),
      );
      continue;
    }
    const others = names.filter((other) => other !== name && prefixesOverlap(name, other));
    if (others.length === 0) continue;
    const listed = others.map((o) => `'${o}' (prefix '${tablePrefix(o)}')`).join(", ");
    out.set(
      name,
      new RoseyError(
        "PLUGIN_PREFIX_CLASH",
        `Plugin '${name}' is refused as its table prefix '${prefix}' overlaps that of ${listed}: each could read and write the other's tables, so both are refused. Rename one of them (folder and manifest 'name') so that neither prefix starts with the other`,
        {
          details: {
            plugin: name,
            prefix,
            clashesWith: others.map((o) => ({ plugin: o, prefix: tablePrefix(o) })),
          },
        },
      ),
    );
  }
  return out;
}

/**
 * Discovery's `PLUGIN_PREFIX_CLASH` refusal of `plugin` in `pluginsDir`, if any: for the paths that reach a
 * plugin's tables by name without loading it (`rosey migrate`, migrate requests to the database service).
 */
export function prefixClashOf(pluginsDir: string, plugin: string): RoseyError | undefined {
  const dir = path.join(pluginsDir, plugin);
  return discoverPlugins(pluginsDir).rejected.find(
    (r) => r.dir === dir && isRoseyError(r.error, "PLUGIN_PREFIX_CLASH"),
  )?.error;
}

/** SHA-256 of a plugin's code as loaded (for `rosey audit` and reload detection). */
export function sha256(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}
