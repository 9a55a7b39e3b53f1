import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { effectiveFlood, type OutgoingMessage, SendQueue } from "../../src/connectors/cytube/send-queue.js";

describe("cytube send queue", () => {
  let sent: Array<{ at: number; m: OutgoingMessage }>;
  let q: SendQueue;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    sent = [];
    q = new SendQueue({
      emit: (m) => {
        sent.push({ at: Date.now(), m });
        return true;
      },
      marginMs: 10,
      burstHeadroom: 1,
    });
  });
  afterEach(() => {
    q.clear();
    vi.useRealTimers();
  });
  const msg = (source: string, text: string): OutgoingMessage => ({ kind: "chat", text, source });

  it("bursts burst-1 at once, then one per 1000/sustained + margin ms, in order", async () => {
    q.resume();
    for (let i = 0; i < 25; i++) void q.enqueue(msg("plugin:a", `m${i}`));
    await vi.advanceTimersByTimeAsync(0);
    expect(sent).toHaveLength(19);
    await vi.advanceTimersByTimeAsync(110 * 6);
    expect(sent).toHaveLength(25);
    expect(sent.map((s) => s.m.text)).toEqual(Array.from({ length: 25 }, (_, i) => `m${i}`));
    const gaps = sent.slice(19).map((s, i) => s.at - sent[18 + i]!.at);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(110);
  });

  it("shares fairly: a noisy plugin cannot starve a quiet one", async () => {
    q.setFlood({ burst: 1, sustained: 10, cooldown: 100 });
    q.resume();
    for (let i = 0; i < 50; i++) void q.enqueue(msg("plugin:noisy", `n${i}`));
    await vi.advanceTimersByTimeAsync(0);
    void q.enqueue(msg("plugin:quiet", "q0"));
    void q.enqueue(msg("plugin:quiet", "q1"));
    await vi.advanceTimersByTimeAsync(110 * 5);
    const order = sent.map((s) => s.m.text);
    expect(order.slice(0, 5)).toEqual(["n0", "q0", "n1", "q1", "n2"]);
  });

  it("a cooldown means the oldest in-flight was dropped: it is resent, first; echoes settle", async () => {
    q.resume();
    const p0 = q.enqueue(msg("plugin:a", "a"));
    void q.enqueue(msg("plugin:a", "b"));
    await vi.advanceTimersByTimeAsync(0);
    expect(q.inflight).toBe(2);
    q.onEcho();
    await expect(p0).resolves.toBe("delivered");
    q.onCooldown();
    await vi.advanceTimersByTimeAsync(200);
    expect(sent.map((s) => s.m.text)).toEqual(["a", "b", "b"]);
  });

  it("pausing (disconnect) requeues unanswered messages before newer ones; nothing sent while paused", async () => {
    q.resume();
    void q.enqueue(msg("plugin:a", "1"));
    void q.enqueue(msg("plugin:a", "2"));
    await vi.advanceTimersByTimeAsync(0);
    q.onEcho();
    q.pause();
    void q.enqueue(msg("plugin:a", "3"));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sent.map((s) => s.m.text)).toEqual(["1", "2"]);
    q.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(sent.map((s) => s.m.text)).toEqual(["1", "2", "2", "3"]);
  });

  it("gives up after maxAttempts drops and refuses beyond the per-source cap", async () => {
    const given: string[] = [];
    const q2 = new SendQueue({
      emit: () => true,
      maxAttempts: 2,
      maxPerSource: 2,
      onGiveUp: (_m, r) => given.push(r),
    });
    q2.resume();
    const p = q2.enqueue(msg("s", "x"));
    await vi.advanceTimersByTimeAsync(0);
    q2.onCooldown();
    await vi.advanceTimersByTimeAsync(5_000);
    q2.onCooldown();
    await expect(p).resolves.toBe("failed");
    expect(given[0]).toMatch(/gave up after 2 attempts/);
    void q2.enqueue(msg("s", "1"));
    void q2.enqueue(msg("s", "2"));
    q2.pause();
    void q2.enqueue(msg("t", "ok"));
    expect(() => q2.enqueue(msg("s", "3"))).toThrow(/at most 2 may wait/);
    q2.clear();
  });

  it("effectiveFlood: antiflood params only for rank < 2, capped at 20/10", () => {
    expect(effectiveFlood({ chat_antiflood: false }, 0)).toEqual({ burst: 20, sustained: 10, cooldown: 2 });
    expect(effectiveFlood({ chat_antiflood: true }, 0)).toEqual({ burst: 4, sustained: 1, cooldown: 4 });
    expect(
      effectiveFlood(
        { chat_antiflood: true, chat_antiflood_params: { burst: 50, sustained: 99, cooldown: 3 } },
        1,
      ),
    ).toEqual({ burst: 20, sustained: 10, cooldown: 3 });
    expect(effectiveFlood({ chat_antiflood: true }, 2)).toEqual({ burst: 20, sustained: 10, cooldown: 2 });
  });
});
