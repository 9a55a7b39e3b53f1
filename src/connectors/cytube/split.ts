/**
 * CyTube cuts every chat message and PM to `max-chat-message-length` (320 by default) UTF-16 code units and
 * drops the rest silently (cytube-protocol.md §6.1). We split long text ourselves so nothing is lost.
 */

/** The server's default cut. */
export const CYTUBE_MAX_MESSAGE_LENGTH = 320;

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/**
 * Splits `text` into chunks of at most `max` code units, breaking at the last whitespace inside the limit
 * when there is one (the whitespace itself is dropped), otherwise hard-cutting the word, never in the middle
 * of a surrogate pair. Control characters become spaces, as the server would do; blank chunks are dropped
 * because the server drops them silently.
 *
 * @example splitMessage("a ".repeat(200), 320) // two chunks, each ≤ 320 chars, no word cut
 */
export function splitMessage(text: string, max = CYTUBE_MAX_MESSAGE_LENGTH): string[] {
  if (!Number.isInteger(max) || max < 2) {
    throw new RangeError(`Cannot split a message as 'max' must be an integer ≥ 2: current value is ${max}`);
  }
  // The server turns [\x00-\x1f] into spaces; doing it first keeps our length arithmetic honest.
  let rest = text.replace(/[\x00-\x1f]/g, " ").trim();
  const chunks: string[] = [];
  while (rest.length > max) {
    let cut = -1;
    for (let i = max; i > 0; i--) {
      if (rest[i] === " ") {
        cut = i;
        break;
      }
    }
    let head: string;
    if (cut > 0) {
      head = rest.slice(0, cut);
      rest = rest.slice(cut + 1);
    } else {
      let end = max;
      if (isHighSurrogate(rest.charCodeAt(end - 1))) end -= 1;
      head = rest.slice(0, end);
      rest = rest.slice(end);
    }
    head = head.trimEnd();
    if (head.length > 0) chunks.push(head);
    rest = rest.trimStart();
  }
  if (rest.length > 0) chunks.push(rest);
  return chunks;
}
