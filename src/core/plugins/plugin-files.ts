import { closeSync, constants, fstatSync, openSync, readSync, realpathSync } from "node:fs";
import path from "node:path";
import { escapeControls } from "../../sandbox/escape-text.js";
import { type ErrorCode, errorMessage, RoseyError } from "../errors.js";

/**
 * Reading files a plugin's author wrote (plugin.json, migrations) in the core, which can read the operator's
 * files: only regular files, only inside the plugin's folder once symlinks are resolved, and only up to a
 * size, checked before the bytes are read. A symlink out of the folder would put another file into the
 * plugin's manifest, migrations or error messages; a FIFO or device would block the core's thread on a
 * synchronous read; a huge file would be read whole into memory.
 */

/** Largest plugin.json, in bytes. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/**
 * Largest single migration file, in bytes: room for seed data, while a folder cannot make the database
 * service read gigabytes into memory at every start (lexing, the engine checks and the run are linear:
 * ~0.1 s a MiB).
 */
export const MAX_MIGRATION_BYTES = 1024 * 1024;
/** Largest total of one plugin's migration files, in bytes. */
export const MAX_MIGRATIONS_TOTAL_BYTES = 4 * 1024 * 1024;

/** True when `file` is strictly below `dir` (both already resolved). */
export function isInside(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return (
    relative !== "" &&
    relative !== ".." &&
    !relative.startsWith(`..${path.sep}`) &&
    !path.isAbsolute(relative)
  );
}

/** The path with symlinks resolved, or `undefined` when it does not exist or cannot be resolved. */
export function realPath(file: string): string | undefined {
  try {
    return realpathSync(file);
  } catch {
    return undefined;
  }
}

export interface PluginFileRules {
  /** The plugin's folder: the file must resolve to somewhere inside it. */
  root: string;
  maxBytes: number;
  /** Error code for a refusal. */
  code: ErrorCode;
  /** What the file is, for messages: "plugin.json", "migration". */
  what: string;
}

/**
 * Reads `file` under `rules`, or throws `rules.code` naming the file and what is wrong with it. The file
 * is opened non-blocking and checked on its descriptor, so what is checked is what is read.
 */
export function readPluginFile(file: string, rules: PluginFileRules): Buffer {
  const shown = escapeControls(file);
  const refuse = (why: string, details?: Record<string, unknown>) =>
    new RoseyError(
      rules.code,
      `Cannot read ${rules.what} ${shown}: ${why}`,
      details ? { details } : undefined,
    );
  const root = realPath(rules.root) ?? path.resolve(rules.root);
  let real: string;
  try {
    real = realpathSync(file);
  } catch (err) {
    throw new RoseyError(
      rules.code,
      `Cannot read ${rules.what} ${shown}: ${escapeControls(errorMessage(err))}`,
      {
        cause: err,
      },
    );
  }
  if (!isInside(real, root))
    throw refuse(
      `it is outside the plugin's folder ${escapeControls(rules.root)} (directly or through a symlink)`,
    );
  let fd: number;
  try {
    // O_NONBLOCK: should it be a FIFO after all, opening it must not wait for a writer.
    fd = openSync(real, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new RoseyError(
      rules.code,
      `Cannot read ${rules.what} ${shown}: ${escapeControls(errorMessage(err))}`,
      {
        cause: err,
      },
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw refuse("it is not a regular file (a directory, FIFO, socket or device)");
    if (stat.size > rules.maxBytes)
      throw refuse(`it is ${stat.size} bytes, over the ${rules.maxBytes}-byte limit`, {
        bytes: stat.size,
        limit: rules.maxBytes,
      });
    // Read at most one byte past the limit: a file that grew since fstat is still bounded.
    const buffer = Buffer.alloc(Math.min(stat.size, rules.maxBytes) + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length === buffer.length) break;
    }
    if (length > rules.maxBytes)
      throw refuse(`it is over the ${rules.maxBytes}-byte limit`, { limit: rules.maxBytes });
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}
