import { randomUUID } from "node:crypto";
import type { ConsumerMessages, JsMsg, NatsConnection } from "nats";
import { z } from "zod";
import { backoffDelay } from "../backoff.js";
import { decodeEnvelope, type Envelope } from "../envelope.js";
import { errorMessage, RoseyError } from "../errors.js";
import type { Logger } from "../logger.js";
import { describeProblem } from "../validation.js";
import { type Database, type Engine, isStatementTimeout, SqlBuilder, type Tx } from "./connection.js";
import { deadLetter } from "./dead-letter.js";
import {
  CONSUMER_NAME,
  DEAD_LETTER_STREAM,
  ensureDeadLetterStream,
  ensureIngestStream,
  INGEST_SUBJECTS,
  STREAM_NAME,
} from "./streams.js";

/**
 * Event ingestion: connectors publish on `rosey.db.<event>` (plain NATS publishes are enough) and the
 * `ROSEY_DB` JetStream stream keeps them until the database service has written them. The service reads
 * them from a durable pull consumer and writes whatever has arrived as one batch in one transaction, then
 * acks. Each envelope id is recorded in `ingested_events` in that same transaction, so a redelivery (the
 * service was killed after the commit but before the ack) is skipped: no loss, no duplicates.
 *
 *   connector ──publish──▶ nats (stream ROSEY_DB, file storage) ──pull──▶ batch ──tx──▶ database ──▶ ack
 *
 * One bad event must neither block nor be lost with the others. When the database refuses a batch:
 * - if it refuses every write (a write probe fails: down, read-only, disk full), or cuts the batch at its
 *   statement timeout (PostgreSQL, `database.statementTimeoutMs`), the batch is nak'ed and comes back with
 *   backoff, however long that takes: the events are good, the database is not;
 * - otherwise the batch is halved until the refused events are alone, so every good one commits now. A
 *   refused event is retried alone with backoff; after `maxDeliveries` deliveries it is set aside on the
 *   dead-letter stream (dead-letter.ts), logged in full, and terminated. An event that fails validation
 *   goes there at once.
 * JetStream's own `max_deliver` is not used: it stops delivering silently, and would also drop good events
 * during a long database outage.
 */

export interface IngestOptions {
  /** Most messages written in one transaction. @default 500 */
  batchSize?: number;
  /** How long JetStream waits for an ack before redelivering. @default 30000 */
  ackWaitMs?: number;
  /** Stream retention. @default 7 days */
  maxAgeMs?: number;
  /**
   * Deliveries of an event the database refuses on its own, while it accepts other writes, before the
   * event is set aside on the dead-letter stream. @default 5
   */
  maxDeliveries?: number;
  /** First delay before a refused event or batch comes back; doubles per delivery, up to 30 s. @default 1000 */
  retryDelayMs?: number;
}

/** With the default delays, a refused event is tried 5 times over ~15 s: transient failures pass by then. */
const MAX_DELIVERIES = 5;
const RETRY_DELAY_MS = 1_000;
const RETRY_MAX_MS = 30_000;

const name = z.string().min(1).max(100);
const optionalTime = z.number().int().nonnegative().optional();
const where = {
  platform: z.string().min(1).max(64).optional(),
  channel: z.string().min(1).max(128).optional(),
};

/** Payloads; `user` is accepted as an alias of `username` (normalized events carry `user`). */
const userEvent = z
  .looseObject({
    username: name.optional(),
    user: name.optional(),
    rank: z.number().int().optional(),
    timestamp: optionalTime,
    ...where,
  })
  .refine((d) => d.username ?? d.user, "needs 'username'");
const messageEvent = z
  .looseObject({
    username: name.optional(),
    user: name.optional(),
    content: z.string().max(10_000).optional(),
    message: z.string().max(10_000).optional(),
    timestamp: optionalTime,
    ...where,
  })
  .refine(
    (d) => (d.username ?? d.user) && (d.content ?? d.message) !== undefined,
    "needs 'username' and 'content'",
  );
const countEvent = z
  .looseObject({
    count: z.number().int().nonnegative().optional(),
    user_count: z.number().int().nonnegative().optional(),
    chat_count: z.number().int().nonnegative().optional(),
    timestamp: optionalTime,
    ...where,
  })
  .refine((d) => (d.count ?? d.user_count) !== undefined, "needs 'count'");
const statusEvent = z.looseObject({
  status: z.string().min(1).max(200),
  details: z.unknown().optional(),
  ...where,
});
const securityEvent = z.looseObject({
  plugin: z.string().max(64).optional(),
  operation: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  type: z.string().max(64).optional(),
  subject: z.string().max(512).optional(),
  reason: z.string().max(2000).optional(),
});

type Parsed =
  | { kind: "joined" | "left"; username: string; rank: number | undefined; at: Date }
  | { kind: "message"; username: string; content: string; platform: string; channel: string; at: Date }
  | {
      kind: "count" | "high";
      users: number;
      chat: number | undefined;
      platform: string;
      channel: string;
      at: Date;
    }
  | { kind: "status"; id: string; status: string; details: unknown; at: Date }
  | {
      kind: "security";
      audit: "violation" | "audit";
      plugin: string | undefined;
      action: string;
      subject: string | undefined;
      reason: string | undefined;
      details: unknown;
      source: string;
      at: Date;
    };

/** Validates one event; throws VALIDATION_FAILED naming the subject and the problem. */
export function parseEvent(envelope: Envelope): Parsed {
  const at = (t: number | undefined) => {
    const epochMs = t ?? envelope.timestamp;
    const date = new Date(epochMs);
    // Beyond ±8.64e15 ms a Date is invalid, and the database would refuse the row at every delivery.
    if (Number.isNaN(date.getTime()))
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Event on '${envelope.subject}' is invalid: timestamp ${epochMs} is past the last date JavaScript can represent (8.64e15 ms)`,
      );
    return date;
  };
  const check = <S extends z.ZodType>(schema: S): z.infer<S> => {
    const r = schema.safeParse(envelope.data);
    if (!r.success) {
      throw new RoseyError(
        "VALIDATION_FAILED",
        `Event on '${envelope.subject}' is invalid: ${describeProblem(r.error)}`,
      );
    }
    return r.data;
  };
  switch (envelope.subject) {
    case INGEST_SUBJECTS.userJoined:
    case INGEST_SUBJECTS.userLeft: {
      const d = check(userEvent);
      return {
        kind: envelope.subject === INGEST_SUBJECTS.userJoined ? "joined" : "left",
        username: (d.username ?? d.user)!,
        rank: d.rank,
        at: at(d.timestamp),
      };
    }
    case INGEST_SUBJECTS.messageLog: {
      const d = check(messageEvent);
      return {
        kind: "message",
        username: (d.username ?? d.user)!,
        content: (d.content ?? d.message)!,
        platform: d.platform ?? "unknown",
        channel: d.channel ?? "unknown",
        at: at(d.timestamp),
      };
    }
    case INGEST_SUBJECTS.userCount:
    case INGEST_SUBJECTS.highWater: {
      const d = check(countEvent);
      return {
        kind: envelope.subject === INGEST_SUBJECTS.userCount ? "count" : "high",
        users: (d.count ?? d.user_count)!,
        chat: d.chat_count,
        platform: d.platform ?? "unknown",
        channel: d.channel ?? "unknown",
        at: at(d.timestamp),
      };
    }
    case INGEST_SUBJECTS.statusUpdate: {
      const d = check(statusEvent);
      return {
        kind: "status",
        id: `${d.platform ?? "default"}/${d.channel ?? "default"}`,
        status: d.status,
        details: d.details ?? null,
        at: at(undefined),
      };
    }
    case INGEST_SUBJECTS.securityViolation:
    case INGEST_SUBJECTS.securityAudit: {
      const d = check(securityEvent);
      const violation = envelope.subject === INGEST_SUBJECTS.securityViolation;
      return {
        kind: "security",
        audit: violation ? "violation" : "audit",
        plugin: d.plugin,
        action: d.operation ?? d.action ?? d.type ?? (violation ? "violation" : "audit"),
        subject: d.subject,
        reason: d.reason,
        details: envelope.data,
        source: envelope.source,
        at: at(undefined),
      };
    }
    default:
      throw new RoseyError("VALIDATION_FAILED", `No ingestion handler for subject '${envelope.subject}'`);
  }
}

/** Writes one batch in the caller's transaction. Returns how many events were new. */
export async function writeBatch(tx: Tx, engine: Engine, envelopes: Envelope[]): Promise<number> {
  const unique = new Map<string, Envelope>();
  for (const e of envelopes) if (!unique.has(e.id)) unique.set(e.id, e);
  const ids = [...unique.keys()];
  const seen = new Set(
    (await tx.ingestedEvent.findMany({ where: { id: { in: ids } }, select: { id: true } })).map((r) => r.id),
  );
  const fresh = [...unique.values()].filter((e) => !seen.has(e.id));
  if (fresh.length === 0) return 0;
  const chat: Array<{
    eventId: string;
    platform: string;
    channel: string;
    username: string;
    content: string;
    sentAt: Date;
  }> = [];
  const lines = new Map<string, { count: number; last: Date }>();
  for (const envelope of fresh) {
    const e = parseEvent(envelope);
    switch (e.kind) {
      case "message": {
        chat.push({
          eventId: envelope.id,
          platform: e.platform,
          channel: e.channel,
          username: e.username,
          content: e.content,
          sentAt: e.at,
        });
        const l = lines.get(e.username);
        lines.set(e.username, { count: (l?.count ?? 0) + 1, last: l && l.last > e.at ? l.last : e.at });
        break;
      }
      case "joined":
        await tx.user.upsert({
          where: { username: e.username },
          create: {
            username: e.username,
            rank: e.rank ?? 0,
            firstSeen: e.at,
            lastSeen: e.at,
            joinedAt: e.at,
          },
          update: { lastSeen: e.at, joinedAt: e.at, ...(e.rank === undefined ? {} : { rank: e.rank }) },
        });
        break;
      case "left": {
        const user = await tx.user.findUnique({ where: { username: e.username } });
        if (!user) {
          await tx.user.create({
            data: { username: e.username, rank: e.rank ?? 0, firstSeen: e.at, lastSeen: e.at },
          });
        } else {
          const present = user.joinedAt ? Math.max(0, e.at.getTime() - user.joinedAt.getTime()) : 0;
          await tx.user.update({
            where: { id: user.id },
            data: { lastSeen: e.at, joinedAt: null, timePresentMs: { increment: BigInt(present) } },
          });
        }
        break;
      }
      case "count":
        await tx.userCountStat.create({
          data: {
            platform: e.platform,
            channel: e.channel,
            userCount: e.users,
            chatCount: e.chat ?? 0,
            recordedAt: e.at,
          },
        });
        break;
      case "high":
        await raiseHighWater(tx, "users", e.users, e.at);
        if (e.chat !== undefined) await raiseHighWater(tx, "chat", e.chat, e.at);
        break;
      case "status":
        await tx.botStatus.upsert({
          where: { id: e.id },
          create: { id: e.id, status: e.status, details: e.details as object, updatedAt: e.at },
          update: { status: e.status, details: e.details as object, updatedAt: e.at },
        });
        break;
      case "security":
        await tx.auditLog.create({
          data: {
            eventId: envelope.id,
            kind: e.audit,
            plugin: e.plugin ?? null,
            action: e.action,
            subject: e.subject ?? null,
            reason: e.reason ?? null,
            details: e.details as object,
            source: e.source,
            createdAt: e.at,
          },
        });
        break;
    }
  }
  await insertRows(
    tx,
    engine,
    "chat_log",
    ["event_id", "platform", "channel", "username", "content", "sent_at"],
    chat.map((c) => [c.eventId, c.platform, c.channel, c.username, c.content, c.sentAt]),
  );
  await addChatLines(tx, engine, lines);
  const now = new Date();
  await tx.ingestedEvent.createMany({
    data: fresh.map((e) => ({ id: e.id, subject: e.subject, ingestedAt: now })),
  });
  return fresh.length;
}

/**
 * Multi-row INSERT in chunks. Measured: Prisma's `createMany` costs ~0.1–0.4 ms per row through the
 * adapters here, a plain multi-row INSERT a fraction of that (bench/db-ingest.ts).
 */
async function insertRows(
  tx: Tx,
  engine: Engine,
  table: string,
  columns: string[],
  rows: unknown[][],
): Promise<void> {
  const perChunk = Math.max(1, Math.floor(2_000 / columns.length));
  for (let i = 0; i < rows.length; i += perChunk) {
    const sql = new SqlBuilder(engine);
    const values = rows
      .slice(i, i + perChunk)
      .map((row) => `(${row.map((v) => sql.param(v)).join(", ")})`)
      .join(", ");
    await tx.$executeRawUnsafe(
      `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) VALUES ${values}`,
      ...sql.params,
    );
  }
}

/** One statement for every user of the batch: insert or add to `chat_lines` (both engines speak ON CONFLICT). */
async function addChatLines(
  tx: Tx,
  engine: Engine,
  lines: Map<string, { count: number; last: Date }>,
): Promise<void> {
  if (lines.size === 0) return;
  const sql = new SqlBuilder(engine);
  const rows = [...lines].map(([username, l]) => {
    // Placeholders are positional on SQLite: each use needs its own parameter.
    return `(${sql.param(username)}, 0, ${sql.param(l.last)}, ${sql.param(l.last)}, ${sql.param(l.count)}, 0)`;
  });
  await tx.$executeRawUnsafe(
    `INSERT INTO "users" ("username", "rank", "first_seen", "last_seen", "chat_lines", "time_present_ms") VALUES ${rows.join(", ")}
     ON CONFLICT ("username") DO UPDATE SET "chat_lines" = "users"."chat_lines" + excluded."chat_lines", "last_seen" = excluded."last_seen"`,
    ...sql.params,
  );
}

async function raiseHighWater(tx: Tx, kind: string, value: number, at: Date): Promise<void> {
  const current = await tx.highWaterMark.findUnique({ where: { kind } });
  if (!current) await tx.highWaterMark.create({ data: { kind, value, reachedAt: at } });
  else if (value > current.value)
    await tx.highWaterMark.update({ where: { kind }, data: { value, reachedAt: at } });
}

export interface Ingestor {
  /** Events written (new) since start. */
  readonly written: number;
  /** Events set aside on the dead-letter stream since start (refused by the database, or invalid). */
  readonly deadLettered: number;
  /** Stops pulling, finishes the batch in hand, resolves when idle. Idempotent. */
  stop(): Promise<void>;
}

interface Pending {
  msg: JsMsg;
  envelope: Envelope;
}

/** Starts the pull loop on the durable consumer. */
export async function startIngestor(
  connection: NatsConnection,
  db: Database,
  logger: Logger,
  options: IngestOptions = {},
): Promise<Ingestor> {
  const log = logger.child({ component: "db-ingest" });
  const batchSize = options.batchSize ?? 500;
  const maxDeliveries = options.maxDeliveries ?? MAX_DELIVERIES;
  const retryDelay = (msg: JsMsg) =>
    backoffDelay(msg.info.deliveryCount - 1, options.retryDelayMs ?? RETRY_DELAY_MS, RETRY_MAX_MS);
  await ensureIngestStream(connection, options);
  await ensureDeadLetterStream(connection);
  const consumer = await connection.jetstream().consumers.get(STREAM_NAME, CONSUMER_NAME);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: Math.max(batchSize * 2, 100) });
  let buffer: JsMsg[] = [];
  let chain: Promise<void> = Promise.resolve();
  let scheduled = false;
  let written = 0;
  let deadLettered = 0;

  /** Whether the database commits a write now: tells "it refuses these events" from "it refuses all". */
  const acceptsWrites = async (): Promise<boolean> => {
    const id = `rosey-probe:${randomUUID()}`;
    try {
      await db.prisma.$transaction(async (tx) => {
        await tx.ingestedEvent.create({ data: { id, subject: "probe", ingestedAt: new Date() } });
        await tx.ingestedEvent.delete({ where: { id } });
      });
      return true;
    } catch {
      return false;
    }
  };

  /** On the dead-letter stream, then terminated; if it cannot be stored there, it comes back later. */
  const setAside = async (msg: JsMsg, reason: string): Promise<void> => {
    try {
      await deadLetter(connection, msg, reason);
    } catch (err) {
      log.error(
        { subject: msg.subject, streamSequence: msg.info.streamSequence, err: errorMessage(err) },
        `cannot store the event on ${DEAD_LETTER_STREAM}; it will be redelivered`,
      );
      msg.nak(retryDelay(msg));
      return;
    }
    msg.term();
    deadLettered++;
  };

  const refused = async ({ msg, envelope }: Pending, err: unknown): Promise<void> => {
    const where = {
      subject: msg.subject,
      streamSequence: msg.info.streamSequence,
      eventId: envelope.id,
      deliveries: msg.info.deliveryCount,
      maxDeliveries,
      err: errorMessage(err),
    };
    if (msg.info.deliveryCount < maxDeliveries) {
      log.warn(where, "the database refused an event; it will be retried alone");
      msg.nak(retryDelay(msg));
      return;
    }
    // In full: the one record of what was refused outside the dead-letter stream.
    log.error(
      { ...where, data: msg.string() },
      `the database refused an event at every delivery; setting it aside on ${DEAD_LETTER_STREAM}`,
    );
    await setAside(msg, errorMessage(err));
  };

  /** Writes `part` in one transaction, or halves it until what the database refuses is alone. */
  const writeOrSplit = async (part: Pending[]): Promise<void> => {
    try {
      written += await db.prisma.$transaction(
        (tx) =>
          writeBatch(
            tx,
            db.engine,
            part.map((p) => p.envelope),
          ),
        { timeout: 60_000, maxWait: 30_000 },
      );
      for (const p of part) p.msg.ack();
      return;
    } catch (err) {
      // Cut at `database.statementTimeoutMs` (PostgreSQL): a lock held elsewhere or a stalled server, not
      // these events. Halving would wait out the timeout again for every half, then set good events aside.
      const timedOut = isStatementTimeout(err);
      if (timedOut || !(await acceptsWrites())) {
        // Nothing was written and nothing is wrong with the events: all of them come back.
        log.error(
          { err: errorMessage(err), size: part.length },
          timedOut
            ? "the database cut the batch at its statement timeout; events will be redelivered"
            : "the database takes no writes; events will be redelivered",
        );
        for (const p of part) p.msg.nak(retryDelay(p.msg));
        return;
      }
      if (part.length === 1) return refused(part[0]!, err);
      const half = Math.ceil(part.length / 2);
      await writeOrSplit(part.slice(0, half));
      await writeOrSplit(part.slice(half));
    }
  };

  const flush = async (): Promise<void> => {
    scheduled = false;
    while (buffer.length > 0) {
      const batch = buffer.slice(0, batchSize);
      buffer = buffer.slice(batch.length);
      const valid: Pending[] = [];
      for (const msg of batch) {
        try {
          const envelope = decodeEnvelope(msg.data, msg.subject);
          parseEvent(envelope);
          valid.push({ msg, envelope });
        } catch (err) {
          // Invalid now means invalid at every delivery: no retry, but kept where someone can look.
          log.warn(
            { subject: msg.subject, streamSequence: msg.info.streamSequence, err: errorMessage(err) },
            `invalid event set aside on ${DEAD_LETTER_STREAM}`,
          );
          await setAside(msg, errorMessage(err));
        }
      }
      if (valid.length > 0) await writeOrSplit(valid);
    }
  };

  const loop = (async () => {
    for await (const msg of messages) {
      buffer.push(msg);
      if (buffer.length >= batchSize) {
        chain = chain.then(flush);
        await chain;
      } else if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          chain = chain.then(flush);
        });
      }
    }
  })().catch((err: unknown) => log.error({ err: errorMessage(err) }, "ingest loop ended"));

  let stopping: Promise<void> | undefined;
  return {
    get written() {
      return written;
    },
    get deadLettered() {
      return deadLettered;
    },
    stop() {
      stopping ??= (async () => {
        messages.stop();
        await loop;
        await chain;
        await flush();
      })();
      return stopping;
    },
  };
}
