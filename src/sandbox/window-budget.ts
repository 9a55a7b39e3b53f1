/**
 * A budget of events per time window, counting what it refuses. The worker uses it for its log lines, and
 * the core's LogBudget builds on it; it lives here because a worker loads nothing from the core.
 * Allocation-free per call: it sits on paths that run for every message.
 */
export class WindowBudget {
  readonly perWindow: number;
  readonly windowMs: number;
  readonly #now: () => number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #used = 0;
  #dropped = 0;

  constructor(perWindow: number, windowMs = 1_000, now: () => number = Date.now) {
    this.perWindow = perWindow;
    this.windowMs = windowMs;
    this.#now = now;
  }

  /** Whether one more may pass now; a refused one is counted as dropped. */
  take(): boolean {
    const now = this.#now();
    if (now - this.#windowStart >= this.windowMs) {
      this.#windowStart = now;
      this.#used = 0;
    }
    if (this.#used < this.perWindow) {
      this.#used++;
      return true;
    }
    this.#dropped++;
    return false;
  }

  /** Dropped since the last call. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}
