import type { ChatEvent } from "../envelope.js";

/**
 * Turns a chat line into a command: `!roll 2d6+1` → `{ name: "roll", args: ["2d6+1"], text: "2d6+1" }`.
 * The prefix is configurable (`router.prefix`); names are case-insensitive (returned lowercase); double or
 * single quotes group words into one argument (`!echo "a b" c` → `["a b", "c"]`).
 */
export interface ParsedCommand {
  /** Lowercased command word, without the prefix. */
  readonly name: string;
  readonly args: readonly string[];
  /** Everything after the command word, trimmed but otherwise untouched. */
  readonly text: string;
}

/** What a command word may look like; anything else after the prefix (`!!!`, `! hi`) is just chat. */
const COMMAND_WORD = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

/** Parses one line; `undefined` when it is not a command. */
export function parseCommandLine(content: string, prefix: string): ParsedCommand | undefined {
  const line = content.trim();
  if (prefix.length === 0 || !line.startsWith(prefix)) return undefined;
  const rest = line.slice(prefix.length);
  const match = /^(\S+)(?:\s+([\s\S]*))?$/.exec(rest);
  if (!match) return undefined;
  const word = match[1]!;
  if (!COMMAND_WORD.test(word)) return undefined;
  const text = (match[2] ?? "").trim();
  return { name: word.toLowerCase(), args: splitArgs(text), text };
}

/** Parses a normalized chat event; the bot's own messages (`is_self`) are never commands. */
export function parseChatCommand(event: ChatEvent, prefix: string): ParsedCommand | undefined {
  if (event.is_self === true) return undefined;
  return parseCommandLine(event.content, prefix);
}

/**
 * Splits on whitespace; a quote that opens at the start of a word groups until its matching close quote.
 * An unmatched quote is kept literally, so `!say don't` still gives `["don't"]`.
 */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (i >= text.length) break;
    const quote = text[i];
    if (quote === '"' || quote === "'") {
      const close = text.indexOf(quote, i + 1);
      const after = text[close + 1];
      if (close > i && (after === undefined || /\s/.test(after))) {
        args.push(text.slice(i + 1, close));
        i = close + 1;
        continue;
      }
    }
    let end = i;
    while (end < text.length && !/\s/.test(text[end]!)) end++;
    args.push(text.slice(i, end));
    i = end;
  }
  return args;
}
