import type { HealthCheck } from "../core/monitoring/health.js";

/**
 * A platform connector translates one platform to and from subjects (design.md §2): it publishes
 * normalized `rosey.events.*` and carries out `rosey.actions.*` for its platform. The core knows this
 * interface only; each connector is created from its config entry by `createConnectors`.
 */
export interface Connector {
  /** Platform name, as in the `platform` field of the events it publishes (`console`, `cytube`). */
  readonly platform: string;
  /** Connects to the platform and the bus; resolves once it is ready to carry messages. */
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
