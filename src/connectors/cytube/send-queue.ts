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

/** One limiter setting, as the server applies it. */
export interface FloodParams {
  burst: number;
  /** Messages per second once the burst is spent. */
  sustained: number;
  /** Seconds without an allowed message after which the burst count resets. */
  cooldown: number;
}

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
  /** False for slash commands (`/kick`, `/clear`): they use the limiter but the server echoes nothing. */
  expectEcho?: boolean;
}

export type SendOutcome = "delivered" | "failed";

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
  readonly #marginMs: number;
  readonly #headroom: number;
  readonly #maxPerSource: number;
  readonly #inflightTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #onGiveUp: ((message: OutgoingMessage, reason: string) => void) | undefined;
  #flood: FloodParams;
  readonly #queues = new Map<string, Item[]>();
  /** When each waiting source was last served (a tick); the longest-waiting source goes next. */
  readonly #lastServed = new Map<string, number>();
  #tick = 0;
  readonly #retry: Item[] = [];
  readonly #inflight: Array<{ item: Item; sentAt: number }> = [];
  #seq = 0;
  #ready = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = 0;
  // Mirror of the server's limiter state for this socket.
  #count = 0;
  #lastAllowed = Number.NEGATIVE_INFINITY;

  constructor(options: SendQueueOptions) {
    this.#emit = options.emit;
    this.#marginMs = options.marginMs ?? 30;
    this.#headroom = options.burstHeadroom ?? 1;
    this.#maxPerSource = options.maxPerSource ?? 500;
    this.#inflightTimeoutMs = options.inflightTimeoutMs ?? 10_000;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#onGiveUp = options.onGiveUp;
    this.#flood = { ...(options.flood ?? BASE_FLOOD) };
  }

  get flood(): Readonly<FloodParams> {
    return this.#flood;
  }

  /** Messages waiting (not yet sent, or to be resent). */
  get pending(): number {
    let n = this.#retry.length;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  get inflight(): number {
    return this.#inflight.length;
  }

  setFlood(flood: FloodParams): void {
    this.#flood = { ...flood };
    this.#schedule();
  }

  /**
   * Queues a message. Resolves `"delivered"` once the server echoed it (or nothing contradicted it within
   * the in-flight timeout), `"failed"` if it was given up. Throws when the sender's queue is full.
   */
  enqueue(message: OutgoingMessage): Promise<SendOutcome> {
    let queue = this.#queues.get(message.source);
    if (!queue) {
      queue = [];
      this.#queues.set(message.source, queue);
      // A source that had nothing waiting goes before every source that was served meanwhile.
      if (!this.#lastServed.has(message.source)) this.#lastServed.set(message.source, -1);
    }
    if (queue.length >= this.#maxPerSource) {
      throw new RangeError(
        `Cannot queue a message from '${message.source}' as at most ${this.#maxPerSource} may wait: current value is ${queue.length}`,
      );
    }
    return new Promise((resolve) => {
      queue.push({ ...message, seq: this.#seq++, attempts: 0, settle: resolve });
      this.#schedule();
    });
  }

  /** The socket is joined and logged in: start sending. */
  resume(): void {
    this.#ready = true;
    this.#schedule();
  }

  /** The socket went away: stop, and retry every unanswered message, oldest first. */
  pause(): void {
    this.#ready = false;
    this.#clearTimer();
    const unanswered = this.#inflight.splice(0).map((f) => f.item);
    this.#retry.unshift(...unanswered);
    // A new socket has a fresh limiter on the server.
    this.#count = 0;
    this.#lastAllowed = Number.NEGATIVE_INFINITY;
  }

  /** The server echoed one of our messages: the oldest in flight was delivered. */
  onEcho(): void {
    const f = this.#inflight.shift();
    f?.item.settle?.("delivered");
  }

  /** `cooldown` frame: the oldest message in flight was dropped; resend it first. */
  onCooldown(): void {
    const now = Date.now();
    // The server refused: its limiter is past the burst, and its last allowed message was no later than now.
    this.#count = Math.max(this.#count, this.#flood.burst);
    this.#lastAllowed = now;
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
    this.#clearTimer();
    this.#ready = false;
    const all = [...this.#retry.splice(0), ...this.#inflight.splice(0).map((f) => f.item)];
    for (const q of this.#queues.values()) all.push(...q.splice(0));
    for (const item of all) item.settle?.("failed");
  }

  #retryOrGiveUp(item: Item, reason: string): void {
    item.attempts += 1;
    if (item.attempts >= this.#maxAttempts) {
      this.#onGiveUp?.(item, `${reason}; gave up after ${item.attempts} attempts`);
      item.settle?.("failed");
      return;
    }
    // Keep the retry queue in original order.
    const at = this.#retry.findIndex((r) => r.seq > item.seq);
    if (at < 0) this.#retry.push(item);
    else this.#retry.splice(at, 0, item);
  }

  /** Milliseconds until the mirror allows the next message (0 = now). */
  #waitMs(now: number): number {
    const { burst, sustained, cooldown } = this.#flood;
    const sinceLast = now - this.#lastAllowed;
    if (sinceLast > cooldown * 1000 + this.#marginMs) return 0;
    if (this.#count < Math.max(1, burst - this.#headroom)) return 0;
    const interval = 1000 / sustained + this.#marginMs;
    return Math.max(0, interval - sinceLast);
  }

  #next(): Item | undefined {
    if (this.#retry.length > 0) return this.#retry.shift();
    let best: string | undefined;
    let bestTick = Number.POSITIVE_INFINITY;
    for (const [source, queue] of this.#queues) {
      if (queue.length === 0) continue;
      const tick = this.#lastServed.get(source) ?? -1;
      if (tick < bestTick) {
        best = source;
        bestTick = tick;
      }
    }
    if (best === undefined) return undefined;
    const queue = this.#queues.get(best)!;
    const item = queue.shift()!;
    if (queue.length === 0) {
      this.#queues.delete(best);
      this.#lastServed.delete(best);
    } else this.#lastServed.set(best, this.#tick++);
    return item;
  }

  #unshift(item: Item): void {
    this.#retry.unshift(item);
  }

  #pump(): void {
    this.#timer = undefined;
    this.#expireInflight();
    while (this.#ready && this.pending > 0) {
      const now = Date.now();
      const wait = this.#waitMs(now);
      if (wait > 0) break;
      const item = this.#next()!;
      if (!this.#emit(item)) {
        this.#unshift(item);
        this.#ready = false;
        return;
      }
      if (now - this.#lastAllowed > this.#flood.cooldown * 1000 + this.#marginMs) this.#count = 1;
      else this.#count += 1;
      this.#lastAllowed = now;
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
    const due = Date.now() + wait;
    if (this.#timer !== undefined) {
      if (this.#timerDue <= due) return;
      clearTimeout(this.#timer);
    }
    this.#timerDue = due;
    this.#timer = setTimeout(() => this.#pump(), wait);
    this.#timer.unref?.();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
