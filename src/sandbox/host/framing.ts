import type { Writable } from "node:stream";
import { splitBatch } from "../message-batch.js";

/**
 * Length-prefixed frames for the core ↔ plugin-host pipe: a 4-byte big-endian length, then that many
 * bytes of payload. A payload is either the UTF-8 JSON of a control frame (host-protocol.ts), or a batch
 * of one worker's messages (message-batch.ts): the byte 0x01, the worker id (uint32 BE), then the batch's
 * UTF-8 text, which the host forwards without parsing. The reader checks the length before it buffers or
 * parses anything, so an oversized frame is refused without the core ever holding it.
 */

export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
const BATCH = 0x01;
/** Characters of batch text that fit one frame whatever they are: a UTF-16 unit is at most 3 UTF-8 bytes. */
const MAX_BATCH_CHARS = Math.floor((MAX_FRAME_BYTES - 5) / 3);

export type Frame = { kind: "control"; value: unknown } | { kind: "batch"; wid: number; text: string };

export function encodeFrame(value: unknown): Buffer {
  const json = JSON.stringify(value);
  const frame = Buffer.allocUnsafe(4 + Buffer.byteLength(json));
  frame.writeUInt32BE(frame.length - 4, 0);
  frame.write(json, 4, "utf8");
  return frame;
}

export function encodeBatchFrame(wid: number, text: string): Buffer {
  const frame = Buffer.allocUnsafe(9 + Buffer.byteLength(text));
  frame.writeUInt32BE(frame.length - 4, 0);
  frame[4] = BATCH;
  frame.writeUInt32BE(wid, 5);
  frame.write(text, 9, "utf8");
  return frame;
}

/**
 * One worker's batch as frames the reader accepts: one frame when it fits, else cut between messages
 * (splitBatch). A message too large for a frame by itself is left out, its length in characters in `dropped`.
 */
export function encodeBatchFrames(wid: number, batch: string): { frames: Buffer[]; dropped: number[] } {
  const whole = encodeBatchFrame(wid, batch);
  if (whole.length - 4 <= MAX_FRAME_BYTES) return { frames: [whole], dropped: [] };
  const { parts, dropped } = splitBatch(batch, MAX_BATCH_CHARS);
  return { frames: parts.map((part) => encodeBatchFrame(wid, part)), dropped };
}

/**
 * A writer for the pipe whose writes of one tick leave in one write (corked until the next tick): at
 * 1,000 msg/s a write per frame costs more than the frames. Both ends of the core ↔ host pipe use it.
 */
export function perTickWriter(socket: Writable): (bytes: Buffer) => void {
  let corked = false;
  return (bytes) => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    socket.write(bytes);
  };
}

export class FrameDecoder {
  readonly #maxBytes: number;
  readonly #onFrame: (frame: Frame) => void;
  readonly #onError: (reason: string) => void;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed = false;

  constructor(
    onFrame: (frame: Frame) => void,
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
      if (body[0] === BATCH) {
        if (body.length < 5) {
          this.#fail("batch frame is too short for its worker id");
          return;
        }
        this.#onFrame({ kind: "batch", wid: body.readUInt32BE(1), text: body.toString("utf8", 5) });
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(body.toString("utf8"));
      } catch {
        this.#fail("frame is not valid JSON");
        return;
      }
      this.#onFrame({ kind: "control", value });
    }
  }

  #fail(reason: string): void {
    this.#failed = true;
    this.#chunks = [];
    this.#buffered = 0;
    this.#onError(reason);
  }
}
