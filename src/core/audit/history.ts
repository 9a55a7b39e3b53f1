import { z } from "zod";
import { escapeControls } from "../../sandbox/escape-text.js";
import type { Database, Engine } from "../db/connection.js";

/**
 * A plugin's record in `audit_log` (every `rosey.security.violation` and `rosey.security.audit` event the
 * database service persisted): all-time counts by SQL aggregate over the whole log, and the newest rows of
 * each kind read separately. A plugin controls how many violations it makes, so nothing it floods the log
 * with may push out a count, a severe violation or a suspension: each is its own query.
 */

/** Newest rows of each list kept in the report (`--json`); the text shows fewer and says so. */
export const HISTORY_LIMITS = Object.freeze({ recent: 100, bySubject: 20 });

/** Operator actions on `rosey.admin.plugins.*`: a severe violation recorded before one has been seen to. */
const OPERATOR_ACTIONS: readonly string[] = ["plugin.resumed", "plugin.reloaded"];

export interface ViolationRecord {
  at: string;
  /** What the plugin tried: publish, subscribe, request, respond, protocol. */
  operation: string;
  subject: string | null;
  /** The capability that would have allowed it, when one exists. */
  capability: string | null;
  reason: string | null;
  /** The gate's flag: the core's channels, another plugin's namespace, a malformed message. */
  severe: boolean;
}

/** A `rosey.security.audit` event about the plugin: plugin.suspended, .resumed, .reloaded, .crashed, .failed. */
export interface LifecycleEvent {
  at: string;
  action: string;
  reason: string | null;
}

export interface PluginHistory {
  /** The plugin's oldest row: "all-time" counts start here. Null when the log holds nothing about it. */
  since: string | null;
  violations: {
    count: number;
    severe: number;
    /** Severe violations after the plugin's latest resume or reload (all, when none): what `--strict` fails. */
    severeSinceResume: number;
    lastAt: string | null;
    /** Newest first, at most `HISTORY_LIMITS.recent`. */
    recent: ViolationRecord[];
    /** The newest severe ones, read on their own: a flood of lesser ones cannot push them out of `recent`. */
    recentSevere: ViolationRecord[];
    /** `count` is larger than `recent` holds. */
    truncated: boolean;
    /** What was refused most, most often first, at most `HISTORY_LIMITS.bySubject`. */
    bySubject: Array<{ operation: string; subject: string | null; count: number; lastAt: string }>;
    bySubjectTruncated: boolean;
  };
  events: {
    /** Per action, all-time, by action name. */
    counts: Array<{ action: string; count: number; lastAt: string }>;
    /** Newest first, at most `HISTORY_LIMITS.recent`. */
    recent: LifecycleEvent[];
    truncated: boolean;
  };
}

// `details` is the event as published; the gate's violations carry these two, other sources may not.
const violationDetails = z.looseObject({
  capability: z.string().nullish().catch(null),
  severe: z.boolean().optional().catch(false),
});

/** `details.severe` is true. The engines spell a JSON path differently (connection.ts types both as SQLite). */
function severeFilter(engine: Engine): { path: string; equals: boolean } {
  return engine === "postgresql"
    ? ({ path: ["severe"], equals: true } as unknown as { path: string; equals: boolean })
    : { path: "$.severe", equals: true };
}

const text = (s: string | null) => (s === null ? null : escapeControls(s));
const newestFirst = [{ createdAt: "desc" as const }, { id: "desc" as const }];
const violationColumns = { action: true, subject: true, reason: true, details: true, createdAt: true };

function toViolation(r: {
  action: string;
  subject: string | null;
  reason: string | null;
  details: unknown;
  createdAt: Date;
}): ViolationRecord {
  const details = violationDetails.safeParse(r.details);
  return {
    at: r.createdAt.toISOString(),
    operation: escapeControls(r.action),
    subject: text(r.subject),
    capability: details.success ? text(details.data.capability ?? null) : null,
    reason: text(r.reason),
    severe: details.success && details.data.severe === true,
  };
}

/** Reads one plugin's history (only reads: the caller, audit-log.ts, owns the connection). */
export async function readHistory(db: Database, plugin: string): Promise<PluginHistory> {
  const log = db.prisma.auditLog;
  const limit = HISTORY_LIMITS.recent;
  const violation = { plugin, kind: "violation" };
  const severe = { ...violation, details: severeFilter(db.engine) };

  const groups = await log.groupBy({
    by: ["kind", "action"],
    where: { plugin },
    _count: { _all: true },
    _min: { createdAt: true },
    _max: { createdAt: true },
  });
  const events = groups
    .filter((g) => g.kind === "audit")
    .map((g) => ({ action: escapeControls(g.action), count: g._count._all, lastAt: g._max.createdAt! }))
    .sort((a, b) => (a.action < b.action ? -1 : a.action > b.action ? 1 : 0));
  const reviewed = events
    .filter((e) => OPERATOR_ACTIONS.includes(e.action))
    .reduce<Date | undefined>((latest, e) => (latest && latest > e.lastAt ? latest : e.lastAt), undefined);
  const violationGroups = groups.filter((g) => g.kind === "violation");
  const count = violationGroups.reduce((n, g) => n + g._count._all, 0);
  const times = (pick: "_min" | "_max", of: typeof groups) =>
    of.map((g) => g[pick].createdAt!.toISOString()).sort();

  const [severeCount, severeSinceResume, recent, recentSevere, subjects, recentEvents] = await Promise.all([
    log.count({ where: severe }),
    reviewed ? log.count({ where: { ...severe, createdAt: { gt: reviewed } } }) : undefined,
    log.findMany({ where: violation, orderBy: newestFirst, take: limit, select: violationColumns }),
    log.findMany({ where: severe, orderBy: newestFirst, take: limit, select: violationColumns }),
    log.groupBy({
      by: ["action", "subject"],
      where: violation,
      _count: { _all: true },
      _max: { createdAt: true },
      orderBy: [
        { _count: { id: "desc" } },
        { _max: { createdAt: "desc" } },
        { action: "asc" },
        { subject: "asc" },
      ],
      take: HISTORY_LIMITS.bySubject + 1,
    }),
    log.findMany({
      where: { plugin, kind: "audit" },
      orderBy: newestFirst,
      take: limit,
      select: { action: true, reason: true, createdAt: true },
    }),
  ]);
  const eventCount = events.reduce((n, e) => n + e.count, 0);
  return {
    since: times("_min", groups)[0] ?? null,
    violations: {
      count,
      severe: severeCount,
      severeSinceResume: severeSinceResume ?? severeCount,
      lastAt: times("_max", violationGroups).at(-1) ?? null,
      recent: recent.map(toViolation),
      recentSevere: recentSevere.map(toViolation),
      truncated: count > recent.length,
      bySubject: subjects.slice(0, HISTORY_LIMITS.bySubject).map((s) => ({
        operation: escapeControls(s.action),
        subject: text(s.subject),
        count: s._count._all,
        lastAt: s._max.createdAt!.toISOString(),
      })),
      bySubjectTruncated: subjects.length > HISTORY_LIMITS.bySubject,
    },
    events: {
      counts: events.map((e) => ({ ...e, lastAt: e.lastAt.toISOString() })),
      recent: recentEvents.map((e) => ({
        at: e.createdAt.toISOString(),
        action: escapeControls(e.action),
        reason: text(e.reason),
      })),
      truncated: eventCount > recentEvents.length,
    },
  };
}
