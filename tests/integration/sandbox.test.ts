import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../../src/core/bus.js";
import type { Command, CommandResult } from "../../src/core/commands.js";
import { validateConfig } from "../../src/core/config/load.js";
import type { Envelope } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import type { Violation } from "../../src/core/plugins/gate.js";
import { PluginManager } from "../../src/core/plugins/plugin-manager.js";
import { collect } from "../support/bus.js";
import { command } from "../support/command.js";
import {
  SANDBOX_FIXTURES as FIXTURES,
  type FixturePlugins,
  startFixturePlugins,
} from "../support/fixture-plugins.js";

describe.each(["process", "thread"] as const)(
  "sandboxed plugins behind the gate (%s isolation)",
  (isolation) => {
    let fixtures: FixturePlugins;
    let core: Bus;
    let observer: Bus;
    let manager: PluginManager;
    let chat = collect<Envelope<{ text: string }>>();
    let violations = collect<Violation>();

    beforeAll(async () => {
      chat = collect<Envelope<{ text: string }>>();
      violations = collect<Violation>();
      fixtures = await startFixturePlugins({
        plugins: {
          greeter: { grants: ["basic"] },
          escaper: { grants: ["chat.send"] },
          intruder: { grants: ["basic"] },
          importer: { grants: ["basic"] },
        },
        sandbox: { isolation, violations: { threshold: 100, suspendOnSevere: false } },
        prepare: (client) => {
          client.subscribe<{ text: string }>("rosey.actions.chat.send", (m) => chat.push(m.envelope));
          client.subscribe<Violation>("rosey.security.violation", (m) => violations.push(m.envelope.data));
        },
      });
      ({ core, client: observer, manager } = fixtures);
    }, 60_000);

    afterAll(async () => {
      await fixtures?.stop();
    });

    const run = async (plugin: string, cmd: Command) =>
      (await observer.request<CommandResult>(`rosey.commands.${plugin}.execute`, cmd, { timeoutMs: 5000 }))
        .data;

    it("starts plugins with valid code and marks a plugin that imports a built-in as failed, with a clear error", () => {
      const states = Object.fromEntries(manager.status().map((s) => [s.name, s.state]));
      expect(states).toMatchObject({
        greeter: "running",
        escaper: "running",
        intruder: "running",
        importer: "failed",
      });
      const importer = manager.status().find((s) => s.name === "importer");
      expect(importer?.lastError).toMatch(/cannot import 'node:fs'/);
      expect(manager.commands().map((c) => c.name)).toEqual(["escape", "greet", "later", "intrude"]);
    });

    it("runs a TypeScript plugin's command and publishes its reply as plugin:<name> with the command's correlationId", async () => {
      const cmd = command("greet", ["bob"], "corr-greet");
      expect(await run("greeter", cmd)).toEqual({ ok: true, replied: true });
      const [reply] = (await chat.waitFor(1)).filter((e) => e.correlationId === "corr-greet");
      expect(reply?.source).toBe("plugin:greeter");
      expect(reply?.data).toMatchObject({ platform: "console", channel: "console" });
      expect(reply?.data.text).toMatch(/^hello bob \(seen \d+, now>0 true, random number\)$/);
    });

    it("refuses an empty ctx.reply to the plugin, which connectors would drop unseen", async () => {
      expect(await run("greeter", command("blank", [], "corr-blank"))).toEqual({ ok: true, replied: true });
      const [reply] = (await chat.waitFor(1)).filter((e) => e.correlationId === "corr-blank");
      expect(reply?.data.text).toBe("ctx.reply refused: reply text must not be empty");
    });

    it("delivers ctx.reply and tracked timers", async () => {
      const before = chat.items.length;
      expect(await run("greeter", command("later", [], "corr-later"))).toEqual({ ok: true, replied: false });
      const all = await chat.waitFor(before + 2);
      expect(all.filter((e) => e.correlationId === "corr-later").map((e) => e.data.text)).toEqual([
        "soon",
        "later!",
      ]);
    });

    it("delivers manifest subscriptions to onEvent; the plugin's publish is stamped with its own source", async () => {
      const seen = collect<Envelope>();
      observer.subscribe("rosey.plugins.greeter.seen", (m) => seen.push(m.envelope));
      await observer.flush();
      observer.publish("rosey.events.message", {
        platform: "console",
        channel: "console",
        user: "u",
        content: "hi",
        timestamp: 1,
      });
      const [event] = await seen.waitFor(1);
      expect(event?.source).toBe("plugin:greeter");
      expect(event?.data).toEqual({ content: "hi", source: "core" });
    });

    it("gives plugin code no ambient authority", async () => {
      const before = chat.items.length;
      await run("escaper", command("escape", [], "corr-escape"));
      const all = await chat.waitFor(before + 1);
      const report = JSON.parse(all.find((e) => e.correlationId === "corr-escape")!.data.text) as Record<
        string,
        string
      >;
      for (const [probe, outcome] of Object.entries(report))
        expect({ probe, outcome }).toEqual({ probe, outcome: "blocked" });
    });

    it("drops a publish without a grant and reports the violation; an allowed publish keeps the gate's source", async () => {
      const before = violations.items.length;
      await run("intruder", command("intrude", ["rosey.actions.users.ban"]));
      await run("intruder", command("intrude", ["rosey.security.violation"]));
      await run("intruder", command("intrude", ["rosey.plugins.greeter.seen"]));
      await run("intruder", command("intrude", ["rosey.actions.chat.send\r\nPUB rosey.admin.x 1"]));
      const got = (await violations.waitFor(before + 4)).slice(before);
      // The refused subject is recorded escaped: its CR/LF cannot split a log line or an audit row.
      expect(got.map((v) => [v.operation, v.subject, v.capability])).toEqual([
        ["publish", "rosey.actions.users.ban", "users.ban"],
        ["publish", "rosey.security.violation", null],
        ["publish", "rosey.plugins.greeter.seen", null],
        ["publish", "rosey.actions.chat.send\\u000d\\u000aPUB rosey.admin.x 1", null],
      ]);
      expect(got[0]?.reason).toMatch(/not requested/);
      expect(got.every((v) => v.plugin === "intruder")).toBe(true);

      await run("intruder", command("intrude", ["spoof"], "corr-spoof"));
      await expect
        .poll(() => chat.items.find((e) => e.correlationId === "corr-spoof")?.source)
        .toBe("plugin:intruder");
    });

    it("suspends a plugin at once on a severe violation; it then gets no commands", async () => {
      const strict = new PluginManager({
        bus: core,
        config: validateConfig(
          {
            plugins: {
              directory: FIXTURES,
              enabled: ["intruder"],
              entries: { intruder: { grants: ["basic"] } },
            },
          },
          "t",
        ),
        logger: silentLogger(),
      });
      const audit = collect<{ type: string; plugin: string }>();
      observer.subscribe<{ type: string; plugin: string }>("rosey.security.audit", (m) =>
        audit.push(m.envelope.data),
      );
      await observer.flush();
      // The first manager's intruder shares the queue group; stop it so this one gets the commands.
      await manager.stop();
      await strict.start();
      try {
        await run("intruder", command("intrude", ["rosey.admin.plugins.resume"]));
        expect((await audit.waitFor(1))[0]).toMatchObject({ type: "plugin.suspended", plugin: "intruder" });
        expect(strict.status()[0]?.state).toBe("suspended");
        expect(await run("intruder", command("intrude", ["spoof"]))).toMatchObject({
          ok: false,
          error: { code: "PLUGIN_NOT_RUNNING" },
        });
      } finally {
        await strict.stop();
      }
    });

    it("stops every worker and releases its subscriptions on stop()", async () => {
      const extra = new PluginManager({
        bus: core,
        config: validateConfig(
          {
            plugins: {
              directory: FIXTURES,
              enabled: ["greeter"],
              entries: { greeter: { grants: ["basic"] } },
            },
          },
          "t",
        ),
        logger: silentLogger(),
      });
      await extra.start();
      expect(extra.status().map((s) => s.state)).toEqual(["running"]);
      await extra.stop();
      await extra.stop();
      expect(extra.status().map((s) => s.state)).toEqual(["stopped"]);
    });
  },
);
