/**
 * One escaping rule for text a plugin controls. It lives beside the sandbox because the worker escapes a
 * plugin's log lines with it (`sanitizeLogText`) and loads nothing from the core; the core and the CLI use
 * it for everything else.
 *
 * Text from a plugin's folder (manifest keys, file names, import specifiers, SQL, parse errors quoting any of
 * these) ends up in errors, logs and the CLI's output. Printed raw, its control characters would reach the
 * operator's terminal: ANSI/OSC sequences rewrite the screen, the title or the clipboard, CR/LF forge lines
 * of a report, bidi overrides reorder what is shown. Both functions make such characters visible instead.
 */

// C0 and C1 controls, DEL, line/paragraph separators, and the bidi embedding/override/isolate marks.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_LAYOUT =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const visible = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** Every control character as `\uXXXX`, newlines too: for foreign text embedded in a one-line message. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, visible);
}

/**
 * For what the CLI prints: every control character as `\uXXXX` except newline and tab, which lay out its
 * own multi-line output. In JSON output it turns a raw C1 or bidi character into its JSON escape: the same
 * value.
 */
export function terminalSafe(text: string): string {
  return text.replace(CONTROLS_BUT_LAYOUT, visible);
}
