import type { ComparedReport } from "./compare-input.js";
import { cpuOfRole, round1, TARGET_LIMITS, type TargetLimit } from "./report.js";

/**
 * What `rosey bench compare` compares: each figure of a report it reads, its kind (which way is better,
 * how much it moves between runs of the same code) and its design.md §9 limit where it has one. A table,
 * so that adding a figure is adding a row.
 */

/** How a figure behaves between runs: which way is better, and how far it moves with no change in the code. */
export type FigureKind = "throughput" | "latency" | "cpu" | "memory" | "count";

/**
 * Run-to-run noise on the 2-core machine of bench/README.md: a change counts as moved only when it is
 * beyond both the relative and the absolute step (the absolute step keeps 0.4 → 0.6% of a core from
 * reading as +50%).
 * - latency (and the platform/relay latency ratios, which follow p99): ±20%, the README's tail-latency spread;
 * - throughput (msg/s, sustained shares of the relay): ±10%; full runs gave the platform 15.6–17.1k, and at a
 *   fixed rate replies/s equal the offered rate unless a path falls behind;
 * - cpu (% of a core, µs per reply): ±10% and 1 point; interleaved runs of the same code differed by ~2
 *   points at 50–67% of a core, and µs per reply by 90–105 over full runs;
 * - memory: ±5% and 1 MB; core RSS at 1,000 msg/s was 88–97 MB over runs;
 * - count (lost, failed): any change, since the target is none at all.
 */
export const FIGURE_KINDS: Record<
  FigureKind,
  { better: "higher" | "lower"; relative: number; absolute: number; noun: string }
> = {
  latency: { better: "lower", relative: 0.2, absolute: 0.1, noun: "latency" },
  throughput: { better: "higher", relative: 0.1, absolute: 0, noun: "throughput" },
  cpu: { better: "lower", relative: 0.1, absolute: 1, noun: "CPU" },
  memory: { better: "lower", relative: 0.05, absolute: 1, noun: "memory" },
  count: { better: "lower", relative: 0, absolute: 0, noun: "lost and failed" },
};

/**
 * relay/floor: the baselines, which move with the machine; platform: Rosey's own figures; ratio: platform
 * over a baseline, which cancels most of the machine's noise.
 */
export type FigurePath = "relay" | "floor" | "platform" | "ratio";

/** The report sections the comparison reads, by their key in the report. */
export type SectionKey = "fixed" | "saturation" | "idleResources" | "coldStart";

/** One figure to compare: where it is in a report, and how to read it. */
export interface FigureSpec {
  id: string;
  figure: string;
  path: FigurePath;
  kind: FigureKind;
  gauge?: true;
  limit?: TargetLimit;
  value(report: ComparedReport): number | undefined;
}

function largest(values: Record<string, number>): number | undefined {
  // A loop, not Math.max(...): a record of many keys would overflow the stack as arguments.
  let max: number | undefined;
  for (const value of Object.values(values)) if (max === undefined || value > max) max = value;
  return max;
}

/** A fraction of the report (0.178) as the percent the table shows (17.8), judged on the fraction. */
const percentOf = (ratio: number | undefined): number | undefined =>
  ratio === undefined ? undefined : round1(ratio * 100);
const percentLimit = (limit: TargetLimit): TargetLimit => ({
  goal: limit.goal,
  met: (percent) => limit.met(percent / 100),
});

const PERCENTILES = [
  ["p50", "p50"],
  ["p90", "p90"],
  ["p99", "p99"],
  ["p999", "p99.9"],
  ["max", "max"],
] as const;

/** The figures of each section, in the README's order: the relay, the platform, then their ratios. */
export const SECTIONS: ReadonlyArray<{ key: SectionKey; title: string; figures: FigureSpec[] }> = [
  {
    key: "fixed",
    title: "fixed rate",
    figures: [
      {
        id: "fixed.relay.achievedRate",
        figure: "relay replies/s",
        path: "relay",
        kind: "throughput",
        gauge: true,
        value: (r) => r.fixed?.relay?.achievedRate,
      },
      {
        id: "fixed.relay.latency.p50",
        figure: "relay p50 ms",
        path: "relay",
        kind: "latency",
        value: (r) => r.fixed?.relay?.latency.p50,
      },
      {
        id: "fixed.relay.latency.p99",
        figure: "relay p99 ms",
        path: "relay",
        kind: "latency",
        gauge: true,
        value: (r) => r.fixed?.relay?.latency.p99,
      },
      {
        id: "fixed.platform.achievedRate",
        figure: "platform replies/s",
        path: "platform",
        kind: "throughput",
        value: (r) => r.fixed?.platform.achievedRate,
      },
      ...PERCENTILES.map(
        ([key, label]): FigureSpec => ({
          id: `fixed.platform.latency.${key}`,
          figure: `platform ${label} ms`,
          path: "platform",
          kind: "latency",
          ...(key === "p99" ? { limit: TARGET_LIMITS.p99Ms } : {}),
          value: (r) => r.fixed?.platform.latency[key],
        }),
      ),
      {
        id: "fixed.platform.lost",
        figure: "platform lost",
        path: "platform",
        kind: "count",
        limit: TARGET_LIMITS.lost,
        value: (r) => r.fixed?.platform.lost,
      },
      {
        id: "fixed.platform.failed",
        figure: "platform failed",
        path: "platform",
        kind: "count",
        limit: TARGET_LIMITS.lost,
        value: (r) => r.fixed?.platform.failed,
      },
      {
        id: "fixed.platform.resources.core.rssMb.max",
        figure: "core RSS MB",
        path: "platform",
        kind: "memory",
        limit: TARGET_LIMITS.coreRssMb,
        value: (r) => r.fixed?.platform.resources.core?.rssMb.max,
      },
      {
        id: "fixed.platform.resources.core.cpuPercent",
        figure: "core CPU %",
        path: "platform",
        kind: "cpu",
        value: (r) => r.fixed?.platform.resources.core?.cpuPercent,
      },
      {
        id: "fixed.platform.resources.core.mainThreadCpuPercent",
        figure: "core main-thread CPU %",
        path: "platform",
        kind: "cpu",
        value: (r) => r.fixed?.platform.resources.core?.mainThreadCpuPercent,
      },
      {
        id: "fixed.platform.resources.children.plugin-host.cpuPercent",
        figure: "host CPU %",
        path: "platform",
        kind: "cpu",
        value: (r) => r.fixed && cpuOfRole(r.fixed.platform.resources.children, "plugin-host"),
      },
      {
        id: "fixed.platform.resources.workerHeapMb",
        figure: "worker heap MB (largest)",
        path: "platform",
        kind: "memory",
        value: (r) => r.fixed && largest(r.fixed.platform.resources.workerHeapMb),
      },
      {
        id: "fixed.latencyRatio.p50",
        figure: "platform/relay p50 ratio",
        path: "ratio",
        kind: "latency",
        value: (r) => r.fixed?.latencyRatio?.p50,
      },
      {
        id: "fixed.latencyRatio.p99",
        figure: "platform/relay p99 ratio",
        path: "ratio",
        kind: "latency",
        value: (r) => r.fixed?.latencyRatio?.p99,
      },
    ],
  },
  {
    key: "saturation",
    title: "saturation",
    figures: [
      {
        id: "saturation.relay.sustainedRate",
        figure: "relay sustained msg/s",
        path: "relay",
        kind: "throughput",
        gauge: true,
        value: (r) => r.saturation?.relay.sustainedRate,
      },
      {
        id: "saturation.platform.sustainedRate",
        figure: "platform sustained msg/s",
        path: "platform",
        kind: "throughput",
        value: (r) => r.saturation?.platform.sustainedRate,
      },
      {
        id: "saturation.throughputRatio",
        figure: "platform/relay sustained %",
        path: "ratio",
        kind: "throughput",
        limit: percentLimit(TARGET_LIMITS.saturationRatio),
        value: (r) => percentOf(r.saturation?.throughputRatio),
      },
      {
        id: "saturation.cpuPerReply.relay.usPerReply",
        figure: "relay µs/reply",
        path: "relay",
        kind: "cpu",
        value: (r) => r.saturation?.cpuPerReply?.relay?.usPerReply,
      },
      {
        id: "saturation.cpuPerReply.platform.usPerReply",
        figure: "platform µs/reply",
        path: "platform",
        kind: "cpu",
        value: (r) => r.saturation?.cpuPerReply?.platform?.usPerReply,
      },
      {
        id: "saturation.floor.sustainedRate",
        figure: "floor sustained msg/s",
        path: "floor",
        kind: "throughput",
        value: (r) => r.saturation?.floor?.sustainedRate,
      },
      {
        id: "saturation.cpuPerReply.floor.usPerReply",
        figure: "floor µs/reply",
        path: "floor",
        kind: "cpu",
        value: (r) => r.saturation?.cpuPerReply?.floor?.usPerReply,
      },
      {
        id: "saturation.floorRatio",
        figure: "floor/relay sustained %",
        path: "ratio",
        kind: "throughput",
        value: (r) => percentOf(r.saturation?.floorRatio),
      },
      {
        id: "saturation.platformOfFloor",
        figure: "platform/floor sustained %",
        path: "ratio",
        kind: "throughput",
        value: (r) => percentOf(r.saturation?.platformOfFloor),
      },
    ],
  },
  {
    key: "idleResources",
    title: "idle (5 plugins)",
    figures: [
      {
        id: "idleResources.core.rssMb.max",
        figure: "core RSS MB (idle)",
        path: "platform",
        kind: "memory",
        limit: TARGET_LIMITS.coreRssMb,
        value: (r) => r.idleResources?.core?.rssMb.max,
      },
    ],
  },
  {
    key: "coldStart",
    title: "cold start",
    figures: [
      {
        id: "coldStart.p50Ms",
        figure: "cold start p50 ms",
        path: "platform",
        kind: "latency",
        value: (r) => r.coldStart?.p50Ms,
      },
      {
        id: "coldStart.maxMs",
        figure: "cold start max ms",
        path: "platform",
        kind: "latency",
        limit: TARGET_LIMITS.coldStartMs,
        value: (r) => r.coldStart?.maxMs,
      },
      {
        id: "coldStart.idle.maxHeapMb",
        figure: "idle worker heap MB (largest)",
        path: "platform",
        kind: "memory",
        limit: TARGET_LIMITS.idleWorkerMb,
        value: (r) => r.coldStart?.idle.maxHeapMb,
      },
      {
        id: "coldStart.idle.rssPerWorkerMb",
        figure: "idle worker RSS MB (each)",
        path: "platform",
        kind: "memory",
        limit: TARGET_LIMITS.idleWorkerMb,
        value: (r) => r.coldStart?.idle.rssPerWorkerMb,
      },
    ],
  },
];

/** `FIGURE_KINDS`' relative steps in words, for the table's footnote and the reading. */
export function noiseInWords(): string {
  return Object.values(FIGURE_KINDS)
    .map((k) => (k.relative > 0 ? `${k.noun} ±${Math.round(k.relative * 100)}%` : `${k.noun}: any change`))
    .join(", ");
}
