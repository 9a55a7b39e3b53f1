import type { Readable, Writable } from "node:stream";
import type { Bus } from "../core/bus.js";
import type { PlatformConfig } from "../core/config/schema.js";
import { RoseyError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Connector } from "./connector.js";
import { ConsoleConnector } from "./console/console-connector.js";

export type { Connector } from "./connector.js";

export interface ConnectorDeps {
  /**
   * Opens a bus for `platform`'s connector, stamped `connector:<platform>` and connected as that platform's
   * NATS user; its owner (the orchestrator) closes it.
   */
  openBus(platform: string): Promise<Bus>;
  logger: Logger;
  /** The router's settings: connectors that wait for commands need the prefix and the timeout. */
  router: { prefix: string; timeoutMs: number };
  /** Console streams; default to the process's stdin/stdout. */
  stdin?: Readable;
  stdout?: Writable;
}

/** With no platform configured, the console connector runs (design.md §7). */
const effectivePlatforms = (platforms: readonly PlatformConfig[]): readonly PlatformConfig[] =>
  platforms.length > 0 ? platforms : [{ type: "console" }];

/** The `platform` names the configured connectors (in this process or outside it) put in their events. */
export function connectorPlatforms(platforms: readonly PlatformConfig[]): string[] {
  return [...new Set(effectivePlatforms(platforms).map((p) => (p.type === "external" ? p.name : p.type)))];
}

/** The platforms whose connectors run in processes of their own. */
export function externalPlatforms(platforms: readonly PlatformConfig[]): string[] {
  return platforms.flatMap((p) => (p.type === "external" ? [p.name] : []));
}

/**
 * One connector per `platforms` entry (none for an `external` one, which runs in its own process); with
 * no entry at all, the console connector (design.md §7).
 * New platforms add a case here.
 */
export async function createConnectors(
  platforms: readonly PlatformConfig[],
  deps: ConnectorDeps,
): Promise<Connector[]> {
  const connectors: Connector[] = [];
  for (const platform of effectivePlatforms(platforms)) {
    switch (platform.type) {
      case "console":
        connectors.push(
          new ConsoleConnector({
            bus: await deps.openBus("console"),
            logger: deps.logger,
            prefix: deps.router.prefix,
            routerTimeoutMs: deps.router.timeoutMs,
            input: deps.stdin ?? process.stdin,
            output: deps.stdout ?? process.stdout,
          }),
        );
        break;
      case "cytube": {
        // Loaded only when configured: socket.io-client adds ~8 MB to the core's RSS.
        const { CytubeConnector } = await import("./cytube/index.js");
        connectors.push(
          new CytubeConnector({
            bus: await deps.openBus("cytube"),
            config: platform,
            logger: deps.logger,
          }),
        );
        break;
      }
      case "external":
        // Its connector runs elsewhere and reaches the router over NATS like any other.
        break;
      default:
        throw new RoseyError(
          "CONFIG_INVALID",
          `Cannot start platform '${(platform as { type: string }).type}': this build has no connector for it yet`,
        );
    }
  }
  return connectors;
}
