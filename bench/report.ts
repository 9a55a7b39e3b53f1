import os from "node:os";
import type { ColdStartResult } from "./coldstart.js";
import type { PhaseProgress, PhaseResult } from "./phase.js";
import type { CoreExit } from "./platform.js";
import type { ChildProcessSample } from "./procfs.js";
import type { ResourceWindow } from "./resources.js";
import type { SaturationOutcome, SaturationSettings } from "./saturation.js";

/**
 * The report: one JSON document with the machine, the settings and every figure (so two runs can be
 * compared), a table for people, and a one-line progress display while the bench runs.
 */

/**
 * 2: the core runs as a `rosey start` child; resources split into `core` (from /proc) and `bench`.
 * 3: the raw relay runs in a process of its own (a `relay` child), no longer in the bench process.
 * 4: a saturation step that breaks is run again (`settings.saturation.retries`); steps carry `attempt`.
 * 5: `machine.cores` is what the run could use (CPU affinity, e.g. under `taskset`); `machineCores` is the
 *    machine's count, which `cores` used to be.
 */
export const REPORT_VERSION = 5;

export interface Machine {
  /** Cores this run could use: its CPU affinity, which every child inherits. The CPU totals are out of these. */
  cores: number;
  /** Cores of the machine, whether or not the run could use them. */
  machineCores: number;
  cpuModel: string;
  totalMemoryMb: number;
  node: string;
  platform: string;
  arch: string;
  /** 1/5/15-minute load averages when the run started: other work on the machine skews every figure. */
  loadAverage: number[];
}

export interface BenchSettings {
  mode: "fixed" | "saturation" | "both";
  rate: number;
  durationMs: number;
  warmupMs: number;
  drainMs: number;
  relayDurationMs: number;
  isolation: "process" | "thread";
  /** The core's `--max-semi-space-size` (MB) in this run; `rosey start` uses 2 (src/core/node-flags.ts). */
  coreSemiSpaceMb: number;
  plugins: string[];
  saturation: SaturationSettings;
  /** Whether saturation also climbs the hop floor (bench/floor.ts). */
  floor: boolean;
  coldStartRounds: number;
}

export interface ResourceFigures extends ResourceWindow {
  /** The bench's nats-server and the core's plugin host at the end of the phase, with CPU used during it. */
  children: Array<ChildProcessSample & { cpuPercent: number }>;
}

export interface FixedFigures {
  platform: PhaseResult & { resources: ResourceFigures };
  relay?: PhaseResult & { resources: ResourceFigures };
  /** platform p99 / relay p99 (and p50): what the path costs over bare NATS. */
  latencyRatio?: { p50: number; p99: number };
}

/** A saturation step, with the CPU and memory of every process while it ran. */
export type SaturationStep = PhaseResult & { resources?: ResourceFigures };

export interface SaturationFigures {
  platform: SaturationOutcome<SaturationStep>;
  relay: SaturationOutcome<SaturationStep>;
  /** platform sustained msg/s ÷ relay sustained msg/s. */
  throughputRatio: number;
  /** The hop floor's ladder (the design's hops with no platform logic), when run. */
  floor?: SaturationOutcome<SaturationStep>;
  /** floor sustained ÷ relay sustained: the most of the relay any implementation of the design reaches here. */
  floorRatio?: number;
  /** platform sustained ÷ floor sustained: how much of what the design allows Rosey's code delivers. */
  platformOfFloor?: number;
  /** Machine CPU per reply at each path's sustained step (`cpuAtStep`). */
  cpuPerReply?: Partial<Record<"platform" | "relay" | "floor", CpuAtStep | undefined>>;
}

/**
 * Where the CPU went during one step, % of one core per process, and the whole machine's CPU time per
 * reply. On a machine whose cores are all busy at saturation, sustained rates compare as the inverse of
 * `usPerReply`: this is the figure that says why one path saturates before another.
 */
export interface CpuAtStep {
  offeredRate: number;
  achievedRate: number;
  percent: {
    core: number;
    coreMain: number | undefined;
    host: number;
    nats: number;
    bench: number;
    relay: number;
    floorCore: number;
    floorHost: number;
  };
  totalPercent: number;
  usPerReply: number;
}

/** CPU of the processes in one role (the plugin host), % of one core; undefined when there is none. */
export function cpuOfRole(
  children: ReadonlyArray<{ role: string; cpuPercent: number }>,
  role: string,
): number | undefined {
  const of = children.filter((c) => c.role === role);
  return of.length ? round1(of.reduce((sum, c) => sum + c.cpuPercent, 0)) : undefined;
}

/** CPU of a path's sustained step (the last one that held at the sustained rate), when it was sampled. */
export function cpuAtStep(outcome: SaturationOutcome<SaturationStep>): CpuAtStep | undefined {
  const step = outcome.steps.find((s) => s.verdict.ok && s.offeredRate === outcome.sustainedOfferedRate);
  const r = step?.resources;
  if (!step || !r) return undefined;
  const of = (role: string) => cpuOfRole(r.children, role) ?? 0;
  const percent = {
    core: r.core?.cpuPercent ?? 0,
    coreMain: r.core?.mainThreadCpuPercent,
    host: of("plugin-host"),
    nats: of("nats-server"),
    bench: r.bench.cpuPercent,
    relay: of("relay"),
    floorCore: of("floor-core"),
    floorHost: of("floor-host"),
  };
  const totalPercent = round1(
    percent.core +
      percent.host +
      percent.nats +
      percent.bench +
      percent.relay +
      percent.floorCore +
      percent.floorHost,
  );
  const usPerReply = step.achievedRate > 0 ? Math.round((totalPercent * 10_000) / step.achievedRate) : 0;
  return {
    offeredRate: step.offeredRate,
    achievedRate: step.achievedRate,
    percent,
    totalPercent,
    usPerReply,
  };
}

export const round1 = (x: number): number => Math.round(x * 10) / 10;

export interface Target {
  name: string;
  goal: string;
  actual: string;
  met: boolean | null;
}

export interface BenchReport {
  version: typeof REPORT_VERSION;
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  settings: BenchSettings;
  /** ms from spawning `rosey start` to all five plugins running and a first command answered. */
  startupMs: number;
  /** The platform process: its pid, and how it ended (exit code 0 and no leftover processes expected). */
  core?: { pid: number; command: string; exit?: CoreExit };
  coldStart?: ColdStartResult;
  idleResources?: ResourceFigures;
  fixed?: FixedFigures;
  saturation?: SaturationFigures;
  pluginsAtEnd: Array<{ name: string; state: string; heapMb: number; restarts: number; violations: number }>;
  targets: Target[];
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cores: os.availableParallelism(),
    machineCores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    totalMemoryMb: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** A design.md §9 limit on one figure: how the report states it, and whether a value meets it. */
export interface TargetLimit {
  goal: string;
  met(value: number): boolean;
}

const atMost = (max: number, unit: string): TargetLimit => ({
  goal: `≤ ${max} ${unit}`,
  met: (value) => value <= max,
});

/**
 * design.md §9's limits on single figures, in one place: `evaluateTargets` judges a run on them and
 * `rosey bench compare` (compare.ts) judges each of two runs' figures on them.
 */
export const TARGET_LIMITS = {
  p99Ms: atMost(5, "ms"),
  lost: { goal: "0", met: (count: number) => count === 0 },
  /** Of the platform's sustained rate over the relay's, a fraction. */
  saturationRatio: { goal: "≥ 40%", met: (ratio: number) => ratio >= 0.4 },
  coldStartMs: atMost(300, "ms"),
  idleWorkerMb: atMost(15, "MB"),
  coreRssMb: atMost(100, "MB"),
} as const satisfies Record<string, TargetLimit>;

/** "2", or "1 of 2" when the run could use fewer cores than the machine has (its CPU affinity). */
export const coresOf = (m: { cores: number; machineCores?: number | undefined }): string =>
  m.machineCores === undefined || m.cores === m.machineCores
    ? String(m.cores)
    : `${m.cores} of ${m.machineCores}`;

/** Evaluates design.md §9; `null` when the run did not measure the figure. */
export function evaluateTargets(report: Omit<BenchReport, "targets">): Target[] {
  const targets: Target[] = [];
  const fixed = report.fixed?.platform;
  targets.push({
    name: "fixed rate",
    goal: "1000 msg/s for 60 s, all answered",
    actual: fixed
      ? `${fixed.offeredRate} msg/s for ${fixed.durationMs / 1000} s: ${fixed.replied}/${fixed.sent} answered, ${fixed.achievedRate} replies/s`
      : "not run",
    met: fixed
      ? fixed.offeredRate >= 1000 && fixed.durationMs >= 60_000 && fixed.replied === fixed.scheduled
      : null,
  });
  targets.push({
    name: "p99 latency",
    goal: TARGET_LIMITS.p99Ms.goal,
    actual: fixed ? `${fixed.latency.p99} ms` : "not run",
    met: fixed ? TARGET_LIMITS.p99Ms.met(fixed.latency.p99) : null,
  });
  targets.push({
    name: "lost",
    goal: TARGET_LIMITS.lost.goal,
    actual: fixed ? `${fixed.lost} lost, ${fixed.failed} failed` : "not run",
    met: fixed ? TARGET_LIMITS.lost.met(fixed.lost) && TARGET_LIMITS.lost.met(fixed.failed) : null,
  });
  const sat = report.saturation;
  targets.push({
    name: "saturation vs raw relay",
    goal: TARGET_LIMITS.saturationRatio.goal,
    actual: sat
      ? `${Math.round(sat.platform.sustainedRate)} / ${Math.round(sat.relay.sustainedRate)} msg/s = ${(sat.throughputRatio * 100).toFixed(1)}%`
      : "not run",
    met: sat ? TARGET_LIMITS.saturationRatio.met(sat.throughputRatio) : null,
  });
  const cold = report.coldStart;
  targets.push({
    name: "plugin cold start",
    goal: TARGET_LIMITS.coldStartMs.goal,
    actual: cold
      ? `p50 ${cold.p50Ms} ms, max ${cold.maxMs} ms (max after first ${cold.maxWarmMs} ms)`
      : "not run",
    met: cold ? TARGET_LIMITS.coldStartMs.met(cold.maxMs) : null,
  });
  const idleRss = cold?.idle.rssPerWorkerMb;
  targets.push({
    name: "idle worker memory",
    goal: TARGET_LIMITS.idleWorkerMb.goal,
    actual: cold ? `heap ≤ ${cold.idle.maxHeapMb} MB; +${idleRss ?? "?"} MB RSS per worker` : "not run",
    met: cold
      ? TARGET_LIMITS.idleWorkerMb.met(cold.idle.maxHeapMb) &&
        (idleRss === undefined || TARGET_LIMITS.idleWorkerMb.met(idleRss))
      : null,
  });
  const rssMax = Math.max(
    report.idleResources?.core?.rssMb.max ?? 0,
    report.fixed?.platform.resources.core?.rssMb.max ?? 0,
  );
  targets.push({
    name: "core RSS (5 plugins)",
    goal: TARGET_LIMITS.coreRssMb.goal,
    actual: rssMax > 0 ? `${rssMax} MB (rosey start process, max idle / fixed-rate)` : "not measured",
    met: rssMax > 0 ? TARGET_LIMITS.coreRssMb.met(rssMax) : null,
  });
  return targets;
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + " ".repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : " ".repeat(n - s.length) + s);

/** A table for people: the first column left-aligned, the figures right-aligned (also `rosey bench compare`'s). */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? pad(c, widths[i]!) : lpad(c, widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

type PhaseRow = Pick<PhaseResult, "offeredRate" | "achievedRate" | "sent" | "lost" | "failed" | "latency">;

function phaseRow(label: string, p: PhaseRow): string[] {
  const l = p.latency;
  return [
    label,
    String(p.offeredRate),
    String(p.achievedRate),
    String(p.sent),
    String(p.lost),
    String(p.failed),
    String(l.p50),
    String(l.p90),
    String(l.p99),
    String(l.p999),
    String(l.max),
  ];
}

const PHASE_HEADERS = [
  "phase",
  "offered/s",
  "replies/s",
  "sent",
  "lost",
  "failed",
  "p50 ms",
  "p90",
  "p99",
  "p99.9",
  "max",
];

export function renderReport(report: BenchReport): string {
  const out: string[] = [];
  const m = report.machine;
  out.push(
    `Rosey bench — ${coresOf(m)} cores, ${m.cpuModel}, Node ${m.node}, isolation ${report.settings.isolation}`,
  );
  out.push(`platform startup ${report.startupMs} ms; load average at start ${m.loadAverage.join(" ")}`);
  if (report.core) {
    const exit = report.core.exit;
    out.push(
      `core: ${report.core.command} (pid ${report.core.pid})${
        exit
          ? `; exited ${exit.code === null ? `on ${exit.signal}` : `with code ${exit.code}`} after ${exit.stoppedBy}${exit.leftover.length ? `, LEFTOVER pids ${exit.leftover.join(", ")}` : ""}`
          : ""
      }`,
    );
  }
  const rows: string[][] = [];
  if (report.fixed) {
    rows.push(phaseRow("fixed: platform", report.fixed.platform));
    if (report.fixed.relay) rows.push(phaseRow("fixed: raw relay", report.fixed.relay));
  }
  if (report.saturation) {
    const ladders = [
      ["platform", report.saturation.platform],
      ["relay", report.saturation.relay],
      ["floor", report.saturation.floor],
    ] as const;
    for (const [path, ladder] of ladders)
      for (const s of ladder?.steps ?? [])
        rows.push(
          phaseRow(
            `sat ${path} ${s.verdict.ok ? "ok" : "BROKE"}${s.attempt > 1 ? ` (try ${s.attempt})` : ""}`,
            s,
          ),
        );
  }
  if (rows.length) out.push("", table(PHASE_HEADERS, rows));
  if (report.fixed?.latencyRatio)
    out.push(
      `latency platform/relay: p50 ×${report.fixed.latencyRatio.p50}, p99 ×${report.fixed.latencyRatio.p99}`,
    );
  if (report.saturation) {
    const s = report.saturation;
    out.push(
      `saturation: platform ${Math.round(s.platform.sustainedRate)} msg/s (${s.platform.stoppedBecause})`,
      `            relay    ${Math.round(s.relay.sustainedRate)} msg/s (${s.relay.stoppedBecause})`,
      `            ratio ${(s.throughputRatio * 100).toFixed(1)}%`,
    );
    if (s.floor)
      out.push(
        `hop floor:  ${Math.round(s.floor.sustainedRate)} msg/s (${s.floor.stoppedBecause}) = ${pct(s.floorRatio)} of the relay; the platform reaches ${pct(s.platformOfFloor)} of it`,
      );
  }
  const cpu = report.saturation?.cpuPerReply;
  if (cpu && Object.keys(cpu).length > 0) {
    const cpuRows = (["platform", "relay", "floor"] as const).flatMap((path) => {
      const c = cpu[path];
      if (!c) return [];
      const p = c.percent;
      return [
        [
          path,
          String(Math.round(c.achievedRate)),
          `${p.core}${p.coreMain === undefined ? "" : ` (${p.coreMain})`}`,
          String(p.host),
          String(p.nats),
          String(p.bench),
          p.relay ? String(p.relay) : "-",
          p.floorCore || p.floorHost ? `${p.floorCore} + ${p.floorHost}` : "-",
          String(c.totalPercent),
          String(c.usPerReply),
        ],
      ];
    });
    out.push(
      "",
      table(
        [
          "CPU at saturation",
          "replies/s",
          "core % (main)",
          "host %",
          "nats %",
          "bench %",
          "relay %",
          "floor core + host %",
          "total %",
          "µs/reply",
        ],
        cpuRows,
      ),
      `each path's sustained step; total = every process of the machine's run (${report.machine.cores} cores = ${report.machine.cores * 100}%);`,
      "µs/reply = machine CPU time per reply: with the cores busy, sustained rates compare as its inverse.",
    );
  }
  const res: string[][] = [];
  const resRow = (label: string, r: ResourceFigures) => {
    const child = (role: string) => r.children.filter((c) => c.role === role);
    const host = child("plugin-host");
    const nats = child("nats-server");
    res.push([
      label,
      r.core ? String(r.core.rssMb.max) : "-",
      r.core
        ? `${r.core.cpuPercent}${r.core.mainThreadCpuPercent === undefined ? "" : ` (${r.core.mainThreadCpuPercent})`}`
        : "-",
      host.length ? host.map((h) => `${h.rssMb}`).join("+") : "-",
      host.length ? host.map((h) => `${h.cpuPercent}`).join("+") : "-",
      nats.length ? String(nats[0]!.cpuPercent) : "-",
      String(r.bench.rssMb.max),
      String(r.bench.cpuPercent),
      String(r.bench.eventLoopUtilization),
      Object.entries(r.workerHeapMb)
        .map(([n, v]) => `${n} ${v}`)
        .join(", "),
    ]);
  };
  if (report.idleResources) resRow("idle (5 plugins)", report.idleResources);
  if (report.fixed) resRow("fixed: platform", report.fixed.platform.resources);
  if (report.fixed?.relay) resRow("fixed: relay", report.fixed.relay.resources);
  if (res.length)
    out.push(
      "",
      table(
        [
          "resources",
          "core RSS MB",
          "core CPU % (main)",
          "host RSS MB",
          "host CPU %",
          "nats CPU %",
          "bench RSS MB",
          "bench CPU %",
          "bench ELU",
          "worker heap MB",
        ],
        res,
      ),
      "core = the rosey start process (from /proc); (main) = its main thread, the event loop: near 100 it is saturated;",
      "host = its plugin-host child; bench = this process (generator, matcher), not part of the core.",
    );
  if (report.coldStart) {
    const c = report.coldStart;
    out.push(
      "",
      `cold start (${c.isolation}, ${c.samplesMs.length} spawns): p50 ${c.p50Ms} ms, max ${c.maxMs} ms, max after first ${c.maxWarmMs} ms`,
      `idle worker: heap ${Object.entries(c.idle.heapMb)
        .map(([n, v]) => `${n} ${v}`)
        .join(", ")} MB; +${c.idle.rssPerWorkerMb ?? "?"} MB RSS per worker`,
    );
  }
  out.push(
    "",
    table(
      ["target", "goal", "actual", "status"],
      report.targets.map((t) => [t.name, t.goal, t.actual, targetStatus(t.met)]),
    ),
  );
  return `${out.join("\n")}\n`;
}

export function progressLine(p: PhaseProgress): string {
  const pct = Math.min(100, Math.round((p.elapsedMs / p.durationMs) * 100));
  return `[${p.path} @ ${p.rate}/s] ${lpad(String(pct), 3)}%  sent ${p.sent}  replied ${p.replied}  failed ${p.failed}  pending ${p.pending}  p99 ${p.p99Ms} ms`;
}

export const pct = (ratio: number | undefined): string =>
  ratio === undefined ? "n/a" : `${(ratio * 100).toFixed(1)}%`;

/** A target's verdict as the tables print it; `null` = the run did not measure the figure. */
export const targetStatus = (met: boolean | null): string => (met === null ? "n/a" : met ? "met" : "MISSED");
