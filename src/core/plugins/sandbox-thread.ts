import type { EventLoopUtilization } from "node:perf_hooks";
import { type ResourceLimits, Worker } from "node:worker_threads";
import { encodeFrame, MAX_FRAME_BYTES } from "../../sandbox/host/framing.js";
import { type CoreToHost, TERMINATE_GRACE_MS } from "../../sandbox/host/host-protocol.js";
import { MessageBatcher, unbatch } from "../../sandbox/message-batch.js";
import { RoseyError } from "../errors.js";
import { runtimeFile } from "../paths.js";

/**
 * Where a plugin's worker thread lives. `thread` isolation runs it in the core process; `process`
 * isolation (the default) runs it inside the forked plugin-host (see plugin-host-process.ts). The
 * plugin worker handle talks to either through this one interface.
 */

export interface ThreadExit {
  code: number;
  /** Why, when known: out of memory, an error, the host process dying. */
  reason?: string | undefined;
  /** The whole plugin host died with it (process isolation only). */
  hostCrash?: boolean;
}

export interface SandboxThread {
  readonly threadId: number;
  postMessage(message: unknown): void;
  onMessage(handler: (raw: unknown) => void): void;
  /**
   * A message the transport refused to carry (process isolation: over the plugin host's relay limit).
   * Threads in the core carry every message, so only the plugin host ever calls it.
   */
  onRefused(handler: (reason: string) => void): void;
  /** Called once, when the thread has ended, or was given up on after `terminate()` (TERMINATE_GRACE_MS). */
  onExit(handler: (exit: ThreadExit) => void): void;
  onOutput(handler: (text: string) => void): void;
  terminate(): void;
  /** Event-loop utilisation (0..1) since the previous call; undefined until a sample exists. */
  utilization(): number | undefined;
}

export interface SpawnRequest {
  name: string;
  workerData: unknown;
  resourceLimits: ResourceLimits;
}

export interface SandboxSpawner {
  readonly isolation: "thread" | "process";
  spawn(request: SpawnRequest): SandboxThread;
  close(): Promise<void>;
}

/**
 * The frame that asks the plugin host to spawn a worker. A request whose frame is over `MAX_FRAME_BYTES`
 * (its bundled code and config are too large) throws `PLUGIN_LOAD_FAILED` instead: the host exits on a frame
 * it refuses, taking every worker in it down, so no such frame is ever written.
 */
export function encodeSpawnFrame(wid: number, request: SpawnRequest): Buffer {
  const spawn: CoreToHost = { t: "spawn", wid, ...request };
  const frame = encodeFrame(spawn);
  const bytes = frame.length - 4;
  if (bytes > MAX_FRAME_BYTES) {
    throw new RoseyError(
      "PLUGIN_LOAD_FAILED",
      `Cannot start worker '${request.name}': its init (bundled code and config) is ${bytes} bytes as sent to the plugin host, over the ${MAX_FRAME_BYTES}-byte frame limit`,
      { details: { bytes, limit: MAX_FRAME_BYTES } },
    );
  }
  return frame;
}

/** Workers in the core process: for trusted setups and tests; a fatal allocation here ends the core. */
export class ThreadSpawner implements SandboxSpawner {
  readonly isolation = "thread" as const;

  spawn(request: SpawnRequest): SandboxThread {
    // No frame is sent here, but the plugin host's limit applies: a plugin starts under both isolations or
    // under neither.
    encodeSpawnFrame(0, request);
    const worker = new Worker(runtimeFile("sandbox/worker-entry.js"), {
      workerData: request.workerData,
      resourceLimits: request.resourceLimits,
      // No environment, no inherited loader flags, output captured: stdout belongs to the console connector.
      env: {},
      execArgv: [],
      stdout: true,
      stderr: true,
      name: request.name,
    });
    let error: (Error & { code?: string }) | undefined;
    let last: EventLoopUtilization | undefined;
    const outgoing = new MessageBatcher((batch) => worker.postMessage(batch));
    worker.on("error", (err) => {
      error = err;
    });
    const exitHandlers: Array<(exit: ThreadExit) => void> = [];
    let exited = false;
    const exit = (result: ThreadExit) => {
      if (exited) return;
      exited = true;
      for (const handler of exitHandlers) handler(result);
    };
    worker.on("exit", (code) =>
      exit({
        code,
        reason: error
          ? error.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? "out of memory (heap limit reached)"
            : `crashed: ${error.message}`
          : undefined,
      }),
    );
    return {
      get threadId() {
        return worker.threadId;
      },
      postMessage: (message) => outgoing.push(message),
      onMessage: (handler) =>
        worker.on("message", (batch: unknown) => {
          for (const message of unbatch(batch)) handler(message);
        }),
      onRefused: () => undefined,
      onExit: (handler) => {
        exitHandlers.push(handler);
      },
      onOutput: (handler) => {
        worker.stdout.on("data", (chunk: Buffer) => handler(chunk.toString("utf8")));
        worker.stderr.on("data", (chunk: Buffer) => handler(chunk.toString("utf8")));
      },
      terminate: () => {
        void worker.terminate();
        // In the core's own process nothing can end a thread stuck in one native call: it spins until the
        // process exits, and is reported ended so that nothing waits for it (a stop, a restart).
        setTimeout(exit, TERMINATE_GRACE_MS, {
          code: 1,
          reason: "could not be ended (stuck in one native call); its thread still runs",
        }).unref();
      },
      utilization: () => {
        const now = worker.performance.eventLoopUtilization();
        const delta = last ? worker.performance.eventLoopUtilization(now, last) : undefined;
        last = now;
        return delta?.utilization;
      },
    };
  }

  async close(): Promise<void> {
    // Nothing process-wide to release: each worker is ended by its own handle.
  }
}
