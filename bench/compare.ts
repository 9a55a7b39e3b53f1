import {
  FIGURE_KINDS,
  type FigureKind,
  type FigurePath,
  type FigureSpec,
  SECTIONS,
  type SectionKey,
} from "./compare-figures.js";
import { type ComparedReport, type ReportInput, VERSION_CHANGES } from "./compare-input.js";
import { readingOf } from "./compare-reading.js";
import { coresOf } from "./report.js";

/**
 * `rosey bench compare`: what bench/README.md's "Comparing runs" has people do by hand with two JSON
 * reports. First whether the runs are like for like (report version, machine, settings, what ran), then
 * every figure before and after with its change, whether the change is beyond run-to-run noise, and each
 * run's verdict on the design.md §9 targets (the figures: compare-figures.ts); then a reading of it all
 * (compare-reading.ts). Pure: reading the files is compare-input.ts, printing is compare-render.ts.
 */

/** One figure of both runs: a row of the table and of `--json`. */
export interface ComparedFigure {
  /** Stable key, after the report field the figure comes from. */
  id: string;
  /** Its label in the table, unit included. */
  figure: string;
  path: FigurePath;
  kind: FigureKind;
  /** A relay figure that says whether the machine moved between the runs (the README: look at the relay first). */
  gauge?: true;
  before: number | null;
  after: number | null;
  /** after − before, in the figure's unit. */
  change: number | null;
  /** change ÷ before; null when before is 0. */
  relativeChange: number | null;
  /** Beyond run-to-run noise (`FIGURE_KINDS`) in this direction, or null. */
  moved: "better" | "worse" | null;
  /** The design.md §9 limit on this figure, and whether each run meets it (null: not measured). */
  target?: { goal: string; before: boolean | null; after: boolean | null };
}

export interface ComparedSection {
  key: SectionKey;
  title: string;
  figures: ComparedFigure[];
}

export interface ComparisonWarning {
  about: "version" | "machine" | "settings" | "load" | "sections";
  /** The report field that differs, for machine and settings. */
  field?: string;
  text: string;
}

/** Which run: its file and what it was. */
export interface RunIdentity {
  file: string;
  version: number;
  startedAt: string;
  finishedAt: string;
  machine: ComparedReport["machine"];
  settings: ComparedReport["settings"];
}

export interface Comparison {
  before: RunIdentity;
  after: RunIdentity;
  warnings: ComparisonWarning[];
  sections: ComparedSection[];
  reading: string;
}

export function compareReports(before: ReportInput, after: ReportInput): Comparison {
  const sections = SECTIONS.filter(
    (s) => before.report[s.key] !== undefined && after.report[s.key] !== undefined,
  )
    .map((s) => ({
      key: s.key,
      title: s.title,
      figures: s.figures
        .map((spec) => compareFigure(spec, before.report, after.report))
        .filter((f) => f.before !== null || f.after !== null),
    }))
    .filter((s) => s.figures.length > 0);
  const warnings = [
    ...versionWarnings(before.report.version, after.report.version),
    ...machineWarnings(before.report.machine, after.report.machine),
    ...settingsWarnings(before.report, after.report),
    ...loadWarnings(before, after),
    ...sectionWarnings(before, after),
  ];
  const partial = { before: identity(before), after: identity(after), warnings, sections };
  return { ...partial, reading: readingOf(partial) };
}

function identity({ file, report }: ReportInput): RunIdentity {
  const { version, startedAt, finishedAt, machine, settings } = report;
  return { file, version, startedAt, finishedAt, machine, settings };
}

function compareFigure(spec: FigureSpec, before: ComparedReport, after: ComparedReport): ComparedFigure {
  const b = spec.value(before) ?? null;
  const a = spec.value(after) ?? null;
  // Rounded so that float error (0.1 + 0.2) does not print; the report's figures have at most 3 decimals.
  const change = a === null || b === null ? null : Math.round((a - b) * 1000) / 1000;
  const relativeChange =
    change === null || b === 0 || b === null ? null : Math.round((change / b) * 1e4) / 1e4;
  const { limit } = spec;
  return {
    id: spec.id,
    figure: spec.figure,
    path: spec.path,
    kind: spec.kind,
    ...(spec.gauge ? { gauge: true as const } : {}),
    before: b,
    after: a,
    change,
    relativeChange,
    moved: movedBeyondNoise(spec.kind, change, relativeChange),
    ...(limit
      ? {
          target: {
            goal: limit.goal,
            before: b === null ? null : limit.met(b),
            after: a === null ? null : limit.met(a),
          },
        }
      : {}),
  };
}

function movedBeyondNoise(
  kind: FigureKind,
  change: number | null,
  relativeChange: number | null,
): ComparedFigure["moved"] {
  const noise = FIGURE_KINDS[kind];
  if (change === null || change === 0 || Math.abs(change) <= noise.absolute) return null;
  // From 0, any change beyond the absolute step counts: there is no relative one.
  if (relativeChange !== null && Math.abs(relativeChange) <= noise.relative) return null;
  return change > 0 === (noise.better === "higher") ? "better" : "worse";
}

function versionWarnings(before: number, after: number): ComparisonWarning[] {
  if (before === after) return [];
  const [older, newer] = before < after ? [before, after] : [after, before];
  return VERSION_CHANGES.filter((c) => older < c.version && c.version <= newer).map((c) => ({
    about: "version",
    text: `report version ${before} → ${after}: ${c.note}`,
  }));
}

type Machine = ComparedReport["machine"];

function machineWarnings(before: Machine, after: Machine): ComparisonWarning[] {
  // `cores` reads "1 of 2" under an affinity; a report before version 5 has only the machine's count,
  // so the two are compared as one figure only when both runs recorded both.
  const bothAffinity = before.machineCores !== undefined && after.machineCores !== undefined;
  const cores = (m: Machine) => (bothAffinity ? coresOf(m) : String(m.cores));
  const fields: Array<[string, (m: Machine) => string]> = [
    ["cores", cores],
    ["cpuModel", (m) => m.cpuModel],
    ["totalMemoryMb", (m) => String(m.totalMemoryMb)],
    ["node", (m) => m.node],
    ["platform", (m) => m.platform],
    ["arch", (m) => m.arch],
  ];
  return fields.flatMap(([field, show]) =>
    show(before) === show(after)
      ? []
      : [
          {
            about: "machine" as const,
            field: `machine.${field}`,
            text: `machine.${field}: ${show(before)} → ${show(after)}${field === "cores" ? " (cores the run could use, of the machine's)" : ""}`,
          },
        ],
  );
}

/** Settings that shape one section only: a difference matters when both runs have that section. */
const SETTING_SECTION: Partial<Record<keyof ComparedReport["settings"], SectionKey>> = {
  durationMs: "fixed",
  relayDurationMs: "fixed",
  saturation: "saturation",
  floor: "saturation",
};

function settingsWarnings(before: ComparedReport, after: ComparedReport): ComparisonWarning[] {
  const relevant = (key: string) => {
    const section = SETTING_SECTION[key as keyof ComparedReport["settings"]];
    return section === undefined || (before[section] !== undefined && after[section] !== undefined);
  };
  const b = new Map(leaves(before.settings, "settings"));
  const a = new Map(leaves(after.settings, "settings"));
  const fields = [...new Set([...b.keys(), ...a.keys()])].filter((f) => relevant(f.split(".")[1]!));
  return fields.flatMap((field) =>
    b.get(field) === a.get(field)
      ? []
      : [
          {
            about: "settings" as const,
            field,
            text: `${field}: ${b.get(field) ?? "absent"} → ${a.get(field) ?? "absent"}`,
          },
        ],
  );
}

/** Every scalar under `value` as [dotted path, printed value]. */
function leaves(value: unknown, at: string): Array<[string, string]> {
  if (typeof value !== "object" || value === null) return [[at, String(value)]];
  return Object.entries(value).flatMap(([key, v]) => leaves(v, `${at}.${key}`));
}

/**
 * A run started while the machine was busy measured the other work too (report.ts, `loadAverage`): warned
 * when the 1-minute load at its start was at least half the cores it could use.
 */
function loadWarnings(before: ReportInput, after: ReportInput): ComparisonWarning[] {
  const runs = [["before", before] as const, ["after", after] as const];
  return runs.flatMap(
    ([
      role,
      {
        file,
        report: { machine },
      },
    ]) => {
      const load = machine.loadAverage[0];
      return load !== undefined && load >= machine.cores / 2
        ? [
            {
              about: "load" as const,
              text: `the ${role} run (${file}) started with a 1-minute load average of ${load} on ${machine.cores} core${machine.cores === 1 ? "" : "s"}: other work was running`,
            },
          ]
        : [];
    },
  );
}

function sectionWarnings(before: ReportInput, after: ReportInput): ComparisonWarning[] {
  return SECTIONS.flatMap(({ key, title }) => {
    const inBefore = before.report[key] !== undefined;
    if (inBefore === (after.report[key] !== undefined)) return [];
    const only = inBefore ? before : after;
    return [
      {
        about: "sections" as const,
        text: `${title}: only in ${only.file}, not compared`,
      },
    ];
  });
}
