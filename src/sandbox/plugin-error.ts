import { escapeControls } from "./escape-text.js";

/**
 * Where a plugin's error happened, as the worker reports it and the core logs it.
 *
 *   worker                                          core (plugin-worker.ts)
 *   ──────                                          ───────────────────────
 *   SES getStackString(err)                          frames validated (protocol.ts: counts, sizes)
 *   → pluginFrames(): only frames of the bundle ──▶  → mapped through the bundle's source map
 *     (its sourceURL), in bundle coordinates           (bundle-source-map.ts) to the author's files
 *                                                    → logged as `err.stack`, with `ambientHint`
 *
 * The worker sends numbers and short, escaped function names, never stack text: what the core prints as a
 * location it computed itself, from a map it made. Shared by both sides, so free of dependencies (the worker
 * loads nothing from the core).
 */

/** The `//# sourceURL` the loader gives the plugin's bundle: frames in plugin code name it. */
export const BUNDLE_SOURCE_URL = "rosey-plugin-bundle.js";
/** Most frames a worker reports for one error: the innermost ones, which say where it happened. */
export const MAX_STACK_FRAMES = 12;
/** Longest function name a frame carries; longer ones are cut in the worker. */
export const MAX_FRAME_NAME_CHARS = 128;
/** Largest line or column number a frame may carry (a 2 MiB bundle has far fewer of either). */
export const MAX_FRAME_POSITION = 10_000_000;

/** One frame of plugin code: 1-based line and column in the bundle as the plugin's worker evaluated it. */
export interface StackFrame {
  /** The function's name as V8 prints it (`Object.onCommand`, `async helper`); absent for top-level code. */
  fn?: string;
  line: number;
  column: number;
}

const POSITION = /:(\d+):(\d+)$/;
/** A frame line names the bundle either after a function name (`at fn (URL:l:c)`) or alone (`at URL:l:c`). */
const NAMED = ` (${BUNDLE_SOURCE_URL}`;
const BARE = `at ${BUNDLE_SOURCE_URL}`;

/**
 * The frames of `stack` (V8's `    at fn (file:line:col)` lines, as SES's `getStackString` gives them) that lie in
 * the plugin's bundle, innermost first, at most MAX_STACK_FRAMES. `lineOffset` is the number of lines the
 * loader puts before the bundle's first line; positions come out in the bundle's own coordinates. Frames of
 * the sandbox (ctx, worker entry), of SES and of code the plugin made at run time (`Function(…)`) are left
 * out: they are nowhere in the author's files.
 *
 * Parsed from the end of each line, without a backtracking pattern: a function name is the plugin's to
 * choose (computed keys), of any length and content.
 */
export function pluginFrames(stack: string, lineOffset: number): StackFrame[] {
  const frames: StackFrame[] = [];
  for (const raw of stack.split("\n")) {
    let text = raw.trim();
    if (!text.startsWith("at ")) continue;
    const named = text.endsWith(")");
    if (named) text = text.slice(0, -1);
    const position = POSITION.exec(text);
    if (!position) continue;
    let fn: string | undefined;
    if (named) {
      const start = position.index - NAMED.length;
      if (start < 3 || text.slice(start, position.index) !== NAMED) continue;
      // Escaped and cut: a name cannot forge lines in the log, nor grow the report.
      fn = escapeControls(text.slice(3, Math.min(start, 3 + MAX_FRAME_NAME_CHARS))).slice(
        0,
        MAX_FRAME_NAME_CHARS,
      );
    } else if (text.slice(0, position.index) !== BARE) continue;
    const line = Number(position[1]) - lineOffset;
    const column = Number(position[2]);
    if (!(line >= 1 && line <= MAX_FRAME_POSITION && column >= 1 && column <= MAX_FRAME_POSITION)) continue;
    frames.push(fn ? { fn, line, column } : { line, column });
    if (frames.length === MAX_STACK_FRAMES) break;
  }
  return frames;
}

/**
 * SES's refusals of ambient time and randomness inside a compartment (`Date.now()`, `new Date()`,
 * `Math.random()`), as their messages read: `secure mode Calling %SharedDate%.now() throws`,
 * `secure mode Calling new %SharedDate%() with no arguments throws`, `secure mode %SharedMath%.random() throws`.
 */
const AMBIENT = /\bsecure mode (?:Calling )?(?:new )?%Shared(?:Date|Math)%/;

export const AMBIENT_HINT = "use ctx.now() / ctx.random(): plugins have no ambient clock or randomness";

/** The hint for an error SES raised because plugin code reached for the clock or randomness; else undefined. */
export function ambientHint(error: string): string | undefined {
  return AMBIENT.test(error) ? AMBIENT_HINT : undefined;
}
