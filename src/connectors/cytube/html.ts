/**
 * CyTube sends chat and PM text as HTML: `& < >` escaped, links turned into anchors, filters producing
 * `<strong>`, `<em>`, `<code>`… (cytube-protocol.md §6.3). Commands and plugins want the plain text.
 */

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
  "#39": "'",
};

/** Decodes named (`&amp;`), decimal (`&#39;`) and hex (`&#x27;`) entities; unknown ones stay as they are. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z][a-z0-9]{1,31});/gi, (whole, body: string) => {
    if (body[0] === "#") {
      const code =
        body[1] === "x" || body[1] === "X" ? Number.parseInt(body.slice(2), 16) : Number(body.slice(1));
      if (!Number.isFinite(code) || code < 0 || code > 0x10ffff) return whole;
      // Entities cannot smuggle control characters or lone surrogates into commands.
      if (code < 0x20 || (code >= 0xd800 && code <= 0xdfff)) return " ";
      return String.fromCodePoint(code);
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

/**
 * Longer HTML is cut before it is read. A CyTube message is at most 1,000 characters before the server escapes
 * it and turns links into anchors; only a broken or hostile server sends more.
 */
export const MAX_HTML_LENGTH = 64 * 1024;

/**
 * A tag is `<` … `>` with no `<` inside, so each character is scanned once. The former `<[^>]*>` (and its
 * `<img … src=…>` companion) backtracked over every unclosed `<`: 100 KB of `<` took 3.7 s, and 30 KB of
 * unclosed `<img src="x"` 20 s, of the core's only thread.
 */
const TAG = /<[^<>]*>/g;
const IMG_SRC = /^<img\b[^>]*?\bsrc="([^"]*)"/i;
const BR = /^<br\s*\/?>$/i;

/**
 * Removes tags (the server's own `<a>`, `<strong>`, spoiler spans…) and decodes entities. Escaped text
 * such as `&lt;b&gt;` was typed by the user and comes back as the literal `<b>`. `<img>` keeps its `src`
 * because an emote or image link is the only content of such a message. A `<` that opens no tag stays text.
 */
export function htmlToText(html: string): string {
  const bounded = html.length > MAX_HTML_LENGTH ? html.slice(0, MAX_HTML_LENGTH) : html;
  const withoutTags = bounded.replace(TAG, (tag) => {
    const img = IMG_SRC.exec(tag);
    if (img) return ` ${img[1]} `;
    return BR.test(tag) ? " " : "";
  });
  return decodeEntities(withoutTags).replace(/\s+/g, " ").trim();
}
