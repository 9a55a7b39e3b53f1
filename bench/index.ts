import { writeFileSync } from "node:fs";
import { RoseyError } from "../src/core/errors.js";
import { createLogger, type Logger } from "../src/core/logger.js";
import { CORE_SEMI_SPACE_MB } from "../src/core/node-flags.js";
import { terminalSafe } from "../src/sandbox/escape-text.js";
import { measureColdStart } from "./coldstart.js";
import { compareReports } from "./compare.js";
import { readReport } from "./compare-input.js";
import { renderComparison } from "./compare-render.js";
import { BENCH_COMMANDS } from "./load.js";
import { type BenchPath, type PhaseResult, runPhase } from "./phase.js";
import { type BenchPlatform, startBenchPlatform } from "./platform.js";
import { sampleChildren } from "./procfs.js";
import {
  type BenchReport,
  type BenchSettings,
  cpuAtStep,
  evaluateTargets,
  machine,
  progressLine,
  REPORT_VERSION,
  type ResourceFigures,
  renderReport,
  type SaturationStep,
} from "./report.js";
import { ResourceSampler } from "./resources.js";
import { climb, type SaturationOutcome } from "./saturation.js";

/**
 * `rosey bench`: starts the platform as a `rosey start` child process on the bench's own nats-server,
 * measures (in this process, with the platform's own spawner) plugin cold start and idle memory, then runs
 * the fixed-rate phase (platform, then the raw NATS relay at the same rate) and the saturation ladders,
 * and prints/saves the report. See bench/README.md for what each figure means.
 */

export interface BenchCliOptions {
  rate?: string | number;
  duration?: string | number;
  json?: string;
  mode?: string;
  warmup?: string | number;
  isolation?: string;
  coreSemiSpace?: string | number;
  stepDuration?: string | number;
  maxP99?: string | number;
  maxRate?: string | number;
  refineSteps?: string | number;
  retries?: string | number;
  relayDuration?: string | number;
  coldStartRounds?: string | number;
  /** commander's `--no-floor` sets this to false. */
  floor?: boolean;
  logLevel?: string;
}

function num(name: string, value: string | number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n) || n < min)
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot run the bench as '--${name}' must be a number ≥ ${min}: current value is ${value}`,
    );
  return n;
}

/** Validates CLI options into settings; throws a RoseyError (VALIDATION_FAILED) naming the option. */
export function resolveSettings(options: BenchCliOptions): BenchSettings {
  const mode = options.mode ?? "both";
  if (mode !== "fixed" && mode !== "saturation" && mode !== "both")
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot run the bench as '--mode' must be fixed, saturation or both: current value is ${mode}`,
    );
  const isolation = options.isolation ?? "process";
  if (isolation !== "process" && isolation !== "thread")
    throw new RoseyError(
      "VALIDATION_FAILED",
      `Cannot run the bench as '--isolation' must be process or thread: current value is ${isolation}`,
    );
  const rate = num("rate", options.rate, 1_000, 1);
  const durationMs = num("duration", options.duration, 60, 0.1) * 1000;
  return Object.freeze({
    mode,
    rate,
    durationMs,
    warmupMs: num("warmup", options.warmup, 3, 0) * 1000,
    drainMs: 6_000,
    relayDurationMs: num("relay-duration", options.relayDuration, durationMs / 1000, 0.1) * 1000,
    isolation,
    coreSemiSpaceMb: Math.round(num("core-semi-space", options.coreSemiSpace, CORE_SEMI_SPACE_MB, 1)),
    plugins: [...new Set(BENCH_COMMANDS.map((c) => c.plugin))],
    saturation: Object.freeze({
      startRate: rate,
      factor: 1.5,
      stepDurationMs: num("step-duration", options.stepDuration, 5, 0.1) * 1000,
      maxP99Ms: num("max-p99", options.maxP99, 50, 0.1),
      maxLossRatio: 0.001,
      minDeliveredRatio: 0.95,
      maxRate: num("max-rate", options.maxRate, 200_000, 1),
      refineSteps: Math.round(num("refine-steps", options.refineSteps, 2, 0)),
      retries: Math.round(num("retries", options.retries, 1, 0)),
    }),
    floor: options.floor !== false,
    coldStartRounds: Math.round(num("cold-start-rounds", options.coldStartRounds, 3, 1)),
  });
}

export interface RunOptions {
  settings: BenchSettings;
  logger: Logger;
  /** Where the progress line goes. @default process.stderr */
  progress?: NodeJS.WritableStream | undefined;
}

/** Runs the whole bench and returns the report (printing is the caller's business). */
export async function runBench({ settings, logger, progress }: RunOptions): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const out = progress;
  const status = (line: string) => out?.write(`\r\x1b[2K${line}`);
  const note = (line: string) => out?.write(`\r\x1b[2K${line}\n`);
  note("starting the platform…");
  const platform: BenchPlatform = await startBenchPlatform({
    logger,
    isolation: settings.isolation,
    coreSemiSpaceMb: settings.coreSemiSpaceMb,
  });
  const sampler = new ResourceSampler({
    corePid: platform.corePid,
    pluginHeaps: async () =>
      Object.fromEntries((await platform.plugins()).map((p) => [p.name, p.heapUsed] as const)),
  });
  let seq = 0;
  const nextSeqPath = (path: BenchPath): BenchPath => ({
    ...path,
    name: path.name,
    send: () => path.send(seq++),
  });
  const paths = { platform: nextSeqPath(platform.platformPath), relay: nextSeqPath(platform.relayPath) };
  // The bench's nats-server, and the core's plugin host; the core itself is sampled by the sampler.
  const processes = () => {
    const floorPid = platform.floorPid();
    return [
      ...sampleChildren().filter((c) => c.pid !== platform.corePid),
      ...sampleChildren(platform.corePid),
      ...(floorPid ? sampleChildren(floorPid) : []),
    ];
  };
  let childCpu = new Map(processes().map((c) => [c.pid, c.cpuMs]));
  let windowStart = performance.now();
  const resources = async (): Promise<ResourceFigures> => {
    await sampler.probeWorkers().catch(() => undefined);
    const window = sampler.window();
    const wallMs = Math.max(1, performance.now() - windowStart);
    const children = processes().map((c) => ({
      ...c,
      cpuPercent: Math.round(((c.cpuMs - (childCpu.get(c.pid) ?? c.cpuMs)) / wallMs) * 1000) / 10,
    }));
    childCpu = new Map(children.map((c) => [c.pid, c.cpuMs]));
    windowStart = performance.now();
    return { ...window, children };
  };
  const startWindow = async () => {
    await resources();
  };
  const phase = (path: BenchPath, rate: number, durationMs: number) =>
    runPhase(path, {
      rate,
      durationMs,
      drainMs: settings.drainMs,
      onProgress: (p) => status(progressLine(p)),
    });

  const partial: Omit<BenchReport, "targets"> = {
    version: REPORT_VERSION,
    startedAt,
    finishedAt: startedAt,
    machine: machine(),
    settings,
    startupMs: platform.startupMs,
    core: { pid: platform.corePid, command: platform.coreCommand },
    pluginsAtEnd: [],
  };
  try {
    sampler.start();
    // Idle figures first: the platform with its five plugins, doing nothing.
    await new Promise((r) => setTimeout(r, 2_000));
    partial.idleResources = await resources();
    note("measuring plugin cold start and idle worker memory…");
    partial.coldStart = await measureColdStart({
      config: platform.config,
      logger,
      rounds: settings.coldStartRounds,
    });
    if (settings.warmupMs > 0) {
      note(`warming up for ${settings.warmupMs / 1000} s (not recorded)…`);
      await phase(paths.platform, settings.rate, settings.warmupMs);
      await phase(paths.relay, settings.rate, settings.warmupMs);
    }
    if (settings.mode !== "saturation") {
      await startWindow();
      const fixedPlatform = await phase(paths.platform, settings.rate, settings.durationMs);
      const platformResources = await resources();
      note(summaryLine(fixedPlatform));
      const fixedRelay = await phase(paths.relay, settings.rate, settings.relayDurationMs);
      const relayResources = await resources();
      note(summaryLine(fixedRelay));
      partial.fixed = {
        platform: { ...fixedPlatform, resources: platformResources },
        relay: { ...fixedRelay, resources: relayResources },
        latencyRatio: {
          p50: ratio(fixedPlatform.latency.p50, fixedRelay.latency.p50),
          p99: ratio(fixedPlatform.latency.p99, fixedRelay.latency.p99),
        },
      };
    }
    if (settings.mode !== "fixed") {
      const ladder = (path: BenchPath): Promise<SaturationOutcome<SaturationStep>> =>
        climb(
          settings.saturation,
          async (rate): Promise<SaturationStep> => {
            await startWindow();
            const step = await phase(path, rate, settings.saturation.stepDurationMs);
            return { ...step, resources: await resources() };
          },
          (step, verdict, attempt) =>
            note(
              `${summaryLine(step)}  ${verdict.ok ? "held" : `BROKE: ${verdict.reason}`}${attempt > 1 ? ` (attempt ${attempt})` : ""}`,
            ),
        );
      const sat = await ladder(paths.platform);
      // Let a broken step's backlog clear before the relay climbs.
      await new Promise((r) => setTimeout(r, 3_000));
      const relay = await ladder(paths.relay);
      let floor: SaturationOutcome<SaturationStep> | undefined;
      if (settings.floor) {
        note("starting the hop floor (the design's hops with no platform logic)…");
        await new Promise((r) => setTimeout(r, 3_000));
        floor = await ladder(nextSeqPath(await platform.startFloorPath()));
      }
      partial.saturation = {
        platform: sat,
        relay,
        throughputRatio: share(sat, relay),
        ...(floor ? { floor, floorRatio: share(floor, relay), platformOfFloor: share(sat, floor) } : {}),
        cpuPerReply: {
          platform: cpuAtStep(sat),
          relay: cpuAtStep(relay),
          ...(floor ? { floor: cpuAtStep(floor) } : {}),
        },
      };
    }
    partial.pluginsAtEnd = (await platform.plugins()).map((p) => ({
      name: p.name,
      state: p.state,
      heapMb: Math.round((p.heapUsed / 1024 / 1024) * 10) / 10,
      restarts: p.restarts,
      violations: p.violations,
    }));
  } finally {
    sampler.stop();
    note("stopping the platform…");
    const exit = await platform.stop();
    if (partial.core) partial.core.exit = exit;
    if (exit.code !== 0 || exit.leftover.length > 0)
      note(
        `warning: rosey start ended with code ${exit.code} (signal ${exit.signal}, ${exit.stoppedBy}); leftover pids: ${exit.leftover.join(", ") || "none"}`,
      );
  }
  partial.finishedAt = new Date().toISOString();
  return { ...partial, targets: evaluateTargets(partial) };
}

const ratio = (a: number, b: number): number => (b > 0 ? Math.round((a / b) * 10) / 10 : 0);

/** Sustained rate of `a` as a fraction of `b`'s, to 0.1%. */
const share = (a: SaturationOutcome<SaturationStep>, b: SaturationOutcome<SaturationStep>): number =>
  b.sustainedRate > 0 ? Math.round((a.sustainedRate / b.sustainedRate) * 1000) / 1000 : 0;

function summaryLine(
  p: Pick<PhaseResult, "path" | "offeredRate" | "achievedRate" | "sent" | "lost" | "failed" | "latency">,
): string {
  return `${p.path} @ ${p.offeredRate}/s: ${p.achievedRate} replies/s, sent ${p.sent}, lost ${p.lost}, failed ${p.failed}, p50 ${p.latency.p50} ms, p99 ${p.latency.p99} ms, max ${p.latency.max} ms`;
}

/** Entry of `rosey bench`: runs, prints the table on stdout, writes `--json FILE`; returns the exit code. */
export async function benchCommand(options: BenchCliOptions): Promise<number> {
  const settings = resolveSettings(options);
  const level = options.logLevel ?? "warn";
  const logger = createLogger({ level: level as "warn", pretty: false });
  const report = await runBench({ settings, logger, progress: process.stderr });
  process.stdout.write(renderReport(report));
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`report written to ${options.json}\n`);
  }
  return 0;
}

/**
 * Entry of `rosey bench compare`: compares two `--json` reports (compare.ts), prints the table on stdout,
 * writes `--json FILE`; returns the exit code. A file that is missing or not a report throws a RoseyError
 * naming it (and the field).
 */
export function compareCommand(beforeFile: string, afterFile: string, options: { json?: string }): number {
  const comparison = compareReports(readReport(beforeFile), readReport(afterFile));
  // The reports' strings (machine, settings, keys) are whatever the files hold: no escape reaches the terminal.
  process.stdout.write(terminalSafe(renderComparison(comparison)));
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify(comparison, null, 2)}\n`);
    process.stderr.write(`comparison written to ${options.json}\n`);
  }
  return 0;
}
