import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
} from "nats";
import { errorMessage, RoseyError } from "../errors.js";
import { dbDeadLetterSubject } from "../subjects.js";

/**
 * The database service's JetStream store: its names, and its creation, apart from the code that uses them,
 * so that the core can name them (the database service's NATS permissions, nats/component-users.ts) and
 * create them before the service starts without loading the database layer. The service's own NATS user
 * may read the store but not change it: it could otherwise widen the stream's subjects to capture PMs,
 * plugin traffic and admin requests, and answer them with JetStream's acknowledgements.
 */

export const INGEST_SUBJECTS = {
  userJoined: "rosey.db.user.joined",
  userLeft: "rosey.db.user.left",
  messageLog: "rosey.db.message.log",
  userCount: "rosey.db.stats.user_count",
  highWater: "rosey.db.stats.high_water",
  statusUpdate: "rosey.db.status.update",
  /** The gate's violations and the manager's audit events are persisted to `audit_log` the same way. */
  securityViolation: "rosey.security.violation",
  securityAudit: "rosey.security.audit",
} as const;

/** Keeps the ingestion subjects until the database service has written them (ingestion.ts). */
export const STREAM_NAME = "ROSEY_DB";
export const CONSUMER_NAME = "rosey-db-ingest";

/** Where ingestion sets aside an event it cannot write (dead-letter.ts). */
export const DEAD_LETTER_STREAM = "ROSEY_DB_DEADLETTER";

/** Retention: long enough for someone to notice and look; bounded so a flood of bad events cannot fill the disk. */
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const MAX_BYTES = 256 * 1024 * 1024;
/** Creates the stream when missing; an existing one keeps its (possibly operator-tuned) limits. */
export async function ensureDeadLetterStream(connection: NatsConnection): Promise<void> {
  const jsm = await connection.jetstreamManager();
  try {
    await jsm.streams.info(DEAD_LETTER_STREAM);
  } catch (err) {
    if (!/stream not found/i.test(errorMessage(err))) throw err;
    await jsm.streams
      .add({
        name: DEAD_LETTER_STREAM,
        subjects: [dbDeadLetterSubject(">")],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        discard: DiscardPolicy.Old,
        max_age: MAX_AGE_MS * 1_000_000,
        max_bytes: MAX_BYTES,
      })
      .catch((addErr: unknown) => {
        throw new RoseyError(
          "INTERNAL",
          `Cannot create JetStream stream ${DEAD_LETTER_STREAM}: ${errorMessage(addErr)}`,
          { cause: addErr },
        );
      });
  }
}

export interface IngestStreamOptions {
  /** How long JetStream waits for an ack before redelivering. @default 30000 */
  ackWaitMs?: number | undefined;
  /** Stream retention. @default 7 days */
  maxAgeMs?: number | undefined;
}

const ms = (n: number) => n * 1_000_000; // JetStream durations are nanoseconds.

/** Creates or updates the stream and the durable consumer; safe to call from every service start. */
export async function ensureIngestStream(
  connection: NatsConnection,
  options: IngestStreamOptions = {},
): Promise<void> {
  const jsm = await connection.jetstreamManager();
  const subjects = Object.values(INGEST_SUBJECTS);
  const config = {
    name: STREAM_NAME,
    subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: ms(options.maxAgeMs ?? 7 * 24 * 3600 * 1000),
  };
  try {
    const info = await jsm.streams.info(STREAM_NAME);
    const missing = subjects.filter((s) => !info.config.subjects?.includes(s));
    if (missing.length > 0)
      await jsm.streams.update(STREAM_NAME, {
        ...info.config,
        subjects: [...new Set([...(info.config.subjects ?? []), ...subjects])],
      });
  } catch (err) {
    if (!/stream not found/i.test(errorMessage(err))) throw err;
    await jsm.streams.add(config).catch((addErr: unknown) => {
      throw new RoseyError(
        "INTERNAL",
        `Cannot create JetStream stream ${STREAM_NAME} on ${subjects.join(", ")}: ${errorMessage(addErr)}`,
        { cause: addErr },
      );
    });
  }
  const consumer = {
    durable_name: CONSUMER_NAME,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ms(options.ackWaitMs ?? 30_000),
    max_ack_pending: 20_000,
  };
  try {
    const info = await jsm.consumers.info(STREAM_NAME, CONSUMER_NAME);
    if (info.config.ack_wait !== consumer.ack_wait) {
      await jsm.consumers.update(STREAM_NAME, CONSUMER_NAME, {
        ack_wait: consumer.ack_wait,
        max_ack_pending: consumer.max_ack_pending,
      });
    }
  } catch (err) {
    if (!/consumer not found/i.test(errorMessage(err))) throw err;
    await jsm.consumers.add(STREAM_NAME, consumer);
  }
}

/** `ROSEY_DB_ACK_WAIT_MS`: the ingestion consumer's ack wait, for tests and slow databases. */
export function ackWaitFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const fromEnv = Number(env.ROSEY_DB_ACK_WAIT_MS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : undefined;
}
