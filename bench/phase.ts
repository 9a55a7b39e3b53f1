import type { LatencySummary } from "./histogram.js";
import { type MatchCounts, Matcher, type Reply } from "./matcher.js";
import { pace } from "./pacer.js";

/**
 * One measured phase: pace messages into a path at a fixed rate, match every reply, wait for the
 * stragglers (up to `drainMs`), and summarise. A *path* is what is measured: the platform (router →
 * sandboxed plugin → gate) or the raw NATS relay.
 */

export interface BenchPath {
  readonly name: string;
  /** Publishes message `seq`; returns the correlationId its reply will carry. */
  send(seq: number): string;
  /** Delivers every reply seen from now on to `onReply` until the returned function is called. */
  onReplies(onReply: (reply: Reply) => void): () => void;
  /** Whether a reply's `source` counts as a success (the platform: a plugin answered). */
  isSuccess(source: string): boolean;
}

export interface PhaseSettings {
  rate: number;
  durationMs: number;
  /** How long to wait for replies after the last send before counting the rest as lost. */
  drainMs: number;
  onProgress?: (progress: PhaseProgress) => void;
}

export interface PhaseProgress {
  path: string;
  rate: number;
  sent: number;
  replied: number;
  failed: number;
  pending: number;
  elapsedMs: number;
  durationMs: number;
  p99Ms: number;
}

export interface PhaseResult {
  path: string;
  offeredRate: number;
  durationMs: number;
  scheduled: number;
  sent: number;
  replied: number;
  failed: number;
  lost: number;
  duplicates: number;
  unexpected: number;
  /** Sources of failed replies with counts (e.g. `core`: the router answered with an error). */
  failedSources: Record<string, number>;
  /** Messages sent per second of sending time. */
  sendRate: number;
  /** Plugin replies per second, from the first send to the last reply. */
  achievedRate: number;
  /** Largest delay of a send behind its schedule (the sender's own stall), ms. */
  maxSendLagMs: number;
  /** Intended send → reply received, ms. */
  latency: LatencySummary;
  /** Per second of the schedule: replies, how many took over 5 ms, the slowest (ms). Shows when stalls happen. */
  timeline: TimelineSecond[];
}

export interface TimelineSecond {
  second: number;
  replied: number;
  over5ms: number;
  maxMs: number;
}

/** Buckets successful replies by the second (of the schedule) their message was due in. */
export class Timeline {
  readonly #seconds: TimelineSecond[] = [];
  readonly #origin: number;

  constructor(origin: number) {
    this.#origin = origin;
  }

  record(intendedMs: number, latencyMs: number): void {
    const second = Math.max(0, Math.floor((intendedMs - this.#origin) / 1000));
    for (let i = this.#seconds.length; i <= second; i++)
      this.#seconds.push({ second: i, replied: 0, over5ms: 0, maxMs: 0 });
    const s = this.#seconds[second]!;
    s.replied++;
    if (latencyMs > 5) s.over5ms++;
    if (latencyMs > s.maxMs) s.maxMs = Math.round(latencyMs * 10) / 10;
  }

  seconds(): TimelineSecond[] {
    return this.#seconds.map((s) => ({ ...s }));
  }
}

export async function runPhase(path: BenchPath, settings: PhaseSettings): Promise<PhaseResult> {
  const timeline = new Timeline(performance.now());
  const matcher = new Matcher({
    isSuccess: (s) => path.isSuccess(s),
    onLatency: (intended, latency) => timeline.record(intended, latency),
  });
  let lastReplyAt = 0;
  const stop = path.onReplies((reply) => {
    if (matcher.onReply(reply)) lastReplyAt = performance.now();
  });
  const started = performance.now();
  const progress = (sent: number, elapsedMs: number) => {
    if (!settings.onProgress) return;
    const c = matcher.counts();
    settings.onProgress({
      path: path.name,
      rate: settings.rate,
      sent,
      replied: c.replied,
      failed: c.failed,
      pending: c.pending,
      elapsedMs,
      durationMs: settings.durationMs,
      p99Ms: matcher.latency.summary().p99,
    });
  };
  let paced: Awaited<ReturnType<typeof pace>>;
  try {
    paced = await pace({
      rate: settings.rate,
      durationMs: settings.durationMs,
      send: (seq, intendedMs) => {
        // Registered before the publish can be answered: replies arrive on a later turn of the loop.
        const id = path.send(seq);
        matcher.expect(id, intendedMs);
      },
      onProgress: progress,
    });
    await matcher.drained(settings.drainMs);
  } finally {
    stop();
  }
  const c: MatchCounts = matcher.counts();
  const sendingMs = Math.max(1, paced.elapsedMs);
  const answeringMs = Math.max(sendingMs, lastReplyAt - started);
  return {
    path: path.name,
    offeredRate: settings.rate,
    durationMs: settings.durationMs,
    scheduled: paced.scheduled,
    sent: paced.sent,
    replied: c.replied,
    failed: c.failed,
    lost: c.pending,
    duplicates: c.duplicates,
    unexpected: c.unexpected,
    failedSources: Object.fromEntries(matcher.failedSources),
    sendRate: round1((paced.sent * 1000) / sendingMs),
    achievedRate: round1((c.replied * 1000) / answeringMs),
    maxSendLagMs: round1(paced.maxLagMs),
    latency: matcher.latency.summary(),
    timeline: timeline.seconds(),
  };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
