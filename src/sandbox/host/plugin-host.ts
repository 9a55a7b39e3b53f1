import net from "node:net";
import type { EventLoopUtilization } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { createActivityBuffer, readActivity } from "../activity.js";
import { escapeControls } from "../escape-text.js";
import { splitBatch } from "../message-batch.js";
import { encodeBatchFrame, encodeFrame, type Frame, FrameDecoder, perTickWriter } from "./framing.js";
import {
  type CoreToHost,
  type HostToCore,
  MAX_RELAYED_MESSAGE_BYTES,
  TERMINATE_GRACE_MS,
} from "./host-protocol.js";

/**
 * The plugin-host process: forked by the core, it runs the plugin workers so that what one worker
 * cannot contain (a single huge allocation aborts the whole process, nodejs/node#47224) kills this
 * process, not the core. It holds no NATS connection, credentials or config; it only relays frames
 * between the core (fd 3, length-prefixed) and its workers. When the core goes away, so does the host.
 */

const WORKER_ENTRY = new URL("../worker-entry.js", import.meta.url);
const ELU_SAMPLE_MS = 1_000;
/** How often the workers' activity records are read: a handler seen twice in a row has run at least this long. */
const ACTIVITY_SAMPLE_MS = 100;

const channel = new net.Socket({ fd: 3, readable: true, writable: true });
interface HostedWorker {
  worker: Worker;
  elu: EventLoopUtilization | undefined;
  activity: SharedArrayBuffer;
  /** The handler run seen at the last sample, and whether the core has been told about it. */
  lastSeq: number | undefined;
  reported: boolean;
}
const workers = new Map<number, HostedWorker>();

const write = perTickWriter(channel);

function send(frame: HostToCore): void {
  write(encodeFrame(frame));
}

function spawn(frame: Extract<CoreToHost, { t: "spawn" }>): void {
  const { wid } = frame;
  const activity = createActivityBuffer();
  const worker = new Worker(WORKER_ENTRY, {
    // The core's init, plus the activity record only this process can share with the thread.
    workerData: { ...(frame.workerData as object), activity },
    resourceLimits: frame.resourceLimits,
    env: {},
    execArgv: [],
    stdout: true,
    stderr: true,
    name: frame.name,
  });
  workers.set(wid, { worker, elu: undefined, activity, lastSeq: undefined, reported: false });
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
      end(control.wid);
      break;
  }
}

const decoder = new FrameDecoder(onFrame, (reason) => {
  process.stderr.write(`plugin-host: bad frame from core (${reason}); exiting\n`);
  process.exit(70);
});
channel.on("data", (chunk: Buffer) => decoder.push(chunk));
// The core closed the pipe (it stopped, crashed or was killed): end every worker and leave.
channel.on("close", () => void leave());
// Ctrl-C signals the whole process group, a service manager's stop the whole cgroup: this process gets the
// core's SIGINT or SIGTERM too. Its life is the core's to end, which stops the plugins in order (their
// stop() runs) and then closes the pipe; dying of the signal first would cut every plugin off mid-stop.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => undefined);
channel.on("error", () => void leave());

/**
 * Ends a worker. One that has not ended within `TERMINATE_GRACE_MS` is stuck in a native call no terminate
 * interrupts: this process kills itself, since nothing else can end that thread (`process.exit` would join it
 * and wait for ever), and the core sees every worker in it end as a host crash.
 */
function end(wid: number): Promise<unknown> {
  const entry = workers.get(wid);
  if (!entry) return Promise.resolve();
  setTimeout(() => {
    if (workers.get(wid) === entry) process.kill(process.pid, "SIGKILL");
  }, TERMINATE_GRACE_MS).unref();
  return entry.worker.terminate();
}

let leaving = false;
async function leave(): Promise<void> {
  if (leaving) return;
  leaving = true;
  await Promise.all([...workers.keys()].map(end));
  process.exit(0);
}

/**
 * A worker blocked in a handler answers nothing, and the core cannot read its activity record across the
 * process boundary: the host reads it, and when the same handler run is still going at the next sample, tells
 * the core as a message in that worker's stream, which its watchdog names when it ends the worker.
 */
setInterval(() => {
  for (const [wid, entry] of workers) {
    const now = readActivity(entry.activity);
    if (!now) {
      entry.lastSeq = undefined;
      continue;
    }
    if (now.seq !== entry.lastSeq) {
      entry.lastSeq = now.seq;
      entry.reported = false;
      continue;
    }
    if (entry.reported) continue;
    entry.reported = true;
    const blocked = { type: "blocked", seq: now.seq, kind: now.kind, label: escapeControls(now.label) };
    write(encodeBatchFrame(wid, JSON.stringify(blocked)));
  }
}, ACTIVITY_SAMPLE_MS).unref();

setInterval(() => {
  for (const [wid, entry] of workers) {
    const now = entry.worker.performance.eventLoopUtilization();
    const delta = entry.elu ? entry.worker.performance.eventLoopUtilization(now, entry.elu) : now;
    entry.elu = now;
    send({ t: "elu", wid, value: Math.min(1, Math.max(0, delta.utilization)) });
  }
}, ELU_SAMPLE_MS).unref();

send({ t: "ready", pid: process.pid });
