import { z } from "zod";
import { ACTIVITY_KINDS } from "./activity.js";
import { HOOKS } from "./loader.js";
import type { Command, Envelope } from "./plugin-api.js";
import { MAX_FRAME_NAME_CHARS, MAX_FRAME_POSITION, MAX_STACK_FRAMES } from "./plugin-error.js";
import { MAX_LOG_CHARS, MAX_PAYLOAD_CHARS } from "./wire-limits.js";

/**
 * Every message that crosses the main ↔ worker boundary of a plugin sandbox, in one place.
 *
 *   main thread (gate, NATS)                       worker (SES lockdown, plugin in a Compartment)
 *   ────────────────────────                       ───────────────────────────────────────────────
 *   workerData: WorkerInit  ───────────────────▶   load + start(ctx)
 *                            ◀───────────────────   ready | load-failed
 *   (loadOnly: load alone)   ◀───────────────────   loaded | load-failed   (rosey config check)
 *   command / event / response / ping  ────────▶   handlers
 *                            ◀───────────────────   publish / subscribe / request / respond /
 *                                                   command-reply / command-result / log /
 *                                                   handler-error / pong
 *                            ◀─── plugin host ────   blocked (process isolation: the host read the
 *                                                   worker's activity record, see activity.ts)
 *   stop                     ───────────────────▶   stop(ctx), timers + subscriptions released
 *                            ◀───────────────────   stopped
 *
 * The main thread trusts nothing the worker sends: every worker message is parsed with
 * `workerMessageSchema` (exact shapes, size caps) and a malformed one counts as a violation.
 * Payloads travel as JSON strings produced in the worker, so their size is known before the
 * main thread parses them and they are never encoded twice.
 */

export interface WorkerInit {
  plugin: { name: string; version: string };
  /** The plugin's bundled code (CommonJS-shaped), evaluated inside a Compartment. */
  source: string;
  /** The plugin's own config block. */
  config: Record<string, unknown>;
  /**
   * Where the worker records which handler it runs (activity.ts); shared with whoever spawned it: the core
   * (thread isolation) or the plugin host (process isolation), which add it.
   */
  activity?: SharedArrayBuffer;
  /**
   * Evaluate the module and answer `loaded` with the hooks it defines, and nothing more: `start` is never
   * called, so the plugin has no chance to act. For `rosey config check`, which must have no side effects.
   */
  loadOnly?: true;
}

export type MainToWorker =
  /** `deadline` (epoch ms): when the sender gives up. The worker does not start the command after it; plugin code never sees it. */
  | { type: "command"; id: number; command: Command; deadline?: number | undefined }
  /** `subId` 0 is the manifest's subscriptions, delivered to `onEvent`; others are `ctx.subscribe` handlers. */
  | { type: "event"; subId: number; subject: string; envelope: Envelope; replyToken?: string }
  | { type: "response"; id: number; ok: true; data: unknown }
  | { type: "response"; id: number; ok: false; code: string; message: string }
  | { type: "denied"; op: "subscribe"; subId: number; reason: string }
  | { type: "ping"; seq: number }
  | { type: "stop" };

const subject = z.string().max(512);
const json = z.string().max(MAX_PAYLOAD_CHARS);
const id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
// The worker escapes control characters in every text it reports (ctx.ts sanitizeLogText, escape-text.ts); a raw
// CR/LF/ESC means the shim was bypassed, and it would forge log lines in a pretty-printed log.
const escaped = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, "text must have its control characters escaped");
const position = z.number().int().min(1).max(MAX_FRAME_POSITION);
/** Where in the plugin's bundle an error happened, innermost first (plugin-error.ts): numbers and short names. */
const frames = z
  .array(z.strictObject({ fn: escaped(MAX_FRAME_NAME_CHARS).optional(), line: position, column: position }))
  .max(MAX_STACK_FRAMES);

export const workerMessageSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("ready") }),
  /** The answer of a `loadOnly` worker: the module evaluated, and these are the hooks it defines. */
  z.strictObject({ type: z.literal("loaded"), hooks: z.array(z.enum(HOOKS)).max(HOOKS.length) }),
  z.strictObject({
    type: z.literal("load-failed"),
    message: escaped(4096),
    frames: frames.optional(),
  }),
  z.strictObject({
    type: z.literal("publish"),
    subject,
    json,
    correlationId: z.string().max(128).optional(),
  }),
  z.strictObject({ type: z.literal("subscribe"), subId: id, pattern: subject }),
  z.strictObject({ type: z.literal("unsubscribe"), subId: id }),
  z.strictObject({
    type: z.literal("request"),
    id,
    subject,
    json,
    timeoutMs: z.number().int().min(1).max(60_000),
    correlationId: z.string().max(128).optional(),
  }),
  z.strictObject({ type: z.literal("respond"), token: z.string().max(64), json }),
  z.strictObject({ type: z.literal("command-reply"), id, text: z.string().max(10_000) }),
  z.strictObject({
    type: z.literal("command-result"),
    id,
    ok: z.boolean(),
    text: z.string().max(10_000).optional(),
    error: escaped(1024).optional(),
    frames: frames.optional(),
    /** Not run: its turn in the worker came after its sender's deadline. */
    late: z.literal(true).optional(),
  }),
  z.strictObject({
    type: z.literal("log"),
    level: z.enum(["debug", "info", "warn", "error"]),
    // The worker escapes control characters (ctx.ts sanitizeLogText); a raw CR/LF/ESC here means the
    // shim was bypassed, and it would forge log lines in a pretty-printed log.
    msg: z
      .string()
      .max(MAX_LOG_CHARS)
      .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, "log text must have its control characters escaped"),
    fields: z.string().max(2048).optional(),
    /** Lines the worker dropped before this one (LOG_LINES_PER_SECOND). */
    dropped: z.number().int().positive().optional(),
  }),
  /**
   * A handler outside a command failed (threw or rejected), or a rejection went unhandled: a log line of the
   * plugin's, within the same budget, with where it happened.
   */
  z.strictObject({
    type: z.literal("handler-error"),
    handler: z.enum(["onEvent", "subscription", "timeout", "interval", "stop", "unhandled-rejection"]),
    /** The subject (onEvent, subscription) or the timer (`'tick' (every 1000 ms)`). */
    detail: escaped(MAX_LOG_CHARS).optional(),
    error: escaped(MAX_LOG_CHARS),
    frames: frames.optional(),
    correlationId: escaped(128).optional(),
    dropped: z.number().int().positive().optional(),
  }),
  /** From the plugin host, not the worker: a handler has been running for a while (activity.ts). */
  z.strictObject({
    type: z.literal("blocked"),
    seq: z.number().int(),
    kind: z.enum(ACTIVITY_KINDS),
    label: escaped(2048),
  }),
  z.strictObject({
    type: z.literal("pong"),
    seq: id,
    heapUsed: z.number().nonnegative(),
    arrayBuffers: z.number().nonnegative(),
    pendingHandlers: z.number().int().nonnegative(),
  }),
  z.strictObject({ type: z.literal("stopped") }),
]);

export type WorkerToMain = z.infer<typeof workerMessageSchema>;
