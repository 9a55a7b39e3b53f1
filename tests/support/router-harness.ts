import pino from "pino";
import { type Bus, type BusMessage, createBus } from "../../src/core/bus.js";
import type { Command, CommandCompleted } from "../../src/core/commands.js";
import type { ChatSend, Envelope } from "../../src/core/envelope.js";
import { type Logger, silentLogger } from "../../src/core/logger.js";
import { Router, type RouterOptions } from "../../src/core/router/router.js";
import { SUBJECTS } from "../../src/core/subjects.js";
import { collect } from "./bus.js";

/**
 * A router over a real nats-server with the test at both of its ends. `chat` plays the connector: a line
 * published on `rosey.events.message` with `inbox` as its reply subject has its completion collected in
 * `completed`, and every `rosey.actions.chat.send` lands in `sends`. `plugin` plays the plugin manager of
 * plugin `x`: it takes `rosey.commands.x.execute` in queue group `x` and answers through `onCommand`.
 */
export interface RouterHarness {
  readonly core: Bus;
  readonly plugin: Bus;
  readonly chat: Bus;
  readonly router: Router;
  /** The router's logger, whose lines (parsed) are in `logLines`. */
  readonly logger: Logger;
  readonly logLines: Array<Record<string, unknown>>;
  readonly sends: ReturnType<typeof collect<Envelope<ChatSend>>>;
  readonly completed: ReturnType<typeof collect<Envelope<CommandCompleted>>>;
  readonly inbox: string;
  /** Closes the three buses; the test stops whichever router it ended with. */
  close(): Promise<void>;
}

export async function startRouterHarness(
  natsUrl: string,
  options: {
    onCommand: (message: BusMessage<Command>, plugin: Bus) => void;
    router: Omit<RouterOptions, "bus" | "logger">;
  },
): Promise<RouterHarness> {
  const logLines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => logLines.push(JSON.parse(line)) });
  const core = await createBus({ url: natsUrl, source: "core", logger });
  const plugin = await createBus({ url: natsUrl, source: "plugin-side", logger: silentLogger() });
  const chat = await createBus({ url: natsUrl, source: "connector:test", logger: silentLogger() });
  const sends = collect<Envelope<ChatSend>>();
  const completed = collect<Envelope<CommandCompleted>>();
  plugin.subscribe<Command>("rosey.commands.x.execute", (m) => options.onCommand(m, plugin), { queue: "x" });
  chat.subscribe<ChatSend>(SUBJECTS.actionsChatSend, (m) => sends.push(m.envelope));
  const inbox = chat.createInbox();
  chat.subscribe<CommandCompleted>(inbox, (m) => completed.push(m.envelope));
  await Promise.all([plugin.flush(), chat.flush()]);
  const router = new Router({ bus: core, logger, ...options.router });
  await router.start();
  return {
    core,
    plugin,
    chat,
    router,
    logger,
    logLines,
    sends,
    completed,
    inbox,
    close: async () => {
      await Promise.all([core.close(), plugin.close(), chat.close()]);
    },
  };
}
