/**
 * Open-loop, fixed-rate pacing with catch-up. Message `i` is *due* at `start + i × 1000 / rate`; each tick
 * sends every message that is due, however late the tick is (catch-up), so a stalled event loop produces a
 * burst rather than silently lowering the offered rate. Latency is measured from the due time (the
 * "intended" send time), which keeps a stall in the sender from hiding latency (coordinated omission).
 */

export interface PaceOptions {
  /** Messages per second. */
  rate: number;
  durationMs: number;
  /** Sends message `index`; `intendedMs` is its due time on the `now` clock. */
  send: (index: number, intendedMs: number) => void;
  /** Monotonic clock in ms. @default performance.now */
  now?: () => number;
  /** Waits for the next tick. @default a 1 ms timer */
  tick?: () => Promise<void>;
  /** Most messages sent in one tick, so one catch-up burst cannot starve the event loop. @default rate / 10 */
  maxBurst?: number;
  /** Called about once a second with the number sent so far. */
  onProgress?: (sent: number, elapsedMs: number) => void;
}

export interface PaceResult {
  sent: number;
  /** Messages the schedule called for: `rate × duration`. */
  scheduled: number;
  /** Wall time from the first due time to the last send. */
  elapsedMs: number;
  /** Largest delay of a send behind its due time, ms. */
  maxLagMs: number;
}

/** Number of messages due `elapsedMs` after the start, i.e. those with index < this. */
export function dueCount(elapsedMs: number, rate: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * rate) / 1000) + 1);
}

/** Due time of message `index`, relative to the start. */
export function dueOffsetMs(index: number, rate: number): number {
  return (index * 1000) / rate;
}

const defaultTick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

export function validateRate(rate: number, durationMs: number): void {
  if (!Number.isFinite(rate) || rate <= 0)
    throw new RangeError(`Cannot pace messages as 'rate' must be > 0: current value is ${rate}`);
  if (!Number.isFinite(durationMs) || durationMs <= 0)
    throw new RangeError(`Cannot pace messages as 'duration' must be > 0: current value is ${durationMs}`);
}

export async function pace(options: PaceOptions): Promise<PaceResult> {
  const { rate, durationMs, send } = options;
  validateRate(rate, durationMs);
  const now = options.now ?? (() => performance.now());
  const tick = options.tick ?? defaultTick;
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const maxBurst = Math.max(1, Math.floor(options.maxBurst ?? rate / 10));
  const start = now();
  let sent = 0;
  let maxLagMs = 0;
  let lastProgress = start;
  while (sent < total) {
    const t = now();
    const due = Math.min(dueCount(t - start, rate, total), sent + maxBurst);
    if (due > sent) {
      const lag = t - (start + dueOffsetMs(sent, rate));
      if (lag > maxLagMs) maxLagMs = lag;
    }
    while (sent < due) {
      send(sent, start + dueOffsetMs(sent, rate));
      sent++;
    }
    if (options.onProgress && t - lastProgress >= 1000) {
      lastProgress = t;
      options.onProgress(sent, t - start);
    }
    if (sent < total) await tick();
  }
  return { sent, scheduled: total, elapsedMs: now() - start, maxLagMs };
}
