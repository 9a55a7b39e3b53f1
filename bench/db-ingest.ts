/**
 * Ingestion throughput of the database service: events written per second on SQLite and PostgreSQL.
 *
 * For each engine: a fresh nats-server (JetStream) and a fresh database; N `rosey.db.message.log` events
 * are published into the stream first (backlog), then the database service starts and the clock runs
 * until every event is in `chat_log` (one transaction per batch, idempotency rows included). A second
 * phase measures a live stream: events published at full speed while the service runs.
 *
 *   npm run bench:db -- [--events N] [--batch N] [--engines sqlite,postgresql] [--json FILE]
 *
 * PostgreSQL: `BENCH_POSTGRES_URL` (an admin URL; a fresh database is created), else a throwaway cluster
 * is started like the tests do (Debian `postgresql`).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createBus } from "../src/core/bus.js";
import { configSchema } from "../src/core/config/schema.js";
import type { DatabaseTarget } from "../src/core/db/connection.js";
import { startDatabaseService } from "../src/core/db/database-service.js";
import { ensureIngestStream } from "../src/core/db/streams.js";
import { silentLogger } from "../src/core/logger.js";
import { startEmbeddedNats } from "../src/core/nats/embedded-server.js";
import { startTestPostgres, type TestPostgres } from "../tests/support/postgres.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const EVENTS = Number(arg("events", "50000"));
const BATCH = Number(arg("batch", "500"));
const ENGINES = arg("engines", "sqlite,postgresql").split(",");
const JSON_OUT = arg("json", "");

interface Result {
  engine: string;
  phase: "backlog" | "live";
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

async function measure(engine: string, target: DatabaseTarget, tmp: string): Promise<Result[]> {
  const results: Result[] = [];
  const natsDir = path.join(tmp, `nats-${engine}`);
  mkdirSync(natsDir, { recursive: true });
  const nats = await startEmbeddedNats({ dataDir: natsDir });
  const bus = await createBus({ url: nats.url, source: "connector:bench", logger: silentLogger() });
  const config = configSchema.parse({ dataDir: tmp, plugins: { directory: path.join(tmp, "no-plugins") } });
  mkdirSync(config.plugins.directory, { recursive: true });
  try {
    await ensureIngestStream(bus.connection);
    const publish = async (n: number, from: number) => {
      for (let i = 0; i < n; i++) {
        bus.publish("rosey.db.message.log", {
          username: `user${(from + i) % 50}`,
          content: `message ${from + i} ${"lorem ipsum ".repeat(4)}`,
          platform: "bench",
          channel: "bench",
        });
        if (i % 1000 === 999) await bus.flush();
      }
      await bus.flush();
    };
    // Phase 1: backlog drain.
    await publish(EVENTS, 0);
    const t0 = performance.now();
    const service = await startDatabaseService({
      natsUrl: nats.url,
      config,
      logger: silentLogger(),
      target,
      ingest: { batchSize: BATCH },
    });
    const count = () => service.database.prisma.chatMessage.count();
    while ((await count()) < EVENTS) await sleep(50);
    const backlog = (performance.now() - t0) / 1000;
    results.push({
      engine,
      phase: "backlog",
      events: EVENTS,
      seconds: backlog,
      eventsPerSecond: EVENTS / backlog,
    });
    // Phase 2: live stream at full publish speed.
    const t1 = performance.now();
    await publish(EVENTS, EVENTS);
    while ((await count()) < 2 * EVENTS) await sleep(20);
    const live = (performance.now() - t1) / 1000;
    results.push({ engine, phase: "live", events: EVENTS, seconds: live, eventsPerSecond: EVENTS / live });
    await service.stop();
  } finally {
    await bus.close();
    await nats.stop();
  }
  return results;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), "rosey-bench-db-"));
let pg: TestPostgres | undefined;
const all: Result[] = [];
try {
  for (const engine of ENGINES) {
    let target: DatabaseTarget;
    if (engine === "sqlite") target = { engine: "sqlite", file: path.join(tmp, "bench.sqlite") };
    else if (engine === "postgresql") {
      if (process.env.BENCH_POSTGRES_URL) process.env.TEST_POSTGRES_URL = process.env.BENCH_POSTGRES_URL;
      pg ??= await startTestPostgres();
      target = { engine: "postgresql", url: pg.url, poolSize: 10 };
    } else throw new Error(`unknown engine ${engine}`);
    const r = await measure(engine, target, tmp);
    for (const x of r) {
      console.log(
        `${x.engine.padEnd(11)} ${x.phase.padEnd(8)} ${x.events} events in ${x.seconds.toFixed(2)} s = ${Math.round(x.eventsPerSecond)} events/s written`,
      );
    }
    all.push(...r);
  }
  const report = { batchSize: BATCH, node: process.version, cpus: os.cpus().length, results: all };
  if (JSON_OUT) writeFileSync(JSON_OUT, `${JSON.stringify(report, null, 2)}\n`);
} finally {
  await pg?.stop();
  rmSync(tmp, { recursive: true, force: true });
}
