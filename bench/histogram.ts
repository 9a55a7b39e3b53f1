import * as hdr from "hdr-histogram-js";

/**
 * Latency histogram (HdrHistogram, 3 significant digits). Values are recorded in microseconds so sub-
 * millisecond latencies keep their resolution; the summary reports milliseconds.
 */

export interface LatencySummary {
  count: number;
  /** Milliseconds. */
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Highest value tracked: 2 minutes, far past any timeout on the path. */
const HIGHEST_US = 120_000_000;

export class LatencyHistogram {
  readonly #h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    bitBucketSize: 32,
    autoResize: false,
    useWebAssembly: false,
  });

  /** Records one latency given in milliseconds (negative values clamp to 0, huge ones to the max). */
  recordMs(ms: number): void {
    const us = Math.round(ms * 1000);
    this.#h.recordValue(Math.min(HIGHEST_US, Math.max(0, us)));
  }

  get count(): number {
    return this.#h.totalCount;
  }

  reset(): void {
    this.#h.reset();
  }

  summary(): LatencySummary {
    return summarize(this.#h);
  }
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

function summarize(h: hdr.Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  const at = (p: number) => round3(h.getValueAtPercentile(p) / 1000);
  return {
    count: h.totalCount,
    min: round3(h.minNonZeroValue === Number.MAX_SAFE_INTEGER ? 0 : h.minNonZeroValue / 1000),
    mean: round3(h.mean / 1000),
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: round3(h.maxValue / 1000),
  };
}
