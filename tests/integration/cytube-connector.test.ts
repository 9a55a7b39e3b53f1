import { describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { ChatEvent } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { startCytubeEmulator } from "../fixtures/cytube-emulator/index.js";
import { collect } from "../support/bus.js";
import { useCytubeSuite } from "../support/cytube-suite.js";

const CHANNEL = "testchan";

describe("CyTube connector against the emulator and a real nats-server", () => {
  const s = useCytubeSuite(CHANNEL);
  const { setup, newConnector } = s;

  it("publishes chat as rosey.events.message (HTML decoded, history ignored, own echo marked) and raw frames", async () => {
    const messages = collect<ChatEvent>();
    const raw = collect<{ event: string }>();
    s.testBus.subscribe<ChatEvent>("rosey.events.message", (m) => messages.push(m.envelope.data));
    s.testBus.subscribe<{ event: string }>("rosey.platform.cytube.chatMsg", (m) => raw.push(m.envelope.data));
    await s.testBus.flush();
    await setup({ history: [{ username: "old", msg: "!roll 1d6 from the past" }] });
    const alice = s.emu.addUser(CHANNEL, "alice", 0);
    alice.say("<b>hi</b> & *bold* (x) 'q' !roll 2d6");
    const [first] = await messages.waitFor(1);
    expect(first).toMatchObject({
      platform: "cytube",
      channel: CHANNEL,
      user: "alice",
      content: "<b>hi</b> & bold (x) 'q' !roll 2d6",
      user_data: { username: "alice", rank: 0, is_afk: false, is_moderator: false },
    });
    expect(first!.is_self).toBeUndefined();
    expect((first!.platform_data as { msg: string }).msg).toContain("&lt;b&gt;");
    // The history line was replayed (raw) but never published as a message.
    expect((await raw.waitFor(2)).length).toBeGreaterThanOrEqual(2);
    expect(messages.items.some((m) => m.content.includes("from the past"))).toBe(false);

    await s.testBus.request(
      "rosey.actions.chat.send",
      { platform: "cytube", channel: CHANNEL, text: "hello back" },
      { timeoutMs: 2000 },
    );
    const all = await messages.waitFor(2);
    expect(all[1]).toMatchObject({ user: "rosey", content: "hello back", is_self: true });
  });

  it("round trip: a reply published for a message appears in the channel, long replies split at 320", async () => {
    await setup();
    s.testBus.subscribe<ChatEvent>("rosey.events.message", (m) => {
      const e = m.envelope.data;
      if (e.is_self || !e.content.startsWith("!roll")) return;
      s.testBus.publish("rosey.actions.chat.send", {
        platform: e.platform,
        channel: e.channel,
        text: `${e.user} rolled 7 ${"x ".repeat(200)}`,
      });
    });
    await s.testBus.flush();
    s.emu.addUser(CHANNEL, "bob").say("!roll 2d6");
    await expect.poll(() => s.emu.chatFrom(CHANNEL, "rosey").length, { timeout: 5000 }).toBe(2);
    const lines = s.emu.chatFrom(CHANNEL, "rosey");
    expect(lines[0]!.msg.startsWith("bob rolled 7")).toBe(true);
    expect(lines.every((l) => l.msg.length <= 320)).toBe(true);
  });

  it("answers rosey.api.users.list / playlist.get / channel.get for its own channel only", async () => {
    await setup();
    s.emu.addUser(CHANNEL, "carol", 2);
    await expect
      .poll(
        async () =>
          (
            await s.testBus.request<{ count: number }>(
              "rosey.api.users.list",
              { channel: CHANNEL },
              { timeoutMs: 1000 },
            )
          ).data.count,
      )
      .toBe(2);
    const users = await s.testBus.request<{ users: Array<{ username: string; is_moderator: boolean }> }>(
      "rosey.api.users.list",
      { platform: "cytube", channel: CHANNEL },
      { timeoutMs: 1000 },
    );
    expect(users.data.users.find((u) => u.username === "carol")?.is_moderator).toBe(true);
    const other = await s.testBus
      .request("rosey.api.users.list", { channel: "elsewhere" }, { timeoutMs: 300 })
      .catch((e: { code: string }) => e.code);
    expect(["TIMEOUT", "NO_RESPONDERS"]).toContain(other);
    const ch = await s.testBus.request<{ rank: number; permissions: Record<string, number> }>(
      "rosey.api.channel.get",
      { channel: CHANNEL },
      { timeoutMs: 1000 },
    );
    expect(ch.data.rank).toBe(0);
    expect(ch.data.permissions.kick).toBe(1.5);
    const pl = await s.testBus.request<{ items: unknown[]; locked: boolean }>(
      "rosey.api.playlist.get",
      {},
      { timeoutMs: 1000 },
    );
    expect(pl.data).toMatchObject({ items: [], locked: true });
  });

  it("refuses actions above the bot's rank with PERMISSION_DENIED, an error event, and sends nothing", async () => {
    await setup();
    s.emu.addUser(CHANNEL, "dave", 0);
    const errors = collect<{ code: string; action: string }>();
    s.testBus.subscribe<{ code: string; action: string }>("rosey.events.error", (m) =>
      errors.push(m.envelope.data),
    );
    await s.testBus.flush();
    const kick = await s.testBus.request<{ ok: boolean; error: { code: string; message: string } }>(
      "rosey.actions.users.kick",
      { platform: "cytube", channel: CHANNEL, user: "dave" },
      { timeoutMs: 2000 },
    );
    expect(kick.data.ok).toBe(false);
    expect(kick.data.error.code).toBe("PERMISSION_DENIED");
    expect(kick.data.error.message).toMatch(/rank ≥ 1.5.*bot's rank is 0/);
    const queue = await s.testBus.request<{ ok: boolean; error: { code: string } }>(
      "rosey.actions.playlist.queue",
      { platform: "cytube", channel: CHANNEL, id: "abc", type: "yt" },
      { timeoutMs: 2000 },
    );
    expect(queue.data.error.code).toBe("PERMISSION_DENIED");
    expect((await errors.waitFor(2)).map((e) => e.action)).toEqual(["users.kick", "playlist.queue"]);
    // A plugin's chat text cannot become a slash command.
    await s.testBus.request(
      "rosey.actions.chat.send",
      { platform: "cytube", channel: CHANNEL, text: "/kick dave" },
      { timeoutMs: 2000 },
    );
    await expect.poll(() => s.emu.chatFrom(CHANNEL, "rosey").length).toBe(1);
    expect(
      s.emu.received.filter((f) => f.event === "chatMsg").map((f) => (f.payload as { msg: string }).msg),
    ).toEqual(["\u200b/kick dave"]);
    expect(s.emu.channel(CHANNEL).find("dave")).toBeDefined();
  });

  it("as a moderator (registered login): kicks, queues media and opens a poll; password never leaves the socket", async () => {
    await setup(
      { accounts: { RoseyBot: { password: "s3cret", rank: 2 } } },
      { username: "RoseyBot", password: "s3cret" },
    );
    s.emu.addUser(CHANNEL, "eve", 0);
    const media = collect<{ media: { id: string } }>();
    s.testBus.subscribe<{ media: { id: string } }>("rosey.events.media.change", (m) =>
      media.push(m.envelope.data),
    );
    const polls = collect<{ title: string; options: string[] }>();
    s.testBus.subscribe<{ title: string; options: string[] }>("rosey.events.poll.open", (m) =>
      polls.push(m.envelope.data),
    );
    await s.testBus.flush();
    const q = await s.testBus.request<{ ok: boolean }>(
      "rosey.actions.playlist.queue",
      { platform: "cytube", channel: CHANNEL, id: "vid1", type: "yt", title: "A & B" },
      { timeoutMs: 2000 },
    );
    expect(q.data.ok).toBe(true);
    expect((await media.waitFor(1))[0]!.media.id).toBe("vid1");
    const poll = await s.testBus.request<{ ok: boolean }>(
      "rosey.actions.poll.open",
      { platform: "cytube", channel: CHANNEL, title: "Best <x>?", options: ["a", "b"] },
      { timeoutMs: 2000 },
    );
    expect(poll.data.ok).toBe(true);
    expect((await polls.waitFor(1))[0]).toMatchObject({ title: "Best <x>?", options: ["a", "b"] });
    const k = await s.testBus.request<{ ok: boolean }>(
      "rosey.actions.users.kick",
      { platform: "cytube", channel: CHANNEL, user: "eve", reason: "bye" },
      { timeoutMs: 2000 },
    );
    expect(k.data.ok).toBe(true);
    await expect.poll(() => s.emu.channel(CHANNEL).find("eve")).toBeUndefined();
    const pl = await s.testBus.request<{ items: Array<{ uid: number; media: { title: string } }> }>(
      "rosey.api.playlist.get",
      { channel: CHANNEL },
      { timeoutMs: 1000 },
    );
    expect(pl.data.items.map((i) => i.media.title)).toEqual(["A & B"]);
  });

  it("playlist additions are paced to the server's queue limiter: a burst from two plugins all lands, a refusal names its action", async () => {
    await setup(
      { accounts: { RoseyBot: { password: "s3cret", rank: 2 } } },
      { username: "RoseyBot", password: "s3cret" },
    );
    const otherBus = await createBus({ url: s.nats.url, source: "plugin:other", logger: silentLogger() });
    const errors = collect<{
      code: string;
      message: string;
      action?: string;
      source?: string;
      media?: unknown;
    }>();
    const errorIds: string[] = [];
    s.testBus.subscribe<{ code: string; message: string }>("rosey.events.error", (m) => {
      errors.push(m.envelope.data);
      errorIds.push(m.envelope.correlationId);
    });
    await s.testBus.flush();
    const queue = (bus: Bus, id: string) =>
      bus.publish("rosey.actions.playlist.queue", { platform: "cytube", channel: CHANNEL, id, type: "yt" });
    const ours = Array.from({ length: 14 }, (_, i) => queue(s.testBus, `t${i}`));
    const theirs = Array.from({ length: 4 }, (_, i) => queue(otherBus, `o${i}`));
    const dup = queue(s.testBus, "t0");
    try {
      const ch = s.emu.channel(CHANNEL);
      // 18 additions at 10 then 2/s: the server would refuse 8 of them if they went out at once.
      await expect.poll(() => ch.playlist.length, { timeout: 15_000, interval: 50 }).toBe(18);
      expect(ch.queueRefusals).toBe(0);
      const ids = ch.playlist.map((i) => i.media.id);
      expect(ids.filter((id) => id.startsWith("t"))).toEqual(ours.map((_, i) => `t${i}`));
      expect(ids.filter((id) => id.startsWith("o"))).toEqual(theirs.map((_, i) => `o${i}`));
      // The other plugin is not stuck behind the first one's burst.
      expect(ids.indexOf("o3")).toBeLessThan(ids.indexOf("t13"));
      const [refusal] = await errors.waitFor(1);
      expect(refusal).toMatchObject({
        code: "QUEUE_FAILED",
        message: "This item is already on the playlist",
        action: "playlist.queue",
        source: "plugin:test",
        media: { type: "yt", id: "t0" },
      });
      expect(errorIds[0]).toBe(dup.correlationId);
    } finally {
      await otherBus.close();
    }
  });

  it("a chat message the server refuses for good (the bot is muted) is reported against its action", async () => {
    await setup();
    const errors = collect<{ code: string; source?: string }>();
    const errorIds: string[] = [];
    s.testBus.subscribe<{ code: string; source?: string }>("rosey.events.error", (m) => {
      if (m.envelope.data.code !== "MESSAGE_DROPPED") return;
      errors.push(m.envelope.data);
      errorIds.push(m.envelope.correlationId);
    });
    await s.testBus.flush();
    s.emu.channel(CHANNEL).find("rosey")!.muted = true;
    const sent = s.testBus.publish("rosey.actions.chat.send", {
      platform: "cytube",
      channel: CHANNEL,
      text: "hi",
    });
    const [dropped] = await errors.waitFor(1);
    expect(dropped).toMatchObject({ code: "MESSAGE_DROPPED", source: "plugin:test" });
    expect(errorIds[0]).toBe(sent.correlationId);
  });

  it("disconnect mid-stream with actions queued: every reply delivered exactly once after reconnect", async () => {
    await setup({}, {}, { flood: { burst: 5, sustained: 20, cooldown: 1 } });
    const N = 30;
    for (let i = 0; i < N; i++)
      s.testBus.publish("rosey.actions.chat.send", {
        platform: "cytube",
        channel: CHANNEL,
        text: `msg ${i}`,
      });
    // Cut the socket while the queue is draining, then queue more while the bot is away.
    await expect
      .poll(() => s.emu.chatFrom(CHANNEL, "rosey").length, { timeout: 5000, interval: 5 })
      .toBeGreaterThanOrEqual(6);
    expect(s.emu.disconnect("rosey")).toBe(1);
    const atCut = s.emu.chatFrom(CHANNEL, "rosey").length;
    expect(atCut).toBeLessThan(N);
    for (let i = N; i < N + 10; i++)
      s.testBus.publish("rosey.actions.chat.send", {
        platform: "cytube",
        channel: CHANNEL,
        text: `msg ${i}`,
      });
    await expect.poll(() => s.emu.chatFrom(CHANNEL, "rosey").length, { timeout: 15_000 }).toBe(N + 10);
    await new Promise((r) => setTimeout(r, 300));
    const got = s.emu.chatFrom(CHANNEL, "rosey").map((l) => l.msg);
    expect(got.length).toBe(N + 10);
    expect(new Set(got).size).toBe(N + 10);
    expect(s.emu.connections).toBe(2);
  });

  it("kick: reported on rosey.events.kick; rejoins per rejoin_on_kick; a ban is final by default", async () => {
    const c = await setup();
    expect(c.health()).toEqual({
      name: `connector cytube ${CHANNEL}`,
      status: "ok",
      detail: expect.stringMatching(/^joined as rosey \(rank \d\)$/),
    });
    const kicks = collect<{ reason: string }>();
    s.testBus.subscribe<{ reason: string }>("rosey.events.kick", (m) => kicks.push(m.envelope.data));
    await s.testBus.flush();
    s.emu.kick(CHANNEL, "rosey", "go away");
    expect((await kicks.waitFor(1))[0]!.reason).toBe("go away");
    await expect.poll(() => c.joined, { timeout: 5000 }).toBe(true);
    await expect.poll(() => s.emu.channel(CHANNEL).find("rosey") !== undefined).toBe(true);
    const before = s.emu.connections;
    s.emu.ban(CHANNEL, "rosey");
    expect((await kicks.waitFor(2))[1]!.reason).toBe("You're banned!");
    await new Promise((r) => setTimeout(r, 700));
    expect(c.joined).toBe(false);
    expect(s.emu.connections).toBe(before);
    expect(c.health()).toMatchObject({
      status: "down",
      detail: "disconnected for good: kicked: You're banned!",
    });
  });

  it("flood: 100 replies requested at once arrive in order within the limiter's schedule, no cooldown drops", async () => {
    // The server's real limits (burst 20, then 10/s): ~9 s for 100 messages.
    await setup();
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      s.testBus.publish("rosey.actions.chat.send", {
        platform: "cytube",
        channel: CHANNEL,
        text: `reply ${i}`,
      });
    }
    await expect
      .poll(() => s.emu.chatFrom(CHANNEL, "rosey").length, { timeout: 20_000, interval: 200 })
      .toBe(100);
    const elapsed = Date.now() - started;
    const lines = s.emu.chatFrom(CHANNEL, "rosey");
    expect(lines.map((l) => l.msg)).toEqual(Array.from({ length: 100 }, (_, i) => `reply ${i}`));
    expect(s.emu.channel(CHANNEL).cooldowns).toBe(0);
    // 19 in the burst, 81 at ≥ 100 ms: at least 8.1 s; the shaping margin (30 ms) adds ~2.4 s.
    console.info(`cytube flood: 100 messages delivered in ${elapsed} ms`);
    expect(elapsed).toBeGreaterThanOrEqual(8_000);
    expect(elapsed).toBeLessThan(20_000);
  });

  it("chat_antiflood with a guest bot: burst 4 then 1/s, no drops", async () => {
    await setup({
      options: { chat_antiflood: true, chat_antiflood_params: { burst: 3, sustained: 5, cooldown: 2 } },
    });
    for (let i = 0; i < 12; i++)
      s.testBus.publish("rosey.actions.chat.send", { platform: "cytube", channel: CHANNEL, text: `af ${i}` });
    await expect.poll(() => s.emu.chatFrom(CHANNEL, "rosey").length, { timeout: 10_000 }).toBe(12);
    expect(s.emu.channel(CHANNEL).cooldowns).toBe(0);
  });

  it("guest login delay: retries after the delay the server names", async () => {
    s.emu = await startCytubeEmulator({ connectionLimit: false, guestLoginDelayMs: 1000 });
    // Another guest from the same IP logs in first.
    const { io } = await import("socket.io-client");
    const other = io(s.emu.url, { transports: ["websocket"], forceNew: true });
    await new Promise<void>((r) => other.on("connect", () => r()));
    other.emit("login", { name: "someone" });
    await new Promise((r) => setTimeout(r, 100));
    const errors = collect<{ code: string }>();
    s.testBus.subscribe<{ code: string }>("rosey.events.error", (m) => errors.push(m.envelope.data));
    await s.testBus.flush();
    const connector = newConnector();
    s.connector = connector;
    await connector.start();
    expect((await errors.waitFor(1))[0]!.code).toBe("LOGIN_FAILED");
    expect(connector.health()).toMatchObject({
      status: "degraded",
      detail: expect.stringMatching(/^login refused: .*; retrying in \d+ ms$/),
    });
    await connector.whenJoined();
    expect(connector.health().status).toBe("ok");
    other.disconnect();
  });
});
