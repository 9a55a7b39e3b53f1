import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { encodeSpawnFrame, ThreadSpawner } from "../../src/core/plugins/sandbox-thread.js";
import {
  encodeBatchFrame,
  encodeBatchFrames,
  encodeFrame,
  type Frame,
  FrameDecoder,
  MAX_FRAME_BYTES,
  perTickWriter,
} from "../../src/sandbox/host/framing.js";
import { MessageBatcher, splitBatch, unbatch } from "../../src/sandbox/message-batch.js";

describe("worker message batches", () => {
  it("sends what one tick pushed as one batch, in order, and a later push as the next batch", async () => {
    const sent: string[] = [];
    const batcher = new MessageBatcher((batch) => sent.push(batch));
    batcher.push({ type: "command-reply", id: 1, text: "line one\nline two" });
    batcher.push({ type: "command-result", id: 1, ok: true });
    expect(sent).toEqual([]); // nothing leaves before the pushing code returns
    await Promise.resolve();
    batcher.push({ type: "pong", seq: 2, heapUsed: 1, arrayBuffers: 0 });
    await Promise.resolve();
    expect(sent).toHaveLength(2);
    expect(unbatch(sent[0])).toEqual([
      { type: "command-reply", id: 1, text: "line one\nline two" },
      { type: "command-result", id: 1, ok: true },
    ]);
    expect(unbatch(sent[1])).toEqual([{ type: "pong", seq: 2, heapUsed: 1, arrayBuffers: 0 }]);
  });

  it("flushes what is waiting on demand, and the end of the tick then sends no empty batch", async () => {
    const sent: string[] = [];
    const batcher = new MessageBatcher((batch) => sent.push(batch));
    batcher.flush();
    batcher.push({ type: "command-result", id: 1, ok: true });
    batcher.flush();
    expect(sent.map(unbatch)).toEqual([[{ type: "command-result", id: 1, ok: true }]]);
    await Promise.resolve();
    expect(sent).toHaveLength(1);
  });

  it("turns text that is not JSON, or a batch that is not text, into undefined messages", () => {
    expect(unbatch('{"type":"ready"}\nnot json')).toEqual([{ type: "ready" }, undefined]);
    expect(unbatch({ type: "ready" })).toEqual([undefined]);
  });

  it("cuts an oversized batch into parts within the limit and drops only the messages too large", () => {
    const small = (n: number) => JSON.stringify({ type: "log", level: "info", msg: "x".repeat(n) });
    const a = small(40);
    const b = small(40);
    const huge = small(500);
    const c = small(10);
    expect(splitBatch([a, b].join("\n"), 1000)).toEqual({ parts: [[a, b].join("\n")], dropped: [] });
    const { parts, dropped } = splitBatch([a, huge, b, c].join("\n"), 120);
    expect(dropped).toEqual([huge.length]);
    expect(parts.every((p) => p.length <= 120)).toBe(true);
    expect(parts.flatMap((p) => p.split("\n"))).toEqual([a, b, c]);
  });
});

describe("core ↔ plugin-host frames", () => {
  const decodeAll = (bytes: Buffer, chunk = 3): { frames: Frame[]; errors: string[] } => {
    const frames: Frame[] = [];
    const errors: string[] = [];
    const decoder = new FrameDecoder(
      (f) => frames.push(f),
      (e) => errors.push(e),
      1024,
    );
    for (let i = 0; i < bytes.length; i += chunk) decoder.push(bytes.subarray(i, i + chunk));
    return { frames, errors };
  };

  it("carries control frames and batch frames side by side, whatever the chunking", () => {
    const text = '{"type":"command","id":1}\n{"type":"ping","seq":1}';
    const bytes = Buffer.concat([
      encodeFrame({ t: "terminate", wid: 7 }),
      encodeBatchFrame(7, text),
      encodeBatchFrame(8, "ünïcødé ✓"),
    ]);
    for (const chunk of [1, 3, 64, bytes.length]) {
      expect(decodeAll(bytes, chunk)).toEqual({
        frames: [
          { kind: "control", value: { t: "terminate", wid: 7 } },
          { kind: "batch", wid: 7, text },
          { kind: "batch", wid: 8, text: "ünïcødé ✓" },
        ],
        errors: [],
      });
    }
  });

  it("refuses a frame over the limit before buffering it, and a batch frame without a worker id", () => {
    expect(decodeAll(encodeBatchFrame(1, "x".repeat(2000))).errors).toEqual([
      "frame of 2005 bytes exceeds the 1024-byte limit",
    ]);
    const short = Buffer.from([0, 0, 0, 3, 1, 0, 0]);
    expect(decodeAll(short).errors).toEqual(["batch frame is too short for its worker id"]);
  });
});

/** The plugin host exits on a frame over its limit, with every worker in it: the core never writes one. */
describe("frames the core writes stay within the host's limit", () => {
  const decode = (frames: Buffer[]) => {
    const out: Frame[] = [];
    const errors: string[] = [];
    const decoder = new FrameDecoder(
      (f) => out.push(f),
      (e) => errors.push(e),
    );
    for (const frame of frames) decoder.push(frame);
    return { frames: out, errors };
  };

  it("sends a batch that fits as one frame", () => {
    const text = '{"type":"ping","seq":1}';
    expect(encodeBatchFrames(3, text)).toEqual({ frames: [encodeBatchFrame(3, text)], dropped: [] });
  });

  it("cuts a batch over the limit between messages, in order, and drops a message too large for any frame", () => {
    const event = (n: number, fill: string) =>
      JSON.stringify({ type: "event", subId: n, subject: "rosey.x", envelope: { data: fill } });
    // Three 1 MiB-of-'é' events (2 MiB each in UTF-8): together far over a frame, each one within it.
    const fits = [1, 2, 3].map((n) => event(n, "é".repeat(1024 * 1024)));
    const tooBig = event(4, "x".repeat(MAX_FRAME_BYTES));
    const { frames, dropped } = encodeBatchFrames(3, [fits[0], tooBig, fits[1], fits[2]].join("\n"));
    expect(dropped).toEqual([tooBig.length]);
    for (const frame of frames) expect(frame.length - 4).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    const decoded = decode(frames);
    expect(decoded.errors).toEqual([]);
    expect(decoded.frames.flatMap((f) => (f.kind === "batch" ? f.text.split("\n") : []))).toEqual(fits);
  });

  const request = (code: string) => ({
    name: "plugin:wordy",
    workerData: { plugin: { name: "wordy", version: "1.0.0" }, source: code, config: {} },
    resourceLimits: { maxOldGenerationSizeMb: 64 },
  });

  it("encodes a spawn within the limit, and refuses one over it instead of writing it", () => {
    expect(decode([encodeSpawnFrame(1, request("module.exports = {};"))]).frames).toEqual([
      { kind: "control", value: { t: "spawn", wid: 1, ...request("module.exports = {};") } },
    ]);
    // 2.5 MB of backslashes: 5 MB once JSON escapes them.
    const escaped = request(`"${"\\".repeat(2_500_000)}"`);
    expect(() => encodeSpawnFrame(2, escaped)).toThrow(
      expect.objectContaining({
        code: "PLUGIN_LOAD_FAILED",
        message: expect.stringMatching(
          new RegExp(
            `^Cannot start worker 'plugin:wordy': its init \\(bundled code and config\\) is \\d+ bytes as sent to the plugin host, over the ${MAX_FRAME_BYTES}-byte frame limit$`,
          ),
        ),
      }),
    );
  });

  it("thread isolation refuses the same spawn, so a plugin starts under both isolations or neither", () => {
    expect(() => new ThreadSpawner().spawn(request(`"${"\\".repeat(2_500_000)}"`))).toThrow(
      expect.objectContaining({ code: "PLUGIN_LOAD_FAILED" }),
    );
  });
});

describe("the core ↔ plugin-host pipe writer", () => {
  it("sends each tick's writes in one write at the end of the tick", async () => {
    // Corked writes reach the stream as one writev: record the bytes of each write that reaches it.
    const writes: number[] = [];
    const stream = new Writable({
      writev(chunks, done) {
        writes.push(chunks.reduce((n, c) => n + c.chunk.length, 0));
        done();
      },
      write(chunk: Buffer, _encoding, done) {
        writes.push(chunk.length);
        done();
      },
    });
    const write = perTickWriter(stream);
    for (let round = 0; round < 3; round++) {
      write(Buffer.alloc(100));
      write(Buffer.alloc(100));
      expect(writes).toHaveLength(round);
      await new Promise((resolve) => setImmediate(resolve));
      expect(writes).toHaveLength(round + 1);
    }
    expect(writes).toEqual([200, 200, 200]);
  });
});
