import { type ChildProcess, spawn } from "node:child_process";
import type { Duplex } from "node:stream";
import { encodeBatchFrames, encodeFrame, FrameDecoder, perTickWriter } from "../../sandbox/host/framing.js";
import { type CoreToHost, type HostToCore, hostFrameSchema } from "../../sandbox/host/host-protocol.js";
import { MessageBatcher, unbatch } from "../../sandbox/message-batch.js";
import type { Logger } from "../logger.js";
import { runtimeFile } from "../paths.js";
import { compileCheck } from "../validation.js";
import {
  encodeSpawnFrame,
  type SandboxSpawner,
  type SandboxThread,
  type SpawnRequest,
  type ThreadExit,
  ThreadSpawner,
} from "./sandbox-thread.js";

const checkHostFrame = compileCheck(hostFrameSchema);

/**
 * Core side of the plugin-host process (process isolation, the default). The host is forked on first
 * use and again after it dies; every worker that lived in a dead host reports an exit with
 * `hostCrash: true`, and the plugin manager restarts them (into the new host) or quarantines the one
 * that was running. The pipe is length-prefixed (sandbox/host/framing.ts): frame sizes are checked
 * before anything is parsed, and a host that sends garbage is killed. The core never writes a frame over
 * the host's limit, which the host would exit on: a spawn that does not fit fails, a batch is cut.
 */

interface RemoteThread {
  wid: number;
  name: string;
  threadId: number;
  outgoing: MessageBatcher;
  onMessage?: (raw: unknown) => void;
  onRefused?: (reason: string) => void;
  onExit?: (exit: ThreadExit) => void;
  onOutput?: (text: string) => void;
  utilization: number | undefined;
  exited: boolean;
}

class HostProcess {
  readonly #child: ChildProcess;
  readonly #channel: Duplex;
  readonly #writeNow: (bytes: Buffer) => void;
  readonly #threads = new Map<number, RemoteThread>();
  readonly #log: Logger;
  readonly exited: Promise<void>;
  #ready = false;
  #queue: Buffer[] = [];
  #dead = false;

  constructor(log: Logger, onDeath: () => void) {
    this.#log = log;
    // Empty env: no NODE_OPTIONS can slip a --max-old-space-size past the workers' resource limits.
    this.#child = spawn(process.execPath, [runtimeFile("sandbox/host/plugin-host.js")], {
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      env: {},
    });
    this.#channel = this.#child.stdio[3] as Duplex;
    this.#writeNow = perTickWriter(this.#channel);
    const decoder = new FrameDecoder(
      (frame) => (frame.kind === "batch" ? this.#onBatch(frame.wid, frame.text) : this.#onFrame(frame.value)),
      (reason) => this.#kill(`sent a bad frame: ${reason}`),
    );
    this.#channel.on("data", (chunk: Buffer) => decoder.push(chunk));
    this.#channel.on("error", () => {});
    const output = (chunk: Buffer) =>
      this.#log.debug({ host: chunk.toString("utf8").slice(0, 2000) }, "plugin host output");
    this.#child.stdout?.on("data", output);
    this.#child.stderr?.on("data", output);
    this.exited = new Promise<void>((resolve) => {
      this.#child.once("exit", (code, signal) => {
        this.#dead = true;
        const reason = `plugin host process died (${signal ?? `exit code ${code}`})`;
        if (this.#threads.size > 0) this.#log.error({ hostPid: this.#child.pid, code, signal }, reason);
        for (const thread of this.#threads.values())
          this.#exitThread(thread, { code: code ?? 1, reason, hostCrash: true });
        this.#threads.clear();
        onDeath();
        resolve();
      });
    });
  }

  get dead(): boolean {
    return this.#dead;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** `frame` is the request's spawn frame (encodeSpawnFrame), already checked against the frame limit. */
  spawn(wid: number, name: string, frame: Buffer): SandboxThread {
    const thread: RemoteThread = {
      wid,
      name,
      threadId: -1,
      outgoing: new MessageBatcher((batch) => this.#writeBatch(thread, batch)),
      utilization: undefined,
      exited: false,
    };
    this.#threads.set(wid, thread);
    this.#write(frame);
    return {
      get threadId() {
        return thread.threadId;
      },
      postMessage: (msg) => thread.outgoing.push(msg),
      onMessage: (handler) => {
        thread.onMessage = handler;
      },
      onRefused: (handler) => {
        thread.onRefused = handler;
      },
      onExit: (handler) => {
        thread.onExit = handler;
      },
      onOutput: (handler) => {
        thread.onOutput = handler;
      },
      terminate: () => this.#send({ t: "terminate", wid }),
      utilization: () => thread.utilization,
    };
  }

  close(): Promise<void> {
    if (!this.#dead) this.#channel.end();
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 3_000);
    return this.exited.finally(() => clearTimeout(timer));
  }

  #send(frame: CoreToHost): void {
    this.#write(encodeFrame(frame));
  }

  #writeBatch(thread: RemoteThread, batch: string): void {
    const { frames, dropped } = encodeBatchFrames(thread.wid, batch);
    for (const frame of frames) this.#write(frame);
    for (const chars of dropped)
      this.#log.error(
        { worker: thread.name, chars },
        "message to a plugin worker dropped: larger than one frame to the plugin host",
      );
  }

  #write(bytes: Buffer): void {
    if (this.#dead) return;
    if (!this.#ready) {
      this.#queue.push(bytes);
      return;
    }
    this.#writeNow(bytes);
  }

  #kill(reason: string): void {
    this.#log.error({ hostPid: this.#child.pid }, `killing plugin host: ${reason}`);
    this.#child.kill("SIGKILL");
  }

  #exitThread(thread: RemoteThread, exit: ThreadExit): void {
    if (thread.exited) return;
    thread.exited = true;
    thread.onExit?.(exit);
  }

  #onBatch(wid: number, text: string): void {
    const thread = this.#threads.get(wid);
    if (!thread) return;
    for (const message of unbatch(text)) thread.onMessage?.(message);
  }

  #onFrame(raw: unknown): void {
    const parsed = checkHostFrame(raw);
    if (!parsed.success) {
      this.#kill(`sent a malformed frame: ${parsed.problem}`);
      return;
    }
    const frame: HostToCore = parsed.data;
    if (frame.t === "ready") {
      this.#ready = true;
      for (const bytes of this.#queue) this.#channel.write(bytes);
      this.#queue = [];
      return;
    }
    const thread = this.#threads.get(frame.wid);
    if (!thread) return;
    switch (frame.t) {
      case "online":
        thread.threadId = frame.threadId;
        break;
      case "output":
        thread.onOutput?.(frame.text);
        break;
      case "elu":
        thread.utilization = frame.value;
        break;
      case "oversize":
        thread.onRefused?.(`worker message of ${frame.bytes} bytes exceeds the plugin host's relay limit`);
        break;
      case "exit":
        this.#threads.delete(frame.wid);
        this.#exitThread(thread, {
          code: frame.code,
          reason: frame.oom
            ? "out of memory (heap limit reached)"
            : frame.error
              ? `crashed: ${frame.error}`
              : undefined,
        });
        break;
    }
  }
}

export class ProcessSpawner implements SandboxSpawner {
  readonly isolation = "process" as const;
  readonly #log: Logger;
  #host: HostProcess | undefined;
  #nextWid = 1;
  #closed = false;
  #hostStarts = 0;

  constructor(logger: Logger) {
    this.#log = logger.child({ component: "plugin-host" });
  }

  /** Times a host process was started (the first start included). */
  get hostStarts(): number {
    return this.#hostStarts;
  }

  get hostPid(): number | undefined {
    return this.#host && !this.#host.dead ? this.#host.pid : undefined;
  }

  spawn(request: SpawnRequest): SandboxThread {
    if (this.#closed) throw new Error("plugin host spawner is closed");
    const wid = this.#nextWid++;
    const frame = encodeSpawnFrame(wid, request);
    if (!this.#host || this.#host.dead) {
      this.#hostStarts++;
      const host = new HostProcess(this.#log, () => {
        if (this.#host === host) this.#host = undefined;
      });
      this.#host = host;
      this.#log.info({ hostPid: host.pid, starts: this.#hostStarts }, "plugin host started");
    }
    return this.#host.spawn(wid, request.name, frame);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#host?.close();
    this.#host = undefined;
  }
}

/** The spawner for `sandbox.isolation`. */
export function createSpawner(isolation: "process" | "thread", logger: Logger): SandboxSpawner {
  return isolation === "process" ? new ProcessSpawner(logger) : new ThreadSpawner();
}
