import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Envelope } from "../../src/core/envelope.js";
import {
  command,
  expectPersistedViolation,
  expectPlatformHealthy,
  type Platform,
  persisted,
  report,
  run,
  startPlatform,
  statusOf,
  violationsOf,
} from "./harness.js";

/**
 * Red team, part 2: abusing the bus through the gate. Each hostile plugin tries one forbidden
 * operation; the test asserts the operation never reached the bus, the violation was published on
 * `rosey.security.violation` (and, for severe ones, the plugin was suspended with an audit event), and
 * the core and the canary plugin still answer.
 */

const PLUGINS = [
  "pub-security",
  "pub-admin",
  "pub-other-plugin",
  "pub-command",
  "pub-event",
  "subject-space",
  "subject-crlf",
  "subject-empty-token",
  "subject-wildcard",
  "spoof-source",
  "subscribe-all",
  "subscribe-rosey",
  "subscribe-inbox",
  "reply-inbox",
  "reply-token-reuse",
  "storage-other",
  "big-payload",
  "publish-flood",
  "start-severe",
  "start-flood",
  "pm-snoop",
];

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("red team: abusing the bus", () => {
  let p: Platform;
  /** Everything on the bus, as the observer saw it. */
  const seen: Envelope[] = [];
  const inboxReplies: Envelope[] = [];

  beforeAll(async () => {
    p = await startPlatform(PLUGINS, {}, { database: true });
    p.observer.subscribe(">", (m) => {
      if (!m.subject.startsWith("_INBOX.")) seen.push(m.envelope);
      else inboxReplies.push(m.envelope);
    });
    await p.observer.flush();
  }, 120_000);

  afterAll(async () => {
    await p?.stop();
  });

  const fromPlugin = (plugin: string) => seen.filter((e) => e.source === `plugin:${plugin}`);

  /** Runs the attack and waits for its first violation. */
  async function attack(plugin: string, args: string[] = []) {
    const result = await run(p, plugin, command(plugin, args));
    await expect.poll(() => violationsOf(p, plugin).length).toBeGreaterThan(0);
    const violations = violationsOf(p, plugin);
    // Persisted by the database service into audit_log, as published.
    await expectPersistedViolation(p, plugin, new RegExp(escapeRe(violations[0]!.reason)));
    return { result, violations };
  }

  async function expectSuspended(plugin: string) {
    await expect.poll(() => statusOf(p, plugin)?.state).toBe("suspended");
    await expect
      .poll(() => p.audit.items.some((a) => a.type === "plugin.suspended" && a.plugin === plugin))
      .toBe(true);
    await expect
      .poll(async () => (await persisted(p, plugin, "audit")).some((r) => r.action === "plugin.suspended"), {
        timeout: 10_000,
      })
      .toBe(true);
    // A suspended plugin gets no more commands.
    expect(await run(p, plugin, command(plugin))).toMatchObject({
      ok: false,
      error: { code: "PLUGIN_NOT_RUNNING" },
    });
  }

  it("pub-security: forging rosey.security.violation is refused, severe, and suspends the plugin", async () => {
    const { violations } = await attack("pub-security");
    expect(violations[0]).toMatchObject({
      operation: "publish",
      subject: "rosey.security.violation",
      severe: true,
    });
    expect(violations[0]?.reason).toMatch(/reserved for the core/);
    // The forged violation (plugin "canary", reason "forged") never appeared.
    expect(p.violations.items.some((v) => v.reason === "forged")).toBe(false);
    await expectSuspended("pub-security");
    await expectPlatformHealthy(p);
  });

  it("pub-admin: publishing rosey.admin.plugins.resume is refused, severe, suspended", async () => {
    const { violations } = await attack("pub-admin");
    expect(violations[0]).toMatchObject({
      operation: "publish",
      subject: "rosey.admin.plugins.resume",
      severe: true,
    });
    expect(fromPlugin("pub-admin")).toEqual([]);
    await expectSuspended("pub-admin");
    await expectPlatformHealthy(p);
  });

  for (const [plugin, reason] of [
    ["start-severe", /^severe violation: .*reserved for the core/],
    ["start-flood", /^10 violations within/],
  ] as const) {
    it(`${plugin}: breaking the rules in start() suspends the plugin before it ever runs`, async () => {
      await expectSuspended(plugin);
      expect(statusOf(p, plugin)?.lastError).toMatch(reason);
      expect(fromPlugin(plugin)).toEqual([]);
      await expectPlatformHealthy(p);
    });
  }

  it("pm-snoop: events.read's rosey.events.> delivers chat, never private messages (they need chat.pm)", async () => {
    const chat = { platform: "test", channel: "c", user: "ann", timestamp: Date.now() };
    p.observer.publish("rosey.events.pm", { ...chat, content: "my password is hunter2", recipient: "rosey" });
    p.observer.publish("rosey.events.message", { ...chat, content: "hello all" });
    await p.observer.flush();
    await expect
      .poll(async () => JSON.parse(await report(p, "pm-snoop")) as Array<[string, string]>)
      .toEqual([["rosey.events.message", "hello all"]]);
    expect(violationsOf(p, "pm-snoop")).toEqual([]);
    expect(statusOf(p, "pm-snoop")?.state).toBe("running");
  });

  it("pub-other-plugin: publishing into rosey.plugins.canary.> is refused; the canary received nothing", async () => {
    const { violations } = await attack("pub-other-plugin");
    expect(violations[0]).toMatchObject({
      subject: "rosey.plugins.canary.hello",
      reason: "another plugin's namespace",
      severe: true,
    });
    const canary = JSON.parse(await report(p, "canary")) as { events: number };
    expect(canary.events).toBe(0);
    await expectSuspended("pub-other-plugin");
    await expectPlatformHealthy(p);
  });

  it("pub-command: forging a command for another plugin on rosey.commands.canary.execute is refused", async () => {
    const { violations } = await attack("pub-command");
    expect(violations[0]).toMatchObject({
      operation: "publish",
      subject: "rosey.commands.canary.execute",
      capability: null,
    });
    expect(violations[0]?.reason).toMatch(/no capability allows publish/);
    expect(fromPlugin("pub-command")).toEqual([]);
    expect(p.chat.items.some((e) => e.correlationId === "forged")).toBe(false);
    await expectPlatformHealthy(p);
  });

  it("pub-event: forging a platform event on rosey.events.message is refused", async () => {
    const { violations } = await attack("pub-event");
    expect(violations[0]).toMatchObject({
      operation: "publish",
      subject: "rosey.events.message",
      capability: null,
    });
    expect(fromPlugin("pub-event")).toEqual([]);
    await expectPlatformHealthy(p);
  });

  for (const [plugin, reason] of [
    ["subject-space", /characters outside/],
    ["subject-crlf", /characters outside/],
    ["subject-empty-token", /empty token/],
    ["subject-wildcard", /wildcards are not allowed/],
  ] as const) {
    it(`${plugin}: a malformed subject never reaches the NATS client; severe, suspended`, async () => {
      const { violations } = await attack(plugin);
      expect(violations[0]).toMatchObject({ operation: "publish", severe: true });
      expect(violations[0]?.reason).toMatch(reason);
      expect(violations[0]?.subject.startsWith(`rosey.plugins.${plugin}.`)).toBe(true);
      expect(fromPlugin(plugin)).toEqual([]);
      // CR/LF did not inject a second PUB onto the wire.
      expect(seen.some((e) => e.subject.startsWith("rosey.admin."))).toBe(false);
      await expectSuspended(plugin);
      await expectPlatformHealthy(p);
    });
  }

  it("spoof-source: source, id, subject and correlationId are stamped by the gate, whatever the payload says", async () => {
    const cmd = command("spoof-source");
    await run(p, "spoof-source", cmd);
    await expect.poll(() => p.chat.items.find((e) => e.data.text === "I am the core")).toBeDefined();
    const sent = p.chat.items.find((e) => e.data.text === "I am the core")!;
    expect(sent.source).toBe("plugin:spoof-source");
    expect(sent.id).not.toBe("forged-id");
    expect(sent.subject).toBe("rosey.actions.chat.send");
    expect(sent.correlationId).toBe(cmd.correlationId);
    // The spoofed fields stay inert inside `data`, where no consumer takes identity from.
    expect(sent.data).toMatchObject({ source: "core", user: "admin" });
    expect(violationsOf(p, "spoof-source")).toEqual([]);
    await expectPlatformHealthy(p);
  });

  for (const [plugin, pattern, reason] of [
    ["subscribe-all", ">", /no capability allows subscribe|reserved/],
    ["subscribe-rosey", "rosey.>", /reserved|no capability/],
    ["subscribe-inbox", "_INBOX.>", /reserved namespace/],
  ] as const) {
    it(`${plugin}: subscribing to '${pattern}' is refused, severe, suspended`, async () => {
      const { violations } = await attack(plugin);
      expect(violations[0]).toMatchObject({ operation: "subscribe", subject: pattern, severe: true });
      expect(violations[0]?.reason).toMatch(reason);
      await expectSuspended(plugin);
      await expectPlatformHealthy(p);
    });
  }

  it("reply-inbox: publishing to _INBOX.* and $SYS subjects (answering someone else's request) is refused", async () => {
    const before = inboxReplies.length;
    const { violations } = await attack("reply-inbox");
    expect(violations[0]).toMatchObject({ operation: "publish", subject: "_INBOX.abcdef.1", severe: true });
    expect(violations[0]?.reason).toMatch(/reserved/);
    expect(inboxReplies.slice(before).some((e) => e.source === "plugin:reply-inbox")).toBe(false);
    await expectSuspended("reply-inbox");
    await expectPlatformHealthy(p);
  });

  it("reply-token-reuse: a request is answered once; reusing the single-use reply token is refused", async () => {
    const reply = await p.observer.request<{ answer: unknown }>(
      "rosey.plugins.reply-token-reuse.ask",
      {},
      { timeoutMs: 5_000 },
    );
    expect(reply.data).toEqual({ answer: 1 });
    expect(reply.source).toBe("plugin:reply-token-reuse");
    await expect.poll(() => violationsOf(p, "reply-token-reuse").length).toBe(1);
    await run(p, "reply-token-reuse", command("reply-token-reuse"));
    await expect.poll(() => violationsOf(p, "reply-token-reuse").length).toBe(2);
    for (const v of violationsOf(p, "reply-token-reuse"))
      expect(v).toMatchObject({ operation: "respond", reason: "unknown or already used reply token" });
    await expectPersistedViolation(p, "reply-token-reuse", /unknown or already used reply token/);
    const answers = inboxReplies.filter((e) => e.source === "plugin:reply-token-reuse");
    expect(answers.map((e) => (e.data as { answer: unknown }).answer)).toEqual([1]);
    await expectPlatformHealthy(p);
  });

  it("storage-other: kv requests naming another plugin's namespace are refused by the gate before the database", async () => {
    const { violations } = await attack("storage-other");
    expect(violations[0]).toMatchObject({
      operation: "request",
      subject: "rosey.db.kv.get",
      capability: "storage",
      severe: true,
    });
    expect(violations[0]?.reason).toMatch(/names an owner \(namespace\)/);
    const fromAttacker = seen.filter(
      (e) => e.subject.startsWith("rosey.db.kv.") && e.source === "plugin:storage-other",
    );
    for (const e of fromAttacker) expect(Object.keys(e.data as object).sort()).not.toContain("namespace");
    expect(fromAttacker.every((e) => !/canary/.test(JSON.stringify(e.data)))).toBe(true);
    await expectSuspended("storage-other");
    await expectPlatformHealthy(p);
  });

  it("big-payload: an 8 MB payload is refused in the worker's shim (RangeError) and nothing reaches the bus", async () => {
    const cmd = command("big-payload");
    await run(p, "big-payload", cmd);
    await expect.poll(() => p.chat.items.find((e) => e.correlationId === cmd.correlationId)).toBeDefined();
    const text = p.chat.items.find((e) => e.correlationId === cmd.correlationId)!.data.text;
    expect(text.length).toBeLessThanOrEqual(10_000);
    expect(JSON.parse(text.split("|")[0]!)).toEqual({ publish: "RangeError", request: "RangeError" });
    expect(fromPlugin("big-payload").filter((e) => e.subject !== "rosey.actions.chat.send")).toEqual([]);
    expect(statusOf(p, "big-payload")?.state).toBe("running");
    await expectPlatformHealthy(p);
  });

  it("publish-flood: 5000 publishes at 20/s allowed: the bucket passes its burst, the rest are violations, then suspension as a flood", async () => {
    await run(p, "publish-flood", command("publish-flood"));
    await expect.poll(() => statusOf(p, "publish-flood")?.state).toBe("suspended");
    const passed = fromPlugin("publish-flood").filter((e) => e.subject === "rosey.plugins.publish-flood.out");
    expect(passed.length).toBeGreaterThanOrEqual(20);
    // The burst (40), then 20/s for as long as the flood takes to reach its suspension (1,000 refusals).
    expect(passed.length).toBeLessThanOrEqual(100);
    const v = violationsOf(p, "publish-flood");
    expect(v.length).toBeGreaterThanOrEqual(10);
    expect(v.every((x) => /publish rate above 20\/s/.test(x.reason) && !x.severe && x.rate)).toBe(true);
    await expectPersistedViolation(p, "publish-flood", /publish rate above 20\/s/);
    // Not after 10 refusals, as for grants: after 10 times what 20/s lets through in the 10 s window,
    // capped at 1,000 (each refusal is a record).
    await expect
      .poll(() => p.audit.items.find((a) => a.plugin === "publish-flood")?.reason)
      .toMatch(/^1000 operations refused for its rate \(20\/s\) within 10000 ms$/);
    await expectPlatformHealthy(p);
  });
});
