import { readFileSync } from "node:fs";
import { z } from "zod";
import { errorMessage, RoseyError } from "../src/core/errors.js";
import { escapeControls } from "../src/sandbox/escape-text.js";
import { REPORT_VERSION } from "./report.js";

/**
 * Reading a `rosey bench --json` report for `rosey bench compare`: the parts the comparison uses, checked
 * with a schema so that a hand-edited or truncated file is refused naming the file and the field instead of
 * comparing `undefined`. Fields that older report versions lack are optional here, so versions 2 to the
 * current one are read; what differs between versions is in `VERSION_CHANGES`.
 */

/** The oldest version read: version 1 measured the bench and the platform as one process (below). */
export const OLDEST_COMPARABLE_VERSION = 2;

/**
 * What each report version changed that makes its figures differ from an older run's for reasons other
 * than the code or the machine (bench/README.md, REPORT_VERSION in report.ts): a comparison across one of
 * these versions carries its note as a warning.
 */
export const VERSION_CHANGES = [
  {
    version: 3,
    note: "the raw relay ran in the bench process before version 3 and in its own process since: the relay's figures and the platform/relay ratios are not comparable across it",
  },
  {
    version: 4,
    note: "saturation steps that break are retried since version 4: a ladder without retries may stop at one stall, so the sustained rates and saturation ratios are not comparable across it",
  },
  {
    version: 5,
    note: "machine.cores is the cores the run could use (CPU affinity) since version 5 and the machine's count before: an older run under taskset may have had fewer cores than it says",
  },
] as const;

const num = z.number();
const latency = z.object({ p50: num, p90: num, p99: num, p999: num, max: num });
const resources = z.object({
  core: z
    .object({
      rssMb: z.object({ max: num }),
      cpuPercent: num,
      mainThreadCpuPercent: num.optional(),
    })
    .optional(),
  workerHeapMb: z.record(z.string(), num),
  children: z.array(z.object({ role: z.string(), cpuPercent: num })),
});
const phase = z.object({
  offeredRate: num,
  achievedRate: num,
  lost: num,
  failed: num,
  latency,
  resources,
});
const ladder = z.object({ sustainedRate: num, sustainedOfferedRate: num, stoppedBecause: z.string() });
const cpuAtStep = z.object({ usPerReply: num }).optional();

const reportSchema = z.object({
  version: z.number().int(),
  startedAt: z.string(),
  finishedAt: z.string(),
  machine: z.object({
    cores: num,
    // Since version 5.
    machineCores: num.optional(),
    cpuModel: z.string(),
    totalMemoryMb: num,
    node: z.string(),
    platform: z.string(),
    arch: z.string(),
    loadAverage: z.array(num),
  }),
  settings: z.object({
    mode: z.enum(["fixed", "saturation", "both"]),
    rate: num,
    durationMs: num,
    warmupMs: num,
    relayDurationMs: num,
    isolation: z.enum(["process", "thread"]),
    coreSemiSpaceMb: num.optional(),
    floor: z.boolean().optional(),
    coldStartRounds: num,
    saturation: z.object({
      startRate: num,
      factor: num,
      stepDurationMs: num,
      maxP99Ms: num,
      maxLossRatio: num,
      minDeliveredRatio: num,
      maxRate: num,
      refineSteps: num,
      retries: num.optional(),
    }),
  }),
  coldStart: z
    .object({
      p50Ms: num,
      maxMs: num,
      idle: z.object({ maxHeapMb: num, rssPerWorkerMb: num.optional() }),
    })
    .optional(),
  idleResources: resources.optional(),
  fixed: z
    .object({
      platform: phase,
      relay: phase.optional(),
      latencyRatio: z.object({ p50: num, p99: num }).optional(),
    })
    .optional(),
  saturation: z
    .object({
      platform: ladder,
      relay: ladder,
      throughputRatio: num,
      floor: ladder.optional(),
      floorRatio: num.optional(),
      platformOfFloor: num.optional(),
      cpuPerReply: z.object({ platform: cpuAtStep, relay: cpuAtStep, floor: cpuAtStep }).optional(),
    })
    .optional(),
});

/** The parts of a bench report the comparison reads; a `BenchReport` of any version from 2 on is one. */
export type ComparedReport = z.infer<typeof reportSchema>;

/** A report and the name it is known by in messages (the file as given on the command line). */
export interface ReportInput {
  file: string;
  report: ComparedReport;
}

/** Reads and checks one report; throws a RoseyError naming the file (and the field) when it cannot be compared. */
export function readReport(file: string): ReportInput {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : errorMessage(err);
    throw new RoseyError("NOT_FOUND", `Cannot read the bench report ${file}: ${why}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new RoseyError("VALIDATION_FAILED", `${file}: not JSON (${errorMessage(err)})`, { cause: err });
  }
  return { file, report: parseReport(data, file) };
}

/** Checks parsed JSON as a report of a version this comparison reads; errors name `file` and the field path. */
export function parseReport(data: unknown, file: string): ComparedReport {
  const version = (data as { version?: unknown } | null)?.version;
  // A JSON file that is not a report at all would otherwise be listed field by field.
  if (typeof data !== "object" || data === null || typeof version !== "number")
    throw invalid(
      file,
      "not a rosey bench report (it has no numeric 'version'; reports are written by 'rosey bench --json FILE')",
    );
  if (version < OLDEST_COMPARABLE_VERSION)
    throw invalid(
      file,
      `report version ${version} cannot be compared: before version ${OLDEST_COMPARABLE_VERSION} the platform ran in the bench process, so its core RSS included the generator, matcher and relay; run the bench again`,
    );
  if (version > REPORT_VERSION)
    throw invalid(
      file,
      `report version ${version} is newer than this rosey bench compare reads (${OLDEST_COMPARABLE_VERSION} to ${REPORT_VERSION}); compare with the rosey that wrote it`,
    );
  const parsed = reportSchema.safeParse(data, { error: describeIssue });
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => `${file}: ${fieldPath(issue.path)}: ${issue.message}`);
    throw new RoseyError("VALIDATION_FAILED", issues.join("\n"));
  }
  return parsed.data;
}

const invalid = (file: string, why: string): RoseyError =>
  new RoseyError("VALIDATION_FAILED", `${file}: ${why}`);

/** `fixed.platform.resources.children[0].cpuPercent`: the path as it reads in the JSON. */
function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, key) => {
    // Keys are the file's: a control character in one must not forge a line of the message.
    const name = escapeControls(String(key));
    return typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${name}` : name;
  }, "");
}

/** Words for the path they follow: `expected number` (and what was there) rather than zod's sentence. */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code !== "invalid_type") return undefined;
  const found = issue.input === undefined ? "missing" : issue.input === null ? "null" : typeof issue.input;
  return `expected ${issue.expected}, got ${found}`;
}
