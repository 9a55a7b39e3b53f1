import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Comparison, compareReports } from "../../bench/compare.js";
import { parseReport, type ReportInput } from "../../bench/compare-input.js";
import { renderComparison } from "../../bench/compare-render.js";
import { resolveSettings, runBench } from "../../bench/index.js";
import type { BenchReport } from "../../bench/report.js";
import { silentLogger } from "../../src/core/logger.js";
import { PACKAGE_ROOT } from "../../src/core/paths.js";

/**
 * `rosey bench compare` on real reports: one small bench run in beforeAll (both modes, hop floor included,
 * a few hundred messages per phase, two-step ladders; ~20 s, as the bench smoke test), then copies of it
 * with figures moved the way a slower platform, a busier machine or other settings move them.
 */

const BIN = path.join(PACKAGE_ROOT, "bin", "rosey.js");
const run = promisify(execFile);

let real: BenchReport;

beforeAll(async () => {
  real = await runBench({
    settings: resolveSettings({
      mode: "both",
      rate: 200,
      duration: 1,
      warmup: 0,
      stepDuration: 0.5,
      maxRate: 300,
      refineSteps: 0,
      retries: 0,
      coldStartRounds: 2,
    }),
    logger: silentLogger(),
  });
}, 120_000);

/**
 * The real report as `--json` writes it. Started on an idle machine: the load at the test's start depends on
 * the other suites, and a busy start is a warning of its own (tested apart).
 */
function copy(): BenchReport {
  const report = JSON.parse(JSON.stringify(real)) as BenchReport;
  report.machine.loadAverage = [0, 0, 0];
  return report;
}

const input = (report: unknown, file: string): ReportInput => ({ file, report: parseReport(report, file) });
const compare = (before: BenchReport, after: BenchReport): Comparison =>
  compareReports(input(before, "before.json"), input(after, "after.json"));
const figure = (c: Comparison, id: string) => c.sections.flatMap((s) => s.figures).find((f) => f.id === id);

describe("comparing two bench reports", () => {
  it("compares a run with itself: like for like, nothing moved, every verdict as the report's own", () => {
    const c = compare(copy(), copy());
    expect(c.warnings).toEqual([]);
    expect(c.sections.map((s) => s.key)).toEqual(["fixed", "saturation", "idleResources", "coldStart"]);
    const figures = c.sections.flatMap((s) => s.figures);
    for (const f of figures) expect(f).toMatchObject({ moved: null, after: f.before });
    expect(figures.filter((f) => f.change !== null).every((f) => f.change === 0)).toBe(true);

    // The README's order: the relay, then the platform, then their ratios.
    const fixed = c.sections[0]!.figures.map((f) => f.path);
    expect(fixed.lastIndexOf("relay")).toBeLessThan(fixed.indexOf("platform"));
    expect(fixed.lastIndexOf("platform")).toBeLessThan(fixed.indexOf("ratio"));
    expect(c.sections[1]!.figures.map((f) => f.id)).toEqual([
      "saturation.relay.sustainedRate",
      "saturation.platform.sustainedRate",
      "saturation.throughputRatio",
      "saturation.cpuPerReply.relay.usPerReply",
      "saturation.cpuPerReply.platform.usPerReply",
      "saturation.floor.sustainedRate",
      "saturation.cpuPerReply.floor.usPerReply",
      "saturation.floorRatio",
      "saturation.platformOfFloor",
    ]);
    expect(figure(c, "saturation.throughputRatio")?.before).toBeCloseTo(
      real.saturation!.throughputRatio * 100,
      5,
    );

    // Each figure's verdict is the one evaluateTargets gave the run (the same TARGET_LIMITS).
    const met = (name: string) => real.targets.find((t) => t.name === name)?.met;
    const verdict = (id: string) => figure(c, id)?.target?.before;
    expect(verdict("fixed.platform.latency.p99")).toBe(met("p99 latency"));
    expect(verdict("fixed.platform.lost") && verdict("fixed.platform.failed")).toBe(met("lost"));
    expect(verdict("saturation.throughputRatio")).toBe(met("saturation vs raw relay"));
    expect(verdict("coldStart.maxMs")).toBe(met("plugin cold start"));
    expect(verdict("coldStart.idle.maxHeapMb") && verdict("coldStart.idle.rssPerWorkerMb") !== false).toBe(
      met("idle worker memory"),
    );
    expect(
      verdict("fixed.platform.resources.core.rssMb.max") && verdict("idleResources.core.rssMb.max"),
    ).toBe(met("core RSS (5 plugins)"));

    expect(c.reading).toMatch(
      /^Same report version, machine and settings\. The relay held \(relay replies\/s/,
    );
    expect(c.reading).toMatch(/No platform figure moved beyond run-to-run noise \(latency ±20%/);
  });

  it("reads a slower platform beside a steady relay: what moved, which way, and the verdicts it changed", () => {
    const before = copy();
    const after = copy();
    before.fixed!.platform.latency.p99 = 4;
    after.fixed!.platform.latency.p99 = 8;
    after.fixed!.platform.lost = 3;
    after.fixed!.platform.latency.p50 = before.fixed!.platform.latency.p50 * 1.1;
    before.fixed!.platform.resources.core!.cpuPercent = 40;
    after.fixed!.platform.resources.core!.cpuPercent = 28;
    const c = compare(before, after);
    expect(figure(c, "fixed.platform.latency.p99")).toMatchObject({
      before: 4,
      after: 8,
      change: 4,
      relativeChange: 1,
      moved: "worse",
      target: { goal: "≤ 5 ms", before: true, after: false },
    });
    expect(figure(c, "fixed.platform.lost")).toMatchObject({
      change: 3,
      relativeChange: null,
      moved: "worse",
    });
    // +10% on p50 is within the ±20% a tail latency moves between runs.
    expect(figure(c, "fixed.platform.latency.p50")?.moved).toBeNull();
    expect(figure(c, "fixed.platform.resources.core.cpuPercent")).toMatchObject({
      change: -12,
      relativeChange: -0.3,
      moved: "better",
    });
    expect(c.reading).toMatch(/The relay held/);
    expect(c.reading).toMatch(
      /Beyond run-to-run noise, worse: platform p99 ms 4 → 8 \(\+100\.0%\), platform lost 0 → 3; better: core CPU % 40 → 28 \(-30\.0%\)\./,
    );
    expect(c.reading).toMatch(
      /Targets that changed verdict: platform p99 ms ≤ 5 ms met → MISSED, platform lost 0 met → MISSED\./,
    );

    const text = renderComparison(c);
    expect(text).toMatch(/^comparable: same report version, machine and settings$/m);
    expect(text).toMatch(
      /^fixed rate +before +after +change +change % +beyond noise +target +met before → after$/m,
    );
    expect(text).toMatch(/^platform p99 ms +4 +8 +\+4 +\+100\.0% +worse +≤ 5 ms +met → MISSED$/m);
    expect(text).toMatch(/^saturation +before/m);
    expect(text).toMatch(/^reading: Same report version/m);
  });

  it("reads a moved relay as a moved machine, and points at the ratios", () => {
    const before = copy();
    const after = copy();
    // Everything 50% slower, the platform and the relay alike: the ratios hold.
    after.fixed!.relay!.latency.p99 = before.fixed!.relay!.latency.p99 * 1.5;
    after.fixed!.platform.latency.p99 = before.fixed!.platform.latency.p99 * 1.5;
    // Rounded to whole msg/s, so the change is -20% give or take a tenth.
    after.saturation!.relay.sustainedRate = Math.round(before.saturation!.relay.sustainedRate * 0.8);
    const c = compare(before, after);
    expect(figure(c, "fixed.relay.latency.p99")).toMatchObject({ gauge: true, moved: "worse" });
    expect(c.reading).toMatch(
      /The relay moved \(relay p99 ms [\d.]+ → [\d.]+ \(\+50\.0%\), relay sustained msg\/s [\d.]+ → [\d.]+ \(-(?:19\.9|20\.\d)%\)\), beyond run-to-run noise: the machine differed or was busier, so the platform's own figures do not compare; its ratios to the relay do \(platform\/relay p50 ratio/,
    );
    expect(c.reading).toMatch(/No ratio moved beyond run-to-run noise/);
    expect(c.reading).not.toMatch(/platform p99 ms .* worse/);
  });

  it("warns, above the table, of machines, settings, versions and sections that differ", () => {
    const before = copy();
    const after = copy();
    before.machine = { ...before.machine, cores: 2, machineCores: 2, node: "v20.19.0" };
    after.machine = {
      ...after.machine,
      cores: 1,
      machineCores: 2,
      node: "v22.3.0",
      loadAverage: [0.75, 0, 0],
    };
    after.settings = {
      ...after.settings,
      rate: 400,
      saturation: { ...after.settings.saturation, stepDurationMs: 2000 },
    };
    delete before.saturation;
    const c = compare(before, after);
    expect(c.warnings).toEqual([
      {
        about: "machine",
        field: "machine.cores",
        text: "machine.cores: 2 → 1 of 2 (cores the run could use, of the machine's)",
      },
      { about: "machine", field: "machine.node", text: "machine.node: v20.19.0 → v22.3.0" },
      { about: "settings", field: "settings.rate", text: "settings.rate: 200 → 400" },
      {
        about: "load",
        text: "the after run (after.json) started with a 1-minute load average of 0.75 on 1 core: other work was running",
      },
      { about: "sections", text: "saturation: only in after.json, not compared" },
    ]);
    // Only one run climbed the ladder, so its step duration does not matter.
    expect(c.warnings.map((w) => w.text).join("\n")).not.toMatch(/stepDurationMs/);
    expect(c.sections.map((s) => s.key)).not.toContain("saturation");
    expect(c.reading).toMatch(
      /^The runs differ in machine \(cores, node\), settings \(rate\), load when they started and what they measured/,
    );
    expect(renderComparison(c)).toMatch(
      /^NOT like for like \(5 warnings\):\n {2}- machine\.cores: 2 → 1 of 2/m,
    );
  });

  it("reads reports from version 2 on, saying what a version change leaves not comparable", () => {
    const before = copy();
    (before as { version: number }).version = 3;
    delete (before.machine as Partial<BenchReport["machine"]>).machineCores;
    delete (before.settings.saturation as Partial<BenchReport["settings"]["saturation"]>).retries;
    const c = compare(before, copy());
    expect(c.warnings.map((w) => w.text)).toEqual([
      expect.stringMatching(/^report version 3 → 5: saturation steps that break are retried since version 4/),
      expect.stringMatching(/^report version 3 → 5: machine\.cores is the cores the run could use/),
      "settings.saturation.retries: absent → 0",
    ]);
    expect(() => input({ ...copy(), version: 1 }, "old.json")).toThrow(
      /^old\.json: report version 1 cannot be compared: before version 2 the platform ran in the bench process/,
    );
    expect(() => input({ ...copy(), version: 6 }, "new.json")).toThrow(
      /^new\.json: report version 6 is newer than this rosey bench compare reads \(2 to 5\)/,
    );
  });
});

describe("reading a bench report", () => {
  it("names the file and the field path of what does not match", () => {
    const wrongType = copy() as unknown as { fixed: { platform: { latency: { p99: unknown } } } };
    wrongType.fixed.platform.latency.p99 = "fast";
    expect(() => input(wrongType, "after.json")).toThrow(
      /^after\.json: fixed\.platform\.latency\.p99: expected number, got string$/,
    );
    const missing = copy() as unknown as { machine: Partial<BenchReport["machine"]> };
    delete missing.machine.node;
    const inArray = copy();
    (inArray.fixed!.platform.resources.children[0] as { cpuPercent: unknown }).cpuPercent = null;
    expect(() => input(missing, "before.json")).toThrow(
      /^before\.json: machine\.node: expected string, got missing$/,
    );
    expect(() => input(inArray, "b.json")).toThrow(
      /^b\.json: fixed\.platform\.resources\.children\[0\]\.cpuPercent: expected number, got null$/,
    );
    expect(() => input({ name: "rosey", version: "0.1.0" }, "package.json")).toThrow(
      /^package\.json: not a rosey bench report/,
    );
    expect(() => input([1, 2], "list.json")).toThrow(/^list\.json: not a rosey bench report/);
  });
});

describe("rosey bench compare", () => {
  let dir: string;
  const file = (name: string) => path.join(dir, name);
  /** Runs the CLI; resolves with its exit code and output whether it succeeds or not. */
  const rosey = (...args: string[]) =>
    run(process.execPath, [BIN, ...args], { cwd: PACKAGE_ROOT }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (err: { code: number; stdout: string; stderr: string }) => err,
    );

  beforeAll(async () => {
    // The command runs the bench's bundle (dist/bench/); `npm run build` (pretest) builds only src/.
    await run(process.execPath, [path.join(PACKAGE_ROOT, "bench", "build.mjs")]);
    dir = mkdtempSync(path.join(os.tmpdir(), "rosey-bench-compare-"));
    const after = copy();
    after.fixed!.platform.lost = 2;
    writeFileSync(file("before.json"), JSON.stringify(copy()));
    writeFileSync(file("after.json"), JSON.stringify(after));
  }, 60_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("prints the comparison and writes it as JSON, exit code 0", async () => {
    const { code, stdout, stderr } = await rosey(
      "bench",
      "compare",
      file("before.json"),
      file("after.json"),
      "--json",
      file("comparison.json"),
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Rosey bench compare\nbefore: .*before\.json \(report version 5, /);
    expect(stdout).toMatch(/^platform lost +0 +2 +\+2 +worse +0 +met → MISSED$/m);
    expect(stdout).toMatch(/^reading: /m);
    expect(stderr).toBe(`comparison written to ${file("comparison.json")}\n`);
    const written = JSON.parse(readFileSync(file("comparison.json"), "utf8")) as Comparison;
    expect(written.before).toMatchObject({
      file: file("before.json"),
      version: 5,
      machine: { cores: real.machine.cores },
    });
    expect(written.after.file).toBe(file("after.json"));
    expect(written.warnings).toEqual([]);
    expect(written.sections.map((s) => s.key)).toEqual(["fixed", "saturation", "idleResources", "coldStart"]);
    expect(written.sections[0]!.figures.find((f) => f.id === "fixed.platform.lost")).toMatchObject({
      before: 0,
      after: 2,
      moved: "worse",
      target: { goal: "0", before: true, after: false },
    });
    expect(written.reading).toMatch(/Targets that changed verdict: platform lost 0 met → MISSED/);
  });

  it("prints what the reports hold with its terminal controls escaped, and survives a record of many keys", async () => {
    const hostile = copy();
    hostile.machine = { ...hostile.machine, cpuModel: "EPYC\u001b]0;owned\u0007\u001b[2J" };
    hostile.fixed!.platform.resources.workerHeapMb = Object.fromEntries(
      Array.from({ length: 200_000 }, (_, i) => [`w${i}`, 8]),
    );
    writeFileSync(file("hostile.json"), JSON.stringify(hostile));
    const { code, stdout } = await rosey("bench", "compare", file("before.json"), file("hostile.json"));
    expect(code).toBe(0);
    expect(stdout).not.toContain("\u001b");
    expect(stdout).toContain("EPYC\\u001b]0;owned\\u0007\\u001b[2J");
  });

  it("refuses a missing file and a JSON file that is not a report, naming the file", async () => {
    const missing = await rosey("bench", "compare", file("before.json"), file("missing.json"));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`Cannot read the bench report ${file("missing.json")}: no such file\n`);
    const notReport = path.join(PACKAGE_ROOT, "package.json");
    const other = await rosey("bench", "compare", notReport, file("after.json"));
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^.*package\.json: not a rosey bench report/);
    expect(other.stdout).toBe("");
  });
});
