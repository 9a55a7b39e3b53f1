/**
 * Which plugin handler a worker's thread is running, in shared memory: a thread blocked in a handler can
 * answer no message, so the watchdog learns what blocked it by reading this instead of asking.
 *
 *   worker thread                 SharedArrayBuffer              reader
 *   ─────────────                 ─────────────────              ──────
 *   enter(kind, label) ────────▶  seq | kind | length | label ◀── core (thread isolation): when it judges silence
 *   leave()            ────────▶  kind = idle                 ◀── plugin host (process isolation): polls, and
 *                                                                 reports a handler still running as `blocked`
 *
 * Two stores per handler and a short label copy: cheap enough for every event. The label is the
 * worker's own (a subject, a command or timer name), escaped and cut by the reader like any worker text.
 * Shared by both sides and free of dependencies.
 */

export const ACTIVITY_KINDS = ["onCommand", "onEvent", "subscription", "timeout", "interval"] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

/** Longest label kept, in UTF-8 bytes. */
export const MAX_ACTIVITY_LABEL_BYTES = 256;
const HEADER_INTS = 3;
const SEQ = 0;
const KIND = 1;
const LENGTH = 2;
export const ACTIVITY_BYTES = HEADER_INTS * 4 + MAX_ACTIVITY_LABEL_BYTES;

export interface Activity {
  /** Increases with every handler entered: the same `seq` at two readings means the same run. */
  seq: number;
  kind: ActivityKind;
  label: string;
}

export function createActivityBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(ACTIVITY_BYTES);
}

/** The worker's side: it marks each plugin handler's synchronous run. */
export class ActivityWriter {
  readonly #ints: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #encoder = new TextEncoder();

  constructor(buffer: SharedArrayBuffer) {
    this.#ints = new Int32Array(buffer, 0, HEADER_INTS);
    this.#bytes = new Uint8Array(buffer, HEADER_INTS * 4, MAX_ACTIVITY_LABEL_BYTES);
  }

  enter(kind: ActivityKind, label: string): void {
    // encodeInto cuts at a character boundary; the label before the kind, the kind before the seq, so a
    // reader that sees a new seq sees the rest of that run's record.
    const { written } = this.#encoder.encodeInto(label, this.#bytes);
    Atomics.store(this.#ints, LENGTH, written);
    Atomics.store(this.#ints, KIND, ACTIVITY_KINDS.indexOf(kind) + 1);
    Atomics.add(this.#ints, SEQ, 1);
  }

  leave(): void {
    Atomics.store(this.#ints, KIND, 0);
  }
}

/**
 * What the worker is running now, or undefined when it runs no handler's synchronous part (idle, or in code
 * after an `await`, which no handler owns). Meant for a thread that has stopped answering; a record changing
 * while it is read is reported as undefined.
 */
export function readActivity(buffer: SharedArrayBuffer): Activity | undefined {
  if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== ACTIVITY_BYTES) return undefined;
  const ints = new Int32Array(buffer, 0, HEADER_INTS);
  const seq = Atomics.load(ints, SEQ);
  const kind = ACTIVITY_KINDS[Atomics.load(ints, KIND) - 1];
  const length = Math.min(Math.max(0, Atomics.load(ints, LENGTH)), MAX_ACTIVITY_LABEL_BYTES);
  // TextDecoder refuses shared memory: decode a copy.
  const copy = new Uint8Array(buffer, HEADER_INTS * 4, length).slice();
  if (!kind || Atomics.load(ints, SEQ) !== seq) return undefined;
  return { seq, kind, label: new TextDecoder().decode(copy) };
}

/** How the watchdog names a handler: `onEvent(rosey.events.message)`, `interval 'tick' (every 1000 ms)`. */
export function describeActivity(activity: Pick<Activity, "kind" | "label">): string {
  switch (activity.kind) {
    case "onCommand":
      return `onCommand for '${activity.label}'`;
    case "onEvent":
    case "subscription":
      return `${activity.kind}(${activity.label})`;
    default:
      return `${activity.kind} ${activity.label}`;
  }
}
