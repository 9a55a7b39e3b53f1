import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/** What a test plugin folder holds besides the manifest keys every plugin needs. */
export interface PluginFolderContents {
  /** Manifest keys after `name`, `version` 1.0.0 and `entry` index.js (which they may override). */
  manifest?: Record<string, unknown>;
  /**
   * The entry module, index.js.
   * @default "export default {};\n" (a plugin with no hooks)
   */
  code?: string;
  /** File name (e.g. "001_first.sql") → its text, in migrations/; the folder is made only for one file or more. */
  migrations?: Record<string, string>;
}

/**
 * Writes the plugin folder `<parent>/<name>` as the core reads it: plugin.json
 * `{ name, version: "1.0.0", entry: "index.js", ...manifest }`, index.js (`code`) and each of `migrations`.
 * Makes `parent` as needed and overwrites files already there. Returns the folder.
 *
 * @example
 * writePluginFolder(pluginsDir, "notes", {
 *   manifest: { capabilities: ["storage"] },
 *   migrations: { "001_first.sql": "-- UP\nCREATE TABLE notes_x (a INT);\n" },
 * });
 */
export function writePluginFolder(parent: string, name: string, contents: PluginFolderContents = {}): string {
  const dir = path.join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(dir, "plugin.json"),
    JSON.stringify({ name, version: "1.0.0", entry: "index.js", ...contents.manifest }),
  );
  writeFileSync(path.join(dir, "index.js"), contents.code ?? "export default {};\n");
  const migrations = Object.entries(contents.migrations ?? {});
  if (migrations.length > 0) mkdirSync(path.join(dir, "migrations"), { recursive: true });
  for (const [file, text] of migrations) writeFileSync(path.join(dir, "migrations", file), text);
  return dir;
}
