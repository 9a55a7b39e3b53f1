import { describe, expect, it } from "vitest";
import { resolveSettings } from "../../bench/index.js";
import { chatEventFor } from "../../bench/load.js";
import type { PhaseResult } from "../../bench/phase.js";
import { Timeline } from "../../bench/phase.js";
import { parseRssKb, parseStat } from "../../bench/procfs.js";
import {
  type BenchReport,
  cpuAtStep,
  evaluateTargets,
  machine,
  REPORT_VERSION,
  type ResourceFigures,
  renderReport,
} from "../../bench/report.js";

const resources: ResourceFigures = {
  samples: 3,
  core: {
    pid: 2,
    rssMb: { start: 60, max: 70, end: 65 },
    cpuPercent: 30,
    mainThreadCpuPercent: 27.5,
    peakRssMb: 72,
  },
  bench: {
    rssMb: { start: 80, max: 150, end: 85 },
    heapUsedMb: { max: 30 },
    cpuPercent: 40,
    eventLoopUtilization: 0.5,
  },
  workerHeapMb: { dice: 9 },
  children: [{ pid: 1, role: "nats-server", rssMb: 20, cpuMs: 100, cpuPercent: 10 }],
};

function phase(path: string, p99: number): PhaseResult {
  return {
    path,
    offeredRate: 1000,
    durationMs: 60_000,
    scheduled: 60_000,
    sent: 60_000,
    replied: 60_000,
    failed: 0,
    lost: 0,
    duplicates: 0,
    unexpected: 0,
    failedSources: {},
    sendRate: 1000,
    achievedRate: 999.8,
    maxSendLagMs: 2,
    latency: { count: 60_000, min: 0.5, mean: 1, p50: 1, p90: 2, p99, p999: p99 + 1, max: p99 + 2 },
    timeline: [],
  };
}

function report(): Omit<BenchReport, "targets"> {
  return {
    version: REPORT_VERSION,
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:05:00.000Z",
    machine: machine(),
    settings: resolveSettings({}),
    startupMs: 900,
    coldStart: {
      isolation: "process",
      samplesMs: [{ plugin: "dice", round: 1, ms: 150 }],
      p50Ms: 150,
      maxMs: 150,
      maxWarmMs: 0,
      idle: { heapMb: { dice: 9 }, maxHeapMb: 9, rssPerWorkerMb: 12 },
    },
    idleResources: resources,
    fixed: {
      platform: { ...phase("platform", 4), resources },
      relay: { ...phase("relay", 1), resources },
      latencyRatio: { p50: 1, p99: 4 },
    },
    pluginsAtEnd: [{ name: "dice", state: "running", heapMb: 9, restarts: 0, violations: 0 }],
  };
}

describe("bench report", () => {
  it("describes the machine", () => {
    const m = machine();
    expect(m.cores).toBeGreaterThan(0);
    expect(m.cores).toBeLessThanOrEqual(m.machineCores);
    expect(m.node).toBe(process.version);
    expect(typeof m.cpuModel).toBe("string");
  });

  it("defaults to 1000 msg/s for 60 s, both modes, and names a bad option", () => {
    const s = resolveSettings({});
    expect(s).toMatchObject({ mode: "both", rate: 1000, durationMs: 60_000, isolation: "process" });
    expect(s.plugins).toHaveLength(5);
    expect(resolveSettings({ rate: "250", duration: "2" })).toMatchObject({ rate: 250, durationMs: 2000 });
    expect(() => resolveSettings({ rate: "fast" })).toThrow(/'--rate' must be a number/);
    expect(() => resolveSettings({ mode: "max" })).toThrow(/'--mode'/);
  });

  it("marks every §9 target met, missed, or not measured", () => {
    const base = report();
    const targets = evaluateTargets(base);
    expect(targets.map((t) => t.name)).toEqual([
      "fixed rate",
      "p99 latency",
      "lost",
      "saturation vs raw relay",
      "plugin cold start",
      "idle worker memory",
      "core RSS (5 plugins)",
    ]);
    expect(targets.find((t) => t.name === "p99 latency")?.met).toBe(true);
    expect(targets.find((t) => t.name === "saturation vs raw relay")?.met).toBeNull();
    const slow = report();
    slow.fixed!.platform.latency.p99 = 7;
    slow.fixed!.platform.lost = 3;
    const missed = evaluateTargets(slow);
    expect(missed.find((t) => t.name === "p99 latency")?.met).toBe(false);
    expect(missed.find((t) => t.name === "lost")?.met).toBe(false);
  });

  it("judges core RSS on the rosey start process alone, not the bench process", () => {
    const base = report();
    const core = evaluateTargets(base).find((t) => t.name === "core RSS (5 plugins)");
    // The bench process peaked at 150 MB in the fixture; the core at 70 MB.
    expect(core).toMatchObject({ met: true, actual: expect.stringContaining("70 MB") });
    const unmeasured = report();
    unmeasured.idleResources = { ...resources, core: undefined };
    unmeasured.fixed!.platform.resources = { ...resources, core: undefined };
    expect(evaluateTargets(unmeasured).find((t) => t.name === "core RSS (5 plugins)")?.met).toBeNull();
  });

  it("round-trips as JSON with machine, settings and figures, and renders a table", () => {
    const base = report();
    const full: BenchReport = { ...base, targets: evaluateTargets(base) };
    const parsed = JSON.parse(JSON.stringify(full)) as BenchReport;
    expect(parsed.version).toBe(REPORT_VERSION);
    expect(Object.keys(parsed)).toEqual(
      expect.arrayContaining([
        "machine",
        "settings",
        "startupMs",
        "coldStart",
        "fixed",
        "targets",
        "pluginsAtEnd",
      ]),
    );
    expect(Object.keys(parsed.fixed!.platform.latency)).toEqual([
      "count",
      "min",
      "mean",
      "p50",
      "p90",
      "p99",
      "p999",
      "max",
    ]);
    expect(parsed.settings.saturation.startRate).toBe(1000);
    const text = renderReport(full);
    expect(text).toMatch(/fixed: platform/);
    expect(text).toMatch(/p99 latency/);
    expect(text).toMatch(/bench RSS MB/);
    expect(text).not.toMatch(/core ELU/);
    expect(text).toMatch(/core CPU % \(main\)/);
    expect(text).toMatch(/fixed: platform +70 +30 \(27\.5\)/);
  });

  it("climbs the hop floor unless --no-floor, and reports it beside the relay", () => {
    expect(resolveSettings({}).floor).toBe(true);
    expect(resolveSettings({ floor: false }).floor).toBe(false);
    const ladder = (path: string, rate: number) => ({
      steps: [
        {
          ...phase(path, 10),
          offeredRate: rate,
          achievedRate: rate,
          verdict: { ok: true as const },
          attempt: 1,
        },
      ],
      sustainedRate: rate,
      sustainedOfferedRate: rate,
      stoppedBecause: `${rate * 2} msg/s broke: p99 80 ms > 50 ms`,
    });
    const base = report();
    base.saturation = {
      platform: ladder("platform", 14_000),
      relay: ladder("relay", 56_000),
      throughputRatio: 0.25,
      floor: ladder("floor", 35_000),
      floorRatio: 0.625,
      platformOfFloor: 0.4,
    };
    const text = renderReport({ ...base, targets: evaluateTargets(base) });
    expect(text).toMatch(/sat floor ok +35000/);
    expect(text).toMatch(
      /hop floor: +35000 msg\/s .* = 62\.5% of the relay; the platform reaches 40\.0% of it/,
    );
    expect(evaluateTargets(base).find((t) => t.name === "saturation vs raw relay")).toMatchObject({
      met: false,
      actual: "14000 / 56000 msg/s = 25.0%",
    });
  });
});

describe("CPU at saturation", () => {
  const ladderWith = (path: string, rate: number, children: ResourceFigures["children"]) => ({
    steps: [
      {
        ...phase(path, 10),
        offeredRate: rate * 2,
        achievedRate: rate * 1.5,
        verdict: { ok: false as const, reason: "p99" },
        attempt: 1,
      },
      {
        ...phase(path, 10),
        offeredRate: rate,
        achievedRate: rate,
        verdict: { ok: true as const },
        attempt: 1,
        resources: { ...resources, children },
      },
    ],
    sustainedRate: rate,
    sustainedOfferedRate: rate,
    stoppedBecause: `${rate * 2} msg/s broke: p99 80 ms > 50 ms`,
  });
  const child = (role: string, cpuPercent: number) => ({ pid: 1, role, rssMb: 10, cpuMs: 1, cpuPercent });

  it("sums every process at the sustained step and gives machine CPU per reply", () => {
    const platform = ladderWith("platform", 10_000, [child("plugin-host", 35), child("nats-server", 25)]);
    // core 30 + host 35 + nats 25 + bench 40 = 130% of a core for 10,000 replies/s = 130 µs per reply.
    expect(cpuAtStep(platform)).toEqual({
      offeredRate: 10_000,
      achievedRate: 10_000,
      percent: {
        core: 30,
        coreMain: 27.5,
        host: 35,
        nats: 25,
        bench: 40,
        relay: 0,
        floorCore: 0,
        floorHost: 0,
      },
      totalPercent: 130,
      usPerReply: 130,
    });
    const floor = ladderWith("floor", 20_000, [
      child("nats-server", 30),
      child("floor-core", 50),
      child("floor-host", 20),
    ]);
    expect(cpuAtStep(floor)).toMatchObject({ totalPercent: 170, usPerReply: 85 });
    const unsampled = {
      ...platform,
      steps: platform.steps.map((step) => ({ ...step, resources: undefined })),
    };
    expect(cpuAtStep(unsampled)).toBeUndefined();

    // The relay runs in its own process: core 30 + nats 60 + bench 40 + relay 70 = 200% for 40,000/s.
    const relay = ladderWith("relay", 40_000, [child("nats-server", 60), child("relay", 70)]);
    const base = report();
    base.saturation = {
      platform,
      relay,
      throughputRatio: 0.25,
      cpuPerReply: { platform: cpuAtStep(platform), relay: cpuAtStep(relay), floor: cpuAtStep(floor) },
    };
    const text = renderReport({ ...base, targets: evaluateTargets(base) });
    expect(text).toMatch(/CPU at saturation +replies\/s/);
    expect(text).toMatch(/platform +10000 +30 \(27\.5\) +35 +25 +40 +- +- +130 +130/);
    expect(text).toMatch(/relay +40000 +30 \(27\.5\) +0 +60 +40 +70 +- +200 +50/);
    expect(text).toMatch(/floor +20000 +30 \(27\.5\) +0 +30 +40 +- +50 \+ 20 +170 +85/);
  });
});

describe("bench helpers", () => {
  it("builds connector-shaped chat events cycling the five plugins, one user per message", () => {
    const a = chatEventFor(0, undefined, 5);
    const b = chatEventFor(1, undefined, 5);
    expect(a).toMatchObject({ platform: "bench", channel: "bench", content: "!roll 2d6", timestamp: 5 });
    expect(a.user_data).toEqual({ username: a.user, rank: 1, is_afk: false, is_moderator: false });
    expect(a.user).not.toBe(b.user);
    expect(chatEventFor(5).content).toBe(a.content);
  });

  it("buckets a timeline by the due second", () => {
    const t = new Timeline(1000);
    t.record(1000, 1);
    t.record(1500, 7);
    t.record(3200, 2);
    expect(t.seconds()).toEqual([
      { second: 0, replied: 2, over5ms: 1, maxMs: 7 },
      { second: 1, replied: 0, over5ms: 0, maxMs: 0 },
      { second: 2, replied: 1, over5ms: 0, maxMs: 2 },
    ]);
  });

  it("parses /proc stat and status", () => {
    const stat = parseStat("42 (nats (srv)) S 7 42 42 0 -1 0 0 0 0 0 150 50 0 0 20 0 1 0");
    expect(stat).toEqual({ ppid: 7, cpuMs: 2000, comm: "nats (srv)" });
    expect(parseRssKb("Name:\tx\nVmRSS:\t  2048 kB\n")).toBe(2048);
    expect(parseRssKb("Name:\tx\n")).toBeUndefined();
  });
});
