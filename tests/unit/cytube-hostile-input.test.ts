import { describe, expect, it } from "vitest";
import { kickDecision } from "../../src/connectors/cytube/client.js";
import { discoverSocketUrl, type FetchLike } from "../../src/connectors/cytube/discovery.js";
import { foreignText, MAX_FOREIGN_TEXT } from "../../src/connectors/cytube/foreign-text.js";
import { htmlToText, MAX_HTML_LENGTH } from "../../src/connectors/cytube/html.js";
import { normalizeEvent } from "../../src/connectors/cytube/normalize.js";
import {
  ChannelState,
  MAX_NAME_LENGTH,
  MAX_PLAYLIST_ITEMS,
  MAX_USERS,
  userName,
} from "../../src/connectors/cytube/state.js";

/** What a broken or hostile CyTube server (or the site's socketconfig) can send, and what we keep of it. */

const ctx = {
  channel: "c",
  receivedAt: 1,
  self: "rosey",
  joined: true,
  lookup: () => undefined,
};

describe("HTML from the server is read in linear time", () => {
  it("unclosed tags, many '<' and huge input finish in milliseconds, not seconds", () => {
    const inputs = [
      "<".repeat(200_000),
      '<img src="x" '.repeat(20_000),
      `<img ${'src="'.repeat(20_000)}>`,
      `<img src="${"x".repeat(200_000)}`,
      "<a ".repeat(60_000),
    ];
    for (const html of inputs) {
      const started = performance.now();
      htmlToText(html);
      // Before: 30 KB of unclosed <img> took ~20 s; 100 KB of '<' 3.7 s.
      expect(performance.now() - started).toBeLessThan(250);
    }
  });

  it("keeps the same reading of real CyTube HTML; a '<' that opens no tag is text", () => {
    expect(htmlToText('hi <img class="e" src="https://e/x.png"> <a href="u" target="_blank">u</a>')).toBe(
      "hi https://e/x.png u",
    );
    expect(htmlToText("a<br/>b<br>c")).toBe("a b c");
    expect(htmlToText("<<b>x</b>")).toBe("<x");
    expect(htmlToText("y".repeat(MAX_HTML_LENGTH + 10))).toHaveLength(MAX_HTML_LENGTH);
  });
});

describe("user names and state caps", () => {
  it("accepts CyTube names and the server's [bracket] senders, refuses the rest", () => {
    for (const ok of ["alice", "Bob_1", "x-y", "[server]", "a".repeat(MAX_NAME_LENGTH)])
      expect(userName(ok), ok).toBe(ok);
    for (const bad of [
      "",
      "a".repeat(MAX_NAME_LENGTH + 1),
      "al ice",
      "ali\u202ece",
      "a\u200bb",
      "x\u0085",
      7,
      null,
    ])
      expect(userName(bad), JSON.stringify(bad)).toBe("");
  });

  it("drops chat, PMs and user events whose name is not a name", () => {
    expect(normalizeEvent("chatMsg", { username: "x".repeat(1000), msg: "!roll", meta: {} }, ctx)).toEqual(
      [],
    );
    expect(normalizeEvent("pm", { username: "a\u202eb", msg: "hi", to: "rosey" }, ctx)).toEqual([]);
    expect(normalizeEvent("setUserRank", { name: "a\nb", rank: 5 }, ctx)).toEqual([]);
    expect(normalizeEvent("addUser", { name: "a".repeat(100), rank: 0 }, ctx)).toEqual([]);
    const [ok] = normalizeEvent("pm", { username: "alice", msg: "hi", to: "x".repeat(100) }, ctx);
    expect(ok!.data.recipient).toBeUndefined();
  });

  it("keeps at most MAX_USERS users and MAX_PLAYLIST_ITEMS items, counting the rest as overflow", () => {
    const state = new ChannelState("c");
    const users = Array.from({ length: MAX_USERS + 5 }, (_, i) => ({ name: `u${i}`, rank: 0 }));
    state.apply("userlist", users, 1);
    expect(state.users.size).toBe(MAX_USERS);
    state.apply("addUser", { name: "late", rank: 0 }, 1);
    state.apply("addUser", { name: "u0", rank: 3 }, 1);
    expect(state.users.size).toBe(MAX_USERS);
    expect(state.user("u0")?.rank).toBe(3);
    expect(state.overflow).toBe(6);

    const item = (uid: number) => ({ uid, temp: true, queueby: "x", media: { id: `m${uid}`, type: "yt" } });
    state.apply(
      "playlist",
      Array.from({ length: MAX_PLAYLIST_ITEMS + 3 }, (_, i) => item(i)),
      1,
    );
    expect(state.playlist).toHaveLength(MAX_PLAYLIST_ITEMS);
    state.apply("queue", { item: item(MAX_PLAYLIST_ITEMS + 100), after: 1 }, 1);
    expect(state.playlist).toHaveLength(MAX_PLAYLIST_ITEMS);
    state.apply("queue", { item: item(1), after: "prepend" }, 1);
    expect(state.playlist[0]!.uid).toBe(1);
    expect(state.overflow).toBe(6 + 3 + 1);
  });
});

describe("server text in logs, health and errors", () => {
  it("foreignText shows controls, C1 and bidi as \\uXXXX and cuts long text", () => {
    expect(foreignText("bye\u001b]0;x\u0007 \u009b2J \u202eabc")).toBe(
      "bye\\u001b]0;x\\u0007 \\u009b2J \\u202eabc",
    );
    expect(foreignText({ a: "\u009b" })).toBe('{"a":"\\u009b"}');
    expect(foreignText("z".repeat(MAX_FOREIGN_TEXT + 5))).toBe(`${"z".repeat(MAX_FOREIGN_TEXT)}…`);
    expect(foreignText(undefined)).toBe("undefined");
  });

  it("kickDecision: a guest comes back after 'Duplicate login', an account does not", () => {
    const p = { rejoinOnKick: false, rejoinOnBan: false };
    expect(kickDecision("Duplicate login", { ...p, guest: true })).toBe(true);
    expect(kickDecision("Duplicate login", { ...p, guest: false })).toBe(false);
    expect(kickDecision("Duplicate login", p)).toBe(false);
  });
});

describe("socket server discovery (attack 76)", () => {
  const answer =
    (status: number, body: unknown): FetchLike =>
    async () => ({ ok: status === 200, status, json: async () => body });

  it("refuses a plain-text socket server offered by an https site: the login would travel in clear", async () => {
    const fetch = answer(200, { servers: [{ url: "http://cytube.example:1337", secure: false }] });
    await expect(discoverSocketUrl("https://cytube.example", "chan", { fetch })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      message: expect.stringContaining("clear text"),
    });
    const secure = answer(200, { servers: [{ url: "https://cytube.example:8443", secure: true }] });
    await expect(discoverSocketUrl("https://cytube.example", "chan", { fetch: secure })).resolves.toBe(
      "https://cytube.example:8443",
    );
    await expect(discoverSocketUrl("http://127.0.0.1:1", "chan", { fetch })).resolves.toBe(
      "http://cytube.example:1337",
    );
  });

  it("quotes the site's error text escaped", async () => {
    const fetch = answer(404, { error: "no \u009b2J such\u202e channel" });
    await expect(discoverSocketUrl("http://127.0.0.1:1", "chan", { fetch })).rejects.toMatchObject({
      message: expect.stringContaining("(no \\u009b2J such\\u202e channel)"),
    });
  });
});
