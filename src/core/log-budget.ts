import type { Logger } from "./logger.js";

/**
 * A budget of log lines per window, for lines whose rate outsiders decide: a plugin's own log calls, the
 * gate's refusals of a misbehaving plugin, the router's failures under a chat flood. Without it anyone who
 * can type in chat or ship a plugin can fill the operator's disk and bury the lines that matter. What is
 * cut is counted, and said once the next line is allowed, so the log shows that (and how much) is missing.
 * Allocation-free per call: it sits on paths that run for every message.
 */
export class LogBudget {
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

  /** Whether one more line may be written now; a refused line is counted as dropped. */
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

  /** Lines dropped since the last call. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }

  /**
   * Whether one more `what` line may be written now. When it may and earlier ones were dropped, it first
   * logs how many on `log` (with `fields`), so the gap shows where it happened.
   */
  admit(log: Logger, what: string, fields?: Record<string, unknown>): boolean {
    if (!this.take()) return false;
    const dropped = this.takeDropped();
    if (dropped > 0) log.warn({ ...fields, dropped }, `${what} log lines dropped (rate limit)`);
    return true;
  }
}
