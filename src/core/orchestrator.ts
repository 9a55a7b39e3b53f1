import type { Readable, Writable } from "node:stream";
import { type Connector, createConnectors, externalPlatforms } from "../connectors/index.js";
import { type Bus, createBus } from "./bus.js";
import type { RoseyConfig } from "./config/schema.js";
import { lockDataDir } from "./data-dir-lock.js";
import { databaseServiceFactory } from "./db/service.js";
import { CORE_SOURCE } from "./envelope.js";
import { errorMessage } from "./errors.js";
import type { Logger } from "./logger.js";
import { CoreMonitoring, type HealthReporter } from "./monitoring/core-monitoring.js";
import { type ComponentUser, connectorUser } from "./nats/component-users.js";
import { openPlatformNats } from "./nats/platform-nats.js";
import { PluginManager } from "./plugins/plugin-manager.js";
import { redactUrl } from "./redact-url.js";
import { Router } from "./router/router.js";

/**
 * Wiring only: starts the parts in order and stops them in reverse. No business logic lives here, and no
 * signal handling (the CLI entry wires signals to `stop()`).
 *
 *   NATS (embedded child or NATS_URL) → core bus → services (database …) → connectors listen → plugin manager
 *   → router → connectors connect → health and metrics (which report on all of them)
 *
 * Connectors subscribe to their actions before the plugins start, so that what a plugin says from `start()`
 * waits for its platform rather than reaching nobody; their platforms' events flow only once the router is up.
 * They stop first all the same: a failed start before they connect leaves only subscriptions, closed with
 * their buses.
 */

/** A core service started right after the bus (the database service registers here). */
export interface Service extends HealthReporter {
  readonly name: string;
  start(): Promise<void>;
  /** Idempotent. */
  stop(): Promise<void>;
}

export interface ServiceDeps {
  bus: Bus;
  config: Readonly<RoseyConfig>;
  logger: Logger;
  /**
   * The NATS URL, credentials and all, for a part that connects on its own (a child process) as `user`:
   * on the embedded server that user's own, limited to its subjects; on a configured server the core's
   * (`nats.url` / `NATS_URL`). Never log it as is (`redactUrl`).
   */
  natsUrlFor(user: ComponentUser): string;
}

/** Builds a service once the bus exists. */
export type ServiceFactory = (deps: ServiceDeps) => Service | Promise<Service>;

/**
 * The services `rosey start` runs between the bus and the plugin manager, in start order.
 * The database service (src/core/db/) adds its factory here.
 */
export const CORE_SERVICES: readonly ServiceFactory[] = [databaseServiceFactory];

export interface OrchestratorOptions {
  config: Readonly<RoseyConfig>;
  logger: Logger;
  /** @default CORE_SERVICES */
  services?: readonly ServiceFactory[];
  /** Console connector streams (tests); default to the process's stdin/stdout. */
  stdin?: Readable;
  stdout?: Writable;
}

export interface Rosey {
  /** Stops everything started, in reverse order. Idempotent; resolves when all is closed. */
  stop(): Promise<void>;
  /**
   * Resolves when the connectors have nothing more to do on their own (console: end of input); with only
   * external platforms, when stopping begins.
   */
  readonly finished: Promise<void>;
  /** NATS URL in use (embedded or configured), with its credentials: log it through `redactUrl`. */
  readonly natsUrl: string;
}

/** Starts Rosey. On a failure part-way, what already started is stopped before the error is rethrown. */
export async function startRosey(options: OrchestratorOptions): Promise<Rosey> {
  const { config, logger } = options;
  const log = logger.child({ component: "orchestrator" });
  /** Undo steps, run last-first by `stop()`. */
  const undo: Array<{ name: string; run: () => Promise<void> }> = [];
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (undo.length === 0) return;
      for (const step of undo.reverse()) {
        const started = performance.now();
        try {
          await step.run();
          log.debug({ step: step.name, ms: Math.round(performance.now() - started) }, "stop step done");
        } catch (err) {
          log.error({ step: step.name, err: errorMessage(err) }, "stop step failed; continuing");
        }
      }
      log.info("stopped");
    })();
    return stopping;
  };

  try {
    const lock = lockDataDir(config.dataDir);
    undo.push({ name: "data dir lock", run: async () => lock.release() });
    const nats = await openPlatformNats(config, log);
    undo.push({ name: "nats", run: () => nats.stop() });
    const { url } = nats;
    const openBus = async (source: string, user?: ComponentUser): Promise<Bus> => {
      const bus = await createBus({
        url: user ? nats.urlFor(user) : url,
        source,
        name: source,
        logger,
        connectTimeoutMs: config.nats.connectTimeoutMs,
        ...(user ? { inboxPrefix: user.inboxPrefix } : {}),
      });
      undo.push({ name: `bus ${source}`, run: () => bus.close() });
      return bus;
    };

    const bus = await openBus(CORE_SOURCE);
    const monitoring = new CoreMonitoring({
      bus,
      logger,
      metricsIntervalMs: config.monitoring.metricsIntervalMs,
    });

    const services: Service[] = [];
    for (const factory of options.services ?? CORE_SERVICES) {
      const service = await factory({ bus, config, logger, natsUrlFor: nats.urlFor });
      services.push(service);
      await service.start();
      undo.push({ name: service.name, run: () => service.stop() });
      log.info({ service: service.name }, "service started");
    }

    const connectors: Connector[] = await createConnectors(config.platforms, {
      openBus: (platform) => openBus(`connector:${platform}`, connectorUser(platform)),
      logger,
      router: config.router,
      ...(options.stdin ? { stdin: options.stdin } : {}),
      ...(options.stdout ? { stdout: options.stdout } : {}),
    });
    for (const connector of connectors) await connector.listen();

    const plugins = new PluginManager({ bus, config, logger });
    undo.push({ name: "plugin manager", run: () => plugins.stop() });
    await plugins.start();

    const router = new Router({
      bus,
      logger,
      settings: config.router,
      directory: () => plugins.commands(),
      onCompleted: monitoring.commandCompleted,
      owner: (command) => plugins.ownerOf(command),
    });
    undo.push({ name: "router", run: () => router.stop() });
    await router.start();

    for (const connector of connectors) {
      undo.push({ name: `connector ${connector.platform}`, run: () => connector.stop() });
      await connector.start();
    }
    undo.push({ name: "health and metrics", run: async () => monitoring.stop() });
    await monitoring.start({ plugins, connectors, services });
    log.info(
      {
        nats: redactUrl(url),
        connectors: connectors.map((c) => c.platform),
        external: externalPlatforms(config.platforms),
      },
      "rosey started",
    );

    return {
      stop,
      natsUrl: url,
      // With only external platforms nothing here ends on its own: the core runs until it is stopped.
      finished:
        connectors.length > 0
          ? Promise.all(connectors.map((c) => c.finished)).then(() => undefined)
          : new Promise<void>((resolve) =>
              undo.push({ name: "run until stopped", run: async () => resolve() }),
            ),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
