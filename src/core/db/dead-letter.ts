import { headers, type JsMsg, type NatsConnection } from "nats";
import { dbDeadLetterSubject } from "../subjects.js";

/**
 * Where ingestion sets aside an event it cannot write: the `ROSEY_DB_DEADLETTER` JetStream stream, on
 * `rosey.db.deadletter.<the event's subject>`. Kept in NATS rather than the database because the database
 * is what refused it (a dead-letter table would refuse the same NUL or oversized value). The payload is
 * the original bytes, untouched, so an operator can read it and republish it to its subject once fixed;
 * headers say where it came from and why it was refused.
 */

/** Header values are one line; a database error can be many. */
const MAX_ERROR_CHARS = 2_000;

export const DEAD_LETTER_HEADERS = {
  subject: "Rosey-Subject",
  streamSequence: "Rosey-Stream-Sequence",
  deliveries: "Rosey-Deliveries",
  error: "Rosey-Error",
} as const;

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
