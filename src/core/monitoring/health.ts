import { z } from "zod";
import type { Bus, BusMessage, BusSubscription } from "../bus.js";
import { errorMessage } from "../errors.js";
import type { Logger } from "../logger.js";
import { PACKAGE_VERSION } from "../paths.js";
import { SUBJECTS } from "../subjects.js";

/**
 * Health over the bus (design.md §2: `rosey.monitoring.health`, request/reply, every service). Every
 * service answers the same request (no queue group), so one request reaches them all: `rosey health`
 * gathers every answer within a window; a plain request gets the first. A service that does not answer
 * at all is down or cut off from NATS, which is why an answer never says "nats: down".
 */

export const HEALTH_STATUSES = ["ok", "degraded", "down"] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

export const healthCheckSchema = z.strictObject({
  name: z.string(),
  status: z.enum(HEALTH_STATUSES),
  /** What an operator needs to act on: why it is not ok, or what "ok" means here. */
  detail: z.string().optional(),
});
export type HealthCheck = z.infer<typeof healthCheckSchema>;

export const healthReportSchema = z.strictObject({
  service: z.string(),
  /** The worst of the checks. */
  status: z.enum(HEALTH_STATUSES),
  pid: z.number().int(),
  version: z.string(),
  uptimeMs: z.number().nonnegative(),
  checks: z.array(healthCheckSchema),
});
export type HealthReport = z.infer<typeof healthReportSchema>;

/** One part's checks; may be async (a database round trip). */
export type HealthProbe = () => HealthCheck | HealthCheck[] | Promise<HealthCheck | HealthCheck[]>;

/**
 * Whether a monitoring request is meant for this service: `{}` asks every service, `{ service: "core" }`
 * only that one (a plain request would otherwise get whichever service answers first).
 */
export function asksFor(data: unknown, service: string): boolean {
  const wanted = (data as { service?: unknown } | null)?.service;
  return typeof wanted !== "string" || wanted === service;
}

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, down: 2 };

export function worstStatus(statuses: Iterable<HealthStatus>): HealthStatus {
  let worst: HealthStatus = "ok";
  for (const s of statuses) if (RANK[s] > RANK[worst]) worst = s;
  return worst;
}

export interface HealthResponderOptions {
  bus: Bus;
  logger: Logger;
  /** Service name in the answer: `core`, `database`. */
  service: string;
  /** Named probes; a probe that throws or does not settle within `probeTimeoutMs` reports its name down. */
  probes: Readonly<Record<string, HealthProbe>>;
  /** @default 1000 */
  probeTimeoutMs?: number;
}

export class HealthResponder {
  readonly #o: HealthResponderOptions;
  readonly #log: Logger;
  readonly #startedAt = Date.now();
  #subscription: BusSubscription | undefined;

  constructor(options: HealthResponderOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "health", service: options.service });
  }

  /** Subscribes; resolves once the server has the subscription. */
  async start(): Promise<void> {
    this.#subscription ??= this.#o.bus.subscribe(SUBJECTS.monitoringHealth, (m) => this.#answer(m));
    await this.#o.bus.flush();
  }

  /** Idempotent. */
  stop(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
  }

  /** The service's health now, as it answers it. */
  async report(): Promise<HealthReport> {
    const results = await Promise.all(
      Object.entries(this.#o.probes).map(([name, probe]) => this.#run(name, probe)),
    );
    const checks = results.flat();
    return {
      service: this.#o.service,
      status: worstStatus(checks.map((c) => c.status)),
      pid: process.pid,
      version: PACKAGE_VERSION,
      uptimeMs: Date.now() - this.#startedAt,
      checks,
    };
  }

  async #answer(message: BusMessage): Promise<void> {
    if (!message.replyTo || !asksFor(message.envelope.data, this.#o.service)) return;
    const report = await this.report();
    if (report.status !== "ok")
      this.#log.debug({ status: report.status, checks: report.checks }, "answered health: not ok");
    try {
      message.respond(report);
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, "could not answer a health request");
    }
  }

  async #run(name: string, probe: HealthProbe): Promise<HealthCheck[]> {
    const timeoutMs = this.#o.probeTimeoutMs ?? 1_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<HealthCheck>((resolve) => {
      timer = setTimeout(
        () => resolve({ name, status: "down", detail: `no answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
    });
    try {
      const result = await Promise.race([Promise.resolve().then(probe), late]);
      return Array.isArray(result) ? result : [result];
    } catch (err) {
      return [{ name, status: "down", detail: `check failed: ${errorMessage(err)}` }];
    } finally {
      clearTimeout(timer);
    }
  }
}
