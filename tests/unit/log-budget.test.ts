import pino from "pino";
import { describe, expect, it } from "vitest";
import { LogBudget } from "../../src/core/log-budget.js";

describe("LogBudget", () => {
  it("allows perWindow lines a window, counts the rest, and reports them once", () => {
    let now = 1_000;
    const budget = new LogBudget(3, 1_000, () => now);
    expect([1, 2, 3, 4, 5].map(() => budget.take())).toEqual([true, true, true, false, false]);
    now += 999;
    expect(budget.take()).toBe(false);
    now += 1;
    expect(budget.take()).toBe(true);
    expect(budget.takeDropped()).toBe(3);
    expect(budget.takeDropped()).toBe(0);
  });

  it("counts drops across windows until someone takes them", () => {
    let now = 0;
    const budget = new LogBudget(1, 100, () => now);
    for (let w = 0; w < 3; w++, now += 100) {
      expect(budget.take()).toBe(true);
      expect(budget.take()).toBe(false);
    }
    expect(budget.takeDropped()).toBe(3);
  });

  it("admit() logs how many were dropped, with the given fields, before the next line it allows", () => {
    let now = 0;
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const budget = new LogBudget(2, 1_000, () => now);
    expect([1, 2, 3, 4, 5].map(() => budget.admit(log, "widget", { plugin: "p" }))).toEqual([
      true,
      true,
      false,
      false,
      false,
    ]);
    expect(lines).toEqual([]);
    now = 1_000;
    expect(budget.admit(log, "widget", { plugin: "p" })).toBe(true);
    expect(lines).toMatchObject([{ msg: "widget log lines dropped (rate limit)", dropped: 3, plugin: "p" }]);
  });
});
