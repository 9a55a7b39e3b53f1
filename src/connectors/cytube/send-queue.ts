/**
 * Outbound chat/PM queue for one channel, shaped to CyTube's flood limiter (cytube-protocol.md §6.2) with a
 * fair share per sender.
 *
 * ```
 *  plugin:a ─┐                 ┌────────────┐   emit    ┌────────┐
 *  plugin:b ─┼─► per-source ──►│ round-robin│──────────►│ server │── chatMsg echo ─┐
 *  core     ─┘   FIFO queues   │ + limiter  │◄─ resend ─│        │── cooldown ─────┤
 *                 retry queue ►│   mirror   │           └────────┘                 │
 *                              └────────────┘◄── settle oldest in-flight ──────────┘
 * ```
 *
 * The server answers each chat frame in order: an echo of our own message (delivered) or `cooldown`
 * (dropped). So the oldest in-flight message is the one each answer is about; a dropped one goes to the
 * retry queue, which is served before anything else. On disconnect, every unanswered message is retried.
 */

import { STYLE_PREFIX } from "./actions.js";
import { FairQueue, insertInOrder } from "./fair-queue.js";
import { type FloodParams, LimiterMirror } from "./limiter-mirror.js";
import { WakeTimer } from "./wake-timer.js";

export type { FloodParams };

/** Always applied by the server (§6.2). */
export const BASE_FLOOD: Readonly<FloodParams> = Object.freeze({ burst: 20, sustained: 10, cooldown: 2 });
/** `chat_antiflood_params` default, applied when `chat_antiflood` is on and the sender's rank < 2. */
export const ANTIFLOOD_DEFAULT: Readonly<FloodParams> = Object.freeze({
  burst: 4,
  sustained: 1,
  cooldown: 4,
});

/** The limit the server will apply to the bot, from the channel options and the bot's rank. */
export function effectiveFlood(
  opts: { chat_antiflood?: unknown; chat_antiflood_params?: unknown } | undefined,
  rank: number,
): FloodParams {
  if (!opts?.chat_antiflood || rank >= 2) return { ...BASE_FLOOD };
  const p = (opts.chat_antiflood_params ?? {}) as Partial<Record<keyof FloodParams, unknown>>;
  const num = (v: unknown, fallback: number): number =>
    typeof v === "number" && Number.isFinite(v) && v > 0 ? v : fallback;
  return {
    burst: Math.min(20, num(p.burst, ANTIFLOOD_DEFAULT.burst)),
    sustained: Math.min(10, num(p.sustained, ANTIFLOOD_DEFAULT.sustained)),
    cooldown: num(p.cooldown, ANTIFLOOD_DEFAULT.cooldown),
  };
}

export type OutgoingKind = "chat" | "pm";

export interface OutgoingMessage {
  kind: OutgoingKind;
  text: string;
  /** PM target. */
  to?: string | undefined;
  /** Who asked (`plugin:<name>`, `core`…): the unit of fairness. */
  source: string;
  /** The asking action's, so a message given up is reported against it. */
  correlationId?: string | undefined;
  /** False for slash commands (`/kick`, `/clear`): they use the limiter but the server echoes nothing. */
  expectEcho?: boolean;
}

export type SendOutcome = "delivered" | "failed";

/**
 * How many times the server's limiter checks this frame: its chat pipeline (calzoneman/sync `processChatMsg`)
 * checks a line, and runs a `/me ` or `/sp ` line's rest through itself again. PMs are checked once.
 */
export function limiterCost(message: Pick<OutgoingMessage, "kind" | "text">): number {
  return message.kind === "chat" && STYLE_PREFIX.test(message.text) ? 2 : 1;
}

interface Item extends OutgoingMessage {
  seq: number;
  attempts: number;
  settle?: ((outcome: SendOutcome) => void) | undefined;
}

export interface SendQueueOptions {
  /** Emits the frame; returns false when the socket is not ready (the item stays queued). */
  emit(message: OutgoingMessage): boolean;
  /** Safety added to every limiter interval, for network jitter between our send and the server's receipt. @default 30 */
  marginMs?: number;
  /** Messages kept below the server's burst. @default 1 */
  burstHeadroom?: number;
  /** Per-source cap; beyond it `enqueue` refuses. @default 500 */
  maxPerSource?: number;
  /** An unanswered message is taken as delivered after this long. @default 10000 */
  inflightTimeoutMs?: number;
  /** A message dropped this many times is given up. @default 5 */
  maxAttempts?: number;
  /** Initial limits. @default BASE_FLOOD */
  flood?: FloodParams;
  onGiveUp?: (message: OutgoingMessage, reason: string) => void;
}

export class SendQueue {
  readonly #emit: (message: OutgoingMessage) => boolean;
  readonly #inflightTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #onGiveUp: ((message: OutgoingMessage, reason: string) => void) | undefined;
  readonly #limiter: LimiterMirror;
  readonly #waiting: FairQueue<Item>;
  readonly #retry: Item[] = [];
  readonly #inflight: Array<{ item: Item; sentAt: number }> = [];
  #seq = 0;
  #ready = false;
  readonly #wake = new WakeTimer(() => this.#pump());

  constructor(options: SendQueueOptions) {
    this.#emit = options.emit;
    this.#limiter = new LimiterMirror(options.flood ?? BASE_FLOOD, {
      marginMs: options.marginMs ?? 30,
      headroom: options.burstHeadroom ?? 1,
    });
    this.#waiting = new FairQueue(options.maxPerSource ?? 500, "message");
    this.#inflightTimeoutMs = options.inflightTimeoutMs ?? 10_000;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#onGiveUp = options.onGiveUp;
  }

  get flood(): Readonly<FloodParams> {
    return this.#limiter.params;
  }

  /** Messages waiting (not yet sent, or to be resent). */
  get pending(): number {
    return this.#retry.length + this.#waiting.size;
  }

  get inflight(): number {
    return this.#inflight.length;
  }

  setFlood(flood: FloodParams): void {
    this.#limiter.params = flood;
    this.#schedule();
  }

  /**
   * Queues a message. Resolves `"delivered"` once the server echoed it (or nothing contradicted it within
   * the in-flight timeout), `"failed"` if it was given up. Throws when the sender's queue is full.
   */
  enqueue(message: OutgoingMessage): Promise<SendOutcome> {
    const item: Item = { ...message, seq: this.#seq++, attempts: 0 };
    this.#waiting.push(message.source, item);
    const outcome = new Promise<SendOutcome>((resolve) => {
      item.settle = resolve;
    });
    this.#schedule();
    return outcome;
  }

  /** The socket is joined and logged in: start sending. */
  resume(): void {
    this.#ready = true;
    this.#schedule();
  }

  /** The socket went away: stop, and retry every unanswered message, oldest first. */
  pause(): void {
    this.#ready = false;
    this.#wake.clear();
    const unanswered = this.#inflight.splice(0).map((f) => f.item);
    this.#retry.unshift(...unanswered);
    this.#limiter.reset();
  }

  /** The server echoed one of our messages: the oldest in flight was delivered. */
  onEcho(): void {
    const f = this.#inflight.shift();
    f?.item.settle?.("delivered");
  }

  /** `cooldown` frame: the oldest message in flight was dropped; resend it first. */
  onCooldown(): void {
    this.#limiter.refused(Date.now());
    const f = this.#inflight.shift();
    if (f) this.#retryOrGiveUp(f.item, "dropped by the server's flood control (cooldown)");
    this.#schedule();
  }

  /** The server refused the oldest message for good (muted, spam filter). */
  onRejected(reason: string): void {
    const f = this.#inflight.shift();
    if (f) {
      this.#onGiveUp?.(f.item, reason);
      f.item.settle?.("failed");
    }
  }

  /** Drops everything (connector stopping). Pending promises resolve `"failed"`. */
  clear(): void {
    this.#wake.clear();
    this.#ready = false;
    const all = [
      ...this.#retry.splice(0),
      ...this.#inflight.splice(0).map((f) => f.item),
      ...this.#waiting.drain(),
    ];
    for (const item of all) item.settle?.("failed");
  }

  #retryOrGiveUp(item: Item, reason: string): void {
    item.attempts += 1;
    if (item.attempts >= this.#maxAttempts) {
      this.#onGiveUp?.(item, `${reason}; gave up after ${item.attempts} attempts`);
      item.settle?.("failed");
      return;
    }
    insertInOrder(this.#retry, item);
  }

  #next(): Item | undefined {
    return this.#retry.shift() ?? this.#waiting.shift();
  }

  #unshift(item: Item): void {
    this.#retry.unshift(item);
  }

  /** The limiter wait for the item `#next` would return. */
  #waitMs(now: number): number {
    const next = this.#retry[0] ?? this.#waiting.peek();
    return next ? this.#limiter.waitMs(now, limiterCost(next)) : 0;
  }

  #pump(): void {
    this.#expireInflight();
    while (this.#ready && this.pending > 0) {
      const now = Date.now();
      if (this.#waitMs(now) > 0) break;
      const item = this.#next()!;
      if (!this.#emit(item)) {
        this.#unshift(item);
        this.#ready = false;
        return;
      }
      this.#limiter.sent(now, limiterCost(item));
      if (item.expectEcho === false) item.settle?.("delivered");
      else this.#inflight.push({ item, sentAt: now });
    }
    this.#schedule();
  }

  #expireInflight(): void {
    const now = Date.now();
    while (this.#inflight.length > 0 && now - this.#inflight[0]!.sentAt > this.#inflightTimeoutMs) {
      this.#inflight.shift()!.item.settle?.("delivered");
    }
  }

  #schedule(): void {
    if (!this.#ready) return;
    let wait: number;
    if (this.pending > 0) wait = this.#waitMs(Date.now());
    else if (this.#inflight.length > 0) wait = this.#inflightTimeoutMs;
    else return;
    this.#wake.within(wait);
  }
}
