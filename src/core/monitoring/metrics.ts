import { collectDefaultMetrics, type MetricObjectWithValues, type MetricValue, Registry } from "prom-client";
import type { Bus, BusSubscription } from "../bus.js";
import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import { SUBJECTS } from "../subjects.js";
import { asksFor } from "./health.js";

/**
 * Metrics over the bus (design.md §2: `rosey.monitoring.metrics`, periodic, every service). Each process
 * keeps a prom-client registry (Node's process and GC metrics plus its own) and publishes a snapshot every
 * interval; a request on the same subject is answered with one at once, for tools that cannot wait.
 * prom-client's JSON form is published as it is, so a bridge to Prometheus needs no translation table.
 */

/** What one publish carries. */
export interface MetricsSnapshot {
  service: string;
  pid: number;
  metrics: MetricObjectWithValues<MetricValue<string>>[];
}

/** A registry with Node's default process metrics, every series labelled with the service. */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface MetricsPublisherOptions {
  bus: Bus;
  logger: Logger;
  service: string;
  registry: Registry;
  /** 0 publishes nothing on a timer (requests are still answered). */
  intervalMs: number;
}

export class MetricsPublisher {
  readonly #o: MetricsPublisherOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #subscription: BusSubscription | undefined;

  constructor(options: MetricsPublisherOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "metrics", service: options.service });
  }

  async start(): Promise<void> {
    this.#subscription ??= this.#o.bus.subscribe(SUBJECTS.monitoringMetrics, async (m) => {
      if (m.replyTo && asksFor(m.envelope.data, this.#o.service)) m.respond(await this.snapshot());
    });
    if (this.#o.intervalMs > 0 && !this.#timer) {
      this.#timer = setInterval(() => void this.#publish(), this.#o.intervalMs);
      this.#timer.unref();
    }
    await this.#o.bus.flush();
  }

  /** Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
  }

  async snapshot(): Promise<MetricsSnapshot> {
    return { service: this.#o.service, pid: process.pid, metrics: await this.#o.registry.getMetricsAsJSON() };
  }

  async #publish(): Promise<void> {
    try {
      this.#o.bus.publish(SUBJECTS.monitoringMetrics, await this.snapshot());
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, "could not publish metrics");
    }
  }
}
