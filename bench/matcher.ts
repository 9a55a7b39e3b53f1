import { LatencyHistogram } from "./histogram.js";

/**
 * Matches replies to the messages that caused them by correlationId (the router uses the chat message's
 * envelope id as the command's correlationId; the gate keeps it on the plugin's reply). A reply whose
 * `source` is not a plugin (the router's "unknown command", "please wait", "took too long" answers) counts
 * as failed, not as delivered. A message with no reply by the end of the phase is lost.
 */

export interface MatchCounts {
  expected: number;
  /** Answered by a plugin. */
  replied: number;
  /** Answered by someone else (the router's error replies). */
  failed: number;
  /** Replies for a correlationId already answered. */
  duplicates: number;
  /** Replies whose correlationId was never sent in this phase. */
  unexpected: number;
  /** Still unanswered. */
  pending: number;
}

export interface Reply {
  correlationId: unknown;
  source: unknown;
}

export class Matcher {
  /** correlationId → intended send time (ms on the `now` clock). */
  readonly #pending = new Map<string, number>();
  readonly #answered = new Set<string>();
  readonly latency = new LatencyHistogram();
  readonly #now: () => number;
  readonly #isSuccess: (source: string) => boolean;
  #expected = 0;
  #replied = 0;
  #failed = 0;
  #duplicates = 0;
  #unexpected = 0;
  #idle: Array<() => void> = [];
  /** Sources of failed replies, with counts, to explain failures in the report. */
  readonly failedSources = new Map<string, number>();

  readonly #onLatency: ((intendedMs: number, latencyMs: number) => void) | undefined;

  constructor(
    options: {
      now?: () => number;
      isSuccess?: (source: string) => boolean;
      /** Called for every successful reply (the phase's per-second timeline). */
      onLatency?: (intendedMs: number, latencyMs: number) => void;
    } = {},
  ) {
    this.#now = options.now ?? (() => performance.now());
    this.#onLatency = options.onLatency;
    this.#isSuccess = options.isSuccess ?? ((source) => source.startsWith("plugin:"));
  }

  /** Registers a sent message; `intendedMs` is when the schedule wanted it sent. */
  expect(correlationId: string, intendedMs: number): void {
    this.#expected++;
    this.#pending.set(correlationId, intendedMs);
  }

  /** Handles one reply; returns whether it matched a pending message. */
  onReply(reply: Reply, receivedMs = this.#now()): boolean {
    const id = reply.correlationId;
    if (typeof id !== "string") {
      this.#unexpected++;
      return false;
    }
    const intended = this.#pending.get(id);
    if (intended === undefined) {
      if (this.#answered.has(id)) this.#duplicates++;
      else this.#unexpected++;
      return false;
    }
    this.#pending.delete(id);
    this.#answered.add(id);
    const source = typeof reply.source === "string" ? reply.source : "";
    if (this.#isSuccess(source)) {
      this.#replied++;
      this.latency.recordMs(receivedMs - intended);
      this.#onLatency?.(intended, receivedMs - intended);
    } else {
      this.#failed++;
      this.failedSources.set(source, (this.failedSources.get(source) ?? 0) + 1);
    }
    if (this.#pending.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
    return true;
  }

  counts(): MatchCounts {
    return {
      expected: this.#expected,
      replied: this.#replied,
      failed: this.#failed,
      duplicates: this.#duplicates,
      unexpected: this.#unexpected,
      pending: this.#pending.size,
    };
  }

  /** Resolves true once nothing is pending, or false after `timeoutMs`. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#pending.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.#idle.indexOf(done);
        if (i >= 0) this.#idle.splice(i, 1);
        resolve(this.#pending.size === 0);
      }, timeoutMs);
      this.#idle.push(done);
    });
  }
}
