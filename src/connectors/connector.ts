import type { HealthCheck } from "../core/monitoring/health.js";

/**
 * A platform connector translates one platform to and from subjects (design.md §2): it publishes
 * normalized `rosey.events.*` and carries out `rosey.actions.*` for its platform. The core knows this
 * interface only; each connector is created from its config entry by `createConnectors`.
 */
export interface Connector {
  /** Platform name, as in the `platform` field of the events it publishes (`console`, `cytube`). */
  readonly platform: string;
  /**
   * Subscribes to its actions and API requests, before the plugins start: what a plugin sends from `start()`
   * then waits for the platform (or is refused with a reason) instead of reaching nobody. Idempotent.
   */
  listen(): Promise<void>;
  /** Connects to the platform (listening first if not yet) and begins publishing its events. */
  start(): Promise<void>;
  /** Idempotent; leaves the bus for its owner (the orchestrator) to close. */
  stop(): Promise<void>;
  /**
   * Resolves when the connector has nothing more to do on its own (console: input ended and every
   * command it sent has completed). Connectors that run until stopped resolve it on `stop()`.
   */
  readonly finished: Promise<void>;
  /** Its part of the core's answer to `rosey.monitoring.health`: is it connected to its platform. */
  health(): HealthCheck;
}
