import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../src/core/config/load.js";
import { DATA_DIR_LOCK_FILE } from "../../src/core/data-dir-lock.js";
import { isRoseyError } from "../../src/core/errors.js";
import { silentLogger } from "../../src/core/logger.js";
import { RUNTIME_FILE, runningEmbeddedNats } from "../../src/core/nats/runtime-file.js";
import { type Rosey, startRosey } from "../../src/core/orchestrator.js";
import { runtimeFile } from "../../src/core/paths.js";
import { usePrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * One `rosey start` per data dir: a second is refused with DATA_DIR_IN_USE before it touches anything (the
 * first one's runtime file, JetStream store and SQLite file stay its own), whether NATS is embedded or not.
 */

const dir = useTempDir("rosey-data-lock-");
const started: Rosey[] = [];

afterEach(async () => {
  for (const rosey of started.splice(0)) await rosey.stop();
});

const configFor = (dataDir: string, extra: Record<string, unknown> = {}) => {
  const plugins = path.join(dir(), "plugins");
  mkdirSync(plugins, { recursive: true });
  return validateConfig(
    {
      dataDir,
      database: { enabled: false },
      platforms: [{ type: "external", name: "t" }],
      plugins: { directory: plugins },
      ...extra,
    },
    "test",
  );
};

const start = async (config: ReturnType<typeof configFor>): Promise<Rosey> => {
  const rosey = await startRosey({ config, logger: silentLogger() });
  started.push(rosey);
  return rosey;
};

const refusal = async (config: ReturnType<typeof configFor>): Promise<Error> => {
  try {
    started.push(await startRosey({ config, logger: silentLogger() }));
  } catch (err) {
    return err as Error;
  }
  throw new Error("the second start was not refused");
};

describe("rosey start locks its data dir", () => {
  it("refuses a second start on it (embedded NATS), leaving the first one findable, and starts again once it stopped", async () => {
    const dataDir = path.join(dir(), "data");
    const first = await start(configFor(dataDir));
    const runtime = readFileSync(path.join(dataDir, RUNTIME_FILE), "utf8");

    const err = await refusal(configFor(dataDir));
    expect(isRoseyError(err, "DATA_DIR_IN_USE")).toBe(true);
    expect(err.message).toContain(`is using data dir ${dataDir}: stop it, or give this one another dataDir`);
    // Refused before its nats-server started: the first one's note is untouched, so tools still find it.
    expect(readFileSync(path.join(dataDir, RUNTIME_FILE), "utf8")).toBe(runtime);
    expect(runningEmbeddedNats(dataDir)).toBe(first.natsUrl);

    await first.stop();
    started.splice(0);
    expect(existsSync(path.join(dataDir, DATA_DIR_LOCK_FILE))).toBe(false);
    const again = await start(configFor(dataDir));
    expect(runningEmbeddedNats(dataDir)).toBe(again.natsUrl);
  }, 60_000);

  describe("with a configured NATS", () => {
    const nats = usePrivateNats();

    it("refuses a second start on the same data dir all the same", async () => {
      const dataDir = path.join(dir(), "data");
      await start(configFor(dataDir, { nats: { url: nats.url } }));
      const err = await refusal(configFor(dataDir, { nats: { url: nats.url } }));
      expect(isRoseyError(err, "DATA_DIR_IN_USE")).toBe(true);
      // Another data dir is another platform.
      await start(configFor(path.join(dir(), "other"), { nats: { url: nats.url } }));
    }, 60_000);
  });

  it("releases the lock when the start fails part-way", async () => {
    const dataDir = path.join(dir(), "data");
    const config = configFor(dataDir, { nats: { serverBin: path.join(dir(), "no-such-nats-server") } });
    await expect(startRosey({ config, logger: silentLogger() })).rejects.toMatchObject({
      code: "NATS_SERVER_MISSING",
    });
    expect(existsSync(path.join(dataDir, DATA_DIR_LOCK_FILE))).toBe(false);
  });

  it("takes over the lock of a platform that was killed", async () => {
    const dataDir = path.join(dir(), "data");
    mkdirSync(dataDir, { recursive: true });
    // pid 2^22 + 1 is above Linux's pid_max ceiling: no process can have it.
    writeFileSync(path.join(dataDir, DATA_DIR_LOCK_FILE), JSON.stringify({ pid: 4_194_305 }));
    const rosey = await start(configFor(dataDir));
    expect(rosey.natsUrl).toMatch(/^nats:/);
    expect(JSON.parse(readFileSync(path.join(dataDir, DATA_DIR_LOCK_FILE), "utf8"))).toMatchObject({
      pid: process.pid,
    });
  }, 60_000);
});

describe("starts racing for one stale lock", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill("SIGKILL");
  });

  /** A process that tries to take the lock, says whether it holds it, and keeps it until killed. */
  const contender = (dataDir: string): Promise<string> => {
    const code = `
      const { lockDataDir } = await import(${JSON.stringify(runtimeFile("core/data-dir-lock.js"))});
      try { lockDataDir(${JSON.stringify(dataDir)}); console.log("held"); }
      catch (err) { console.log(err.code ?? String(err)); }
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    return new Promise((resolve) =>
      child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString().trim())),
    );
  };

  it("leaves exactly one holder", async () => {
    for (let round = 0; round < 3; round++) {
      const dataDir = path.join(dir(), `race-${round}`);
      mkdirSync(dataDir);
      writeFileSync(path.join(dataDir, DATA_DIR_LOCK_FILE), JSON.stringify({ pid: 4_194_305 }));
      const outcomes = await Promise.all(Array.from({ length: 6 }, () => contender(dataDir)));
      expect(outcomes.filter((o) => o === "held")).toHaveLength(1);
      expect(outcomes.filter((o) => o !== "held")).toEqual(Array(5).fill("DATA_DIR_IN_USE"));
      for (const child of children.splice(0)) child.kill("SIGKILL");
    }
  }, 60_000);
});
