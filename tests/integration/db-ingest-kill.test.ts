import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { type Database, type DatabaseTarget, openDatabase } from "../../src/core/db/connection.js";
import { silentLogger } from "../../src/core/logger.js";
import { runtimeFile } from "../../src/core/paths.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";
import { startPrivateNats } from "../support/private-nats.js";

/**
 * Ingestion survives a database service that is SIGKILLed mid-stream: the service runs as a real child
 * process (the compiled `rosey db` entry), is killed while it writes, events keep arriving while it is
 * down, and a restarted service finishes the job. Every event is written exactly once: no loss (all
 * rows), no duplicates (unique event ids, and the per-user line counter — which is not idempotent by
 * itself — equals the number of events).
 */

const ENTRY = runtimeFile("core/db/service-main.js");
const TOTAL = 6_000;

const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-db-kill-"));
let pgServer: TestPostgres;
let nats: Awaited<ReturnType<typeof startPrivateNats>>;
beforeAll(async () => {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run 'npm run build' first (npm test does)`);
  [nats, pgServer] = await Promise.all([startPrivateNats(), startTestPostgres()]);
});
afterAll(async () => {
  await nats?.stop();
  await pgServer?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function startService(databaseUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [ENTRY], {
    env: {
      ...process.env,
      NATS_URL: nats.url,
      DATABASE_URL: databaseUrl,
      ROSEY_CONFIG: "",
      LOG_LEVEL: "warn",
      ROSEY_DB_ACK_WAIT_MS: "1500",
    },
    cwd: tmp,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`db service did not start: ${stderr}`)), 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`db service exited (${code}) before ready: ${stderr}`));
    });
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

const engines: Array<[string, () => Promise<{ url: string; target: DatabaseTarget }>]> = [
  [
    "sqlite",
    async () => {
      const file = path.join(tmp, "kill.sqlite");
      return { url: `file:${file}`, target: { engine: "sqlite", file } };
    },
  ],
  [
    "postgresql",
    async () => {
      const url = await pgServer.createDatabase();
      return { url, target: { engine: "postgresql", url, poolSize: 2 } };
    },
  ],
];

describe.sequential.each(engines)("ingestion with a killed service on %s", (engine, prepare) => {
  let bus: Bus;
  let db: Database | undefined;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) await kill(c);
    await bus?.close();
    await db?.close();
  });

  it("loses nothing and duplicates nothing", async () => {
    const { url, target } = await prepare();
    bus = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
    const first = await startService(url);
    children.push(first);
    db = await openDatabase(target);
    const user = `u-${engine}`;
    const count = () => db!.prisma.chatMessage.count({ where: { username: user } });

    let sent = 0;
    const publishSome = async (n: number) => {
      for (let i = 0; i < n; i++, sent++) {
        bus.publish("rosey.db.message.log", {
          username: user,
          content: `line ${sent}`,
          platform: "test",
          channel: engine,
        });
        if (sent % 200 === 199) await bus.flush();
      }
      await bus.flush();
    };

    // Stream in the background; kill the service once it is well into writing.
    const streaming = (async () => {
      while (sent < TOTAL / 2) {
        await publishSome(250);
        await sleep(5);
      }
    })();
    await expect.poll(count, { timeout: 20_000, interval: 20 }).toBeGreaterThan(300);
    await kill(first);
    const atKill = await count();
    await streaming;
    await publishSome(TOTAL - sent); // the rest arrives while no service runs
    expect(atKill).toBeLessThan(TOTAL);

    const second = await startService(url);
    children.push(second);
    await expect.poll(count, { timeout: 60_000, interval: 100 }).toBe(TOTAL);
    // Wait past the ack wait so any unacked batch would have been redelivered, then check again.
    await sleep(2_500);
    expect(await count()).toBe(TOTAL);
    const distinct = await db.prisma.chatMessage.groupBy({ by: ["content"], where: { username: user } });
    expect(distinct).toHaveLength(TOTAL);
    const stats = await db.prisma.user.findUnique({ where: { username: user } });
    expect(stats?.chatLines).toBe(TOTAL);
    await kill(second);
  }, 120_000);
});
