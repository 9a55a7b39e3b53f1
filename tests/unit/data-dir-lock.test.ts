import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DATA_DIR_LOCK_FILE, lockDataDir } from "../../src/core/data-dir-lock.js";
import { processIdentity } from "../../src/core/process-identity.js";
import { thrownRoseyError } from "../support/rosey-error.js";
import { useTempDir } from "../support/temp-dir.js";

describe("lockDataDir", () => {
  const dir = useTempDir("rosey-lock-");
  const lockFile = () => path.join(dir(), DATA_DIR_LOCK_FILE);
  const writeLock = (content: string) => writeFileSync(lockFile(), content);
  let sleeper: ChildProcess | undefined;

  afterEach(() => {
    sleeper?.kill("SIGKILL");
    sleeper = undefined;
  });

  /** A pid that ran and no longer does. */
  const deadPid = (): number => {
    const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    return Number(child.stdout.toString());
  };

  it("holds the data dir with a file naming this pid, refuses a second holder, and is free once released", () => {
    const data = path.join(dir(), "data");
    const lock = lockDataDir(data);
    expect(JSON.parse(readFileSync(lock.file, "utf8"))).toMatchObject({ pid: process.pid });
    // A data dir it creates is its owner's only: it will hold the database and the NATS credentials.
    expect(statSync(data).mode & 0o777).toBe(0o700);
    const err = thrownRoseyError(() => lockDataDir(data));
    expect(err.code).toBe("DATA_DIR_IN_USE");
    expect(err.message).toBe(
      `Cannot start as an earlier start in this process is using data dir ${data}: stop it, or give this one another dataDir`,
    );
    lock.release();
    lock.release();
    expect(existsSync(lock.file)).toBe(false);
    lockDataDir(data).release();
    // Nothing but the lock was ever written beside it.
    expect(readdirSync(data)).toEqual([]);
  });

  it("refuses while another live process holds it, naming that pid", async () => {
    sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = sleeper.pid as number;
    writeLock(JSON.stringify({ pid }));
    const err = thrownRoseyError(() => lockDataDir(dir()));
    expect(err.code).toBe("DATA_DIR_IN_USE");
    expect(err.message).toContain(`another rosey start (pid ${pid}) is using data dir ${dir()}`);
    expect(err.details).toMatchObject({ pid, dataDir: dir(), lockFile: lockFile() });
    expect(JSON.parse(readFileSync(lockFile(), "utf8"))).toEqual({ pid });
  });

  it("refuses while the process it names runs, and takes it over once that pid is another process's", () => {
    sleeper = spawn("sleep", ["30"], { stdio: "ignore" });
    const holder = processIdentity(sleeper.pid as number);
    expect(holder.started).toMatch(/^[0-9a-f-]+:\d+$/);
    writeLock(JSON.stringify(holder));
    expect(thrownRoseyError(() => lockDataDir(dir())).code).toBe("DATA_DIR_IN_USE");
    // The same pid, started at another time (in an earlier boot): a process that reused the dead holder's pid.
    writeLock(JSON.stringify({ pid: holder.pid, started: `another-boot:${holder.started?.split(":")[1]}` }));
    const lock = lockDataDir(dir());
    expect(JSON.parse(readFileSync(lockFile(), "utf8"))).toMatchObject(processIdentity(process.pid));
    lock.release();
  });

  it.each([
    ["a pid that no longer runs", () => JSON.stringify({ pid: deadPid() })],
    [
      "this process's pid, from an earlier run with the same pid (a container's pid 1)",
      () => JSON.stringify({ pid: process.pid }),
    ],
    ["text that is not a lock", () => "garbage"],
    ["an empty file", () => ""],
    ["pid 0, which would name a process group", () => JSON.stringify({ pid: 0 })],
  ])("takes over a stale lock: %s", (_, content) => {
    writeLock(content());
    const lock = lockDataDir(dir());
    expect(JSON.parse(readFileSync(lockFile(), "utf8"))).toMatchObject({ pid: process.pid });
    lock.release();
    expect(readdirSync(dir())).toEqual([]);
  });

  it("release leaves a lock that is no longer its own", () => {
    const lock = lockDataDir(dir());
    writeLock(JSON.stringify({ pid: deadPid() }));
    lock.release();
    expect(existsSync(lockFile())).toBe(true);
  });
});
