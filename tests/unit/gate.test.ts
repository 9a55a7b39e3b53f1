import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Bus, BusMessage } from "../../src/core/bus.js";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import {
  PermissionGate,
  RATE_REFUSALS_REPORTED_PER_WINDOW,
  type Violation,
} from "../../src/core/plugins/gate.js";
import { computeGrants } from "../../src/core/plugins/grants.js";
import { subjectMatches } from "../../src/core/subjects.js";

/**
 * The gate on its own, with a recording bus: what a compromised worker shim could send straight to it
 * (the sandbox normally refuses these earlier) must still be refused here, before the NATS client.
 */

function setup(capabilities: string[], grants: string[] = ["basic"], logger = silentLogger()) {
  const published: Array<{ subject: string; json: string }> = [];
  const requested: Array<{ subject: string; json: string }> = [];
  const subscribed: string[] = [];
  const handlers: Array<(message: BusMessage) => void> = [];
  const violations: Violation[] = [];
  const bus = {
    publishEncoded: (subject: string, json: string) => published.push({ subject, json }),
    publish: (subject: string, data: unknown) => {
      if (subject === "rosey.security.violation") violations.push(data as Violation);
    },
    requestEncoded: async (subject: string, json: string) => {
      requested.push({ subject, json });
      return { data: { success: true, data: null } };
    },
    subscribe: (subject: string, handler: (message: BusMessage) => void) => {
      subscribed.push(subject);
      handlers.push(handler);
      return { subject, unsubscribe() {} };
    },
  } as unknown as Bus;
  const config = validateConfig({ plugins: { entries: { x: { grants } } } }, "t");
  const gate = new PermissionGate({
    grants: computeGrants({ name: "x", version: "1.0.0", entry: "index.js", capabilities }, config),
    bus,
    logger,
    publishPerSecond: 5,
    maxPayloadChars: 1024,
    violationWindowMs: 10_000,
  });
  return { gate, published, requested, subscribed, handlers, violations };
}

describe("PermissionGate", () => {
  it("publishes every refusal, but logs at most 20 a second (a flooding plugin cannot fill the log)", () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const { gate, violations } = setup([], ["basic"], logger);
    for (let i = 0; i < 50; i++) expect(gate.publish("rosey.actions.users.kick", "{}")).toBe(false);
    expect(violations).toHaveLength(50);
    expect(lines.filter((l) => l.msg === "operation denied").length).toBeLessThanOrEqual(40);
    expect(lines.filter((l) => l.msg === "operation denied").length).toBeGreaterThanOrEqual(20);
  });

  it("stamps source, id and subject itself; spoofed fields stay inside data", () => {
    const { gate, published } = setup(["chat.send"]);
    expect(gate.publish("rosey.actions.chat.send", '{"source":"core","id":"forged"}', "cid-1")).toBe(true);
    const envelope = JSON.parse(published[0]!.json);
    expect(envelope).toMatchObject({
      source: "plugin:x",
      subject: "rosey.actions.chat.send",
      correlationId: "cid-1",
    });
    expect(envelope.id).not.toBe("forged");
    expect(envelope.data).toEqual({ source: "core", id: "forged" });
  });

  it.each([
    ["rosey.actions.chat.send\r\nPUB rosey.admin.x 1", /characters outside/],
    ["rosey.plugins.x.a b", /characters outside/],
    ["rosey.plugins.x..a", /empty token/],
    ["rosey.plugins.x.*", /wildcards/],
    ["rosey.plugins.x.>", /wildcards/],
    ["_INBOX.abc", /reserved/],
    ["$SYS.REQ.SERVER.PING", /reserved/],
    ["", /empty/],
    [`rosey.plugins.x.${"a".repeat(300)}`, /characters, max 256/],
  ])("refuses to publish %j before the bus sees it (severe)", (subject, reason) => {
    const { gate, published, violations } = setup(["chat.send"]);
    expect(gate.publish(subject, "{}")).toBe(false);
    expect(published).toEqual([]);
    expect(violations[0]).toMatchObject({ operation: "publish", severe: true });
    expect(violations[0]?.reason).toMatch(reason);
  });

  it("remembers allowed subjects only: every refusal of a repeated subject is reported again", () => {
    const { gate, published, violations } = setup(["chat.send"]);
    for (let i = 0; i < 3; i++) {
      expect(gate.publish("rosey.actions.chat.send", "{}")).toBe(true);
      expect(gate.publish("rosey.actions.users.kick", "{}")).toBe(false);
      expect(gate.publish("rosey.admin.plugins.reload", "{}")).toBe(false);
    }
    expect(published.map((p) => p.subject)).toEqual(Array(3).fill("rosey.actions.chat.send"));
    expect(violations.map((v) => [v.subject, v.severe])).toEqual(
      Array(3)
        .fill([
          ["rosey.actions.users.kick", false],
          ["rosey.admin.plugins.reload", true],
        ])
        .flat(),
    );
  });

  it("refuses payloads over the cap and non-JSON payloads even when the worker's own check was bypassed", () => {
    const { gate, published, violations } = setup(["chat.send"]);
    expect(gate.publish("rosey.plugins.x.big", JSON.stringify("x".repeat(2000)))).toBe(false);
    expect(gate.publish("rosey.plugins.x.bad", "{not json")).toBe(false);
    expect(published).toEqual([]);
    expect(violations.map((v) => [v.operation, v.severe])).toEqual([
      ["publish", false],
      ["protocol", true],
    ]);
    expect(violations[0]?.reason).toMatch(/max 1024/);
  });

  it("rate-limits publishes with a token bucket (burst = 2 × rate), each refusal a violation", () => {
    const { gate, published, violations } = setup([]);
    const results = Array.from({ length: 20 }, (_, i) => gate.publish("rosey.plugins.x.out", `{"i":${i}}`));
    expect(results.filter(Boolean)).toHaveLength(10);
    expect(published).toHaveLength(10);
    expect(violations).toHaveLength(10);
    expect(violations.at(-1)).toMatchObject({ count: 10, severe: false, rate: true });
  });

  it("counts refusals for the rate apart from the others, so the manager can tell a burst from a breach", () => {
    const { gate, violations } = setup([]);
    for (let i = 0; i < 12; i++) gate.publish("rosey.plugins.x.out", "{}");
    gate.publish("rosey.actions.users.kick", "{}");
    expect(violations.map((v) => [v.rate, v.count])).toEqual([
      [true, 1],
      [true, 2],
      [false, 1],
    ]);
  });

  it("publishes the first rate refusals of a window one by one, the rest as one summary (the audit log is not a counter)", () => {
    const { gate, violations } = setup([]);
    for (let i = 0; i < 35; i++) gate.publish("rosey.plugins.x.out", "{}");
    // 35 publishes at 5/s (burst 10): 25 refusals, of which 10 published so far.
    expect(violations).toHaveLength(RATE_REFUSALS_REPORTED_PER_WINDOW);
    gate.close();
    expect(violations).toHaveLength(RATE_REFUSALS_REPORTED_PER_WINDOW + 1);
    expect(violations.at(-1)).toMatchObject({
      rate: true,
      count: 25,
      reason: "publish rate above 5/s: 15 more refused in this window, counted here instead of one by one",
    });
  });

  it("names the capability a refusal needs: one the plugin requested, else the narrowest", () => {
    const { gate, violations } = setup(["chat.pm"], []);
    gate.subscribe("rosey.events.pm", () => {});
    gate.subscribe("rosey.events.message", () => {});
    expect(violations.map((v) => [v.capability, v.reason])).toEqual([
      ["chat.pm", "capability 'chat.pm' was requested but not granted"],
      ["events.read", "capability 'events.read' was not requested"],
    ]);
    const narrow = setup([], []);
    narrow.gate.subscribe("rosey.events.pm", () => {});
    expect(narrow.violations[0]?.capability).toBe("chat.pm");
  });

  it("PMs reach only chat.pm: events.read's rosey.events.> does not deliver them, nor may it subscribe to them", () => {
    const seen = (capabilities: string[], pattern: string) => {
      const { gate, handlers, violations } = setup(capabilities);
      const got: string[] = [];
      const sub = gate.subscribe(pattern, (m) => got.push(m.subject));
      for (const subject of ["rosey.events.message", "rosey.events.pm", "rosey.events.user.join"])
        if (subjectMatches(pattern, subject))
          for (const handler of handlers) handler({ subject } as BusMessage);
      return { subscribed: sub !== undefined, got, violations };
    };
    expect(seen(["events.read"], "rosey.events.>").got).toEqual([
      "rosey.events.message",
      "rosey.events.user.join",
    ]);
    expect(seen(["events.read", "chat.pm"], "rosey.events.>").got).toEqual([
      "rosey.events.message",
      "rosey.events.pm",
      "rosey.events.user.join",
    ]);
    const direct = seen(["events.read"], "rosey.events.pm");
    expect(direct.subscribed).toBe(false);
    expect(direct.violations[0]).toMatchObject({
      capability: "chat.pm",
      reason: "capability 'chat.pm' was not requested",
      severe: false,
    });
    expect(seen(["chat.pm"], "rosey.events.pm").got).toEqual(["rosey.events.pm"]);
  });

  it("its own bare namespace subject is an ordinary refusal that says why, not another plugin's namespace", () => {
    const { gate, violations } = setup([]);
    expect(gate.publish("rosey.plugins.x", "{}")).toBe(false);
    expect(gate.publish("rosey.plugins.xy.out", "{}")).toBe(false);
    expect(violations.map((v) => [v.severe, v.reason])).toEqual([
      [false, "its namespace is 'rosey.plugins.x.>': a subject needs a token after its name"],
      [true, "another plugin's namespace"],
    ]);
  });

  it("a refused request tells the plugin why", async () => {
    const { gate } = setup(["chat.send"]);
    await expect(gate.request("rosey.api.users.list", "{}", 1_000)).rejects.toThrow(
      "request to 'rosey.api.users.list' refused by the gate: capability 'users.list' was not requested",
    );
  });

  it("subscriptions must be covered by a grant; '>' and 'rosey.>' are severe", () => {
    const { gate, subscribed, violations } = setup(["events.read"]);
    expect(gate.subscribe("rosey.events.user.*", () => {})).toBeDefined();
    expect(gate.subscribe("rosey.>", () => {})).toBeUndefined();
    expect(gate.subscribe(">", () => {})).toBeUndefined();
    expect(gate.subscribe("rosey.plugins.other.>", () => {})).toBeUndefined();
    // Overlaps rosey.security.message / rosey.admin.message: reaching reserved space is severe.
    expect(gate.subscribe("rosey.*.message", () => {})).toBeUndefined();
    // Merely not granted: a violation, not severe.
    expect(gate.subscribe("rosey.actions.chat.send", () => {})).toBeUndefined();
    expect(subscribed).toEqual(["rosey.events.user.*"]);
    expect(violations.map((v) => v.severe)).toEqual([true, true, true, true, false]);
  });

  it("storage requests may not name an owner: the namespace is always the stamped source", async () => {
    const { gate, requested, violations } = setup(["storage"]);
    for (const data of [
      { collection: "c", key: "k", namespace: "canary" },
      { collection: "c", key: "k", plugin: "canary" },
      { collection: "c", source: "plugin:canary" },
    ]) {
      await expect(gate.request("rosey.db.kv.get", JSON.stringify(data), 100)).rejects.toMatchObject({
        code: "PERMISSION_DENIED",
      });
    }
    expect(violations.map((v) => [v.capability, v.severe])).toEqual([
      ["storage", true],
      ["storage", true],
      ["storage", true],
    ]);
    expect(violations[0]?.reason).toMatch(/names an owner \(namespace\)/);
    // Unknown fields that name nobody are refused too, but not severe (a typo should not suspend).
    await expect(gate.request("rosey.db.kv.get", '{"collection":"c","kee":"k"}', 100)).rejects.toThrow();
    expect(violations.at(-1)).toMatchObject({ severe: false });
    await expect(gate.request("rosey.db.kv.get", "[1]", 100)).rejects.toThrow();
    expect(requested).toEqual([]);
    // The legitimate request goes through, with the gate's source.
    await gate.request("rosey.db.kv.query", '{"collection":"c","filter":{"a":1},"limit":5}', 100);
    expect(requested).toHaveLength(1);
    expect(JSON.parse(requested[0]!.json)).toMatchObject({
      source: "plugin:x",
      subject: "rosey.db.kv.query",
    });
  });

  it("a violation's text the plugin chose (field names, subjects) is escaped and cut, so it can be persisted", async () => {
    const { gate, violations } = setup(["storage", "chat.send"]);
    const data = { collection: "c", key: "k", "\u0000x": 1, ["y".repeat(900)]: 2 };
    await expect(gate.request("rosey.db.kv.get", JSON.stringify(data), 100)).rejects.toThrow();
    expect(gate.publish("rosey.actions.chat.send\u0000x", "{}")).toBe(false);
    for (const v of violations) {
      expect(v.reason).not.toMatch(/[\u0000-\u001f]/);
      expect(v.subject).not.toMatch(/[\u0000-\u001f]/);
      expect(v.reason.length).toBeLessThanOrEqual(1024);
    }
    expect(violations[0]?.reason).toContain("\\u0000x");
  });

  it("refuses everything, silently, while suspended", () => {
    const { gate, published, violations } = setup(["chat.send"]);
    gate.suspended = true;
    expect(gate.publish("rosey.actions.chat.send", "{}")).toBe(false);
    expect(published).toEqual([]);
    expect(violations).toEqual([]);
  });
});
