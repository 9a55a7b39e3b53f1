import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bus } from "../../src/core/bus.js";
import { createBus } from "../../src/core/bus.js";
import type { CommandResult } from "../../src/core/commands.js";
import { validateConfig } from "../../src/core/config/load.js";
import { silentLogger } from "../../src/core/logger.js";
import { PluginManager } from "../../src/core/plugins/plugin-manager.js";
import { command } from "../support/command.js";
import { startPrivateNats } from "../support/private-nats.js";

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/sandbox-plugins");

/**
 * A handler waiting on the platform (a storage call on a stalled database, a slow service) is not a stuck
 * worker: killing it would restart, and after `maxRestarts` fail, every plugin that uses storage whenever
 * the database stalls for longer than their deadline.
 */
describe("a handler waiting on the platform past its deadline", () => {
  let nats: Awaited<ReturnType<typeof startPrivateNats>>;
  let core: Bus;
  let client: Bus;
  let manager: PluginManager;

  beforeAll(async () => {
    nats = await startPrivateNats();
    core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
    client = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
    // A slow platform service: answers 600 ms after being asked, three deadlines of the plugin.
    client.subscribe("rosey.plugins.waiter.slow", (m) => {
      setTimeout(() => m.respond({ n: 600 }), 600);
    });
    await client.flush();
    const config = validateConfig(
      {
        plugins: {
          directory: FIXTURES,
          enabled: ["waiter"],
          entries: { waiter: { grants: ["chat.send"] } },
        },
        sandbox: { heartbeatMs: 100 },
      },
      "test",
    );
    manager = new PluginManager({ bus: core, config, logger: silentLogger() });
    await manager.start();
  }, 60_000);

  afterAll(async () => {
    await manager?.stop();
    await client?.close();
    await core?.close();
    await nats?.stop();
  });

  const run = async (args: string[]) =>
    (
      await client.request<CommandResult>("rosey.commands.waiter.execute", command("wait", args), {
        timeoutMs: 5_000,
      })
    ).data;

  it("is not killed: the command completes when the platform answers, with no restart", async () => {
    expect(await run([])).toEqual({ ok: true, replied: true });
    expect(manager.status()[0]).toMatchObject({ state: "running", restarts: 0 });
  });

  it("gets the request's own timeout when the platform never answers in time, and still no restart", async () => {
    expect(await run(["300"])).toEqual({ ok: true, replied: true });
    expect(manager.status()[0]).toMatchObject({ state: "running", restarts: 0 });
  });
});
