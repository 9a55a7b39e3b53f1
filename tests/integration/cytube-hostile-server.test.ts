import pino from "pino";
import { io } from "socket.io-client";
import { beforeEach, describe, expect, it } from "vitest";
import type { CytubeConnector } from "../../src/connectors/cytube/index.js";
import { MAX_USERS } from "../../src/connectors/cytube/state.js";
import type { ChatEvent } from "../../src/core/envelope.js";
import type { EmulatorOptions } from "../fixtures/cytube-emulator/index.js";
import { collect } from "../support/bus.js";
import { useCytubeSuite } from "../support/cytube-suite.js";

/**
 * A broken or hostile CyTube server (and the channel's moderators, whose kick reasons it relays) against the
 * connector, which runs on the core's thread: frames are sent straight to the bot's socket from the emulator.
 */

const CHANNEL = "hostile";

describe("CyTube connector against a hostile server", () => {
  const s = useCytubeSuite(CHANNEL);
  let logLines: string[];

  beforeEach(() => {
    logLines = [];
  });

  /** A joined connector logging at debug level into `logLines`; `password` makes the bot a registered user. */
  const setup = (emuOptions: EmulatorOptions = {}, password?: string): Promise<CytubeConnector> =>
    s.setup(emuOptions, password ? { password } : {}, {
      logger: pino({ level: "debug" }, { write: (line: string) => logLines.push(line) }),
    });

  /** The bot's own socket, as the server sees it. */
  const bot = () =>
    [...s.emu.channel(CHANNEL).members].find((m) => m.name === "rosey" && !m.id.startsWith("v"))!;

  /** The longest the event loop went without running a 10 ms timer while `during` ran. */
  async function worstStall(during: () => Promise<void>): Promise<number> {
    let worst = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last - 10);
      last = now;
    }, 10);
    try {
      await during();
    } finally {
      clearInterval(timer);
    }
    return worst;
  }

  it("reads pathological HTML in linear time: unclosed tags no longer stall the core (attack 72)", async () => {
    await setup();
    const pms = collect<ChatEvent>();
    s.testBus.subscribe<ChatEvent>("rosey.events.pm", (m) => pms.push(m.envelope.data));
    await s.testBus.flush();
    // Before: 20 KB of this took 5.6 s of the core's thread, 30 KB about 20 s.
    const stall = await worstStall(async () => {
      bot().emit("pm", { username: "alice", msg: '<img src="x" '.repeat(2_500), to: "rosey", time: 1 });
      bot().emit("pm", { username: "alice", msg: "<".repeat(100_000), to: "rosey", time: 2 });
      await pms.waitFor(2);
    });
    expect(stall).toBeLessThan(1_000);
    expect(pms.items[1]!.content.length).toBeLessThanOrEqual(64 * 1024);
  });

  it("publishes a big channel's user list without its raw copy when both do not fit one bus message", async () => {
    await setup();
    const lists = collect<{ users: unknown[]; platform_data?: unknown }>();
    s.testBus.subscribe<{ users: unknown[]; platform_data?: unknown }>("rosey.events.user.list", (m) =>
      lists.push(m.envelope.data),
    );
    await s.testBus.flush();
    // ~9,000 users: the normalized list alone fits the default 1 MiB, the list with its raw frame does not.
    const users = Array.from({ length: 9_000 }, (_, i) => ({
      name: `member_${String(i).padStart(5, "0")}`,
      rank: 1,
      meta: { afk: false, muted: false },
      profile: { image: "", text: "" },
    }));
    expect(JSON.stringify(users).length).toBeGreaterThan(512 * 1024);
    bot().emit("userlist", [{ name: "rosey", rank: 0, meta: {}, profile: {} }, ...users]);
    const [list] = await lists.waitFor(1);
    expect(list!.users).toHaveLength(9_001);
    expect(list!.platform_data).toBeUndefined();
    expect(logLines.some((l) => l.includes("published without platform_data"))).toBe(true);
    // A small list still carries its frame.
    bot().emit("userlist", [{ name: "rosey", rank: 0, meta: {}, profile: {} }]);
    const [, small] = await lists.waitFor(2);
    expect(small!.platform_data).toEqual([{ name: "rosey", rank: 0, meta: {}, profile: {} }]);
  });

  it("keeps at most MAX_USERS users, answers users.list, and refuses names no CyTube server sends (attack 73)", async () => {
    await setup();
    const huge = Array.from({ length: 50_000 }, (_, i) => ({
      name: `u${i}`,
      rank: 0,
      meta: {},
      profile: {},
    }));
    bot().emit("userlist", [{ name: "rosey", rank: 0, meta: {}, profile: {} }, ...huge]);
    const messages = collect<ChatEvent>();
    s.testBus.subscribe<ChatEvent>("rosey.events.message", (m) => messages.push(m.envelope.data));
    await s.testBus.flush();
    const ask = () =>
      s.testBus.request<{ ok: boolean; count?: number; error?: { code: string } }>(
        "rosey.api.users.list",
        { platform: "cytube", channel: CHANNEL },
        { timeoutMs: 5_000 },
      );
    // Before: 50,000 users kept and an answer too big for the bus, so no answer at all.
    await expect
      .poll(async () => {
        const reply = (await ask()).data;
        return reply.ok ? reply.count : reply.error?.code;
      })
      .toBeOneOf([MAX_USERS, "PAYLOAD_TOO_LARGE"]);
    expect(logLines.some((l) => l.includes("more users or playlist items than the connector keeps"))).toBe(
      true,
    );

    bot().emit("chatMsg", { username: "x".repeat(100_000), msg: "!roll", meta: {}, time: 1 });
    bot().emit("chatMsg", { username: "ali\u202ece", msg: "!roll", meta: {}, time: 2 });
    bot().emit("chatMsg", { username: "bob", msg: "!roll", meta: {}, time: 3 });
    const [first] = await messages.waitFor(1);
    expect(first!.user).toBe("bob");
    await s.testBus.flush();
    expect(messages.items).toHaveLength(1);
  });

  it("drops a connection that sends a frame over MAX_FRAME_BYTES instead of parsing it, and comes back", async () => {
    const c = await setup();
    const connections = s.emu.connections;
    bot().emit("setMotd", "y".repeat(20 * 1024 * 1024));
    await expect.poll(() => s.emu.connections, { timeout: 10_000 }).toBeGreaterThan(connections);
    await c.whenJoined();
    const snap = await s.testBus.request<{ motd: string }>(
      "rosey.api.channel.get",
      { platform: "cytube", channel: CHANNEL },
      { timeoutMs: 3_000 },
    );
    expect(snap.data.motd.length).toBeLessThan(1_000);
  });

  it("keeps one login retry however many refusals the server sends", async () => {
    await setup();
    const loginsBefore = s.emu.received.filter((f) => f.event === "login").length;
    const refusal = {
      success: false,
      error: "Guest logins are restricted to one per IP address per 1 seconds.",
    };
    for (let i = 0; i < 50; i++) bot().emit("login", refusal);
    // Each refusal asks for a retry 1.5 s later: before, 50 timers sent 50 logins.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(s.emu.received.filter((f) => f.event === "login").length - loginsBefore).toBe(1);
  });

  it("shows a moderator's kick reason escaped in the log and health: no terminal controls (attack 74)", async () => {
    const c = await setup({}, undefined);
    s.emu.kick(CHANNEL, "rosey", "bye\u001b]0;pwned\u0007 \u009b2J \u202egnp.exe");
    await expect.poll(() => c.health().detail, { timeout: 5_000 }).toContain("kicked");
    const kicked = logLines.filter((l) => l.includes("pwned"));
    expect(kicked.length).toBeGreaterThan(0);
    for (const line of kicked) {
      expect(line).not.toMatch(/[\u0080-\u009f\u202a-\u202e]/);
      expect(line).toContain("\\\\u009b2J");
    }
    expect(c.health().detail).not.toMatch(/[\u0000-\u001f\u0080-\u009f\u202a-\u202e]/);
  });

  it("a guest bot whose name someone takes comes back and takes it again (attack 71)", async () => {
    const c = await setup();
    const squatter = io(s.emu.url, { transports: ["websocket"], forceNew: true });
    try {
      await new Promise<void>((resolve) => squatter.on("connect", () => resolve()));
      const kicked = new Promise<unknown>((resolve) => squatter.on("kick", resolve));
      squatter.emit("login", { name: "ROSEY" });
      squatter.emit("joinChannel", { name: CHANNEL });
      // Before: "Duplicate login" was final, and the bot stayed out until restarted.
      await expect(kicked).resolves.toEqual({ reason: "Duplicate login" });
      await c.whenJoined();
      expect(c.health().status).toBe("ok");
      expect(s.emu.channel(CHANNEL).find("rosey")?.id).not.toBe(squatter.id);
    } finally {
      squatter.disconnect();
    }
  });

  it("a registered bot still gives up on a duplicate login: another session holds its password", async () => {
    const c = await setup({ accounts: { rosey: { password: "pw", rank: 2 } } }, "pw");
    const other = io(s.emu.url, { transports: ["websocket"], forceNew: true });
    try {
      await new Promise<void>((resolve) => other.on("connect", () => resolve()));
      other.emit("login", { name: "rosey", pw: "pw" });
      other.emit("joinChannel", { name: CHANNEL });
      await expect.poll(() => c.health().status, { timeout: 5_000 }).toBe("down");
      expect(c.health().detail).toBe("disconnected for good: kicked: Duplicate login");
    } finally {
      other.disconnect();
    }
  });
});
