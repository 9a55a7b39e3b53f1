import path from "node:path";
import { type Bus, createBus } from "../../src/core/bus.js";
import type { Command, CommandResult } from "../../src/core/commands.js";
import { validateConfig } from "../../src/core/config/load.js";
import type { PluginEntryConfig } from "../../src/core/config/schema.js";
import { type Logger, silentLogger } from "../../src/core/logger.js";
import { PluginManager } from "../../src/core/plugins/plugin-manager.js";
import { startPrivateNats } from "./private-nats.js";

export const SANDBOX_FIXTURES = path.resolve(import.meta.dirname, "../fixtures/sandbox-plugins");

/** A plugin manager on a private nats-server, with some of the sandbox fixtures enabled. */
export interface FixturePlugins {
  readonly natsUrl: string;
  /** The manager's bus (source `core`). */
  readonly core: Bus;
  /** The test's own bus (source `test`). */
  readonly client: Bus;
  readonly manager: PluginManager;
  /** Sends a command on the plugin's subject, as the router does, and returns the plugin side's result. */
  run(plugin: string, command: Command, timeoutMs?: number): Promise<CommandResult>;
  /** Stops the manager, closes both buses and the server. */
  stop(): Promise<void>;
}

export async function startFixturePlugins(options: {
  /** Fixture name → its config entry (grants, config). */
  plugins: Record<string, Partial<PluginEntryConfig>>;
  sandbox?: Record<string, unknown>;
  /** Subscriptions the client needs before the plugins start. */
  prepare?: (client: Bus) => void;
  /** The manager's logger (default: silent). */
  logger?: Logger;
}): Promise<FixturePlugins> {
  const nats = await startPrivateNats();
  const core = await createBus({ url: nats.url, source: "core", logger: silentLogger() });
  const client = await createBus({ url: nats.url, source: "test", logger: silentLogger() });
  options.prepare?.(client);
  await client.flush();
  const config = validateConfig(
    {
      plugins: {
        directory: SANDBOX_FIXTURES,
        enabled: Object.keys(options.plugins),
        entries: options.plugins,
      },
      ...(options.sandbox ? { sandbox: options.sandbox } : {}),
    },
    "test",
  );
  const manager = new PluginManager({ bus: core, config, logger: options.logger ?? silentLogger() });
  await manager.start();
  return {
    natsUrl: nats.url,
    core,
    client,
    manager,
    run: async (plugin, command, timeoutMs = 10_000) =>
      (await client.request<CommandResult>(`rosey.commands.${plugin}.execute`, command, { timeoutMs })).data,
    async stop() {
      await manager.stop();
      await client.close();
      await core.close();
      await nats.stop();
    },
  };
}
