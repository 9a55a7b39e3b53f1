/**
 * Storage fairness of the database service: can one plugin's storage requests starve another's, and the
 * event ingestion, on the same service?
 *
 * The service runs in a child process (a blocked event loop there must not stall the clocks here), on a
 * fresh nats-server and a fresh database. `plugin:hog` has its collection filled to `--records` and sends
 * `--op` requests at `--rate` per second with at most `--in-flight` unanswered: a filtered `query` ordered
 * by a JSON field or a filtered `count` (each a full scan), or `get` (what the scheduling costs a plugin
 * that is merely busy). A sandboxed plugin has at most 16 requests out; a larger figure stands for a
 * sender the gate does not hold back. `plugin:meek` does a `get` every 100 ms. Before and during the
 * attack, a few `rosey.db.message.log` events are published and timed until they are in `chat_log`.
 * `--concurrency` and `--per-plugin` override the service's storage scheduling, to compare settings.
 *
 *   npm run bench:db-fairness -- [--engines sqlite,postgresql] [--records 10000] [--op query|count|get]
 *                                [--rate 200] [--in-flight 16] [--seconds 15]
 *                                [--concurrency N] [--per-plugin N]
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { type Bus, createBus } from "../src/core/bus.js";
import { configSchema } from "../src/core/config/schema.js";
import { type DatabaseTarget, openDatabase } from "../src/core/db/connection.js";
import { startDatabaseService } from "../src/core/db/database-service.js";
import type { DbReply } from "../src/core/db/kv-protocol.js";
import { isRoseyError } from "../src/core/errors.js";
import { silentLogger } from "../src/core/logger.js";
import { loadCoreMigrations } from "../src/core/migrations/files.js";
import { MigrationRunner } from "../src/core/migrations/runner.js";
import { startEmbeddedNats } from "../src/core/nats/embedded-server.js";
import { startTestPostgres, type TestPostgres } from "../tests/support/postgres.js";
import { fillScanRecords } from "./scan-records.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const REQUEST_TIMEOUT_MS = 5_000;

if (process.argv.includes("--service")) {
  // Child: the database service alone, as `rosey db` runs it.
  const { natsUrl, target, pluginsDir, dataDir, storageScheduling } = JSON.parse(arg("service", "{}")) as {
    natsUrl: string;
    target: DatabaseTarget;
    pluginsDir: string;
    dataDir: string;
    storageScheduling?: { concurrency?: number; perKey?: number };
  };
  const config = configSchema.parse({
    dataDir,
    plugins: { directory: pluginsDir },
    database: { maxQuota: { records: 1_000_000, bytes: 1024 ** 3 } },
  });
  const service = await startDatabaseService({
    natsUrl,
    config,
    logger: silentLogger(),
    target,
    ...(storageScheduling ? { storageScheduling } : {}),
  });
  process.stdout.write("ready\n");
  process.once("SIGTERM", () => void service.stop().then(() => process.exit(0)));
} else {
  await main();
}

interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  timeouts: number;
  errors: Record<string, number>;
}

function summarise(latencies: number[], timeouts: number, errors: Record<string, number>): Summary {
  const s = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN);
  return { n: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), timeouts, errors };
}

/** Sends `send()` every `intervalMs`, at most `inFlight` unanswered, until `stop`; latencies of answers. */
function load(
  send: () => Promise<DbReply<unknown>>,
  intervalMs: number,
  inFlight: number,
): { stop(): Promise<Summary> } {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let timeouts = 0;
  let pending = 0;
  const all = new Set<Promise<void>>();
  const tick = () => {
    if (pending >= inFlight) return;
    pending++;
    const t0 = performance.now();
    const p = send().then(
      (reply) => {
        if (reply.success) latencies.push(performance.now() - t0);
        else errors[reply.error.code] = (errors[reply.error.code] ?? 0) + 1;
      },
      (err: unknown) => {
        if (isRoseyError(err, "TIMEOUT")) timeouts++;
        else {
          const code = isRoseyError(err) ? err.code : "CLIENT";
          errors[code] = (errors[code] ?? 0) + 1;
        }
      },
    );
    const done = p.finally(() => {
      pending--;
      all.delete(done);
    });
    all.add(done);
  };
  // Several per timer tick when the interval is below the timer's resolution.
  const perTick = Math.max(1, Math.round(5 / intervalMs));
  const timer = setInterval(
    () => {
      for (let i = 0; i < perTick; i++) tick();
    },
    Math.max(intervalMs, 5),
  );
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...all]);
      return summarise(latencies, timeouts, errors);
    },
  };
}

interface Phase {
  victim: Summary;
  hog?: Summary;
  ingestMs: number[];
}

async function runPhase(
  seconds: number,
  meek: Bus,
  connector: Bus,
  ingested: (marker: string) => Promise<number>,
  hogLoad?: () => { stop(): Promise<Summary> },
): Promise<Phase> {
  const hog = hogLoad?.();
  await sleep(1_000); // let the backlog build
  const victim = load(
    async () =>
      (
        await meek.request<DbReply<unknown>>(
          "rosey.db.kv.get",
          { collection: "notes", key: "hello" },
          { timeoutMs: REQUEST_TIMEOUT_MS },
        )
      ).data,
    100,
    1_000,
  );
  const ingestMs: number[] = [];
  const probes = (async () => {
    for (let round = 0; round < Math.max(1, Math.floor(seconds / 5)); round++) {
      await sleep(2_000);
      const marker = `probe-${Date.now()}-${round}`;
      const t0 = performance.now();
      for (let k = 0; k < 5; k++)
        connector.publish("rosey.db.message.log", {
          username: "probe",
          content: `${marker}-${k}`,
          platform: "bench",
          channel: "bench",
        });
      await connector.flush();
      while ((await ingested(marker)) < 5 && performance.now() - t0 < 60_000) await sleep(5);
      ingestMs.push(Math.round(performance.now() - t0));
    }
  })();
  await sleep(seconds * 1_000);
  await probes;
  const v = await victim.stop();
  const h = await hog?.stop();
  return h ? { victim: v, hog: h, ingestMs } : { victim: v, ingestMs };
}

async function measure(engine: string, target: DatabaseTarget, tmp: string): Promise<void> {
  const records = Number(arg("records", "10000"));
  const op = arg("op", "query");
  const rate = Number(arg("rate", "200"));
  const inFlight = Number(arg("in-flight", "16"));
  const seconds = Number(arg("seconds", "15"));
  const storageScheduling = {
    ...(process.argv.includes("--concurrency") ? { concurrency: Number(arg("concurrency", "1")) } : {}),
    ...(process.argv.includes("--per-plugin") ? { perKey: Number(arg("per-plugin", "2")) } : {}),
  };
  const pluginsDir = path.join(tmp, "plugins");
  for (const name of ["hog", "meek"]) {
    mkdirSync(path.join(pluginsDir, name), { recursive: true });
    writeFileSync(path.join(pluginsDir, name, "index.js"), "export default {};\n");
    writeFileSync(
      path.join(pluginsDir, name, "plugin.json"),
      JSON.stringify({
        name,
        version: "1.0.0",
        entry: "index.js",
        capabilities: ["storage"],
        storage: { quota: { records, bytes: 1024 ** 3 } },
      }),
    );
  }
  // Fill directly: through the service it would take minutes.
  const db = await openDatabase(target);
  await new MigrationRunner(db, { actor: "bench" }).applyCore(loadCoreMigrations(db.engine));
  await fillScanRecords(db, { plugin: "hog", collection: "items", count: records });
  await db.prisma.pluginRecord.create({
    data: {
      plugin: "meek",
      collection: "notes",
      key: "hello",
      value: "world",
      size: 7,
      createdAt: new Date(),
      updatedAt: new Date(),
    },
  });
  const natsDir = path.join(tmp, "nats");
  mkdirSync(natsDir, { recursive: true });
  const nats = await startEmbeddedNats({ dataDir: natsDir });
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      "--service",
      JSON.stringify({ natsUrl: nats.url, target, pluginsDir, dataDir: tmp, storageScheduling }),
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (b: Buffer) => {
      if (b.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`service exited ${code}`)));
  });
  const logger = silentLogger();
  const [hog, meek, connector] = await Promise.all(
    ["plugin:hog", "plugin:meek", "connector:bench"].map((source) =>
      createBus({ url: nats.url, source, logger }),
    ),
  );
  const ingested = (marker: string) =>
    db.prisma.chatMessage.count({ where: { content: { startsWith: `${marker}-` } } });
  const request =
    op === "get"
      ? { collection: "items", key: "k0000001" }
      : op === "count"
        ? { collection: "items", filter: { kind: "a", name: "nobody" } }
        : {
            collection: "items",
            filter: { kind: "a" },
            order: { field: "score", direction: "desc" },
            limit: 100,
          };
  try {
    const t0 = performance.now();
    const one = await hog!.request<DbReply<unknown>>(`rosey.db.kv.${op}`, request, {
      timeoutMs: 30_000,
    });
    console.log(
      `${engine}: one hog ${op} over ${records} records alone: ${Math.round(performance.now() - t0)} ms (success ${one.data.success})`,
    );
    const baseline = await runPhase(seconds, meek!, connector!, ingested);
    const attack = await runPhase(seconds, meek!, connector!, ingested, () =>
      load(
        async () =>
          (
            await hog!.request<DbReply<unknown>>(`rosey.db.kv.${op}`, request, {
              timeoutMs: REQUEST_TIMEOUT_MS,
            })
          ).data,
        1_000 / rate,
        inFlight,
      ),
    );
    await sleep(6_000); // let the hog's backlog drain before the next run
    const line = (label: string, s: Summary) =>
      `  ${label.padEnd(7)} n=${s.n} p50=${s.p50} p90=${s.p90} p99=${s.p99} max=${s.max} ms, timeouts=${s.timeouts}, errors=${JSON.stringify(s.errors)}`;
    console.log(`${engine}: ${op}, ${records} records, ${rate}/s, in flight ≤ ${inFlight}`);
    console.log(` baseline`);
    console.log(line("victim", baseline.victim));
    console.log(`  ingest  ${baseline.ingestMs.join(", ")} ms`);
    console.log(` attack`);
    console.log(line("victim", attack.victim));
    console.log(line("hog", attack.hog!));
    console.log(`  ingest  ${attack.ingestMs.join(", ")} ms`);
  } finally {
    await Promise.all([hog, meek, connector].map((b) => b?.close()));
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    await db.close();
    await nats.stop();
  }
}

async function main(): Promise<void> {
  const engines = arg("engines", "sqlite,postgresql").split(",");
  let pg: TestPostgres | undefined;
  try {
    for (const engine of engines) {
      const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-bench-fair-"));
      try {
        let target: DatabaseTarget;
        if (engine === "sqlite") target = { engine: "sqlite", file: path.join(tmp, "bench.sqlite") };
        else {
          if (process.env.BENCH_POSTGRES_URL) process.env.TEST_POSTGRES_URL = process.env.BENCH_POSTGRES_URL;
          pg ??= await startTestPostgres();
          target = { engine: "postgresql", url: await pg.createDatabase(), poolSize: 10 };
        }
        await measure(engine, target, tmp);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  } finally {
    await pg?.stop();
  }
}
