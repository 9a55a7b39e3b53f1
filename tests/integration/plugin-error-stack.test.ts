import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { CommandResult } from "../../src/core/commands.js";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { PluginManager } from "../../src/core/plugins/plugin-manager.js";
import { AMBIENT_HINT } from "../../src/sandbox/plugin-error.js";
import { command } from "../support/command.js";
import { writePluginFolder } from "../support/plugin-folder.js";
import { startPrivateNats } from "../support/private-nats.js";
import { useTempDir } from "../support/temp-dir.js";

/**
 * A plugin's errors, as its author reads them in the core's log: with the stack of its own code, in its own
 * files and lines (TypeScript, through the bundle's source map), the plugin's name and the correlationId;
 * SES's refusal of Date.now() with a hint; a blocked event handler named by the watchdog. Under both
 * isolations: the watchdog reads the worker's activity itself (thread) or hears it from the plugin host.
 */

// lib/util.ts line 3, column 9 is `new Error`; index.ts lines 10, 12, 13, 17 and 7 call into it or fail.
const UTIL_TS = `// helpers
export function explode(what: string): never {
  throw new Error(\`kaboom from \${what}\`);
}
`;
const INDEX_TS = `import { explode } from "./lib/util.js";

interface Command { name: string; text: string }

export default {
  start(ctx: { setTimeout(fn: () => void, ms: number): number }) {
    ctx.setTimeout(function later() { explode("a timer"); }, 50);
  },
  onCommand(command: Command, ctx: { storage: { get(c: string, k: string): Promise<unknown> } }): unknown {
    if (command.name === "boom") explode("a command");
    if (command.name === "obj") return { text: "hi" };
    if (command.name === "store") return ctx.storage.get("notes", "k");
    return \`now \${Date.now()}\`;
  },
  onEvent(subject: string, envelope: { data: { content?: string } }) {
    if (envelope.data.content === "spin") for (;;) {}
    if (envelope.data.content === "event") explode("an event");
  },
};
`;

type Line = Record<string, unknown> & { msg: string; err?: { type: string; message: string; stack: string } };

describe.each(["process", "thread"] as const)(
  "a plugin's errors in the core's log (%s isolation)",
  (isolation) => {
    const tmp = useTempDir(`rosey-plugin-error-${isolation}-`, "all");
    let nats: Awaited<ReturnType<typeof startPrivateNats>>;
    let core: Bus;
    let client: Bus;
    let manager: PluginManager;
    const lines: Line[] = [];

    beforeAll(async () => {
      const pluginsDir = path.join(tmp(), "plugins");
      const dir = writePluginFolder(pluginsDir, "thrower", {
        manifest: {
          entry: "index.ts",
          commands: [{ name: "boom" }, { name: "clock" }, { name: "obj" }, { name: "store" }],
          subscribe: ["rosey.events.message"],
          capabilities: ["chat.send", "events.read"],
          // The silence limit is max(4 × heartbeatMs, handlerTimeoutMs): 1.5 s here.
          limits: { handlerTimeoutMs: 1_500 },
        },
      });
      mkdirSync(path.join(dir, "lib"));
      writeFileSync(path.join(dir, "lib", "util.ts"), UTIL_TS);
      writeFileSync(path.join(dir, "index.ts"), INDEX_TS);
      nats = await startPrivateNats();
      core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
      client = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
      const config = validateConfig(
        {
          dataDir: tmp(),
          plugins: { directory: pluginsDir, entries: { thrower: { grants: ["chat.send", "events.read"] } } },
          sandbox: { isolation, heartbeatMs: 100 },
        },
        "test",
      );
      const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
      manager = new PluginManager({ bus: core, config, logger });
      await manager.start();
    }, 60_000);

    afterAll(async () => {
      await manager?.stop();
      await client?.close();
      await core?.close();
      await nats?.stop();
    });

    const run = async (name: string, correlationId: string) =>
      (
        await client.request<CommandResult>(
          "rosey.commands.thrower.execute",
          command(name, [], correlationId),
          {
            timeoutMs: 10_000,
          },
        )
      ).data;
    const logged = async (match: (line: Line) => boolean): Promise<Line> => {
      await expect.poll(() => lines.some(match), { timeout: 10_000 }).toBe(true);
      return lines.find(match)!;
    };

    it("a command's throw: the stack of the plugin's own files and lines, with the plugin and correlationId", async () => {
      const result = await run("boom", "corr-boom");
      expect(result).toEqual({
        ok: false,
        error: { code: "PLUGIN_ERROR", message: "Error: kaboom from a command (at lib/util.ts:3:9)" },
      });
      const line = await logged((l) => l.correlationId === "corr-boom");
      expect(line).toMatchObject({
        level: 50,
        plugin: "thrower",
        source: "plugin",
        handler: "onCommand",
        command: "boom",
        msg: "onCommand(boom) failed: Error: kaboom from a command",
        err: { type: "PluginError", message: "Error: kaboom from a command" },
      });
      expect(line.err?.stack).toBe(
        "Error: kaboom from a command\n    at explode (lib/util.ts:3:9)\n    at Object.onCommand (index.ts:10:34)",
      );
    });

    it("a refused storage call: where the plugin made it, though the refusal arrives later", async () => {
      const result = await run("store", "corr-store");
      const refusal =
        "request to 'rosey.db.kv.get' refused by the gate: capability 'storage' was not requested";
      expect(result).toEqual({
        ok: false,
        error: { code: "PLUGIN_ERROR", message: `Error: ${refusal} (at index.ts:12:54)` },
      });
      const line = await logged((l) => l.correlationId === "corr-store");
      expect(line).toMatchObject({
        plugin: "thrower",
        handler: "onCommand",
        msg: `onCommand(store) failed: Error: ${refusal}`,
      });
      expect(line.err?.stack).toBe(`Error: ${refusal}\n    at Object.onCommand (index.ts:12:54)`);
    });

    it("Date.now() in the sandbox: SES's error, where it was called, and the hint", async () => {
      const result = await run("clock", "corr-clock");
      expect(result).toMatchObject({ ok: false, error: { code: "PLUGIN_ERROR" } });
      const message = (result as { error: { message: string } }).error.message;
      expect(message).toBe(
        `TypeError: secure mode Calling %SharedDate%.now() throws (at index.ts:13:24; ${AMBIENT_HINT})`,
      );
      const line = await logged((l) => l.correlationId === "corr-clock");
      expect(line).toMatchObject({ hint: AMBIENT_HINT, handler: "onCommand" });
      expect(line.err?.stack).toContain("at Object.onCommand (index.ts:13:24)");
    });

    it("an onEvent throw and a timer's throw: the subject or the timer, the event's correlationId, the stack", async () => {
      const envelope = client.publish("rosey.events.message", {
        platform: "console",
        channel: "console",
        user: "u",
        content: "event",
        timestamp: 1,
      });
      const event = await logged((l) => l.handler === "onEvent");
      expect(event).toMatchObject({
        plugin: "thrower",
        subject: "rosey.events.message",
        correlationId: envelope.correlationId,
        msg: "onEvent(rosey.events.message) failed: Error: kaboom from an event",
      });
      expect(event.err?.stack).toBe(
        "Error: kaboom from an event\n    at explode (lib/util.ts:3:9)\n    at Object.onEvent (index.ts:17:44)",
      );
      const timer = await logged((l) => l.handler === "timeout");
      expect(timer).toMatchObject({
        timer: "'later' (after 50 ms)",
        msg: "timeout failed: Error: kaboom from a timer",
      });
      expect(timer.err?.stack).toBe(
        "Error: kaboom from a timer\n    at explode (lib/util.ts:3:9)\n    at later (index.ts:7:39)",
      );
    });

    it("a returned object sends nothing and draws one warning", async () => {
      expect(await run("obj", "corr-obj-1")).toEqual({ ok: true, replied: false });
      expect(await run("obj", "corr-obj-2")).toEqual({ ok: true, replied: false });
      await logged((l) => l.msg.startsWith("onCommand for 'obj' returned an object"));
      expect(lines.filter((l) => l.msg.includes("returned an object"))).toHaveLength(1);
    });

    it("an onEvent that blocks the thread is named by the watchdog", async () => {
      client.publish("rosey.events.message", {
        platform: "console",
        channel: "console",
        user: "u",
        content: "spin",
        timestamp: 1,
      });
      const warning = await logged((l) => l.msg === "worker stopped answering heartbeats; terminating");
      expect(warning).toMatchObject({ plugin: "thrower", handler: "onEvent(rosey.events.message)" });
      const ended = await logged((l) => l.msg === "plugin worker ended; restarting");
      expect(ended.reason).toMatch(
        /^unresponsive for more than 1500 ms: onEvent\(rosey\.events\.message\) was blocking the thread$/,
      );
    });
  },
);
