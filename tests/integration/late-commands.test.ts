import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { Command, CommandResult } from "../../src/core/commands.js";
import type { ChatSend } from "../../src/core/envelope.js";
import { silentLogger } from "../../src/core/logger.js";
import type { MetricsSnapshot } from "../../src/core/monitoring/metrics.js";
import type { Rosey } from "../../src/core/orchestrator.js";
import type { PluginStatus } from "../../src/core/plugins/plugin-manager.js";
import { commandSubject, SUBJECTS } from "../../src/core/subjects.js";
import { sayAsNewUser } from "../support/bus.js";
import { usePrivateNats } from "../support/private-nats.js";
import { startTestRosey } from "../support/test-rosey.js";

/**
 * Once the router has told a user that a command took too long, the plugin's late answer must not follow
 * it into the chat; and a command already past its deadline when it reaches the plugin side is not run.
 */
describe("commands past the router's deadline", () => {
  const nats = usePrivateNats();
  let rosey: Rosey | undefined;
  let chat: Bus;
  const sent: string[] = [];

  beforeAll(async () => {
    chat = await createBus({ url: nats.url, source: "connector:test", logger: silentLogger() });
    chat.subscribe<ChatSend>(SUBJECTS.actionsChatSend, (m) => void sent.push(m.envelope.data.text));
    await chat.flush();
    rosey = await startTestRosey(nats.url, {
      database: { enabled: false },
      platforms: [{ type: "external", name: "test" }],
      plugins: {
        directory: path.resolve("tests/fixtures/sandbox-plugins"),
        enabled: ["dawdler"],
        entries: { dawdler: { grants: ["chat.send"] } },
      },
      router: { timeoutMs: 300 },
    });
  }, 60_000);

  afterAll(async () => {
    await rosey?.stop();
    await chat?.close();
  });

  const say = (content: string) => sayAsNewUser(chat, content);

  const lateCount = async () => {
    const reply = await chat.request<{ plugins: PluginStatus[] }>(
      SUBJECTS.monitoringPlugins,
      {},
      { timeoutMs: 2_000 },
    );
    return reply.data.plugins.find((p) => p.name === "dawdler")!.lateCommands;
  };

  it("answers in time as usual", async () => {
    say("!dawdle 10");
    await expect.poll(() => sent).toContain("dawdled 10");
  });

  it("after 'took too long', the plugin's late reply is not sent", async () => {
    say("!dawdle 700");
    await expect.poll(() => sent, { timeout: 3_000 }).toContain("Sorry, !dawdle took too long to answer.");
    // The handler finishes 400 ms after the router gave up; give its reply time to (not) arrive.
    await new Promise((r) => setTimeout(r, 800));
    expect(sent).not.toContain("dawdled 700");
    expect(await lateCount()).toBe(1);
    say("!dawdle 20");
    await expect.poll(() => sent).toContain("dawdled 20");
  });

  it("a command already past its deadline is not run, and says why", async () => {
    const command: Command = {
      name: "dawdle",
      args: ["0"],
      text: "0",
      user: "u",
      rank: 0,
      platform: "test",
      channel: "c",
      correlationId: "late-1",
      deadline: Date.now() - 1,
    };
    const reply = await chat.request<CommandResult>(commandSubject("dawdler"), command, { timeoutMs: 2_000 });
    expect(reply.data).toEqual({
      ok: false,
      error: { code: "TIMEOUT", message: "'dawdle' not run: it arrived after its sender's deadline" },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(sent).not.toContain("dawdled 0");
    expect(await lateCount()).toBe(2);
    const metrics = await chat.request<MetricsSnapshot>(
      SUBJECTS.monitoringMetrics,
      { service: "core" },
      { timeoutMs: 2_000 },
    );
    expect(metrics.data.metrics.find((m) => m.name === "rosey_plugin_late_commands_total")?.values).toEqual([
      expect.objectContaining({ value: 2, labels: expect.objectContaining({ plugin: "dawdler" }) }),
    ]);
  });
});
