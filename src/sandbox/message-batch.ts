/**
 * How a plugin worker's protocol messages (protocol.ts) travel, in both directions and both isolation
 * modes: as JSON text, one text per message, the texts of one tick joined by "\n" into a single
 * postMessage (and, through the plugin host, a single frame). JSON.stringify never emits a raw newline,
 * so the join is unambiguous.
 *
 * Each message is encoded once and parsed once end to end: the plugin host forwards the text without
 * parsing it, and no structured clone of an object graph happens on top of the JSON. Worker code imports
 * this module, so it must stay free of dependencies.
 */

export class MessageBatcher {
  readonly #send: (batch: string) => void;
  #texts: string[] = [];
  #scheduled = false;

  /** `send` gets each tick's batch; it is called from a microtask, after the code that pushed returns. */
  constructor(send: (batch: string) => void) {
    this.#send = send;
  }

  push(message: unknown): void {
    this.#texts.push(JSON.stringify(message));
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#flush);
  }

  /** Sends what has been pushed now, instead of at the end of the tick (nothing when nothing is waiting). */
  flush(): void {
    if (this.#texts.length === 0) return;
    const batch = this.#texts.join("\n");
    this.#texts = [];
    this.#send(batch);
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    this.flush();
  };
}

/**
 * Cuts a batch for relaying with at most `limit` characters per part: messages longer than `limit` are
 * left out and their sizes returned in `dropped`; the others keep their order. A batch within the limit
 * is returned whole, untouched.
 */
export function splitBatch(batch: string, limit: number): { parts: string[]; dropped: number[] } {
  if (batch.length <= limit) return { parts: [batch], dropped: [] };
  const parts: string[] = [];
  const dropped: number[] = [];
  let kept: string[] = [];
  let size = 0;
  for (const message of batch.split("\n")) {
    if (message.length > limit) {
      dropped.push(message.length);
      continue;
    }
    if (kept.length > 0 && size + 1 + message.length > limit) {
      parts.push(kept.join("\n"));
      kept = [];
      size = 0;
    }
    size += (kept.length > 0 ? 1 : 0) + message.length;
    kept.push(message);
  }
  if (kept.length > 0) parts.push(kept.join("\n"));
  return { parts, dropped };
}

/**
 * The messages of a received batch. Text that is not JSON (only a broken or compromised peer sends it)
 * comes out as `undefined`, which the receiver's validation refuses like any other malformed message.
 */
export function unbatch(batch: unknown): unknown[] {
  if (typeof batch !== "string") return [undefined];
  return batch.split("\n").map((text) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  });
}
