import { describe, expect, it } from "vitest";
import { z } from "zod";
import { commandResultSchema, commandSchema } from "../../src/core/commands.js";
import { chatEventSchema, envelopeSchema } from "../../src/core/envelope.js";
import { compileCheck } from "../../src/core/validation.js";
import { hostFrameSchema } from "../../src/sandbox/host/host-protocol.js";
import { workerMessageSchema } from "../../src/sandbox/protocol.js";

const envelope = {
  id: "e1",
  subject: "rosey.events.message",
  source: "core",
  timestamp: 1,
  correlationId: "e1",
  data: { any: ["thing"] },
};

/** Valid and invalid samples per hot-path schema: the compiled check must agree with zod on each. */
const samples: [string, z.ZodType, unknown[]][] = [
  [
    "envelope",
    envelopeSchema,
    [
      envelope,
      { ...envelope, data: null },
      { ...envelope, id: "" },
      { ...envelope, timestamp: -1 },
      { ...envelope, timestamp: 1.5 },
      { ...envelope, timestamp: 2 ** 60 },
      { ...envelope, source: "x".repeat(129) },
      { ...envelope, data: undefined },
      (({ data: _data, ...rest }) => rest)(envelope),
      "not an object",
      null,
      [],
    ],
  ],
  [
    "command result",
    commandResultSchema,
    [
      { ok: true, replied: false },
      { ok: false, error: { code: "X", message: "y" } },
      { ok: true },
      { ok: false, error: { code: 1, message: "y" } },
      { ok: "yes", replied: true },
    ],
  ],
  [
    "command",
    commandSchema,
    [
      {
        name: "roll",
        args: ["2d6"],
        text: "2d6",
        user: "u",
        rank: 1,
        platform: "p",
        channel: "c",
        correlationId: "x",
      },
      {
        name: "roll",
        args: [1],
        text: "",
        user: "u",
        rank: 1,
        platform: "p",
        channel: "c",
        correlationId: "x",
      },
      { name: "", args: [], text: "", user: "u", rank: 1, platform: "p", channel: "c", correlationId: "x" },
    ],
  ],
  [
    "chat event",
    chatEventSchema,
    [
      { platform: "p", channel: "c", user: "u", content: "hi", timestamp: 1 },
      { platform: "p", channel: "", user: "u", content: "hi", timestamp: 1 },
      { platform: "p", channel: "c", user: "u", content: "hi", timestamp: 1, user_data: { username: "u" } },
    ],
  ],
  [
    "worker message",
    workerMessageSchema,
    [
      { type: "command-result", id: 1, ok: true, text: "x" },
      { type: "command-result", id: -1, ok: true },
      { type: "command-reply", id: 1, text: "x".repeat(10_001) },
      { type: "log", level: "info", msg: "fine" },
      { type: "log", level: "info", msg: "forged\nline" },
      { type: "log", level: "loud", msg: "x" },
      { type: "ready", extra: 1 },
      { type: "nope" },
      { type: "request", id: 1, subject: "s", json: "{}", timeoutMs: 0 },
    ],
  ],
  [
    "host frame",
    hostFrameSchema,
    [
      { t: "message", wid: 1, msg: { anything: true } },
      { t: "elu", wid: 1, value: 1.5 },
      { t: "exit", wid: 1, code: 0, oom: false },
      { t: "exit", wid: 1, code: 0 },
    ],
  ],
];

describe("compileCheck", () => {
  for (const [name, schema, values] of samples) {
    it(`agrees with zod on every ${name} sample, with zod's wording for the problem`, () => {
      const check = compileCheck(schema);
      for (const value of values) {
        const expected = schema.safeParse(value);
        const actual = check(value);
        expect({ value, success: actual.success }).toEqual({ value, success: expected.success });
        if (!actual.success && !expected.success) {
          const issue = expected.error.issues[0]!;
          expect(actual.problem).toBe(`'${issue.path.join(".") || "(root)"}' ${issue.message}`);
        }
      }
    });
  }

  it("measures strings as zod does, also with astral characters", () => {
    const schema = z.object({ s: z.string().min(2).max(3) });
    const check = compileCheck(schema);
    for (const s of ["😀", "😀😀", "😀😀😀", "😀😀😀😀", "a", "abcd"]) {
      expect({ s, ok: check({ s }).success }).toEqual({ s, ok: schema.safeParse({ s }).success });
    }
  });

  it("keeps property names that look like keywords as property names", () => {
    const check = compileCheck(z.object({ maxLength: z.string().max(1), const: z.number() }));
    expect(check({ maxLength: "a", const: 1 }).success).toBe(true);
    expect(check({ maxLength: "ab", const: 1 }).success).toBe(false);
  });

  it("refuses schemas JSON Schema cannot express, instead of silently checking less", () => {
    expect(() => compileCheck(z.object({ a: z.string().refine((s) => s.startsWith("a")) }))).toThrow(
      /refinements/,
    );
    expect(() => compileCheck(z.object({ a: z.string().default("x") }))).toThrow(/default/);
    expect(() => compileCheck(z.string().transform((s) => s.length))).toThrow(/pipe|transform/);
  });
});
