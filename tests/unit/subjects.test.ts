import { describe, expect, it } from "vitest";
import { patternCovers, subjectMatches, subjectProblem } from "../../src/core/subjects.js";

/** The gate's subject grammar: the only thing between plugin strings and the NATS wire. */

describe("subjectProblem", () => {
  it.each([
    "rosey.actions.chat.send",
    "rosey.plugins.dice-2.rolled_total",
    `rosey.${Array.from({ length: 14 }, () => "a").join(".")}`,
  ])("accepts %j for publish", (s) => {
    expect(subjectProblem(s, "publish")).toBeUndefined();
  });

  it.each([
    ["rosey.a\r\nPUB x 1", /outside/],
    ["rosey.a\nb", /outside/],
    ["rosey.a b", /outside/],
    ["rosey.a\tb", /outside/],
    ["rosey.é", /outside/],
    ["rosey.a\u0000", /outside/],
    ["rosey..a", /empty token at position 2/],
    [".rosey", /empty token at position 1/],
    ["rosey.", /empty token/],
    ["rosey.*", /wildcards/],
    ["rosey.>", /wildcards/],
    ["_INBOX.x", /reserved/],
    ["$JS.API.INFO", /reserved/],
    ["", /empty/],
    [Array.from({ length: 17 }, () => "a").join("."), /17 tokens, max 16/],
    ["a".repeat(257), /257 characters/],
  ])("refuses %j for publish", (s, reason) => {
    expect(subjectProblem(s, "publish")).toMatch(reason);
  });

  it("refuses non-strings", () => {
    expect(subjectProblem(42, "publish")).toMatch(/must be a string/);
    expect(subjectProblem({ toString: () => "rosey.a" }, "publish")).toMatch(/must be a string/);
  });

  it("allows '*' and a final '>' only when subscribing", () => {
    expect(subjectProblem("rosey.events.*", "subscribe")).toBeUndefined();
    expect(subjectProblem("rosey.events.>", "subscribe")).toBeUndefined();
    expect(subjectProblem("rosey.>.x", "subscribe")).toMatch(/last token/);
    expect(subjectProblem("rosey.ev*", "subscribe")).toMatch(/outside/);
  });
});

describe("subjectMatches and patternCovers", () => {
  it("matches concrete subjects token-wise", () => {
    expect(subjectMatches("rosey.db.kv.>", "rosey.db.kv.get")).toBe(true);
    expect(subjectMatches("rosey.db.kv.>", "rosey.db.kv")).toBe(false);
    expect(subjectMatches("rosey.*.send", "rosey.chat.send")).toBe(true);
    expect(subjectMatches("rosey.actions.chat.send", "rosey.actions.chat.send.x")).toBe(false);
  });

  it("a granted pattern covers only patterns that match a subset of its subjects", () => {
    expect(patternCovers("rosey.events.>", "rosey.events.user.*")).toBe(true);
    expect(patternCovers("rosey.events.>", "rosey.events.>")).toBe(true);
    expect(patternCovers("rosey.events.>", "rosey.>")).toBe(false);
    expect(patternCovers("rosey.events.>", ">")).toBe(false);
    expect(patternCovers("rosey.events.>", "rosey.*.message")).toBe(false);
    expect(patternCovers("rosey.events.>", "rosey.events")).toBe(false);
    expect(patternCovers("rosey.events.pm", "rosey.events.*")).toBe(false);
    expect(patternCovers("rosey.plugins.a.>", "rosey.plugins.a-b.x")).toBe(false);
  });
});
