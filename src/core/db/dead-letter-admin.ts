import type { JetStreamManager, MsgRequest, NatsConnection, StoredMsg } from "nats";
import { dbDeadLetterSubject } from "../subjects.js";
import { DEAD_LETTER_HEADERS } from "./dead-letter.js";
import { DEAD_LETTER_STREAM, INGEST_SUBJECTS, STREAM_NAME } from "./streams.js";

/**
 * What operators do with the dead-letter stream (dead-letter.ts): read it, put an event back on the ingest
 * stream once its cause is fixed, or throw it away. Everything here goes through the JetStream API of the
 * connection it is given; the CLI (dead-letter-cli.ts) owns the connection and the output.
 */

/** One set-aside event, as shown to operators. Everything but `seq`, `stored` and `size` comes from the event. */
export interface DeadLetter {
  /** Its sequence in `ROSEY_DB_DEADLETTER`: what replay and drop take. */
  seq: number;
  /** The subject it was published on, where a replay publishes it again. */
  subject: string;
  /** When the dead-letter stream stored it (ISO 8601). */
  stored: string;
  /** Deliveries before it was set aside; null when the header is missing (not set aside by Rosey). */
  deliveries: number | null;
  /** Why it was set aside; null when the header is missing. */
  error: string | null;
  /** Its sequence in `ROSEY_DB`, where it was refused. */
  ingestSequence: number | null;
  /** The envelope's `id`; null when the bytes are not a JSON object with a string id (an invalid event). */
  envelopeId: string | null;
  /** Bytes of the original event. */
  size: number;
}

export interface DeadLetterList {
  /** Dead letters in the stream; 0 when the stream does not exist. */
  total: number;
  exists: boolean;
  /** The newest `limit`, oldest first. */
  deadLetters: DeadLetter[];
}

// nats-server's JetStream API error codes (server/errors.json): stable, unlike the descriptions.
const NO_MESSAGE_FOUND = 10037;
const SEQUENCE_NOT_FOUND = 10043;
const STREAM_NOT_FOUND = 10059;

const PREFIX = dbDeadLetterSubject("");

function apiErrorCode(err: unknown): number | undefined {
  return (err as { api_error?: { err_code?: number } }).api_error?.err_code;
}

export function describeDeadLetter(msg: StoredMsg): DeadLetter {
  const header = (name: string) => msg.header?.get(name) || null;
  const count = (name: string) => {
    const n = Number(header(name) ?? Number.NaN);
    return Number.isInteger(n) ? n : null;
  };
  return {
    seq: msg.seq,
    subject: msg.subject.startsWith(PREFIX) ? msg.subject.slice(PREFIX.length) : msg.subject,
    stored: msg.time.toISOString(),
    deliveries: count(DEAD_LETTER_HEADERS.deliveries),
    error: header(DEAD_LETTER_HEADERS.error),
    ingestSequence: count(DEAD_LETTER_HEADERS.streamSequence),
    envelopeId: envelopeId(msg.data),
    size: msg.data.length,
  };
}

function envelopeId(data: Uint8Array): string | null {
  try {
    const id = (JSON.parse(new TextDecoder().decode(data)) as { id?: unknown } | null)?.id;
    return typeof id === "string" ? id : null;
  } catch {
    return null;
  }
}

interface StreamBounds {
  messages: number;
  first: number;
  last: number;
  /** Sequences between `first` and `last` that were deleted (replayed or dropped). */
  deleted: number;
}

async function bounds(jsm: JetStreamManager): Promise<StreamBounds | undefined> {
  try {
    const { state } = await jsm.streams.info(DEAD_LETTER_STREAM);
    return {
      messages: state.messages,
      first: state.first_seq,
      last: state.last_seq,
      deleted: state.num_deleted ?? 0,
    };
  } catch (err) {
    if (apiErrorCode(err) === STREAM_NOT_FOUND) return undefined;
    throw err;
  }
}

/** The first message at or after `seq`; deleted sequences are skipped by the server, not by asking for each. */
async function nextMessage(jsm: JetStreamManager, seq: number): Promise<StoredMsg | undefined> {
  // STREAM.MSG.GET takes `next_by_subj` (nats-server ≥ 2.9); nats.js types it only for direct get.
  const query = { seq, next_by_subj: ">" } as unknown as MsgRequest;
  try {
    return await jsm.streams.getMessage(DEAD_LETTER_STREAM, query);
  } catch (err) {
    if (apiErrorCode(err) === NO_MESSAGE_FOUND) return undefined;
    throw err;
  }
}

async function* messagesBetween(jsm: JetStreamManager, from: number, to: number): AsyncGenerator<StoredMsg> {
  for (let seq = from; seq <= to; ) {
    const msg = await nextMessage(jsm, seq);
    if (!msg || msg.seq > to) return;
    yield msg;
    seq = msg.seq + 1;
  }
}

/** The newest `limit` dead letters, oldest first. Reads at most `limit` plus the deleted sequences among them. */
export async function listDeadLetters(jsm: JetStreamManager, limit: number): Promise<DeadLetterList> {
  const b = await bounds(jsm);
  if (!b || b.messages === 0) return { total: 0, exists: b !== undefined, deadLetters: [] };
  // However the deletions fall, this range holds at least `limit` messages (or all of them).
  const from = Math.max(b.first, b.last - limit - b.deleted + 1);
  const deadLetters: DeadLetter[] = [];
  for await (const msg of messagesBetween(jsm, from, b.last)) deadLetters.push(describeDeadLetter(msg));
  return { total: b.messages, exists: true, deadLetters: deadLetters.slice(-limit) };
}

/** Which dead letters a replay or drop acts on: every one, or these sequences. */
export type DeadLetterSelection = { all: true } | { seqs: readonly number[] };

/** A selected sequence, and its message unless there is none (never stored, or already replayed or dropped). */
export interface Selected {
  seq: number;
  msg: StoredMsg | undefined;
}

/**
 * The selected dead letters in sequence order, read one at a time (the stream holds up to 256 MiB). `all`
 * stops at the last sequence when it starts: what a replay sets aside again meanwhile is not replayed
 * again in the same run, which would never end while the cause remains.
 */
export async function* selectDeadLetters(
  jsm: JetStreamManager,
  selection: DeadLetterSelection,
): AsyncGenerator<Selected> {
  if ("all" in selection) {
    const b = await bounds(jsm);
    if (!b || b.messages === 0) return;
    for await (const msg of messagesBetween(jsm, b.first, b.last)) yield { seq: msg.seq, msg };
    return;
  }
  for (const seq of [...new Set(selection.seqs)].sort((a, b) => a - b)) {
    const msg = await nextMessage(jsm, seq);
    yield { seq, msg: msg?.seq === seq ? msg : undefined };
  }
}

/** Why a dead letter cannot be replayed, or undefined when it can. */
export function replayRefusal(letter: DeadLetter): string | undefined {
  if ((Object.values(INGEST_SUBJECTS) as string[]).includes(letter.subject)) return undefined;
  // Publishing there would reach that subject's live subscribers, and no database write would follow.
  return `'${letter.subject}' is not a subject the ingest stream ${STREAM_NAME} takes`;
}

/**
 * Publishes the original bytes on the original subject and resolves with their sequence in `ROSEY_DB` once
 * JetStream has stored them there; only then may the dead letter be dropped. A failure between the two
 * leaves it in place, and replaying it again is harmless: ingestion skips an envelope id it has written.
 */
export async function republish(connection: NatsConnection, msg: StoredMsg): Promise<number> {
  const { subject } = describeDeadLetter(msg);
  // The expected stream makes the server refuse to store it anywhere but the ingest stream.
  const ack = await connection
    .jetstream()
    .publish(subject, msg.data, { expect: { streamName: STREAM_NAME } });
  return ack.seq;
}

/** Deletes a dead letter; false when it was already gone (another operator got there first). */
export async function dropDeadLetter(jsm: JetStreamManager, seq: number): Promise<boolean> {
  try {
    return await jsm.streams.deleteMessage(DEAD_LETTER_STREAM, seq);
  } catch (err) {
    if (apiErrorCode(err) === SEQUENCE_NOT_FOUND) return false;
    throw err;
  }
}
