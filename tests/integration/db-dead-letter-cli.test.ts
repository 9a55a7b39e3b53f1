import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { headers, type NatsConnection } from "nats";
import { afterEach, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import { configSchema } from "../../src/core/config/schema.js";
import { type DatabaseService, startDatabaseService } from "../../src/core/db/database-service.js";
import { listDeadLetters } from "../../src/core/db/dead-letter-admin.js";
import type { DeadLetterActionResult } from "../../src/core/db/dead-letter-cli.js";
import { DEAD_LETTER_STREAM, ensureDeadLetterStream, ensureIngestStream } from "../../src/core/db/streams.js";
import { createEnvelope, type Envelope, encodeEnvelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { dbDeadLetterSubject } from "../../src/core/subjects.js";
import { startPrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * `rosey db dead-letters` end to end: the compiled CLI against a real nats-server whose dead-letter stream
 * a real database service filled (a SQLite trigger refuses one event; an invalid one is set aside at once).
 */

const BIN = path.resolve("bin/rosey.js");
const MESSAGE_LOG = "rosey.db.message.log";
const run = promisify(execFile);
const dir = useTempDir("rosey-dead-letter-cli-");

interface Harness {
  nats: Awaited<ReturnType<typeof startPrivateNats>>;
  service: DatabaseService;
  bus: Bus;
}
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.bus.close();
  await harness?.service.stop();
  await harness?.nats.stop();
  harness = undefined;
});

const chat = (content: string, id?: string): Envelope => {
  const e = createEnvelope(
    MESSAGE_LOG,
    { username: "ann", content, platform: "test", channel: "room" },
    { source: "connector:test" },
  );
  return id === undefined ? e : { ...e, id };
};

/** A database service whose SQLite refuses any chat line holding REFUSE-ME, and `events` published to it. */
async function start(events: Envelope[]): Promise<Harness> {
  const nats = await startPrivateNats();
  const bus = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
  const config = configSchema.parse({
    dataDir: dir(),
    plugins: { directory: path.join(dir(), "no-plugins") },
    monitoring: { metricsIntervalMs: 0 },
  });
  const target = { engine: "sqlite", file: path.join(dir(), "rosey.sqlite") } as const;
  const runService = () =>
    startDatabaseService({
      natsUrl: nats.url,
      config,
      logger: silentLogger(),
      target,
      ingest: { ackWaitMs: 2_000, maxDeliveries: 2, retryDelayMs: 100 },
    });
  const first = await runService();
  await first.database.prisma
    .$executeRawUnsafe(
      `CREATE TRIGGER refuse_marker BEFORE INSERT ON chat_log WHEN NEW.content LIKE '%REFUSE-ME%'
       BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END`,
    )
    .finally(() => first.stop());
  await ensureIngestStream(bus.connection);
  const js = bus.connection.jetstream();
  for (const e of events) await js.publish(e.subject, encodeEnvelope(e));
  harness = { nats, service: await runService(), bus };
  return harness;
}

async function rosey(url: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  // Its URL carries the server's credentials: given as NATS_URL, as an operator would, not on argv.
  const env = { ...process.env, ROSEY_CONFIG: "", NATS_URL: url, DATABASE_URL: "" };
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, "db", "dead-letters", ...args], {
      cwd: dir(),
      env,
      timeout: 30_000,
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout, err: e.stderr };
  }
}

const contents = async (s: DatabaseService) =>
  (await s.database.prisma.chatMessage.findMany({ orderBy: { id: "asc" } })).map((m) => m.content);

async function deadLetterCount(connection: NatsConnection): Promise<number> {
  const { state } = await (await connection.jetstreamManager()).streams.info(DEAD_LETTER_STREAM);
  return state.messages;
}

describe("rosey db dead-letters", () => {
  it("lists a refused event with its error; a dry run changes nothing; replay once fixed writes it and removes it", async () => {
    const bad = chat("REFUSE-ME please");
    const { nats, service, bus } = await start([chat("fine"), bad]);
    await expect.poll(() => deadLetterCount(bus.connection), { timeout: 15_000 }).toBe(1);
    expect(await contents(service)).toEqual(["fine"]);

    const list = await rosey(nats.url);
    expect(list).toMatchObject({ code: 0, err: "" });
    expect(list.out).toContain(`1 dead letter in ${DEAD_LETTER_STREAM} on nats://rosey:***@127.0.0.1:`);
    expect(list.out).toMatch(
      new RegExp(`#1 {2}\\S+Z {2}${MESSAGE_LOG} {2}envelope ${bad.id} {2}2 deliveries {2}\\d+ bytes\\n`),
    );
    expect(list.out).toMatch(/\n {6}error: .*refused by the test trigger/);
    expect(list.out).not.toContain(nats.url); // the URL's credentials are never printed
    const json = JSON.parse((await rosey(nats.url, "--json")).out);
    expect(json).toMatchObject({
      total: 1,
      exists: true,
      deadLetters: [
        {
          seq: 1,
          subject: MESSAGE_LOG,
          deliveries: 2,
          ingestSequence: 2,
          envelopeId: bad.id,
          size: encodeEnvelope(bad).length,
          error: expect.stringMatching(/refused by the test trigger/),
        },
      ],
    });

    const dryRun = await rosey(nats.url, "replay", "1");
    expect(dryRun.code).toBe(0);
    expect(dryRun.out).toMatch(/^\[dry-run\] Would replay 1 dead letter of .*; nothing changed/);
    expect(dryRun.out).toMatch(/error: .*refused by the test trigger/);
    await new Promise((r) => setTimeout(r, 500));
    expect(await deadLetterCount(bus.connection)).toBe(1);
    expect(await contents(service)).toEqual(["fine"]);

    await service.database.prisma.$executeRawUnsafe("DROP TRIGGER refuse_marker");
    const replay = await rosey(nats.url, "replay", "1", "--yes", "--json");
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.out) as DeadLetterActionResult).toMatchObject({
      action: "replay",
      dryRun: false,
      stoppedBy: null,
      results: [{ seq: 1, status: "replayed", replayedAs: 3, deadLetter: { envelopeId: bad.id } }],
    });
    await expect.poll(() => contents(service), { timeout: 10_000 }).toEqual(["fine", "REFUSE-ME please"]);
    expect(await deadLetterCount(bus.connection)).toBe(0);

    // Gone now: asking again is an error the operator sees, not a silent success.
    const again = await rosey(nats.url, "replay", "1", "--yes");
    expect(again).toMatchObject({ code: 1, out: expect.stringContaining("#1  not found") });
    expect(await rosey(nats.url)).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^No dead letters in /),
    });
  }, 60_000);

  it("replays --all in order, and what is refused again comes back as a new dead letter", async () => {
    const { nats, service, bus } = await start([chat("REFUSE-ME one"), chat("REFUSE-ME two")]);
    await expect.poll(() => deadLetterCount(bus.connection), { timeout: 15_000 }).toBe(2);
    // The cause remains: both are set aside again, as #3 and #4, and this run does not chase them.
    const replay = await rosey(nats.url, "replay", "--all", "--yes");
    expect(replay.code).toBe(0);
    expect(replay.out).toMatch(/^Replayed 2 dead letters of /);
    expect(replay.out).toMatch(
      /#1 {2}rosey\.db\.message\.log {2}→ ROSEY_DB #3; removed\n {2}#2 .*→ ROSEY_DB #4/,
    );
    await expect.poll(() => deadLetterCount(bus.connection), { timeout: 15_000 }).toBe(2);
    const list = JSON.parse((await rosey(nats.url, "--json")).out) as {
      deadLetters: Array<{ seq: number; ingestSequence: number }>;
    };
    expect(list.deadLetters.map((d) => d.seq)).toEqual([3, 4]);
    expect(list.deadLetters.map((d) => d.ingestSequence).sort()).toEqual([3, 4]);
    // --limit shows the newest.
    expect((await rosey(nats.url, "--limit", "1")).out).toMatch(
      /2 dead letters in .*; the newest 1, oldest first[^\n]*\n {2}#4 /,
    );
    expect(await contents(service)).toEqual([]);
  }, 60_000);

  it("drops: a dry run without --yes, then deletes; an invalid event's bytes are shown escaped", async () => {
    // Not an event ingestion can write (no content): set aside at its first delivery.
    const invalid = createEnvelope(MESSAGE_LOG, { username: "ann" }, { source: "connector:test" });
    const hostile = { ...invalid, id: "\u001b]0;pwned\u0007\u202eid" };
    const { nats, bus } = await start([hostile]);
    await expect.poll(() => deadLetterCount(bus.connection), { timeout: 15_000 }).toBe(1);

    const list = await rosey(nats.url);
    expect(list.out).toContain("envelope \\u001b]0;pwned\\u0007\\u202eid  1 delivery");
    expect(list.out).not.toMatch(/[\u001b\u0007\u202e]/);

    const dryRun = await rosey(nats.url, "drop", "1");
    expect(dryRun).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^\[dry-run\] Would drop 1 dead letter/),
    });
    expect(await deadLetterCount(bus.connection)).toBe(1);

    const drop = await rosey(nats.url, "drop", "1", "2", "--yes");
    expect(drop.code).toBe(1); // #2 was never stored
    expect(drop.out).toMatch(
      /^Dropped 1 dead letter of .*\n {2}#1 {2}rosey\.db\.message\.log {2}dropped\n {2}#2 {2}not found/,
    );
    expect(await deadLetterCount(bus.connection)).toBe(0);
  }, 60_000);

  it("refuses to replay a dead letter whose subject the ingest stream does not take, and publishes nothing", async () => {
    const { nats, bus } = await start([chat("REFUSE-ME")]);
    await expect.poll(() => deadLetterCount(bus.connection), { timeout: 15_000 }).toBe(1);
    // Someone with NATS access stored this by hand: a replay must not become a publish on rosey.admin.
    const h = headers();
    h.set("Rosey-Error", "forged");
    await bus.connection
      .jetstream()
      .publish(dbDeadLetterSubject("rosey.admin.suspend"), encodeEnvelope(chat("x")), { headers: h });
    const seen: string[] = [];
    const sub = bus.connection.subscribe("rosey.admin.>", { callback: (_e, m) => seen.push(m.subject) });
    await bus.connection.flush();

    const replay = await rosey(nats.url, "replay", "2", "--yes");
    expect(replay.code).toBe(1);
    expect(replay.out).toContain(
      "#2  not replayed: 'rosey.admin.suspend' is not a subject the ingest stream ROSEY_DB takes",
    );
    await bus.connection.flush();
    expect(seen).toEqual([]);
    expect(await deadLetterCount(bus.connection)).toBe(2);
    sub.unsubscribe();
  }, 60_000);

  it("says clearly when the stream does not exist, and asks which to replay", async () => {
    const nats = await startPrivateNats();
    try {
      expect(await rosey(nats.url)).toMatchObject({
        code: 0,
        out: expect.stringMatching(/^No dead letters: ROSEY_DB_DEADLETTER on .* does not exist/),
      });
      expect(await rosey(nats.url, "replay")).toMatchObject({
        code: 1,
        err: expect.stringMatching(/^Cannot replay dead letters without saying which/),
      });
      expect(await rosey(nats.url, "drop", "--all", "--yes")).toMatchObject({
        code: 0,
        out: expect.stringMatching(/^No dead letters to drop in /),
      });
    } finally {
      await nats.stop();
    }
  }, 30_000);

  it("lists the newest N however the deleted sequences fall", async () => {
    const nats = await startPrivateNats();
    const bus = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
    try {
      await ensureDeadLetterStream(bus.connection);
      for (let i = 1; i <= 8; i++)
        await bus.connection
          .jetstream()
          .publish(dbDeadLetterSubject(MESSAGE_LOG), encodeEnvelope(chat(`${i}`)));
      const jsm = await bus.connection.jetstreamManager();
      for (const seq of [2, 5, 6, 8]) await jsm.streams.deleteMessage(DEAD_LETTER_STREAM, seq);
      const seqs = async (limit: number) => (await listDeadLetters(jsm, limit)).deadLetters.map((d) => d.seq);
      expect(await seqs(1)).toEqual([7]);
      expect(await seqs(2)).toEqual([4, 7]);
      expect(await seqs(3)).toEqual([3, 4, 7]);
      expect(await seqs(50)).toEqual([1, 3, 4, 7]);
      expect((await listDeadLetters(jsm, 2)).total).toBe(4);
    } finally {
      await bus.close();
      await nats.stop();
    }
  }, 30_000);
});
