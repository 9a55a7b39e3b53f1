import { describe, expect, it } from "vitest";
import {
  climb,
  judgeStep,
  nextRate,
  type SaturationSettings,
  type StepResult,
} from "../../bench/saturation.js";

const settings: SaturationSettings = {
  startRate: 1000,
  factor: 2,
  stepDurationMs: 1000,
  maxP99Ms: 50,
  maxLossRatio: 0.001,
  minDeliveredRatio: 0.95,
  maxRate: 16_000,
  refineSteps: 0,
  retries: 0,
};

function step(rate: number, overrides: Partial<StepResult> = {}): StepResult {
  return {
    offeredRate: rate,
    sent: rate,
    replied: rate,
    lost: 0,
    failed: 0,
    achievedRate: rate,
    sendRate: rate,
    latency: { count: rate, min: 1, mean: 2, p50: 2, p90: 3, p99: 4, p999: 5, max: 6 },
    ...overrides,
  };
}

describe("saturation ladder", () => {
  it("judges loss, latency, the sender and delivery", () => {
    expect(judgeStep(step(1000), settings)).toEqual({ ok: true });
    expect(judgeStep(step(1000, { lost: 2 }), settings)).toMatchObject({ ok: false });
    const slow = step(1000);
    slow.latency = { ...slow.latency, p99: 51 };
    expect(judgeStep(slow, settings)).toEqual({ ok: false, reason: "p99 51 ms > 50 ms" });
    expect(judgeStep(step(1000, { sendRate: 900 }), settings)).toMatchObject({ ok: false });
    expect(judgeStep(step(1000, { achievedRate: 900 }), settings)).toMatchObject({ ok: false });
    expect(judgeStep(step(1000, { sent: 0 }), settings)).toMatchObject({ ok: false });
  });

  it("steps up by the factor and stops at the top", () => {
    expect(nextRate(1000, settings)).toBe(2000);
    expect(nextRate(12_000, settings)).toBe(16_000);
    expect(nextRate(16_000, settings)).toBeUndefined();
  });

  it("climbs until a step breaks and keeps the last rate that held", async () => {
    const rates: number[] = [];
    const outcome = await climb(settings, async (rate) => {
      rates.push(rate);
      // Holds up to 4000 msg/s, answers only 5000/s at 8000.
      return rate <= 4000 ? step(rate, { achievedRate: rate - 1 }) : step(rate, { achievedRate: 5000 });
    });
    expect(rates).toEqual([1000, 2000, 4000, 8000]);
    expect(outcome.sustainedRate).toBe(3999);
    expect(outcome.sustainedOfferedRate).toBe(4000);
    expect(outcome.steps).toHaveLength(4);
    expect(outcome.stoppedBecause).toMatch(/^8000 msg\/s broke: only 5000 replies\/s/);
  });

  it("bisects between the last rate that held and the first that broke", async () => {
    const rates: number[] = [];
    const outcome = await climb({ ...settings, refineSteps: 3 }, async (rate) => {
      rates.push(rate);
      return rate <= 5500 ? step(rate) : step(rate, { lost: rate });
    });
    // 4000 held, 8000 broke; then 6000 (broke), 5000 (held), 5500 (held).
    expect(rates).toEqual([1000, 2000, 4000, 8000, 6000, 5000, 5500]);
    expect(outcome.sustainedOfferedRate).toBe(5500);
    expect(outcome.sustainedRate).toBe(5500);
    expect(outcome.stoppedBecause).toMatch(/^6000 msg\/s broke: 6000 lost/);
  });

  it("runs a broken step again: a rate breaks only when every attempt breaks", async () => {
    const runs: number[] = [];
    // 2000 stalls once (a p99 break) and holds when run again; 8000 breaks every time.
    const stalled = new Set([2000]);
    const outcome = await climb({ ...settings, retries: 1 }, async (rate) => {
      runs.push(rate);
      if (stalled.delete(rate)) return step(rate, { latency: { ...step(rate).latency, p99: 97 } });
      return rate <= 4000 ? step(rate) : step(rate, { lost: rate });
    });
    expect(runs).toEqual([1000, 2000, 2000, 4000, 8000, 8000]);
    expect(outcome.sustainedOfferedRate).toBe(4000);
    expect(outcome.steps.map((s) => [s.offeredRate, s.attempt, s.verdict.ok])).toEqual([
      [1000, 1, true],
      [2000, 1, false],
      [2000, 2, true],
      [4000, 1, true],
      [8000, 1, false],
      [8000, 2, false],
    ]);
    expect(outcome.stoppedBecause).toMatch(/^8000 msg\/s broke on all 2 attempts: 8000 lost/);
  });

  it("stops bisecting once the gap is under 2% of the rate that held", async () => {
    const rates: number[] = [];
    await climb(
      { ...settings, startRate: 1000, factor: 1.01, maxRate: 1010, refineSteps: 5 },
      async (rate) => {
        rates.push(rate);
        return rate <= 1000 ? step(rate) : step(rate, { lost: rate });
      },
    );
    expect(rates).toEqual([1000, 1010]);
  });
});
