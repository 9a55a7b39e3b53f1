import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "../../bench/histogram.js";
import { Matcher } from "../../bench/matcher.js";

describe("matcher", () => {
  it("matches replies by correlationId and measures from the intended send time", () => {
    const m = new Matcher();
    m.expect("a", 100);
    m.expect("b", 101);
    expect(m.onReply({ correlationId: "b", source: "plugin:dice" }, 104)).toBe(true);
    expect(m.onReply({ correlationId: "a", source: "plugin:echo" }, 102)).toBe(true);
    const c = m.counts();
    expect(c).toMatchObject({ expected: 2, replied: 2, failed: 0, pending: 0 });
    const s = m.latency.summary();
    expect(s.count).toBe(2);
    expect(s.min).toBeCloseTo(2, 2);
    expect(s.max).toBeCloseTo(3, 2);
  });

  it("counts router answers as failed, repeats as duplicates, strangers as unexpected", () => {
    const m = new Matcher();
    m.expect("a", 0);
    m.expect("b", 0);
    m.expect("c", 0);
    m.onReply({ correlationId: "a", source: "core" }, 1);
    m.onReply({ correlationId: "b", source: "plugin:x" }, 1);
    m.onReply({ correlationId: "b", source: "plugin:x" }, 2);
    m.onReply({ correlationId: "zzz", source: "plugin:x" }, 2);
    m.onReply({ correlationId: 42, source: "plugin:x" }, 2);
    expect(m.counts()).toEqual({
      expected: 3,
      replied: 1,
      failed: 1,
      duplicates: 1,
      unexpected: 2,
      pending: 1,
    });
    expect(Object.fromEntries(m.failedSources)).toEqual({ core: 1 });
    expect(m.latency.count).toBe(1);
  });

  it("uses the path's notion of success", () => {
    const m = new Matcher({ isSuccess: (s) => s === "relay" });
    m.expect("a", 0);
    m.onReply({ correlationId: "a", source: "relay" }, 1);
    expect(m.counts().replied).toBe(1);
  });

  it("resolves drained() when the last reply arrives, or false at the deadline", async () => {
    const m = new Matcher();
    expect(await m.drained(10)).toBe(true);
    m.expect("a", 0);
    const drained = m.drained(5_000);
    m.onReply({ correlationId: "a", source: "plugin:x" }, 1);
    expect(await drained).toBe(true);
    m.expect("b", 0);
    expect(await m.drained(20)).toBe(false);
  });
});

describe("latency histogram", () => {
  it("summarises percentiles in ms with microsecond resolution", () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.recordMs(i / 100); // 0.01 .. 10 ms
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.min).toBeCloseTo(0.01, 3);
    expect(s.p50).toBeCloseTo(5, 1);
    expect(s.p90).toBeCloseTo(9, 1);
    expect(s.p99).toBeCloseTo(9.9, 1);
    expect(s.p999).toBeCloseTo(9.99, 1);
    expect(s.max).toBeCloseTo(10, 1);
    expect(s.mean).toBeCloseTo(5.005, 1);
  });

  it("reports zeros when empty and clamps negative values", () => {
    const h = new LatencyHistogram();
    expect(h.summary()).toEqual({ count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
    h.recordMs(-5);
    expect(h.summary().max).toBe(0);
  });
});
