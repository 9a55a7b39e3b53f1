import { DiscardPolicy, headers, type JsMsg, type NatsConnection, RetentionPolicy, StorageType } from "nats";
import { errorMessage, RoseyError } from "../errors.js";
import { dbDeadLetterSubject } from "../subjects.js";
import { DEAD_LETTER_STREAM } from "./streams.js";

/**
 * Where ingestion sets aside an event it cannot write: the `ROSEY_DB_DEADLETTER` JetStream stream, on
 * `rosey.db.deadletter.<the event's subject>`. Kept in NATS rather than the database because the database
 * is what refused it (a dead-letter table would refuse the same NUL or oversized value). The payload is
 * the original bytes, untouched, so an operator can read it and republish it to its subject once fixed;
 * headers say where it came from and why it was refused.
 */

/** Retention: long enough for someone to notice and look; bounded so a flood of bad events cannot fill the disk. */
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;
const MAX_BYTES = 256 * 1024 * 1024;
/** Header values are one line; a database error can be many. */
const MAX_ERROR_CHARS = 2_000;

export const DEAD_LETTER_HEADERS = {
  subject: "Rosey-Subject",
  streamSequence: "Rosey-Stream-Sequence",
  deliveries: "Rosey-Deliveries",
  error: "Rosey-Error",
} as const;

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

/**
 * Stores `msg` on the dead-letter stream and resolves once JetStream has it; the caller then terms it.
 * A crash between the two redelivers it and it is set aside again: the message id (stream and sequence)
 * lets JetStream drop that second copy within its duplicate window.
 */
export async function deadLetter(connection: NatsConnection, msg: JsMsg, reason: string): Promise<void> {
  const h = headers();
  h.set(DEAD_LETTER_HEADERS.subject, msg.subject);
  h.set(DEAD_LETTER_HEADERS.streamSequence, String(msg.info.streamSequence));
  h.set(DEAD_LETTER_HEADERS.deliveries, String(msg.info.deliveryCount));
  h.set(DEAD_LETTER_HEADERS.error, oneLine(reason));
  await connection.jetstream().publish(dbDeadLetterSubject(msg.subject), msg.data, {
    msgID: `${msg.info.stream}:${msg.info.streamSequence}`,
    headers: h,
  });
}

function oneLine(text: string): string {
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
  return flat.length > MAX_ERROR_CHARS ? `${flat.slice(0, MAX_ERROR_CHARS)}…` : flat;
}
