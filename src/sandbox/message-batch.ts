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
    queueMicrotask(() => {
      this.#scheduled = false;
      const batch = this.#texts.join("\n");
      this.#texts = [];
      this.#send(batch);
    });
  }
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
