/**
 * Our copy of one of the server's per-user rate limiters (cytube-protocol.md §6.2: chat and PMs; §4.3:
 * playlist additions use the same algorithm). Sending only what the copy allows is what keeps the server
 * from dropping our frames; the margin and headroom absorb jitter between our send and its receipt.
 */

/** One limiter setting, as the server applies it. */
export interface FloodParams {
  burst: number;
  /** Frames per second once the burst is spent. */
  sustained: number;
  /** Seconds without an allowed frame after which the burst count resets. */
  cooldown: number;
}

export class LimiterMirror {
  #params: FloodParams;
  readonly #marginMs: number;
  readonly #headroom: number;
  #count = 0;
  #lastAllowed = Number.NEGATIVE_INFINITY;

  constructor(params: FloodParams, options: { marginMs: number; headroom: number }) {
    this.#params = { ...params };
    this.#marginMs = options.marginMs;
    this.#headroom = options.headroom;
  }

  get params(): Readonly<FloodParams> {
    return this.#params;
  }

  set params(params: FloodParams) {
    this.#params = { ...params };
  }

  /**
   * Milliseconds until the server would allow the next frame (0 = now). `cost` is how many times the server
   * checks its limiter for that frame: a chat line styled `/me ` or `/sp ` is checked twice in a row, and past
   * the burst only a quiet `cooldown` lets two checks at the same instant both pass.
   */
  waitMs(now: number, cost = 1): number {
    const { burst, sustained, cooldown } = this.#params;
    const sinceLast = now - this.#lastAllowed;
    const resetAfter = cooldown * 1000 + this.#marginMs;
    if (sinceLast > resetAfter) return 0;
    if (this.#count + cost <= Math.max(1, burst - this.#headroom)) return 0;
    if (cost > 1) return resetAfter - sinceLast + 1;
    return Math.max(0, 1000 / sustained + this.#marginMs - sinceLast);
  }

  /** A frame costing `cost` limiter checks was sent now. */
  sent(now: number, cost = 1): void {
    if (now - this.#lastAllowed > this.#params.cooldown * 1000 + this.#marginMs) this.#count = cost;
    else this.#count += cost;
    this.#lastAllowed = now;
  }

  /** The server refused a frame as over its limit: it is past the burst, and allowed its last frame no later than now. */
  refused(now: number): void {
    this.#count = Math.max(this.#count, this.#params.burst);
    this.#lastAllowed = now;
  }

  /** A new socket: the server starts a fresh limiter. */
  reset(): void {
    this.#count = 0;
    this.#lastAllowed = Number.NEGATIVE_INFINITY;
  }
}
