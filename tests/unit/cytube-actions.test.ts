import { describe, expect, it } from "vitest";
import { neutralizeCommand, planAction } from "../../src/connectors/cytube/actions.js";
import { kickDecision, loginRetryDelayMs } from "../../src/connectors/cytube/client.js";
import { DEFAULT_PERMISSIONS, hasPlaylistPermission } from "../../src/connectors/cytube/permissions.js";
import { ChannelState } from "../../src/connectors/cytube/state.js";

const T = { platform: "cytube", channel: "chan" };

function state(
  rank: number,
  opts: { locked?: boolean; permissions?: Record<string, number>; users?: Array<[string, number]> } = {},
): ChannelState {
  const s = new ChannelState("chan");
  s.apply("setPermissions", opts.permissions ?? DEFAULT_PERMISSIONS, 0);
  s.apply("setPlaylistLocked", opts.locked ?? true, 0);
  s.apply(
    "userlist",
    (opts.users ?? []).map(([name, r]) => ({ name, rank: r, meta: {} })),
    0,
  );
  s.apply("rank", rank, 0);
  return s;
}

describe("cytube rank check", () => {
  it("a guest may chat but not kick, ban, mute, clear, delete, temp or open polls", () => {
    const s = state(0, { users: [["bob", 0]] });
    expect(planAction("chat.send", { ...T, text: "hi" }, s)).toMatchObject({ ok: true, kind: "chat" });
    for (const [action, data] of [
      ["users.kick", { user: "bob" }],
      ["users.ban", { user: "bob" }],
      ["users.mute", { user: "bob" }],
      ["chat.clear", {}],
      ["playlist.delete", { uid: 1 }],
      ["playlist.temp", { uid: 1, temp: false }],
      ["poll.open", { title: "t", options: ["a"] }],
      ["poll.close", {}],
      ["playlist.queue", { id: "x", type: "yt" }],
    ] as const) {
      const plan = planAction(action, { ...T, ...data }, s);
      expect(plan, action).toMatchObject({ ok: false, code: "PERMISSION_DENIED" });
    }
  });
  it("a moderator may kick a lower rank but not an equal one; unknown targets are NOT_FOUND", () => {
    const s = state(2, {
      users: [
        ["low", 1],
        ["peer", 2],
      ],
    });
    expect(planAction("users.kick", { ...T, user: "low", reason: "bye\nnow" }, s)).toEqual({
      ok: true,
      kind: "chat",
      lines: [{ kind: "chat", text: "/kick low bye now", expectEcho: false }],
    });
    expect(planAction("users.kick", { ...T, user: "peer" }, s)).toMatchObject({
      ok: false,
      code: "PERMISSION_DENIED",
    });
    expect(planAction("users.kick", { ...T, user: "ghost" }, s)).toMatchObject({
      ok: false,
      code: "NOT_FOUND",
    });
    expect(planAction("users.ban", { ...T, user: "low", ip: true }, s)).toMatchObject({
      ok: true,
      lines: [{ text: "/ipban low" }],
    });
    expect(planAction("users.mute", { ...T, user: "low", shadow: true }, s)).toMatchObject({
      ok: true,
      lines: [{ text: "/smute low" }],
    });
  });
  it("an unregistered channel's unset nodes refuse everyone (kick/ban/mute/rawfile)", () => {
    const perms = { ...DEFAULT_PERMISSIONS } as Record<string, number>;
    delete perms.kick;
    delete perms.playlistaddrawfile;
    const s = state(255, { permissions: perms, users: [["x", 0]], locked: false });
    const kick = planAction("users.kick", { ...T, user: "x" }, s);
    expect(kick).toMatchObject({ ok: false, code: "PERMISSION_DENIED" });
    expect(!kick.ok && kick.message).toMatch(/does not grant to anyone/);
    expect(planAction("playlist.queue", { ...T, id: "https://x/m.json", type: "cm" }, s)).toMatchObject({
      ok: false,
      code: "PERMISSION_DENIED",
    });
  });
  it("playlist nodes: locked uses playlist*, unlocked also oplaylist*; 'next' needs its own node", () => {
    expect(
      hasPlaylistPermission({ rank: 0, permissions: DEFAULT_PERMISSIONS, playlistLocked: true }, "add"),
    ).toBe(false);
    expect(
      hasPlaylistPermission({ rank: 0, permissions: DEFAULT_PERMISSIONS, playlistLocked: false }, "add"),
    ).toBe(true);
    const s = state(0, { locked: false });
    expect(planAction("playlist.queue", { ...T, id: "x", type: "yt" }, s)).toMatchObject({
      ok: true,
      kind: "add",
      payload: { id: "x", type: "yt", pos: "end", temp: true },
    });
    expect(planAction("playlist.queue", { ...T, id: "x", type: "yt", pos: "next" }, s)).toMatchObject({
      ok: false,
      code: "PERMISSION_DENIED",
    });
    expect(planAction("playlist.queue", { ...T, id: "x", type: "tw" }, s)).toMatchObject({ ok: false });
  });
  it("not logged in (rank -1) refuses everything; bad payloads are VALIDATION_FAILED naming the field", () => {
    expect(planAction("chat.send", { ...T, text: "x" }, state(-1))).toMatchObject({
      ok: false,
      code: "PERMISSION_DENIED",
    });
    const bad = planAction("users.kick", { ...T, user: "bob extra words" }, state(3));
    expect(bad).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
    expect(!bad.ok && bad.message).toMatch(/'user'/);
    expect(planAction("chat.delete", T, state(3))).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
  });
  it("plain chat can never become a slash command", () => {
    expect(neutralizeCommand("/ban bob")).toBe("\u200b/ban bob");
    expect(neutralizeCommand("/me waves")).toBe("/me waves");
    expect(neutralizeCommand("hello /kick")).toBe("hello /kick");
    const plan = planAction("chat.send", { ...T, text: `${"a".repeat(319)} /clear` }, state(3));
    expect(plan).toMatchObject({ ok: true, lines: [{ text: "a".repeat(319) }, { text: "\u200b/clear" }] });
  });
});

describe("cytube login and kick policy", () => {
  it("waits out the guest-login delay the server names; final errors are not retried", () => {
    expect(loginRetryDelayMs("Guest logins are restricted to one per IP address per 60 seconds.")).toBe(
      60_500,
    );
    expect(loginRetryDelayMs("That username is registered.")).toBeNull();
    expect(loginRetryDelayMs("Invalid username/password combination")).toBeNull();
    expect(loginRetryDelayMs("That name is already in use on this channel.")).toBe(10_000);
  });
  it("rejoins after kicks per config, after bans only when allowed, never after a duplicate login", () => {
    const p = { rejoinOnKick: true, rejoinOnBan: false };
    expect(kickDecision("go away", p)).toBe(true);
    expect(kickDecision("go away", { ...p, rejoinOnKick: false })).toBe(false);
    expect(kickDecision("You're banned!", p)).toBe(false);
    expect(kickDecision("You are banned from this channel.", { ...p, rejoinOnBan: true })).toBe(true);
    expect(kickDecision("Duplicate login", p)).toBe(false);
    expect(kickDecision("Channel shutting down", { ...p, rejoinOnKick: false })).toBe(true);
  });
});
