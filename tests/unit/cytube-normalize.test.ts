import { describe, expect, it } from "vitest";
import { type NormalizeContext, normalizeEvent } from "../../src/connectors/cytube/normalize.js";
import { ChannelState } from "../../src/connectors/cytube/state.js";
import { chatEventSchema } from "../../src/core/envelope.js";

const user = (name: string, rank: number, afk = false) => ({
  name,
  rank,
  profile: { image: "", text: "" },
  meta: { afk, muted: false },
});

function ctx(state: ChannelState, joined = true, at = 1000): NormalizeContext {
  return { channel: "chan", receivedAt: at, self: state.self, joined, lookup: (n) => state.user(n) };
}

function stateWith(...users: ReturnType<typeof user>[]): ChannelState {
  const s = new ChannelState("chan");
  s.apply("login", { success: true, name: "Rosey", guest: true }, 0);
  s.apply("userlist", users, 0);
  return s;
}

describe("cytube normalization", () => {
  it("chatMsg → message: text decoded, server time, user_data from state, original kept", () => {
    const s = stateWith(user("alice", 2, true));
    const frame = { username: "alice", msg: "&lt;3 <strong>x</strong>", meta: {}, time: 1234 };
    const [e] = normalizeEvent("chatMsg", frame, ctx(s));
    expect(e!.type).toBe("message");
    expect(chatEventSchema.parse(e!.data)).toEqual({
      platform: "cytube",
      channel: "chan",
      user: "alice",
      content: "<3 x",
      timestamp: 1234,
      user_data: { username: "alice", rank: 2, is_afk: true, is_moderator: true },
      platform_data: frame,
    });
  });
  it("history replay (before our own addUser) is not a message; our own echo is is_self", () => {
    const s = stateWith();
    expect(
      normalizeEvent("chatMsg", { username: "x", msg: "old", meta: {}, time: 1 }, ctx(s, false)),
    ).toEqual([]);
    const [e] = normalizeEvent("chatMsg", { username: "rosey", msg: "mine", meta: {}, time: 2 }, ctx(s));
    expect(e!.data.is_self).toBe(true);
  });
  it("a shadow-muted user's line (seen by a moderator bot) is not a message, so it cannot command the bot", () => {
    const s = stateWith();
    const frame = { username: "muted", msg: "!echo hello everyone", meta: { shadow: true }, time: 3 };
    expect(normalizeEvent("chatMsg", frame, ctx(s))).toEqual([]);
    expect(normalizeEvent("chatMsg", { ...frame, meta: { shadow: false } }, ctx(s))).toHaveLength(1);
  });
  it("falls back to receipt time without a server time; ignores malformed frames", () => {
    const s = stateWith();
    expect(
      normalizeEvent("chatMsg", { username: "a", msg: "hi" }, ctx(s, true, 777))[0]!.data.timestamp,
    ).toBe(777);
    expect(normalizeEvent("chatMsg", { msg: 42 }, ctx(s))).toEqual([]);
    expect(normalizeEvent("chatMsg", null, ctx(s))).toEqual([]);
  });
  it("pm → pm with recipient (even before join)", () => {
    const s = stateWith(user("bob", 0));
    const [e] = normalizeEvent(
      "pm",
      { username: "bob", msg: "psst &amp;", meta: {}, time: 5, to: "Rosey" },
      ctx(s, false),
    );
    expect(e).toMatchObject({
      type: "pm",
      data: { user: "bob", recipient: "Rosey", content: "psst &", timestamp: 5 },
    });
  });
  it("user join / leave / list / rank / afk", () => {
    const s = stateWith(user("carol", 1));
    expect(normalizeEvent("addUser", user("dan", 0), ctx(s))[0]).toMatchObject({
      type: "user.join",
      data: { user: "dan", user_data: { username: "dan", rank: 0, is_afk: false, is_moderator: false } },
    });
    expect(normalizeEvent("userLeave", { name: "carol" }, ctx(s))[0]).toMatchObject({
      type: "user.leave",
      data: { user: "carol", user_data: { rank: 1 } },
    });
    const list = normalizeEvent("userlist", [user("a", 0), user("b", 3, true), { bogus: 1 }], ctx(s))[0]!;
    expect(list.type).toBe("user.list");
    expect(list.data.users).toEqual([
      { username: "a", rank: 0, is_afk: false, is_moderator: false },
      { username: "b", rank: 3, is_afk: true, is_moderator: true },
    ]);
    expect(normalizeEvent("setUserRank", { name: "carol", rank: 2 }, ctx(s))[0]).toMatchObject({
      type: "user.rank",
      data: { user: "carol", rank: 2, previous_rank: 1, user_data: { is_moderator: true } },
    });
    expect(normalizeEvent("setAFK", { name: "carol", afk: true }, ctx(s))[0]).toMatchObject({
      type: "user.afk",
      data: { is_afk: true, user_data: { is_afk: true } },
    });
  });
  it("media and playlist frames", () => {
    const s = stateWith();
    const media = { id: "x1", title: "T", seconds: 60, duration: "01:00", type: "yt", meta: {} };
    expect(
      normalizeEvent("changeMedia", { ...media, currentTime: -3, paused: true }, ctx(s))[0],
    ).toMatchObject({
      type: "media.change",
      data: { media: { id: "x1", title: "T", seconds: 60, type: "yt" }, current_time: -3, paused: true },
    });
    expect(normalizeEvent("mediaUpdate", { currentTime: 5.007, paused: false }, ctx(s))[0]).toMatchObject({
      type: "media.update",
      data: { current_time: 5.007 },
    });
    const item = { media, uid: 7, temp: true, queueby: "bob" };
    expect(normalizeEvent("playlist", [item], ctx(s))[0]).toMatchObject({
      type: "playlist.set",
      data: { count: 1, items: [{ uid: 7, queued_by: "bob" }] },
    });
    expect(normalizeEvent("queue", { item, after: "prepend" }, ctx(s))[0]).toMatchObject({
      type: "playlist.queue",
      data: { after: "prepend", item: { uid: 7 } },
    });
    expect(normalizeEvent("delete", { uid: 7 }, ctx(s))[0]).toMatchObject({
      type: "playlist.delete",
      data: { uid: 7 },
    });
    expect(normalizeEvent("moveVideo", { from: 7, after: 3 }, ctx(s))[0]).toMatchObject({
      type: "playlist.move",
      data: { from: 7, after: 3 },
    });
    expect(normalizeEvent("setPlaylistLocked", false, ctx(s))[0]).toMatchObject({
      type: "playlist.lock",
      data: { locked: false },
    });
    expect(normalizeEvent("setTemp", { uid: 7, temp: false }, ctx(s))[0]).toMatchObject({
      type: "playlist.temp",
      data: { temp: false },
    });
  });
  it("polls, usercount, kick and error frames", () => {
    const s = stateWith();
    const poll = {
      title: "Best &lt;x&gt;?",
      options: ["a &amp; b", '<a href="http://x">http://x</a>'],
      counts: [1, "?"],
      initiator: "bob",
      timestamp: 99,
    };
    expect(normalizeEvent("newPoll", poll, ctx(s))[0]).toMatchObject({
      type: "poll.open",
      data: { title: "Best <x>?", options: ["a & b", "http://x"], timestamp: 99 },
    });
    expect(normalizeEvent("updatePoll", poll, ctx(s))[0]!.type).toBe("poll.update");
    expect(normalizeEvent("closePoll", null, ctx(s))[0]!.type).toBe("poll.close");
    expect(normalizeEvent("usercount", 12, ctx(s))[0]).toMatchObject({
      type: "usercount",
      data: { count: 12 },
    });
    expect(normalizeEvent("kick", { reason: "go away" }, ctx(s))[0]).toMatchObject({
      type: "kick",
      data: { reason: "go away", user: "Rosey" },
    });
    expect(
      normalizeEvent("queueFail", { msg: "Unknown media type &#39;zz&#39;", link: null, id: "x" }, ctx(s))[0],
    ).toMatchObject({
      type: "error",
      data: { code: "QUEUE_FAILED", message: "Unknown media type 'zz'" },
    });
    expect(
      normalizeEvent("errorMsg", { msg: "You must be signed in to send PMs" }, ctx(s))[0]!.data.code,
    ).toBe("CYTUBE_ERROR");
    expect(normalizeEvent("emoteList", [], ctx(s))).toEqual([]);
  });
});

describe("ChannelState", () => {
  it("tracks users, playlist order by uid, current media and permissions", () => {
    const s = new ChannelState("chan");
    s.apply("userlist", [user("a", 0)], 0);
    s.apply("addUser", user("b", 2), 0);
    s.apply("setUserRank", { name: "a", rank: 1 }, 0);
    s.apply("userLeave", { name: "b" }, 0);
    expect([...s.users.values()].map((u) => [u.name, u.rank])).toEqual([["a", 1]]);
    const item = (uid: number) => ({
      uid,
      temp: false,
      queueby: "a",
      media: { id: `m${uid}`, title: "", seconds: 1, duration: "", type: "yt", meta: {} },
    });
    s.apply("playlist", [item(1), item(2)], 0);
    s.apply("queue", { item: item(3), after: 1 }, 0);
    expect(s.playlist.map((i) => i.uid)).toEqual([1, 3, 2]);
    s.apply("moveVideo", { from: 1, after: "append" }, 0);
    expect(s.playlist.map((i) => i.uid)).toEqual([3, 2, 1]);
    s.apply("queue", { item: item(4), after: "prepend" }, 0);
    s.apply("delete", { uid: 2 }, 0);
    expect(s.playlist.map((i) => i.uid)).toEqual([4, 3, 1]);
    s.apply("setPermissions", { kick: 3, bogus: "x" }, 0);
    expect(s.permissions).toEqual({ kick: 3 });
    s.apply("channelOpts", { password: "secret", chat_antiflood: true }, 0);
    expect((s.snapshot().options as { password: string }).password).toBe("[redacted]");
  });
});
