import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { RoseyError } from "./errors.js";
import { isSameProcess, type ProcessIdentity, processIdentity } from "./process-identity.js";

/**
 * One `rosey start` per data dir. Two platforms on one dataDir would share the JetStream store and the SQLite
 * file, answer every command twice and overwrite each other's `nats-server.json`, which hides the first one
 * from `rosey health`, `audit` and `metrics`. So `rosey start` holds `<dataDir>/rosey.lock`, naming its pid,
 * from before anything else starts until everything has stopped.
 *
 * A lock whose process no longer runs is stale (a killed platform) and is taken over, as a runtime file naming
 * a dead server is ignored (nats/runtime-file.ts). The lock records when its process started, so a pid that
 * another process has since been given does not keep it (process-identity.ts). So is one naming this
 * process's own pid that this process does not hold: a container's `rosey start` is often pid 1 at every start.
 *
 * The file appears with its content complete (written beside it, then hard-linked: the link fails if a lock
 * is there), so a reader never takes a half-written lock for stale. Taking over renames the stale file away
 * first: of two starts that find the same stale lock, one rename succeeds, and the other finds the winner's.
 */

/** The lock file's name in the data dir. */
export const DATA_DIR_LOCK_FILE = "rosey.lock";

export interface DataDirLock {
  /** `<dataDir>/rosey.lock`. */
  readonly file: string;
  /** Removes the lock if it is still this one's. Idempotent. */
  release(): void;
}

/** Lock files this process holds: another start in the same process is refused like one in another. */
const held = new Set<string>();

/** How often a start retries when another start takes over the same stale lock at the same moment. */
const ATTEMPTS = 5;

/**
 * Takes the data dir for this process, creating the folder if needed.
 * @throws {RoseyError} DATA_DIR_IN_USE when another live `rosey start` (or an earlier start in this process
 *   that has not stopped) holds it; the message names its pid. CONFIG_INVALID when the lock cannot be written.
 * @example const lock = lockDataDir(config.dataDir); try { … } finally { lock.release(); }
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.resolve(dataDir, DATA_DIR_LOCK_FILE);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    if (tryCreate(file)) {
      held.add(file);
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          held.delete(file);
          if (readHolder(file)?.pid === process.pid) rmSync(file, { force: true });
        },
      };
    }
    const holder = readHolder(file);
    if (holder !== undefined && isLive(file, holder)) throw inUse(dataDir, holder.pid, file);
    takeOverStale(file, dataDir, holder);
  }
  throw new RoseyError(
    "DATA_DIR_IN_USE",
    `Cannot lock data dir ${dataDir}: ${file} kept changing under ${ATTEMPTS} attempts (other starts on it?)`,
  );
}

const NO_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV"]);

/** Creates the lock naming this process; false when one is already there. */
function tryCreate(file: string): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  const content = `${JSON.stringify({ ...processIdentity(process.pid), since: new Date().toISOString() })}\n`;
  try {
    // The data dir holds the database, the NATS store and its credentials: its owner's only (a new one).
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(temp, content);
    try {
      linkSync(temp, file);
    } catch (err) {
      // A file system without hard links (some network and VM shares): an exclusive create will do.
      if (!NO_LINKS.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      writeFileSync(file, content, { flag: "wx" });
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new RoseyError(
      "CONFIG_INVALID",
      `Cannot start as the data dir lock ${file} cannot be written: ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    rmSync(temp, { force: true });
  }
}

/** The lock's process; undefined when it is gone or not a lock this module wrote (then it is stale). */
function readHolder(file: string): ProcessIdentity | undefined {
  try {
    const { pid, started } = JSON.parse(readFileSync(file, "utf8")) as { pid?: unknown; started?: unknown };
    if (!Number.isInteger(pid) || (pid as number) <= 0) return undefined;
    return { pid: pid as number, started: typeof started === "string" ? started : undefined };
  } catch {
    return undefined;
  }
}

function isLive(file: string, holder: ProcessIdentity): boolean {
  return holder.pid === process.pid ? held.has(file) : isSameProcess(holder);
}

/**
 * Moves a stale lock aside and deletes it. If a live start took the lock between our read and the rename, its
 * lock is put back (a link, which cannot overwrite a third start's) and this start is refused.
 */
function takeOverStale(file: string, dataDir: string, stale: ProcessIdentity | undefined): void {
  const aside = `${file}.stale.${process.pid}.${randomBytes(4).toString("hex")}`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // another start moved it first: retry
    throw err;
  }
  try {
    const moved = readHolder(aside);
    const same = moved?.pid === stale?.pid && moved?.started === stale?.started;
    if (moved !== undefined && !same && isLive(file, moved)) {
      try {
        linkSync(aside, file);
      } catch {
        // a third start holds it now; either way this one is refused
      }
      throw inUse(dataDir, moved.pid, file);
    }
  } finally {
    rmSync(aside, { force: true });
  }
}

function inUse(dataDir: string, pid: number, file: string): RoseyError {
  const who = pid === process.pid ? "an earlier start in this process" : `another rosey start (pid ${pid})`;
  return new RoseyError(
    "DATA_DIR_IN_USE",
    `Cannot start as ${who} is using data dir ${dataDir}: stop it, or give this one another dataDir`,
    { details: { pid, dataDir, lockFile: file } },
  );
}
