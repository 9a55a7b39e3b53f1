import { Counter, Gauge, type Registry } from "prom-client";
import type { Bus, BusSubscription } from "../bus.js";
import type { CommandCompleted } from "../commands.js";
import { CORE_SOURCE } from "../envelope.js";
import type { Logger } from "../logger.js";
import type { PluginStatus } from "../plugins/plugin-manager.js";
import { PLUGIN_STATES } from "../plugins/plugin-state.js";
import { SUBJECTS } from "../subjects.js";
import { CommandTally } from "./command-tally.js";
import { type HealthCheck, HealthResponder } from "./health.js";
import { createRegistry, MetricsPublisher } from "./metrics.js";

/**
 * The core process's health answer and metrics: plugins (from the plugin manager), connectors and core
 * services (each reports its own check), commands as the router completes them, and security violations
 * as the gates publish them. Built before the router (which reports each completed command here) and
 * started once every part exists.
 */

/** A part of the core that can say how it is (connectors, services). */
export interface HealthReporter {
  health?(): HealthCheck;
}

export interface MonitoredParts {
  plugins: {
    status(): PluginStatus[];
    rejected(): ReadonlyArray<{ dir: string; error: string }>;
  };
  connectors: readonly HealthReporter[];
  services: readonly HealthReporter[];
}

export interface CoreMonitoringOptions {
  bus: Bus;
  logger: Logger;
  /** `monitoring.metricsIntervalMs`; 0 publishes no periodic metrics. */
  metricsIntervalMs: number;
}

export class CoreMonitoring {
  readonly registry: Registry;
  readonly #o: CoreMonitoringOptions;
  readonly #tally = new CommandTally();
  readonly #violations: Counter<"plugin" | "severe">;
  #parts: MonitoredParts | undefined;
  #health: HealthResponder | undefined;
  #metrics: MetricsPublisher | undefined;
  #violationSub: BusSubscription | undefined;

  constructor(options: CoreMonitoringOptions) {
    this.#o = options;
    this.registry = createRegistry("core");
    const registers = [this.registry];
    this.#tally.register(this.registry);
    this.#violations = new Counter({
      name: "rosey_security_violations_total",
      help: "Operations the permission gate refused, by plugin and severity",
      labelNames: ["plugin", "severe"],
      registers,
    });
    const statuses = () => this.#parts?.plugins.status() ?? [];
    new Gauge({
      name: "rosey_plugins",
      help: "Plugins by state",
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        const status = statuses();
        for (const state of PLUGIN_STATES)
          this.set({ state }, status.filter((p) => p.state === state).length);
      },
    });
    const perPlugin = (name: string, help: string, value: (p: PluginStatus) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ["plugin"],
        registers,
        collect() {
          this.reset();
          for (const p of statuses()) this.set({ plugin: p.name }, value(p));
        },
      });
    perPlugin(
      "rosey_plugin_heap_bytes",
      "Heap in use by each plugin's worker, as its last heartbeat reported",
      (p) => p.memory.heapUsed,
    );
    perPlugin(
      "rosey_plugin_pending_handlers",
      "onEvent, subscription and timer handlers of each plugin whose promise has not settled (a steady rise is a leak)",
      (p) => p.pendingHandlers,
    );
    perPlugin(
      "rosey_plugin_restarts",
      "Restarts of each plugin's worker within the restart window",
      (p) => p.restarts,
    );
    new Counter({
      name: "rosey_plugin_late_commands_total",
      help: "Commands not run, or whose reply was not sent, because they were past the router's deadline",
      labelNames: ["plugin"],
      registers,
      collect() {
        this.reset();
        for (const p of statuses()) if (p.lateCommands) this.inc({ plugin: p.name }, p.lateCommands);
      },
    });
  }

  /** The router's completion hook; `plugin` is undefined for a command no plugin has. */
  readonly commandCompleted = (done: CommandCompleted, plugin: string | undefined, ms: number): void => {
    this.#tally.record(plugin ?? "", done.status, ms / 1000);
  };

  async start(parts: MonitoredParts): Promise<void> {
    this.#parts = parts;
    const { bus, logger } = this.#o;
    this.#violationSub = bus.subscribe(SUBJECTS.securityViolation, (m) => {
      // Only the core's gates report violations; anything else on the subject is not counted.
      if (m.envelope.source !== CORE_SOURCE) return;
      const v = m.envelope.data as { plugin?: unknown; severe?: unknown } | null;
      if (typeof v?.plugin === "string")
        this.#violations.inc({ plugin: v.plugin, severe: v.severe === true ? "true" : "false" });
    });
    this.#health = new HealthResponder({
      bus,
      logger,
      service: "core",
      probes: {
        plugins: () => pluginsCheck(parts.plugins.status(), parts.plugins.rejected()),
        connectors: () => parts.connectors.flatMap((c) => (c.health ? [c.health()] : [])),
        services: () => parts.services.flatMap((s) => (s.health ? [s.health()] : [])),
      },
    });
    this.#metrics = new MetricsPublisher({
      bus,
      logger,
      service: "core",
      registry: this.registry,
      intervalMs: this.#o.metricsIntervalMs,
    });
    await this.#health.start();
    await this.#metrics.start();
  }

  /** Idempotent. */
  stop(): void {
    this.#violationSub?.unsubscribe();
    this.#violationSub = undefined;
    this.#health?.stop();
    this.#metrics?.stop();
  }
}

/**
 * Plugins are the core's main business: any that is not running (failed, suspended, restarting) or could
 * not be loaded at all makes the core degraded, naming each and why.
 */
export function pluginsCheck(
  status: readonly PluginStatus[],
  rejected: ReadonlyArray<{ dir: string; error: string }>,
): HealthCheck {
  const running = status.filter((p) => p.state === "running");
  const problems = [
    ...status
      .filter((p) => p.state !== "running")
      .map((p) => `${p.name} ${p.state}${p.lastError ? ` (${p.lastError})` : ""}`),
    ...rejected.map((r) => `${r.dir} not loaded (${r.error})`),
  ];
  const counted = `${running.length} of ${status.length + rejected.length} running`;
  if (problems.length === 0) return { name: "plugins", status: "ok", detail: counted };
  return { name: "plugins", status: "degraded", detail: `${counted}; ${problems.join("; ")}` };
}
