import net from "node:net";
import type { EventLoopUtilization } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { splitBatch } from "../message-batch.js";
import { encodeBatchFrame, encodeFrame, type Frame, FrameDecoder, perTickWriter } from "./framing.js";
import { type CoreToHost, type HostToCore, MAX_RELAYED_MESSAGE_BYTES } from "./host-protocol.js";

/**
 * The plugin-host process: forked by the core, it runs the plugin workers so that what one worker
 * cannot contain (a single huge allocation aborts the whole process, nodejs/node#47224) kills this
 * process, not the core. It holds no NATS connection, credentials or config; it only relays frames
 * between the core (fd 3, length-prefixed) and its workers. When the core goes away, so does the host.
 */

const WORKER_ENTRY = new URL("../worker-entry.js", import.meta.url);
const ELU_SAMPLE_MS = 1_000;

const channel = new net.Socket({ fd: 3, readable: true, writable: true });
const workers = new Map<number, { worker: Worker; elu: EventLoopUtilization | undefined }>();

const write = perTickWriter(channel);

function send(frame: HostToCore): void {
  write(encodeFrame(frame));
}

function spawn(frame: Extract<CoreToHost, { t: "spawn" }>): void {
  const { wid } = frame;
  const worker = new Worker(WORKER_ENTRY, {
    workerData: frame.workerData,
    resourceLimits: frame.resourceLimits,
    env: {},
    execArgv: [],
    stdout: true,
    stderr: true,
    name: frame.name,
  });
  workers.set(wid, { worker, elu: undefined });
  let error: (Error & { code?: string }) | undefined;
  worker.on("online", () => send({ t: "online", wid, threadId: worker.threadId }));
  worker.on("message", (batch: unknown) => relay(wid, batch));
  const output = (chunk: Buffer) => send({ t: "output", wid, text: chunk.toString("utf8").slice(0, 4096) });
  worker.stdout.on("data", output);
  worker.stderr.on("data", output);
  worker.on("error", (err) => {
    error = err;
  });
  worker.on("exit", (code) => {
    workers.delete(wid);
    send({
      t: "exit",
      wid,
      code,
      oom: error?.code === "ERR_WORKER_OUT_OF_MEMORY",
      ...(error ? { error: error.message.slice(0, 1000) } : {}),
    });
  });
}

/**
 * Forwards a worker's batch (message-batch.ts) to the core as it is; only one over the relay limit is cut,
 * dropping (and reporting as `oversize`) the messages too large. Anything that is not text becomes `null`,
 * which the core refuses as a malformed message.
 */
function relay(wid: number, batch: unknown): void {
  const { parts, dropped } = splitBatch(
    typeof batch === "string" ? batch : "null",
    MAX_RELAYED_MESSAGE_BYTES,
  );
  for (const bytes of dropped) send({ t: "oversize", wid, bytes });
  for (const part of parts) write(encodeBatchFrame(wid, part));
}

function onFrame(frame: Frame): void {
  if (frame.kind === "batch") {
    workers.get(frame.wid)?.worker.postMessage(frame.text);
    return;
  }
  const control = frame.value as CoreToHost;
  switch (control.t) {
    case "spawn":
      spawn(control);
      break;
    case "terminate":
      void workers.get(control.wid)?.worker.terminate();
      break;
  }
}

const decoder = new FrameDecoder(onFrame, (reason) => {
  process.stderr.write(`plugin-host: bad frame from core (${reason}); exiting\n`);
  process.exit(70);
});
channel.on("data", (chunk: Buffer) => decoder.push(chunk));
// The core closed the pipe (it stopped, crashed or was killed): end every worker and leave.
channel.on("close", () => process.exit(0));
channel.on("error", () => process.exit(0));

setInterval(() => {
  for (const [wid, entry] of workers) {
    const now = entry.worker.performance.eventLoopUtilization();
    const delta = entry.elu ? entry.worker.performance.eventLoopUtilization(now, entry.elu) : now;
    entry.elu = now;
    send({ t: "elu", wid, value: Math.min(1, Math.max(0, delta.utilization)) });
  }
}, ELU_SAMPLE_MS).unref();

send({ t: "ready", pid: process.pid });
