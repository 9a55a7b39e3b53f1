import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Cooldowns, cooldownMessage } from "../../src/core/router/cooldowns.js";

describe("Cooldowns", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("blocks the same user and command until the cooldown has passed", () => {
    const cooldowns = new Cooldowns();
    expect(cooldowns.take("console", "alice", "roll", 2000)).toEqual({ ok: true });
    vi.advanceTimersByTime(500);
    expect(cooldowns.take("console", "alice", "roll", 2000)).toEqual({ ok: false, remainingMs: 1500 });
    vi.advanceTimersByTime(1499);
    expect(cooldowns.take("console", "alice", "roll", 2000)).toEqual({ ok: false, remainingMs: 1 });
    vi.advanceTimersByTime(1);
    expect(cooldowns.take("console", "alice", "roll", 2000)).toEqual({ ok: true });
  });

  it("keeps users, commands and scopes apart", () => {
    const cooldowns = new Cooldowns();
    expect(cooldowns.take("console", "alice", "roll", 5000).ok).toBe(true);
    expect(cooldowns.take("console", "bob", "roll", 5000).ok).toBe(true);
    expect(cooldowns.take("console", "alice", "8ball", 5000).ok).toBe(true);
    expect(cooldowns.take("cytube:room", "alice", "roll", 5000).ok).toBe(true);
    expect(cooldowns.take("console", "alice", "roll", 5000).ok).toBe(false);
  });

  it("tracks nothing for commands without a cooldown", () => {
    const cooldowns = new Cooldowns();
    for (let i = 0; i < 5; i++) expect(cooldowns.take("console", "alice", "echo", 0).ok).toBe(true);
    expect(cooldowns.size).toBe(0);
  });

  it("sweeps expired entries so memory stays bounded over time", () => {
    const cooldowns = new Cooldowns({ sweepIntervalMs: 10_000 });
    for (let i = 0; i < 100; i++) cooldowns.take("console", `user${i}`, "roll", 1000);
    expect(cooldowns.size).toBe(100);
    vi.advanceTimersByTime(10_000);
    cooldowns.take("console", "late", "roll", 1000);
    expect(cooldowns.size).toBe(1);
  });

  it("past maxEntries evicts the oldest entries, down to 90% of the cap in one pass", () => {
    const cooldowns = new Cooldowns({ maxEntries: 10 });
    for (let i = 0; i <= 10; i++) cooldowns.take("console", `u${i}`, "roll", 60_000);
    expect(cooldowns.size).toBe(9);
    // u0 and u1 were evicted, so they may roll again; u2 and the newest are still cooling down.
    expect(cooldowns.take("console", "u1", "roll", 60_000).ok).toBe(true);
    expect(cooldowns.take("console", "u2", "roll", 60_000).ok).toBe(false);
    expect(cooldowns.take("console", "u10", "roll", 60_000).ok).toBe(false);
  });

  it("past maxEntries drops expired entries before live ones, wherever they are", () => {
    const cooldowns = new Cooldowns({ maxEntries: 10 });
    cooldowns.take("console", "live0", "roll", 60_000);
    for (let i = 0; i < 5; i++) cooldowns.take("console", `old${i}`, "roll", 1_000);
    vi.advanceTimersByTime(2_000);
    for (let i = 1; i < 6; i++) cooldowns.take("console", `live${i}`, "roll", 60_000);
    expect(cooldowns.size).toBe(6);
    for (let i = 0; i < 6; i++) expect(cooldowns.take("console", `live${i}`, "roll", 60_000).ok).toBe(false);
  });

  it("rejects a nonsensical maxEntries, naming the option and value", () => {
    expect(() => new Cooldowns({ maxEntries: 0 })).toThrow(
      /'maxEntries' must be a positive integer: current value is 0/,
    );
  });
});

describe("cooldownMessage", () => {
  it("says how many whole seconds to wait, rounded up", () => {
    expect(cooldownMessage("alice", "roll", 1500, "!")).toBe(
      "alice, please wait 2 s before using !roll again.",
    );
    expect(cooldownMessage("bob", "8ball", 1, "?")).toBe("bob, please wait 1 s before using ?8ball again.");
    expect(cooldownMessage("bob", "8ball", 3000, "!")).toBe(
      "bob, please wait 3 s before using !8ball again.",
    );
  });
});
