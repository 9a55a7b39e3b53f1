import path from "node:path";
import type { NatsConnection } from "nats";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { configSchema } from "../../src/core/config/schema.js";
import type { DatabaseTarget } from "../../src/core/db/connection.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import { DEAD_LETTER_HEADERS } from "../../src/core/db/dead-letter.js";
import {
  CONSUMER_NAME,
  DEAD_LETTER_STREAM,
  ensureIngestStream,
  STREAM_NAME,
} from "../../src/core/db/streams.js";
import { createEnvelope, type Envelope, encodeEnvelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import type { MetricsSnapshot } from "../../src/core/monitoring/metrics.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";
import { startPrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * Ingestion with an event the database refuses (a real refusal, never a mocked database): the events
 * around it commit at once, the refused one is retried alone a bounded number of times, then set aside on
 * the dead-letter stream with where it came from and why; a database that refuses every write sets
 * nothing aside. Each test gets its own nats-server, so streams and counts start empty.
 */

const MESSAGE_LOG = "rosey.db.message.log";
const MAX_DELIVERIES = 3;

interface Harness {
  nats: Awaited<ReturnType<typeof startPrivateNats>>;
  service: DatabaseService;
  bus: Bus;
  logs: Array<Record<string, unknown>>;
}

let pgServer: TestPostgres | undefined;
const dir = useTempDir("rosey-dead-letter-", "all");
let harness: Harness | undefined;

beforeAll(async () => {
  pgServer = await startTestPostgres();
}, 120_000);
afterAll(async () => {
  await pgServer?.stop();
});
afterEach(async () => {
  await harness?.bus.close();
  await harness?.service.stop();
  await harness?.nats.stop();
  harness = undefined;
});

/**
 * Publishes `events` into the stream before the service starts, so its first batch holds them all. With
 * `prepare`, the service runs once before that (migrations make the tables), `prepare` changes its
 * database, and it is stopped.
 */
async function start(
  target: DatabaseTarget,
  events: Envelope[],
  prepare?: (s: DatabaseService) => Promise<void>,
): Promise<Harness> {
  const nats = await startPrivateNats();
  const bus = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const config = configSchema.parse({
    dataDir: dir(),
    plugins: { directory: path.join(dir(), "no-plugins") },
    monitoring: { metricsIntervalMs: 0 },
  });
  const run = () =>
    startDatabaseService({
      natsUrl: nats.url,
      config,
      logger,
      target,
      ingest: { ackWaitMs: 2_000, maxDeliveries: MAX_DELIVERIES, retryDelayMs: 100 },
    });
  if (prepare) {
    const first = await run();
    await prepare(first).finally(() => first.stop());
  }
  await ensureIngestStream(bus.connection);
  const js = bus.connection.jetstream();
  for (const e of events) await js.publish(e.subject, encodeEnvelope(e));
  harness = { nats, service: await run(), bus, logs };
  return harness;
}

const chat = (content: string): Envelope =>
  createEnvelope(
    MESSAGE_LOG,
    { username: "ann", content, platform: "test", channel: "room" },
    { source: "connector:test" },
  );

async function deadLetters(connection: NatsConnection) {
  const jsm = await connection.jetstreamManager();
  const { state } = await jsm.streams.info(DEAD_LETTER_STREAM);
  const out = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(DEAD_LETTER_STREAM, { seq });
    out.push({ subject: m.subject, header: (k: string) => m.header.get(k), envelope: m.json<Envelope>() });
  }
  return out;
}

async function waitingInStream(connection: NatsConnection): Promise<number> {
  const info = await (await connection.jetstreamManager()).consumers.info(STREAM_NAME, CONSUMER_NAME);
  return info.num_pending + info.num_ack_pending;
}

const contents = async (s: DatabaseService) =>
  (await s.database.prisma.chatMessage.findMany({ orderBy: { id: "asc" } })).map((m) => m.content);

const sqlite = (): DatabaseTarget => ({
  engine: "sqlite",
  file: path.join(dir(), `dl-${Date.now()}.sqlite`),
});

/** A refusal of the database itself: SQLite aborts the INSERT that carries the marker. */
const refuseMarkerOnSqlite = async (s: DatabaseService) => {
  await s.database.prisma.$executeRawUnsafe(
    `CREATE TRIGGER refuse_marker BEFORE INSERT ON chat_log WHEN NEW.content LIKE '%REFUSE-ME%'
     BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END`,
  );
};

const cases: Array<{
  engine: string;
  target: () => Promise<DatabaseTarget>;
  poison: string;
  prepare?: (s: DatabaseService) => Promise<void>;
  error: RegExp;
}> = [
  {
    engine: "sqlite (a trigger refuses the row)",
    target: async () => sqlite(),
    poison: "REFUSE-ME",
    prepare: refuseMarkerOnSqlite,
    error: /refused by the test trigger/,
  },
  {
    // The red-team's F3: PostgreSQL refuses U+0000 in text, which validation lets through.
    engine: "postgresql (a NUL in the text)",
    target: async () => ({ engine: "postgresql", url: await pgServer!.createDatabase(), poolSize: 5 }),
    poison: "nul \u0000 here",
    error: /0x00|invalid byte sequence|null character/i,
  },
];

describe.each(cases)(
  "ingestion of an event the database refuses, on $engine",
  ({ target, poison, prepare, error }) => {
    it("commits the events around it at once, retries it alone a bounded number of times, then sets it aside", async () => {
      const before = Array.from({ length: 40 }, (_, i) => chat(`before ${i}`));
      const after = Array.from({ length: 40 }, (_, i) => chat(`after ${i}`));
      const bad = chat(poison);
      const { service, bus, logs } = await start(await target(), [...before, bad, ...after], prepare);

      const good = [...before, ...after].map((e) => (e.data as { content: string }).content);
      await expect.poll(() => contents(service), { timeout: 10_000 }).toEqual(good);
      await expect.poll(() => deadLetters(bus.connection).then((d) => d.length), { timeout: 10_000 }).toBe(1);
      const [letter] = await deadLetters(bus.connection);
      expect(letter!.subject).toBe(`rosey.db.deadletter.${MESSAGE_LOG}`);
      expect(letter!.envelope).toEqual(bad); // the original bytes: republishable as they are
      expect(letter!.header(DEAD_LETTER_HEADERS.subject)).toBe(MESSAGE_LOG);
      expect(letter!.header(DEAD_LETTER_HEADERS.deliveries)).toBe(String(MAX_DELIVERIES));
      expect(Number(letter!.header(DEAD_LETTER_HEADERS.streamSequence))).toBe(before.length + 1);
      expect(letter!.header(DEAD_LETTER_HEADERS.error)).toMatch(error);
      await expect.poll(() => waitingInStream(bus.connection), { timeout: 5_000 }).toBe(0);

      // Retried alone MAX_DELIVERIES - 1 times, then logged in full once and terminated.
      const retried = logs.filter((l) => l.msg === "the database refused an event; it will be retried alone");
      expect(retried.map((l) => l.deliveries)).toEqual([1, 2]);
      const setAside = logs.filter((l) =>
        String(l.msg).startsWith("the database refused an event at every delivery"),
      );
      expect(setAside).toHaveLength(1);
      expect(setAside[0]).toMatchObject({
        subject: MESSAGE_LOG,
        streamSequence: before.length + 1,
        eventId: bad.id,
        deliveries: MAX_DELIVERIES,
        data: JSON.stringify(bad),
      });
      expect(String(setAside[0]!.err)).toMatch(error);

      // Past the ack wait nothing comes back: the refused event is not retried for ever.
      await new Promise((r) => setTimeout(r, 2_500));
      expect(
        logs.filter((l) => l.msg === "the database refused an event; it will be retried alone"),
      ).toHaveLength(2);
      expect(await contents(service)).toEqual(good);

      const metrics = await bus.request<MetricsSnapshot>(
        SUBJECTS.monitoringMetrics,
        { service: "database" },
        { timeoutMs: 2_000 },
      );
      const counter = metrics.data.metrics.find((m) => m.name === "rosey_db_events_dead_lettered_total");
      expect(counter?.values).toEqual([expect.objectContaining({ value: 1 })]);
    }, 60_000);
  },
);

describe("ingestion, dead letters on SQLite", () => {
  it("sets an invalid event aside at its first delivery", async () => {
    const invalid = createEnvelope(MESSAGE_LOG, { username: "ann" }, { source: "connector:test" });
    // Passes the schema, but no Date holds it: the database would refuse it at every delivery.
    const farFuture = createEnvelope(
      MESSAGE_LOG,
      { username: "ann", content: "later", timestamp: 9e15 },
      { source: "connector:test" },
    );
    const valid = chat("fine");
    const { service, bus } = await start(sqlite(), [invalid, farFuture, valid]);
    await expect.poll(() => contents(service), { timeout: 10_000 }).toEqual(["fine"]);
    await expect.poll(() => deadLetters(bus.connection).then((d) => d.length), { timeout: 10_000 }).toBe(2);
    const letters = await deadLetters(bus.connection);
    expect(letters.map((l) => l.envelope)).toEqual([invalid, farFuture]);
    expect(letters.map((l) => l.header(DEAD_LETTER_HEADERS.deliveries))).toEqual(["1", "1"]);
    expect(letters[0]!.header(DEAD_LETTER_HEADERS.error)).toMatch(/needs 'username' and 'content'/);
    expect(letters[1]!.header(DEAD_LETTER_HEADERS.error)).toMatch(
      /timestamp 9000000000000000 is past the last date/,
    );
  }, 30_000);

  it("sets nothing aside while the database refuses every write, and writes all once it takes them again", async () => {
    const events = Array.from({ length: 10 }, (_, i) => chat(`held ${i}`));
    const { service, bus, logs } = await start(sqlite(), events, async (s) => {
      // Every write ingestion makes records an envelope id: refusing those refuses all of ingestion's writes.
      await s.database.prisma.$executeRawUnsafe(
        `CREATE TRIGGER outage BEFORE INSERT ON ingested_events
         BEGIN SELECT RAISE(ABORT, 'simulated outage'); END`,
      );
    });
    // Well past MAX_DELIVERIES deliveries (100, 200, 400, 800 ms … apart).
    await expect
      .poll(
        () => logs.filter((l) => l.msg === "the database takes no writes; events will be redelivered").length,
        {
          timeout: 10_000,
        },
      )
      .toBeGreaterThan(MAX_DELIVERIES + 1);
    expect(await contents(service)).toEqual([]);
    expect(await deadLetters(bus.connection)).toEqual([]);

    await service.database.prisma.$executeRawUnsafe("DROP TRIGGER outage");
    await expect
      .poll(() => contents(service), { timeout: 40_000 })
      .toEqual(events.map((e) => (e.data as { content: string }).content));
    expect(await deadLetters(bus.connection)).toEqual([]);
  }, 60_000);
});
