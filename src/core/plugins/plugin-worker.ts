import { randomBytes } from "node:crypto";
import {
  type Activity,
  createActivityBuffer,
  describeActivity,
  readActivity,
} from "../../sandbox/activity.js";
import { escapeControls } from "../../sandbox/escape-text.js";
import type { StackFrame } from "../../sandbox/plugin-error.js";
import {
  type MainToWorker,
  type WorkerInit,
  type WorkerToMain,
  workerMessageSchema,
} from "../../sandbox/protocol.js";
import { LOG_LINES_PER_SECOND } from "../../sandbox/wire-limits.js";
import type { BusMessage, BusSubscription } from "../bus.js";
import type { Command } from "../commands.js";
import { errorMessage, RoseyError } from "../errors.js";
import { LogBudget } from "../log-budget.js";
import type { Logger } from "../logger.js";
import { SUBJECTS } from "../subjects.js";
import { compileCheck } from "../validation.js";
import {
  BundleLocator,
  oneLine,
  type PluginErrorReport,
  reportPluginError,
  splitSourceMap,
} from "./bundle-source-map.js";
import type { PermissionGate } from "./gate.js";
import { type ResolvedLimits, workerResourceLimits } from "./limits.js";
import { endedBeforeReadyError, loadFailedError, notReadyError } from "./load-errors.js";
import type { SandboxSpawner, SandboxThread } from "./sandbox-thread.js";

/**
 * The main thread's handle on one plugin worker: spawns it with resource limits, performs the READY
 * handshake, relays its bus operations through the gate, runs commands with a deadline, and watches
 * its heartbeat. One instance per worker life; the manager creates a new one to restart.
 */

export interface PluginWorkerOptions {
  init: WorkerInit;
  spawner: SandboxSpawner;
  limits: ResolvedLimits;
  gate: PermissionGate;
  logger: Logger;
  readyTimeoutMs: number;
  /** Manifest `subscribe` patterns, delivered to the plugin's onEvent. */
  subscribe: readonly string[];
  /**
   * Heartbeat period; a worker that neither answers a heartbeat nor completes a command for
   * `max(4 × this, handlerTimeoutMs)` is terminated. @default 500
   */
  heartbeatMs?: number;
  /** Off-heap (ArrayBuffer) bytes above which the plugin is reported as `offheap`. */
  maxArrayBufferBytes: number;
  /** Event-loop utilisation above `cpuHogUtilization` for `cpuHogSamples` consecutive samples is a hog. */
  cpuHogUtilization?: number;
  cpuHogSamples?: number;
  /** Misbehaviour the worker handle detects but the manager decides on (suspend, quarantine). */
  onAlert?: (alert: WorkerAlert) => void;
}

type RequestMessage = Extract<WorkerToMain, { type: "request" }>;
type HandlerError = Extract<WorkerToMain, { type: "handler-error" }>;

export type WorkerAlert =
  | { type: "cpu-hog"; utilization: number; seconds: number }
  | { type: "offheap"; bytes: number; limit: number };

export interface CommandOutcome {
  ok: boolean;
  /** Text the plugin returned; the manager publishes it through the gate. */
  text?: string | undefined;
  error?: { code: string; message: string };
  /** How long the plugin's handler took, when it answered at all. */
  handlerMs?: number;
  /** Set when the command's sender gave up before it completed: what happened to it, for the manager's log. */
  late?: string;
}

export interface WorkerExit {
  code: number;
  reason: string;
  /** The plugin host process died with it. */
  hostCrash: boolean;
  /** A command was running in it when it ended. */
  busy: boolean;
}

/** Every message from a worker is checked with this before it is read (also by `rosey config check`'s loader). */
export const checkWorkerMessage = compileCheck(workerMessageSchema);
const MAX_IN_FLIGHT_REQUESTS = 16;
const MAX_QUEUED_REQUESTS = 256;
const MAX_SUBSCRIPTIONS = 64;
const REPLY_TOKEN_TTL_MS = 30_000;
/** A command's channel stays answerable by `ctx.reply` (e.g. from a timer) this long after it was dispatched. */
const REPLY_ROUTE_TTL_MS = 10 * 60_000;
const MAX_REPLY_ROUTES = 256;
/** Handlers left pending past this many draw a warning, then again at each tenfold. */
const PENDING_HANDLERS_WARN = 1_000;
/**
 * A backstop on commands waiting for one worker, whatever their age (memory in the core). The real bound is
 * by time: see `#behind`.
 */
export const MAX_PENDING_COMMANDS = 10_000;

interface PendingCommand {
  command: Command;
  /** Epoch ms when the sender (the router) gives up on the command, if it said. */
  deadline: number | undefined;
  resolve: (outcome: CommandOutcome) => void;
  timer: ReturnType<typeof setTimeout>;
  started: number;
  /** Judged stuck once already: killed if the next judgment, a deadline later, finds the same. */
  suspect: boolean;
}

export class PluginWorker {
  readonly name: string;
  readonly #options: PluginWorkerOptions;
  readonly #gate: PermissionGate;
  readonly #log: Logger;
  readonly #worker: SandboxThread;
  readonly #pending = new Map<number, PendingCommand>();
  readonly #subscriptions = new Map<number, BusSubscription>();
  readonly #replyTokens = new Map<string, { replyTo: string; correlationId: string; expires: number }>();
  /** Where `ctx.reply` of a command goes; kept past completion so a plugin's timer can still answer. */
  readonly #replyRoutes = new Map<number, { command: Command; expires: number }>();
  #inFlightRequests = 0;
  readonly #queuedRequests: RequestMessage[] = [];
  #nextCommandId = 1;
  #ready = false;
  #exited = false;
  #exitReason: string | undefined;
  /** When the worker last sent a pong or finished a command (performance.now()): a busy worker is not a silent one. */
  #lastHeard = performance.now();
  /** When a command last completed, or work began after an idle spell: the clock of the stuck-worker rule. */
  #progressAt = performance.now();
  #pingSeq = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  readonly #logBudget = new LogBudget(LOG_LINES_PER_SECOND);
  #memory = { heapUsed: 0, arrayBuffers: 0 };
  #pendingHandlers = 0;
  /** The pending-handler count that draws the next warning (×10 each time). */
  #pendingWarnAt = PENDING_HANDLERS_WARN;
  readonly #exitPromise: Promise<WorkerExit>;
  #resolveStopped: (() => void) | undefined;
  #hotSamples = 0;
  #stopping: Promise<void> | undefined;
  /** Maps the positions the worker reports in its bundle to the author's files (bundle-source-map.ts). */
  readonly #locator: BundleLocator;
  /** Lines with the stack of a failed command: the router logs the failure itself, without it. */
  readonly #errorLogBudget = new LogBudget(LOG_LINES_PER_SECOND);
  /**
   * Which handler the worker runs (activity.ts). Thread isolation: shared with the worker and read here.
   * Process isolation: the plugin host reads it and says when a handler has run for a while (`#blocked`).
   */
  readonly #activity: SharedArrayBuffer | undefined;
  #blocked: Activity | undefined;

  constructor(options: PluginWorkerOptions) {
    this.name = options.init.plugin.name;
    this.#options = options;
    this.#gate = options.gate;
    this.#log = options.logger.child({ plugin: this.name });
    // The source map stays here: the worker gets the code alone.
    const { code, map } = splitSourceMap(options.init.source);
    this.#locator = new BundleLocator(map);
    this.#activity = options.spawner.isolation === "thread" ? createActivityBuffer() : undefined;
    this.#worker = options.spawner.spawn({
      name: `plugin:${this.name}`,
      workerData: { ...options.init, source: code, ...(this.#activity ? { activity: this.#activity } : {}) },
      resourceLimits: workerResourceLimits(options.limits.memoryMb),
    });
    this.#worker.onOutput((text) => this.#log.debug({ output: text.slice(0, 1024) }, "worker output"));
    this.#worker.onMessage((raw) => this.#onMessage(raw));
    this.#worker.onRefused((reason) => this.#gate.protocolViolation(reason));
    this.#exitPromise = new Promise<WorkerExit>((resolve) => {
      this.#worker.onExit((exit) => {
        this.#exited = true;
        const busy = this.#pending.size > 0;
        const reason = this.#exitReason ?? exit.reason ?? `exited with code ${exit.code}`;
        this.#cleanup(reason);
        resolve({ code: exit.code, reason, hostCrash: exit.hostCrash === true, busy });
      });
    });
  }

  get ready(): boolean {
    return this.#ready && !this.#exited;
  }

  get threadId(): number {
    return this.#worker.threadId;
  }

  get memory(): { heapUsed: number; arrayBuffers: number } {
    return this.#memory;
  }

  /** Event, subscription and timer handlers whose promise had not settled at the last heartbeat. */
  get pendingHandlers(): number {
    return this.#pendingHandlers;
  }

  /** Resolves with the exit once the worker is gone, whatever the cause. */
  exited(): Promise<WorkerExit> {
    return this.#exitPromise;
  }

  /** Waits for READY; rejects with `PLUGIN_LOAD_FAILED` or `TIMEOUT` (and the worker is terminated). */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#terminate(`did not answer READY within ${this.#options.readyTimeoutMs} ms`);
        reject(notReadyError(this.name, this.#options.readyTimeoutMs));
      }, this.#options.readyTimeoutMs);
      this.#onReady = (error) => {
        clearTimeout(timer);
        if (error) {
          this.#terminate(error.message);
          reject(error);
          return;
        }
        this.#ready = true;
        this.#startHeartbeat();
        for (const pattern of this.#options.subscribe) this.#subscribe(0, pattern);
        resolve();
      };
      void this.#exitPromise.then((exit) => {
        clearTimeout(timer);
        if (!this.#ready)
          reject(
            new RoseyError("PLUGIN_LOAD_FAILED", `Plugin '${this.name}' ${exit.reason} before it was ready`),
          );
      });
    });
  }

  #onReady: ((error?: RoseyError) => void) | undefined;

  /**
   * Runs one command; resolves (never rejects) with the outcome, a timeout being an outcome too. `deadline`
   * (epoch ms) is when its sender gives up: not for plugin code, which never sees it.
   */
  runCommand(command: Command, deadline?: number): Promise<CommandOutcome> {
    if (!this.ready) {
      return Promise.resolve({
        ok: false,
        error: { code: "PLUGIN_NOT_RUNNING", message: `plugin '${this.name}' is not running` },
      });
    }
    // A backlog (a flood, a stall) can hand us commands whose sender gave up: running them only delays the
    // rest. The worker checks again when the command's turn comes (a burst runs back to back there).
    if (deadline !== undefined && Date.now() > deadline)
      return Promise.resolve({ ok: false, late: "not run: it arrived after its sender's deadline" });
    if (this.#pending.size === 0) this.#progressAt = performance.now();
    else {
      const behind = this.#behind();
      if (behind) return Promise.resolve({ ok: false, error: { code: "BUSY", message: behind } });
    }
    const id = this.#nextCommandId++;
    return new Promise<CommandOutcome>((resolve) => {
      // The deadline gets the id as an argument: no closure per command on the hot path.
      const timer = setTimeout(this.#overran, this.#options.limits.handlerTimeoutMs, id);
      this.#pending.set(id, {
        command,
        deadline,
        resolve,
        timer,
        started: performance.now(),
        suspect: false,
      });
      this.#replyRoutes.set(id, { command, expires: Date.now() + REPLY_ROUTE_TTL_MS });
      if (this.#replyRoutes.size > MAX_REPLY_ROUTES)
        this.#replyRoutes.delete(this.#replyRoutes.keys().next().value!);
      this.#post({ type: "command", id, command, deadline });
    });
  }

  /**
   * Why a new command is refused while others wait, if it is: a worker whose oldest waiting command has waited longer than a
   * handler deadline is behind, and a flood must not pile up stale work there (answered long after the router
   * gave up). A fast plugin's short stall (GC, a busy core) stays far inside a deadline and refuses nothing.
   */
  #behind(): string | undefined {
    if (this.#pending.size >= MAX_PENDING_COMMANDS)
      return `plugin '${this.name}' has ${this.#pending.size} commands waiting; refused until it catches up`;
    const oldest = this.#pending.values().next().value!;
    const waitedMs = performance.now() - oldest.started;
    const deadlineMs = this.#options.limits.handlerTimeoutMs;
    if (waitedMs <= deadlineMs) return undefined;
    return `plugin '${this.name}' is ${Math.round(waitedMs)} ms behind (deadline ${deadlineMs} ms, ${this.#pending.size} commands waiting); refused until it catches up`;
  }

  /**
   * A command's deadline. The worker runs its commands one after another, so under a burst this one may still
   * be queued behind others the worker is completing: only a worker that completed none of its commands for
   * a whole deadline is stuck (a handler spinning, or one that never settles). While it makes progress, the
   * deadline moves on; new commands are refused meanwhile once it is a deadline behind (`#behind`).
   * Judged after the event loop's I/O phase, for the reason `#judgeSilence` gives: a result that arrived
   * while the core itself stalled is read first.
   */
  readonly #overran = (id: number): void => {
    setImmediate(this.#judgeOverrun, id);
  };

  readonly #judgeOverrun = (id: number): void => {
    const pending = this.#pending.get(id);
    if (!pending) return;
    const timeoutMs = this.#options.limits.handlerTimeoutMs;
    const stalledMs = performance.now() - this.#progressAt;
    if (stalledMs < timeoutMs) {
      pending.suspect = false;
      pending.timer = setTimeout(this.#overran, timeoutMs - stalledMs, id);
      return;
    }
    const { command, deadline } = pending;
    // Waiting on the platform (storage, a request: each ends at its own timeout) is not being stuck. Killing
    // here would let a stalled database restart every plugin that uses storage until they all fail.
    if (this.#inFlightRequests > 0) {
      const untilSenderGivesUp = deadline === undefined ? timeoutMs : deadline - Date.now();
      if (untilSenderGivesUp > 0) {
        pending.timer = setTimeout(this.#overran, Math.min(timeoutMs, untilSenderGivesUp + 1), id);
        return;
      }
      // Past its sender's deadline the answer would be dropped anyway, and a handler chaining requests
      // (each up to 60 s) would keep this command the oldest waiting one, which makes every later command of
      // the plugin BUSY (#behind). So it stops being awaited; the thread is waiting, not spinning, and lives.
      this.#pending.delete(id);
      pending.resolve({
        ok: false,
        late: "was no longer awaited: still waiting on the platform past its sender's deadline",
      });
      return;
    }
    // A request the handler made may still be on its way here (a loaded machine, a short deadline): no
    // request in flight is taken for stuck only when it holds for a second deadline.
    if (!pending.suspect) {
      pending.suspect = true;
      pending.timer = setTimeout(this.#overran, timeoutMs, id);
      return;
    }
    this.#pending.delete(id);
    this.#log.warn(
      { correlationId: command.correlationId, command: command.name, timeoutMs },
      "command handler overran its deadline; terminating the worker",
    );
    pending.resolve({
      ok: false,
      error: { code: "TIMEOUT", message: `'${command.name}' took longer than ${timeoutMs} ms` },
    });
    // A handler past its deadline is spinning or stuck; the thread is not trusted to recover by itself.
    this.#terminate(`handler '${command.name}' overran its ${timeoutMs} ms deadline`);
  };

  /** Asks the plugin to stop (its stop hook, timers, subscriptions), then ends the thread. Idempotent. */
  stop(graceMs = 2_000): Promise<void> {
    // Memoised: the manager's shutdown and a launch finishing during it may both ask, and both must see the end.
    this.#stopping ??= (async () => {
      if (this.#exited) return;
      const stopped = new Promise<void>((resolve) => {
        this.#resolveStopped = resolve;
      });
      this.#post({ type: "stop" });
      const timer = setTimeout(() => this.#resolveStopped?.(), graceMs);
      await stopped;
      clearTimeout(timer);
      this.#terminate("stopped");
      await this.#exitPromise;
    })();
    return this.#stopping;
  }

  /** Ends the thread now (watchdog, violations, shutdown). */
  kill(reason: string): Promise<WorkerExit> {
    this.#terminate(reason);
    return this.#exitPromise;
  }

  #terminate(reason: string): void {
    if (this.#exited) return;
    this.#exitReason ??= reason;
    this.#worker.terminate();
  }

  #post(message: MainToWorker): void {
    if (!this.#exited) this.#worker.postMessage(message);
  }

  #startHeartbeat(): void {
    const period = this.#options.heartbeatMs ?? 500;
    const silenceLimit = Math.max(4 * period, this.#options.limits.handlerTimeoutMs);
    this.#lastHeard = performance.now();
    let lastTick = this.#lastHeard;
    this.#heartbeat = setInterval(() => {
      const now = performance.now();
      // A tick late by more than a period means the core itself stalled: its pings waited unsent meanwhile,
      // so that time is not the worker's silence.
      const absentMs = now - lastTick - period;
      lastTick = now;
      if (absentMs > period) this.#lastHeard = Math.min(now, this.#lastHeard + absentMs);
      setImmediate(this.#judgeSilence, silenceLimit);
      this.#post({ type: "ping", seq: ++this.#pingSeq });
      this.#expireReplyTokens();
      this.#sampleUtilization(period);
    }, period);
    this.#heartbeat.unref();
  }

  /**
   * Runs after the event loop's I/O phase, not in the timer: when the core itself has stalled (a long GC, a
   * busy machine), the worker's answers wait in its queue, and timers fire before they are read. Before
   * this (and the tick's allowance for the core's absence), every healthy worker was killed after a core
   * stall longer than the silence limit.
   */
  readonly #judgeSilence = (silenceLimit: number): void => {
    if (this.#exited) return;
    const silenceMs = performance.now() - this.#lastHeard;
    if (silenceMs <= silenceLimit) return;
    const running = this.#activity ? readActivity(this.#activity) : this.#blocked;
    // Read straight from the worker's memory under thread isolation: its text is escaped here like any.
    const handler = running && escapeControls(describeActivity(running));
    this.#log.warn(
      { silenceMs: Math.round(silenceMs), ...(handler ? { handler } : {}) },
      "worker stopped answering heartbeats; terminating",
    );
    this.#terminate(
      handler
        ? `unresponsive for more than ${silenceLimit} ms: ${handler} was blocking the thread`
        : `unresponsive for more than ${silenceLimit} ms (handler blocking the thread?)`,
    );
  };

  /** A hog that yields passes heartbeats; sustained event-loop utilisation gives it away. */
  #sampleUtilization(period: number): void {
    const utilization = this.#worker.utilization();
    if (utilization === undefined) return;
    const threshold = this.#options.cpuHogUtilization ?? 0.9;
    this.#hotSamples = utilization > threshold ? this.#hotSamples + 1 : 0;
    const needed = this.#options.cpuHogSamples ?? Math.ceil(5_000 / period);
    if (this.#hotSamples >= needed) {
      this.#hotSamples = 0;
      this.#options.onAlert?.({ type: "cpu-hog", utilization, seconds: (needed * period) / 1000 });
    }
  }

  #expireReplyTokens(): void {
    const now = Date.now();
    for (const [token, entry] of this.#replyTokens) if (entry.expires < now) this.#replyTokens.delete(token);
    for (const [id, route] of this.#replyRoutes) if (route.expires < now) this.#replyRoutes.delete(id);
  }

  #cleanup(reason: string): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const sub of this.#subscriptions.values()) sub.unsubscribe();
    this.#subscriptions.clear();
    this.#replyTokens.clear();
    this.#replyRoutes.clear();
    this.#queuedRequests.length = 0;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.resolve({
        ok: false,
        error: { code: "PLUGIN_ERROR", message: `plugin '${this.name}' ${reason}` },
      });
      this.#pending.delete(id);
    }
    this.#resolveStopped?.();
    if (!this.#ready) this.#onReady?.(endedBeforeReadyError(this.name, reason));
  }

  #subscribe(subId: number, pattern: string): void {
    if (this.#subscriptions.has(subId) && subId !== 0) {
      this.#gate.protocolViolation(`subscription id ${subId} reused`);
      return;
    }
    if (this.#subscriptions.size >= MAX_SUBSCRIPTIONS) {
      this.#gate.refuse("subscribe", pattern, `more than ${MAX_SUBSCRIPTIONS} subscriptions`);
      this.#post({
        type: "denied",
        op: "subscribe",
        subId,
        reason: `more than ${MAX_SUBSCRIPTIONS} subscriptions`,
      });
      return;
    }
    const sub = this.#gate.subscribe(pattern, (message) => this.#deliver(subId, message));
    if (!sub) {
      if (subId !== 0)
        this.#post({ type: "denied", op: "subscribe", subId, reason: `'${pattern}' is not granted` });
      return;
    }
    // Manifest subscriptions share id 0; key them apart so each can be released.
    this.#subscriptions.set(subId === 0 ? -this.#subscriptions.size - 1 : subId, sub);
  }

  #deliver(subId: number, message: BusMessage): void {
    if (!this.ready || this.#gate.suspended) return;
    let replyToken: string | undefined;
    if (message.replyTo) {
      replyToken = randomBytes(12).toString("base64url");
      this.#replyTokens.set(replyToken, {
        replyTo: message.replyTo,
        correlationId: message.envelope.correlationId,
        expires: Date.now() + REPLY_TOKEN_TTL_MS,
      });
    }
    this.#post({
      type: "event",
      subId,
      subject: message.subject,
      envelope: message.envelope,
      ...(replyToken ? { replyToken } : {}),
    });
  }

  #onMessage(raw: unknown): void {
    const parsed = checkWorkerMessage(raw);
    if (!parsed.success) {
      this.#gate.protocolViolation(`malformed worker message: ${parsed.problem}`);
      return;
    }
    const message: WorkerToMain = parsed.data;
    switch (message.type) {
      case "ready":
        this.#onReady?.();
        break;
      case "load-failed": {
        const report = reportPluginError(message.message, message.frames, this.#locator);
        if (message.frames?.length)
          this.#log.error(
            { source: "plugin", ...errorFields(message.message, report) },
            "plugin code failed to load",
          );
        this.#onReady?.(loadFailedError(this.name, message.message, report));
        break;
      }
      case "publish":
        this.#gate.publish(message.subject, message.json, message.correlationId);
        break;
      case "subscribe":
        if (message.subId === 0) this.#gate.protocolViolation("subscription id 0 is reserved");
        else this.#subscribe(message.subId, message.pattern);
        break;
      case "unsubscribe":
        this.#subscriptions.get(message.subId)?.unsubscribe();
        this.#subscriptions.delete(message.subId);
        break;
      case "request":
        this.#request(message);
        break;
      case "respond": {
        const entry = this.#replyTokens.get(message.token);
        if (!entry) {
          this.#gate.refuse("respond", "", "unknown or already used reply token");
          break;
        }
        this.#replyTokens.delete(message.token);
        this.#gate.respond(entry.replyTo, message.json, entry.correlationId);
        break;
      }
      case "command-reply": {
        const route = this.#replyRoutes.get(message.id);
        if (!route || route.expires < Date.now()) {
          this.#gate.refuse(
            "publish",
            SUBJECTS.actionsChatSend,
            "ctx.reply for an unknown or expired command",
          );
          break;
        }
        const { platform, channel, correlationId } = route.command;
        this.#gate.publishData(
          SUBJECTS.actionsChatSend,
          { platform, channel, text: message.text },
          correlationId,
        );
        break;
      }
      case "command-result": {
        const pending = this.#pending.get(message.id);
        if (!pending) break;
        this.#pending.delete(message.id);
        clearTimeout(pending.timer);
        const now = performance.now();
        // Pings wait in the same queue as commands: a worker completing commands is alive even if its pong is late.
        this.#progressAt = now;
        this.#lastHeard = now;
        this.#blocked = undefined;
        const handlerMs = now - pending.started;
        if (message.late) {
          pending.resolve({
            ok: false,
            late: "not run: its turn in the worker came after its sender's deadline",
          });
        } else if (message.ok) {
          pending.resolve({ ok: true, text: message.text, handlerMs });
        } else {
          const error = message.error ?? "handler failed";
          const text = this.#commandFailed(pending.command, error, message.frames);
          pending.resolve({ ok: false, error: { code: "PLUGIN_ERROR", message: text }, handlerMs });
        }
        break;
      }
      case "log":
        this.#pluginLog(message.level, message.msg, message.fields, message.dropped);
        break;
      case "handler-error":
        this.#handlerError(message);
        break;
      case "blocked":
        // Said by the plugin host, not the worker: kept for the watchdog, and not a sign of life.
        this.#blocked = { seq: message.seq, kind: message.kind, label: message.label };
        break;
      case "pong":
        this.#blocked = undefined;
        this.#lastHeard = performance.now();
        this.#memory = { heapUsed: message.heapUsed, arrayBuffers: message.arrayBuffers };
        this.#pendingHandlers = message.pendingHandlers;
        if (message.pendingHandlers >= this.#pendingWarnAt) {
          this.#pendingWarnAt *= 10;
          this.#log.warn(
            { pendingHandlers: message.pendingHandlers },
            "plugin has handlers whose promise never settled: each one keeps its memory until the worker's heap limit ends it",
          );
        }
        if (message.arrayBuffers > this.#options.maxArrayBufferBytes) {
          this.#options.onAlert?.({
            type: "offheap",
            bytes: message.arrayBuffers,
            limit: this.#options.maxArrayBufferBytes,
          });
        }
        break;
      case "stopped":
        this.#resolveStopped?.();
        break;
    }
  }

  /**
   * At most MAX_IN_FLIGHT_REQUESTS go to the bus at once; up to MAX_QUEUED_REQUESTS more wait their turn
   * (a burst of commands is not an attack), and only past that is a request refused.
   */
  #request(message: RequestMessage): void {
    if (this.#inFlightRequests < MAX_IN_FLIGHT_REQUESTS) {
      void this.#send(message);
      return;
    }
    if (this.#queuedRequests.length < MAX_QUEUED_REQUESTS) {
      this.#queuedRequests.push(message);
      return;
    }
    this.#post({
      type: "response",
      id: message.id,
      ok: false,
      code: "RATE_LIMITED",
      message: `more than ${MAX_IN_FLIGHT_REQUESTS + MAX_QUEUED_REQUESTS} requests pending`,
    });
  }

  async #send(message: RequestMessage): Promise<void> {
    this.#inFlightRequests++;
    try {
      const reply = await this.#gate.request(
        message.subject,
        message.json,
        message.timeoutMs,
        message.correlationId,
      );
      this.#post({ type: "response", id: message.id, ok: true, data: reply.data });
    } catch (err) {
      const code = err instanceof RoseyError ? err.code : "INTERNAL";
      this.#post({ type: "response", id: message.id, ok: false, code, message: errorMessage(err) });
    } finally {
      this.#inFlightRequests--;
      const next = this.#queuedRequests.shift();
      if (next && !this.#exited) void this.#send(next);
    }
  }

  /**
   * A command's handler failed: the router logs the failure (code and message) and answers the user; this
   * logs where it happened, when the worker said, and returns the message for the router, with the place.
   */
  #commandFailed(command: Command, error: string, frames: StackFrame[] | undefined): string {
    const report = reportPluginError(error, frames, this.#locator);
    if ((frames?.length || report.hint) && this.#errorLogBudget.admit(this.#log, "plugin error"))
      this.#log.error(
        {
          source: "plugin",
          handler: "onCommand",
          command: command.name,
          correlationId: command.correlationId,
          ...errorFields(error, report),
        },
        `onCommand(${command.name}) failed: ${error}`,
      );
    return oneLine(error, report);
  }

  /** An event, subscription, timer or stop handler failed, or a rejection went unhandled: a plugin log line. */
  #handlerError(message: HandlerError): void {
    if (!this.#logBudget.admit(this.#log, "plugin")) return;
    if (message.dropped)
      this.#log.warn({ source: "plugin", dropped: message.dropped }, "plugin log lines dropped (rate limit)");
    const { handler, detail, error } = message;
    const report = reportPluginError(error, message.frames, this.#locator);
    const label =
      handler === "onEvent" || handler === "subscription"
        ? `${handler}(${detail ?? ""}) failed`
        : handler === "unhandled-rejection"
          ? "unhandled rejection"
          : `${handler} failed`;
    const where =
      handler === "onEvent" || handler === "subscription"
        ? { subject: detail }
        : handler === "timeout" || handler === "interval"
          ? { timer: detail }
          : {};
    this.#log.error(
      {
        source: "plugin",
        handler,
        ...where,
        ...(message.correlationId ? { correlationId: message.correlationId } : {}),
        ...errorFields(error, report),
      },
      `${label}: ${error}`,
    );
  }

  /**
   * The worker keeps to the budget itself (and says what it dropped); the core's own budget stands behind it
   * for a worker whose shim is not the one it was given.
   */
  #pluginLog(
    level: "debug" | "info" | "warn" | "error",
    msg: string,
    fields: string | undefined,
    droppedInWorker: number | undefined,
  ): void {
    if (!this.#logBudget.admit(this.#log, "plugin")) return;
    if (droppedInWorker)
      this.#log.warn({ source: "plugin", dropped: droppedInWorker }, "plugin log lines dropped (rate limit)");
    this.#log[level]({ source: "plugin", ...(fields ? { fields } : {}) }, msg);
  }
}

/**
 * A plugin's error as the core logs it: `message` is the plugin's `Name: message`, `stack` the frames in its
 * own files. An Error of its own class, so pino's serializer logs `type: "PluginError"`, and its pretty printer
 * shows the stack.
 */
class PluginError extends Error {}

/** A plugin error's log fields: `err` (with the stack in the author's files) and the hint. */
function errorFields(error: string, report: PluginErrorReport): Record<string, unknown> {
  const err = new PluginError(error);
  err.stack = report.stack;
  return { err, ...(report.hint ? { hint: report.hint } : {}) };
}
