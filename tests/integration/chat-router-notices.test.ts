import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Bus } from "../../src/core/bus.js";
import type { CommandCompleted, CommandResult } from "../../src/core/commands.js";
import type { ChatEvent, ChatSend, Envelope } from "../../src/core/envelope.js";
import {
  MAX_USER_LENGTH,
  NOTICE_WINDOW_MS,
  NOTICES_PER_SECOND,
  type Router,
} from "../../src/core/router/router.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import type { collect } from "../support/bus.js";
import { commandInfo } from "../support/command.js";
import { usePrivateNats } from "../support/private-nats.js";
import { type RouterHarness, startRouterHarness } from "../support/router-harness.js";

/**
 * A chat user floods the router (attack 70). Every line they typed used to become a line the bot sent:
 * "Unknown command", "please wait", "unavailable". Now those notices are rationed per user, kind and command
 * (and in total); each line still completes with its status. Real nats-server, a fake plugin side, a clock
 * the test moves.
 */

describe("router notices under a chat flood", () => {
  const nats = usePrivateNats();
  let core: Bus;
  let chat: Bus;
  let router: Router;
  let clock: number;
  let logLines: Array<Record<string, unknown>>;
  let sends: ReturnType<typeof collect<Envelope<ChatSend>>>;
  let completed: ReturnType<typeof collect<Envelope<CommandCompleted>>>;
  let inbox: string;
  let harness: RouterHarness;

  beforeEach(async () => {
    clock = 1_000_000;
    harness = await startRouterHarness(nats.url, {
      onCommand: (m) => {
        const result: CommandResult =
          m.envelope.data.name === "boom"
            ? { ok: false, error: { code: "PLUGIN_ERROR", message: "kaboom" } }
            : { ok: true, replied: false };
        m.respond(result);
      },
      router: {
        settings: { prefix: "!", timeoutMs: 1_000 },
        directory: () => [
          commandInfo("roll", { cooldownMs: 60_000 }),
          commandInfo("echo"),
          commandInfo("boom"),
        ],
        owner: (command) => (command === "quote" ? "quotes" : undefined),
        now: () => clock,
      },
    });
    ({ core, chat, router, logLines, sends, completed, inbox } = harness);
  });

  afterEach(async () => {
    await router.stop();
    await harness.close();
  });

  const say = (content: string, user = "mallory"): Envelope<ChatEvent> =>
    chat.publish<ChatEvent>(
      SUBJECTS.eventsMessage,
      {
        platform: "cytube",
        channel: "chan",
        user,
        content,
        timestamp: clock,
        user_data: { username: user, rank: 0, is_afk: false, is_moderator: false },
      },
      { replyTo: inbox },
    );

  /** Sends `lines`, waits until all completed, and returns the chat replies they caused. */
  async function flood(lines: string[], user?: string): Promise<string[]> {
    const before = completed.items.length;
    const sentBefore = sends.items.length;
    for (const line of lines) say(line, user);
    await completed.waitFor(before + lines.length);
    await core.flush();
    await chat.flush();
    return sends.items.slice(sentBefore).map((s) => s.data.text);
  }

  it("answers a flood of unknown commands once per window, and again after it", async () => {
    const words = Array.from({ length: 30 }, (_, i) => `!nosuch${i}`);
    expect(await flood(words)).toEqual(["Unknown command !nosuch0"]);
    expect(completed.items.every((c) => c.data.status === "unknown")).toBe(true);
    clock += NOTICE_WINDOW_MS - 1;
    expect(await flood(["!again"])).toEqual([]);
    clock += 1;
    expect(await flood(["!again"])).toEqual(["Unknown command !again"]);
  });

  it("tells a user to wait once per cooldown, however often they retry", async () => {
    expect(await flood(["!roll"])).toEqual([]);
    const replies = await flood(Array.from({ length: 20 }, () => "!roll"));
    expect(replies).toEqual(["mallory, please wait 60 s before using !roll again."]);
    expect(completed.items.slice(1).every((c) => c.data.status === "cooldown")).toBe(true);
    clock += 30_000;
    expect(await flood(["!roll"])).toEqual([]);
    clock += 30_000;
    expect(await flood(["!roll"])).toEqual([]);
    clock += 1_000;
    expect(await flood(["!roll"])).toEqual(["mallory, please wait 59 s before using !roll again."]);
  });

  it("says 'unavailable' once per window for a command whose plugin is not running", async () => {
    const replies = await flood(Array.from({ length: 20 }, () => "!quote add x"));
    expect(replies).toEqual(["Sorry, !quote is unavailable right now."]);
    expect(completed.items.every((c) => c.data.status === "unavailable")).toBe(true);
  });

  it("keeps each kind and user apart, and answers dispatched commands' failures as before", async () => {
    const replies = await flood(["!nosuch", "!roll", "!roll", "!quote", "!boom", "!boom"]);
    expect(replies.sort()).toEqual(
      [
        "Unknown command !nosuch",
        "mallory, please wait 60 s before using !roll again.",
        "Sorry, !quote is unavailable right now.",
        "Sorry, !boom failed; the error has been logged.",
        "Sorry, !boom failed; the error has been logged.",
      ].sort(),
    );
    expect(await flood(["!nosuch"], "alice")).toEqual(["Unknown command !nosuch"]);
  });

  it("caps notices for all users together: a crowd of accounts gets a few a second", async () => {
    const before = sends.items.length;
    for (let i = 0; i < 30; i++) say(`!nosuch${i}`, `sock${i}`);
    await completed.waitFor(30);
    await core.flush();
    await chat.flush();
    expect(sends.items.length - before).toBe(NOTICES_PER_SECOND);
    clock += 1_000;
    expect(await flood(["!nosuch"], "late")).toEqual(["Unknown command !nosuch"]);
  });

  it("drops chat events whose user name is absurdly long, before they reach the cooldown tables", async () => {
    say("!roll", "x".repeat(MAX_USER_LENGTH));
    const ok = say("!echo after", "bob");
    const [done] = await completed.waitFor(1);
    expect(done!.data.correlationId).toBe(ok.id);
    expect(logLines.some((l) => String(l.msg).startsWith("dropped a chat event whose user"))).toBe(true);
  });
});
