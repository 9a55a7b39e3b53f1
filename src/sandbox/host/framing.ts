/**
 * Length-prefixed JSON frames for the core ↔ plugin-host pipe: a 4-byte big-endian length, then that
 * many bytes of UTF-8 JSON. The reader checks the length before it buffers or parses anything, so an
 * oversized frame is refused without the core ever holding it.
 */

export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), "utf8");
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

export class FrameDecoder {
  readonly #maxBytes: number;
  readonly #onFrame: (value: unknown) => void;
  readonly #onError: (reason: string) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed = false;

  constructor(
    onFrame: (value: unknown) => void,
    onError: (reason: string) => void,
    maxBytes = MAX_FRAME_BYTES,
  ) {
    this.#onFrame = onFrame;
    this.#onError = onError;
    this.#maxBytes = maxBytes;
  }

  push(chunk: Buffer): void {
    if (this.#failed) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    while (this.#buffered >= 4) {
      const head = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
      this.#chunks = [head];
      const length = head.readUInt32BE(0);
      if (length > this.#maxBytes) {
        this.#fail(`frame of ${length} bytes exceeds the ${this.#maxBytes}-byte limit`);
        return;
      }
      if (head.length < 4 + length) return;
      const body = head.subarray(4, 4 + length);
      const rest = head.subarray(4 + length);
      this.#chunks = rest.length ? [rest] : [];
      this.#buffered = rest.length;
      let value: unknown;
      try {
        value = JSON.parse(body.toString("utf8"));
      } catch {
        this.#fail("frame is not valid JSON");
        return;
      }
      this.#onFrame(value);
    }
  }

  #fail(reason: string): void {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#onError(reason);
  }
}
