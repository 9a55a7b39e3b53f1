import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import manifestSchema from "../../../schemas/plugin-manifest.schema.json" with { type: "json" };
import { errorMessage, RoseyError } from "../errors.js";
import { PACKAGE_ROOT } from "../paths.js";

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

const ajv = new Ajv({ allErrors: true, strict: true });
const validateManifest = ajv.compile<PluginManifest>(manifestSchema);

function describe(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const where = e.instancePath ? e.instancePath.slice(1).replaceAll("/", ".") : "(root)";
    const extra =
      e.keyword === "additionalProperties"
        ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'`
        : "";
    return `'${where}' ${e.message ?? "is invalid"}${extra}`;
  });
}

/**
 * Reads and validates `<dir>/plugin.json`. Throws `MANIFEST_INVALID` naming the file and every problem.
 * The manifest's name must equal its folder name: a plugin cannot claim another's identity.
 */
export function readManifest(dir: string): DiscoveredPlugin {
  const file = path.join(dir, "plugin.json");
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new RoseyError("MANIFEST_INVALID", `Cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
  if (!validateManifest(raw)) {
    const problems = describe(validateManifest.errors);
    throw new RoseyError("MANIFEST_INVALID", `Invalid manifest ${file}:\n  - ${problems.join("\n  - ")}`, {
      details: { problems },
    });
  }
  const manifest = raw;
  const folder = path.basename(dir);
  if (manifest.name !== folder) {
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Invalid manifest ${file}: 'name' must equal the folder name '${folder}': current value is ${JSON.stringify(manifest.name)}`,
    );
  }
  const entryFile = path.resolve(dir, manifest.entry);
  if (!entryFile.startsWith(dir + path.sep)) {
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Invalid manifest ${file}: 'entry' must stay inside the plugin folder`,
    );
  }
  try {
    if (!statSync(entryFile).isFile()) throw new Error("not a file");
  } catch {
    throw new RoseyError(
      "MANIFEST_INVALID",
      `Invalid manifest ${file}: 'entry' file ${manifest.entry} does not exist`,
    );
  }
  return { manifest, dir, entryFile };
}

/** Every sub-folder of `pluginsDir` that has a plugin.json, split into accepted and rejected. */
export function discoverPlugins(pluginsDir: string): {
  plugins: DiscoveredPlugin[];
  rejected: RejectedPlugin[];
} {
  const plugins: DiscoveredPlugin[] = [];
  const rejected: RejectedPlugin[] = [];
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
  for (const name of names) {
    const dir = path.join(pluginsDir, name);
    try {
      if (!statSync(path.join(dir, "plugin.json"), { throwIfNoEntry: false })?.isFile()) continue;
      plugins.push(readManifest(dir));
    } catch (err) {
      rejected.push({
        dir,
        error:
          err instanceof RoseyError
            ? err
            : new RoseyError("MANIFEST_INVALID", errorMessage(err), { cause: err }),
      });
    }
  }
  return { plugins, rejected };
}

/** SHA-256 of a plugin's code as loaded (for `rosey audit` and reload detection). */
export function sha256(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}
