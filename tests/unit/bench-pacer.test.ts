import { describe, expect, it } from "vitest";
import { dueCount, dueOffsetMs, pace } from "../../bench/pacer.js";

/** A fake clock the pacer's tick advances, so pacing is checked without real time. */
function fakeClock(stepMs: number) {
  let t = 1_000;
  return {
    now: () => t,
    tick: async () => {
      t += stepMs;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe("pacer", () => {
  it("computes what is due from elapsed time", () => {
    expect(dueCount(-1, 1000, 100)).toBe(0);
    expect(dueCount(0, 1000, 100)).toBe(1);
    expect(dueCount(9.99, 1000, 100)).toBe(10);
    expect(dueCount(10, 1000, 100)).toBe(11);
    expect(dueCount(1e9, 1000, 100)).toBe(100);
    expect(dueOffsetMs(250, 500)).toBe(500);
  });

  it("sends rate × duration messages, each stamped with its due time", async () => {
    const clock = fakeClock(1);
    const sent: Array<[number, number]> = [];
    const result = await pace({
      rate: 1000,
      durationMs: 100,
      send: (i, intended) => sent.push([i, intended]),
      now: clock.now,
      tick: clock.tick,
    });
    expect(result.sent).toBe(100);
    expect(result.scheduled).toBe(100);
    expect(sent.map(([i]) => i)).toEqual([...Array(100).keys()]);
    expect(sent[0]![1]).toBe(1_000);
    expect(sent[99]![1]).toBeCloseTo(1_099, 6);
    // Never sent before its due time.
    for (const [i, intended] of sent) expect(intended).toBeCloseTo(1_000 + i, 6);
  });

  it("catches up after a stall instead of lowering the offered rate", async () => {
    let t = 0;
    const sendTimes: number[] = [];
    let ticks = 0;
    const result = await pace({
      rate: 100,
      durationMs: 1_000,
      maxBurst: 1_000,
      send: () => sendTimes.push(t),
      now: () => t,
      // The first wait stalls for 500 ms; later ones take 10 ms.
      tick: async () => {
        t += ticks++ === 0 ? 500 : 10;
      },
    });
    expect(result.sent).toBe(100);
    // Everything due during the stall went out in one burst right after it.
    expect(sendTimes.filter((s) => s === 500)).toHaveLength(50);
    expect(result.maxLagMs).toBeCloseTo(490, 6);
  });

  it("caps one tick's burst so a catch-up cannot starve the loop", async () => {
    let t = 0;
    const perTick: number[] = [];
    let current = 0;
    await pace({
      rate: 1_000,
      durationMs: 100,
      maxBurst: 10,
      send: () => current++,
      now: () => t,
      tick: async () => {
        perTick.push(current);
        current = 0;
        t += t === 0 ? 100 : 1;
      },
    });
    expect(Math.max(...perTick, current)).toBeLessThanOrEqual(10);
  });

  it("rejects a rate or duration that cannot be paced", async () => {
    await expect(pace({ rate: 0, durationMs: 10, send: () => {} })).rejects.toThrow(/'rate' must be > 0/);
    await expect(pace({ rate: 10, durationMs: -1, send: () => {} })).rejects.toThrow(/'duration'/);
  });
});
