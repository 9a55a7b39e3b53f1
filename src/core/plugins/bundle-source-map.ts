import { SourceMap, type SourceMapPayload } from "node:module";
import { escapeControls } from "../../sandbox/escape-text.js";
import { ambientHint, type StackFrame } from "../../sandbox/plugin-error.js";

/**
 * The bundle's source map, in the core: it turns the positions a worker reports in the bundled code into the
 * author's files, lines and columns. bundle.ts appends the map to the code as an inline comment (the one
 * string the plugin manager keeps and hands to the worker); the worker handle takes it off before the code
 * crosses to the worker, so the map never costs the worker memory or the spawn frame bytes, and the worker
 * never gets to choose what a location says.
 */

const INLINE_MAP = "\n//# sourceMappingURL=data:application/json;base64,";

/** Bundled code with its inline source map taken off: `code` as the worker runs it, the map's JSON text. */
export function splitSourceMap(bundle: string): { code: string; map: string | undefined } {
  const at = bundle.lastIndexOf(INLINE_MAP);
  if (at < 0) return { code: bundle, map: undefined };
  const encoded = bundle.slice(at + INLINE_MAP.length).trim();
  // Only a comment that ends the bundle is the map; anything after it means the text is not ours.
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return { code: bundle, map: undefined };
  return { code: bundle.slice(0, at + 1), map: Buffer.from(encoded, "base64").toString("utf8") };
}

/** A position in the author's own file: a path relative to the plugin's folder, 1-based line and column. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** Longest file name shown in a frame. */
const MAX_FILE_CHARS = 200;
/** Largest `stack` text logged for one error, whatever the frames hold. */
export const MAX_STACK_CHARS = 4096;

/** Maps bundle positions to source positions; the map is parsed on first use (most plugins never fail). */
export class BundleLocator {
  #json: string | undefined;
  #map: SourceMap | undefined;

  constructor(json: string | undefined) {
    this.#json = json;
  }

  /** Where a 1-based bundle position comes from, or undefined (no map, a broken one, or generated code). */
  locate(line: number, column: number): SourceLocation | undefined {
    const map = this.#load();
    if (!map) return undefined;
    const entry = map.findEntry(line - 1, column - 1) as Partial<{
      generatedLine: number;
      originalSource: string;
      originalLine: number;
      originalColumn: number;
    }>;
    // findEntry falls back to the last mapping before the position, which may lie on an earlier line.
    if (entry.generatedLine !== line - 1 || typeof entry.originalSource !== "string") return undefined;
    if (typeof entry.originalLine !== "number" || typeof entry.originalColumn !== "number") return undefined;
    return {
      file: escapeControls(entry.originalSource).slice(0, MAX_FILE_CHARS),
      line: entry.originalLine + 1,
      column: entry.originalColumn + 1,
    };
  }

  #load(): SourceMap | undefined {
    if (this.#map || this.#json === undefined) return this.#map;
    const json = this.#json;
    this.#json = undefined;
    try {
      this.#map = new SourceMap(JSON.parse(json) as SourceMapPayload);
    } catch {
      this.#map = undefined;
    }
    return this.#map;
  }
}

/** What the core logs about a plugin's error: the stack in the author's terms, where it happened, a hint. */
export interface PluginErrorReport {
  /** `Name: message` then one `    at fn (file:line:column)` line per frame, at most MAX_STACK_CHARS. */
  stack: string;
  /** The innermost frame's place, `index.ts:12:5`, for one-line messages; absent without frames. */
  at?: string;
  hint?: string;
}

/**
 * Formats the frames a worker reported. A frame the map places is shown in the author's file; one it cannot
 * (no map: the bundle was too large to carry one) as the bundled position, `bundle.js:line:column`, with
 * the function's name, which still finds the spot.
 */
export function reportPluginError(
  error: string,
  frames: readonly StackFrame[] | undefined,
  locator: BundleLocator | undefined,
): PluginErrorReport {
  const lines = [error];
  let at: string | undefined;
  for (const frame of frames ?? []) {
    const source = locator?.locate(frame.line, frame.column);
    const place = source
      ? `${source.file}:${source.line}:${source.column}`
      : `bundle.js:${frame.line}:${frame.column}`;
    at ??= place;
    lines.push(frame.fn ? `    at ${frame.fn} (${place})` : `    at ${place}`);
  }
  let stack = lines.join("\n");
  if (stack.length > MAX_STACK_CHARS) stack = `${stack.slice(0, MAX_STACK_CHARS - 4)}\n...`;
  const hint = ambientHint(error);
  return { stack, ...(at ? { at } : {}), ...(hint ? { hint } : {}) };
}

/** A plugin error on one line, for messages: `Error: x (at index.ts:12:5; use ctx.now() …)`. */
export function oneLine(error: string, report: PluginErrorReport): string {
  const notes = [report.at && `at ${report.at}`, report.hint].filter(Boolean);
  return notes.length > 0 ? `${error} (${notes.join("; ")})` : error;
}
