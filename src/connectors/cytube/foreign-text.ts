import { escapeControls } from "../../sandbox/escape-text.js";

/** How much of one server-chosen text goes into a log line, a health detail or an error message. */
export const MAX_FOREIGN_TEXT = 500;

/**
 * Text the CyTube server chose (a kick reason a moderator typed, a login refusal, an error frame, an event
 * name), made fit for a log line: cut to `max` characters, then control, C1 and bidi characters shown as
 * `\uXXXX`. The server strips only `[\x00-\x1f]` from chat (and not even that with `allow_ascii_control`), so
 * a C1 CSI or a bidi override typed into `/kick rosey <reason>` reached the operator's terminal raw: pino's
 * JSON escapes C0 but neither of those.
 */
export function foreignText(value: unknown, max = MAX_FOREIGN_TEXT): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  return escapeControls(text.length > max ? `${text.slice(0, max)}…` : text);
}
