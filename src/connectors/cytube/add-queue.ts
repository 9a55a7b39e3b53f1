import { FairQueue, insertInOrder } from "./fair-queue.js";
import { type FloodParams, LimiterMirror } from "./limiter-mirror.js";
import { WakeTimer } from "./wake-timer.js";

/**
 * Playlist additions for one channel, paced to the server's queue limiter (cytube-protocol.md §4.3): burst 3
 * then 1/s below rank 2, burst 10 then 2/s from rank 2. Past it the server answers `queueFail "You are adding
 * videos too quickly"` and the item is not added, so a plugin queueing a dozen items at once would lose most
 * of them. Additions wait here, one sender at a time, and go out as our copy of the limiter allows.
 *
 * A sent addition stays in flight until the server answers about it: the `queue` broadcast of our item
 * (added), or a `queueFail` naming its media id (too quickly: sent again first; anything else: failed). The
 * server looks media up asynchronously, so answers are matched by media, not by order.
 */

/** The server's limits (§4.3); its limiter resets after `burst / sustained` seconds without an addition. */
export const QUEUE_LIMIT_GUEST: Readonly<FloodParams> = Object.freeze({
  burst: 3,
  sustained: 1,
  cooldown: 3,
});
export const QUEUE_LIMIT_MODERATOR: Readonly<FloodParams> = Object.freeze({
  burst: 10,
  sustained: 2,
  cooldown: 5,
});

export function queueLimit(rank: number): FloodParams {
  return { ...(rank >= 2 ? QUEUE_LIMIT_MODERATOR : QUEUE_LIMIT_GUEST) };
}

export const TOO_QUICKLY = "You are adding videos too quickly";
const ALREADY_ON_PLAYLIST = "This item is already on the playlist";

/** The `queue` frame's payload, as `planAction` built it. */
export interface MediaRef {
  readonly id: string;
  readonly type: string;
}

export interface Addition {
  readonly payload: MediaRef & Record<string, unknown>;
  /** Who asked (`plugin:<name>`…): the unit of fairness. */
  readonly source: string;
  readonly correlationId?: string | undefined;
}

export type AddOutcome =
  | { status: "added"; uid?: number | undefined }
  | { status: "failed"; reason: string }
  /** No answer within the answer timeout (the server may still have added it). */
  | { status: "unconfirmed" };

export interface AddQueueOptions {
  /** Emits the `queue` frame; returns false when the socket is not ready (the addition waits). */
  emit(payload: Addition["payload"]): boolean;
  /** Reports each addition's outcome once. */
  onSettled(addition: Addition, outcome: AddOutcome): void;
  /** Safety added to every limiter interval. @default 30 */
  marginMs?: number;
  /** Additions kept below the server's burst. @default 1 */
  burstHeadroom?: number;
  /** Per-source cap; beyond it `enqueue` throws. @default 100 */
  maxPerSource?: number;
  /** How long a sent addition waits for the server's answer. @default 30000 */
  answerTimeoutMs?: number;
  /** An addition refused as too quick this many times is given up. @default 5 */
  maxAttempts?: number;
  /** @default QUEUE_LIMIT_GUEST */
  limits?: FloodParams;
}

interface Item extends Addition {
  seq: number;
  attempts: number;
  /** Sent on a socket that went away before the server answered. */
  resent: boolean;
}

export class AddQueue {
  readonly #options: AddQueueOptions;
  readonly #answerTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #limiter: LimiterMirror;
  readonly #waiting: FairQueue<Item>;
  /** Refused as too quick, or unanswered when the socket went away: served first, oldest first. */
  readonly #retry: Item[] = [];
  readonly #inflight: Array<{ item: Item; sentAt: number }> = [];
  #seq = 0;
  #ready = false;
  readonly #wake = new WakeTimer(() => this.#pump());

  constructor(options: AddQueueOptions) {
    this.#options = options;
    this.#answerTimeoutMs = options.answerTimeoutMs ?? 30_000;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#limiter = new LimiterMirror(options.limits ?? QUEUE_LIMIT_GUEST, {
      marginMs: options.marginMs ?? 30,
      headroom: options.burstHeadroom ?? 1,
    });
    this.#waiting = new FairQueue(options.maxPerSource ?? 100, "playlist addition");
  }

  /** Additions not yet sent, or to be sent again. */
  get pending(): number {
    return this.#retry.length + this.#waiting.size;
  }

  get inflight(): number {
    return this.#inflight.length;
  }

  get limits(): Readonly<FloodParams> {
    return this.#limiter.params;
  }

  setLimits(limits: FloodParams): void {
    this.#limiter.params = limits;
    this.#schedule();
  }

  /** Throws a RangeError when the source already has `maxPerSource` additions waiting. */
  enqueue(addition: Addition): void {
    this.#waiting.push(addition.source, { ...addition, seq: this.#seq++, attempts: 0, resent: false });
    this.#schedule();
  }

  /** The socket is joined: start sending. */
  resume(): void {
    this.#ready = true;
    this.#schedule();
  }

  /** The socket went away: stop, and send every unanswered addition again on the next one. */
  pause(): void {
    this.#ready = false;
    this.#wake.clear();
    for (const { item } of this.#inflight.splice(0)) {
      item.resent = true;
      insertInOrder(this.#retry, item);
    }
    this.#limiter.reset();
  }

  /** Drops everything (connector stopping); what was waiting or in flight is reported failed. */
  clear(): void {
    this.#ready = false;
    this.#wake.clear();
    const all = [
      ...this.#retry.splice(0),
      ...this.#inflight.splice(0).map((f) => f.item),
      ...this.#waiting.drain(),
    ];
    for (const item of all) this.#settle(item, { status: "failed", reason: "the connector stopped" });
  }

  /** The server's `queue` broadcast of an item the bot queued. */
  onQueued(media: MediaRef, uid: number | undefined): void {
    const at = this.#inflight.findIndex(({ item }) => sameMedia(item.payload, media));
    if (at < 0) return;
    const { item } = this.#inflight.splice(at, 1)[0]!;
    this.#settle(item, { status: "added", uid });
  }

  /**
   * A `queueFail` frame. Returns the addition it is about (matched by media id; the oldest in flight when the
   * frame names none) and whether it will be sent again, or undefined when it is about none of ours.
   */
  onQueueFail(msg: string, id: string | undefined): { addition: Addition; retrying: boolean } | undefined {
    const at = id === undefined ? 0 : this.#inflight.findIndex(({ item }) => item.payload.id === id);
    const entry = this.#inflight[at];
    if (!entry) return undefined;
    this.#inflight.splice(at, 1);
    const { item } = entry;
    const addition: Addition = {
      payload: item.payload,
      source: item.source,
      correlationId: item.correlationId,
    };
    if (msg === TOO_QUICKLY) {
      this.#limiter.refused(Date.now());
      item.attempts += 1;
      const retrying = item.attempts < this.#maxAttempts;
      if (retrying) insertInOrder(this.#retry, item);
      else
        this.#settle(item, { status: "failed", reason: `${msg} (gave up after ${item.attempts} attempts)` });
      this.#schedule();
      return { addition, retrying };
    }
    if (item.resent && msg === ALREADY_ON_PLAYLIST) {
      // Sent again after a disconnect: the first send reached the server after all.
      this.#settle(item, { status: "added" });
    } else this.#settle(item, { status: "failed", reason: msg });
    return { addition, retrying: false };
  }

  #settle(item: Item, outcome: AddOutcome): void {
    const { payload, source, correlationId } = item;
    this.#options.onSettled({ payload, source, correlationId }, outcome);
  }

  #pump(): void {
    const now = Date.now();
    while (this.#inflight.length > 0 && now - this.#inflight[0]!.sentAt > this.#answerTimeoutMs) {
      this.#settle(this.#inflight.shift()!.item, { status: "unconfirmed" });
    }
    while (this.#ready && this.pending > 0 && this.#limiter.waitMs(now) === 0) {
      const item = this.#retry.shift() ?? this.#waiting.shift()!;
      if (!this.#options.emit(item.payload)) {
        this.#retry.unshift(item);
        this.#ready = false;
        return;
      }
      this.#limiter.sent(now);
      this.#inflight.push({ item, sentAt: now });
    }
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#ready) return;
    const now = Date.now();
    let wait: number;
    if (this.pending > 0) wait = this.#limiter.waitMs(now);
    else if (this.#inflight.length > 0)
      wait = Math.max(0, this.#inflight[0]!.sentAt + this.#answerTimeoutMs + 1 - now);
    else return;
    this.#wake.within(wait);
  }
}

function sameMedia(a: MediaRef, b: MediaRef): boolean {
  return a.id === b.id && a.type === b.type;
}
