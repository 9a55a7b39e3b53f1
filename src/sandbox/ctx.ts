import { callSite, failedAt } from "./call-site.js";
import { escapeControls } from "./escape-text.js";
import type { CommandCtx, CtxStorage, SubscriptionHandler } from "./plugin-api.js";
import type { PluginTimers } from "./timers.js";
import { MAX_LOG_CHARS, MAX_PAYLOAD_CHARS } from "./wire-limits.js";

/**
 * Builds the `ctx` a plugin receives (design.md §4). Everything in it is a hardened closure over the
 * worker's runtime: no host object, timer handle or port ever reaches plugin code. Arguments are
 * checked with `typeof` once and copied to JSON text before anything else looks at them, so a value
 * that changes between reads cannot pass a check and then send something else. What it builds is held to
 * the public types of plugin-api.ts, which plugin authors compile against.
 */

type LogLevel = "debug" | "info" | "warn" | "error";

export interface CtxHost {
  readonly plugin: { name: string; version: string };
  readonly config: Record<string, unknown>;
  readonly timers: PluginTimers;
  publish(subject: string, json: string, correlationId: string | undefined): void;
  request(
    subject: string,
    json: string,
    timeoutMs: number,
    correlationId: string | undefined,
  ): Promise<unknown>;
  subscribe(pattern: string, handler: SubscriptionHandler): number;
  unsubscribe(subId: number): void;
  commandReply(commandId: number, text: string): void;
  log(level: LogLevel, msg: string, fields: string | undefined): void;
  now(): number;
  random(): number;
}

export interface CtxScope {
  correlationId?: string | undefined;
  /** Present inside `onCommand`: `ctx.reply` answers that command's channel. */
  commandId?: number | undefined;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;
const MAX_REQUEST_TIMEOUT_MS = 60_000;

/** JSON text of a plugin-supplied value, capped; throws a plugin-facing error when it cannot be sent. */
export function toJson(value: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    throw new TypeError(`payload is not JSON-serialisable: ${(err as Error).message}`);
  }
  if (json === undefined) throw new TypeError("payload is not JSON-serialisable");
  if (json.length > MAX_PAYLOAD_CHARS) {
    throw new RangeError(`payload is ${json.length} characters, max ${MAX_PAYLOAD_CHARS}`);
  }
  return json;
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string`);
  return value;
}

/** Escapes control characters (CR/LF, ANSI ESC) so a plugin cannot forge log lines or colour terminals. */
export function sanitizeLogText(value: unknown): string {
  const text = typeof value === "string" ? value : String(value);
  // Escape first, then cut: escaping grows the text (one control character → 6), and the protocol
  // refuses log lines over MAX_LOG_CHARS as malformed, which would suspend the plugin.
  const escaped = escapeControls(text.slice(0, MAX_LOG_CHARS));
  return escaped.length > MAX_LOG_CHARS ? `${escaped.slice(0, MAX_LOG_CHARS - 3)}...` : escaped;
}

type StorageOp = keyof CtxStorage;
/** What a storage call resolves with, as the public type declares it. */
type StorageResult<Op extends StorageOp> = Awaited<ReturnType<CtxStorage[Op]>>;

/** The members that differ between scopes. */
type ScopedMembers = Pick<CommandCtx, "publish" | "request" | "reply">;

/** `publish`, `request` and `reply` bound to one scope. */
function scopedMembers(host: CtxHost, scope: CtxScope): ScopedMembers {
  const { correlationId, commandId } = scope;
  return {
    publish(subject: unknown, data: unknown): void {
      host.publish(requireString(subject, "subject"), toJson(data), correlationId);
    },
    request(subject: unknown, data: unknown, options?: unknown): Promise<unknown> {
      const s = requireString(subject, "subject");
      const json = toJson(data);
      let timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;
      if (options !== undefined && options !== null && typeof options === "object") {
        const t = (options as { timeoutMs?: unknown }).timeoutMs;
        if (typeof t === "number" && Number.isFinite(t))
          timeoutMs = Math.min(MAX_REQUEST_TIMEOUT_MS, Math.max(1, t));
      }
      // The promise itself is a host-made object handed to plugin code: frozen like the rest.
      return harden(host.request(s, json, Math.round(timeoutMs), correlationId));
    },
    reply(text: unknown): void {
      if (commandId === undefined) throw new Error("ctx.reply is only available while handling a command");
      const value = requireString(text, "reply text");
      // Connectors drop an empty chat text: the plugin hears it here, not as a reply that never shows.
      if (value.trim() === "") throw new TypeError("reply text must not be empty");
      host.commandReply(commandId, value);
    },
  };
}

/**
 * A ctx for one command or event: the base ctx as prototype, with `publish`/`request`/`reply` tied to the
 * command's correlationId (and `reply` to its channel). Only three closures per command, instead of a
 * whole new hardened ctx (≈30 µs each, measured).
 *
 * Frozen by hand rather than with `harden`: the only new objects are this one and three methods (no
 * `prototype` property, primitive `name`/`length`), and what they inherit from (the base ctx,
 * `Function.prototype`) is already hardened, so freezing the four is the same transitive freeze.
 * `harden`'s generic walk over them was a third of a worker's time per command (profiled).
 */
export function scopeCtx(base: CommandCtx, host: CtxHost, scope: CtxScope): CommandCtx {
  const members = scopedMembers(host, scope);
  return Object.freeze(
    Object.create(base, {
      publish: { value: Object.freeze(members.publish), enumerable: true },
      request: { value: Object.freeze(members.request), enumerable: true },
      reply: { value: Object.freeze(members.reply), enumerable: true },
    }),
  );
}

/**
 * The plugin's base ctx (start, stop, timers): built once per worker. Typed as the command ctx because it has
 * all of its members: its `reply` throws, as only `scopeCtx` ties one to a command.
 */
export function createCtx(host: CtxHost): CommandCtx {
  // The database service's answer is trusted as kv-protocol.ts shapes it (KvResults, held to these types in
  // tests/unit/plugin-api.test.ts).
  const storageCall = <Op extends StorageOp>(op: Op, args: Record<string, unknown>) =>
    harden(storageCallUnhardened(op, args)) as Promise<StorageResult<Op>>;

  const storageCallUnhardened = async (op: StorageOp, args: Record<string, unknown>): Promise<unknown> => {
    const site = callSite();
    const reply = (await host.request(
      `rosey.db.kv.${op}`,
      toJson(args),
      DEFAULT_REQUEST_TIMEOUT_MS,
      undefined,
    )) as {
      success?: boolean;
      data?: unknown;
      truncated?: boolean;
      error?: { code?: string; message?: string };
    } | null;
    // A query cut short to fit one bus message says so on the array it resolves with (docs/plugins.md §4).
    if (reply?.success === true && reply.truncated === true && Array.isArray(reply.data))
      return harden(Object.assign([...reply.data], { truncated: true }));
    if (reply && reply.success === true) return reply.data;
    const code = reply?.error?.code ?? "INTERNAL";
    throw harden(
      failedAt(site, `storage ${op} failed (${code}): ${reply?.error?.message ?? "no answer"}`, code),
    );
  };

  const log = (level: LogLevel) => (msg: unknown, fields?: unknown) => {
    let extra: string | undefined;
    if (fields !== undefined) {
      try {
        extra = JSON.stringify(fields)?.slice(0, 2048);
      } catch {
        extra = undefined;
      }
    }
    host.log(level, sanitizeLogText(msg), extra);
  };

  return harden({
    plugin: { name: host.plugin.name, version: host.plugin.version },
    config: host.config,
    ...scopedMembers(host, {}),
    subscribe(pattern: unknown, handler: unknown): () => void {
      const p = requireString(pattern, "pattern");
      if (typeof handler !== "function") throw new TypeError("handler must be a function");
      const subId = host.subscribe(p, handler as SubscriptionHandler);
      return () => host.unsubscribe(subId);
    },
    storage: {
      get: (collection: unknown, key: unknown) =>
        storageCall("get", {
          collection: requireString(collection, "collection"),
          key: requireString(key, "key"),
        }),
      set: (collection: unknown, key: unknown, value: unknown) =>
        storageCall("set", {
          collection: requireString(collection, "collection"),
          key: requireString(key, "key"),
          value: JSON.parse(toJson(value)),
        }),
      delete: (collection: unknown, key: unknown) =>
        storageCall("delete", {
          collection: requireString(collection, "collection"),
          key: requireString(key, "key"),
        }),
      query: (collection: unknown, options?: unknown) =>
        storageCall("query", {
          ...(options && typeof options === "object" ? JSON.parse(toJson(options)) : {}),
          collection: requireString(collection, "collection"),
        }),
      count: (collection: unknown, options?: unknown) =>
        storageCall("count", {
          ...(options && typeof options === "object" ? JSON.parse(toJson(options)) : {}),
          collection: requireString(collection, "collection"),
        }),
    },
    log: { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") },
    setTimeout: (fn: unknown, ms: unknown) => host.timers.setTimeout(fn, ms),
    setInterval: (fn: unknown, ms: unknown) => host.timers.setInterval(fn, ms),
    clearTimeout: (id: unknown) => host.timers.clear(id),
    clearInterval: (id: unknown) => host.timers.clear(id),
    now: () => host.now(),
    random: () => host.random(),
  } satisfies CommandCtx);
}
