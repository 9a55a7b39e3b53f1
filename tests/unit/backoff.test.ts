import { describe, expect, it } from "vitest";
import { backoffDelay } from "../../src/core/backoff.js";

describe("backoffDelay", () => {
  it("doubles from the base per attempt, up to the cap", () => {
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, 250, 30_000))).toEqual([250, 500, 1000, 2000, 30_000]);
  });

  it("treats an attempt before the first as the first", () => {
    expect(backoffDelay(-1, 1_000, 30_000)).toBe(1_000);
  });
});
