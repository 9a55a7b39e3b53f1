import type { ComparedFigure, Comparison, RunIdentity } from "./compare.js";
import { noiseInWords } from "./compare-figures.js";
import { signed } from "./compare-reading.js";
import { coresOf, pct, table, targetStatus } from "./report.js";

/** `rosey bench compare`'s text: which runs, whether they compare, a table per section, the reading. */
export function renderComparison(c: Comparison): string {
  const out = ["Rosey bench compare", `before: ${runLine(c.before)}`, `after:  ${runLine(c.after)}`];
  if (c.warnings.length === 0) out.push("comparable: same report version, machine and settings");
  else
    out.push(
      `NOT like for like (${c.warnings.length} warning${c.warnings.length === 1 ? "" : "s"}):`,
      ...c.warnings.map((w) => `  - ${w.text}`),
    );
  for (const section of c.sections)
    out.push(
      "",
      table(
        [
          section.title,
          "before",
          "after",
          "change",
          "change %",
          "beyond noise",
          "target",
          "met before → after",
        ],
        section.figures.map(row),
      ),
    );
  out.push(
    "",
    `beyond noise: a change past run-to-run noise (${noiseInWords()}; bench/README.md, "Comparing runs")`,
    "",
    ...wrap(`reading: ${c.reading}`, 110),
  );
  return `${out.join("\n")}\n`;
}

function runLine({ file, version, startedAt, machine: m, settings: s }: RunIdentity): string {
  return `${file} (report version ${version}, ${startedAt}): ${coresOf(m)} cores, ${m.cpuModel}, Node ${m.node}; mode ${s.mode} at ${s.rate} msg/s, isolation ${s.isolation}`;
}

function row(f: ComparedFigure): string[] {
  const value = (x: number | null) => (x === null ? "-" : String(x));
  return [
    f.figure,
    value(f.before),
    value(f.after),
    f.change === null ? "" : signed(f.change),
    f.relativeChange === null ? "" : signed(f.relativeChange, pct),
    f.moved ?? "",
    f.target?.goal ?? "",
    f.target ? `${targetStatus(f.target.before)} → ${targetStatus(f.target.after)}` : "",
  ];
}

/** The reading is one paragraph: broken into lines of at most `width` at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}
