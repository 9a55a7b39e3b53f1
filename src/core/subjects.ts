/**
 * Canonical subjects (design.md §2) and the subject grammar the gate applies to every string that can
 * reach the NATS client. The client itself writes subjects verbatim: a CR/LF in a subject would inject
 * protocol commands, so nothing plugin-supplied reaches it unchecked.
 */

export const SUBJECTS = {
  eventsMessage: "rosey.events.message",
  eventsPm: "rosey.events.pm",
  actionsChatSend: "rosey.actions.chat.send",
  actionsChatPm: "rosey.actions.chat.pm",
  securityViolation: "rosey.security.violation",
  securityAudit: "rosey.security.audit",
  monitoringHealth: "rosey.monitoring.health",
  monitoringMetrics: "rosey.monitoring.metrics",
  monitoringPlugins: "rosey.monitoring.plugins",
} as const;

/**
 * The normalized events the connectors publish (design.md §2), whose `data` plugin-api.ts's `Events` gives
 * (tests/unit/plugin-api.test.ts holds the two together). `rosey config check` names a subscription to any
 * other `rosey.events.` subject, which is most often a typo.
 */
export const NORMALIZED_EVENTS = [
  "rosey.events.message",
  "rosey.events.pm",
  "rosey.events.user.join",
  "rosey.events.user.leave",
  "rosey.events.user.list",
  "rosey.events.user.rank",
  "rosey.events.user.afk",
  "rosey.events.media.change",
  "rosey.events.media.update",
  "rosey.events.playlist.set",
  "rosey.events.playlist.queue",
  "rosey.events.playlist.delete",
  "rosey.events.playlist.current",
  "rosey.events.playlist.move",
  "rosey.events.playlist.temp",
  "rosey.events.playlist.lock",
  "rosey.events.poll.open",
  "rosey.events.poll.update",
  "rosey.events.poll.close",
  "rosey.events.usercount",
  "rosey.events.kick",
  "rosey.events.error",
] as const;

export const commandSubject = (plugin: string): string => `rosey.commands.${plugin}.execute`;
export const pluginNamespace = (plugin: string): string => `rosey.plugins.${plugin}.>`;
export const platformSubject = (platform: string, event: string): string =>
  `rosey.platform.${platform}.${event}`;
/** The core's liveness ping of its own database process; `id` is known to that process alone (db/liveness.ts). */
export const dbPingSubject = (id: string): string => `rosey.db.ping.${id}`;
/** Where ingestion sets aside an event it cannot write (refused or invalid), under its own subject (db/dead-letter.ts). */
export const dbDeadLetterSubject = (subject: string): string => `rosey.db.deadletter.${subject}`;

export const SUBJECT_MAX_LENGTH = 256;
export const SUBJECT_MAX_TOKENS = 16;
const TOKEN = /^[A-Za-z0-9_-]+$/;

export type SubjectKind = "publish" | "subscribe";

/**
 * Returns why `subject` is not acceptable, or `undefined` when it is.
 * Tokens are `[A-Za-z0-9_-]+`; `*` and a final `>` are allowed only for subscriptions;
 * `_INBOX` and `$`-prefixed subjects are reserved for the core.
 */
export function subjectProblem(subject: unknown, kind: SubjectKind): string | undefined {
  if (typeof subject !== "string") return `subject must be a string, got ${typeof subject}`;
  if (subject.length === 0) return "subject is empty";
  if (subject.length > SUBJECT_MAX_LENGTH)
    return `subject is ${subject.length} characters, max ${SUBJECT_MAX_LENGTH}`;
  const tokens = subject.split(".");
  if (tokens.length > SUBJECT_MAX_TOKENS)
    return `subject has ${tokens.length} tokens, max ${SUBJECT_MAX_TOKENS}`;
  if (tokens[0] === "_INBOX" || subject.startsWith("$")) return "subject is in a reserved namespace";
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token === "") return `subject has an empty token at position ${i + 1}`;
    if (token === "*" || token === ">") {
      if (kind === "publish") return "wildcards are not allowed when publishing";
      if (token === ">" && i !== tokens.length - 1) return "'>' must be the last token";
      continue;
    }
    if (!TOKEN.test(token)) return `token ${JSON.stringify(token)} has characters outside [A-Za-z0-9_-]`;
  }
  return undefined;
}

/** True when a concrete subject (no wildcards) matches a NATS pattern. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === ">") return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * True when every subject matched by `inner` is also matched by `outer` (token-wise coverage).
 * Used to decide whether a requested subscription pattern lies inside a granted pattern.
 */
export function patternCovers(outer: string, inner: string): boolean {
  const o = outer.split(".");
  const n = inner.split(".");
  for (let i = 0; i < o.length; i++) {
    const ot = o[i];
    if (ot === ">") return n.length > i;
    if (i >= n.length) return false;
    const nt = n[i];
    if (nt === ">") return false;
    if (ot === "*") continue;
    if (nt === "*" || ot !== nt) return false;
  }
  return o.length === n.length;
}

/**
 * True when some subject matches both patterns: a subscription that reaches reserved space (the gate), a
 * NATS user allowed to publish where it also listens (component-users.ts).
 */
export function patternsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === ">" || q === ">") return p !== undefined && q !== undefined;
    if (p === undefined || q === undefined) return false;
    if (p !== "*" && q !== "*" && p !== q) return false;
  }
  return true;
}

/**
 * Whether a message's reply subject is an inbox (`_INBOX.…`, or a part's own `_INBOX_<user>.…`). Anything
 * else is not answered: a sender that set `rosey.admin.plugins.resume` or `rosey.security.violation` as the
 * reply subject would otherwise have the core (with every right) publish its answer there.
 */
export function isReplySubject(subject: string): boolean {
  return /^_INBOX(?:_[A-Za-z0-9-]+)?\.[A-Za-z0-9_.-]+$/.test(subject);
}

/** Plugin names double as subject tokens and table prefixes. */
export const PLUGIN_NAME = /^[a-z][a-z0-9-]{0,31}$/;
