import type { ComparedFigure, Comparison, ComparisonWarning } from "./compare.js";
import { noiseInWords } from "./compare-figures.js";
import { pct, targetStatus } from "./report.js";

/**
 * The paragraph under the comparison table, derived from its rows in the order bench/README.md's
 * "Comparing runs" reads two runs: are they like for like; did the relay move (then the machine did, and
 * only the platform/relay ratios compare); which of the platform's figures moved beyond run-to-run noise;
 * which design.md §9 verdicts changed.
 */
export function readingOf(c: Omit<Comparison, "reading">): string {
  const figures = c.sections.flatMap((s) => s.figures);
  const gauges = figures.filter((f) => f.gauge && f.change !== null);
  const relayMoved = gauges.some((f) => f.moved !== null);
  return [
    likeForLike(c),
    relay(gauges, figures, c.warnings),
    // Once the relay moved, the platform's own figures moved with the machine: only the ratios say more.
    moves(
      figures.filter((f) => (relayMoved ? f.path === "ratio" : f.path !== "relay")),
      relayMoved,
    ),
    verdicts(figures),
  ]
    .filter((sentence) => sentence !== "")
    .join(" ");
}

function likeForLike({ before, after, warnings }: Omit<Comparison, "reading">): string {
  if (warnings.length === 0) return "Same report version, machine and settings.";
  const fields = (about: ComparisonWarning["about"]) =>
    warnings
      .filter((w) => w.about === about && w.field)
      .map((w) => w.field!.split(".").slice(1).join("."))
      .join(", ");
  const has = (about: ComparisonWarning["about"]) => warnings.some((w) => w.about === about);
  const parts = [
    has("version") ? `report version (${before.version} and ${after.version})` : "",
    has("machine") ? `machine (${fields("machine")})` : "",
    has("settings") ? `settings (${fields("settings")})` : "",
    has("load") ? "load when they started" : "",
    has("sections") ? "what they measured" : "",
  ].filter((p) => p !== "");
  return `The runs differ in ${joined(parts)} (the warnings above): a figure those touch does not compare like for like.`;
}

function relay(gauges: ComparedFigure[], figures: ComparedFigure[], warnings: ComparisonWarning[]): string {
  if (gauges.length === 0)
    return "No relay figure is in both runs, so nothing tells a busier machine from a slower platform.";
  const moved = gauges.filter((f) => f.moved !== null);
  if (moved.length === 0)
    return `The relay held (${gauges.map(changeOf).join(", ")}), so the machine did the same in both runs and the platform's own figures compare directly.`;
  const ratios = figures.filter((f) => f.path === "ratio" && f.change !== null);
  // Other settings move the relay as well as the platform: the ratios cancel that too, not only the machine.
  const cause = warnings.some((w) => w.about === "settings")
    ? "the settings differ (above), and perhaps the machine too"
    : "the machine differed or was busier";
  return `The relay moved (${moved.map(changeOf).join(", ")}), beyond run-to-run noise: ${cause}, so the platform's own figures do not compare; its ratios to the relay do${ratios.length ? ` (${ratios.map(changeOf).join(", ")})` : ""}.`;
}

function moves(candidates: ComparedFigure[], relayMoved: boolean): string {
  const worse = candidates.filter((f) => f.moved === "worse");
  const better = candidates.filter((f) => f.moved === "better");
  const what = relayMoved ? "ratio" : "platform figure";
  if (worse.length + better.length === 0)
    return `No ${what} moved beyond run-to-run noise (${noiseInWords()}); repeat a run before trusting a smaller difference.`;
  const listed = [
    worse.length ? `worse: ${worse.map(changeOf).join(", ")}` : "",
    better.length ? `better: ${better.map(changeOf).join(", ")}` : "",
  ].filter((l) => l !== "");
  return `Beyond run-to-run noise, ${listed.join("; ")}.`;
}

function verdicts(figures: ComparedFigure[]): string {
  const judged = figures.filter((f) => f.target && f.target.before !== null && f.target.after !== null);
  if (judged.length === 0) return "";
  const changed = judged.filter((f) => f.target!.before !== f.target!.after);
  if (changed.length)
    return `Targets that changed verdict: ${changed
      .map(
        (f) =>
          `${f.figure} ${f.target!.goal} ${targetStatus(f.target!.before)} → ${targetStatus(f.target!.after)}`,
      )
      .join(", ")}.`;
  const missed = judged.filter((f) => f.target!.after === false);
  return missed.length
    ? `Every target keeps its verdict; missed in both runs: ${missed.map((f) => `${f.figure} ${f.target!.goal}`).join(", ")}.`
    : "Every target judged in both runs is met in both.";
}

/** `relay p99 ms 3.1 → 4.5 (+45.2%)`. */
function changeOf(f: ComparedFigure): string {
  const relative = f.relativeChange === null ? "" : ` (${signed(f.relativeChange, pct)})`;
  return `${f.figure} ${f.before} → ${f.after}${relative}`;
}

/** A change with its sign: `+1.2`, `-0.4`, `0`. */
export const signed = (x: number, show: (x: number) => string = String): string =>
  `${x > 0 ? "+" : ""}${show(x)}`;

const joined = (parts: string[]): string =>
  parts.length <= 1 ? (parts[0] ?? "") : `${parts.slice(0, -1).join(", ")} and ${parts.at(-1)}`;
