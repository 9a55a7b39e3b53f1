import { describe, expect, it } from "vitest";
import { decodeEntities, htmlToText } from "../../src/connectors/cytube/html.js";
import { splitMessage } from "../../src/connectors/cytube/split.js";

describe("cytube html → text", () => {
  it("decodes the server's output for the reference's sample line (§6.3)", () => {
    const html =
      '&lt;b&gt;hi&lt;/b&gt; (x) \'q\' "d" &amp; <strong>bold</strong> <em>it</em> <s>s</s> <code>code</code> <a href="http://example.com/p?a=1" target="_blank" rel="noopener noreferrer">http://example.com/p?a=1</a>';
    expect(htmlToText(html)).toBe("<b>hi</b> (x) 'q' \"d\" & bold it s code http://example.com/p?a=1");
  });
  it("decodes numeric, hex and named entities; leaves unknown ones; never yields control chars", () => {
    expect(decodeEntities("&#39;&#x27;&quot;&apos;&nbsp;&bogus;&#10;")).toBe(`''"' &bogus; `);
  });
  it("keeps an image's src and collapses whitespace", () => {
    expect(htmlToText('look <img class="emote" src="https://e/x.png" title="x">  now')).toBe(
      "look https://e/x.png now",
    );
  });
  it("escaped tags typed by a user stay literal text, not markup", () => {
    expect(htmlToText("&lt;script&gt;x&lt;/script&gt;")).toBe("<script>x</script>");
  });
});

describe("splitMessage", () => {
  it("leaves short text alone and drops blank text", () => {
    expect(splitMessage("hello")).toEqual(["hello"]);
    expect(splitMessage("   \n\t ")).toEqual([]);
  });
  it("splits at word boundaries, every chunk ≤ 320, no word cut, nothing lost", () => {
    const words = Array.from({ length: 150 }, (_, i) => `word${i}`);
    const chunks = splitMessage(words.join(" "));
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(320);
    expect(chunks.join(" ").split(" ")).toEqual(words);
  });
  it("hard-cuts a word longer than the limit without splitting a surrogate pair", () => {
    const text = `${"a".repeat(319)}😀${"b".repeat(10)}`;
    const chunks = splitMessage(text);
    expect(chunks[0]).toBe("a".repeat(319));
    expect(chunks[1]).toBe(`😀${"b".repeat(10)}`);
    expect(splitMessage("x".repeat(700), 320).map((c) => c.length)).toEqual([320, 320, 60]);
  });
  it("turns control characters into spaces as the server would", () => {
    expect(splitMessage("a\nb\x00c")).toEqual(["a b c"]);
  });
  it("rejects a nonsense limit with a message naming it", () => {
    expect(() => splitMessage("x", 1)).toThrow(/'max' must be an integer ≥ 2: current value is 1/);
  });
});
