import { PRIVATE_SUBJECTS } from "../plugins/capabilities.js";
import type { AuditReport, Grant, PluginAudit } from "./audit.js";
import { formatMigrations, formatStorage } from "./data-access.js";
import { describeViolation, pluginFindings } from "./findings.js";
import { HISTORY_LIMITS, type PluginHistory, type ViolationRecord } from "./history.js";
import { describeDrift } from "./live.js";

/**
 * The human form of `rosey audit`: a table, one block per plugin with the grant difference spelled out,
 * then the `!` findings. Counts say where they come from: "all-time" is the database's audit log, "this
 * run" the running platform's own count since it started. Every list cut short says so.
 */

/** Rows of each history list printed per plugin; `--json` holds `HISTORY_LIMITS`. */
const TEXT_LIMITS = Object.freeze({ violations: 20, bySubject: 10, events: 10 });

const list = (xs: readonly string[]) => (xs.length ? xs.join(", ") : "—");
/** Private subjects a pattern matches, each with the capability it takes. */
const notDelivered = (subjects: readonly string[]) =>
  subjects.map((s) => `${s}, private: needs ${PRIVATE_SUBJECTS[s] ?? "its own capability"}`).join("; ");
const INDENT = " ".repeat(15);

export function formatAuditReport(report: AuditReport): string {
  const lines: string[] = [
    `Rosey audit — ${report.generatedAt}`,
    `config: ${report.configFile ?? "(embedded defaults)"}   plugins: ${report.pluginsDirectory}`,
    `platform: ${report.platform.reachable ? `reachable at ${report.platform.url}` : `not reachable (${report.platform.error})`}`,
    `audit log: ${report.auditLog.available ? report.auditLog.source : `not read (${report.auditLog.error})`}`,
    "",
    ...table(report.plugins),
    "violations, suspensions all-time: the audit log in the database; this run: the running platform's count since it started",
    "",
  ];
  for (const p of report.plugins) lines.push(...pluginBlock(p), "");
  for (const r of report.rejected) lines.push(`REJECTED ${r.directory}: ${r.error}`);
  lines.push(...report.plugins.flatMap(pluginFindings).map((f) => `! ${f.message}`));
  return `${lines.join("\n").trimEnd()}\n`;
}

function table(plugins: readonly PluginAudit[]): string[] {
  const header = [
    "plugin",
    "version",
    "state",
    "requested",
    "effective",
    "missing",
    "violations all-time",
    "this run",
    "suspensions all-time",
  ];
  const rows = plugins.map((p) => {
    const v = p.history?.violations;
    const missing = p.missing.length + p.unknown.length;
    return [
      p.name,
      p.version,
      p.state,
      String(p.requested.length),
      String(p.effective.length),
      missing ? `${missing} !` : "0",
      v ? `${v.count}${v.severe ? ` (${v.severe} severe !)` : ""}` : "?",
      p.live ? String(p.live.violations) : "—",
      p.history ? String(eventCount(p.history, "plugin.suspended")) : "?",
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...rows.map(fmt)];
}

const eventCount = (h: PluginHistory, action: string) =>
  h.events.counts.find((c) => c.action === action)?.count ?? 0;

/** Capabilities that share the same config entries, on one line. */
function byVia(grants: readonly Grant[]): Array<{ capabilities: string[]; via: string }> {
  const groups = new Map<string, string[]>();
  for (const g of grants) {
    const via = g.via.join("; ");
    groups.set(via, [...(groups.get(via) ?? []), g.capability]);
  }
  return [...groups].map(([via, capabilities]) => ({ capabilities, via }));
}

function pluginBlock(p: PluginAudit): string[] {
  const lines = [`${p.name} ${p.version}${p.enabled ? "" : " (disabled)"}`];
  lines.push(`  code sha256: ${p.codeSha256 ?? `cannot bundle: ${p.loadError}`}`);
  for (const d of p.live?.drift ?? []) lines.push(`  LIVE DIFFERS: ${describeDrift(d, p.name)}`);
  lines.push(`  requested:   ${list(p.requested)}`);
  for (const g of p.granted) lines.push(`  granted:     ${g.capability}  by ${g.via.join("; ")}`);
  if (p.granted.length === 0) lines.push("  granted:     —");
  for (const g of byVia(p.grantedNotRequested))
    lines.push(
      `  granted, not requested: ${g.capabilities.join(", ")} (via ${g.via}) — would take effect if a manifest update requests it`,
    );
  if (p.missing.length)
    lines.push(`  NOT GRANTED: ${list(p.missing)}  (requested; the plugin runs without them)`);
  if (p.unknown.length) lines.push(`  UNKNOWN:     ${list(p.unknown)}  (not in the capability catalogue)`);
  if (p.live?.effective && p.live.drift.some((d) => d.what === "effective"))
    lines.push(
      `  running with: ${list(p.live.effective)}  (the running gate; the lines below are the config's)`,
    );
  lines.push(`  publish:     ${list(p.subjects.publish)}`);
  const { withheld } = p.subjects;
  lines.push(
    `  subscribe:   ${list(p.subjects.subscribe)}${withheld.length ? `  (not delivered: ${notDelivered(withheld)})` : ""}`,
  );
  lines.push(`  request:     ${list(p.subjects.request)}`);
  const listens = p.manifestSubscribe.map((s) =>
    s.coveredBy
      ? `${s.pattern}  (covered by ${s.coveredBy.subject}, ${s.coveredBy.capability ?? "its own namespace"}${s.withheld.length ? `; not delivered: ${notDelivered(s.withheld)}` : ""})`
      : `${s.pattern}  NOT COVERED: refused at every start and counted as a violation`,
  );
  lines.push(
    `  listens to:  ${listens[0] ?? "— (no manifest subscribe)"}`,
    ...listens.slice(1).map((l) => INDENT + l),
  );
  lines.push(
    `  limits:      memory ${p.limits.memoryMb} MB, handler ${p.limits.handlerTimeoutMs} ms, publish ${p.limits.publishPerSecond}/s`,
  );
  lines.push(`  storage:     ${formatStorage(p.storage, p.requested.includes("storage"))}`);
  const [migrations, ...errors] = formatMigrations(p.migrations, INDENT);
  lines.push(`  migrations:  ${migrations}`, ...errors);
  lines.push(...stateLines(p));
  if (p.history) lines.push(...historyLines(p.history));
  return lines;
}

/** The state now, and what last happened: an old reason is never shown as if it were the current one. */
function stateLines(p: PluginAudit): string[] {
  const last = p.history?.events.recent[0];
  const lastEvent = last
    ? `; last event ${last.at} ${last.action}${last.reason ? `: ${last.reason}` : ""}`
    : "";
  if (!p.live) return [`  state:       ${p.state}${lastEvent}`];
  const { live } = p;
  const lines = [
    `  state:       ${p.state} (live; this run: ${live.restarts} restarts, ${live.violations} violations)${lastEvent}`,
  ];
  if (live.lastError) {
    const current = ["suspended", "crashed", "failed"].includes(p.state);
    lines.push(
      current
        ? `  why:         ${live.lastError}`
        : `  earlier error: ${live.lastError}  (before its latest start, resume or reload)`,
    );
  }
  return lines;
}

function historyLines(h: PluginHistory): string[] {
  const v = h.violations;
  const events = h.events.counts.map((c) => `${c.action.replace(/^plugin\./, "")} ${c.count}×`);
  if (v.count === 0 && events.length === 0) return ["  history:     all-time (audit log): nothing recorded"];
  const severe = v.severe
    ? `${v.severe} severe (${v.severeSinceResume} not followed by an operator resume or reload)`
    : "none severe";
  const lines = [
    `  history:     all-time (audit log, since ${h.since}): ${v.count} violations, ${severe}${events.length ? `; ${events.join(", ")}` : ""}`,
  ];

  const shown = v.recent.slice(0, TEXT_LIMITS.violations);
  if (shown.length) {
    const cut =
      v.count > shown.length
        ? `newest ${shown.length} of ${v.count} (truncated; --json holds the newest ${HISTORY_LIMITS.recent})`
        : `all ${v.count}, newest first`;
    lines.push(`  refused:     ${cut}`, ...runs(shown));
  }
  // Severe ones are read on their own, in the same order: past the ones in the list above come older ones.
  const severeShown = shown.filter((r) => r.severe).length;
  const olderSevere = v.recentSevere.slice(severeShown, severeShown + TEXT_LIMITS.violations);
  if (olderSevere.length) {
    const cut =
      v.severe > severeShown + olderSevere.length
        ? ` (truncated: ${v.severe} severe in all; --json holds the newest ${HISTORY_LIMITS.recent})`
        : "";
    lines.push(`  older severe: ${olderSevere.length} more, newest first${cut}`, ...runs(olderSevere));
  }
  if (v.count > shown.length && v.bySubject.length) {
    const top = v.bySubject.slice(0, TEXT_LIMITS.bySubject);
    const cut =
      v.bySubjectTruncated || v.bySubject.length > top.length ? " (truncated: most refused only)" : "";
    lines.push(
      `  most refused:${cut}`,
      ...top.map((s) => `    ${s.count}× ${s.operation} ${s.subject || "(no subject)"}, last ${s.lastAt}`),
    );
  }
  const recentEvents = h.events.recent.slice(0, TEXT_LIMITS.events);
  if (recentEvents.length) {
    const total = h.events.counts.reduce((n, c) => n + c.count, 0);
    lines.push(
      `  events:      ${total > recentEvents.length ? `newest ${recentEvents.length} of ${total} (truncated)` : `all ${total}, newest first`}`,
      ...recentEvents.map((e) => `    ${e.at} ${e.action}${e.reason ? `: ${e.reason}` : ""}`),
    );
  }
  return lines;
}

/**
 * The violations, newest first, a run of identical ones (a plugin retrying in a loop) as one line with its
 * count and the time of its oldest; severe ones flagged with `!`.
 */
function runs(violations: readonly ViolationRecord[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < violations.length; ) {
    const first = violations[i]!;
    let n = 1;
    while (i + n < violations.length && sameRefusal(first, violations[i + n]!)) n++;
    const last = violations[i + n - 1]!;
    const when =
      n === 1 ? first.at : `${first.at} (×${n}${last.at === first.at ? "" : `, oldest ${last.at}`})`;
    lines.push(`${first.severe ? "  ! " : "    "}${describeViolation(first, when)}`);
    i += n;
  }
  return lines;
}

const sameRefusal = (a: ViolationRecord, b: ViolationRecord) =>
  a.operation === b.operation &&
  a.subject === b.subject &&
  a.capability === b.capability &&
  a.reason === b.reason &&
  a.severe === b.severe;
