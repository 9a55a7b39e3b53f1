import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { CommandTally, DURATION_BUCKETS } from "../../src/core/monitoring/command-tally.js";

/** The tally must read exactly as prom-client's own counter and histogram would for the same commands. */
describe("CommandTally", () => {
  const observations: Array<[string, "ok" | "timeout" | "unknown", number]> = [
    ["dice", "ok", 0.0004],
    ["dice", "ok", 0.001],
    ["dice", "ok", 0.0031],
    ["dice", "timeout", 5.2],
    ["echo", "ok", 0.02],
    ["", "unknown", 0.0002],
    ["echo", "ok", 42],
  ];

  it("gives the same counter and histogram values as prom-client's own", async () => {
    const tally = new CommandTally();
    const ours = new Registry();
    tally.register(ours);
    for (const [plugin, status, s] of observations) tally.record(plugin, status, s);

    const theirs = new Registry();
    const counter = new Counter({
      name: "rosey_commands_total",
      help: "h",
      labelNames: ["plugin", "status"],
      registers: [theirs],
    });
    const histogram = new Histogram({
      name: "rosey_command_duration_seconds",
      help: "h",
      labelNames: ["plugin"],
      buckets: DURATION_BUCKETS,
      registers: [theirs],
    });
    for (const [plugin, status, s] of observations) {
      counter.inc({ plugin, status });
      histogram.observe({ plugin }, s);
    }

    const sorted = (m: { values: Array<{ labels: object; value: number; metricName?: string }> }) =>
      m.values.map((v) => JSON.stringify([v.metricName, v.labels, v.value])).sort();
    for (const name of ["rosey_commands_total", "rosey_command_duration_seconds"]) {
      const a = (await ours.getMetricsAsJSON()).find((m) => m.name === name)!;
      const b = (await theirs.getMetricsAsJSON()).find((m) => m.name === name)!;
      expect(a.type).toBe(b.type);
      expect(sorted(a)).toEqual(sorted(b));
    }
    expect(await ours.metrics()).toContain(
      'rosey_command_duration_seconds_bucket{le="0.001",plugin="dice"} 2',
    );
  });
});
