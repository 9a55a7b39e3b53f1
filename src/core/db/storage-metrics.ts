import { Counter, Histogram, type Registry } from "prom-client";
import type { ErrorCode } from "../errors.js";
import { KV_OPERATIONS } from "./kv-protocol.js";

/**
 * Plugins' storage requests as the database service answered them, so operators see refusals (`BUSY`,
 * `QUOTA_EXCEEDED`, `QUERY_TIMEOUT`, …) per plugin, not only in rate-limited log lines.
 *
 * Labels come from requests, and anything holding the bus's credentials can send one: the counter takes a
 * plugin name only as `pluginOfSource` accepted it, and at most `MAX_PLUGIN_LABELS` of those (well-formed
 * names are still countless: `plugin:a1`, `plugin:a2`, …), and an operation only from `KV_OPERATIONS`;
 * anything else is counted under `UNLISTED`, so a forger cannot grow the series, or the metrics snapshot
 * that must fit in one bus message, without bound. The histogram has no plugin label: per operation shows
 * the latency, and per plugin would multiply every bucket by the plugins.
 */

/** The label of a source that is not a plugin, or of a subject that is not a storage operation. */
export const UNLISTED = "(other)";

/** Distinct plugin labels, far above any installation's plugins; later names count as `UNLISTED`. */
export const MAX_PLUGIN_LABELS = 1_000;

/** What a request was answered: `ok`, or the error code it was refused or failed with. */
export type StorageOutcome = "ok" | ErrorCode;

/**
 * Upper bounds in seconds. A `get` takes 1–3 ms, a full scan at the default quota tens of ms; a request
 * waiting behind its own plugin's backlog, or cut at `database.statementTimeoutMs` (5 s by default, at
 * most 600 s), takes seconds.
 */
export const STORAGE_DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120,
];

export class StorageMetrics {
  readonly #plugins = new Set<string>();
  readonly #requests = new Counter({
    name: "rosey_db_storage_requests_total",
    help: "Plugins' storage requests answered, by plugin, operation and outcome (ok, or the error code)",
    labelNames: ["plugin", "operation", "outcome"],
    registers: [],
  });
  readonly #duration = new Histogram({
    name: "rosey_db_storage_request_duration_seconds",
    help: "From a storage request's arrival to its answer, for requests the fair scheduler took (queued or run), by operation",
    labelNames: ["operation"],
    buckets: STORAGE_DURATION_BUCKETS,
    registers: [],
  });

  /**
   * Counts one answered request, and times it when `seconds` is given.
   * @param plugin as `pluginOfSource` gave it; undefined for any other source
   * @param operation the subject's last token, as sent
   */
  record(plugin: string | undefined, operation: string, outcome: StorageOutcome, seconds?: number): void {
    const op = (KV_OPERATIONS as readonly string[]).includes(operation) ? operation : UNLISTED;
    this.#requests.inc({ plugin: this.#pluginLabel(plugin), operation: op, outcome });
    if (seconds !== undefined) this.#duration.observe({ operation: op }, seconds);
  }

  #pluginLabel(plugin: string | undefined): string {
    if (plugin === undefined) return UNLISTED;
    if (this.#plugins.has(plugin)) return plugin;
    if (this.#plugins.size >= MAX_PLUGIN_LABELS) return UNLISTED;
    this.#plugins.add(plugin);
    return plugin;
  }

  /** Adds both metrics to the service's registry (db-monitoring.ts). */
  register(registry: Registry): void {
    registry.registerMetric(this.#requests);
    registry.registerMetric(this.#duration);
  }
}
