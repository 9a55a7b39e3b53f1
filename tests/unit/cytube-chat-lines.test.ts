import { afterEach, describe, expect, it, vi } from "vitest";
import { neutralizeCommand, planAction } from "../../src/connectors/cytube/actions.js";
import { LimiterMirror } from "../../src/connectors/cytube/limiter-mirror.js";
import { limiterCost, type OutgoingMessage, SendQueue } from "../../src/connectors/cytube/send-queue.js";
import { ChannelState } from "../../src/connectors/cytube/state.js";
import { ServerRateLimiter } from "../fixtures/cytube-emulator/limiter.js";

/**
 * What a chat line the bot sends turns into on the real server (calzoneman/sync `src/channel/chat.js`):
 * `processChatMsg` checks the flood limiter, then dispatches a leading `/command`; `/me` and `/sp` strip their
 * word and run the rest through `processChatMsg` again. So `/me /kick bob` kicks bob, and a `/me` line is
 * checked against the limiter twice.
 */

/** The commands the server would run for `line`, and how many limiter checks it costs. */
function serverReads(line: string): { commands: string[]; checks: number } {
  const commands: string[] = [];
  let checks = 0;
  let msg = line;
  for (;;) {
    checks += 1;
    if (!msg.startsWith("/")) return { commands, checks };
    const word = msg.split(" ")[0]!;
    if (word !== "/me" && word !== "/sp") {
      commands.push(word);
      return { commands, checks };
    }
    msg = msg.split(" ").slice(1).join(" ");
  }
}

describe("chat text the bot sends never runs a slash command", () => {
  it("neutralises what follows /me or /sp, which the server reads again (attack 69)", () => {
    for (const text of [
      "/me /kick victim bye",
      "/sp /ban victim",
      "/me /me /clear",
      "/sp /me /ipban victim",
      "/me /rank victim 4",
    ]) {
      expect(serverReads(neutralizeCommand(text)).commands, text).toEqual([]);
    }
    expect(neutralizeCommand("/me /kick victim")).toBe("/me \u200b/kick victim");
    expect(neutralizeCommand("/me waves")).toBe("/me waves");
    expect(neutralizeCommand("/sp the end")).toBe("/sp the end");
    // Two spaces: today's server would read " /kick" as text, but a version that trims first would not.
    expect(neutralizeCommand("/me  /kick victim")).toBe("/me \u200b /kick victim");
  });

  it("checks every chunk of a long reply, so a chunk starting '/me /kick' runs nothing", () => {
    const state = new ChannelState("chan");
    state.rank = 2;
    const text = `${"a".repeat(319)} /me /kick victim bye`;
    const plan = planAction("chat.send", { platform: "cytube", channel: "chan", text }, state);
    expect(plan.ok && plan.kind === "chat").toBe(true);
    const lines = plan.ok && plan.kind === "chat" ? plan.lines : [];
    expect(lines).toHaveLength(2);
    expect(lines[1]!.text.startsWith("/me \u200b/kick victim")).toBe(true);
    for (const line of lines) expect(serverReads(line.text).commands).toEqual([]);
  });
});

describe("a /me or /sp line costs the server's limiter two checks (attack 75)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("limiterCost: 2 for a styled chat line, else 1", () => {
    expect(limiterCost({ kind: "chat", text: "/me waves" })).toBe(2);
    expect(limiterCost({ kind: "chat", text: "/sp spoiler" })).toBe(2);
    expect(limiterCost({ kind: "chat", text: "/kick bob" })).toBe(1);
    expect(limiterCost({ kind: "chat", text: "hello /me" })).toBe(1);
    expect(limiterCost({ kind: "pm", text: "/me waves" })).toBe(1);
    for (const text of ["/me waves", "/sp x", "/me \u200b/kick x", "plain", "/kick bob"]) {
      expect(limiterCost({ kind: "chat", text }), text).toBe(serverReads(text).checks);
    }
  });

  it("the mirror holds a two-check line until both checks pass: past the burst only a quiet cooldown does", () => {
    const m = new LimiterMirror({ burst: 4, sustained: 10, cooldown: 2 }, { marginMs: 0, headroom: 0 });
    m.sent(0, 2);
    expect(m.waitMs(1, 2)).toBe(0);
    m.sent(1, 2);
    expect(m.waitMs(2, 1)).toBe(99);
    expect(m.waitMs(2, 2)).toBe(2000);
    expect(m.waitMs(2002, 2)).toBe(0);
  });

  it("against the server's limiter, a stream mixing /me lines loses none (it lost them before)", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const server = new ServerRateLimiter();
    const flood = { burst: 20, sustained: 10, cooldown: 2 };
    let dropped = 0;
    let delivered = 0;
    const q: SendQueue = new SendQueue({
      emit: (m: OutgoingMessage) => {
        // Answered after the emit returns, in order, as the server's frames would be.
        let refused = false;
        for (let i = 0; i < serverReads(m.text).checks && !refused; i++) refused = server.throttle(flood);
        queueMicrotask(() => {
          if (refused) {
            dropped += 1;
            q.onCooldown();
          } else {
            delivered += 1;
            q.onEcho();
          }
        });
        return true;
      },
      flood,
      marginMs: 30,
    });
    q.resume();
    for (let i = 0; i < 60; i++)
      void q.enqueue({
        kind: "chat",
        text: i % 3 === 0 ? `/me waves ${i}` : `line ${i}`,
        source: "plugin:a",
      });
    await vi.advanceTimersByTimeAsync(60_000);
    expect({ dropped, delivered }).toEqual({ dropped: 0, delivered: 60 });
    q.clear();
  });
});
