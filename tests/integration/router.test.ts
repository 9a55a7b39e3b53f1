import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Bus } from "../../src/core/bus.js";
import {
  COMMANDS_LIST_SUBJECT,
  type Command,
  type CommandCompleted,
  type CommandInfo,
  type CommandResult,
} from "../../src/core/commands.js";
import type { ChatEvent, ChatSend, Envelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import { Router } from "../../src/core/router/router.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import type { collect } from "../support/bus.js";
import { commandInfo } from "../support/command.js";
import { usePrivateNats } from "../support/private-nats.js";
import { type RouterHarness, startRouterHarness } from "../support/router-harness.js";

/**
 * The router on a private nats-server (it uses the canonical subjects), with a fake plugin side answering
 * `rosey.commands.x.execute` the way the plugin manager does.
 */

type Behaviour = "reply" | "fail" | "busy" | "silent" | "garbage";

describe("router over a real nats-server", () => {
  const nats = usePrivateNats();
  let core: Bus;
  let plugin: Bus;
  let chat: Bus;
  let router: Router;
  let logLines: Array<Record<string, unknown>>;
  let directory: CommandInfo[];
  let behaviour: Map<string, Behaviour>;
  let received: Array<Envelope<Command>>;
  let sends: ReturnType<typeof collect<Envelope<ChatSend>>>;
  let completed: ReturnType<typeof collect<Envelope<CommandCompleted>>>;
  let inbox: string;
  let harness: RouterHarness;

  beforeEach(async () => {
    directory = [
      commandInfo("roll", { aliases: ["dice"], cooldownMs: 60_000 }),
      commandInfo("echo"),
      commandInfo("boom"),
      commandInfo("sleep"),
      commandInfo("junk"),
      commandInfo("crowded"),
    ];
    behaviour = new Map([
      ["boom", "fail"],
      ["sleep", "silent"],
      ["junk", "garbage"],
      ["crowded", "busy"],
    ]);
    received = [];
    harness = await startRouterHarness(nats.url, {
      // The fake plugin side: publishes the reply itself (as the gate does), then answers the request.
      onCommand: (m, plugin) => {
        const cmd = m.envelope.data;
        received.push(m.envelope);
        const how = behaviour.get(cmd.name) ?? "reply";
        if (how === "silent") return;
        if (how === "garbage") {
          m.respond({ nonsense: true });
          return;
        }
        if (how === "fail" || how === "busy") {
          const result: CommandResult = {
            ok: false,
            error:
              how === "fail"
                ? { code: "PLUGIN_ERROR", message: "kaboom" }
                : { code: "BUSY", message: "plugin 'x' has 256 commands waiting" },
          };
          m.respond(result);
          return;
        }
        plugin.publish(
          SUBJECTS.actionsChatSend,
          { platform: cmd.platform, channel: cmd.channel, text: `${cmd.name}:${cmd.args.join("|")}` },
          { correlationId: cmd.correlationId, source: "plugin:x" },
        );
        const result: CommandResult = { ok: true, replied: true };
        m.respond(result);
      },
      router: { settings: { prefix: "!", timeoutMs: 300 }, directory: () => directory },
    });
    ({ core, plugin, chat, router, logLines, sends, completed, inbox } = harness);
  });

  afterEach(async () => {
    await router.stop();
    await harness.close();
  });

  /** A chat line sent with a reply subject, so the router reports its completion to `completed`. */
  const say = (content: string, extra: Partial<ChatEvent> = {}): Envelope<ChatEvent> =>
    chat.publish<ChatEvent>(
      SUBJECTS.eventsMessage,
      {
        platform: "console",
        channel: "lobby",
        user: "alice",
        content,
        timestamp: Date.now(),
        user_data: { username: "alice", rank: 2, is_afk: false, is_moderator: true },
        ...extra,
      },
      { replyTo: inbox },
    );

  it("sends a parsed command to its plugin; the command's correlationId is the chat message's id", async () => {
    const before = Date.now();
    const line = say("!ROLL 2d6 +1");
    const [done] = await completed.waitFor(1);
    expect(received).toHaveLength(1);
    expect(received[0]!.data).toEqual({
      name: "roll",
      args: ["2d6", "+1"],
      text: "2d6 +1",
      user: "alice",
      rank: 2,
      platform: "console",
      channel: "lobby",
      correlationId: line.id,
      deadline: expect.any(Number),
    });
    // The moment the router stops waiting: its timeout (300 ms here) after it sent the command.
    const { deadline } = received[0]!.data;
    expect(deadline).toBeGreaterThanOrEqual(before + 300);
    expect(deadline).toBeLessThanOrEqual(Date.now() + 300);
    expect(received[0]!.source).toBe("core");
    expect(received[0]!.correlationId).toBe(line.id);
    const [reply] = await sends.waitFor(1);
    expect(reply!.data).toEqual({ platform: "console", channel: "lobby", text: "roll:2d6|+1" });
    expect(done!.data).toEqual({ correlationId: line.id, command: "roll", status: "ok" });
    expect(done!.source).toBe("core");
  });

  it("reports completion only to a sender that gave a reply subject", async () => {
    const quiet = chat.publish<ChatEvent>(SUBJECTS.eventsMessage, {
      platform: "console",
      channel: "lobby",
      user: "carol",
      content: "!echo quiet",
      timestamp: Date.now(),
    });
    const loud = say("!echo loud");
    const [done] = await completed.waitFor(1);
    expect(done!.data.correlationId).toBe(loud.id);
    const replies = await sends.waitFor(2);
    expect(replies.map((r) => r.correlationId).sort()).toEqual([quiet.id, loud.id].sort());
    await chat.flush();
    expect(completed.items).toHaveLength(1);
  });

  it("resolves aliases to their command", async () => {
    say("!dice d20");
    const [done] = await completed.waitFor(1);
    expect(received[0]!.data.name).toBe("roll");
    expect(done!.data.command).toBe("roll");
  });

  it("answers an unknown command and reports it completed", async () => {
    const line = say("!frobnicate now");
    const [reply] = await sends.waitFor(1);
    expect(reply!.data).toEqual({
      platform: "console",
      channel: "lobby",
      text: "Unknown command !frobnicate",
    });
    expect(reply!.correlationId).toBe(line.id);
    expect(reply!.source).toBe("core");
    const [done] = await completed.waitFor(1);
    expect(done!.data).toEqual({ correlationId: line.id, command: "frobnicate", status: "unknown" });
    expect(received).toHaveLength(0);
  });

  it("points at !help for an unknown command only when some plugin answers !help", async () => {
    directory.push(commandInfo("help"));
    say("!frobnicate");
    const [reply] = await sends.waitFor(1);
    expect(reply!.data.text).toBe("Unknown command !frobnicate — try !help");
  });

  it("enforces the manifest cooldown per user and command, with a friendly reply", async () => {
    say("!roll");
    await completed.waitFor(1);
    const second = say("!roll 1d4");
    say("!roll", { user: "bob" });
    say("!echo hi");
    const done = await completed.waitFor(4);
    const byId = new Map(done.map((e) => [e.data.correlationId, e.data.status]));
    expect(byId.get(second.id)).toBe("cooldown");
    expect(done.map((e) => e.data.status).sort()).toEqual(["cooldown", "ok", "ok", "ok"]);
    const replies = await sends.waitFor(4);
    const wait = replies.find((r) => r.correlationId === second.id);
    expect(wait!.data.text).toMatch(/^alice, please wait (59|60) s before using !roll again\.$/);
    expect(received.map((r) => `${r.data.user}:${r.data.name}`).sort()).toEqual([
      "alice:echo",
      "alice:roll",
      "bob:roll",
    ]);
  });

  it("turns a plugin error into a short chat reply and a log line naming plugin and correlationId", async () => {
    const line = say("!boom");
    const [reply] = await sends.waitFor(1);
    expect(reply!.data.text).toBe("Sorry, !boom failed; the error has been logged.");
    const [done] = await completed.waitFor(1);
    expect(done!.data).toEqual({ correlationId: line.id, command: "boom", status: "error" });
    const logged = logLines.find((l) => l.msg === "command failed in the plugin");
    expect(logged).toMatchObject({
      plugin: "x",
      correlationId: line.id,
      code: "PLUGIN_ERROR",
      error: "kaboom",
    });
  });

  it("turns a timeout into a chat reply, and keeps routing other commands", async () => {
    const slow = say("!sleep");
    const fast = say("!echo still here");
    const done = await completed.waitFor(2);
    expect(done.map((e) => [e.data.correlationId, e.data.status])).toEqual([
      [fast.id, "ok"],
      [slow.id, "timeout"],
    ]);
    const replies = await sends.waitFor(2);
    expect(replies.map((r) => r.data.text)).toEqual([
      "echo:still|here",
      "Sorry, !sleep took too long to answer.",
    ]);
    expect(logLines.find((l) => l.msg === "plugin did not answer the command in time")).toMatchObject({
      plugin: "x",
      correlationId: slow.id,
    });
  });

  it("treats a malformed plugin answer as an error", async () => {
    say("!junk");
    const [done] = await completed.waitFor(1);
    expect(done!.data.status).toBe("error");
    expect(logLines.some((l) => l.msg === "plugin side sent a malformed command result")).toBe(true);
  });

  it("answers 'unavailable' when no plugin instance listens", async () => {
    directory.push(commandInfo("ghost", { plugin: "nobody" }));
    say("!ghost");
    const [reply] = await sends.waitFor(1);
    expect(reply!.data.text).toBe("Sorry, !ghost is unavailable right now.");
    expect((await completed.waitFor(1))[0]!.data.status).toBe("unavailable");
  });

  it("answers 'unavailable' when the plugin refuses the command as BUSY (too many waiting)", async () => {
    say("!crowded");
    const [reply] = await sends.waitFor(1);
    expect(reply!.data.text).toBe("Sorry, !crowded is unavailable right now.");
    expect((await completed.waitFor(1))[0]!.data.status).toBe("unavailable");
    expect(logLines.find((l) => l.msg === "command failed in the plugin")).toMatchObject({ code: "BUSY" });
  });

  it("a flood of failures answers every command but logs at most 20 failure lines a second per plugin", async () => {
    for (let i = 0; i < 50; i++) say("!crowded");
    await completed.waitFor(50);
    expect(
      sends.items.filter((m) => m.data.text === "Sorry, !crowded is unavailable right now."),
    ).toHaveLength(50);
    const failures = () => logLines.filter((l) => l.msg === "command failed in the plugin");
    // Two windows at most if the flood straddled a second boundary.
    expect(failures().length).toBeGreaterThanOrEqual(20);
    expect(failures().length).toBeLessThanOrEqual(40);
    await new Promise((r) => setTimeout(r, 1_100));
    say("!crowded");
    await completed.waitFor(51);
    const summary = logLines.find((l) => l.msg === "command failure log lines dropped (rate limit)");
    expect(summary).toMatchObject({ plugin: "x" });
    expect((summary!.dropped as number) + failures().length).toBe(51);
  });

  it("drops invalid events and the bot's own messages, ignores plain chat, and keeps working", async () => {
    chat.publish(SUBJECTS.eventsMessage, { platform: "console", content: "!roll" });
    say("!roll", { is_self: true });
    say("just chatting");
    const ok = say("!echo after");
    const [done] = await completed.waitFor(1);
    expect(done!.data.correlationId).toBe(ok.id);
    await core.flush();
    expect(completed.items).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect(
      logLines.some((l) => l.msg === "dropped invalid chat event" && String(l.problem).includes("channel")),
    ).toBe(true);
  });

  it("serves the directory on rosey.api.commands.list", async () => {
    const reply = await chat.request<{ commands: unknown[] }>(COMMANDS_LIST_SUBJECT, {}, { timeoutMs: 1000 });
    expect(reply.data.commands[0]).toEqual({
      name: "roll",
      usage: "!roll",
      description: "does roll",
      plugin: "x",
      aliases: ["dice"],
    });
    expect(reply.data.commands).toHaveLength(directory.length);
  });

  it("handles each message once when several routers share the queue group", async () => {
    const second = new Router({
      bus: plugin,
      logger: silentLogger(),
      settings: { prefix: "!", timeoutMs: 300 },
      directory: () => directory,
    });
    await second.start();
    try {
      for (let i = 0; i < 10; i++) say(`!echo ${i}`);
      await completed.waitFor(10);
      await core.flush();
      await chat.flush();
      expect(completed.items).toHaveLength(10);
      expect(received).toHaveLength(10);
    } finally {
      await second.stop();
    }
  });

  it("past maxInFlight commands in flight, refuses new ones at once as 'unavailable', without sending them", async () => {
    await router.stop();
    router = new Router({
      bus: core,
      logger: harness.logger,
      settings: { prefix: "!", timeoutMs: 300, maxInFlight: 3 },
      directory: () => directory,
    });
    await router.start();
    // The plugin side never answers !sleep: each stays in flight until the 300 ms timeout.
    for (let i = 0; i < 5; i++) say("!sleep");
    const refused = await completed.waitFor(2);
    expect(refused.map((c) => c.data.status)).toEqual(["unavailable", "unavailable"]);
    // The refusals are answered at once, possibly before the three sent commands reach the plugin side.
    await expect.poll(() => received.length).toBe(3);
    expect(logLines.filter((l) => l.msg === "too many commands in flight; refused")).toHaveLength(2);
    expect((await completed.waitFor(5)).slice(2).map((c) => c.data.status)).toEqual([
      "timeout",
      "timeout",
      "timeout",
    ]);
    say("!echo again");
    expect((await completed.waitFor(6))[5]!.data.status).toBe("ok");
  });

  it("says a command is unavailable, not unknown, while the plugin that provides it is not running", async () => {
    await router.stop();
    router = new Router({
      bus: core,
      logger: silentLogger(),
      settings: { prefix: "!", timeoutMs: 300 },
      directory: () => directory,
      owner: (command) => (command === "quote" ? "quotes" : undefined),
    });
    await router.start();
    say("!quote add something");
    say("!nope");
    const done = await completed.waitFor(2);
    expect(done.map((c) => [c.data.command, c.data.status])).toEqual([
      ["quote", "unavailable"],
      ["nope", "unknown"],
    ]);
    expect((await sends.waitFor(2)).map((m) => m.data.text)).toEqual([
      "Sorry, !quote is unavailable right now.",
      "Unknown command !nope",
    ]);
    expect(received).toHaveLength(0);
  });

  it("stop() waits for commands in flight and is idempotent", async () => {
    say("!sleep");
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await Promise.all([router.stop(), router.stop()]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect((await completed.waitFor(1))[0]!.data.status).toBe("timeout");
  });
});
