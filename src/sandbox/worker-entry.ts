import "ses";
import { parentPort, workerData } from "node:worker_threads";
import { type ActivityKind, ActivityWriter } from "./activity.js";
import { type CallSiteError, callSite, failedAt } from "./call-site.js";
import { type CtxHost, createCtx, sanitizeLogText, scopeCtx, toJson } from "./ctx.js";
import { escapeControls } from "./escape-text.js";
import { BUNDLE_LINE_OFFSET, HOOKS, loadPlugin, type PluginModule } from "./loader.js";
import { MessageBatcher, unbatch } from "./message-batch.js";
import type { SubscriptionHandler } from "./plugin-api.js";
import { pluginFrames, type StackFrame } from "./plugin-error.js";
import type { MainToWorker, WorkerInit, WorkerToMain } from "./protocol.js";
import { PluginTimers } from "./timers.js";
import { WindowBudget } from "./window-budget.js";
import { LOG_LINES_PER_SECOND } from "./wire-limits.js";

/**
 * Entry of a plugin's worker thread. Locks the realm down with SES before any plugin code exists,
 * evaluates the plugin inside a Compartment (see loader.ts), and relays its ctx calls to the main
 * thread's gate as protocol messages. Nothing here is reachable from plugin code except the hardened
 * ctx closures.
 */

// Captured before lockdown: compartments get a Math without `random` and a Date whose `now` throws.
const hostNow = Date.now;
const hostRandom = Math.random;
const hostMemory = process.memoryUsage;
const hostClock = performance.now.bind(performance);

lockdown({
  errorTaming: "safe",
  overrideTaming: "severe",
  consoleTaming: "safe",
  stackFiltering: "concise",
  // Plugin failures are reported through the protocol, not by SES killing the thread.
  errorTrapping: "none",
  unhandledRejectionTrapping: "none",
});

const port = parentPort;
if (!port) throw new Error("worker-entry must run in a worker thread");
const init = workerData as WorkerInit;

const outgoing = new MessageBatcher((batch) => port.postMessage(batch));
const post = (message: WorkerToMain): void => outgoing.push(message);

/** Which handler runs, for the watchdog (activity.ts); absent when the spawner shares no buffer. */
const activity = init.activity instanceof SharedArrayBuffer ? new ActivityWriter(init.activity) : undefined;
const enter = (kind: ActivityKind, label: string): void => activity?.enter(kind, label);
const leave = (): void => activity?.leave();

/**
 * SES keeps an error's stack from code in compartments (`err.stack` is empty there) and gives it to the start
 * compartment through this global, concise (its own and Node's frames filtered out).
 */
const getStackString = (globalThis as { getStackString?: (error: Error) => string }).getStackString;

/** What a failure report carries: the error's `Name: message`, and where in the plugin's code it happened. */
interface Failure {
  error: string;
  frames?: StackFrame[];
}

/**
 * Plugin-controlled errors can be anything: a Proxy, getters that throw, a toString that throws.
 * Describing one must never throw, or the catch block reporting it would itself fail.
 */
function describeError(err: unknown): string {
  try {
    if (err instanceof Error) return sanitizeLogText(`${String(err.name)}: ${String(err.message)}`);
    return sanitizeLogText(String(err));
  } catch {
    return "(an error that cannot be described)";
  }
}

/** The error and the plugin's own frames of its stack (none for a thrown non-error, or code the plugin made). */
function describeFailure(err: unknown): Failure {
  const error = describeError(err);
  try {
    if (!(err instanceof Error) || !getStackString) return { error };
    const frames = pluginFrames(getStackString(err), BUNDLE_LINE_OFFSET);
    return frames.length > 0 ? { error, frames } : { error };
  } catch {
    return { error };
  }
}

type LogLevel = "debug" | "info" | "warn" | "error";
const logBudget = new WindowBudget(LOG_LINES_PER_SECOND, 1_000, hostNow);

/** Every log line leaves through here, within the budget; the next line sent says how many were dropped. */
function postLog(level: LogLevel, msg: string, fields?: string): void {
  if (!logBudget.take()) return;
  const dropped = logBudget.takeDropped();
  post({ type: "log", level, msg, ...(fields ? { fields } : {}), ...(dropped > 0 ? { dropped } : {}) });
}

/** A log line the main thread accepts: escaped, and cut to the protocol's limit after the label. */
function logLine(level: LogLevel, msg: string): void {
  postLog(level, sanitizeLogText(msg));
}

type FailedHandler = Extract<WorkerToMain, { type: "handler-error" }>["handler"];

/** A handler outside a command failed: a log line of the plugin's (same budget), with where it happened. */
function reportFailure(handler: FailedHandler, err: unknown, detail?: string, correlationId?: unknown): void {
  if (!logBudget.take()) return;
  const dropped = logBudget.takeDropped();
  const { error, frames } = describeFailure(err);
  post({
    type: "handler-error",
    handler,
    error,
    ...(detail ? { detail: sanitizeLogText(detail) } : {}),
    ...(frames ? { frames } : {}),
    ...(typeof correlationId === "string"
      ? { correlationId: escapeControls(correlationId).slice(0, 128) }
      : {}),
    ...(dropped > 0 ? { dropped } : {}),
  });
}

let nextId = 1;
const pendingRequests = new Map<
  number,
  { resolve: (v: unknown) => void; reject: (e: Error) => void; site: CallSiteError }
>();
const subscriptions = new Map<number, SubscriptionHandler>();
let stopping = false;

/** Whether a plugin's return value is a promise (or promise-like) to wait for rather than a value. */
const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  Boolean(value) && typeof (value as PromiseLike<unknown>).then === "function";

/**
 * Event, subscription and timer handlers whose promise has not settled yet. Nothing bounds how long they may take,
 * so one that never settles is a leak the core can only see through this count (reported with each pong).
 */
let pendingHandlers = 0;
const settled = (): void => {
  pendingHandlers--;
};

/**
 * Runs an event, subscription or timer handler: its synchronous part marked in the activity record, its
 * failure (a throw, or its promise's rejection) reported, never propagated. `detail` is the subject or the
 * timer; `correlationId` the event's.
 */
const guard = (
  kind: Exclude<ActivityKind, "onCommand">,
  detail: string,
  fn: () => unknown,
  correlationId?: unknown,
): void => {
  enter(kind, detail);
  try {
    const result = fn();
    if (isThenable(result)) {
      pendingHandlers++;
      // Through a real promise: calling the plugin's own `then` would hand it these callbacks, which it could
      // call at will (forged failure lines, a pending count driven below zero).
      Promise.resolve(result).then(settled, (err: unknown) => {
        settled();
        reportFailure(kind, err, detail, correlationId);
      });
    }
  } catch (err) {
    reportFailure(kind, err, detail, correlationId);
  } finally {
    leave();
  }
};

const timers = new PluginTimers({ guard });

const host: CtxHost = {
  plugin: init.plugin,
  config: init.config,
  timers,
  publish(subject, json, correlationId) {
    post({ type: "publish", subject, json, ...(correlationId ? { correlationId } : {}) });
  },
  request(subject, json, timeoutMs, correlationId) {
    const id = nextId++;
    const site = callSite();
    return new Promise((resolve, reject) => {
      pendingRequests.set(id, { resolve, reject, site });
      post({ type: "request", id, subject, json, timeoutMs, ...(correlationId ? { correlationId } : {}) });
    });
  },
  subscribe(pattern, handler) {
    const subId = nextId++;
    subscriptions.set(subId, handler);
    post({ type: "subscribe", subId, pattern });
    return subId;
  },
  unsubscribe(subId) {
    if (subscriptions.delete(subId)) post({ type: "unsubscribe", subId });
  },
  commandReply(id, text) {
    post({ type: "command-reply", id, text: text.slice(0, 10_000) });
  },
  log(level, msg, fields) {
    postLog(level, msg, fields);
  },
  now: () => hostNow(),
  random: () => hostRandom(),
};

const baseCtx = createCtx(host);
let plugin: PluginModule | undefined;

let warnedIgnoredResult = false;

/**
 * Only a string returned from onCommand is sent. Anything else (`{ text }`, a number) is a likely mistake
 * that would otherwise pass in silence: said once per worker, in the plugin's log.
 */
function warnIgnoredResult(result: unknown, commandName: string): void {
  if (warnedIgnoredResult) return;
  warnedIgnoredResult = true;
  let kind: string = typeof result;
  try {
    if (Array.isArray(result)) kind = "array";
  } catch {
    // A revoked Proxy: typeof said enough.
  }
  logLine(
    "warn",
    `onCommand for '${commandName}' returned ${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind}, not a string, so nothing was sent (return a string to reply, or undefined to send nothing); said once per worker`,
  );
}

async function onCommand(id: number, command: MainToWorker & { type: "command" }): Promise<void> {
  // A burst is taken whole and runs back to back: what the sender has given up on is not started.
  if (command.deadline !== undefined && hostNow() > command.deadline) {
    post({ type: "command-result", id, ok: false, late: true });
    return;
  }
  const handler = plugin?.onCommand;
  if (!handler) {
    post({ type: "command-result", id, ok: false, error: "plugin has no onCommand handler" });
    return;
  }
  try {
    const ctx = scopeCtx(baseCtx, host, { correlationId: command.command.correlationId, commandId: id });
    // The core builds the command from strings and a number, and this copy was just parsed from its batch:
    // freezing it and its args in place is the whole transitive freeze, without harden's generic walk.
    Object.freeze(command.command.args);
    let returned: unknown;
    enter("onCommand", command.command.name);
    try {
      returned = handler.call(plugin?.self, Object.freeze(command.command), ctx);
    } finally {
      leave();
    }
    // A synchronous handler's result is posted before the next message of its batch runs (see the batch loop).
    const result = isThenable(returned) ? await returned : returned;
    const text = typeof result === "string" && result.length > 0 ? result.slice(0, 10_000) : undefined;
    if (typeof result !== "string" && result !== undefined && result !== null)
      warnIgnoredResult(result, command.command.name);
    post({ type: "command-result", id, ok: true, ...(text ? { text } : {}) });
  } catch (err) {
    const { error, frames } = describeFailure(err);
    post({ type: "command-result", id, ok: false, error, ...(frames ? { frames } : {}) });
  }
}

function onEvent(message: MainToWorker & { type: "event" }): void {
  const envelope = harden(message.envelope);
  if (message.subId === 0) {
    const handler = plugin?.onEvent;
    if (!handler) return;
    const correlationId = (envelope as { correlationId?: string } | null)?.correlationId;
    const ctx = typeof correlationId === "string" ? scopeCtx(baseCtx, host, { correlationId }) : baseCtx;
    guard(
      "onEvent",
      message.subject,
      () => handler.call(plugin?.self, message.subject, envelope, ctx),
      correlationId,
    );
    return;
  }
  const handler = subscriptions.get(message.subId);
  if (!handler) return;
  const token = message.replyToken;
  const respond = token
    ? harden((data: unknown) => {
        // toJson caps the size here: an oversized reply is the plugin's error, not a malformed message.
        post({ type: "respond", token, json: toJson(data) });
      })
    : undefined;
  guard(
    "subscription",
    message.subject,
    () => handler(message.subject, envelope, respond),
    (envelope as { correlationId?: unknown } | null)?.correlationId,
  );
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    if (plugin?.stop) await plugin.stop.call(plugin.self, baseCtx);
  } catch (err) {
    reportFailure("stop", err);
  }
  timers.clearAll();
  for (const subId of subscriptions.keys()) post({ type: "unsubscribe", subId });
  subscriptions.clear();
  for (const pending of pendingRequests.values()) pending.reject(new Error("plugin stopped"));
  pendingRequests.clear();
  post({ type: "stopped" });
}

/**
 * A batch can carry many commands, and their synchronous work runs back to back. The core judges a worker
 * stuck when it completes nothing for a handler deadline, so once a batch has taken a millisecond, what its
 * handlers produced leaves now rather than when the whole batch is done.
 */
const SLICE_MS = 1;

port.on("message", (batch: string) => {
  let sliceStart = hostClock();
  for (const message of unbatch(batch)) {
    onMessage(message as MainToWorker);
    const now = hostClock();
    if (now - sliceStart >= SLICE_MS) {
      outgoing.flush();
      sliceStart = now;
    }
  }
});

function onMessage(message: MainToWorker): void {
  switch (message.type) {
    case "command":
      void onCommand(message.id, message);
      break;
    case "event":
      if (!stopping) onEvent(message);
      break;
    case "response": {
      const pending = pendingRequests.get(message.id);
      if (!pending) break;
      pendingRequests.delete(message.id);
      // Hardened like everything else plugin code receives: no mutable host-made object crosses over.
      if (message.ok) pending.resolve(harden(message.data));
      else pending.reject(harden(failedAt(pending.site, message.message, message.code)));
      break;
    }
    case "denied":
      subscriptions.delete(message.subId);
      logLine("warn", `subscription refused: ${message.reason}`);
      break;
    case "ping": {
      const memory = hostMemory();
      post({
        type: "pong",
        seq: message.seq,
        heapUsed: memory.heapUsed,
        arrayBuffers: memory.arrayBuffers,
        pendingHandlers,
      });
      break;
    }
    case "stop":
      void stop();
      break;
  }
}

process.on("unhandledRejection", (reason) => {
  reportFailure("unhandled-rejection", reason);
});

try {
  plugin = loadPlugin(init.source, init.plugin.name);
  if (init.loadOnly) {
    // The module's own promise jobs run before the answer: one that never settles, or takes the process
    // down, must be met by the check as it would be met at start, not after `loaded` has passed the plugin.
    await new Promise((resolve) => setImmediate(resolve));
    post({ type: "loaded", hooks: HOOKS.filter((hook) => plugin?.[hook]) });
  } else {
    if (plugin.start) await plugin.start.call(plugin.self, baseCtx);
    post({ type: "ready" });
  }
} catch (err) {
  const { error, frames } = describeFailure(err);
  post({ type: "load-failed", message: error, ...(frames ? { frames } : {}) });
}
