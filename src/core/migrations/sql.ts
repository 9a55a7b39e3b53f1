/**
 * Just enough SQL lexing for migrations: split a script into statements (respecting quotes, comments and
 * PostgreSQL dollar quotes), and split a plugin migration file into its `-- UP` and `-- DOWN` sections.
 */

export interface Statement {
  /** The statement without its trailing semicolon and without comments. */
  readonly text: string;
  /** 1-based line where it starts in the script it came from. */
  readonly line: number;
}

export interface SplitResult {
  statements: Statement[];
  /** Set when a quote, quoted identifier, dollar quote or block comment is never closed. */
  unterminated?: string;
}

/** Splits on top-level `;`. Comments are dropped from the statement text. */
export function splitStatements(script: string, firstLine = 1): SplitResult {
  const statements: Statement[] = [];
  let current = "";
  // Whether `current` holds only whitespace so far: tracked, not tested with trim() at every character,
  // which made splitting quadratic in a statement's length (256 KiB: ~11 s).
  let blank = true;
  let line = firstLine;
  let startLine = firstLine;
  let i = 0;
  const push = () => {
    const text = current.trim();
    if (text) statements.push({ text, line: startLine });
    current = "";
    blank = true;
  };
  const n = script.length;
  while (i < n) {
    const ch = script[i]!;
    const next = script[i + 1];
    if (blank) startLine = line;
    if (ch === "\n") line++;
    if (ch === "-" && next === "-") {
      const end = script.indexOf("\n", i);
      i = end === -1 ? n : end;
      continue;
    }
    if (ch === "/" && next === "*") {
      const end = script.indexOf("*/", i + 2);
      if (end === -1) return { statements, unterminated: `block comment opened on line ${line}` };
      line += countLines(script.slice(i, end));
      i = end + 2;
      current += " ";
      continue;
    }
    if (ch === "'" || ch === '"' || ch === "`") {
      const end = closingQuote(script, i, ch);
      if (end === -1) return { statements, unterminated: `${ch} quote opened on line ${line}` };
      const chunk = script.slice(i, end + 1);
      line += countLines(chunk);
      current += chunk;
      blank = false;
      i = end + 1;
      continue;
    }
    if (ch === "$") {
      DOLLAR_TAG.lastIndex = i;
      const tag = DOLLAR_TAG.exec(script)?.[0];
      if (tag) {
        const end = script.indexOf(tag, i + tag.length);
        if (end === -1) return { statements, unterminated: `dollar quote ${tag} opened on line ${line}` };
        const chunk = script.slice(i, end + tag.length);
        line += countLines(chunk);
        current += chunk;
        blank = false;
        i = end + tag.length;
        continue;
      }
    }
    if (ch === ";") {
      push();
      i++;
      continue;
    }
    current += ch;
    if (blank && !/\s/.test(ch)) blank = false;
    i++;
  }
  push();
  return { statements };
}

const DOLLAR_TAG = /\$[A-Za-z_]*\$/y;

function closingQuote(script: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < script.length) {
    if (script[i] === quote) {
      if (script[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i;
    }
    i++;
  }
  return -1;
}

function countLines(text: string): number {
  let count = 0;
  for (const c of text) if (c === "\n") count++;
  return count;
}

/** Replaces string literals and quoted identifiers' contents so keyword scans do not see inside them. */
export function maskLiterals(text: string): string {
  return text.replace(/'(?:[^']|'')*'/g, "''").replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "''");
}

export interface MigrationSections {
  up: string;
  down: string;
  upLine: number;
  downLine: number;
  /** False when the file has no `-- UP` marker (the whole file is then UP). */
  hasUpMarker: boolean;
  hasDownMarker: boolean;
}

const UP_MARKER = /^\s*--\s*UP\s*$/i;
const DOWN_MARKER = /^\s*--\s*DOWN\s*$/i;

/** Splits a plugin migration file at its `-- UP` and `-- DOWN` marker lines. */
export function splitSections(text: string): MigrationSections {
  const lines = text.split(/\r?\n/);
  const upIndex = lines.findIndex((l) => UP_MARKER.test(l));
  const downIndex = lines.findIndex((l) => DOWN_MARKER.test(l));
  const upStart = upIndex === -1 ? 0 : upIndex + 1;
  const upEnd = downIndex > upIndex ? downIndex : lines.length;
  const up = lines.slice(upStart, upEnd).join("\n");
  const down = downIndex === -1 ? "" : lines.slice(downIndex + 1).join("\n");
  return {
    up,
    down,
    upLine: upStart + 1,
    downLine: downIndex + 2,
    hasUpMarker: upIndex !== -1,
    hasDownMarker: downIndex !== -1,
  };
}
